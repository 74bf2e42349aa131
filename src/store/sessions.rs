//! What the dashboard persists beside Herald's objects: its users' passwords, sign-in
//! sessions and new-campaign drafts. One of the aspect traits that make up
//! [`super::Store`].

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::ids::AccountId;

/// A dashboard user: one per account today (created with the account), found by user name.
#[derive(Debug, Clone)]
pub struct DashboardUser {
    /// Row id (sessions and drafts refer to it).
    pub id: i64,
    /// The account the user acts for.
    pub account_id: AccountId,
    /// Sign-in name (unique across accounts).
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
}

/// A session to store: only the hash of the cookie's token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the token the browser holds.
    pub token_hash: Vec<u8>,
    /// Who signed in.
    pub user_id: i64,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Sign-in time (absolute expiry counts from here).
    pub created_at: OffsetDateTime,
}

/// A stored session with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The signed-in user.
    pub user: DashboardUser,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Sign-in time.
    pub created_at: OffsetDateTime,
    /// Last request seen (idle expiry counts from here; updated at most once a minute).
    pub last_seen_at: OffsetDateTime,
}

/// A new-campaign draft: what the form produced, kept between the preview and the send.
#[derive(Debug, Clone)]
pub struct DraftRecord {
    /// Opaque id (in the preview page's URL).
    pub id: String,
    /// Owner.
    pub account_id: AccountId,
    /// Who made it.
    pub user_id: i64,
    /// The dashboard's JSON (form fields, parsed recipients).
    pub data: String,
    /// The CSV file as uploaded, if the recipients came from one.
    pub upload: Option<Vec<u8>>,
    /// Set once the draft was sent as a campaign.
    pub campaign_id: Option<String>,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// Persistence for the dashboard's sign-in and drafts. Methods that take an account scope
/// to it: another account's draft is `NotFound`.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The user with this name, if any.
    async fn find_user(&self, username: &str) -> StoreResult<Option<DashboardUser>>;
    /// Replaces a user's password hash.
    async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()>;

    /// The phone saved on a user's profile (E.164), where the dashboard's test sends go.
    async fn user_phone(&self, user_id: i64) -> StoreResult<Option<String>>;
    /// Saves (or, with `None`, clears) the phone on a user's profile.
    async fn set_user_phone(&self, user_id: i64, phone: Option<&str>) -> StoreResult<()>;

    /// Stores a new session.
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// The session with this token hash, with its user, if it exists (expiry is the caller's).
    async fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>>;
    /// Records activity on a session.
    async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()>;
    /// Ends one session (idempotent).
    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()>;
    /// Ends every session of a user but `keep` (after a password change); returns how many.
    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&[u8]>) -> StoreResult<u64>;
    /// Deletes sessions idle since before `idle_before` or created before `created_before`.
    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> StoreResult<u64>;

    /// Stores a draft.
    async fn save_draft(&self, draft: &DraftRecord) -> StoreResult<()>;
    /// One draft of the account.
    async fn get_draft(&self, account: &AccountId, id: &str) -> StoreResult<DraftRecord>;
    /// Records the campaign a draft was sent as.
    async fn mark_draft_sent(
        &self,
        account: &AccountId,
        id: &str,
        campaign_id: &str,
    ) -> StoreResult<()>;
    /// Deletes drafts made before `before`; returns how many.
    async fn delete_drafts_before(&self, before: OffsetDateTime) -> StoreResult<u64>;
}
