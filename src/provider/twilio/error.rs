//! Errors of the Twilio client and Twilio's own error bodies, read in every shape Twilio
//! and proxies in front of it answer with.

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;

use super::MAX_ERROR_TEXT_CHARS;
use super::message::{lenient_i64, lenient_u16, value_to_i64};
#[cfg(doc)]
use super::outcome::SendOutcome;

/// Errors of the client itself and of fetch/list (send never fails: it returns a [`SendOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// The configuration cannot work (bad base URL, empty credentials, …); fix it and restart.
    #[error("invalid Twilio configuration: {0}")]
    InvalidConfig(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// An argument would produce a malformed request (e.g. a SID with path characters).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The request did not complete (connect error, timeout, reset); GETs are safe to retry.
    #[error("Twilio request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// Twilio answered with a non-success status and (possibly synthesised) error body.
    #[error("Twilio returned HTTP {http_status}: {error}")]
    Api {
        /// The HTTP status Twilio answered with.
        http_status: u16,
        /// Twilio's error body, or one built from the status when the body was not JSON.
        error: TwilioApiError,
    },
    /// A success response whose body is not what Twilio documents.
    #[error("unexpected Twilio response (HTTP {http_status}): {detail}")]
    Decode {
        /// The HTTP status of the response.
        http_status: u16,
        /// What was wrong with it.
        detail: String,
    },
    /// `list` stopped at its page bound with pages left, so the result is incomplete and must not
    /// be read as "no such message"; narrow the filter or raise the bound.
    #[error("more than {max_pages} pages of messages match; narrow the filter")]
    PageLimit {
        /// The bound that was reached.
        max_pages: u32,
    },
}

impl TwilioError {
    /// Whether retrying the same fetch/list later can help (transport failures, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            TwilioError::Transport(_) => true,
            TwilioError::Api { http_status, .. } => *http_status == 429 || *http_status >= 500,
            _ => false,
        }
    }

    /// Whether Twilio said the resource does not exist (HTTP 404 / 20404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            TwilioError::Api {
                http_status: 404,
                ..
            }
        )
    }
}

/// Twilio's error body (`code`, `message`, `more_info`, `status`); built from the HTTP status
/// when the body is missing or not JSON, so callers always have something to record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TwilioApiError {
    /// Twilio error code (21211, 21610, 20429, …).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    /// Human-readable explanation.
    #[serde(default)]
    pub message: Option<String>,
    /// Link to Twilio's page for the code.
    #[serde(default)]
    pub more_info: Option<String>,
    /// HTTP status as Twilio repeats it in the body.
    #[serde(default, deserialize_with = "lenient_u16")]
    pub status: Option<u16>,
}

/// Code 21610: the recipient replied STOP to this sender.
pub const CODE_OPTED_OUT: i64 = 21610;
/// Code 21611: this sender's queue at Twilio is full.
pub const CODE_SENDER_QUEUE_FULL: i64 = 21611;
/// Code 20429: too many concurrent requests (not processed).
pub const CODE_TOO_MANY_REQUESTS: i64 = 20429;

/// Codes meaning the account or campaign configuration is wrong, so every recipient would fail
/// the same way: halt instead of failing them one by one.
pub(super) const CONFIG_CODES: &[i64] = &[
    20003, // authentication failed
    20005, // account not active
    20008, // resource not accessible with test credentials
    20404, // resource not found (wrong AccountSid / URL)
    21212, // invalid From number
    21603, // From missing
    21606, // From is not a valid message-capable number for this account
    21608, // trial account: To not verified
    21659, // From is not a Twilio number
    21660, // From does not belong to this account
];

impl TwilioApiError {
    /// Whether the recipient has opted out (21610): record the opt-out, never retry until START.
    pub fn is_opt_out(&self) -> bool {
        self.code == Some(CODE_OPTED_OUT)
    }

    /// Whether the sender's queue is full (21611): pause this sender, retry later.
    pub fn is_sender_queue_full(&self) -> bool {
        self.code == Some(CODE_SENDER_QUEUE_FULL)
    }

    /// Builds the error for a response whose body is not Twilio JSON (proxy pages, empty bodies).
    pub(super) fn from_status(http_status: u16, text: Option<String>) -> Self {
        Self {
            code: None,
            message: text.or_else(|| {
                StatusCode::from_u16(http_status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(str::to_owned)
            }),
            more_info: None,
            status: Some(http_status),
        }
    }

    /// Reads Twilio's 2010 shape, RFC 9457 problem details, or the `{"errors":[…]}` shape,
    /// falling back to the status and a snippet of the text.
    pub(super) fn from_body(http_status: u16, body: &[u8]) -> Self {
        let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
        let object = parsed.as_ref().and_then(|v| match v.get("errors") {
            Some(serde_json::Value::Array(items)) if v.get("code").is_none() => items.first(),
            _ => Some(v),
        });
        let Some(object) = object.and_then(serde_json::Value::as_object) else {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let snippet = (!text.is_empty())
                .then(|| text.chars().take(MAX_ERROR_TEXT_CHARS).collect::<String>());
            return Self::from_status(http_status, snippet);
        };
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| object.get(*k).and_then(serde_json::Value::as_str))
                .map(str::to_owned)
        };
        Self {
            code: object.get("code").and_then(value_to_i64),
            message: text(&["message", "detail", "title"]),
            more_info: text(&["more_info", "infoUrl", "type"]),
            status: object
                .get("status")
                .and_then(value_to_i64)
                .and_then(|s| u16::try_from(s).ok())
                .or(Some(http_status)),
        }
    }
}

impl fmt::Display for TwilioApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "Twilio error {code}")?,
            None => write!(f, "Twilio error")?,
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}
