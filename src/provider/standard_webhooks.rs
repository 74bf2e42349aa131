//! Outgoing webhooks on the wire, as the Standard Webhooks specification (standardwebhooks.com)
//! has them: `whsec_` secrets, the `webhook-id` / `webhook-timestamp` / `webhook-signature`
//! headers, and an HTTP client that reaches public addresses only (docs/ARCHITECTURE.md §10).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::webhooks::is_public;

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A fresh secret: `whsec_` and the base64 of 32 random bytes (the key).
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The key of a secret: the base64-decoded part after `whsec_` (the prefix is optional, as
/// the libraries accept it).
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let raw = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = BASE64.decode(raw).ok()?;
    (!key.is_empty()).then_some(key)
}

/// `v1,<base64 of HMAC-SHA256 over "id.timestamp.body">`, keyed with `key`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one `v1,` signature per secret, separated by spaces (two
/// while a rotated secret still signs). Secrets that do not decode are skipped.
pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| decode_secret(s))
        .map(|key| sign(&key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resolves names like the system does, then refuses every address that is not public, so
/// a name that points (or is re-pointed, after the URL was checked) at a private, loopback,
/// link-local or metadata address is never connected to.
#[derive(Debug, Clone, Copy)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What one post gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// The endpoint answered with this status.
    Answered(u16),
    /// It did not answer: why (time-out, refused, a private address, …).
    Failed(String),
}

/// Posts signed messages: a short time-out, no redirects, no proxy and, unless private
/// addresses are allowed, public addresses only (checked by the resolver at connect time,
/// and here for URLs that name an address).
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    /// A sender whose requests give up after `timeout`.
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4);
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            http: builder.build()?,
            allow_private,
        })
    }

    /// Posts `body` to `url` with the three headers, signed with `secrets` at `timestamp`
    /// (Unix seconds).
    pub async fn post(
        &self,
        url: &str,
        id: &str,
        timestamp: i64,
        body: Vec<u8>,
        secrets: &[String],
    ) -> PostOutcome {
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(_) => return PostOutcome::Failed("invalid URL".into()),
        };
        if !self.allow_private {
            if parsed.scheme() != "https" {
                return PostOutcome::Failed("not an https URL".into());
            }
            // The resolver never sees an address written in the URL.
            let literal = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !is_public(ip)) {
                return PostOutcome::Failed("not a public address".into());
            }
        }
        let signature = signature_header(secrets, id, timestamp, &body);
        let sent = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => PostOutcome::Answered(resp.status().as_u16()),
            Err(e) => PostOutcome::Failed(describe(&e)),
        }
    }
}

/// A short, secret-free account of a failed request.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if msg.contains("public address") {
            text = msg;
            break;
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tests/fixtures/standard-webhooks-vector.json: the specification's published vector.
    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let raw = include_str!("../../tests/fixtures/standard-webhooks-vector.json");
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        let key = decode_secret(v["secret"].as_str().unwrap()).unwrap();
        let got = sign(
            &key,
            v["msg_id"].as_str().unwrap(),
            v["timestamp"].as_i64().unwrap(),
            v["payload"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(got, v["signature"].as_str().unwrap());
        // Without the prefix the key is the same.
        let bare = v["secret"].as_str().unwrap().trim_start_matches("whsec_");
        assert_eq!(decode_secret(bare), Some(key));
    }

    #[test]
    fn rotated_secrets_sign_side_by_side() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a != b);
        assert_eq!(decode_secret(&a).unwrap().len(), 32);
        let header = signature_header(&[a.clone(), b.clone()], "whmsg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            sign(&decode_secret(&a).unwrap(), "whmsg_1", 1, b"{}")
        );
        assert_eq!(
            parts[1],
            sign(&decode_secret(&b).unwrap(), "whmsg_1", 1, b"{}")
        );
        assert!(decode_secret("whsec_not base64!").is_none());
        assert!(decode_secret("whsec_").is_none());
    }

    #[tokio::test]
    async fn private_addresses_are_refused_at_connect_time() {
        let sender = WebhookSender::new(Duration::from_secs(2), false).unwrap();
        for url in [
            "https://127.0.0.1:9/x",
            "https://[::1]:9/x",
            "http://example.com/x",
        ] {
            assert!(
                matches!(
                    sender
                        .post(url, "whmsg_1", 1, b"{}".to_vec(), &[new_secret()])
                        .await,
                    PostOutcome::Failed(_)
                ),
                "{url}"
            );
        }
        // `localhost` resolves to loopback only: the resolver refuses it.
        match sender
            .post(
                "https://localhost:9/x",
                "whmsg_1",
                1,
                b"{}".to_vec(),
                &[new_secret()],
            )
            .await
        {
            PostOutcome::Failed(why) => assert!(why.contains("public address"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
