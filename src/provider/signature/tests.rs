//! Unit tests of webhook signatures: the recorded vectors, the reference table, URL variants and hostile inputs.

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
                other => out.push((name.clone(), other.as_str().unwrap_or_default().to_owned())),
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
