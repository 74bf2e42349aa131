//! The views the use cases return: the JSON shapes of Herald's API answers, which the dashboard
//! renders too (requests live beside their validation in `domain`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::campaign::Duplicate;
use crate::domain::segments::Encoding;
use crate::domain::send_window::zones_for;
use crate::domain::status::{CampaignStatus, RecipientStatus, Source};
use crate::store;

pub mod replies;
pub mod timestamp;
pub mod webhooks;

/// A campaign with the counts computed from its recipients (create, list).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignView {
    /// `smsc_…`
    pub campaign_id: String,
    /// The campaign's name.
    pub name: String,
    /// draft, scheduled, running, paused, done, failed or cancelled.
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
    #[serde(with = "crate::service::views::timestamp::option")]
    pub scheduled_at: Option<OffsetDateTime>,
    /// Duplicate phones dropped at creation.
    pub duplicates_removed: u64,
    /// Sends only to numbers with granted consent (others fail with `no_consent`).
    pub require_consent: bool,
    /// Whether the account's `send_window` holds recipients (false: sent at any hour).
    pub respect_send_window: bool,
    /// Why the send window is ignored, as given at create.
    pub send_window_reason: Option<String>,
    /// Creation time.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// When sending started.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it finished (done, failed or cancelled).
    #[serde(with = "crate::service::views::timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The campaign this one resends to (made by `POST /v1/sms/campaigns/{id}/resend`);
    /// null otherwise.
    pub resend_of: Option<String>,
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
            require_consent: c.require_consent,
            respect_send_window: c.respect_send_window,
            send_window_reason: c.send_window_reason,
            created_at: c.created_at,
            started_at: c.started_at,
            finished_at: c.finished_at,
            resend_of: c.resend_of.map(|id| id.to_string()),
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
    /// Its estimated finish and send rate.
    #[serde(flatten)]
    pub progress: crate::service::eta::Progress,
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
    /// Why it failed: Twilio's error code, or Herald's (`opted_out`, `no_consent`).
    pub error_code: Option<String>,
    /// The matching explanation: Twilio's own text when it sent one, else Herald's words for
    /// the code (what happened and what to do), null for a code Herald has no words for.
    pub error_message: Option<String>,
    /// The number that sends it.
    pub from_number: String,
    /// The exact message rendered for this person.
    pub body: String,
    /// SMS segments the message takes.
    pub segments: u32,
    /// When Twilio accepted it; null before.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub sent_at: Option<OffsetDateTime>,
    /// When the carrier confirmed delivery; null unless delivered.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Last change.
    #[serde(with = "crate::service::views::timestamp")]
    pub updated_at: OffsetDateTime,
    /// The recipient's IANA time zones, from the number (libphonenumber's map); empty when
    /// the number's zone is unknown (the account's `time_zone` counts then).
    pub time_zones: Vec<String>,
    /// A `pending` recipient outside its send window: when the window opens for them (RFC
    /// 3339); it is sent then. Null otherwise.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub held_until: Option<OffsetDateTime>,
}

impl From<store::Recipient> for RecipientView {
    fn from(r: store::Recipient) -> Self {
        Self {
            time_zones: zones_for(&r.phone)
                .iter()
                .map(|z| (*z).to_owned())
                .collect(),
            phone: r.phone,
            variables: r.variables,
            status: r.status,
            twilio_sid: r.twilio_sid,
            error_message: crate::domain::error_codes::message_for(
                r.error_code.as_deref(),
                r.error_message,
            ),
            error_code: r.error_code,
            from_number: r.from_number,
            body: r.body,
            segments: r.segments,
            sent_at: r.sent_at,
            delivered_at: r.delivered_at,
            updated_at: r.updated_at,
            held_until: r
                .held_until
                .filter(|_| r.status == RecipientStatus::Pending),
        }
    }
}

/// One campaign with a page of its recipients.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignDetail {
    /// The campaign and its counts.
    #[serde(flatten)]
    pub campaign: CampaignView,
    /// Pending recipients held until their send window opens (each has `held_until`).
    pub held_count: u64,
    /// Its estimated finish and send rate.
    #[serde(flatten)]
    pub progress: crate::service::eta::Progress,
    /// A page of recipients, in request order.
    pub recipients: Vec<RecipientView>,
    /// Pass as `recipients_cursor` for the next page; null on the last page.
    pub recipients_next_cursor: Option<String>,
    /// Failed and undelivered recipients by error code, most frequent first (all of the
    /// campaign's recipients, not just this page).
    pub errors: Vec<ErrorCount>,
}

/// How many of a campaign's recipients failed with one error code.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorCount {
    /// Twilio's code, or Herald's (`opted_out`, `no_consent`, `frequency_capped`).
    pub error_code: String,
    /// What it means and what to do (Twilio's own text when the table has no words for it;
    /// null when neither has any).
    pub error_message: Option<String>,
    /// Recipients with this code.
    pub count: u64,
}

impl From<store::ErrorTally> for ErrorCount {
    fn from(t: store::ErrorTally) -> Self {
        let table = crate::domain::error_codes::explain(&t.error_code).map(|e| e.sentence());
        Self {
            error_message: table.or(t.error_message.filter(|m| !m.trim().is_empty())),
            error_code: t.error_code,
            count: t.count,
        }
    }
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
    #[param(minimum = 1, maximum = 500)]
    #[schema(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Paging and filtering of a campaign's recipients.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecipientParams {
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[schema(minimum = 1, maximum = 1000)]
    pub recipients_limit: Option<u32>,
    /// `recipients_next_cursor` of the previous page.
    pub recipients_cursor: Option<String>,
    /// Only recipients with this status.
    #[param(value_type = Option<RecipientStatus>)]
    #[schema(value_type = Option<RecipientStatus>)]
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
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// When it was revoked.
    #[serde(with = "crate::service::views::timestamp::option")]
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
    /// A label, e.g. "CRM integration" (at most 200 characters).
    #[schema(max_length = 200)]
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
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "crate::service::views::timestamp")]
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
    /// Its name (at most 200 characters).
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Option<String>,
    /// How it answers replies (mention running campaigns here); at most 100,000 characters.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 100_000,
        pattern = r"\S"
    )]
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
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "crate::service::views::timestamp")]
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
    #[schema(required = true, nullable = false, min_length = 1, pattern = r"\S")]
    pub phone: Option<String>,
    /// Segments per second, more than 0 and at most 100,000 (default 1.0).
    #[schema(exclusive_minimum = 0.0, maximum = 100000.0)]
    pub mps: Option<f64>,
    /// Default agent for replies to this number.
    pub agent_id: Option<String>,
}

/// One of the account's Twilio numbers, and where Twilio sends its incoming SMS.
#[derive(Debug, Clone, Serialize)]
pub struct TwilioNumberView {
    /// E.164.
    pub phone: String,
    /// The name given in Twilio's console.
    pub friendly_name: String,
    /// Where Twilio posts its incoming SMS (`None`: nowhere).
    pub sms_url: Option<String>,
    /// True when that is Herald's inbound webhook.
    pub points_here: bool,
}

impl TwilioNumberView {
    /// The view of `n`, given Herald's inbound webhook URL.
    pub fn new(n: crate::provider::twilio::IncomingNumber, here: &str) -> Self {
        let sms_url = n.sms_url.filter(|u| !u.trim().is_empty());
        Self {
            points_here: sms_url.as_deref() == Some(here),
            friendly_name: n.friendly_name.unwrap_or_else(|| n.phone_number.clone()),
            phone: n.phone_number,
            sms_url,
        }
    }

    /// True when Twilio sends its incoming SMS somewhere other than Herald.
    pub fn points_elsewhere(&self) -> bool {
        self.sms_url.is_some() && !self.points_here
    }
}

/// Body of `PATCH /v1/numbers/{phone}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberUpdate {
    /// Segments per second, more than 0 and at most 100,000.
    #[schema(exclusive_minimum = 0.0, maximum = 100000.0)]
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

/// Paging of a preview's recipients (like a campaign's).
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[schema(minimum = 1, maximum = 1000)]
    pub recipients_limit: Option<u32>,
    /// `recipients_next_cursor` of the previous page.
    pub recipients_cursor: Option<String>,
}

/// The answer to `POST /v1/sms/campaigns/preview`: what create would do with the same body,
/// with nothing created. Bad recipients are listed, not refused.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignPreview {
    /// True when create would accept this body as it is (`errors` and `invalid` are empty).
    pub valid: bool,
    /// Problems with the campaign as a whole (name, from_number, agent_id, scheduled_at,
    /// the recipients list itself), exactly as create's 422 would list them.
    pub errors: Vec<crate::domain::FieldError>,
    /// A page of the recipients the campaign would get (after de-duplication, opted-out ones
    /// included), in request order.
    pub recipients: Vec<PreviewRecipient>,
    /// Pass as `recipients_cursor` for the next page; null on the last page.
    pub recipients_next_cursor: Option<String>,
    /// Counts, segments and cost over all recipients (not just this page).
    pub totals: PreviewTotals,
    /// Every problem of every refused recipient (one entry per problem).
    pub invalid: Vec<InvalidRecipient>,
    /// Entries that repeat an earlier phone; the first is kept.
    pub duplicates: Vec<Duplicate>,
    /// Recipients who opted out: kept, never sent.
    pub opted_out: Vec<OptedOutRecipient>,
    /// With `require_consent`: recipients without granted consent (kept, never sent).
    pub no_consent: Vec<OptedOutRecipient>,
    /// Recipients who already got the account's `max_messages_per_recipient_per_day` campaign
    /// messages in the last 24 hours (as of now): kept, and failed `frequency_capped` instead
    /// of sent while they stay at the cap.
    pub frequency_capped: Vec<OptedOutRecipient>,
    /// Things to know before sending, in words: e.g. that US carriers block messages from
    /// numbers not registered for A2P 10DLC or toll-free verification.
    pub notices: Vec<String>,
}

/// One recipient as a preview shows it: the exact message, its encoding and segments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewRecipient {
    /// Position in the request's `recipients`.
    pub index: usize,
    /// E.164, normalised.
    pub phone: String,
    /// Template variables as given.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// The message rendered for this person ("" when the request has no usable template).
    pub body: String,
    /// `GSM-7` or `UCS-2`: a single character outside GSM-7 (an emoji) makes it UCS-2.
    #[schema(schema_with = encoding_schema)]
    pub encoding: Encoding,
    /// SMS segments the message takes (Twilio bills and paces per segment; 0 without a body).
    pub segments: u32,
    /// The number that would send it (null while no valid sender is given).
    pub from_number: Option<String>,
    /// Opted out of the account: kept, never sent, not counted in the cost.
    pub opted_out: bool,
    /// The body requires consent and this number has none granted: kept, never sent, not
    /// counted in the cost.
    pub no_consent: bool,
    /// At the account's daily cap now (it already got `max_messages_per_recipient_per_day`
    /// campaign messages in the last 24 hours): not counted as sent nor in the cost; the
    /// engine fails it `frequency_capped` if it is still at the cap when its turn comes.
    pub frequency_capped: bool,
    /// Template placeholders this recipient has no value for (they render as empty text).
    pub missing_variables: Vec<String>,
    /// The recipient's IANA time zones, from the number (empty when unknown: the account's
    /// `time_zone` counts).
    pub time_zones: Vec<String>,
    /// Outside the account's send window when the campaign would start (now, or
    /// `scheduled_at`): when the window opens for them. Null when it is open, there is no
    /// window, or `respect_send_window` is false.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub held_until: Option<OffsetDateTime>,
}

pub(crate) fn encoding_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["GSM-7", "UCS-2"]))
        .build()
}

/// Totals of a preview, over every recipient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewTotals {
    /// Recipients the campaign would get (its `total_count`): unique, valid, opted-out included.
    pub recipients: u64,
    /// Of those, the ones that would actually be sent (not opted out, without consent where
    /// it is required, nor at the daily cap).
    pub sendable: u64,
    /// Segments that would be sent (opted-out recipients excluded).
    pub segments: u64,
    /// The sum of `by_country`'s costs (each destination's segments × its price), rounded to
    /// 6 decimals.
    pub estimated_cost: f64,
    /// Currency of the cost (ISO 4217).
    pub currency: String,
    /// The configured price of one segment (`--price-per-segment`): what a destination not
    /// in the price table costs.
    pub price_per_segment: f64,
    /// The cost per destination country of the recipients that would be sent, in country
    /// code order (unknown countries last).
    pub by_country: Vec<CountryCost>,
    /// Of the `sendable`, those outside their send window when the campaign would start:
    /// held until it opens for them.
    pub held: u64,
    /// Entries refused (each may have several problems in `invalid`).
    pub invalid: u64,
    /// Entries dropped as repeats.
    pub duplicates: u64,
    /// Recipients kept but not sent because they opted out.
    pub opted_out: u64,
    /// Recipients kept but not sent because the body requires consent and they have none.
    pub no_consent: u64,
    /// Recipients kept but not sent because they are at the account's daily cap
    /// (`frequency_capped`).
    pub frequency_capped: u64,
}

/// What the recipients of one destination country would cost.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CountryCost {
    /// ISO 3166-1 alpha-2 code of the recipients' country; null when the number's country is
    /// unknown (international services).
    pub country: Option<String>,
    /// Recipients that would be sent there.
    pub recipients: u64,
    /// Their segments.
    pub segments: u64,
    /// The price of one segment there: the price table's (Twilio's published price, or the
    /// price file's), else `--price-per-segment`.
    pub price_per_segment: f64,
    /// `segments` × `price_per_segment`, rounded to 6 decimals.
    pub estimated_cost: f64,
}

/// One problem of one refused recipient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvalidRecipient {
    /// Position in the request's `recipients`.
    pub index: usize,
    /// The phone exactly as given (null when missing).
    pub phone: Option<String>,
    /// JSON path of the problem, e.g. `recipients[3].phone`.
    pub field: String,
    /// What is wrong, for a person to read.
    pub reason: String,
}

/// A recipient kept but never sent because the number opted out (or, in `no_consent`, has no
/// granted consent).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OptedOutRecipient {
    /// Position in the request's `recipients`.
    pub index: usize,
    /// E.164, normalised.
    pub phone: String,
}

/// Query of `POST /v1/sms/recipients/parse`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ParseParams {
    /// ISO 3166 country (e.g. `GB`) for numbers written without a country code.
    #[param(pattern = r"^\s*(?:[A-Za-z]{2}\s*)?$")]
    #[schema(pattern = r"^\s*(?:[A-Za-z]{2}\s*)?$")]
    pub default_country: Option<String>,
}

/// The answer to `POST /v1/sms/recipients/parse`: recipients ready for a create body, and the
/// rows that could not be read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParsedRecipients {
    /// One per unique phone, in input order (a repeated phone keeps its first row).
    pub recipients: Vec<ParsedRecipient>,
    /// Rows whose phone could not be read.
    pub errors: Vec<ParseRowError>,
    /// The phone column's header (or `colN` without a header); null when none was found.
    pub phone_column: Option<String>,
    /// Variable names (the other columns), in column order, for `{{name}}` placeholders.
    pub variables: Vec<String>,
    /// Lines whose phone repeats an earlier row's (dropped; the first is kept).
    pub duplicates: Vec<usize>,
    /// Number of `recipients`.
    pub count: usize,
    /// The character encoding the upload was read in: `UTF-8` (with or without BOM),
    /// `UTF-16LE` / `UTF-16BE` (with a BOM, Excel's "Unicode Text"), or `windows-1252` (text
    /// that is not UTF-8, such as Excel's default "CSV (Comma delimited)").
    #[schema(example = "UTF-8")]
    pub encoding: String,
}

/// One recipient read from the upload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParsedRecipient {
    /// E.164, normalised.
    pub phone: String,
    /// The row's other columns, by variable name.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// 1-based line where the row starts.
    pub line: usize,
    /// The number as written, present only when it had no country code (no `+` nor `00`) and
    /// was read in `default_country`: a converted number staff may want to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub converted_from: Option<String>,
}

/// A row that could not become a recipient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParseRowError {
    /// 1-based line where the row starts.
    pub line: usize,
    /// The phone cell as written.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}
