//! The sandbox: with no Twilio credentials, a pretend SMS from someone to one of the account's
//! numbers, sent through the built-in simulator exactly as Twilio would deliver it.

use std::time::Duration;

use serde::Deserialize;

use super::{App, ServiceError, ServiceResult};
use crate::domain::ids::AccountId;
use crate::domain::phone::Phone;

/// Twilio's Body limit, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// What Herald answered the simulator's signed webhook.
#[derive(Debug, Clone, Deserialize)]
pub struct TestInboundAnswer {
    /// The `MessageSid` the simulator gave the message.
    pub message_sid: String,
    /// Herald's HTTP status (200 when it took the message).
    pub status: u16,
    /// Herald's TwiML (`<Response/>`, or a `<Message>` confirming a keyword).
    pub twiml: String,
}

impl TestInboundAnswer {
    /// The text of the TwiML `<Message>` Herald answered with, if any (a keyword confirmation).
    pub fn confirmation(&self) -> Option<String> {
        let start = self.twiml.find("<Message>")? + "<Message>".len();
        let end = self.twiml[start..].find("</Message>")? + start;
        Some(
            self.twiml[start..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        )
    }
}

/// `+` and 7–15 digits, not starting with 0.
fn looks_like_e164(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|d| {
        (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// True when the built-in simulator stands in for Twilio (test inbound SMS are possible).
pub fn is_sandbox(app: &App) -> bool {
    app.settings.simulator_url.is_some()
}

/// Sends `body` from `from` to the account's number `to` through the built-in simulator's
/// `POST /sim/inbound`: it signs Twilio's incoming-message webhook and posts it here, so the
/// message takes the same path as a real one (keywords, conversation, agent).
pub async fn send_test_inbound(
    app: &App,
    account: &AccountId,
    from: &str,
    to: &str,
    body: &str,
) -> ServiceResult<TestInboundAnswer> {
    let Some(sim) = app.settings.simulator_url.clone() else {
        return Err(ServiceError::Conflict(
            "test messages need the built-in Twilio simulator (Herald runs with real Twilio credentials)".into(),
        ));
    };
    let mut errors = Vec::new();
    let numbers = super::numbers::list(app, account).await?.numbers;
    let region = numbers
        .first()
        .and_then(|n| Phone::parse(&n.phone).ok())
        .and_then(|p| p.region());
    let from = from.trim();
    let from = match Phone::parse_with_region(from, region.as_deref()) {
        Ok(p) => p.as_str().to_owned(),
        // Made-up numbers (+1 555 …) are fine in a sandbox: Twilio's shape is enough.
        Err(_) if looks_like_e164(from) => from.to_owned(),
        Err(_) => {
            errors.push(crate::domain::FieldError::new(
                "from",
                "From is not a phone number: give it with its country code, e.g. +15551230001",
            ));
            String::new()
        }
    };
    if !numbers.iter().any(|n| n.phone == to) {
        errors.push(crate::domain::FieldError::new(
            "to",
            "To must be one of your sending numbers",
        ));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        errors.push(crate::domain::FieldError::new(
            "body",
            "The message must be at most 1600 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .map_err(|e| ServiceError::Internal(e.into()))?;
    let answer = client
        .post(format!("{sim}/sim/inbound"))
        .json(&serde_json::json!({ "from": from, "to": to, "body": body }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("the simulator's /sim/inbound: {e}")))?
        .json::<TestInboundAnswer>()
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("the simulator's answer: {e}")))?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::TestInboundAnswer;

    #[test]
    fn the_confirmation_is_read_from_twiml() {
        let a = TestInboundAnswer {
            message_sid: "SM1".into(),
            status: 200,
            twiml: "<?xml version=\"1.0\"?><Response><Message>Acme: you&apos;re out &amp; done</Message></Response>".into(),
        };
        assert_eq!(a.confirmation().as_deref(), Some("Acme: you're out & done"));
        let empty = TestInboundAnswer {
            twiml: "<Response/>".into(),
            ..a
        };
        assert_eq!(empty.confirmation(), None);
    }
}
