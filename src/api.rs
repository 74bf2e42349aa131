//! The JSON shapes of Herald's API responses (requests live beside their validation in `domain`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::campaign::Duplicate;
use crate::domain::status::{CampaignStatus, RecipientStatus, Source};
use crate::store;

/// A campaign with the counts computed from its recipients (create, list).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignView {
    /// `smsc_…`
    pub campaign_id: String,
    /// The campaign's name.
    pub name: String,
    /// draft, scheduled, running, done, failed or cancelled.
    pub status: CampaignStatus,
    /// All recipients.
    pub total_count: u64,
    /// Recipients with status delivered.
    pub delivered_count: u64,
    /// Recipients with status failed, undelivered or sent.
    pub failed_count: u64,
    /// Recipients with status pending or queued.
    pub pending_count: u64,
    /// Recipients not sent because the campaign was cancelled.
    pub cancelled_count: u64,
    /// "api" or "dashboard".
    pub source: Source,
    /// The template as given.
    pub message_template: String,
    /// The sending number (the first of the pool).
    pub from_number: Option<String>,
    /// Every sending number.
    pub from_numbers: Vec<String>,
    /// The agent that answers replies.
    pub agent_id: Option<String>,
    /// When it starts, for scheduled campaigns.
    #[serde(with = "time::serde::rfc3339::option")]
    pub scheduled_at: Option<OffsetDateTime>,
    /// Duplicate phones dropped at creation.
    pub duplicates_removed: u64,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When sending started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it finished (done, failed or cancelled).
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<store::Campaign> for CampaignView {
    fn from(c: store::Campaign) -> Self {
        Self {
            campaign_id: c.id.to_string(),
            name: c.name,
            status: c.status,
            total_count: c.counts.total_count,
            delivered_count: c.counts.delivered_count,
            failed_count: c.counts.failed_count,
            pending_count: c.counts.pending_count,
            cancelled_count: c.counts.cancelled_count,
            source: c.source,
            message_template: c.message_template,
            from_number: c.from_numbers.first().cloned(),
            from_numbers: c.from_numbers,
            agent_id: c.agent_id,
            scheduled_at: c.scheduled_at,
            duplicates_removed: c.duplicates_removed,
            created_at: c.created_at,
            started_at: c.started_at,
            finished_at: c.finished_at,
        }
    }
}

/// The answer to a create: the campaign, plus what was dropped as duplicate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedCampaign {
    /// The campaign.
    #[serde(flatten)]
    pub campaign: CampaignView,
    /// The entries dropped because their phone appeared earlier in the request.
    pub duplicates: Vec<Duplicate>,
}

/// One recipient as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecipientView {
    /// E.164.
    pub phone: String,
    /// Template variables as given.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// pending, queued, sent, delivered, undelivered, failed or cancelled.
    pub status: RecipientStatus,
    /// Twilio's message sid once Twilio accepted it.
    pub twilio_sid: Option<String>,
    /// Why it failed: Twilio's error code, or Herald's (`opted_out`).
    pub error_code: Option<String>,
    /// The matching explanation.
    pub error_message: Option<String>,
    /// The number that sends it.
    pub from_number: String,
    /// The exact message rendered for this person.
    pub body: String,
    /// SMS segments the message takes.
    pub segments: u32,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<store::Recipient> for RecipientView {
    fn from(r: store::Recipient) -> Self {
        Self {
            phone: r.phone,
            variables: r.variables,
            status: r.status,
            twilio_sid: r.twilio_sid,
            error_code: r.error_code,
            error_message: r.error_message,
            from_number: r.from_number,
            body: r.body,
            segments: r.segments,
            updated_at: r.updated_at,
        }
    }
}

/// One campaign with a page of its recipients.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignDetail {
    /// The campaign and its counts.
    #[serde(flatten)]
    pub campaign: CampaignView,
    /// A page of recipients, in request order.
    pub recipients: Vec<RecipientView>,
    /// Pass as `recipients_cursor` for the next page; null on the last page.
    pub recipients_next_cursor: Option<String>,
}

/// A page of campaigns, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignList {
    /// The campaigns.
    pub campaigns: Vec<CampaignView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of the campaign list.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Paging and filtering of a campaign's recipients.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecipientParams {
    /// Page size, 1 to 1,000 (default 100).
    pub recipients_limit: Option<u32>,
    /// `recipients_next_cursor` of the previous page.
    pub recipients_cursor: Option<String>,
    /// Only recipients with this status.
    pub recipient_status: Option<String>,
}

/// An API key as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// `key_…`
    pub key_id: String,
    /// Its label.
    pub name: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<store::ApiKey> for ApiKeyView {
    fn from(k: store::ApiKey) -> Self {
        Self {
            key_id: k.id.to_string(),
            name: k.name,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new API key: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `KEY_ID:KEY_SECRET`, for `Authorization: Bearer …`. Shown once.
    pub api_key: String,
}

/// The account's API keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Newest first.
    pub api_keys: Vec<ApiKeyView>,
}

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// A label, e.g. "CRM integration".
    pub name: Option<String>,
}

/// An agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    /// `agent_…`
    pub agent_id: String,
    /// Its name.
    pub name: String,
    /// How it answers replies.
    pub system_prompt: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<store::Agent> for AgentView {
    fn from(a: store::Agent) -> Self {
        Self {
            agent_id: a.id.to_string(),
            name: a.name,
            system_prompt: a.system_prompt,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// The account's agents.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentList {
    /// Oldest first.
    pub agents: Vec<AgentView>,
}

/// Body of `POST /v1/agents` and `PUT /v1/agents/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    /// Its name.
    pub name: Option<String>,
    /// How it answers replies (mention running campaigns here).
    pub system_prompt: Option<String>,
}

/// A sending number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NumberView {
    /// E.164.
    pub phone: String,
    /// Segments per second it may send.
    pub mps: f64,
    /// Default agent for replies.
    pub agent_id: Option<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<store::Number> for NumberView {
    fn from(n: store::Number) -> Self {
        Self {
            phone: n.phone,
            mps: n.mps,
            agent_id: n.agent_id.map(|a| a.to_string()),
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// The account's numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NumberList {
    /// By phone.
    pub numbers: Vec<NumberView>,
}

/// Body of `POST /v1/numbers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberRequest {
    /// E.164 phone of a Twilio number of yours.
    pub phone: Option<String>,
    /// Segments per second (default 1.0).
    pub mps: Option<f64>,
    /// Default agent for replies to this number.
    pub agent_id: Option<String>,
}

/// Body of `PATCH /v1/numbers/{phone}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberUpdate {
    /// Segments per second.
    pub mps: Option<f64>,
    /// Default agent (null to clear).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<Option<String>>,
}

/// Distinguishes an absent field from an explicit null.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}
