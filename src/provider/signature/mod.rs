//! Twilio's `X-Twilio-Signature` webhook signature: computing it and checking it in constant time.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The request header Twilio puts the signature in, so handlers don't spell it themselves.
pub const HEADER: &str = "X-Twilio-Signature";

/// The query parameter that carries the body hash on JSON-bodied webhooks.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// Which MAC signed the request: Twilio's legacy scheme is HMAC-SHA1 keyed with the auth token;
/// newer "Webhooks Rules" sign the same string with HMAC-SHA256 keyed with a shared key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA1 with the account's primary auth token (the default for every webhook).
    HmacSha1,
    /// HMAC-SHA256 with a Webhooks Rule SharedKey secret (`X-Twilio-Webhooks-Signature-Settings`).
    HmacSha256,
}

/// HMAC-SHA1 over `url` followed by `name+value` for every parameter, names sorted by byte
/// order and the distinct values of a repeated name sorted too (as Twilio's libraries do),
/// base64-encoded; this is what Twilio sends in `X-Twilio-Signature`.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    compute_with(Algorithm::HmacSha1, auth_token, url, params)
}

/// Same signed string as [`compute`], with the MAC chosen by `algorithm`, so Webhooks Rules
/// signatures (HMAC-SHA256) can be produced and checked with the same code.
pub fn compute_with(
    algorithm: Algorithm,
    key: &str,
    url: &str,
    params: &[(String, String)],
) -> String {
    sign(algorithm, key, url, &canonical_params(params)).unwrap_or_default()
}

/// Constant-time check of a form (or GET) webhook. Tries the URL as given, with its port
/// removed and with the scheme's default port (`:443`/`:80`) added, each also with `'` in the
/// query percent-encoded and decoded, because Twilio's own validators accept all of these.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    verify_with(Algorithm::HmacSha1, auth_token, url, params, signature)
}

/// [`verify`] with the MAC chosen by `algorithm` (see [`Algorithm`]).
pub fn verify_with(
    algorithm: Algorithm,
    key: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    if signature.is_empty() {
        return false;
    }
    let canonical = canonical_params(params);
    let mut matched = Choice::from(0u8);
    for candidate in url_candidates(url) {
        if let Some(expected) = sign(algorithm, key, &candidate, &canonical) {
            // Check every candidate, so timing does not reveal which variant matched.
            matched |= expected.as_bytes().ct_eq(signature.as_bytes());
        }
    }
    matched.into()
}

/// Constant-time check of a JSON-bodied webhook: the URL must carry `bodySHA256` equal to the
/// hex SHA-256 of `body`, and the signature is over the URL alone (no params), with the same
/// URL variants as [`verify`].
pub fn verify_json_body(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(claimed) = query_param(url, BODY_SHA256_PARAM) else {
        return false;
    };
    let actual = body_sha256(body);
    let hash_ok = actual
        .as_bytes()
        .ct_eq(claimed.to_ascii_lowercase().as_bytes());
    let sig_ok = Choice::from(u8::from(verify(auth_token, url, &[], signature)));
    (hash_ok & sig_ok).into()
}

/// Lowercase hex SHA-256 of a raw body, the value Twilio puts in `bodySHA256`.
pub fn body_sha256(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest.iter() {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + nibble - 10
    })
}

/// Names in byte order, each with its distinct values in byte order.
fn canonical_params(params: &[(String, String)]) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    sorted
}

fn sign(
    algorithm: Algorithm,
    key: &str,
    url: &str,
    params: &BTreeMap<&str, BTreeSet<&str>>,
) -> Option<String> {
    match algorithm {
        Algorithm::HmacSha1 => {
            let mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes()).ok()?;
            Some(finish(mac, url, params))
        }
        Algorithm::HmacSha256 => {
            let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).ok()?;
            Some(finish(mac, url, params))
        }
    }
}

fn finish<M: Mac>(mut mac: M, url: &str, params: &BTreeMap<&str, BTreeSet<&str>>) -> String {
    mac.update(url.as_bytes());
    for (name, values) in params {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Every URL form Twilio's validators accept for `url`, without duplicates.
fn url_candidates(url: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(9);
    let mut push = |candidate: String| {
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    };
    for base in [
        url.to_owned(),
        map_query(url, |q| q.replace('\'', "%27")),
        map_query(url, |q| q.replace("%27", "'")),
    ] {
        let parts = UrlParts::parse(&base);
        push(base.clone());
        if let Some(parts) = parts {
            push(parts.without_port());
            if let Some(with_port) = parts.with_default_port() {
                push(with_port);
            }
        }
    }
    out
}

/// Applies `f` to the query string (between `?` and any `#`), leaving the rest untouched.
fn map_query(url: &str, f: impl Fn(&str) -> String) -> String {
    let Some(q_start) = url.find('?') else {
        return url.to_owned();
    };
    let q_end = url[q_start..]
        .find('#')
        .map_or(url.len(), |offset| q_start + offset);
    format!(
        "{}{}{}",
        &url[..=q_start],
        f(&url[q_start + 1..q_end]),
        &url[q_end..]
    )
}

/// The raw value of query parameter `name` (first occurrence), if present.
fn query_param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// A URL split around its port, enough to add or remove it without re-serialising anything
/// else (scheme and host case, userinfo and escaping are all part of the signed string).
struct UrlParts<'u> {
    scheme: &'u str,
    /// Everything from the start up to the end of the host (scheme, `://`, userinfo, host).
    head: &'u str,
    port: Option<&'u str>,
    /// Path, query and fragment.
    tail: &'u str,
}

impl<'u> UrlParts<'u> {
    fn parse(url: &'u str) -> Option<Self> {
        let scheme_end = url.find("://")?;
        let scheme = &url[..scheme_end];
        let authority_start = scheme_end + 3;
        let authority_len = url[authority_start..]
            .find(['/', '?', '#'])
            .unwrap_or(url.len() - authority_start);
        let authority_end = authority_start + authority_len;
        let authority = &url[authority_start..authority_end];
        let host_start = authority.rfind('@').map_or(0, |at| at + 1);
        let host_port = &authority[host_start..];
        // An IPv6 literal has colons inside brackets; the port colon comes after `]`.
        let search_from = if host_port.starts_with('[') {
            host_port.find(']')?
        } else {
            0
        };
        let (host_len, port) = match host_port[search_from..].rfind(':') {
            Some(rel) => {
                let colon = search_from + rel;
                let port = &host_port[colon + 1..];
                if !port.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (colon, (!port.is_empty()).then_some(port))
            }
            None => (host_port.len(), None),
        };
        let head_end = authority_start + host_start + host_len;
        Some(Self {
            scheme,
            head: &url[..head_end],
            port,
            tail: &url[authority_end..],
        })
    }

    fn without_port(&self) -> String {
        format!("{}{}", self.head, self.tail)
    }

    fn with_default_port(&self) -> Option<String> {
        if let Some(port) = self.port {
            return Some(format!("{}:{}{}", self.head, port, self.tail));
        }
        let default = if self.scheme.eq_ignore_ascii_case("https") {
            "443"
        } else if self.scheme.eq_ignore_ascii_case("http") {
            "80"
        } else {
            return None;
        };
        Some(format!("{}:{}{}", self.head, default, self.tail))
    }
}

#[cfg(test)]
mod tests;
