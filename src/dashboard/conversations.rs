//! Conversations: the threads of replies to campaigns and the agent's answers, read through
//! the same `service::conversations` functions as `GET /v1/conversations[/{id}]`.

use super::forms::Form;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::Errors;
use super::signed_in::{CurrentUser, check_csrf, urlencode};
use super::views::{Layout, When};
use crate::domain::reply::Direction;
use crate::service::App;
use crate::service::sessions::SignedIn;
use crate::service::views::replies::{
    CampaignContextView, ConversationParams, ConversationView, MessageParams, MessageView,
    ReplyStatus,
};
use crate::service::{agents, conversations, numbers, sandbox};

/// Conversations per page of the list.
const LIST_PAGE: u32 = 50;
/// Messages per page of a thread.
const THREAD_PAGE: u32 = 200;

/// One conversation as a row of the list.
struct ConversationRow {
    id: String,
    phone: String,
    number: String,
    /// The latest message's text (empty when there is none).
    last: String,
    /// Whether the latest message came from the person.
    last_inbound: bool,
    last_at: When,
    opted_out: bool,
}

impl From<ConversationView> for ConversationRow {
    fn from(c: ConversationView) -> Self {
        Self {
            last_inbound: c
                .last_message
                .as_ref()
                .is_some_and(|m| m.direction == Direction::Inbound),
            last: c.last_message.map(|m| m.body).unwrap_or_default(),
            last_at: When::new(c.last_message_at),
            id: c.conversation_id,
            phone: c.phone,
            number: c.number,
            opted_out: c.opted_out,
        }
    }
}

#[derive(Template)]
#[template(path = "conversations.html")]
struct ConversationsPage {
    layout: Layout,
    rows: Vec<ConversationRow>,
    first_page: bool,
    next_cursor: Option<String>,
    /// The "pretend someone texts you" form, when the built-in simulator stands in for Twilio.
    sandbox: Option<SandboxForm>,
}

/// The test-inbound form: the account's numbers to text, and what was typed.
struct SandboxForm {
    numbers: Vec<String>,
    from: String,
    to: String,
    body: String,
    errors: Errors,
}

impl SandboxForm {
    async fn new(
        state: &App,
        user: &SignedIn,
        form: TestInboundForm,
        errors: Errors,
    ) -> PageResult<Self> {
        Ok(Self {
            numbers: numbers::list(state, &user.account_id)
                .await?
                .numbers
                .into_iter()
                .map(|n| n.phone)
                .collect(),
            from: form.from,
            to: form.to,
            body: form.body,
            errors,
        })
    }
}

/// The fields of the test-inbound form.
#[derive(Debug, Default, Deserialize)]
pub struct TestInboundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    body: String,
}

async fn list_page(
    state: &App,
    user: &SignedIn,
    cursor: Option<String>,
    sandbox_form: Option<(TestInboundForm, Errors)>,
) -> PageResult<ConversationsPage> {
    let params = ConversationParams {
        limit: Some(LIST_PAGE),
        cursor: cursor.clone(),
    };
    let list = conversations::list(state, &user.account_id, &params).await?;
    let sandbox = if sandbox::is_sandbox(state) {
        let (form, errors) = sandbox_form.unwrap_or_else(|| {
            (
                TestInboundForm {
                    from: "+15551230001".into(),
                    body: "STOP".into(),
                    ..TestInboundForm::default()
                },
                Errors::default(),
            )
        });
        Some(SandboxForm::new(state, user, form, errors).await?)
    } else {
        None
    };
    Ok(ConversationsPage {
        layout: Layout::new("Conversations", Some(user), "conversations"),
        rows: list.conversations.into_iter().map(Into::into).collect(),
        first_page: cursor.is_none(),
        next_cursor: list.next_cursor.map(|c| urlencode(&c)),
        sandbox,
    })
}

/// Sends a pretend SMS to one of the account's numbers through the built-in simulator (signed
/// and delivered as Twilio would), then shows what Herald answered.
pub async fn test_inbound(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<TestInboundForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match sandbox::send_test_inbound(&state, &user.account_id, &form.from, &form.to, &form.body)
        .await
    {
        Ok(answer) if answer.status == 200 => {
            let said = match answer.confirmation() {
                Some(text) => format!("Herald answered at once: “{text}”"),
                None => {
                    "No keyword: it is in the conversation below, for the agent to answer.".into()
                }
            };
            Ok(redirect_with(
                "/conversations",
                FlashKind::Success,
                format!(
                    "Test message “{}” sent from {} to {}. {said}",
                    form.body,
                    form.from.trim(),
                    form.to
                ),
            ))
        }
        Ok(answer) => Ok(redirect_with(
            "/conversations",
            FlashKind::Warning,
            format!(
                "Herald refused the test message with HTTP {}: {}",
                answer.status, answer.twiml
            ),
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = list_page(&state, &user, None, Some((form, errors))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

/// `?cursor=` of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
}

/// The account's conversations, latest activity first.
pub async fn list(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let mut page = list_page(&state, &user, cursor, None).await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// The campaign message the person is answering.
struct Context {
    campaign_id: String,
    name: String,
    sent: When,
    body: String,
    variables: Vec<(String, String)>,
}

impl From<CampaignContextView> for Context {
    fn from(c: CampaignContextView) -> Self {
        Self {
            campaign_id: c.campaign_id,
            name: c.name,
            sent: When::new(c.sent_at),
            body: c.body,
            variables: c
                .variables
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        }
    }
}

/// One message of a thread, shaped for display.
struct MessageRow {
    inbound: bool,
    /// The wire kind (`message`, `opt_out`, `agent`, …), for the CSS class.
    kind: String,
    /// A badge for anything but a plain inbound message.
    badge: Option<&'static str>,
    body: String,
    at: When,
    /// Outbound: the delivery status as shown, with its CSS class.
    status: Option<(&'static str, &'static str)>,
    /// Outbound: why it failed.
    error: Option<String>,
    /// Inbound messages for the agent that it did not answer: why.
    reply: Option<&'static str>,
    reply_error: Option<String>,
}

fn kind_badge(direction: Direction, kind: &str) -> Option<&'static str> {
    match (direction, kind) {
        (_, "opt_out") => Some("Opt-out"),
        (_, "opt_in") => Some("Opt-in"),
        (_, "help") => Some("Help"),
        (Direction::Outbound, "agent") => Some("Agent"),
        (Direction::Outbound, "confirmation") => Some("Confirmation"),
        _ => None,
    }
}

fn delivery(status: &str) -> (&'static str, &'static str) {
    match status {
        "delivered" => ("Delivered", "done"),
        "sent" => ("Sent", "running"),
        "undelivered" => ("Undelivered", "failed"),
        "failed" => ("Failed", "failed"),
        "cancelled" => ("Cancelled", "cancelled"),
        _ => ("Pending", "pending"),
    }
}

fn reply_label(status: ReplyStatus) -> Option<&'static str> {
    match status {
        ReplyStatus::Answered => None,
        ReplyStatus::Pending => Some("The agent is writing an answer"),
        ReplyStatus::Failed => Some("The agent could not answer"),
        ReplyStatus::NoModel => Some("Not answered: no model is configured"),
        ReplyStatus::NoAgent => Some("Not answered: no agent for this number or campaign"),
        ReplyStatus::OptedOut => Some("Not answered: the person is opted out"),
        ReplyStatus::Superseded => Some("Not answered on its own: a later message was answered"),
        ReplyStatus::Empty => Some("Not answered: the agent's answer was empty"),
    }
}

impl From<MessageView> for MessageRow {
    fn from(m: MessageView) -> Self {
        let inbound = m.direction == Direction::Inbound;
        Self {
            badge: kind_badge(m.direction, &m.kind),
            status: if inbound {
                None
            } else {
                m.status.as_deref().map(delivery)
            },
            error: match (m.error_code, m.error_message) {
                (Some(c), Some(t)) => Some(format!("{t} ({c})")),
                (Some(c), None) => Some(c),
                (None, m) => m,
            },
            reply: m.reply_status.and_then(reply_label),
            reply_error: m.reply_error,
            inbound,
            kind: m.kind,
            body: m.body,
            at: When::new(m.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ThreadPage {
    layout: Layout,
    c: ConversationView,
    /// The agent's name (its id when it can no longer be read).
    agent_name: Option<String>,
    started: When,
    context: Option<Context>,
    messages: Vec<MessageRow>,
    first_page: bool,
    next_url: Option<String>,
}

/// `?messages_cursor=` of a thread.
#[derive(Debug, Default, Deserialize)]
pub struct ThreadQuery {
    messages_cursor: Option<String>,
}

/// One conversation: what the person was sent, then every message, oldest first.
pub async fn thread(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ThreadQuery>,
) -> PageResult {
    let cursor = q.messages_cursor.filter(|c| !c.is_empty());
    let params = MessageParams {
        messages_limit: Some(THREAD_PAGE),
        messages_cursor: cursor.clone(),
    };
    let d = conversations::get(&state, &user.account_id, &id, &params).await?;
    let next_url = d.messages_next_cursor.map(|c| {
        format!(
            "/conversations/{}?messages_cursor={}",
            d.conversation.conversation_id,
            urlencode(&c)
        )
    });
    let agent_name = match &d.conversation.agent_id {
        Some(a) => Some(
            agents::get(&state, &user.account_id, a)
                .await
                .map_or_else(|_| a.clone(), |agent| agent.name),
        ),
        None => None,
    };
    Ok(html(&ThreadPage {
        agent_name,
        layout: Layout::new(
            format!("Conversation with {}", d.conversation.phone),
            Some(&user),
            "conversations",
        ),
        started: When::new(d.conversation.created_at),
        c: d.conversation,
        context: d.context.map(Into::into),
        messages: d.messages.into_iter().map(Into::into).collect(),
        first_page: cursor.is_none(),
        next_url,
    }))
}
