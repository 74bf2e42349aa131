//! Conversations: inbound messages, the agent's work and answers. The records and the
//! [`ConversationStore`] trait.

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::ids::{AccountId, AgentId, CampaignId, ConversationId, MessageId};
use crate::domain::keywords::Keyword;
use crate::domain::reply::Direction;
use crate::domain::status::RecipientStatus;

pub use crate::domain::reply::ReplyStatus;

use super::ConsentEvent;

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

/// Conversations with the people campaigns reach. Every method that takes an account scopes
/// to it: another account's conversation is `NotFound`.
#[async_trait]
pub trait ConversationStore: Send + Sync {
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
}
