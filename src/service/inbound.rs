//! An incoming SMS: stored in its conversation, its keyword honoured at once (opt-out, opt-in,
//! help), and anything else handed to the agent that owns the conversation.
//!
//! Keyword confirmations are answered in the webhook's own TwiML, not through the engine:
//! Twilio sends them at once, and a confirmation is then the only message Herald ever lets
//! reach a number after its STOP — everything else goes through the engine, which refuses
//! opted-out numbers at claim time and again just before each send.

use time::OffsetDateTime;

use super::replier::AgentJob;
use super::{App, ServiceResult};
use crate::domain::consent::sources;
use crate::domain::keywords::{self, Keyword};
use crate::domain::phone::Phone;
use crate::engine::EngineHandle;
use crate::store::{ConsentEvent, NewInbound, ReplyStatus, Store};

/// An incoming SMS, as Twilio's incoming-message webhook describes it (docs/ARCHITECTURE.md §9).
#[derive(Debug, Clone, Default)]
pub struct InboundSms {
    /// `From`: the person.
    pub from: String,
    /// `To`: one of the account's numbers.
    pub to: String,
    /// `Body`.
    pub body: String,
    /// `MessageSid` (a repeated one is ignored).
    pub message_sid: Option<String>,
    /// `OptOutType` (`STOP`, `START`, `HELP`), sent by a Messaging Service with Advanced Opt-Out.
    pub opt_out_type: Option<String>,
}

/// What the webhook answers.
#[derive(Debug, Default)]
pub struct InboundOutcome {
    /// A keyword confirmation to send in the TwiML answer.
    pub reply: Option<String>,
}

/// What storing an SMS produced: the answer, and the agent's work.
#[derive(Debug, Default)]
struct Received {
    /// A keyword confirmation to send in the TwiML answer.
    reply: Option<String>,
    /// The agent's work, to run in the background (the webhook must not wait for a model).
    agent_job: Option<AgentJob>,
}

/// A number as stored: E.164 when it parses, else as Twilio sent it (short codes, …).
fn normalise(raw: &str) -> String {
    let raw = raw.trim();
    Phone::parse(raw).map_or_else(|_| raw.to_owned(), |p| p.as_str().to_owned())
}

/// Stores one incoming SMS, applies its keyword, and starts the agent's answer in the
/// background when one is due; returns what the webhook answers at once.
pub async fn receive(app: &App, sms: &InboundSms) -> ServiceResult<InboundOutcome> {
    let received = record(
        app.store.as_ref(),
        &app.engine,
        app.replier.is_configured(),
        sms,
    )
    .await?;
    if let Some(job) = received.agent_job {
        app.replier
            .spawn(app.store.clone(), app.engine.clone(), job);
    }
    Ok(InboundOutcome {
        reply: received.reply,
    })
}

/// Stores one incoming SMS and applies its keyword. `model_configured` says whether an agent
/// can answer at all (no model: stored, not answered).
async fn record(
    store: &dyn Store,
    engine: &EngineHandle,
    model_configured: bool,
    sms: &InboundSms,
) -> ServiceResult<Received> {
    let now = OffsetDateTime::now_utc();
    let to = normalise(&sms.to);
    let from = normalise(&sms.from);
    if from.is_empty() {
        tracing::warn!("an inbound SMS without a From number was ignored");
        return Ok(Received::default());
    }
    let Some(owner) = store.number_owner(&to).await? else {
        tracing::warn!(
            to = %to,
            "an inbound SMS to a number no account has registered was ignored"
        );
        return Ok(Received::default());
    };
    let account = owner.account_id;
    let opted_out = store.is_opted_out(&account, &from).await?;
    let opt_out_type = sms.opt_out_type.as_deref().filter(|t| !t.trim().is_empty());
    let keyword = keywords::classify(&sms.body, opted_out, opt_out_type);

    let campaign = store.latest_campaign_sent(&account, &to, &from).await?;
    let agent_id = campaign
        .as_ref()
        .and_then(|c| c.agent_id.clone())
        .or(owner.agent_id);

    let reply_status = keyword.is_none().then(|| {
        if opted_out {
            // Never let an opted-out number reach the agent (docs/ARCHITECTURE.md §5).
            ReplyStatus::OptedOut
        } else if sms.body.trim().is_empty() {
            ReplyStatus::Empty
        } else if !model_configured {
            ReplyStatus::NoModel
        } else if agent_id.is_none() {
            ReplyStatus::NoAgent
        } else {
            ReplyStatus::Pending
        }
    });

    let consent = matches!(keyword, Some(Keyword::OptOut | Keyword::OptIn)).then(|| {
        let sid = sms.message_sid.as_deref().unwrap_or("unknown");
        ConsentEvent {
            phone: from.clone(),
            source: if opt_out_type.is_some() {
                sources::TWILIO_OPT_OUT
            } else {
                sources::KEYWORD
            }
            .to_owned(),
            evidence: Some(format!(
                "SMS {:?} from {from} to {to} (MessageSid {sid})",
                sms.body.trim()
            )),
            at: now,
        }
    });

    let confirmation = match keyword {
        None => None,
        Some(keyword) => {
            let settings = store.account_settings(&account).await?;
            settings.keyword_replies.then(|| match keyword {
                Keyword::OptOut => keywords::opt_out_confirmation(&settings.name),
                Keyword::OptIn => keywords::opt_in_confirmation(&settings.name),
                Keyword::Help => settings
                    .help_text
                    .clone()
                    .unwrap_or_else(|| keywords::default_help_text(&settings.name)),
            })
        }
    };

    let new = NewInbound {
        account_id: account.clone(),
        our_number: to,
        their_number: from.clone(),
        body: sms.body.clone(),
        twilio_sid: sms.message_sid.clone().filter(|s| !s.trim().is_empty()),
        received_at: now,
        keyword,
        consent,
        reply_status,
        agent_id,
        campaign_id: campaign.map(|c| c.campaign_id),
        confirmation,
    };
    let Some(received) = store.receive_inbound(&new).await? else {
        tracing::info!(
            message_sid = ?sms.message_sid,
            "a repeated inbound webhook was ignored"
        );
        return Ok(Received::default());
    };
    match keyword {
        Some(Keyword::OptOut) => engine.phone_opted_out(account.as_str(), &from),
        Some(Keyword::OptIn) => engine.phone_opted_in(account.as_str(), &from),
        _ => {}
    }
    tracing::info!(
        account_id = %account,
        conversation_id = %received.conversation_id,
        message_id = %received.message_id,
        keyword = keyword.map(Keyword::as_str),
        reply_status = reply_status.map(ReplyStatus::as_str),
        opt_out_changed = received.opt_out_changed,
        "inbound SMS stored"
    );
    Ok(Received {
        reply: received.confirmation,
        agent_job: (reply_status == Some(ReplyStatus::Pending)).then_some(AgentJob {
            account_id: account,
            conversation_id: received.conversation_id,
            message_id: received.message_id,
        }),
    })
}
