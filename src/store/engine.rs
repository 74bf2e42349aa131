//! The engine's work: claiming recipients, storing outcomes and callbacks, finishing
//! campaigns, polling the statuses whose callbacks were lost. The records and the
//! [`EngineStore`] trait.

use std::collections::HashSet;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::ids::{AccountId, CampaignId, NodeId};
use crate::domain::status::{CampaignStatus, RecipientStatus};

pub use crate::domain::status::StatusEvent;

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

/// A message Twilio accepted whose final status Herald has not heard: its status is asked of
/// Twilio (docs/ARCHITECTURE.md §4), because Twilio never resends a callback it could not
/// deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct DuePoll {
    /// Row id.
    pub id: i64,
    /// Twilio's message sid (what is fetched).
    pub sid: String,
    /// The attempt that created the message.
    pub attempt_id: Option<String>,
    /// When Twilio accepted it (the polls' schedule counts from here).
    pub accepted_at: OffsetDateTime,
}

/// What the sending engine reads and writes, across every account.
#[async_trait]
pub trait EngineStore: Send + Sync {
    /// Moves scheduled campaigns whose time has come to `running`; returns them.
    async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>>;
    /// The sending numbers of running campaigns, with their rates (a lane per number; its
    /// recipients may all be waiting for a retry or a callback).
    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>>;
    /// Running campaigns (by `seq`, oldest first) that send from this number.
    async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>>;
    /// Running campaigns that send from this number and are new to a lane that has seen
    /// every `seq` up to `after`: created since (a higher `seq`), or started at or after
    /// `started_since` (launched, promoted). Two index ranges, however many campaigns run.
    async fn lane_campaigns_new(
        &self,
        from_number: &str,
        after: i64,
        started_since: OffsetDateTime,
    ) -> StoreResult<Vec<i64>>;
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
    /// Claims for several campaigns of one number in one transaction, in the order given (a
    /// lane's turn order): each campaign's part is exactly [`EngineStore::claim_work`]'s,
    /// taking at most what is left of `limit` for the group, and campaigns are claimed until
    /// `limit` recipients in all are taken. Returns each campaign claimed for (a campaign that
    /// is not running, or has nothing sendable, with no work), in the order given; campaigns
    /// left out once the group's limit was reached are not in the answer.
    async fn claim_lane_work(
        &self,
        node: &NodeId,
        campaigns: &[i64],
        from_number: &str,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(i64, Vec<Work>)>>;
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
    /// The campaigns paused now (lanes stop sending them: docs/ARCHITECTURE.md §3).
    async fn paused_campaigns(&self) -> StoreResult<Vec<CampaignId>>;
    /// Whether the campaign is still running (the engine checks before each send).
    async fn campaign_running(&self, campaign_seq: i64) -> StoreResult<bool>;
    /// Recipients waiting to be sent in running campaigns (the queue-depth gauge).
    async fn pending_total(&self) -> StoreResult<u64>;
    /// Per phone, the account's campaign messages that count against its daily cap at `now`
    /// (sent in the 24 hours before, or in flight; test sends and replies never count), as the
    /// claim counts them (docs/ARCHITECTURE.md §4); phones with none are left out. A read, for
    /// previews.
    async fn recent_campaign_messages(
        &self,
        account: &AccountId,
        phones: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<std::collections::HashMap<String, u64>>;
    /// Claims up to `limit` status polls due at `now`, oldest due first: messages with a sid
    /// and no final status (`queued`, `sent`) whose next poll time has come, then messages
    /// accepted at or before `accepted_before` that were never polled. Each claimed poll is
    /// put off to `hold_until` in the same statement, so no other node polls the message
    /// meanwhile (rows another node is claiming are skipped), and a node that dies mid-poll
    /// leaves it due again then.
    async fn claim_due_polls(
        &self,
        now: OffsetDateTime,
        accepted_before: OffsetDateTime,
        hold_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<DuePoll>>;
    /// Records when each polled message (row id) is asked about next; `None`: never again
    /// (Twilio's horizon passed). A message that reached a final status meanwhile is left
    /// alone (it is no longer polled anyway).
    async fn schedule_polls(&self, polls: &[(i64, Option<OffsetDateTime>)]) -> StoreResult<()>;
}
