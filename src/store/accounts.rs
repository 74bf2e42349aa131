//! Accounts and their API keys and settings: the records and the [`AccountStore`] trait.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::campaign::AccountContext;
use crate::domain::daily_cap::DailyCap;
use crate::domain::ids::{AccountId, KeyId};
use crate::domain::send_window::{SendWindow, ZoneName};

/// A tenant.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// Everything created with a new account, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The account.
    pub id: AccountId,
    /// Its name.
    pub name: String,
    /// The dashboard user's name.
    pub username: String,
    /// The dashboard user's Argon2 PHC string.
    pub password_hash: String,
    /// The first API key.
    pub key: NewApiKey,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// An API key to store: only the hash of its secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Public id.
    pub id: KeyId,
    /// A label.
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
}

/// An API key as listed (never with its secret).
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Public id.
    pub id: KeyId,
    /// A label.
    pub name: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// What authentication needs to check a presented key.
#[derive(Debug, Clone)]
pub struct KeyCredentials {
    /// Owner.
    pub account_id: AccountId,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Revoked keys never authenticate.
    pub revoked: bool,
}

/// The per-account settings of replies and compliance.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// The account.
    pub id: AccountId,
    /// Its name (shown in keyword confirmations).
    pub name: String,
    /// The answer to HELP/INFO; `None` uses the default text.
    pub help_text: Option<String>,
    /// Whether Herald answers keywords with its own confirmation SMS.
    pub keyword_replies: bool,
    /// The local hours campaigns may reach a recipient (docs/ARCHITECTURE.md §4); `None`: any time.
    pub send_window: Option<SendWindow>,
    /// The zone of numbers whose own zone is unknown (IANA name; `UTC` by default).
    pub time_zone: String,
    /// Campaign messages one number may get in 24 hours (docs/ARCHITECTURE.md §4); `None`: no cap.
    pub max_messages_per_recipient_per_day: Option<DailyCap>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A change to [`AccountSettings`]; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct AccountSettingsUpdate {
    /// New name.
    pub name: Option<String>,
    /// New help text (`Some(None)` goes back to the default).
    pub help_text: Option<Option<String>>,
    /// Keyword confirmations on or off.
    pub keyword_replies: Option<bool>,
    /// New send window (`Some(None)` removes it).
    pub send_window: Option<Option<SendWindow>>,
    /// New fallback time zone.
    pub time_zone: Option<ZoneName>,
    /// New daily cap per recipient (`Some(None)` removes it).
    pub max_messages_per_recipient_per_day: Option<Option<DailyCap>>,
}

/// Accounts, their API keys and their settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// How many accounts exist (0 on a fresh database).
    async fn count_accounts(&self) -> StoreResult<u64>;
    /// Creates an account with its dashboard user and first API key, atomically.
    async fn create_account(&self, new: &NewAccount) -> StoreResult<()>;
    /// One account.
    async fn get_account(&self, id: &AccountId) -> StoreResult<Account>;
    /// Every account, oldest first, with its dashboard users' names (for the command line).
    async fn list_accounts(&self) -> StoreResult<Vec<(Account, Vec<String>)>>;
    /// Adds an API key to an account.
    async fn create_api_key(&self, account: &AccountId, key: &NewApiKey) -> StoreResult<ApiKey>;
    /// The stored credentials of a key id, for authentication.
    async fn key_credentials(&self, key: &KeyId) -> StoreResult<Option<KeyCredentials>>;
    /// The account's keys, newest first.
    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>>;
    /// Revokes a key (idempotent); `NotFound` for another account's key.
    async fn revoke_api_key(
        &self,
        account: &AccountId,
        key: &KeyId,
        now: OffsetDateTime,
    ) -> StoreResult<ApiKey>;
    /// What validating a campaign request needs to know about the account.
    async fn account_context(&self, account: &AccountId) -> StoreResult<AccountContext>;

    /// The account's reply settings.
    async fn account_settings(&self, account: &AccountId) -> StoreResult<AccountSettings>;
    /// Changes the account's reply settings; returns them as stored.
    async fn update_account_settings(
        &self,
        account: &AccountId,
        update: &AccountSettingsUpdate,
    ) -> StoreResult<AccountSettings>;
}
