//! Persistence of replies and compliance: account settings, conversations and their messages,
//! opt-outs and the append-only consent history.
//!
//! Why a trait of its own: these operations are a capability every backend adds beside the
//! campaign store, so `Store` has `ReplyStore` as a supertrait instead of growing further.
//! Every method that takes an account scopes to it: another account's object is `NotFound`.

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::consent::ConsentStatus;
use crate::domain::ids::{AccountId, AgentId, CampaignId, ConsentId, ConversationId, MessageId};
use crate::domain::keywords::Keyword;
use crate::domain::reply::Direction;
use crate::domain::status::RecipientStatus;

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
}

/// Which account owns a number, and the number's default agent.
#[derive(Debug, Clone)]
pub struct NumberOwner {
    /// The account.
    pub account_id: AccountId,
    /// The agent answering replies when no campaign names one.
    pub agent_id: Option<AgentId>,
}

/// The latest campaign message sent to a person from one number.
#[derive(Debug, Clone)]
pub struct CampaignSent {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its name.
    pub name: String,
    /// Its agent.
    pub agent_id: Option<AgentId>,
    /// When Twilio accepted the message.
    pub sent_at: OffsetDateTime,
    /// The exact body sent.
    pub body: String,
    /// The person's variables.
    pub variables: Map<String, Value>,
}

/// Why an opt-out or opt-in happened, for its consent record.
#[derive(Debug, Clone)]
pub struct ConsentEvent {
    /// Who (E.164).
    pub phone: String,
    /// `keyword`, `api`, `twilio_21610`, …
    pub source: String,
    /// What proves it (the message and its sid, the reason given, …).
    pub evidence: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// An inbound SMS to store, with what it does.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// The account owning `our_number`.
    pub account_id: AccountId,
    /// The account's number it was sent to.
    pub our_number: String,
    /// The sender.
    pub their_number: String,
    /// The text.
    pub body: String,
    /// Twilio's MessageSid (a repeated one is ignored).
    pub twilio_sid: Option<String>,
    /// When it arrived.
    pub received_at: OffsetDateTime,
    /// The keyword it is, if any.
    pub keyword: Option<Keyword>,
    /// The consent change a keyword makes: the source and evidence of the record.
    pub consent: Option<ConsentEvent>,
    /// For ordinary messages: what happens next (`pending` when the agent will answer).
    pub reply_status: Option<ReplyStatus>,
    /// The agent that owns the conversation now.
    pub agent_id: Option<AgentId>,
    /// The campaign the person answers, if any.
    pub campaign_id: Option<CampaignId>,
    /// A confirmation to record as sent in the webhook's TwiML answer. For an opt-out it is
    /// recorded (and must be sent) only if the number was not opted out already.
    pub confirmation: Option<String>,
}

/// What storing an inbound message did.
#[derive(Debug, Clone)]
pub struct ReceivedInbound {
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// The stored message.
    pub message_id: MessageId,
    /// The opt-out state changed (the number opted out, or back in).
    pub opt_out_changed: bool,
    /// The confirmation to answer with (recorded as sent), if any.
    pub confirmation: Option<String>,
}

/// What became of an inbound message meant for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    /// The agent is working on it.
    Pending,
    /// The agent's answer was queued for sending (see the outbound message).
    Answered,
    /// The model failed or timed out (see `reply_error`); nothing was sent.
    Failed,
    /// No model is configured: stored, not answered.
    NoModel,
    /// Neither the campaign nor the number names an agent.
    NoAgent,
    /// The sender opted out: never answered.
    OptedOut,
    /// A newer message in the conversation was answered instead (with this one in its history).
    Superseded,
    /// No text to answer (e.g. a picture alone).
    Empty,
}

impl ReplyStatus {
    /// Every status.
    pub const ALL: [ReplyStatus; 8] = [
        Self::Pending,
        Self::Answered,
        Self::Failed,
        Self::NoModel,
        Self::NoAgent,
        Self::OptedOut,
        Self::Superseded,
        Self::Empty,
    ];

    /// The storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Answered => "answered",
            Self::Failed => "failed",
            Self::NoModel => "no_model",
            Self::NoAgent => "no_agent",
            Self::OptedOut => "opted_out",
            Self::Superseded => "superseded",
            Self::Empty => "empty",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Everything the agent needs to answer one inbound message.
#[derive(Debug, Clone)]
pub struct AgentWork {
    /// The account.
    pub account_id: AccountId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The account's number.
    pub our_number: String,
    /// The person.
    pub their_number: String,
    /// The message's current reply status (only `pending` is worked on).
    pub reply_status: Option<ReplyStatus>,
    /// A newer inbound message of the conversation also waits for the agent.
    pub superseded: bool,
    /// The sender is opted out now.
    pub opted_out: bool,
    /// The owning agent's id and prompt, if it still exists.
    pub agent: Option<(AgentId, String)>,
    /// The campaign the person answers.
    pub campaign: Option<CampaignSent>,
    /// The conversation up to and including the message, oldest first, newest `limit` only;
    /// each agent answer comes right after the message it answered (even if more arrived while
    /// the model was thinking), and messages that never left are left out.
    pub history: Vec<(Direction, String)>,
}

/// An agent's answer to send through the engine as a one-recipient `reply` campaign.
#[derive(Debug, Clone)]
pub struct NewReply {
    /// The account.
    pub account_id: AccountId,
    /// The inbound message answered.
    pub inbound_id: MessageId,
    /// The reply campaign's id (never shown by the campaign API).
    pub campaign_id: CampaignId,
    /// The outbound message's id.
    pub message_id: MessageId,
    /// The text.
    pub body: String,
    /// Its segments (pacing counts them).
    pub segments: u32,
    /// When.
    pub now: OffsetDateTime,
}

/// A conversation with its latest message.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Paging key (with `last_message_at`).
    pub seq: i64,
    /// Its id.
    pub id: ConversationId,
    /// The account's number.
    pub our_number: String,
    /// The person's number.
    pub their_number: String,
    /// The agent that owns it.
    pub agent_id: Option<String>,
    /// The campaign it answers.
    pub campaign_id: Option<String>,
    /// Whether the person is opted out now.
    pub opted_out: bool,
    /// First message.
    pub created_at: OffsetDateTime,
    /// Latest activity.
    pub last_message_at: OffsetDateTime,
    /// The latest message.
    pub last_message: Option<Message>,
}

/// One message of a conversation.
#[derive(Debug, Clone)]
pub struct Message {
    /// Paging key.
    pub seq: i64,
    /// Its id.
    pub id: MessageId,
    /// Which way.
    pub direction: Direction,
    /// `message`, `opt_out`, `opt_in`, `help` (inbound); `agent`, `confirmation` (outbound).
    pub kind: String,
    /// The text.
    pub body: String,
    /// Inbound: Twilio's MessageSid; outbound through the engine: the sid Twilio gave it.
    pub twilio_sid: Option<String>,
    /// Outbound through the engine: the recipient status (delivery); `None` otherwise.
    pub status: Option<RecipientStatus>,
    /// Outbound: the error code of a failed send.
    pub error_code: Option<String>,
    /// Outbound: its explanation.
    pub error_message: Option<String>,
    /// Inbound messages for the agent: what became of them.
    pub reply_status: Option<ReplyStatus>,
    /// Why the agent did not answer.
    pub reply_error: Option<String>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A number on the account's opt-out list.
#[derive(Debug, Clone)]
pub struct OptOut {
    /// E.164.
    pub phone: String,
    /// How it got there (`keyword`, `api`, `twilio_21610`, …).
    pub source: String,
    /// The reason recorded.
    pub reason: Option<String>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A consent record to store.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// Its id.
    pub id: ConsentId,
    /// The person.
    pub phone: String,
    /// Granted or revoked.
    pub status: ConsentStatus,
    /// How it was obtained.
    pub source: String,
    /// What proves it.
    pub evidence: Option<String>,
    /// When it was given or withdrawn.
    pub occurred_at: OffsetDateTime,
}

/// A stored consent record.
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    /// Paging key.
    pub seq: i64,
    /// Its id.
    pub id: ConsentId,
    /// The person.
    pub phone: String,
    /// Granted or revoked.
    pub status: ConsentStatus,
    /// How it was obtained.
    pub source: String,
    /// What proves it.
    pub evidence: Option<String>,
    /// When it was given or withdrawn.
    pub occurred_at: OffsetDateTime,
    /// When Herald stored it.
    pub recorded_at: OffsetDateTime,
}

/// The persistence operations of replies and compliance.
#[async_trait]
pub trait ReplyStore: Send + Sync {
    /// The account's reply settings.
    async fn account_settings(&self, account: &AccountId) -> StoreResult<AccountSettings>;
    /// Changes the account's reply settings; returns them as stored.
    async fn update_account_settings(
        &self,
        account: &AccountId,
        update: &AccountSettingsUpdate,
    ) -> StoreResult<AccountSettings>;

    /// The account owning a sending number (Twilio routes inbound SMS by number).
    async fn number_owner(&self, phone: &str) -> StoreResult<Option<NumberOwner>>;
    /// Whether `phone` is opted out of the account.
    async fn is_opted_out(&self, account: &AccountId, phone: &str) -> StoreResult<bool>;
    /// The latest user campaign message Twilio accepted for `their_number` from `our_number`.
    async fn latest_campaign_sent(
        &self,
        account: &AccountId,
        our_number: &str,
        their_number: &str,
    ) -> StoreResult<Option<CampaignSent>>;
    /// Stores an inbound message in its conversation (created if new) and applies its
    /// keyword's opt-out or opt-in with a consent record, in one transaction.
    /// `None` when a message with the same Twilio sid was stored before (nothing changes).
    async fn receive_inbound(&self, new: &NewInbound) -> StoreResult<Option<ReceivedInbound>>;

    /// What the agent needs to answer an inbound message (`history_limit` newest messages).
    async fn agent_work(
        &self,
        account: &AccountId,
        message: &MessageId,
        history_limit: u32,
    ) -> StoreResult<AgentWork>;
    /// Records what became of an inbound message meant for the agent.
    async fn set_reply_status(
        &self,
        message: &MessageId,
        status: ReplyStatus,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Stores the agent's answer as a running one-recipient `reply` campaign, its outbound
    /// message, and marks the inbound `answered`, in one transaction. When the person opted out
    /// meanwhile nothing is queued, the inbound becomes `opted_out`, and this returns false.
    async fn create_reply(&self, reply: &NewReply) -> StoreResult<bool>;

    /// The account's conversations, latest activity first; `before` is a
    /// `(last_message_at, seq)` cursor.
    async fn list_conversations(
        &self,
        account: &AccountId,
        before: Option<(OffsetDateTime, i64)>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// One conversation.
    async fn get_conversation(
        &self,
        account: &AccountId,
        id: &ConversationId,
    ) -> StoreResult<Conversation>;
    /// A page of a conversation's messages, oldest first, after the `after` seq.
    async fn list_messages(
        &self,
        account: &AccountId,
        id: &ConversationId,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// The account's opt-outs, newest first; `before` is a `(created_at, phone)` cursor.
    async fn list_opt_outs(
        &self,
        account: &AccountId,
        before: Option<(OffsetDateTime, String)>,
        limit: u32,
    ) -> StoreResult<Vec<OptOut>>;
    /// One number's entry on the opt-out list.
    async fn get_opt_out(&self, account: &AccountId, phone: &str) -> StoreResult<Option<OptOut>>;
    /// Opts a number out of the account, with a `revoked` consent record when that changes
    /// anything; true when the number was not opted out before.
    async fn opt_out(
        &self,
        account: &AccountId,
        event: &ConsentEvent,
        reason: Option<&str>,
    ) -> StoreResult<bool>;
    /// Takes a number off the opt-out list with a `granted` consent record (the reason is its
    /// evidence); `NotFound` when it is not opted out.
    async fn remove_opt_out(
        &self,
        account: &AccountId,
        event: &ConsentEvent,
    ) -> StoreResult<ConsentRecord>;

    /// Appends consent records (all or none). They change each number's current consent when
    /// they are its latest; they never change the opt-out list.
    async fn add_consents(
        &self,
        account: &AccountId,
        records: &[NewConsent],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ConsentRecord>>;
    /// The account's consent records, newest first (of one phone, if given); `before` is a seq.
    async fn list_consents(
        &self,
        account: &AccountId,
        phone: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ConsentRecord>>;
    /// A number's current consent (its latest record's status), if it has any record.
    async fn consent_status(
        &self,
        account: &AccountId,
        phone: &str,
    ) -> StoreResult<Option<ConsentStatus>>;
    /// Numbers whose current consent is `granted` (what `require_consent` sends to).
    async fn consented_phones(
        &self,
        account: &AccountId,
    ) -> StoreResult<std::collections::HashSet<String>>;
}
