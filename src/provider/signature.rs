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
mod tests {
    use super::*;

    const ORACLE_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twilio-signatures.json"
    );

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The base parameters P of the signature algorithm (docs/ARCHITECTURE.md §9).
    fn base_params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    /// Oracle params: an object whose list values are repeated keys; null means none.
    fn oracle_params(value: &serde_json::Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(map) = value.as_object() {
            for (name, v) in map {
                match v {
                    serde_json::Value::Array(items) => {
                        for item in items {
                            out.push((name.clone(), item.as_str().unwrap_or_default().to_owned()));
                        }
                    }
                    other => {
                        out.push((name.clone(), other.as_str().unwrap_or_default().to_owned()))
                    }
                }
            }
        }
        out
    }

    #[test]
    fn oracle_file_all_vectors() {
        let text = std::fs::read_to_string(ORACLE_PATH).expect("read the signature oracle");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("oracle parses");
        // The keys this test relies on are described by the file itself.
        assert!(doc["description"].as_str().is_some());
        assert!(doc["algorithm"].as_str().is_some());
        for field in ["url", "signed_url", "params", "body", "expect_valid"] {
            assert!(doc["fields"][field].is_string(), "field doc for {field}");
        }
        let vectors = doc["vectors"].as_array().expect("vectors");
        assert_eq!(vectors.len(), 29, "oracle says 29 vectors");
        let mut failures = Vec::new();
        for v in vectors {
            let id = v["id"].as_str().unwrap_or("?");
            let token = v["auth_token"].as_str().expect("token");
            let url = v["url"].as_str().expect("url");
            let signature = v["signature"].as_str().expect("signature");
            let expect_valid = v["expect_valid"].as_bool().expect("expect_valid");
            let params = oracle_params(&v["params"]);
            let body = v["body"].as_str();

            if let Some(signed_url) = v["signed_url"].as_str() {
                let got = compute(token, signed_url, &params);
                if got != signature {
                    failures.push(format!("{id}: compute gave {got}, want {signature}"));
                }
            }
            if let Some(hash) = v["body_sha256"].as_str() {
                let got = body_sha256(body.unwrap_or_default().as_bytes());
                if got != hash {
                    failures.push(format!("{id}: body hash {got}, want {hash}"));
                }
            }
            let valid = match body {
                Some(body) => verify_json_body(token, url, body.as_bytes(), signature),
                None => verify(token, url, &params, signature),
            };
            if valid != expect_valid {
                failures.push(format!("{id}: verify gave {valid}, want {expect_valid}"));
            }
        }
        assert!(
            failures.is_empty(),
            "oracle failures:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn reference_table_vectors_compute_exactly() {
        let table: &[(&str, &str)] = &[
            (
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            ),
            (
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                "kvajT1Ptam85bY51eRf/AJRuM3w=",
            ),
            (
                "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                "0ZXoZLH/DfblKGATFgpif+LLRf4=",
            ),
            (
                "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            ),
            (
                "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
                "CYn1h0gLBdNxDGkKJg6hYohgeD8=",
            ),
            (
                "https://MyCompany.com/myapp.php?foo=1&bar=2",
                "g9IN/x4Cft2g517EjYvEvM/W7LU=",
            ),
            (
                "https://MyCompany.com:1234/myapp.php?foo=1&bar=2",
                "PCqOZm8cnu/L6+u5i5fuEd+Iac4=",
            ),
            (
                "http://MyCompany.com/myapp.php?foo=1&bar=2",
                "XY7AlKOKL6im4yWyX84gldUrtis=",
            ),
            (
                "http://username:password@MyCompany.com/myapp.php?foo=1&bar=2",
                "PJ08CxXr7KLPjEQCTc8LkUSMwSM=",
            ),
            (
                "HTTP://username:password@MyCompany.com/myapp.php?foo=1&bar=2",
                "hy/l8pca+LFms4cvRdv8uiP6NGc=",
            ),
            (
                "http://Username:Password@MyCompany.com/myapp.php?foo=1&bar=2",
                "SkTSKyDJH9kUlhItI0slbgZ1UsI=",
            ),
            (
                "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
                "CukzLTc1tT5dXEDIHm/tKBanW10=",
            ),
            (
                "https://user@mycompany.com/myapp.php?foo=1&bar=2",
                "2YRLlVAflCqxaNicjMpJcSTgzSs=",
            ),
            (
                "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2",
                "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
            ),
            (
                "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It%27s+amazing",
                "TfZzewPq8wqrGlMfyAud8+/IvJ0=",
            ),
            (
                "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It's+amazing",
                "dsq4Ehbj6cs+KdTkpF5sSSplOWw=",
            ),
        ];
        for (url, want) in table {
            assert_eq!(compute("12345", url, &base_params()), *want, "{url}");
            assert!(verify("12345", url, &base_params(), want), "verify {url}");
        }
    }

    #[test]
    fn reference_repeated_and_array_params() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let repeated = p(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            compute("12345", url, &repeated),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
        for order in [
            ["+1325xxxxxxx", "+1415xxxxxxx"],
            ["+1415xxxxxxx", "+1325xxxxxxx"],
        ] {
            let params = p(&[
                ("MessagingBinding.Address", order[0]),
                ("MessagingBinding.Address", order[1]),
            ]);
            assert_eq!(
                compute("12345", url, &params),
                "83O6e2vORAoJHUNzJjDWN1jz+BA="
            );
        }
    }

    #[test]
    fn reference_docs_worked_example() {
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            compute("12345", url, &params),
            "L/OH5YylLD5NRKLltdqwSvS0BnU="
        );
        // Parameter order on input must not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        assert_eq!(
            compute("12345", url, &reversed),
            "L/OH5YylLD5NRKLltdqwSvS0BnU="
        );
    }

    #[test]
    fn reference_json_body_vectors() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(body_sha256(body), hash);
        let b2 = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={hash}");
        assert_eq!(compute("12345", &b2, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(verify_json_body(
            "12345",
            &b2,
            body,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        let b3 = format!("https://mycompany.com/myapp.php?bodySHA256={hash}");
        assert_eq!(compute("12345", &b3, &[]), "y77kIzt2vzLz71DgmJGsen2scGs=");
        assert!(verify_json_body(
            "12345",
            &b3,
            body,
            "y77kIzt2vzLz71DgmJGsen2scGs="
        ));

        let empty = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(body_sha256(b"{}"), empty);
        let b5 = format!("https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256={empty}");
        assert_eq!(compute("12345", &b5, &[]), "Ldidvp12m26NI7eqEvxnEpkd9Hc=");
        let b5_no_port = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={empty}");
        assert_eq!(
            compute("12345", &b5_no_port, &[]),
            "rw/jVviOgicj2+kHZULvebnA4ag="
        );
        assert!(verify_json_body(
            "12345",
            &b5_no_port,
            b"{}",
            "Ldidvp12m26NI7eqEvxnEpkd9Hc="
        ));

        // A tampered body fails even with a good URL signature.
        assert!(!verify_json_body(
            "12345",
            &b2,
            b"{}",
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        // Uppercase hex in the URL is accepted for the hash comparison only if the URL was signed so.
        let upper = format!(
            "https://mycompany.com/myapp.php?bodySHA256={}",
            hash.to_ascii_uppercase()
        );
        let sig = compute("12345", &upper, &[]);
        assert!(verify_json_body("12345", &upper, body, &sig));
    }

    #[test]
    fn reference_negative_cases() {
        let v1 = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig1 = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(verify("12345", v1, &base_params(), sig1));
        assert!(!verify(
            "12345",
            v1,
            &base_params(),
            "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        for url in [
            "https://MyCompany.com/myapp.php?foo=1&bar=2",
            "https://MyCompany.com:1234/myapp.php?foo=1&bar=2",
            "http://MyCompany.com/myapp.php?foo=1&bar=2",
        ] {
            assert!(!verify("12345", url, &base_params(), sig1), "{url}");
        }
        // JSON-body check without bodySHA256 in the URL must fail, whatever the signature.
        assert!(!verify_json_body("12345", v1, b"{}", sig1));
        // Wrong token, changed param, extra param, missing param, empty signature.
        assert!(!verify("54321", v1, &base_params(), sig1));
        let mut changed = base_params();
        changed[2].1 = "4321".into();
        assert!(!verify("12345", v1, &changed, sig1));
        let mut extra = base_params();
        extra.push(("Extra".into(), "1".into()));
        assert!(!verify("12345", v1, &extra, sig1));
        assert!(!verify("12345", v1, &base_params()[1..], sig1));
        assert!(!verify("12345", v1, &base_params(), ""));
        assert_eq!(compute("12345", "", &[]), compute("12345", "", &[]));
        assert!(!verify("", "", &[], ""));
    }

    #[test]
    fn sms_shaped_vectors() {
        let status = p(&[
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("ApiVersion", "2010-04-01"),
            ("From", "+15005550006"),
            ("MessageSid", "SM1234567890abcdef1234567890abcdef"),
            ("MessageStatus", "delivered"),
            ("SmsSid", "SM1234567890abcdef1234567890abcdef"),
            ("SmsStatus", "delivered"),
            ("To", "+15551234567"),
        ]);
        let url = "https://example.com/twilio/status?campaign=42";
        assert_eq!(
            compute("12345", url, &status),
            "ei6jbt58MXB0+qsK/VPPw9KTmlY="
        );
        let inbound = p(&[("Body", "Café 👍"), ("From", "+15551234567")]);
        assert_eq!(
            compute("12345", "https://example.com/sms", &inbound),
            "FBiznS81vHPzo9dRQMZg8S/N4CM="
        );
    }

    #[test]
    fn hmac_sha256_variant() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let want = "033hgUJA9M/hXIZsYjwkerEP/DBm35nEri5FhCYjA5s=";
        assert_eq!(
            compute_with(Algorithm::HmacSha256, "12345", url, &base_params()),
            want
        );
        assert!(verify_with(
            Algorithm::HmacSha256,
            "12345",
            url,
            &base_params(),
            want
        ));
        assert!(!verify(
            "12345",
            url,
            &base_params(),
            "033hgUJA9M/hXIZsYjwkerEP/DBm35nEri5FhCYjA5s="
        ));
    }

    #[test]
    fn url_variants_are_port_and_quote_forms() {
        let got = url_candidates("https://u:p@h.example:8443/a?x='1'#frag");
        assert!(got.contains(&"https://u:p@h.example:8443/a?x='1'#frag".to_owned()));
        assert!(got.contains(&"https://u:p@h.example/a?x='1'#frag".to_owned()));
        assert!(got.contains(&"https://u:p@h.example/a?x=%271%27#frag".to_owned()));
        let got = url_candidates("http://[::1]/cb");
        assert!(got.contains(&"http://[::1]:80/cb".to_owned()));
        let got = url_candidates("http://[::1]:8080");
        assert!(got.contains(&"http://[::1]".to_owned()));
        // Not a URL we understand: only the string as given.
        assert_eq!(url_candidates("not a url"), vec!["not a url".to_owned()]);
        assert_eq!(url_candidates("ftp://h/x"), vec!["ftp://h/x".to_owned()]);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let nasty = [
            "",
            "://",
            "http://",
            "http://@",
            "http://[",
            "http://[::1",
            "http://h:",
            "http://h:99999999999999999999/",
            "http://h:port/",
            "https://h?bodySHA256",
            "https://h?bodySHA256=&bodySHA256=zz#",
            "?#'%27%2",
            "http://é:1/ü?ß='#'",
        ];
        for url in nasty {
            let sig = compute("k", url, &p(&[("a", "é"), ("", "")]));
            assert!(verify("k", url, &p(&[("a", "é"), ("", "")]), &sig), "{url}");
            let _ = verify_json_body("k", url, b"\xff\x00", "x");
            let _ = verify("k", url, &[], "\u{0}");
        }
    }
}
