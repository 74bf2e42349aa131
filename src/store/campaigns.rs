//! Campaigns and their recipients as the API sees them: the records and the [`CampaignStore`]
//! trait.

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::campaign::NewRecipient;
use crate::domain::ids::{AccountId, CampaignId, TestSendId};
use crate::domain::status::{CampaignStatus, Counts, RecipientStatus, Source};

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
    /// Whether the account's send window holds recipients (docs/ARCHITECTURE.md §4).
    pub respect_send_window: bool,
    /// Why the window is ignored, when it is.
    pub send_window_reason: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// The campaign this one resends to (`POST …/resend`), if any.
    pub resend_of: Option<CampaignId>,
}

/// The recipients of a campaign being created, handed to the store a chunk at a time, in
/// order. The store asks for the next chunk while it writes the previous one, so a source
/// can check and render each chunk as it is asked for, and at most two chunks of recipients
/// sit in memory at once.
pub trait RecipientSource: Send {
    /// The next at most `max` recipients (`max` > 0); an empty slice when there are no more.
    /// `Err(StoreError::Refused)` (or any error) makes the store roll back and return it.
    fn next_chunk(&mut self, max: usize) -> StoreResult<&[NewRecipient]>;
    /// The next chunk, owned (a source that builds its chunks hands them over without a copy).
    fn take_chunk(&mut self, max: usize) -> StoreResult<Vec<NewRecipient>> {
        self.next_chunk(max).map(<[NewRecipient]>::to_vec)
    }
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

/// What an append stored (`append_recipients`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppendedRows {
    /// Recipients stored.
    pub added: u64,
    /// Of those, recipients that fail at once: opted out.
    pub opted_out: u64,
    /// Of those, recipients that fail at once: no granted consent (`require_consent`).
    pub no_consent: u64,
    /// Phones the source handed over that were in the campaign already (not stored), in
    /// the source's order.
    pub already_in_campaign: Vec<String>,
}

/// What `append_recipients` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The recipients were stored.
    New(AppendedRows),
    /// The idempotency key was seen before with the same request: what that append stored.
    Replayed(AppendedRows),
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
    /// Whether the account's send window holds recipients.
    pub respect_send_window: bool,
    /// Why the window is ignored, when it is.
    pub send_window_reason: Option<String>,
    /// The campaign this one resends to, if it was made by a resend.
    pub resend_of: Option<CampaignId>,
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
    /// When Twilio accepted it.
    pub sent_at: Option<OffsetDateTime>,
    /// When the carrier confirmed delivery.
    pub delivered_at: Option<OffsetDateTime>,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Outside its send window: not sent before this (docs/ARCHITECTURE.md §4).
    pub held_until: Option<OffsetDateTime>,
}

/// A test send to store: one message, already checked and rendered, sent by the engine as
/// any message is (paced, opt-outs honoured at claim) but never a campaign.
#[derive(Debug, Clone)]
pub struct NewTestSend {
    /// Its id.
    pub id: TestSendId,
    /// Owner.
    pub account_id: AccountId,
    /// The template as given.
    pub message_template: String,
    /// The message and its recipient (from, to, variables, body, segments; `opted_out`
    /// fails it at once with `opted_out`).
    pub message: NewRecipient,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A test send as stored.
#[derive(Debug, Clone)]
pub struct TestSend {
    /// Its id.
    pub id: TestSendId,
    /// The message and its delivery status (position 0).
    pub message: Recipient,
    /// Creation time.
    pub created_at: OffsetDateTime,
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

/// Campaigns as the API and dashboard manage them. Every method that takes an account scopes
/// to it: another account's campaign is `NotFound`, never visible.
///
/// Campaigns of kind `reply` (an agent's answer sent through the engine, see
/// [`super::ConversationStore::create_reply`]) are engine work only: these queries never see
/// them.
#[async_trait]
pub trait CampaignStore: Send + Sync {
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
    /// Cancels a draft, scheduled, running or paused campaign: its unsent recipients become
    /// `cancelled`. `Conflict` (naming the status) when it already finished.
    async fn cancel_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Pauses a running or scheduled campaign: no claim takes its recipients until it is
    /// resumed (on every node: the claim reads the status). Recipients already in flight are
    /// left to finish. `Conflict` (naming the status) otherwise.
    async fn pause_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<CampaignStatus>;
    /// Resumes a paused campaign: `running`, or `scheduled` when its `scheduled_at` is still
    /// ahead. `Conflict` when it is not paused.
    async fn resume_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<CampaignStatus>;
    /// Launches a draft: `running` now, or `scheduled` when it has a future `scheduled_at`.
    /// `Conflict` when it is not a draft.
    async fn launch_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<CampaignStatus>;
    /// Stores a test send: a one-message campaign of kind `test`, running (the engine sends
    /// it), that no campaign query sees.
    async fn create_test_send(&self, new: &NewTestSend) -> StoreResult<()>;
    /// One test send of the account with its message's status.
    async fn get_test_send(&self, account: &AccountId, id: &TestSendId) -> StoreResult<TestSend>;
    /// Adds recipients to a draft, after those it has, in one transaction: phones already in
    /// the campaign are dropped (listed in the answer); `duplicates_removed` grows by the
    /// source's drops and those. `Conflict` (naming the status) when the campaign is not a
    /// draft; nothing is stored when the source fails. An idempotency key used before for the
    /// same request (hash) replays that append's answer; for another, `IdempotencyMismatch`.
    async fn append_recipients(
        &self,
        account: &AccountId,
        id: &CampaignId,
        recipients: &mut dyn RecipientSource,
        idempotency: Option<&IdempotencyKey>,
        now: OffsetDateTime,
    ) -> StoreResult<Appended>;
    /// Counts recomputed from the recipient rows (a GROUP BY), bypassing the counts that
    /// reads use; tests and audits compare the two.
    async fn aggregate_counts(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Counts>;
    /// The campaign's held count, errors by code and queue per sending number, from the
    /// caches the database keeps (migrations/*/0015): a few rows whatever its size.
    async fn campaign_tallies(
        &self,
        account: &AccountId,
        id: &CampaignId,
    ) -> StoreResult<CampaignTallies>;
    /// The same, recomputed from the recipient rows (GROUP BYs), bypassing the caches; tests
    /// and audits compare the two.
    async fn aggregate_tallies(
        &self,
        account: &AccountId,
        id: &CampaignId,
    ) -> StoreResult<CampaignTallies>;
    /// What waits on each of the account's numbers `phones`: its rate and the running
    /// campaigns' pending recipients on it (from the queues cache), in the order given.
    async fn number_loads(
        &self,
        account: &AccountId,
        phones: &[String],
    ) -> StoreResult<Vec<NumberLoad>>;
}

/// A campaign's held count, errors and queues (see [`CampaignStore::campaign_tallies`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignTallies {
    /// Pending recipients held until their send window opens.
    pub held: u64,
    /// Failed and undelivered recipients by code, most frequent first, then by code.
    pub errors: Vec<ErrorTally>,
    /// Pending recipients per sending number (by number; numbers with none left out).
    pub queues: Vec<NumberQueue>,
    /// When the last hold ends (the latest `held_until` of a held recipient).
    pub last_hold_ends: Option<OffsetDateTime>,
}

/// One campaign's pending recipients on one sending number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberQueue {
    /// The sending number.
    pub from_number: String,
    /// Recipients not held.
    pub pending: u64,
    /// Their segments.
    pub segments: u64,
    /// Recipients held until their send window opens.
    pub held: u64,
}

/// A sending number's rate and the running campaigns waiting on it.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberLoad {
    /// The number.
    pub phone: String,
    /// Its rate, segments per second (1 when the account has no such number stored).
    pub mps: f64,
    /// Each running campaign's pending recipients (not held) on it, by campaign seq.
    pub campaigns: Vec<QueuedCampaign>,
}

/// One running campaign's pending recipients on a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedCampaign {
    /// The campaign's internal key.
    pub seq: i64,
    /// Recipients.
    pub pending: u64,
    /// Their segments.
    pub segments: u64,
}

/// Recipients of one campaign that failed with one error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorTally {
    /// The code.
    pub error_code: String,
    /// One of the messages stored with it (Twilio's text), if any.
    pub error_message: Option<String>,
    /// How many recipients.
    pub count: u64,
}
