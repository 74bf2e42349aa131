//! Twilio Programmable Messaging REST client: send, fetch and list Messages, with every send outcome classified for the engine.

mod client;
mod error;
mod message;
mod numbers;
mod outcome;
pub mod webhook;

use std::time::Duration;

pub use client::{TwilioClient, TwilioConfig};
pub use error::{
    CODE_OPTED_OUT, CODE_SENDER_QUEUE_FULL, CODE_TOO_MANY_REQUESTS, TwilioApiError, TwilioError,
};
pub use message::{ListFilter, Message, SendRequest};
pub use numbers::IncomingNumber;
pub use outcome::SendOutcome;

/// Twilio's production API host; tests and proxies override it through [`TwilioConfig::base_url`].
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Default whole-request timeout: long enough for Twilio's normal latency, short enough that a
/// stuck request turns into an [`SendOutcome::Ambiguous`] the engine can reconcile.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Backoff hint for 21611 (this sender's queue at Twilio is full): the queue drains at the
/// sender's rate, so retrying sooner than minutes only produces more 21611s.
pub const SENDER_QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The API version prefix every Messages path starts with.
const API_PREFIX: &str = "/2010-04-01";

/// Connection establishment cap; a connect error is retryable because nothing was written.
const CONNECT_TIMEOUT_CAP: Duration = Duration::from_secs(5);

/// Cap on any response body we read, so a broken proxy cannot exhaust memory.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of a non-JSON error body is kept as the error message.
const MAX_ERROR_TEXT_CHARS: usize = 300;

/// Cap on a Retry-After we honour, so a bogus header cannot park a sender forever.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

#[cfg(test)]
mod tests;
