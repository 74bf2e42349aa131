//! Row records: one `#[derive(sqlx::FromRow)]` struct per table shape, read the same way from
//! SQLite and PostgreSQL (times as [`StoredTime`], JSON as `Json`), and turned into the
//! store's records here, once.

use serde_json::{Map, Value};
use sqlx::types::Json;

use super::{StoredTime, parse_stored};
use crate::domain::consent::ConsentStatus;
use crate::domain::daily_cap::DailyCap;
use crate::domain::ids::{
    AccountId, AgentId, CampaignId, ConsentId, ConversationId, KeyId, MessageId,
};
use crate::domain::reply::{Direction, ReplyStatus};
use crate::domain::status::{CampaignStatus, Counts, RecipientStatus, Source, StatusRow};
use crate::store::{
    Account, AccountSettings, Agent, ApiKey, Campaign, CampaignSent, ConsentRecord, Conversation,
    DashboardUser, DraftRecord, InFlight, KeyCredentials, LeaseRecord, Message, Number,
    NumberOwner, OptOut, Recipient, SessionRecord, StoreError, StoreResult,
};

/// A recipient status column.
pub(in crate::store) fn recipient_status(raw: &str) -> StoreResult<RecipientStatus> {
    parse_stored(raw, RecipientStatus::parse, "recipient status")
}

/// A campaign status column.
pub(in crate::store) fn campaign_status(raw: &str) -> StoreResult<CampaignStatus> {
    parse_stored(raw, CampaignStatus::parse, "campaign status")
}

/// Counts from `(status, n)` rows (a GROUP BY, or the counts cache).
pub(in crate::store) fn counts(rows: Vec<(String, i64)>) -> StoreResult<Counts> {
    let mut counts = Counts::default();
    for (status, n) in rows {
        counts.add(recipient_status(&status)?, n as u64);
    }
    Ok(counts)
}

/// Declares row records: for each, a `#[derive(sqlx::FromRow)]` struct of the columns read
/// (times as [`StoredTime`]) and its conversion into the store's record (`|r| …`, `r` the row).
macro_rules! rows {
    ($(
        $(#[$doc:meta])*
        $row:ident { $($column:ident: $ty:ty),* $(,)? } => |$r:ident| $record:ident $body:tt
    )*) => {$(
        $(#[$doc])*
        #[derive(sqlx::FromRow)]
        pub(in crate::store) struct $row { $($column: $ty),* }

        impl From<$row> for $record {
            fn from($r: $row) -> Self {
                $record $body
            }
        }
    )*};
}

rows! {
    /// `accounts` as an [`Account`].
    AccountRow { id: String, name: String, created_at: StoredTime }
    => |r| Account { id: AccountId::from_trusted(r.id), name: r.name, created_at: r.created_at.get() }

    /// `accounts` as its [`AccountSettings`].
    SettingsRow {
        id: String, name: String, help_text: Option<String>, keyword_replies: bool, created_at: StoredTime,
        send_window_start: Option<i32>, send_window_end: Option<i32>, time_zone: String,
        max_messages_per_recipient_per_day: Option<i32>,
    }
    => |r| AccountSettings {
        id: AccountId::from_trusted(r.id), name: r.name, help_text: r.help_text,
        keyword_replies: r.keyword_replies, created_at: r.created_at.get(),
        send_window: stored_window(r.send_window_start, r.send_window_end), time_zone: r.time_zone,
        max_messages_per_recipient_per_day: DailyCap::from_stored(r.max_messages_per_recipient_per_day.map(i64::from)),
    }

    /// `api_keys` as listed.
    KeyRow { id: String, name: String, created_at: StoredTime, revoked_at: Option<StoredTime> }
    => |r| ApiKey {
        id: KeyId::from_trusted(r.id), name: r.name, created_at: r.created_at.get(),
        revoked_at: r.revoked_at.map(StoredTime::get),
    }

    /// `api_keys` as authentication reads it.
    CredentialsRow { account_id: String, secret_hash: Vec<u8>, revoked: bool }
    => |r| KeyCredentials { account_id: AccountId::from_trusted(r.account_id), secret_hash: r.secret_hash, revoked: r.revoked }

    /// `agents`.
    AgentRow { id: String, name: String, system_prompt: String, created_at: StoredTime, updated_at: StoredTime }
    => |r| Agent {
        id: AgentId::from_trusted(r.id), name: r.name, system_prompt: r.system_prompt,
        created_at: r.created_at.get(), updated_at: r.updated_at.get(),
    }

    /// `numbers`.
    NumberRow { phone: String, mps: f64, agent_id: Option<String>, created_at: StoredTime, updated_at: StoredTime }
    => |r| Number {
        phone: r.phone, mps: r.mps, agent_id: r.agent_id.map(AgentId::from_trusted),
        created_at: r.created_at.get(), updated_at: r.updated_at.get(),
    }

    /// `numbers` as inbound routing reads it.
    OwnerRow { account_id: String, agent_id: Option<String> }
    => |r| NumberOwner { account_id: AccountId::from_trusted(r.account_id), agent_id: r.agent_id.map(AgentId::from_trusted) }

    /// An in-flight recipient to reconcile.
    InFlightRow {
        id: i64, attempt_id: String, phone: String, from_number: String, body: String,
        inflight_since: StoredTime, attempts: i32,
    }
    => |r| InFlight {
        id: r.id, attempt_id: r.attempt_id, phone: r.phone, from_number: r.from_number, body: r.body,
        since: r.inflight_since.get(), attempts: r.attempts as u32,
    }

    /// The latest campaign message sent to a person.
    CampaignSentRow {
        id: String, name: String, agent_id: Option<String>, submitted_at: StoredTime, body: String,
        variables: Json<Map<String, Value>>,
    }
    => |r| CampaignSent {
        campaign_id: CampaignId::from_trusted(r.id), name: r.name, agent_id: r.agent_id.map(AgentId::from_trusted),
        sent_at: r.submitted_at.get(), body: r.body, variables: r.variables.0,
    }

    /// `conversations` as [`CONVERSATION_SELECT`] reads them.
    ConversationRow {
        seq: i64, id: String, our_number: String, their_number: String, agent_id: Option<String>,
        campaign_id: Option<String>, opted_out: bool, created_at: StoredTime, last_message_at: StoredTime,
    }
    => |r| Conversation {
        seq: r.seq, id: ConversationId::from_trusted(r.id), our_number: r.our_number, their_number: r.their_number,
        agent_id: r.agent_id, campaign_id: r.campaign_id, opted_out: r.opted_out, created_at: r.created_at.get(),
        last_message_at: r.last_message_at.get(), last_message: None,
    }

    /// `opt_outs`.
    OptOutRow { phone: String, source: String, reason: Option<String>, created_at: StoredTime }
    => |r| OptOut { phone: r.phone, source: r.source, reason: r.reason, created_at: r.created_at.get() }

    /// `users` (its id as `user_id`).
    UserRow { user_id: i64, account_id: String, username: String, password_hash: String }
    => |r| DashboardUser {
        id: r.user_id, account_id: AccountId::from_trusted(r.account_id), username: r.username,
        password_hash: r.password_hash,
    }

    /// `dashboard_drafts`.
    DraftRow {
        id: String, account_id: String, user_id: i64, data: String, upload: Option<Vec<u8>>,
        campaign_id: Option<String>, created_at: StoredTime,
    }
    => |r| DraftRecord {
        id: r.id, account_id: AccountId::from_trusted(r.account_id), user_id: r.user_id, data: r.data,
        upload: r.upload, campaign_id: r.campaign_id, created_at: r.created_at.get(),
    }

    /// `number_leases`.
    LeaseRow { phone: String, node_id: String, expires_at: StoredTime }
    => |r| LeaseRecord { phone: r.phone, node_id: r.node_id, expires_at: r.expires_at.get() }
}

/// `dashboard_sessions` with its user.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    csrf_token: String,
    created_at: StoredTime,
    last_seen_at: StoredTime,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            user: r.user.into(),
            csrf_token: r.csrf_token,
            created_at: r.created_at.get(),
            last_seen_at: r.last_seen_at.get(),
        }
    }
}

/// A send window as stored (minutes after local midnight); a pair that does not make one is none.
pub(in crate::store) fn stored_window(
    start: Option<i32>,
    end: Option<i32>,
) -> Option<crate::domain::send_window::SendWindow> {
    use crate::domain::send_window::{LocalMinute, SendWindow};
    let minute = |m: Option<i32>| m.and_then(|m| LocalMinute::from_minutes(i64::from(m)));
    SendWindow::new(minute(start)?, minute(end)?).ok()
}

/// Columns of `accounts` read into a [`SettingsRow`].
pub(in crate::store) const SETTINGS_COLUMNS: &str = "id, name, help_text, keyword_replies, created_at, send_window_start, send_window_end, time_zone, \
     max_messages_per_recipient_per_day";

/// Columns of `campaigns` read into a [`CampaignRow`].
pub(in crate::store) const CAMPAIGN_COLUMNS: &str = "seq, id, name, message_template, agent_id, \
     from_numbers, status, source, scheduled_at, duplicates_removed, created_at, started_at, \
     finished_at, require_consent, respect_send_window, send_window_reason, resend_of";

/// Columns of `recipients` read into a [`RecipientRow`].
pub(in crate::store) const RECIPIENT_COLUMNS: &str = "position, phone, variables, body, segments, \
     from_number, status, twilio_sid, error_code, error_message, submitted_at, delivered_at, \
     updated_at, held_until";

/// A claimed recipient, as a claim's `RETURNING` gives it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ClaimedRow {
    pub id: i64,
    pub position: i64,
    pub phone: String,
    pub from_number: String,
    pub body: String,
    pub segments: i32,
    pub attempts: i32,
    pub attempt_id: String,
}

/// A message with its delivery status (from the reply's recipient row, for outbound ones).
pub(in crate::store) const MESSAGE_SELECT: &str = "SELECT m.seq, m.id, m.conversation_seq, \
     m.direction, m.kind, m.body, m.reply_status, m.reply_error, m.created_at, \
     COALESCE(m.twilio_sid, r.twilio_sid) AS sid, r.status AS delivery, r.error_code, \
     r.error_message \
     FROM messages m LEFT JOIN recipients r ON r.id = m.recipient_id";

/// A conversation with whether its person is opted out now.
pub(in crate::store) const CONVERSATION_SELECT: &str = "SELECT c.seq, c.id, c.our_number, \
     c.their_number, c.agent_id, c.campaign_id, c.created_at, c.last_message_at, \
     EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = c.account_id \
             AND o.phone = c.their_number) AS opted_out \
     FROM conversations c";

/// Like [`rows!`], for rows with columns that must parse: the conversion is a `TryFrom`
/// (`?` inside it returns the error).
macro_rules! try_rows {
    ($(
        $(#[$doc:meta])*
        $row:ident { $($column:ident: $ty:ty),* $(,)? } => |$r:ident| $record:ident $body:tt
    )*) => {$(
        $(#[$doc])*
        #[derive(sqlx::FromRow)]
        pub(in crate::store) struct $row { $($column: $ty),* }

        impl TryFrom<$row> for $record {
            type Error = StoreError;
            fn try_from($r: $row) -> StoreResult<Self> {
                Ok($record $body)
            }
        }
    )*};
}

try_rows! {
    /// `campaigns` ([`CAMPAIGN_COLUMNS`]); counts are filled in afterwards.
    CampaignRow {
        seq: i64, id: String, name: String, message_template: String, agent_id: Option<String>,
        from_numbers: Json<Vec<String>>, status: String, source: String, scheduled_at: Option<StoredTime>,
        duplicates_removed: i64, created_at: StoredTime, started_at: Option<StoredTime>,
        finished_at: Option<StoredTime>, require_consent: bool, respect_send_window: bool,
        send_window_reason: Option<String>, resend_of: Option<String>,
    }
    => |r| Campaign {
        seq: r.seq, id: CampaignId::from_trusted(r.id), name: r.name, message_template: r.message_template,
        agent_id: r.agent_id, from_numbers: r.from_numbers.0, status: campaign_status(&r.status)?,
        source: parse_stored(&r.source, Source::parse, "source")?, scheduled_at: r.scheduled_at.map(StoredTime::get),
        duplicates_removed: r.duplicates_removed as u64, created_at: r.created_at.get(),
        started_at: r.started_at.map(StoredTime::get), finished_at: r.finished_at.map(StoredTime::get),
        require_consent: r.require_consent, respect_send_window: r.respect_send_window,
        send_window_reason: r.send_window_reason, resend_of: r.resend_of.map(CampaignId::from_trusted),
        counts: Counts::default(),
    }

    /// `recipients` as listed ([`RECIPIENT_COLUMNS`]).
    RecipientRow {
        position: i64, phone: String, variables: Json<Map<String, Value>>, body: String, segments: i32,
        from_number: String, status: String, twilio_sid: Option<String>, error_code: Option<String>,
        error_message: Option<String>, submitted_at: Option<StoredTime>,
        delivered_at: Option<StoredTime>, updated_at: StoredTime, held_until: Option<StoredTime>,
    }
    => |r| Recipient {
        position: r.position, phone: r.phone, variables: r.variables.0, body: r.body,
        segments: r.segments as u32, from_number: r.from_number, status: recipient_status(&r.status)?,
        twilio_sid: r.twilio_sid, error_code: r.error_code, error_message: r.error_message,
        sent_at: r.submitted_at.map(StoredTime::get), delivered_at: r.delivered_at.map(StoredTime::get),
        updated_at: r.updated_at.get(), held_until: r.held_until.map(StoredTime::get),
    }

    /// A recipient as status callbacks read it.
    StatusRowRecord {
        id: i64, attempt_id: Option<String>, twilio_sid: Option<String>, status: String,
        error_code: Option<String>, error_message: Option<String>,
    }
    => |r| StatusRow {
        id: r.id, attempt_id: r.attempt_id, twilio_sid: r.twilio_sid, status: recipient_status(&r.status)?,
        error_code: r.error_code, error_message: r.error_message,
    }

    /// `consents`.
    ConsentRow {
        seq: i64, id: String, phone: String, status: String, source: String, evidence: Option<String>,
        occurred_at: StoredTime, recorded_at: StoredTime,
    }
    => |r| ConsentRecord {
        seq: r.seq, id: ConsentId::from_trusted(r.id), phone: r.phone,
        status: parse_stored(&r.status, ConsentStatus::parse, "consent status")?, source: r.source,
        evidence: r.evidence, occurred_at: r.occurred_at.get(), recorded_at: r.recorded_at.get(),
    }
}

/// `messages` as [`MESSAGE_SELECT`] reads them.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct MessageRow {
    seq: i64,
    id: String,
    pub conversation_seq: i64,
    direction: String,
    kind: String,
    body: String,
    reply_status: Option<String>,
    reply_error: Option<String>,
    created_at: StoredTime,
    sid: Option<String>,
    delivery: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> StoreResult<Self> {
        Ok(Message {
            seq: r.seq,
            id: MessageId::from_trusted(r.id),
            direction: parse_stored(&r.direction, Direction::parse, "message direction")?,
            kind: r.kind,
            body: r.body,
            twilio_sid: r.sid,
            status: r.delivery.as_deref().map(recipient_status).transpose()?,
            error_code: r.error_code,
            error_message: r.error_message,
            reply_status: r
                .reply_status
                .as_deref()
                .map(|s| parse_stored(s, ReplyStatus::parse, "reply status"))
                .transpose()?,
            reply_error: r.reply_error,
            created_at: r.created_at.get(),
        })
    }
}
