//! `POST /sim/inbound`: a person texting one of your numbers, as Twilio would tell Herald: a
//! signed incoming-message webhook posted to the configured inbound URL, answered with what
//! Herald said (its HTTP status and TwiML).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::Simulator;
use super::wire;
use crate::domain::segments;
use crate::provider::signature;

/// Twilio's Body limit, in characters.
const MAX_BODY_CHARS: usize = 1600;
/// How long Herald may take to answer the webhook (Twilio waits 15 s).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of Herald's answer kept (TwiML is small).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What `POST /sim/inbound` reads.
#[derive(Debug, Deserialize)]
struct InboundRequest {
    /// The person's number.
    from: Option<String>,
    /// One of the account's numbers.
    to: Option<String>,
    /// What they wrote.
    body: Option<String>,
}

/// What `POST /sim/inbound` answers once Herald answered the webhook.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct InboundAnswer {
    /// The `MessageSid` the webhook carried (fresh for every call).
    pub message_sid: String,
    /// Herald's HTTP status.
    pub status: u16,
    /// Herald's `Content-Type` (TwiML is `text/xml`).
    pub content_type: Option<String>,
    /// Herald's answer: TwiML (`<Response/>`, or a `<Message>` confirming STOP, START or HELP),
    /// or a JSON error.
    pub twiml: String,
}

/// `+` then 7–15 digits: what Twilio gives as a `From`/`To` number (short codes: 5–6 digits).
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    let long = text.starts_with('+') && (7..=15).contains(&digits.len());
    let short = !text.starts_with('+') && (5..=6).contains(&digits.len());
    (long || short) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The form Twilio posts to an incoming-message webhook (sorted by name, as signed).
pub(crate) fn webhook_params(
    account_sid: &str,
    sid: &str,
    from: &str,
    to: &str,
    body: &str,
) -> Vec<(String, String)> {
    let segments = segments::count(body).segments.max(1).to_string();
    let mut params: Vec<(String, String)> = [
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", segments.as_str()),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("To", to),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.sort();
    params
}

/// `POST /sim/inbound` with `{"from","to","body"}`: signs Twilio's incoming-message webhook
/// with the simulator's auth token, posts it to the inbound URL and answers Herald's status
/// and body. 400 for a bad request, 409 without an inbound URL, 502 when Herald is unreachable.
pub(crate) async fn inbound(State(sim): State<Simulator>, raw: Bytes) -> Response {
    let req: InboundRequest = match serde_json::from_slice(&raw) {
        Ok(req) => req,
        Err(e) => {
            return wire::twilio_error(
                400,
                21000,
                &format!("the body must be JSON {{\"from\", \"to\", \"body\"}}: {e}"),
            );
        }
    };
    let from = req.from.unwrap_or_default().trim().to_owned();
    let to = req.to.unwrap_or_default().trim().to_owned();
    let body = req.body.unwrap_or_default();
    if !is_number(&from) {
        return wire::twilio_error(
            400,
            21211,
            "from: give the sender's number in E.164 (+ and 7 to 15 digits)",
        );
    }
    if !is_number(&to) {
        return wire::twilio_error(
            400,
            21211,
            "to: give one of your sending numbers in E.164 (+ and 7 to 15 digits)",
        );
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return wire::twilio_error(400, 21617, "body: at most 1600 characters");
    }
    let config = sim.config();
    let Some(url) = config.inbound_url.clone() else {
        return wire::twilio_error(
            409,
            20409,
            "no inbound URL: start the simulator with --inbound-url (Herald's /webhooks/twilio/inbound)",
        );
    };
    let signed_url = config.inbound_signed_url.clone().unwrap_or(url.clone());
    let sid = format!("SM{:032x}", rand::random::<u128>());
    let params = webhook_params(&config.account_sid, &sid, &from, &to, &body);
    let signature = signature::compute(&config.auth_token, &signed_url, &params);
    let client = match reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("TwilioProxy/1.1 (herald simulator)")
        .build()
    {
        Ok(c) => c,
        Err(_) => return wire::twilio_error(500, 20500, "Internal Server Error"),
    };
    let sent = client
        .post(&url)
        .header(signature::HEADER, signature)
        .form(&params)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(url = %url, error = %e, "simulator: the inbound webhook failed");
            return wire::twilio_error(
                502,
                20502,
                &format!("could not reach {url}: is Herald running there?"),
            );
        }
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut answer = Vec::new();
    while answer.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
            _ => break,
        }
    }
    answer.truncate(MAX_ANSWER_BYTES);
    tracing::info!(sid = %sid, from = %from, to = %to, status, "simulator: delivered an inbound SMS");
    wire::json(
        StatusCode::OK,
        &InboundAnswer {
            message_sid: sid,
            status,
            content_type,
            twiml: String::from_utf8_lossy(&answer).into_owned(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_params() {
        assert!(is_number("+447700900123"));
        assert!(is_number("12345"));
        assert!(!is_number("447700900123"));
        assert!(!is_number("+44 7700"));
        let p = webhook_params("AC1", "SM1", "+1", "+2", "hi");
        let names: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(p.contains(&("SmsStatus".into(), "received".into())));
        assert!(p.contains(&("NumSegments".into(), "1".into())));
    }
}
