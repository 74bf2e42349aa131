//! What the agent is asked when someone replies: the chat-completions `messages` built from the
//! agent's system prompt, the campaign this person is answering, and the conversation so far;
//! and the SMS made from the model's answer.
//!
//! Why pure: the request is the agent's whole knowledge of the situation (the spec page's
//! "the agent already knows what to say"), so its exact shape is tested here, without a model.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::campaign::MAX_BODY_CHARS;

/// Which way a message of a conversation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the person to one of the account's numbers.
    Inbound,
    /// From the account's number to the person.
    Outbound,
}

impl Direction {
    /// The storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

/// The campaign a person is answering: what exactly they were sent, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignContext {
    /// The campaign's name.
    pub name: String,
    /// When Twilio accepted this person's message.
    pub sent_at: OffsetDateTime,
    /// The exact message this person received (rendered from the template).
    pub body: String,
    /// This person's template variables, as given when the campaign was created.
    pub variables: Map<String, Value>,
}

/// One message of the conversation so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Who wrote it.
    pub direction: Direction,
    /// Its text.
    pub body: String,
}

/// Everything the request to the model is built from.
#[derive(Debug, Clone)]
pub struct PromptInput<'a> {
    /// The agent's `system_prompt`, as the business wrote it.
    pub system_prompt: &'a str,
    /// The account's number the conversation is on.
    pub our_number: &'a str,
    /// The person's number.
    pub their_number: &'a str,
    /// The campaign they are answering, if one was sent to them from this number.
    pub campaign: Option<&'a CampaignContext>,
    /// The conversation, oldest first, ending with the message to answer.
    pub history: &'a [Turn],
}

/// How much of a conversation goes into one request.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Most messages (the newest are kept).
    pub max_messages: usize,
    /// Most characters over all kept messages (the newest message is always kept).
    pub max_chars: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            max_messages: 20,
            max_chars: 8_000,
        }
    }
}

/// A chat-completions role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person texting.
    User,
    /// The business (earlier agent answers and confirmations).
    Assistant,
}

/// One entry of the chat-completions `messages` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: Role,
    /// What they say.
    pub content: String,
}

/// The `messages` of the chat-completions request for one reply.
///
/// Shape, chosen to work with OpenAI, vLLM, llama.cpp server and Ollama alike:
/// - exactly one `system` message, first: the agent's prompt, then a context block written by
///   Herald (the channel, the campaign's name, when it was sent, the exact body this person
///   received and their variables as JSON) — several system messages or a system message in
///   the middle are refused by some chat templates;
/// - then the conversation, bounded by `limits` (newest kept), as alternating `user` /
///   `assistant` turns: consecutive messages of one side are joined with a newline and a
///   leading `assistant` turn is dropped, because strict chat templates require
///   user/assistant alternation starting with `user`.
pub fn build_messages(input: &PromptInput<'_>, limits: HistoryLimits) -> Vec<ChatMessage> {
    let mut system = input.system_prompt.trim().to_owned();
    if !system.is_empty() {
        system.push_str("\n\n");
    }
    system.push_str(&context_block(input));
    let mut messages = vec![ChatMessage {
        role: Role::System,
        content: system,
    }];
    for turn in bounded(input.history, limits) {
        let role = match turn.direction {
            Direction::Inbound => Role::User,
            Direction::Outbound => Role::Assistant,
        };
        match messages.last_mut() {
            Some(last) if last.role == role => {
                last.content.push('\n');
                last.content.push_str(&turn.body);
            }
            Some(last) if last.role == Role::System && role == Role::Assistant => {}
            _ => messages.push(ChatMessage {
                role,
                content: turn.body.clone(),
            }),
        }
    }
    messages
}

/// Herald's part of the system message: the channel and the campaign this person answers.
fn context_block(input: &PromptInput<'_>) -> String {
    let mut out =
        String::from("Context from Herald (not written by the person you are talking to):\n");
    out.push_str(&format!(
        "- You are answering an SMS from {} to {}. Reply with the text of one SMS: plain text, short, no markdown.\n",
        input.their_number, input.our_number
    ));
    match input.campaign {
        Some(c) => {
            let sent = c
                .sent_at
                .format(&Rfc3339)
                .unwrap_or_else(|_| c.sent_at.to_string());
            let variables = Value::Object(c.variables.clone()).to_string();
            out.push_str(&format!(
                "- They are replying to the campaign \"{}\", sent to them at {sent}.\n",
                c.name
            ));
            out.push_str(&format!(
                "- The exact message they received:\n<<<\n{}\n>>>\n",
                c.body
            ));
            out.push_str(&format!("- Their variables: {variables}\n"));
        }
        None => out.push_str(
            "- No campaign was sent to them from this number; they wrote to it directly.\n",
        ),
    }
    out
}

/// The newest messages within the limits; the newest message is always kept.
fn bounded(history: &[Turn], limits: HistoryLimits) -> &[Turn] {
    let mut start = history.len();
    let mut chars = 0usize;
    while start > 0 {
        let next = &history[start - 1];
        let len = next.body.chars().count();
        let kept = history.len() - start;
        if kept > 0 && (kept >= limits.max_messages || chars + len > limits.max_chars) {
            break;
        }
        chars += len;
        start -= 1;
    }
    &history[start..]
}

/// The SMS made from a model's answer: reasoning (`<think>…</think>`) removed, trimmed, cut to
/// Twilio's 1,600 characters (at a word boundary, with an ellipsis). `None` when nothing is
/// left to send.
pub fn sms_answer(raw: &str) -> Option<String> {
    let mut text = raw.to_owned();
    while let Some(open) = text.find("<think>") {
        match text[open..].find("</think>") {
            Some(close) => text.replace_range(open..open + close + "</think>".len(), ""),
            None => text.truncate(open),
        }
    }
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.chars().count() <= MAX_BODY_CHARS {
        return Some(text.to_owned());
    }
    let cut: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > cut.len() / 2 => cut[..i].trim_end().to_owned(),
        _ => cut,
    };
    Some(format!("{cut}…"))
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

    /// What an agent's ready answer makes of the message it answers: `answered` (it is
    /// queued), or `opted_out` when the person opted out meanwhile (nothing is sent).
    pub fn of_answer(opted_out: bool) -> Self {
        if opted_out {
            Self::OptedOut
        } else {
            Self::Answered
        }
    }
}

/// The name of the one-recipient campaign that sends an agent's answer (never shown by the
/// campaign API; it names the campaign in logs and the database).
pub fn reply_campaign_name(their_number: &str) -> String {
    format!("Reply to {their_number}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(direction: Direction, body: &str) -> Turn {
        Turn {
            direction,
            body: body.to_owned(),
        }
    }

    fn campaign() -> CampaignContext {
        CampaignContext {
            name: "March promotion".into(),
            sent_at: time::macros::datetime!(2026-03-02 09:00:05 UTC),
            body: "Hi Sarah, Acme Dental offering 20% off cleanings this month. Reply YES to book."
                .into(),
            variables: json!({ "first_name": "Sarah" })
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    #[test]
    fn the_request_carries_prompt_campaign_context_and_history() {
        let c = campaign();
        let history = [turn(Direction::Inbound, "YES")];
        let messages = build_messages(
            &PromptInput {
                system_prompt: "You are the receptionist at Acme Dental.",
                our_number: "+447446466847",
                their_number: "+447111000001",
                campaign: Some(&c),
                history: &history,
            },
            HistoryLimits::default(),
        );
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].role, Role::System);
        let system = &messages[0].content;
        assert!(system.starts_with("You are the receptionist at Acme Dental.\n\n"));
        assert!(system.contains("\"March promotion\", sent to them at 2026-03-02T09:00:05Z"));
        assert!(system.contains(
            "<<<\nHi Sarah, Acme Dental offering 20% off cleanings this month. Reply YES to book.\n>>>"
        ));
        assert!(system.contains(r#"Their variables: {"first_name":"Sarah"}"#));
        assert!(system.contains("SMS from +447111000001 to +447446466847"));
        assert_eq!(
            messages[1],
            ChatMessage {
                role: Role::User,
                content: "YES".into()
            }
        );
        let wire = serde_json::to_value(&messages).unwrap();
        assert_eq!(wire[1], json!({ "role": "user", "content": "YES" }));
    }

    #[test]
    fn without_a_campaign_the_context_says_so() {
        let history = [turn(Direction::Inbound, "Are you open Sunday?")];
        let messages = build_messages(
            &PromptInput {
                system_prompt: "  ",
                our_number: "+447446466847",
                their_number: "+447111000001",
                campaign: None,
                history: &history,
            },
            HistoryLimits::default(),
        );
        assert!(messages[0].content.starts_with("Context from Herald"));
        assert!(messages[0].content.contains("No campaign was sent"));
    }

    #[test]
    fn history_alternates_and_is_bounded_newest_first() {
        let history = [
            turn(Direction::Outbound, "(a confirmation)"),
            turn(Direction::Inbound, "one"),
            turn(Direction::Inbound, "two"),
            turn(Direction::Outbound, "answer"),
            turn(Direction::Inbound, "three"),
        ];
        let input = PromptInput {
            system_prompt: "P",
            our_number: "+447446466847",
            their_number: "+447111000001",
            campaign: None,
            history: &history,
        };
        let roles = |m: &[ChatMessage]| {
            m.iter()
                .map(|m| (m.role, m.content.clone()))
                .collect::<Vec<_>>()
        };
        let all = build_messages(&input, HistoryLimits::default());
        assert_eq!(
            roles(&all[1..]),
            [
                (Role::User, "one\ntwo".to_owned()),
                (Role::Assistant, "answer".to_owned()),
                (Role::User, "three".to_owned()),
            ]
        );
        let two = build_messages(
            &input,
            HistoryLimits {
                max_messages: 2,
                max_chars: 1_000,
            },
        );
        // "answer" would lead, and a leading assistant turn is dropped.
        assert_eq!(roles(&two[1..]), [(Role::User, "three".to_owned())]);
        let by_chars = build_messages(
            &input,
            HistoryLimits {
                max_messages: 100,
                max_chars: 14,
            },
        );
        assert_eq!(
            roles(&by_chars[1..]),
            [
                (Role::User, "two".to_owned()),
                (Role::Assistant, "answer".to_owned()),
                (Role::User, "three".to_owned())
            ]
        );
        // The message to answer is kept even when it alone is over the budget.
        let tiny = build_messages(
            &input,
            HistoryLimits {
                max_messages: 1,
                max_chars: 1,
            },
        );
        assert_eq!(roles(&tiny[1..]), [(Role::User, "three".to_owned())]);
    }

    #[test]
    fn answers_become_one_sendable_sms() {
        assert_eq!(
            sms_answer("  Great, which day suits you?\n"),
            Some("Great, which day suits you?".into())
        );
        assert_eq!(
            sms_answer("<think>they want a slot</think>\nWhich day suits you?"),
            Some("Which day suits you?".into())
        );
        assert_eq!(sms_answer("<think>never closed"), None);
        assert_eq!(sms_answer("   "), None);
        let long = "word ".repeat(500);
        let cut = sms_answer(&long).unwrap();
        assert!(
            cut.chars().count() <= MAX_BODY_CHARS,
            "{}",
            cut.chars().count()
        );
        assert!(cut.ends_with("word…"));
        let unbroken = "x".repeat(2_000);
        assert_eq!(
            sms_answer(&unbroken).unwrap().chars().count(),
            MAX_BODY_CHARS
        );
    }

    #[test]
    fn directions_round_trip() {
        for d in [Direction::Inbound, Direction::Outbound] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn an_answer_to_an_opted_out_person_is_not_sent() {
        assert_eq!(ReplyStatus::of_answer(true), ReplyStatus::OptedOut);
        assert_eq!(ReplyStatus::of_answer(false), ReplyStatus::Answered);
        assert_eq!(
            reply_campaign_name("+447700900001"),
            "Reply to +447700900001"
        );
        for s in ReplyStatus::ALL {
            assert_eq!(ReplyStatus::parse(s.as_str()), Some(s));
        }
    }
}
