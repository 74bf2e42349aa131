//! The JSON shapes of replies and compliance: conversations and their messages, opt-outs,
//! consent records and the account's reply settings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::consent::ConsentStatus;
use crate::domain::keywords::default_help_text;
use crate::domain::reply::Direction;
use crate::domain::send_window::SendWindow;
use crate::domain::status::RecipientStatus;
use crate::store;
/// What became of an inbound message's answer (its view carries it as is).
pub use crate::store::ReplyStatus;

/// The account's reply and compliance settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    /// `acct_…`
    pub account_id: String,
    /// The account's name; keyword confirmations start with it.
    pub name: String,
    /// The answer to HELP and INFO (the default text while none is set).
    pub help_text: String,
    /// True while `help_text` is Herald's default.
    pub help_text_is_default: bool,
    /// Whether Herald answers STOP, START and HELP with its own confirmation SMS. Turn it off
    /// when Twilio's default opt-out handling (long codes, toll-free) already answers them.
    pub keyword_replies: bool,
    /// The hours of the day, in each recipient's local time, when campaigns may reach them
    /// (null: any time). A recipient outside it stays `pending` with `held_until`.
    pub send_window: Option<SendWindowBody>,
    /// The IANA zone of numbers whose own zone is unknown (default `UTC`).
    pub time_zone: String,
    /// The most campaign messages one number may get from the account in any 24 hours
    /// (null: no cap). A recipient already at it is not sent: `failed` with `error_code`
    /// `frequency_capped`. Test sends and agent replies neither count nor are capped.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_messages_per_recipient_per_day: Option<u32>,
    /// Creation time.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
}

/// A send window: local times `HH:MM` (24-hour); an `end` before `start` wraps midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendWindowBody {
    /// Opens (included), e.g. `08:00`.
    #[schema(example = "08:00")]
    pub start: String,
    /// Closes (excluded), e.g. `21:00`.
    #[schema(example = "21:00")]
    pub end: String,
}

impl From<SendWindow> for SendWindowBody {
    fn from(w: SendWindow) -> Self {
        Self {
            start: w.start.to_string(),
            end: w.end.to_string(),
        }
    }
}

impl From<store::AccountSettings> for AccountView {
    fn from(a: store::AccountSettings) -> Self {
        Self {
            account_id: a.id.to_string(),
            help_text_is_default: a.help_text.is_none(),
            help_text: a.help_text.unwrap_or_else(|| default_help_text(&a.name)),
            name: a.name,
            keyword_replies: a.keyword_replies,
            send_window: a.send_window.map(SendWindowBody::from),
            time_zone: a.time_zone,
            max_messages_per_recipient_per_day: a
                .max_messages_per_recipient_per_day
                .map(|cap| cap.get()),
            created_at: a.created_at,
        }
    }
}

/// Body of `PATCH /v1/account`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    /// A new name (at most 200 characters, not blank).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// A new help text (at most 1,600 characters); null goes back to the default.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1600, pattern = r"\S")]
    pub help_text: Option<Option<String>>,
    /// Keyword confirmations on or off.
    pub keyword_replies: Option<bool>,
    /// A new send window (`{"start": "08:00", "end": "21:00"}`); null removes it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<SendWindowBody>)]
    pub send_window: Option<Option<SendWindowBody>>,
    /// A new fallback zone (IANA name, e.g. `Europe/London`).
    pub time_zone: Option<String>,
    /// A new daily cap per recipient: a whole number from 1 to 1000 of campaign messages one
    /// number may get in any 24 hours; null removes it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub max_messages_per_recipient_per_day: Option<Option<i64>>,
}

/// Distinguishes an absent field from an explicit null.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    /// `msg_…`
    pub message_id: String,
    /// `inbound` (from the person) or `outbound` (to them).
    pub direction: Direction,
    /// Inbound: `message` (for the agent), `opt_out`, `opt_in` or `help`. Outbound: `agent`
    /// (the agent's answer, sent through the engine) or `confirmation` (a keyword answer, sent
    /// in the webhook's TwiML).
    pub kind: String,
    /// The text.
    pub body: String,
    /// When it was received or queued.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// Inbound: Twilio's MessageSid. Outbound `agent`: the sid of the sent message.
    pub twilio_sid: Option<String>,
    /// Inbound: `received`. Outbound `agent`: the delivery status (pending, queued, sent,
    /// delivered, undelivered, failed). Outbound `confirmation`: null (Twilio sends TwiML
    /// answers without reporting back).
    pub status: Option<String>,
    /// Outbound: why the send failed.
    pub error_code: Option<String>,
    /// Outbound: the matching explanation.
    pub error_message: Option<String>,
    /// Inbound messages for the agent: pending, answered, failed, no_model, no_agent,
    /// opted_out, superseded or empty.
    pub reply_status: Option<ReplyStatus>,
    /// Why the agent did not answer (model errors, timeouts).
    pub reply_error: Option<String>,
}

impl From<store::Message> for MessageView {
    fn from(m: store::Message) -> Self {
        let status = match m.direction {
            Direction::Inbound => Some("received".to_owned()),
            Direction::Outbound => m.status.map(|s: RecipientStatus| s.as_str().to_owned()),
        };
        Self {
            message_id: m.id.to_string(),
            direction: m.direction,
            kind: m.kind,
            body: m.body,
            created_at: m.created_at,
            twilio_sid: m.twilio_sid,
            status,
            error_message: crate::domain::error_codes::message_for(
                m.error_code.as_deref(),
                m.error_message,
            ),
            error_code: m.error_code,
            reply_status: m.reply_status,
            reply_error: m.reply_error,
        }
    }
}

/// A conversation: the messages between one of the account's numbers and one person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationView {
    /// `conv_…`
    pub conversation_id: String,
    /// The account's number (E.164).
    pub number: String,
    /// The person's number (E.164).
    pub phone: String,
    /// The agent that answers: the agent of the latest campaign sent to this person from
    /// this number, else the number's default agent.
    pub agent_id: Option<String>,
    /// The campaign the person is answering (the latest sent to them from this number).
    pub campaign_id: Option<String>,
    /// The person is opted out of the account now.
    pub opted_out: bool,
    /// First message.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// Latest activity.
    #[serde(with = "crate::service::views::timestamp")]
    pub last_message_at: OffsetDateTime,
    /// The latest message.
    pub last_message: Option<MessageView>,
}

impl From<store::Conversation> for ConversationView {
    fn from(c: store::Conversation) -> Self {
        Self {
            conversation_id: c.id.to_string(),
            number: c.our_number,
            phone: c.their_number,
            agent_id: c.agent_id,
            campaign_id: c.campaign_id,
            opted_out: c.opted_out,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_message: c.last_message.map(Into::into),
        }
    }
}

/// A page of conversations, latest activity first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationList {
    /// The conversations.
    pub conversations: Vec<ConversationView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// What the person was sent: the context the agent is given.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignContextView {
    /// `smsc_…`
    pub campaign_id: String,
    /// The campaign's name.
    pub name: String,
    /// When Twilio accepted the message.
    #[serde(with = "crate::service::views::timestamp")]
    pub sent_at: OffsetDateTime,
    /// The exact message the person received.
    pub body: String,
    /// The person's variables.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

impl From<store::CampaignSent> for CampaignContextView {
    fn from(c: store::CampaignSent) -> Self {
        Self {
            campaign_id: c.campaign_id.to_string(),
            name: c.name,
            sent_at: c.sent_at,
            body: c.body,
            variables: c.variables,
        }
    }
}

/// One conversation with its campaign context and a page of messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// The campaign message the person is answering, if any.
    pub context: Option<CampaignContextView>,
    /// Messages, oldest first.
    pub messages: Vec<MessageView>,
    /// Pass as `messages_cursor` for the next page; null on the last page.
    pub messages_next_cursor: Option<String>,
}

/// Paging of the conversation list.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[schema(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Paging of a conversation's messages.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[schema(minimum = 1, maximum = 1000)]
    pub messages_limit: Option<u32>,
    /// `messages_next_cursor` of the previous page.
    pub messages_cursor: Option<String>,
}

/// A number on the opt-out list: never sent a campaign SMS.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OptOutView {
    /// E.164.
    pub phone: String,
    /// How it got there: `keyword` (STOP), `twilio_opt_out`, `twilio_21610`, `api`.
    pub source: String,
    /// The reason given (or the keyword message).
    pub reason: Option<String>,
    /// When.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
}

impl From<store::OptOut> for OptOutView {
    fn from(o: store::OptOut) -> Self {
        Self {
            phone: o.phone,
            source: o.source,
            reason: o.reason,
            created_at: o.created_at,
        }
    }
}

/// A page of opt-outs, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OptOutList {
    /// The opt-outs.
    pub opt_outs: Vec<OptOutView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of the opt-out list.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptOutParams {
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Body of `POST /v1/opt-outs`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutRequest {
    /// The number to stop messaging (E.164).
    #[schema(required = true, nullable = false, min_length = 1, pattern = r"\S")]
    pub phone: Option<String>,
    /// Why (kept with the opt-out and its consent record); at most 2,000 characters.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// Why an opt-out is removed: `DELETE /v1/opt-outs/{phone}` takes it as a JSON body or as
/// the `reason` query parameter.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OptOutRemoval {
    /// Why the number may be messaged again (required; the evidence of the consent record);
    /// at most 2,000 characters.
    #[param(max_length = 2000)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// A consent record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentView {
    /// `cons_…`
    pub consent_id: String,
    /// The person (E.164).
    pub phone: String,
    /// `granted` or `revoked`.
    pub status: ConsentStatus,
    /// How it was obtained: `web_form`, `paper`, `keyword`, `import`, `api`, `twilio_21610`, …
    pub source: String,
    /// What proves it.
    pub evidence: Option<String>,
    /// When it was given or withdrawn.
    #[serde(with = "crate::service::views::timestamp")]
    pub timestamp: OffsetDateTime,
    /// When Herald stored it.
    #[serde(with = "crate::service::views::timestamp")]
    pub recorded_at: OffsetDateTime,
}

impl From<store::ConsentRecord> for ConsentView {
    fn from(c: store::ConsentRecord) -> Self {
        Self {
            consent_id: c.id.to_string(),
            phone: c.phone,
            status: c.status,
            source: c.source,
            evidence: c.evidence,
            timestamp: c.occurred_at,
            recorded_at: c.recorded_at,
        }
    }
}

/// A page of consent records, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentList {
    /// The records.
    pub consents: Vec<ConsentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Filtering and paging of consent records.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentParams {
    /// Only this number's records (E.164).
    pub phone: Option<String>,
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A number's consent now, and its history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhoneConsent {
    /// E.164.
    pub phone: String,
    /// The status of its latest record (by timestamp); null without any record.
    pub status: Option<ConsentStatus>,
    /// Whether `require_consent` campaigns send to it (granted and not opted out).
    pub sendable_with_consent: bool,
    /// On the opt-out list.
    pub opted_out: bool,
    /// Its records, newest first (at most 1,000).
    pub consents: Vec<ConsentView>,
}

/// Query of `POST /v1/consents/import`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentImportParams {
    /// ISO 3166 country (e.g. `GB`) for numbers written without a country code.
    #[param(pattern = r"^\s*(?:[A-Za-z]{2}\s*)?$")]
    #[schema(pattern = r"^\s*(?:[A-Za-z]{2}\s*)?$")]
    pub default_country: Option<String>,
}

/// What an import stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentImport {
    /// Records stored.
    pub imported: usize,
    /// Of which `granted`.
    pub granted: usize,
    /// Of which `revoked`.
    pub revoked: usize,
}
