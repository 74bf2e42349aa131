//! Persistence of outgoing webhooks: endpoints, the outbox of messages to deliver (written by
//! database triggers in the transaction of the change that causes each event), claims of due
//! messages and the log of attempts (docs/ARCHITECTURE.md §10). One of the aspect traits that
//! make up [`super::Store`].

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::ids::{AccountId, EndpointId};
use crate::domain::webhooks::EventType;

/// An endpoint as stored. Its `Debug` leaves the secrets out.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Its id (`ep_…`).
    pub id: EndpointId,
    /// Where messages are posted.
    pub url: String,
    /// What the user calls it.
    pub description: Option<String>,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// `whsec_<base64>`: signs every message (never shown after create or rotate).
    pub secret: String,
    /// The secret before the last rotation, which keeps signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    /// See `previous_secret`.
    pub previous_secret_until: Option<OffsetDateTime>,
    /// Whether messages are written and delivered to it.
    pub enabled: bool,
    /// Why Herald disabled it (a day of failures); `None` when enabled or disabled by a user.
    pub disabled_reason: Option<String>,
    /// The first failure since its last success.
    pub failing_since: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Messages waiting to be delivered (read only; ignored when written).
    pub pending: u64,
}

/// A message claimed for delivery, with what signing and posting it needs. Its `Debug`
/// leaves the secrets out.
#[derive(Clone)]
pub struct DueWebhook {
    /// Row id (the outcome names it).
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    /// The endpoint's row id.
    pub endpoint_seq: i64,
    /// The endpoint's URL.
    pub url: String,
    /// The secrets that sign it: the current one, and the previous one while it still signs.
    pub secrets: Vec<String>,
    /// The first failure since the endpoint's last success.
    pub failing_since: Option<OffsetDateTime>,
    /// The body's `type`.
    pub event_type: String,
    /// The body's `data`.
    pub data: Value,
    /// When the event happened (the body's `timestamp`).
    pub created_at: OffsetDateTime,
    /// Attempts made before this one.
    pub attempts: u32,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DueWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DueWebhook")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("url", &self.url)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .field("secrets", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What became of a message after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookNext {
    /// The endpoint acknowledged it (2xx).
    Delivered,
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// Given up (retried for a day).
    GiveUp,
}

/// One attempt's result, to store.
#[derive(Debug, Clone)]
pub struct WebhookAttemptResult {
    /// The message's row id.
    pub message_id: i64,
    /// Its endpoint's row id.
    pub endpoint_seq: i64,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status the endpoint answered, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong (a status, a time-out, a refused address), if anything.
    pub error: Option<String>,
    /// When the attempt ended.
    pub at: OffsetDateTime,
    /// What follows.
    pub next: WebhookNext,
    /// Disable the endpoint, for this reason (it has failed for a day).
    pub disable: Option<String>,
}

/// One delivery attempt as listed.
#[derive(Debug, Clone)]
pub struct WebhookAttempt {
    /// The event's type.
    pub event_type: String,
    /// The message's `webhook-id`.
    pub webhook_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status, if the endpoint answered.
    pub status_code: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// Outgoing webhooks' endpoints, outbox and attempts.
#[async_trait]
pub trait WebhookStore {
    /// Stores a new endpoint.
    async fn create_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<()>;

    /// The account's endpoints, oldest first.
    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
    ) -> StoreResult<Vec<WebhookEndpoint>>;

    /// One endpoint.
    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &EndpointId,
    ) -> StoreResult<WebhookEndpoint>;

    /// Writes every field of an endpoint but its id and creation time.
    async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<()>;

    /// Deletes an endpoint, its messages and their attempts.
    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &EndpointId,
    ) -> StoreResult<()>;

    /// An endpoint's latest attempts, newest first.
    async fn webhook_attempts(
        &self,
        account: &AccountId,
        id: &EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<WebhookAttempt>>;

    /// Writes an event of `event_type` for each enabled endpoint of the account that
    /// receives the type (or for `only` alone, whatever its types, when given: a test
    /// event); returns how many messages were written. The triggers of migration 0011 write
    /// the events that follow a change; this is for the events Rust code raises.
    async fn enqueue_webhook_event(
        &self,
        account: &AccountId,
        event_type: &str,
        data: &Value,
        only: Option<&EndpointId>,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;

    /// Claims up to `limit` due messages of enabled endpoints, leaving out the endpoints
    /// `busy` (row ids): each claimed message is due again at `hold_until` unless its outcome
    /// is stored first, so a node that dies mid-delivery leaves it to be sent again, and two
    /// nodes never claim one message at once (SKIP LOCKED on PostgreSQL).
    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        hold_until: OffsetDateTime,
        limit: u32,
        busy: &[i64],
    ) -> StoreResult<Vec<DueWebhook>>;

    /// Stores an attempt and what follows it (the message's state, the endpoint's failing
    /// streak, a disable) in one transaction.
    async fn record_webhook_attempt(&self, result: &WebhookAttemptResult) -> StoreResult<()>;

    /// Deletes the messages (and their attempts) that were finished before `before`.
    async fn purge_webhooks(&self, before: OffsetDateTime) -> StoreResult<u64>;
}
