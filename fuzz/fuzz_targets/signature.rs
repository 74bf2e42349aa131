//! Twilio webhook signatures: never a panic on any URL, parameters or signature; a signature
//! Herald computes verifies (both MACs, form and JSON-body schemes), and one flipped byte in
//! the signature, the key, a parameter or the body makes it fail.
//!
//! Input, one field per line: auth token, URL, the signature to check as given, then
//! `name=value` parameters. The last byte picks which byte to flip.
#![no_main]

use herald::provider::signature::{self, Algorithm, BODY_SHA256_PARAM};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let token = lines.next().unwrap_or_default();
    let url = lines.next().unwrap_or_default();
    let given = lines.next().unwrap_or_default();
    let params: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let pick = usize::from(data.last().copied().unwrap_or(0));

    // Whatever arrives, checking it never panics.
    let _ = signature::verify(token, url, &params, given);
    let _ = signature::verify_with(Algorithm::HmacSha256, token, url, &params, given);
    let _ = signature::verify_json_body(token, url, given.as_bytes(), given);

    for algorithm in [Algorithm::HmacSha1, Algorithm::HmacSha256] {
        let sig = signature::compute_with(algorithm, token, url, &params);
        assert!(!sig.is_empty());
        assert!(signature::verify_with(algorithm, token, url, &params, &sig));
        // The other MAC's signature is not this one's.
        let other = match algorithm {
            Algorithm::HmacSha1 => Algorithm::HmacSha256,
            Algorithm::HmacSha256 => Algorithm::HmacSha1,
        };
        assert!(!signature::verify_with(other, token, url, &params, &sig));
        // The parameters' order does not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(signature::verify_with(
            algorithm, token, url, &reversed, &sig
        ));

        // One byte changed in the signature.
        let flipped_sig = flip(&sig, pick);
        assert!(!signature::verify_with(
            algorithm,
            token,
            url,
            &params,
            &flipped_sig
        ));
        // In the key (a different key, also when it was empty).
        let flipped_token = if token.is_empty() {
            "x".to_owned()
        } else {
            flip(token, pick)
        };
        assert!(!signature::verify_with(
            algorithm,
            &flipped_token,
            url,
            &params,
            &sig
        ));
        // In one parameter's value (or name): the signed text changes, so must the MAC,
        // unless the change moves bytes between a name and a value of the same text.
        if !params.is_empty() {
            let index = pick % params.len();
            let mut changed = params.clone();
            let (name, value) = &mut changed[index];
            if value.is_empty() {
                *name = flip(name, pick);
            } else {
                *value = flip(value, pick);
            }
            if signed_text(url, &changed) != signed_text(url, &params) {
                assert!(
                    !signature::verify_with(algorithm, token, url, &changed, &sig),
                    "{changed:?}"
                );
            }
        }
    }

    // JSON-bodied webhooks: the hash goes into the URL, the signature over the URL alone.
    let body = given.as_bytes();
    let base = url.split('#').next().unwrap_or_default();
    let joiner = if base.contains('?') { '&' } else { '?' };
    let hashed = format!(
        "{base}{joiner}{BODY_SHA256_PARAM}={}",
        signature::body_sha256(body)
    );
    let sig = signature::compute(token, &hashed, &[]);
    if first_param_is_ours(&hashed) {
        assert!(
            signature::verify_json_body(token, &hashed, body, &sig),
            "{hashed:?}"
        );
    }
    let mut other_body = body.to_vec();
    match other_body.get_mut(pick % body.len().max(1)) {
        Some(byte) => *byte ^= 1,
        None => other_body.push(b'x'),
    }
    assert!(!signature::verify_json_body(
        token,
        &hashed,
        &other_body,
        &sig
    ));
});

/// `text` with the byte at `pick` (modulo its length) changed, still valid UTF-8.
fn flip(text: &str, pick: usize) -> String {
    if text.is_empty() {
        return "x".to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let at = pick % chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i != at {
                c
            } else if c == 'a' {
                'b'
            } else {
                'a'
            }
        })
        .collect()
}

/// The text Twilio signs: the URL, then names sorted, each with its distinct values sorted.
fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(n, v)| (&**n, &**v)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = url.to_owned();
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

/// Whether the first `bodySHA256` in the query is the one appended (the URL may carry its own).
fn first_param_is_ours(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter(|pair| pair.split_once('=').map_or(*pair, |(k, _)| k) == BODY_SHA256_PARAM)
        .count()
        == 1
}
