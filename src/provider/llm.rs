//! The agent's model: an OpenAI-compatible `POST …/v1/chat/completions` endpoint (OpenAI,
//! vLLM, llama.cpp server, Ollama, …), called with one pooled client.
//!
//! Why so small: Herald needs one non-streaming completion per reply. Everything about what
//! is asked lives in `domain::reply`; this module only speaks the wire format, bounds the
//! time it may take, and keeps the API key out of every log line and error.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::reply::ChatMessage;

/// Default whole-request timeout of a completion.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most tokens asked for per answer: an SMS is at most 1,600 characters.
const MAX_TOKENS: u32 = 400;
/// Longest piece of an error body kept for logs.
const ERROR_SNIPPET_CHARS: usize = 300;

/// Where the model is and how to call it.
#[derive(Clone)]
pub struct LlmConfig {
    /// The server's base URL: `https://api.openai.com/v1`, `http://127.0.0.1:11434` (Ollama),
    /// `http://127.0.0.1:8000/v1` (vLLM), … (see [`endpoint_url`]).
    pub base_url: String,
    /// The model name the server knows (`gpt-4o-mini`, `llama3.1`, …).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set; local servers usually need none.
    pub api_key: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The chat-completions URL for a base URL, so every common way of writing it works:
/// a full `…/chat/completions` URL is used as is; a base ending in a version segment
/// (`/v1`, `/v1beta/openai`, `/api/v3`, …) gets `/chat/completions`; any other base (a bare
/// origin such as `http://127.0.0.1:11434`) gets `/v1/chat/completions`.
pub fn endpoint_url(base_url: &str) -> String {
    let base = base_url.trim().trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        return base.to_owned();
    }
    let path = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split_once('/')
        .map_or("", |(_, path)| path);
    let versioned = path.split('/').any(|seg| {
        seg.strip_prefix('v').is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_digit())
                && rest.chars().all(|c| c.is_ascii_alphanumeric())
        })
    });
    if versioned {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

/// Why a completion did not produce an answer. Never contains the API key.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The configuration cannot work (bad URL).
    #[error("the model endpoint is misconfigured: {0}")]
    Config(String),
    /// No answer within the timeout.
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    /// The server could not be reached or the connection broke.
    #[error("could not reach the model server: {0}")]
    Connection(String),
    /// The server answered with an error status.
    #[error("the model server answered HTTP {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the error body.
        body: String,
    },
    /// The answer was not a chat completion.
    #[error("the model server's answer is not a chat completion: {0}")]
    Malformed(String),
}

/// A pooled client for one model endpoint.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<AnswerMessage>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<Value>,
}

impl LlmClient {
    /// A client for `config`; fails only when the base URL is not an http(s) URL.
    pub fn new(config: &LlmConfig) -> Result<Self, LlmError> {
        let endpoint = reqwest::Url::parse(&endpoint_url(&config.base_url))
            .map_err(|e| LlmError::Config(format!("{:?}: {e}", config.base_url)))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(LlmError::Config(format!(
                "{:?} is not an http(s) URL",
                config.base_url
            )));
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::Config("the model name is empty".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // An API endpoint does not redirect; following one could carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            model: config.model.trim().to_owned(),
            api_key: config
                .api_key
                .as_ref()
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty()),
            timeout: config.timeout,
        })
    }

    /// The chat-completions URL in use.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The model name sent with every request.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One non-streaming completion; the assistant's text (possibly empty).
    pub async fn complete(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": MAX_TOKENS,
            "stream": false,
        });
        let mut request = self.http.post(self.endpoint.clone()).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: self.snippet(&bytes),
            });
        }
        let completion: Completion = serde_json::from_slice(&bytes)
            .map_err(|e| LlmError::Malformed(format!("{e}; body: {}", self.snippet(&bytes))))?;
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message)
            .and_then(|m| m.content)
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".into()))?;
        Ok(text_of(content))
    }

    fn transport(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.timeout)
        } else {
            // Without the URL: it is known from the configuration, and keeps errors short.
            let e = e.without_url();
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            LlmError::Connection(self.redact(&text))
        }
    }

    /// The start of a body, as text, with the key removed should the server echo it.
    fn snippet(&self, bytes: &[u8]) -> String {
        let text: String = String::from_utf8_lossy(bytes)
            .chars()
            .take(ERROR_SNIPPET_CHARS)
            .collect();
        self.redact(&text)
    }

    fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) if key.len() >= 4 => text.replace(key.as_str(), "<redacted>"),
            _ => text.to_owned(),
        }
    }
}

/// The text of a message `content`: a string, or an array of parts whose `text` is joined.
fn text_of(content: Value) -> String {
    match content {
        Value::String(s) => s,
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_base_url_reaches_chat_completions() {
        for (base, want) in [
            (
                "https://api.openai.com/v1",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "https://api.openai.com/v1/",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:11434",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:8000/v1",
                "http://127.0.0.1:8000/v1/chat/completions",
            ),
            (
                "http://localhost:8080/",
                "http://localhost:8080/v1/chat/completions",
            ),
            (
                "https://generativelanguage.googleapis.com/v1beta/openai/",
                "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
            ),
            (
                "http://127.0.0.1:9/custom/v1/chat/completions",
                "http://127.0.0.1:9/custom/v1/chat/completions",
            ),
            (
                "http://proxy.local/llm",
                "http://proxy.local/llm/v1/chat/completions",
            ),
        ] {
            assert_eq!(endpoint_url(base), want, "{base}");
        }
    }

    #[test]
    fn configuration_is_checked_and_the_key_never_printed() {
        let config = LlmConfig {
            base_url: "http://127.0.0.1:1".into(),
            model: "m".into(),
            api_key: Some("sk-very-secret".into()),
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(!format!("{config:?}").contains("sk-very-secret"));
        let client = LlmClient::new(&config).unwrap();
        assert!(!format!("{client:?}").contains("sk-very-secret"));
        assert_eq!(
            client.redact("bad key sk-very-secret"),
            "bad key <redacted>"
        );
        for bad in ["ftp://x/v1", "not a url"] {
            let c = LlmConfig {
                base_url: bad.into(),
                ..config.clone()
            };
            assert!(
                matches!(LlmClient::new(&c), Err(LlmError::Config(_))),
                "{bad}"
            );
        }
        let no_model = LlmConfig {
            model: " ".into(),
            ..config
        };
        assert!(LlmClient::new(&no_model).is_err());
    }

    #[test]
    fn content_may_be_a_string_or_parts() {
        assert_eq!(text_of(json!("Hi")), "Hi");
        assert_eq!(
            text_of(
                json!([{ "type": "text", "text": "Hi " }, { "type": "text", "text": "there" }])
            ),
            "Hi there"
        );
        assert_eq!(text_of(Value::Null), "");
    }
}
