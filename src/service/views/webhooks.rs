//! The JSON shapes of outgoing webhooks: endpoints, their secrets (shown once) and their
//! delivery attempts.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::webhooks::EventType;
use crate::store;

/// Body of `POST /v1/webhook-endpoints`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WebhookEndpointRequest {
    /// Where events are posted: https, resolving to public addresses (unless the server
    /// allows private ones).
    #[schema(required = true, nullable = false)]
    pub url: Option<String>,
    /// The event types to receive (at least one).
    #[schema(required = true, nullable = false, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// A note for people (at most 500 characters).
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// Body of `PATCH /v1/webhook-endpoints/{endpoint_id}`: only the fields present change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WebhookEndpointPatch {
    /// A new URL (checked as on create).
    pub url: Option<String>,
    /// A new list of event types (replaces the old one).
    pub events: Option<Vec<String>>,
    /// A new description (empty clears it).
    pub description: Option<String>,
    /// `false` stops writing and delivering events to it; `true` starts again (and clears
    /// Herald's own disable after a day of failures).
    pub enabled: Option<bool>,
}

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    /// `ep_…`
    pub endpoint_id: String,
    /// Where events are posted.
    pub url: String,
    /// The note for people.
    pub description: Option<String>,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// Whether events are written and delivered to it.
    pub enabled: bool,
    /// Why Herald disabled it (every delivery failed for 24 hours); null otherwise.
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last success; null while deliveries succeed.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// Messages waiting for delivery (new, or between retries).
    pub pending: u64,
    /// After a rotation, until when the previous secret still signs beside the new one.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// Creation time.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "crate::service::views::timestamp")]
    pub updated_at: OffsetDateTime,
}

impl WebhookEndpointView {
    /// The view of `e` at `now` (a previous secret past its time is not shown).
    pub fn of(e: store::WebhookEndpoint, now: OffsetDateTime) -> Self {
        Self {
            endpoint_id: e.id.to_string(),
            url: e.url,
            description: e.description,
            events: e.events,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            pending: e.pending,
            previous_secret_expires_at: e
                .previous_secret
                .and(e.previous_secret_until)
                .filter(|t| *t > now),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// The answer to a create: the endpoint and its secret, which is never shown again (nor
/// printed by `Debug`).
#[derive(Clone, Serialize, ToSchema)]
pub struct WebhookEndpointCreated {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// `whsec_<base64>`: verify deliveries with it (Standard Webhooks). Shown once.
    pub secret: String,
}

/// The answer to a rotation: the new secret (shown once); the old one keeps signing beside
/// it until `previous_secret_expires_at`. `Debug` leaves the secret out.
#[derive(Clone, Serialize, ToSchema)]
pub struct WebhookSecretRotated {
    /// `ep_…`
    pub endpoint_id: String,
    /// The new `whsec_…` secret. Shown once.
    pub secret: String,
    /// Until when the previous secret also signs (24 hours from now).
    #[serde(with = "crate::service::views::timestamp")]
    pub previous_secret_expires_at: OffsetDateTime,
}

impl std::fmt::Debug for WebhookEndpointCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointCreated")
            .field("endpoint", &self.endpoint)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for WebhookSecretRotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecretRotated")
            .field("endpoint_id", &self.endpoint_id)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The account's endpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    /// Oldest first.
    pub webhook_endpoints: Vec<WebhookEndpointView>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryView {
    /// The event's type (`webhook.test` for a test event).
    pub event_type: String,
    /// The `webhook-id` header: the same on every attempt of one message.
    pub webhook_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status the endpoint answered; null when it did not answer.
    pub status_code: Option<u16>,
    /// What went wrong; null for a delivered message.
    pub error: Option<String>,
    /// When the attempt ended.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
}

impl From<store::WebhookAttempt> for WebhookDeliveryView {
    fn from(a: store::WebhookAttempt) -> Self {
        Self {
            event_type: a.event_type,
            webhook_id: a.webhook_id,
            attempt: a.attempt,
            status_code: a.status_code,
            error: a.error,
            created_at: a.at,
        }
    }
}

/// An endpoint's recent delivery attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryList {
    /// Newest first, at most `limit` (default 50, at most 200).
    pub deliveries: Vec<WebhookDeliveryView>,
}

/// The answer to a test event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookTestQueued {
    /// `webhook.test`
    pub event_type: String,
    /// Messages written (1).
    pub queued: u64,
}

/// Query of `GET /v1/webhook-endpoints/{endpoint_id}/deliveries`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// How many attempts (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}
