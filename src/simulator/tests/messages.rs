//! Creating messages: accepted sends, credentials, Twilio's validation and magic numbers, and malformed requests.

use super::*;

#[tokio::test]
async fn send_is_accepted_with_twilio_json() {
    let sim = spawn(config()).await;
    let client = client_for(&sim);
    let m = accepted(
        client
            .send(&req("+447700900001", "Hello there", None))
            .await,
    );
    assert!(m.sid.starts_with("SM") && m.sid.len() == 34, "{}", m.sid);
    assert!(
        m.sid[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(m.status, "queued");
    assert_eq!(m.num_segments, Some(1));
    assert_eq!(m.num_media, Some(0));
    assert_eq!(m.to.as_deref(), Some("+447700900001"));
    assert_eq!(m.from.as_deref(), Some(FROM));
    assert_eq!(m.body.as_deref(), Some("Hello there"));
    assert_eq!(m.direction.as_deref(), Some("outbound-api"));
    assert_eq!(m.account_sid.as_deref(), Some(SID));
    assert_eq!(m.error_code, None);
    let created = m.date_created_at().expect("RFC 2822 date_created");
    assert!(
        (time::OffsetDateTime::now_utc() - created)
            .whole_seconds()
            .abs()
            < 5
    );
    assert_eq!(
        m.uri.as_deref(),
        Some(format!("/2010-04-01/Accounts/{SID}/Messages/{}.json", m.sid).as_str())
    );

    // Segment counting follows the domain rules: 161 GSM characters, and one emoji (UCS-2).
    let long = "a".repeat(161);
    let m = accepted(client.send(&req("+447700900001", &long, None)).await);
    assert_eq!(m.num_segments, Some(2));
    let ucs2 = format!("{}👍", "a".repeat(69));
    let m = accepted(client.send(&req("+447700900001", &ucs2, None)).await);
    assert_eq!(m.num_segments, Some(2));

    // The raw JSON carries numbers as strings, like Twilio.
    let raw: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages/{}.json",
            sim.base_url, m.sid
        ))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["num_segments"], "2");
    assert_eq!(raw["num_media"], "0");
    assert_eq!(raw["api_version"], "2010-04-01");
    assert!(raw["error_code"].is_null());
    assert!(raw["subresource_uris"]["media"].is_string());
}

#[tokio::test]
async fn bad_credentials_and_accounts_are_config_errors() {
    let sim = spawn(config()).await;
    let wrong_token = client_with(&sim.base_url, SID, SID, "nope");
    match wrong_token.send(&req("+447700900001", "x", None)).await {
        SendOutcome::Config { http_status, error } => {
            assert_eq!(http_status, 401);
            assert_eq!(error.code, Some(20003));
            assert_eq!(error.message.as_deref(), Some("Authenticate"));
            assert_eq!(
                error.more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/20003")
            );
        }
        other => panic!("{other:?}"),
    }
    let other_account = client_with(&sim.base_url, "AC999", SID, TOKEN);
    match other_account.send(&req("+447700900001", "x", None)).await {
        SendOutcome::Config { http_status, error } => {
            assert_eq!((http_status, error.code), (404, Some(20404)));
        }
        other => panic!("{other:?}"),
    }
    let err = wrong_token.fetch("SM0").await.unwrap_err();
    assert!(matches!(
        err,
        TwilioError::Api {
            http_status: 401,
            ..
        }
    ));
    assert!(sim.simulator.journal().is_empty());

    // The exact 401 body.
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages.json",
            sim.base_url
        ))
        .basic_auth(SID, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#
    );
}

#[tokio::test]
async fn magic_numbers_and_validation_are_rejected_like_twilio() {
    let sim = spawn(config()).await;
    let client = client_for(&sim);
    for (to, code) in [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
        ("not-a-number", 21211),
    ] {
        match client.send(&req(to, "hi", None)).await {
            SendOutcome::Rejected { http_status, error } => {
                assert_eq!((http_status, error.code), (400, Some(code)), "{to}");
                assert_eq!(error.is_opt_out(), code == 21610, "{to}");
            }
            // 21408 is a geo-permission problem; Herald's client may treat it either way.
            SendOutcome::Config { error, .. } if code == 21408 => {
                assert_eq!(error.code, Some(21408));
            }
            other => panic!("{to}: {other:?}"),
        }
    }
    let too_long = "a".repeat(1601);
    for (request, code) in [
        (req("+447700900001", "", None), 21602),
        (req("+447700900001", &too_long, None), 21617),
        (req("", "hi", None), 21604),
        (
            SendRequest {
                from: "",
                ..req("+447700900001", "hi", None)
            },
            21603,
        ),
    ] {
        let outcome = client.send(&request).await;
        let got = match &outcome {
            SendOutcome::Rejected { error, .. } | SendOutcome::Config { error, .. } => error.code,
            _ => None,
        };
        assert_eq!(got, Some(code), "{outcome:?}");
    }
    // 1,600 characters exactly is fine.
    accepted(
        client
            .send(&req("+447700900001", &"é".repeat(1600), None))
            .await,
    );
    // Magic From numbers: queue full is retryable, a non-Twilio number is a config error.
    let queue_full = SendRequest {
        from: "+15005550008",
        ..req("+447700900001", "hi", None)
    };
    assert!(matches!(
        client.send(&queue_full).await,
        SendOutcome::Retryable { .. }
    ));
    let not_ours = SendRequest {
        from: "+15005550007",
        ..req("+447700900001", "hi", None)
    };
    assert!(matches!(
        client.send(&not_ours).await,
        SendOutcome::Config { .. }
    ));
    let bad_callback = req("+447700900001", "hi", Some("not a url"));
    assert!(matches!(
        client.send(&bad_callback).await,
        SendOutcome::Rejected { .. }
    ));
    // Only the one valid create is journaled.
    assert_eq!(sim.simulator.journal().len(), 1);
}

#[tokio::test]
async fn garbage_requests_get_twilio_shaped_errors() {
    let sim = spawn(config()).await;
    let http = reqwest::Client::new();
    let create = format!("{}/2010-04-01/Accounts/{SID}/Messages.json", sim.base_url);
    let bodies: [&[u8]; 5] = [
        b"",
        b"%%%&&==&To",
        b"To=%ff%fe&From=%C0&Body=%",
        b"\xff\xfe\x00binary",
        b"To=%2B447700900001&From=%2B15005550006&Body=ok&To=ignored&Extra=1",
    ];
    for body in bodies {
        let resp = http
            .post(&create)
            .basic_auth(SID, Some(TOKEN))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let json: serde_json::Value = resp.json().await.expect("JSON body");
        assert!(status == 400 || status == 201, "{status} {json}");
        if status == 400 {
            assert!(json["code"].is_i64(), "{json}");
        }
    }
    for auth in ["Basic", "Basic !!!", "Bearer x", "Basic Og==", "basic"] {
        let resp = http
            .post(&create)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{auth}");
    }
    for path in [
        "/nope",
        "/2010-04-01/Accounts/%ff/Messages.json",
        "/2010-04-01/Accounts/AC1/Messages/x/y",
        "/2010-04-01/Accounts/{SID}/Messages/%00.json",
    ] {
        let resp = http
            .get(format!("{}{path}", sim.base_url))
            .basic_auth(SID, Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["code"], 20404);
    }
    let resp = http
        .put(&create)
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(sim.simulator.journal().len(), 1);
}
