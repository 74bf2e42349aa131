//! Persistence: one `Store` trait, implemented for SQLite and PostgreSQL.
//!
//! Everything SQL lives below this module. Callers see records and typed errors,
//! never a driver type, so a backend can change without touching its callers.

pub mod leases;
mod postgres;
mod postgres_leases;
mod postgres_replies;
mod postgres_sessions;
pub mod replies;
pub mod sessions;
mod sqlite;
mod sqlite_leases;
mod sqlite_replies;
mod sqlite_sessions;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::domain::campaign::{AccountContext, NewRecipient};
use crate::domain::ids::{AccountId, AgentId, CampaignId, KeyId, NodeId};
use crate::domain::status::{CampaignStatus, Counts, RecipientStatus, Source};

pub use leases::LeaseStore;
pub use postgres::PgStore;
pub use replies::*;
pub use sessions::SessionStore;
pub use sqlite::SqliteStore;

/// Errors a store reports. Driver details travel only as the `source` of `Backend`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (or belongs to another account).
    #[error("not found")]
    NotFound,
    /// The write conflicts with existing data (a duplicate key, an object in use, …).
    #[error("{0}")]
    Conflict(String),
    /// The idempotency key was used before with a different request body.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// A [`RecipientSource`] refused its recipients part way; nothing was stored.
    #[error("the recipients were refused")]
    Refused,
    /// The database failed.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A shared handle to whichever backend the configuration chose.
pub type DynStore = Arc<dyn Store>;

/// How a store uses its database: pool size and statement timeout
/// (`--db-max-connections`, `--db-statement-timeout-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbOptions {
    /// Most connections a PostgreSQL pool opens (per node: size it so that every node's
    /// pool fits the server's `max_connections`). SQLite has one writer and uses this many
    /// readers, at most four.
    pub max_connections: u32,
    /// PostgreSQL cancels any statement running longer (`statement_timeout`; zero means
    /// no limit). Migrations are exempt. SQLite ignores it.
    pub statement_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Opens the database at `url` and returns its store, not yet migrated: `sqlite://PATH`
/// (the file is created if missing) or `postgres://USER@HOST[:PORT]/DATABASE` (the
/// database must exist).
pub async fn connect(url: &str, options: &DbOptions) -> anyhow::Result<DynStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect_with(url, options).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect(url, options).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL {url:?}: expected sqlite://PATH or postgres://USER@HOST/DATABASE"
        )
    }
}

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

/// An AI agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// Its name.
    pub name: String,
    /// The prompt that tells it how to answer replies.
    pub system_prompt: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A sending number.
#[derive(Debug, Clone)]
pub struct Number {
    /// E.164.
    pub phone: String,
    /// Segments per second this number may send.
    pub mps: f64,
    /// Agent answering replies to this number when a campaign names none.
    pub agent_id: Option<AgentId>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A campaign ready to insert: the validated request plus what the service decided.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    /// Its id.
    pub id: CampaignId,
    /// Owner.
    pub account_id: AccountId,
    /// Name.
    pub name: String,
    /// Template as given.
    pub message_template: String,
    /// Agent answering replies.
    pub agent_id: Option<String>,
    /// Sending numbers.
    pub from_numbers: Vec<String>,
    /// Initial status (`running`, `scheduled` or `draft`).
    pub status: CampaignStatus,
    /// API or dashboard.
    pub source: Source,
    /// Start time for scheduled (and optionally draft) campaigns.
    pub scheduled_at: Option<OffsetDateTime>,
    /// Recipients without granted consent fail with `no_consent` (at create and at claim).
    pub require_consent: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// The recipients of a campaign being created, handed to the store a chunk at a time, in
/// order. The store asks for the next chunk only after writing the previous one, so a source
/// can check and render each chunk as it is asked for, and the recipients never all sit in
/// memory at once.
pub trait RecipientSource: Send {
    /// The next at most `max` recipients (`max` > 0); an empty slice when there are no more.
    /// `Err(StoreError::Refused)` (or any error) makes the store roll back and return it.
    fn next_chunk(&mut self, max: usize) -> StoreResult<&[NewRecipient]>;
    /// How many duplicate phones were dropped; read after the last chunk.
    fn duplicates_removed(&self) -> u64;
}

/// Recipients already in memory, as a [`RecipientSource`].
#[derive(Debug, Clone, Default)]
pub struct RecipientList {
    /// Recipients in order.
    pub recipients: Vec<NewRecipient>,
    /// How many duplicate phones were dropped before these.
    pub duplicates_removed: u64,
    next: usize,
}

impl RecipientList {
    /// A source handing out `recipients` in order.
    pub fn new(recipients: Vec<NewRecipient>, duplicates_removed: u64) -> Self {
        Self {
            recipients,
            duplicates_removed,
            next: 0,
        }
    }
}

impl RecipientSource for RecipientList {
    fn next_chunk(&mut self, max: usize) -> StoreResult<&[NewRecipient]> {
        let start = self.next.min(self.recipients.len());
        let end = start.saturating_add(max).min(self.recipients.len());
        self.next = end;
        Ok(&self.recipients[start..end])
    }

    fn duplicates_removed(&self) -> u64 {
        self.duplicates_removed
    }
}

/// An `Idempotency-Key` with the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the canonical request body.
    pub request_hash: Vec<u8>,
}

/// What `create_campaign` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new campaign was stored.
    New(CampaignId),
    /// The idempotency key was seen before with the same request: this is the first campaign.
    Replayed(CampaignId),
}

/// A campaign with its counts computed from its recipients.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Internal order (newest has the highest); the list cursor.
    pub seq: i64,
    /// Its id.
    pub id: CampaignId,
    /// Name.
    pub name: String,
    /// Template as given.
    pub message_template: String,
    /// Agent answering replies.
    pub agent_id: Option<String>,
    /// Sending numbers.
    pub from_numbers: Vec<String>,
    /// Lifecycle status.
    pub status: CampaignStatus,
    /// API or dashboard.
    pub source: Source,
    /// When it starts (scheduled) or was set to start.
    pub scheduled_at: Option<OffsetDateTime>,
    /// Duplicate phones dropped at creation.
    pub duplicates_removed: u64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When sending started.
    pub started_at: Option<OffsetDateTime>,
    /// When it reached done/failed/cancelled.
    pub finished_at: Option<OffsetDateTime>,
    /// Sends only to numbers with granted consent.
    pub require_consent: bool,
    /// Counts from per-recipient statuses.
    pub counts: Counts,
}

/// One recipient of a campaign as stored.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Position in the campaign (0-based); the recipients cursor.
    pub position: i64,
    /// E.164.
    pub phone: String,
    /// Template variables as given.
    pub variables: Map<String, Value>,
    /// The rendered message.
    pub body: String,
    /// Segments of the body.
    pub segments: u32,
    /// The number sending it.
    pub from_number: String,
    /// Where it stands.
    pub status: RecipientStatus,
    /// Twilio's message sid once accepted.
    pub twilio_sid: Option<String>,
    /// Twilio's (or Herald's) error code.
    pub error_code: Option<String>,
    /// The matching message.
    pub error_message: Option<String>,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// Which recipients of a campaign to list.
#[derive(Debug, Clone, Default)]
pub struct RecipientQuery {
    /// Only this status.
    pub status: Option<RecipientStatus>,
    /// Only positions after this one.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// A recipient the engine has claimed: marked in flight with `attempt_id` before any request leaves.
#[derive(Debug, Clone)]
pub struct Work {
    /// Row id.
    pub id: i64,
    /// The campaign's internal order key.
    pub campaign_seq: i64,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The campaign's account (opt-outs found while sending are recorded there).
    pub account_id: AccountId,
    /// Destination (E.164).
    pub phone: String,
    /// Sender (E.164).
    pub from_number: String,
    /// The rendered message.
    pub body: String,
    /// Segments the body takes (pacing counts these).
    pub segments: u32,
    /// Requests made for this recipient so far, including this one.
    pub attempts: u32,
    /// This attempt's id (goes into the StatusCallback URL).
    pub attempt_id: String,
}

/// A sending number with work waiting, and its rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// E.164.
    pub phone: String,
    /// Segments per second.
    pub mps: f64,
}

/// The outcome of one attempt, to store. Every variant names the attempt it settles;
/// an outcome for an attempt that is no longer current changes nothing.
#[derive(Debug, Clone)]
pub enum SendResult {
    /// Twilio accepted the message.
    Accepted {
        /// Row id.
        id: i64,
        /// The attempt.
        attempt_id: String,
        /// Twilio's message sid.
        sid: String,
        /// Status Twilio reported (usually `queued`).
        status: RecipientStatus,
    },
    /// The recipient failed for good (Twilio rejected it, or retries ran out).
    Failed {
        /// Row id.
        id: i64,
        /// The attempt.
        attempt_id: String,
        /// Error code (Twilio's, or Herald's).
        code: String,
        /// Explanation.
        message: String,
    },
    /// Not processed; try again after `not_before`.
    Retry {
        /// Row id.
        id: i64,
        /// The attempt.
        attempt_id: String,
        /// Earliest next attempt.
        not_before: OffsetDateTime,
        /// Last error code.
        code: String,
        /// Last error message.
        message: String,
    },
    /// The request may or may not have created a message: keep it in flight and reconcile.
    Unknown {
        /// Row id.
        id: i64,
        /// The attempt.
        attempt_id: String,
        /// What happened.
        message: String,
    },
    /// No request was sent (campaign cancelled, engine stopping): back to pending, or
    /// `cancelled` if the campaign was cancelled.
    Released {
        /// Row id.
        id: i64,
        /// The attempt.
        attempt_id: String,
    },
}

/// A delivery status reported by Twilio's status callback.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    /// The attempt id from the callback URL, when present.
    pub attempt_id: Option<String>,
    /// Twilio's message sid.
    pub sid: String,
    /// Mapped status.
    pub status: RecipientStatus,
    /// Twilio's error code (failed/undelivered).
    pub error_code: Option<String>,
    /// Twilio's error message, if sent.
    pub error_message: Option<String>,
}

/// A recipient row as [`fold_status_events`] reads it: what a status callback may change,
/// and what it is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusRow {
    /// Row id.
    pub id: i64,
    /// The current attempt.
    pub attempt_id: Option<String>,
    /// Twilio's message sid, once known.
    pub twilio_sid: Option<String>,
    /// Current status.
    pub status: RecipientStatus,
    /// Error code, if any.
    pub error_code: Option<String>,
    /// Error message, if any.
    pub error_message: Option<String>,
}

/// Applies a batch of status callbacks, one after the other in the order given, to the rows
/// they may name (every row whose sid or attempt id some event carries), in memory; returns
/// the rows that moved, with their final values, by id.
///
/// This is the meaning of `apply_status_events` for any batch, which both stores write back
/// in one statement: an event finds its row by sid (the lowest id, should two rows carry
/// it), or else by attempt id (a callback can beat the stored answer of the request that
/// created the message); it moves the row only forward (a higher rank), sets the sid if the
/// row had none, and keeps earlier error details unless it brings its own. So an event can
/// find a row by a sid that an earlier event of the same batch gave it, error details of an
/// earlier event survive a later one without any, and a row moved twice is one row moved.
pub(crate) fn fold_status_events(rows: Vec<StatusRow>, events: &[StatusEvent]) -> Vec<StatusRow> {
    let mut rows = rows;
    rows.sort_by_key(|r| r.id);
    rows.dedup_by_key(|r| r.id);
    let mut moved = vec![false; rows.len()];
    // Rows by sid (the first, i.e. lowest id, of those carrying it) and by attempt id.
    let mut by_sid: HashMap<String, usize> = HashMap::new();
    let mut by_attempt: HashMap<String, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(sid) = &r.twilio_sid {
            by_sid.entry(sid.clone()).or_insert(i);
        }
        if let Some(attempt) = &r.attempt_id {
            by_attempt.entry(attempt.clone()).or_insert(i);
        }
    }
    for e in events {
        let found = by_sid.get(&e.sid).or_else(|| {
            e.attempt_id
                .as_deref()
                .and_then(|attempt| by_attempt.get(attempt))
        });
        let Some(&i) = found else { continue };
        let row = &mut rows[i];
        if !row.status.can_become(e.status) {
            continue;
        }
        row.status = e.status;
        if row.twilio_sid.is_none() {
            row.twilio_sid = Some(e.sid.clone());
            let first = by_sid.entry(e.sid.clone()).or_insert(i);
            *first = (*first).min(i);
        }
        if e.error_code.is_some() {
            row.error_code.clone_from(&e.error_code);
        }
        if e.error_message.is_some() {
            row.error_message.clone_from(&e.error_message);
        }
        moved[i] = true;
    }
    rows.into_iter()
        .zip(moved)
        .filter_map(|(row, moved)| moved.then_some(row))
        .collect()
}

/// A recipient whose request may have left without its outcome being stored.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// Row id.
    pub id: i64,
    /// The attempt.
    pub attempt_id: String,
    /// Destination.
    pub phone: String,
    /// Sender.
    pub from_number: String,
    /// The message.
    pub body: String,
    /// When it was marked in flight.
    pub since: OffsetDateTime,
    /// Requests made so far.
    pub attempts: u32,
}

/// The persistence operations Herald needs. Every method that takes an account
/// scopes to it: another account's object is `NotFound`, never visible.
///
/// Campaigns of kind `reply` (an agent's answer sent through the engine, see
/// [`ReplyStore::create_reply`]) are engine work only: the campaign queries here (get, list,
/// recipients, cancel, launch) never see them.
#[async_trait]
pub trait Store: ReplyStore + SessionStore + LeaseStore + Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Answers when the database can serve queries.
    async fn ping(&self) -> StoreResult<()>;

    /// How many accounts exist (0 on a fresh database).
    async fn count_accounts(&self) -> StoreResult<u64>;
    /// Creates an account with its dashboard user and first API key, atomically.
    async fn create_account(&self, new: &NewAccount) -> StoreResult<()>;
    /// One account.
    async fn get_account(&self, id: &AccountId) -> StoreResult<Account>;

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

    /// Stores a new agent.
    async fn create_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()>;
    /// The account's agents, oldest first.
    async fn list_agents(&self, account: &AccountId) -> StoreResult<Vec<Agent>>;
    /// One agent.
    async fn get_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<Agent>;
    /// Replaces an agent's name and prompt.
    async fn update_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()>;
    /// Deletes an agent; `Conflict` while a number or campaign refers to it.
    async fn delete_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<()>;

    /// Stores a new sending number; `Conflict` if the phone is already registered.
    async fn create_number(&self, account: &AccountId, number: &Number) -> StoreResult<()>;
    /// The account's numbers, by phone.
    async fn list_numbers(&self, account: &AccountId) -> StoreResult<Vec<Number>>;
    /// One number.
    async fn get_number(&self, account: &AccountId, phone: &str) -> StoreResult<Number>;
    /// Replaces a number's rate and agent.
    async fn update_number(&self, account: &AccountId, number: &Number) -> StoreResult<()>;
    /// Deletes a number; `Conflict` while an unfinished campaign sends from it.
    async fn delete_number(&self, account: &AccountId, phone: &str) -> StoreResult<()>;

    /// Records that `phone` opted out of the account (idempotent), with a consent record.
    async fn add_opt_out(
        &self,
        account: &AccountId,
        phone: &str,
        source: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The numbers that opted out of the account.
    async fn opted_out_phones(&self, account: &AccountId) -> StoreResult<HashSet<String>>;

    /// What validating a campaign request needs to know about the account.
    async fn account_context(&self, account: &AccountId) -> StoreResult<AccountContext>;

    /// Stores a campaign with all its recipients (read from `recipients` chunk by chunk
    /// until it is empty) in one transaction; if the source fails, stores nothing and returns
    /// its error. With an idempotency key already used for the same request, stores nothing,
    /// reads no recipient and returns the first campaign's id; with a different request,
    /// `IdempotencyMismatch`.
    async fn create_campaign(
        &self,
        new: &NewCampaign,
        recipients: &mut dyn RecipientSource,
        idempotency: Option<&IdempotencyKey>,
    ) -> StoreResult<Created>;
    /// One campaign with counts.
    async fn get_campaign(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Campaign>;
    /// The account's campaigns, newest first, with counts; `before` is a `seq` cursor.
    async fn list_campaigns(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Campaign>>;
    /// A page of a campaign's recipients in order.
    async fn list_recipients(
        &self,
        account: &AccountId,
        id: &CampaignId,
        query: &RecipientQuery,
    ) -> StoreResult<Vec<Recipient>>;
    /// Cancels a draft, scheduled or running campaign: its unsent recipients become
    /// `cancelled`. `Conflict` (naming the status) when it already finished.
    async fn cancel_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Launches a draft: `running` now, or `scheduled` when it has a future `scheduled_at`.
    /// `Conflict` when it is not a draft.
    async fn launch_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<CampaignStatus>;

    /// Moves scheduled campaigns whose time has come to `running`; returns them.
    async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>>;
    /// The sending numbers of running campaigns, with their rates (a lane per number; its
    /// recipients may all be waiting for a retry or a callback).
    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>>;
    /// Running campaigns (by `seq`, oldest first) that send from this number.
    async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>>;
    /// Claims up to `limit` sendable recipients of one campaign on one number, in order,
    /// marking each in flight with a fresh attempt id, claimed by `node`, in the same
    /// transaction.
    async fn claim_work(
        &self,
        node: &NodeId,
        campaign_seq: i64,
        from_number: &str,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Work>>;
    /// Stores attempt outcomes in one transaction.
    async fn record_results(&self, results: &[SendResult], now: OffsetDateTime) -> StoreResult<()>;
    /// Applies status callbacks, forward only (late, repeated and reordered events change
    /// nothing); returns how many recipients moved.
    async fn apply_status_events(
        &self,
        events: &[StatusEvent],
        now: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Marks running campaigns with nothing left to submit `done` (or `failed` when every
    /// recipient failed at submission); returns what changed.
    async fn finish_campaigns(
        &self,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(CampaignId, CampaignStatus)>>;
    /// In-flight recipients whose outcome is unknown, oldest first.
    async fn unknown_in_flight(&self, limit: u32) -> StoreResult<Vec<InFlight>>;
    /// Twilio sids already stored for messages from `from_number` to `phone`
    /// (reconciliation must not mistake an earlier message for this attempt's).
    async fn known_sids(&self, phone: &str, from_number: &str) -> StoreResult<HashSet<String>>;
    /// Whether the campaign is still running (the engine checks before each send).
    async fn campaign_running(&self, campaign_seq: i64) -> StoreResult<bool>;
    /// Recipients waiting to be sent in running campaigns (the queue-depth gauge).
    async fn pending_total(&self) -> StoreResult<u64>;
    /// Counts recomputed from the recipient rows (a GROUP BY), bypassing the counts that
    /// reads use; tests and audits compare the two.
    async fn aggregate_counts(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Counts>;
}
