//! Campaigns and their recipients as the API sees them: the records and the [`CampaignStore`]
//! trait.

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::campaign::NewRecipient;
use crate::domain::ids::{AccountId, CampaignId};
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
    /// Counts recomputed from the recipient rows (a GROUP BY), bypassing the counts that
    /// reads use; tests and audits compare the two.
    async fn aggregate_counts(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Counts>;
    /// The campaign's failed and undelivered recipients grouped by error code, most frequent
    /// first (then by code), with one of Twilio's messages for each.
    async fn error_tally(
        &self,
        account: &AccountId,
        id: &CampaignId,
    ) -> StoreResult<Vec<ErrorTally>>;
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
