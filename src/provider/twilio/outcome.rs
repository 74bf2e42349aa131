//! Every way a create call can end, classified for the engine: accepted, retryable,
//! ambiguous, rejected or a configuration error.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::error::{CODE_TOO_MANY_REQUESTS, CONFIG_CODES, TwilioApiError};
use super::message::Message;
use super::{MAX_RETRY_AFTER, SENDER_QUEUE_FULL_RETRY_AFTER};

/// The outcome of one create call, classified for the engine.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per HTTP call; the engine matches on Accepted(Message) directly"
)]
pub enum SendOutcome {
    /// Twilio created the message; store `sid` to match status callbacks.
    Accepted(Message),
    /// Not processed (HTTP 429 / 20429, 21611 sender queue full, or a connection that failed
    /// before anything was written): safe to retry after backoff, honouring `retry_after`.
    Retryable {
        /// The HTTP status, if Twilio answered at all.
        http_status: Option<u16>,
        /// Twilio's error body, if it answered.
        error: Option<TwilioApiError>,
        /// Retry-After from the response, or our hint for 21611.
        retry_after: Option<Duration>,
        /// What happened, for logs (never contains credentials).
        detail: String,
    },
    /// The request may or may not have created a message (5xx, timeout after the request was
    /// sent, connection reset mid-way, unreadable 2xx body). Reconcile (list by To/From/DateSent)
    /// before resending.
    Ambiguous {
        /// The HTTP status, if a response head arrived.
        http_status: Option<u16>,
        /// What happened, for logs.
        detail: String,
    },
    /// Permanent failure for this recipient (21211, 21614, 21408, 21610, 21612, 21635, unknown
    /// 4xx): fail it with Twilio's code and message; 21610 also means record an opt-out.
    Rejected {
        /// The HTTP status (4xx).
        http_status: u16,
        /// Twilio's error body (or one built from the status).
        error: TwilioApiError,
    },
    /// The account/config is wrong (401 / 20003, 404 / 20404, bad From …): halt the campaign and
    /// alert, rather than failing recipients one by one.
    Config {
        /// The HTTP status.
        http_status: u16,
        /// Twilio's error body (or one built from the status).
        error: TwilioApiError,
    },
}

impl SendOutcome {
    /// A short stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SendOutcome::Accepted(_) => "accepted",
            SendOutcome::Retryable { .. } => "retryable",
            SendOutcome::Ambiguous { .. } => "ambiguous",
            SendOutcome::Rejected { .. } => "rejected",
            SendOutcome::Config { .. } => "config",
        }
    }
}

/// A request that failed without any response: retryable only if it never left this machine.
pub(super) fn classify_transport_error(err: &reqwest::Error) -> SendOutcome {
    // Display of a reqwest error carries the URL (account SID, no credentials) and the cause.
    let detail = error_chain(err);
    if err.is_connect() {
        SendOutcome::Retryable {
            http_status: None,
            error: None,
            retry_after: None,
            detail: format!("connection failed before the request was sent: {detail}"),
        }
    } else if err.is_builder() {
        // The request could not even be built, so nothing was sent.
        SendOutcome::Retryable {
            http_status: None,
            error: None,
            retry_after: None,
            detail: format!("request not built: {detail}"),
        }
    } else if err.is_timeout() {
        SendOutcome::Ambiguous {
            http_status: None,
            detail: format!("timed out after the request was sent: {detail}"),
        }
    } else {
        SendOutcome::Ambiguous {
            http_status: None,
            detail: format!("request failed after it was sent: {detail}"),
        }
    }
}

/// The status line arrived but the body did not: classify by status where the body is optional.
pub(super) fn classify_unreadable_body(
    status: u16,
    retry_after: Option<Duration>,
    err: &reqwest::Error,
) -> SendOutcome {
    let detail = format!("HTTP {status}, body unreadable: {}", error_chain(err));
    match status {
        // Twilio may have created the message; without the body we don't know its SID.
        200..=299 => SendOutcome::Ambiguous {
            http_status: Some(status),
            detail,
        },
        _ => {
            let mut outcome = classify_response(status, retry_after, &[]);
            if let SendOutcome::Retryable { detail: d, .. }
            | SendOutcome::Ambiguous { detail: d, .. } = &mut outcome
            {
                *d = detail;
            }
            outcome
        }
    }
}

/// The whole classification table for a create response with status `status` and body `body`.
pub(super) fn classify_response(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> SendOutcome {
    if (200..300).contains(&status) {
        return match serde_json::from_slice::<Message>(body) {
            Ok(message) => SendOutcome::Accepted(message),
            Err(e) => SendOutcome::Ambiguous {
                http_status: Some(status),
                detail: format!("HTTP {status} but the body is not a Message: {e}"),
            },
        };
    }
    if status >= 500 {
        return SendOutcome::Ambiguous {
            http_status: Some(status),
            detail: format!("HTTP {status}: {}", TwilioApiError::from_body(status, body)),
        };
    }
    let error = TwilioApiError::from_body(status, body);
    if status == 429 || error.code == Some(CODE_TOO_MANY_REQUESTS) {
        return SendOutcome::Retryable {
            http_status: Some(status),
            detail: format!("HTTP {status}, not processed: {error}"),
            error: Some(error),
            retry_after,
        };
    }
    if error.is_sender_queue_full() {
        return SendOutcome::Retryable {
            http_status: Some(status),
            detail: format!("HTTP {status}, sender queue full: {error}"),
            error: Some(error),
            retry_after: Some(retry_after.unwrap_or(SENDER_QUEUE_FULL_RETRY_AFTER)),
        };
    }
    if status == 408 {
        // The server gave up waiting for the request, so it never processed it.
        return SendOutcome::Retryable {
            http_status: Some(status),
            detail: format!("HTTP 408, request not received in full: {error}"),
            error: Some(error),
            retry_after,
        };
    }
    let is_config = matches!(status, 401 | 404)
        || !(400..500).contains(&status)
        || error.code.is_some_and(|c| CONFIG_CODES.contains(&c));
    if is_config {
        SendOutcome::Config {
            http_status: status,
            error,
        }
    } else {
        SendOutcome::Rejected {
            http_status: status,
            error,
        }
    }
}

pub(super) fn log_outcome(outcome: &SendOutcome) {
    match outcome {
        SendOutcome::Accepted(message) => {
            tracing::debug!(sid = %message.sid, status = %message.status, "twilio accepted message");
        }
        SendOutcome::Retryable {
            http_status,
            error,
            retry_after,
            detail,
        } => tracing::info!(
            http_status = ?http_status,
            code = ?error.as_ref().and_then(|e| e.code),
            retry_after_ms = ?retry_after.map(|d| d.as_millis()),
            detail = %detail,
            "twilio send retryable"
        ),
        SendOutcome::Ambiguous {
            http_status,
            detail,
        } => tracing::warn!(http_status = ?http_status, detail = %detail, "twilio send ambiguous"),
        SendOutcome::Rejected { http_status, error } => tracing::info!(
            http_status,
            code = ?error.code,
            "twilio rejected message"
        ),
        SendOutcome::Config { http_status, error } => tracing::error!(
            http_status,
            code = ?error.code,
            message = ?error.message,
            "twilio configuration error"
        ),
    }
}

/// The error and its causes on one line (reqwest's Display alone hides the root cause).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Retry-After as delay-seconds or an HTTP-date, capped at [`MAX_RETRY_AFTER`].
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let http_date = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &http_date)
        .map(time::PrimitiveDateTime::assume_utc)
        .or_else(|_| OffsetDateTime::parse(value, &Rfc2822))
        .ok()?;
    let wait = at - OffsetDateTime::now_utc();
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}
