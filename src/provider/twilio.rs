//! Twilio Programmable Messaging REST client: send, fetch and list Messages, with every send outcome classified for the engine.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

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

/// Connection settings for one Twilio account; `password` is never printed by `Debug`.
#[derive(Clone)]
pub struct TwilioConfig {
    /// API origin, `https://api.twilio.com` in production; tests point it at a local fake.
    pub base_url: String,
    /// The account whose Messages are used (`AC…`); it goes in every path, even with API keys.
    pub account_sid: String,
    /// Basic-auth user: the account SID, or an API key SID (`SK…`).
    pub username: String,
    /// Basic-auth password: the auth token, or the API key secret. Never logged or printed.
    pub password: String,
    /// Whole-request timeout for every call.
    pub timeout: Duration,
}

impl TwilioConfig {
    /// Settings for authenticating with the account SID and auth token against production.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        let account_sid = account_sid.into();
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            username: account_sid.clone(),
            account_sid,
            password: auth_token.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A Twilio REST client; cheap to clone, all clones share one connection pool.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    /// `{base}/2010-04-01/Accounts/{AccountSid}`, with no trailing slash.
    account_url: String,
    /// The origin (plus any path prefix) that `next_page_uri` values are relative to.
    base_url: String,
    username: String,
    password: String,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("account_url", &self.account_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One outbound SMS to create; `status_callback` overrides any service-level callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRequest<'a> {
    /// Recipient, E.164 (`+4477…`) or a channel address.
    pub to: &'a str,
    /// Sender: a Twilio number, short code or alphanumeric ID owned by the account.
    pub from: &'a str,
    /// Text, at most 1,600 characters.
    pub body: &'a str,
    /// Where Twilio posts status changes for this message.
    pub status_callback: Option<&'a str>,
}

/// A Message resource as Twilio returns it (create, fetch, list); every field but `sid` and
/// `status` may be null, and numbers Twilio sends as strings are parsed leniently.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// `SM…`/`MM…`, the key status callbacks refer to.
    pub sid: String,
    /// `queued`, `sent`, `delivered`, `failed`, … (kept as text: Twilio adds values).
    pub status: String,
    /// Recipient.
    #[serde(default)]
    pub to: Option<String>,
    /// Sender (null with a Messaging Service until a sender is chosen).
    #[serde(default)]
    pub from: Option<String>,
    /// Text as Twilio stored it.
    #[serde(default)]
    pub body: Option<String>,
    /// Segments billed; Twilio sends a string (`"1"`), `"0"` before a service picks a sender.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Media attachments; a string on the wire.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_media: Option<u32>,
    /// Set on failed/undelivered messages (30003, 30007, …).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub error_code: Option<i64>,
    /// Twilio's text for `error_code`.
    #[serde(default)]
    pub error_message: Option<String>,
    /// RFC 2822 text, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`; see [`Message::date_created_at`].
    #[serde(default)]
    pub date_created: Option<String>,
    /// RFC 2822 text; see [`Message::date_sent_at`].
    #[serde(default)]
    pub date_sent: Option<String>,
    /// RFC 2822 text.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// `outbound-api`, `inbound`, …; reconciliation only wants `outbound-api`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The account that owns the message.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// The Messaging Service used, if any.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Cost as a decimal string (negative), often null at create.
    #[serde(default)]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// The resource's own path.
    #[serde(default)]
    pub uri: Option<String>,
}

impl Message {
    /// `date_created` parsed, for matching a message to a send attempt when reconciling.
    pub fn date_created_at(&self) -> Option<OffsetDateTime> {
        parse_rfc2822(self.date_created.as_deref())
    }

    /// `date_sent` parsed.
    pub fn date_sent_at(&self) -> Option<OffsetDateTime> {
        parse_rfc2822(self.date_sent.as_deref())
    }
}

fn parse_rfc2822(text: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text?.trim(), &Rfc2822).ok()
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
const CONFIG_CODES: &[i64] = &[
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
    fn from_status(http_status: u16, text: Option<String>) -> Self {
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
    fn from_body(http_status: u16, body: &[u8]) -> Self {
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

/// Filters for [`TwilioClient::list`] (Twilio's `To`, `From`, `DateSent`, `DateSent>`,
/// `DateSent<` query parameters; dates are UTC days, the bounds inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter<'a> {
    /// Only messages to this number.
    pub to: Option<&'a str>,
    /// Only messages from this sender.
    pub from: Option<&'a str>,
    /// Only messages sent on this UTC day (`DateSent`).
    pub date_sent: Option<time::Date>,
    /// Only messages sent on or after this UTC day (`DateSent>`).
    pub date_sent_after: Option<time::Date>,
    /// Only messages sent on or before this UTC day (`DateSent<`).
    pub date_sent_before: Option<time::Date>,
    /// Messages per page, 1–1000 (Twilio's default is 50).
    pub page_size: u32,
    /// Pages to follow at most; more matching pages yield [`TwilioError::PageLimit`].
    pub max_pages: u32,
}

impl Default for ListFilter<'_> {
    fn default() -> Self {
        Self {
            to: None,
            from: None,
            date_sent: None,
            date_sent_after: None,
            date_sent_before: None,
            page_size: 100,
            max_pages: 20,
        }
    }
}

#[derive(Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

impl TwilioClient {
    /// Validates the settings and builds the pooled HTTP client (no network traffic).
    pub fn new(cfg: TwilioConfig) -> Result<TwilioClient, TwilioError> {
        let base_url = cfg.base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| TwilioError::InvalidConfig(format!("base_url is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(TwilioError::InvalidConfig(
                "base_url must be an http(s) URL with a host".into(),
            ));
        }
        // Credentials belong in username/password: a URL with userinfo would end up in logs.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(TwilioError::InvalidConfig(
                "base_url must not contain credentials".into(),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(TwilioError::InvalidConfig(
                "base_url must not have a query or fragment".into(),
            ));
        }
        if !is_sid(&cfg.account_sid) {
            return Err(TwilioError::InvalidConfig(
                "account_sid must be non-empty ASCII letters and digits (AC…)".into(),
            ));
        }
        if cfg.username.is_empty() || cfg.username.contains(':') {
            return Err(TwilioError::InvalidConfig(
                "username must be non-empty and contain no ':'".into(),
            ));
        }
        if cfg.password.is_empty() {
            return Err(TwilioError::InvalidConfig("password is empty".into()));
        }
        if cfg.timeout.is_zero() {
            return Err(TwilioError::InvalidConfig(
                "timeout must be positive".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(CONNECT_TIMEOUT_CAP))
            // Twilio never redirects the API; following one would turn POST into GET.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TwilioError::Client)?;
        Ok(TwilioClient {
            http,
            account_url: format!("{base_url}{API_PREFIX}/Accounts/{}", cfg.account_sid),
            base_url,
            username: cfg.username,
            password: cfg.password,
        })
    }

    /// Creates one message: `POST …/Messages.json` with form fields To, From, Body and
    /// StatusCallback. Never errors: every failure is classified into a [`SendOutcome`].
    pub async fn send(&self, req: &SendRequest<'_>) -> SendOutcome {
        let mut form: Vec<(&str, &str)> =
            vec![("To", req.to), ("From", req.from), ("Body", req.body)];
        if let Some(callback) = req.status_callback {
            form.push(("StatusCallback", callback));
        }
        let url = format!("{}/Messages.json", self.account_url);
        let result = self
            .http
            .post(&url)
            .basic_auth(&self.username, Some(&self.password))
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await;
        let outcome = match result {
            Err(err) => classify_transport_error(&err),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = parse_retry_after(resp.headers());
                match read_body(resp).await {
                    Ok(body) => classify_response(status, retry_after, &body),
                    Err(err) => classify_unreadable_body(status, retry_after, &err),
                }
            }
        };
        log_outcome(&outcome);
        outcome
    }

    /// Fetches one message by SID (`GET …/Messages/{Sid}.json`), to reconcile a message whose
    /// terminal callback never came.
    pub async fn fetch(&self, sid: &str) -> Result<Message, TwilioError> {
        if !is_sid(sid) {
            return Err(TwilioError::InvalidArgument(
                "message SID must be ASCII letters and digits".into(),
            ));
        }
        let url = format!("{}/Messages/{sid}.json", self.account_url);
        self.get_json(self.http.get(&url)).await
    }

    /// Lists messages matching `filter` (`GET …/Messages.json?To=…&From=…&DateSent>=…`),
    /// following `next_page_uri` up to `filter.max_pages` pages. Used to find out whether an
    /// ambiguous send created a message; an incomplete listing is an error, not a short list.
    pub async fn list(&self, filter: &ListFilter<'_>) -> Result<Vec<Message>, TwilioError> {
        if !(1..=1000).contains(&filter.page_size) {
            return Err(TwilioError::InvalidArgument(
                "page_size must be between 1 and 1000".into(),
            ));
        }
        if filter.max_pages == 0 {
            return Err(TwilioError::InvalidArgument(
                "max_pages must be at least 1".into(),
            ));
        }
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(to) = filter.to {
            query.push(("To", to.to_owned()));
        }
        if let Some(from) = filter.from {
            query.push(("From", from.to_owned()));
        }
        for (name, date) in [
            ("DateSent", filter.date_sent),
            ("DateSent>", filter.date_sent_after),
            ("DateSent<", filter.date_sent_before),
        ] {
            if let Some(date) = date {
                query.push((name, iso_date(date)));
            }
        }
        query.push(("PageSize", filter.page_size.to_string()));

        let first = format!("{}/Messages.json", self.account_url);
        let mut page: MessagePage = self.get_json(self.http.get(&first).query(&query)).await?;
        let mut messages = std::mem::take(&mut page.messages);
        let mut pages = 1u32;
        while let Some(next) = page.next_page_uri.take().filter(|u| !u.is_empty()) {
            if pages >= filter.max_pages {
                return Err(TwilioError::PageLimit {
                    max_pages: filter.max_pages,
                });
            }
            // Only follow paths on the same API, so credentials never go to another host.
            if !next.starts_with(&format!("{API_PREFIX}/")) {
                return Err(TwilioError::Decode {
                    http_status: 200,
                    detail: "next_page_uri is not an API path".into(),
                });
            }
            let url = format!("{}{next}", self.base_url);
            page = self.get_json(self.http.get(&url)).await?;
            messages.append(&mut page.messages);
            pages += 1;
        }
        Ok(messages)
    }

    /// Sends an authenticated GET and decodes a 2xx JSON body, mapping everything else to errors.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, TwilioError> {
        let resp = request
            .basic_auth(&self.username, Some(&self.password))
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(TwilioError::Transport)?;
        let status = resp.status().as_u16();
        let body = read_body(resp).await.map_err(TwilioError::Transport)?;
        if !(200..300).contains(&status) {
            let error = TwilioApiError::from_body(status, &body);
            tracing::debug!(http_status = status, code = ?error.code, "twilio GET failed");
            return Err(TwilioError::Api {
                http_status: status,
                error,
            });
        }
        serde_json::from_slice(&body).map_err(|e| TwilioError::Decode {
            http_status: status,
            detail: e.to_string(),
        })
    }
}

/// A SID goes into a URL path, so it must be plain ASCII letters and digits.
fn is_sid(sid: &str) -> bool {
    !sid.is_empty() && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn iso_date(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Reads a response body up to [`MAX_BODY_BYTES`]; longer bodies are truncated (they will then
/// fail to parse, which each caller already handles).
async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY_BYTES.saturating_sub(body.len());
        body.extend(chunk.iter().take(room));
        if body.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(body)
}

/// A request that failed without any response: retryable only if it never left this machine.
fn classify_transport_error(err: &reqwest::Error) -> SendOutcome {
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
fn classify_unreadable_body(
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
fn classify_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> SendOutcome {
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

fn log_outcome(outcome: &SendOutcome) {
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
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
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

fn value_to_i64(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Accepts a number, a numeric string or null; anything else becomes `None` rather than failing
/// the whole Message, because Twilio documents these fields as strings and may change them.
fn lenient_i64<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(de)?;
    Ok(value.as_ref().and_then(value_to_i64))
}

fn lenient_u32<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_i64(de)?.and_then(|n| u32::try_from(n).ok()))
}

fn lenient_u16<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u16>, D::Error> {
    Ok(lenient_i64(de)?.and_then(|n| u16::try_from(n).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, RawQuery, State};
    use axum::http::{HeaderMap as AxHeaderMap, StatusCode as AxStatus, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "test-auth-token";

    /// One request as the fake Twilio saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        query: Option<String>,
        content_type: Option<String>,
        authorization: Option<String>,
        body: String,
    }

    #[derive(Clone, Default)]
    struct Fake {
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Fake {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().map(|s| s.clone()).unwrap_or_default()
        }
        fn record(&self, path: String, query: Option<String>, headers: &AxHeaderMap, body: &[u8]) {
            let h = |name: header::HeaderName| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let seen = Seen {
                path,
                query,
                content_type: h(header::CONTENT_TYPE),
                authorization: h(header::AUTHORIZATION),
                body: String::from_utf8_lossy(body).into_owned(),
            };
            if let Ok(mut all) = self.seen.lock() {
                all.push(seen);
            }
        }
    }

    /// Decodes `application/x-www-form-urlencoded` (test-only, keeps repeated keys).
    fn form_decode(raw: &str) -> Vec<(String, String)> {
        fn dec(s: &str) -> String {
            let bytes = s.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                        match u8::from_str_radix(hex, 16) {
                            Ok(b) => {
                                out.push(b);
                                i += 2;
                            }
                            Err(_) => out.push(b'%'),
                        }
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        raw.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (dec(k), dec(v))
            })
            .collect()
    }

    fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(status: u16, body: serde_json::Value) -> Response {
        let status = AxStatus::from_u16(status).unwrap_or(AxStatus::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }

    fn twilio_error(status: u16, code: i64, message: &str) -> Response {
        json(
            status,
            serde_json::json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status,
            }),
        )
    }

    fn message_json(
        sid: &str,
        to: &str,
        from: &str,
        body: &str,
        date_sent: &str,
    ) -> serde_json::Value {
        serde_json::json!({
            "account_sid": SID, "api_version": "2010-04-01", "body": body,
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": date_sent,
            "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api",
            "error_code": null, "error_message": null, "from": from, "num_media": "0",
            "num_segments": "1", "price": null, "price_unit": null,
            "messaging_service_sid": null, "sid": sid, "status": "queued",
            "subresource_uris": {"media": "/x"}, "to": to,
            "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json"),
        })
    }

    fn authorized(headers: &AxHeaderMap) -> bool {
        use base64::Engine as _;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
        );
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == want)
    }

    /// Create: answers like Twilio's test credentials do for its magic numbers, plus a few
    /// numbers of our own for the transport cases.
    async fn create(
        State(fake): State<Fake>,
        Path(account): Path<String>,
        headers: AxHeaderMap,
        body: Bytes,
    ) -> Response {
        fake.record(
            format!("/2010-04-01/Accounts/{account}/Messages.json"),
            None,
            &headers,
            &body,
        );
        if !authorized(&headers) {
            return twilio_error(401, 20003, "Authentication Error - invalid username");
        }
        if account != SID {
            return twilio_error(404, 20404, "The requested resource was not found");
        }
        let form = form_decode(&String::from_utf8_lossy(&body));
        let to = field(&form, "To").unwrap_or_default().to_owned();
        match to.as_str() {
            "+15005550001" => twilio_error(
                400,
                21211,
                "The 'To' number +15005550001 is not a valid phone number.",
            ),
            "+15005550002" => twilio_error(
                400,
                21612,
                "The 'To' phone number is not currently reachable.",
            ),
            "+15005550003" => twilio_error(
                400,
                21408,
                "Permission to send an SMS has not been enabled for the region.",
            ),
            "+15005550004" => twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
            "+15005550009" => twilio_error(400, 21614, "'To' number is not a valid mobile number"),
            "+15005550611" => twilio_error(
                400,
                21611,
                "This 'From' number has exceeded the maximum number of queued messages",
            ),
            "+15005550606" => twilio_error(
                400,
                21606,
                "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
            ),
            "+15005550429" => {
                let mut resp = twilio_error(429, 20429, "Too Many Requests");
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
                resp
            }
            "+15005550500" => twilio_error(500, 20500, "Internal Server Error"),
            "+15005550503" => (
                AxStatus::SERVICE_UNAVAILABLE,
                "<html>upstream unavailable</html>",
            )
                .into_response(),
            "+15005550418" => (
                AxStatus::BAD_REQUEST,
                "<html><body>Bad Request from a proxy</body></html>",
            )
                .into_response(),
            "+15005550400" => (AxStatus::BAD_REQUEST, "").into_response(),
            "+15005550200" => (AxStatus::CREATED, "not json").into_response(),
            "+15005550999" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                json(201, message_json("SMslow", &to, "", "", ""))
            }
            _ => {
                let from = field(&form, "From").unwrap_or_default();
                let text = field(&form, "Body").unwrap_or_default();
                json(
                    201,
                    message_json("SM0123456789abcdef0123456789abcdef", &to, from, text, ""),
                )
            }
        }
    }

    async fn fetch_one(
        State(fake): State<Fake>,
        Path((account, file)): Path<(String, String)>,
        headers: AxHeaderMap,
    ) -> Response {
        fake.record(
            format!("/2010-04-01/Accounts/{account}/Messages/{file}"),
            None,
            &headers,
            &[],
        );
        if !authorized(&headers) {
            return twilio_error(401, 20003, "Authentication Error");
        }
        match file.strip_suffix(".json") {
            Some("SM0000000000000000000000000000000a") => {
                let mut m = message_json(
                    "SM0000000000000000000000000000000a",
                    "+447111000001",
                    "+15005550006",
                    "Hi",
                    "Fri, 24 May 2019 17:44:50 +0000",
                );
                m["status"] = "undelivered".into();
                m["error_code"] = 30003.into();
                m["error_message"] = "Unreachable destination handset".into();
                m["num_segments"] = "3".into();
                json(200, m)
            }
            _ => twilio_error(404, 20404, "The requested resource was not found"),
        }
    }

    async fn list_page(
        State(fake): State<Fake>,
        Path(account): Path<String>,
        RawQuery(query): RawQuery,
        headers: AxHeaderMap,
    ) -> Response {
        let path = format!("/2010-04-01/Accounts/{account}/Messages.json");
        fake.record(path.clone(), query.clone(), &headers, &[]);
        if !authorized(&headers) {
            return twilio_error(401, 20003, "Authentication Error");
        }
        let params = form_decode(query.as_deref().unwrap_or_default());
        let page: u32 = field(&params, "Page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let to = field(&params, "To").unwrap_or("+447111000001").to_owned();
        // This recipient's history never ends, to exercise the page bound.
        let endless = to == "+15550000000";
        let msgs: Vec<_> = (0..2)
            .map(|i| {
                message_json(
                    &format!("SM{page:016}{i:016}"),
                    &to,
                    "+15005550006",
                    "Hello",
                    "Fri, 24 May 2019 17:44:50 +0000",
                )
            })
            .collect();
        let next = if page < 2 || endless {
            serde_json::Value::String(format!(
                "{path}?To={}&PageSize=2&Page={}&PageToken=PA{}",
                to.replace('+', "%2B"),
                page + 1,
                page + 1
            ))
        } else {
            serde_json::Value::Null
        };
        json(
            200,
            serde_json::json!({
                "messages": msgs, "next_page_uri": next, "page": page, "page_size": 2,
                "first_page_uri": path, "previous_page_uri": null, "start": page * 2, "end": page * 2 + 1,
                "uri": path,
            }),
        )
    }

    async fn spawn_fake() -> (String, Fake) {
        let fake = Fake::default();
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create).get(list_page),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages/{file}",
                get(fetch_one),
            )
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}"), fake)
    }

    fn config(base_url: &str) -> TwilioConfig {
        TwilioConfig {
            base_url: base_url.to_owned(),
            timeout: Duration::from_secs(3),
            ..TwilioConfig::new(SID, TOKEN)
        }
    }

    async fn client() -> (TwilioClient, Fake) {
        let (base, fake) = spawn_fake().await;
        (TwilioClient::new(config(&base)).expect("client"), fake)
    }

    fn to(number: &str) -> SendRequest<'_> {
        SendRequest {
            to: number,
            from: "+15005550006",
            body: "Hello",
            status_callback: None,
        }
    }

    #[tokio::test]
    async fn send_posts_the_exact_form_with_basic_auth() {
        let (client, fake) = client().await;
        let req = SendRequest {
            to: "+447111000001",
            from: "+15005550006",
            body: "Café 👍 & 100% \"quoted\" + more",
            status_callback: Some("https://herald.example/webhooks/twilio/status?campaign=42&r=7"),
        };
        let outcome = client.send(&req).await;
        let SendOutcome::Accepted(message) = outcome else {
            panic!("expected Accepted, got {outcome:?}");
        };
        assert_eq!(message.sid, "SM0123456789abcdef0123456789abcdef");
        assert_eq!(message.status, "queued");
        assert_eq!(message.num_segments, Some(1));
        assert_eq!(message.num_media, Some(0));
        assert_eq!(message.error_code, None);
        assert_eq!(message.to.as_deref(), Some("+447111000001"));
        assert_eq!(message.body.as_deref(), Some(req.body));
        assert!(message.date_created_at().is_some());

        let seen = fake.seen();
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!(s.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
        assert_eq!(
            s.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            s.body,
            "To=%2B447111000001&From=%2B15005550006\
             &Body=Caf%C3%A9+%F0%9F%91%8D+%26+100%25+%22quoted%22+%2B+more\
             &StatusCallback=https%3A%2F%2Fherald.example%2Fwebhooks%2Ftwilio%2Fstatus%3Fcampaign%3D42%26r%3D7"
        );
        let form = form_decode(&s.body);
        assert_eq!(field(&form, "Body"), Some(req.body));
        // base64("AC0123456789abcdef0123456789abcdef:test-auth-token")
        assert_eq!(
            s.authorization.as_deref(),
            Some("Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0ZXN0LWF1dGgtdG9rZW4=")
        );
    }

    #[tokio::test]
    async fn send_without_callback_omits_the_field() {
        let (client, fake) = client().await;
        let outcome = client.send(&to("+447111000001")).await;
        assert_eq!(outcome.kind(), "accepted");
        assert_eq!(
            fake.seen()[0].body,
            "To=%2B447111000001&From=%2B15005550006&Body=Hello"
        );
    }

    fn expect_rejected(outcome: SendOutcome) -> (u16, TwilioApiError) {
        match outcome {
            SendOutcome::Rejected { http_status, error } => (http_status, error),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn invalid_number_is_rejected_with_code_and_message() {
        let (client, _) = client().await;
        let (status, error) = expect_rejected(client.send(&to("+15005550001")).await);
        assert_eq!(status, 400);
        assert_eq!(error.code, Some(21211));
        assert_eq!(
            error.message.as_deref(),
            Some("The 'To' number +15005550001 is not a valid phone number.")
        );
        assert_eq!(
            error.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/21211")
        );
        assert_eq!(error.status, Some(400));
        assert!(!error.is_opt_out());
    }

    #[tokio::test]
    async fn opted_out_recipient_is_rejected_and_flagged() {
        let (client, _) = client().await;
        let (status, error) = expect_rejected(client.send(&to("+15005550004")).await);
        assert_eq!(status, 400);
        assert_eq!(error.code, Some(21610));
        assert!(error.is_opt_out());
    }

    #[tokio::test]
    async fn other_recipient_errors_are_rejected() {
        let (client, _) = client().await;
        for (number, code) in [
            ("+15005550002", 21612),
            ("+15005550003", 21408),
            ("+15005550009", 21614),
        ] {
            let (status, error) = expect_rejected(client.send(&to(number)).await);
            assert_eq!((status, error.code), (400, Some(code)), "{number}");
        }
    }

    #[tokio::test]
    async fn bad_credentials_are_config() {
        let (base, _) = spawn_fake().await;
        let cfg = TwilioConfig {
            password: "wrong".into(),
            ..config(&base)
        };
        let client = TwilioClient::new(cfg).expect("client");
        match client.send(&to("+447111000001")).await {
            SendOutcome::Config { http_status, error } => {
                assert_eq!(http_status, 401);
                assert_eq!(error.code, Some(20003));
            }
            other => panic!("expected Config, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_account_and_bad_sender_are_config() {
        let (base, _) = spawn_fake().await;
        let cfg = TwilioConfig {
            account_sid: "AC00000000000000000000000000000000".into(),
            ..config(&base)
        };
        let client = TwilioClient::new(cfg).expect("client");
        match client.send(&to("+447111000001")).await {
            SendOutcome::Config { http_status, error } => {
                assert_eq!((http_status, error.code), (404, Some(20404)));
            }
            other => panic!("expected Config, got {other:?}"),
        }
        let (client, _) = self::client().await;
        assert_eq!(client.send(&to("+15005550606")).await.kind(), "config");
    }

    #[tokio::test]
    async fn too_many_requests_is_retryable_with_retry_after() {
        let (client, _) = client().await;
        match client.send(&to("+15005550429")).await {
            SendOutcome::Retryable {
                http_status,
                error,
                retry_after,
                ..
            } => {
                assert_eq!(http_status, Some(429));
                assert_eq!(error.and_then(|e| e.code), Some(20429));
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("expected Retryable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn sender_queue_full_is_retryable_with_long_backoff() {
        let (client, _) = client().await;
        match client.send(&to("+15005550611")).await {
            SendOutcome::Retryable {
                http_status,
                error,
                retry_after,
                ..
            } => {
                assert_eq!(http_status, Some(400));
                assert!(error.is_some_and(|e| e.is_sender_queue_full()));
                assert_eq!(retry_after, Some(SENDER_QUEUE_FULL_RETRY_AFTER));
            }
            other => panic!("expected Retryable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn server_errors_are_ambiguous() {
        let (client, _) = client().await;
        for (number, status) in [("+15005550500", 500), ("+15005550503", 503)] {
            match client.send(&to(number)).await {
                SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, Some(status)),
                other => panic!("expected Ambiguous for {status}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn unparseable_success_body_is_ambiguous() {
        let (client, _) = client().await;
        match client.send(&to("+15005550200")).await {
            SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, Some(201)),
            other => panic!("expected Ambiguous, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn timeout_after_sending_is_ambiguous() {
        let (base, fake) = spawn_fake().await;
        let cfg = TwilioConfig {
            timeout: Duration::from_millis(300),
            ..config(&base)
        };
        let client = TwilioClient::new(cfg).expect("client");
        let started = std::time::Instant::now();
        match client.send(&to("+15005550999")).await {
            SendOutcome::Ambiguous {
                http_status,
                detail,
            } => {
                assert_eq!(http_status, None);
                assert!(detail.contains("timed out"), "{detail}");
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(3));
        // The request did reach the server: that is exactly why it is ambiguous.
        assert_eq!(fake.seen().len(), 1);
    }

    #[tokio::test]
    async fn closed_port_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let client = TwilioClient::new(config(&format!("http://{addr}"))).expect("client");
        match client.send(&to("+447111000001")).await {
            SendOutcome::Retryable {
                http_status,
                error,
                detail,
                ..
            } => {
                assert_eq!(http_status, None);
                assert!(error.is_none());
                assert!(!detail.contains(TOKEN));
            }
            other => panic!("expected Retryable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn connection_dropped_mid_request_is_ambiguous() {
        // A server that reads the request and hangs up without answering.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                drop(socket);
            }
        });
        let client = TwilioClient::new(config(&format!("http://{addr}"))).expect("client");
        assert_eq!(client.send(&to("+447111000001")).await.kind(), "ambiguous");
    }

    #[tokio::test]
    async fn non_json_error_bodies_are_tolerated() {
        let (client, _) = client().await;
        let (status, error) = expect_rejected(client.send(&to("+15005550418")).await);
        assert_eq!(status, 400);
        assert_eq!(error.code, None);
        assert_eq!(error.status, Some(400));
        assert!(
            error
                .message
                .as_deref()
                .is_some_and(|m| m.contains("Bad Request from a proxy"))
        );

        let (status, error) = expect_rejected(client.send(&to("+15005550400")).await);
        assert_eq!(status, 400);
        assert_eq!(error.message.as_deref(), Some("Bad Request"));
    }

    #[tokio::test]
    async fn fetch_parses_a_message_and_reports_not_found() {
        let (client, fake) = client().await;
        let m = client
            .fetch("SM0000000000000000000000000000000a")
            .await
            .expect("fetch");
        assert_eq!(m.status, "undelivered");
        assert_eq!(m.error_code, Some(30003));
        assert_eq!(m.num_segments, Some(3));
        assert_eq!(
            m.date_sent_at(),
            Some(time::macros::datetime!(2019-05-24 17:44:50 UTC))
        );
        assert_eq!(
            fake.seen()[0].path,
            format!("/2010-04-01/Accounts/{SID}/Messages/SM0000000000000000000000000000000a.json")
        );
        let err = client
            .fetch("SMffffffffffffffffffffffffffffffff")
            .await
            .expect_err("404");
        assert!(err.is_not_found(), "{err:?}");
        assert!(!err.is_retryable());
        let err = client.fetch("../Calls").await.expect_err("bad sid");
        assert!(matches!(err, TwilioError::InvalidArgument(_)));
    }

    #[tokio::test]
    async fn list_sends_filters_and_follows_pages() {
        let (client, fake) = client().await;
        let filter = ListFilter {
            to: Some("+447111000001"),
            from: Some("+15005550006"),
            date_sent_after: Some(time::macros::date!(2026 - 11 - 27)),
            page_size: 2,
            ..ListFilter::default()
        };
        let messages = client.list(&filter).await.expect("list");
        assert_eq!(messages.len(), 6, "three pages of two");
        assert_eq!(messages[0].sid, format!("SM{:016}{:016}", 0, 0));
        assert_eq!(messages[5].sid, format!("SM{:016}{:016}", 2, 1));
        assert!(messages.iter().all(|m| m.num_segments == Some(1)));

        let seen = fake.seen();
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[0].query.as_deref(),
            Some("To=%2B447111000001&From=%2B15005550006&DateSent%3E=2026-11-27&PageSize=2")
        );
        let q = form_decode(seen[0].query.as_deref().unwrap_or_default());
        assert_eq!(field(&q, "DateSent>"), Some("2026-11-27"));
        assert!(
            seen[1]
                .query
                .as_deref()
                .is_some_and(|q| q.contains("PageToken=PA1"))
        );
        assert!(seen.iter().all(|s| s.authorization.is_some()));
    }

    #[tokio::test]
    async fn list_stops_at_the_page_bound() {
        let (client, fake) = client().await;
        let filter = ListFilter {
            to: Some("+15550000000"),
            page_size: 2,
            max_pages: 4,
            ..ListFilter::default()
        };
        let err = client.list(&filter).await.expect_err("endless paging");
        assert!(
            matches!(err, TwilioError::PageLimit { max_pages: 4 }),
            "{err:?}"
        );
        assert_eq!(fake.seen().len(), 4);
        let bad = ListFilter {
            page_size: 0,
            ..ListFilter::default()
        };
        assert!(matches!(
            client.list(&bad).await,
            Err(TwilioError::InvalidArgument(_))
        ));
    }

    #[test]
    fn classification_table() {
        let body = |code: i64, status: u16| {
            serde_json::json!({"code": code, "message": "m", "status": status}).to_string()
        };
        let kind = |status: u16, b: &str| classify_response(status, None, b.as_bytes()).kind();
        assert_eq!(kind(429, &body(20429, 429)), "retryable");
        assert_eq!(kind(429, ""), "retryable");
        assert_eq!(kind(400, &body(21611, 400)), "retryable");
        assert_eq!(kind(408, ""), "retryable");
        for status in [500, 502, 503, 504] {
            assert_eq!(kind(status, ""), "ambiguous");
        }
        assert_eq!(kind(201, "{}"), "ambiguous");
        assert_eq!(kind(401, ""), "config");
        assert_eq!(kind(401, &body(20003, 401)), "config");
        assert_eq!(kind(403, &body(20003, 403)), "config");
        assert_eq!(kind(404, ""), "config");
        assert_eq!(kind(400, &body(21606, 400)), "config");
        assert_eq!(kind(400, &body(21608, 400)), "config");
        assert_eq!(kind(302, ""), "config");
        for code in [
            21211, 21614, 21408, 21610, 21612, 21635, 21617, 21602, 99999,
        ] {
            assert_eq!(kind(400, &body(code, 400)), "rejected", "{code}");
        }
        assert_eq!(kind(403, ""), "rejected");
        assert_eq!(kind(400, "\u{0}\u{ff}garbage"), "rejected");
    }

    fn body_of(code: i64) -> String {
        serde_json::json!({"code": code, "message": "m", "status": 400}).to_string()
    }

    #[test]
    fn error_bodies_in_other_shapes() {
        let problem = br#"{"type":"https://www.twilio.com/docs/errors/21211","title":"Invalid To","status":400,"code":"21211","detail":"bad number"}"#;
        let e = TwilioApiError::from_body(400, problem);
        assert_eq!(e.code, Some(21211));
        assert_eq!(e.message.as_deref(), Some("bad number"));
        assert_eq!(
            e.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/21211")
        );
        let bulk = br#"{"errors":[{"code":21610,"message":"unsubscribed","infoUrl":"u"}]}"#;
        let e = TwilioApiError::from_body(400, bulk);
        assert!(e.is_opt_out());
        assert_eq!(e.status, Some(400));
        let e = TwilioApiError::from_body(400, br#"[1,2]"#);
        assert_eq!((e.code, e.status), (None, Some(400)));
        let long = "x".repeat(10_000);
        let e = TwilioApiError::from_body(400, long.as_bytes());
        assert_eq!(
            e.message.as_ref().map(|m| m.chars().count()),
            Some(MAX_ERROR_TEXT_CHARS)
        );
        assert!(e.to_string().starts_with("Twilio error: xxx"));
        let e = TwilioApiError::from_body(400, body_of(21211).as_bytes());
        assert_eq!(e.to_string(), "Twilio error 21211: m");
    }

    #[test]
    fn message_fields_are_lenient() {
        let m: Message = serde_json::from_str(
            r#"{"sid":"SM1","status":"sent","num_segments":"12","num_media":7,"error_code":"30007","extra":{"a":1}}"#,
        )
        .expect("parse");
        assert_eq!(
            (m.num_segments, m.num_media, m.error_code),
            (Some(12), Some(7), Some(30007))
        );
        let m: Message = serde_json::from_str(
            r#"{"sid":"SM1","status":"sent","num_segments":"lots","error_code":null,"date_sent":"garbage"}"#,
        )
        .expect("parse");
        assert_eq!(
            (m.num_segments, m.error_code, m.date_sent_at()),
            (None, None, None)
        );
        assert!(serde_json::from_str::<Message>(r#"{"status":"sent"}"#).is_err());
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "120".parse().expect("hv"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(120)));
        headers.insert(RETRY_AFTER, "99999999999999".parse().expect("hv"));
        assert_eq!(parse_retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("hv"),
        );
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
        let soon = OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let fmt = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        headers.insert(
            RETRY_AFTER,
            soon.format(&fmt).expect("fmt").parse().expect("hv"),
        );
        let got = parse_retry_after(&headers).expect("date parsed");
        assert!(
            got > Duration::from_secs(80) && got <= Duration::from_secs(90),
            "{got:?}"
        );
        headers.insert(RETRY_AFTER, "soon".parse().expect("hv"));
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn config_is_validated_and_never_prints_the_password() {
        let cfg = TwilioConfig::new(SID, "super-secret-token");
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("super-secret-token"), "{printed}");
        let client = TwilioClient::new(cfg.clone()).expect("client");
        assert!(!format!("{client:?}").contains("super-secret-token"));
        assert_eq!(
            client.account_url,
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}")
        );

        let bad = |f: fn(&mut TwilioConfig)| {
            let mut c = cfg.clone();
            f(&mut c);
            matches!(TwilioClient::new(c), Err(TwilioError::InvalidConfig(_)))
        };
        assert!(bad(|c| c.base_url = "api.twilio.com".into()));
        assert!(bad(|c| c.base_url = "ftp://api.twilio.com".into()));
        assert!(bad(|c| c.base_url = "https://api.twilio.com/?x=1".into()));
        assert!(bad(|c| c.base_url = "https://AC1:tok@api.twilio.com".into()));
        assert!(bad(|c| c.account_sid = "AC/../x".into()));
        assert!(bad(|c| c.account_sid = String::new()));
        assert!(bad(|c| c.username = "a:b".into()));
        assert!(bad(|c| c.password = String::new()));
        assert!(bad(|c| c.timeout = Duration::ZERO));
        // API key auth: username is the key SID, the account SID stays in the path.
        let mut api_key = cfg.clone();
        api_key.username = "SK0123456789abcdef0123456789abcdef".into();
        api_key.base_url = "https://api.twilio.com/".into();
        let client = TwilioClient::new(api_key).expect("api key client");
        assert_eq!(
            client.account_url,
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}")
        );
    }
}
