//! The Twilio REST client: configuration, send, fetch and list over one pooled connection.

use std::fmt;
use std::time::Duration;

use reqwest::header::ACCEPT;

use super::error::{TwilioApiError, TwilioError};
use super::message::{ListFilter, Message, MessagePage, SendRequest};
use super::outcome::{
    SendOutcome, classify_response, classify_transport_error, classify_unreadable_body,
    log_outcome, parse_retry_after,
};
use super::{API_PREFIX, CONNECT_TIMEOUT_CAP, DEFAULT_BASE_URL, DEFAULT_TIMEOUT, MAX_BODY_BYTES};

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
    pub(super) http: reqwest::Client,
    /// `{base}/2010-04-01/Accounts/{AccountSid}`, with no trailing slash.
    pub(super) account_url: String,
    /// The origin (plus any path prefix) that `next_page_uri` values are relative to.
    pub(super) base_url: String,
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
    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
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
pub(super) fn is_sid(sid: &str) -> bool {
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
