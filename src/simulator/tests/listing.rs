//! Reading messages back: fetch along the status clock, list filters and pages, and the journal.

use super::*;

#[tokio::test]
async fn fetch_follows_the_status_clock() {
    let mut cfg = config();
    cfg.callback_delay = Duration::from_millis(100);
    cfg.delivered = 0.0;
    cfg.undelivered = 1.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let m = accepted(client.send(&req("+447700900001", "hi", None)).await);
    let fetched = client.fetch(&m.sid).await.unwrap();
    assert_eq!(fetched.sid, m.sid);
    assert_eq!(fetched.status, "queued");
    let mut fetched = client.fetch(&m.sid).await.unwrap();
    let mut seen = vec![fetched.status.clone()];
    for _ in 0..500 {
        if fetched.status == "undelivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        fetched = client.fetch(&m.sid).await.unwrap();
        if seen.last() != Some(&fetched.status) {
            seen.push(fetched.status.clone());
        }
    }
    assert_eq!(seen, ["queued", "sent", "undelivered"]);
    assert_eq!(fetched.status, "undelivered");
    assert_eq!(fetched.error_code, Some(30003));
    assert!(fetched.error_message.is_some());
    assert!(fetched.date_updated.is_some());

    let missing = client
        .fetch("SM00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    let garbage = client.fetch("SMzz").await.unwrap_err();
    assert!(garbage.is_not_found(), "{garbage:?}");
}

#[tokio::test]
async fn list_filters_and_pages() {
    let sim = spawn(config()).await;
    let client = client_for(&sim);
    let (a, b) = ("+447700900001", "+447700900002");
    let mut sids_to_a = Vec::new();
    for i in 0..7 {
        let m = accepted(client.send(&req(a, &format!("a{i}"), None)).await);
        sids_to_a.push(m.sid);
    }
    for i in 0..3 {
        accepted(client.send(&req(b, &format!("b{i}"), None)).await);
    }
    let other_from = SendRequest {
        from: "+15005550010",
        ..req(a, "other sender", None)
    };
    let m = accepted(client.send(&other_from).await);
    sids_to_a.push(m.sid);

    let today = time::OffsetDateTime::now_utc().date();
    let to_a = ListFilter {
        to: Some(a),
        page_size: 3,
        ..ListFilter::default()
    };
    let listed = client.list(&to_a).await.unwrap();
    let got: Vec<_> = listed.iter().map(|m| m.sid.clone()).collect();
    let mut want = sids_to_a.clone();
    want.reverse(); // newest first, like Twilio
    assert_eq!(got, want);

    let from_filter = ListFilter {
        from: Some(FROM),
        ..to_a
    };
    assert_eq!(client.list(&from_filter).await.unwrap().len(), 7);
    let everything = ListFilter {
        page_size: 4,
        ..ListFilter::default()
    };
    assert_eq!(client.list(&everything).await.unwrap().len(), 11);
    let on_day = |date_sent, after, before| ListFilter {
        date_sent,
        date_sent_after: after,
        date_sent_before: before,
        ..to_a
    };
    let tomorrow = today.next_day().unwrap();
    let yesterday = today.previous_day().unwrap();
    assert_eq!(
        client
            .list(&on_day(Some(today), None, None))
            .await
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        client
            .list(&on_day(Some(tomorrow), None, None))
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        client
            .list(&on_day(None, Some(yesterday), Some(today)))
            .await
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        client
            .list(&on_day(None, Some(tomorrow), None))
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        client
            .list(&on_day(None, None, Some(yesterday)))
            .await
            .unwrap()
            .len(),
        0
    );
    let nobody = ListFilter {
        to: Some("+447700900099"),
        ..to_a
    };
    assert!(client.list(&nobody).await.unwrap().is_empty());
    // The page bound is reported, not silently truncated.
    let bounded = ListFilter {
        max_pages: 2,
        ..to_a
    };
    assert!(matches!(
        client.list(&bounded).await,
        Err(TwilioError::PageLimit { max_pages: 2 })
    ));

    // Raw page shape; paging stays stable when messages arrive between pages.
    let http = reqwest::Client::new();
    let page: serde_json::Value = http
        .get(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages.json?To=%2B447700900001&PageSize=5",
            sim.base_url
        ))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["page"], 0);
    assert_eq!(page["page_size"], 5);
    assert_eq!(page["messages"].as_array().unwrap().len(), 5);
    assert!(page["uri"].as_str().unwrap().starts_with("/2010-04-01/"));
    let next = page["next_page_uri"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&format!("/2010-04-01/Accounts/{SID}/Messages.json?")));
    accepted(client.send(&req(a, "late arrival", None)).await);
    let page2: serde_json::Value = http
        .get(format!("{}{next}", sim.base_url))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sids2: Vec<_> = page2["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sids2, want[5..].to_vec());
    assert_eq!(page2["page"], 1);
    assert!(page2["next_page_uri"].is_null());

    // Garbage queries are Twilio-shaped 400s.
    let bad = http
        .get(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages.json?PageSize=abc",
            sim.base_url
        ))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["status"], 400);
}

fn assert_rfc3339_micros(text: &str) {
    assert_eq!(text.len(), 27, "{text}");
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(&text[19..20], ".", "{text}");
    assert!(text[20..26].bytes().all(|b| b.is_ascii_digit()), "{text}");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
}

#[tokio::test]
async fn journal_lists_accepted_creates_oldest_first() {
    let mut cfg = config();
    cfg.fail_5xx = 0.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let m1 = accepted(client.send(&req("+447700900001", "first", None)).await);
    let _ = client.send(&req("+15005550004", "opted out", None)).await;
    let m2 = accepted(
        client
            .send(&req("+447700900002", &"x".repeat(200), None))
            .await,
    );
    let http = reqwest::Client::new();
    let url = format!("{}/sim/messages", sim.base_url);
    let journal: Vec<JournalEntry> = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(journal, sim.simulator.journal());
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].sid, m1.sid);
    assert_eq!(journal[0].to, "+447700900001");
    assert_eq!(journal[0].from, FROM);
    assert_eq!(journal[0].body, "first");
    assert_eq!(journal[0].segments, 1);
    assert_eq!(journal[1].sid, m2.sid);
    assert_eq!(journal[1].segments, 2);
    for entry in &journal {
        assert_rfc3339_micros(&entry.received_at);
    }
    assert!(journal[0].received_at <= journal[1].received_at);
    // The raw JSON has exactly the contract's keys.
    let raw: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    let keys: Vec<_> = raw[0].as_object().unwrap().keys().cloned().collect();
    let mut want = vec!["body", "from", "received_at", "segments", "sid", "to"];
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);

    let cleared = http.delete(&url).send().await.unwrap();
    assert_eq!(cleared.status().as_u16(), 204);
    assert!(sim.simulator.journal().is_empty());
    // Messages stay fetchable after the journal is cleared.
    assert_eq!(client.fetch(&m1.sid).await.unwrap().sid, m1.sid);
    let m3 = accepted(client.send(&req("+447700900003", "third", None)).await);
    let journal = sim.simulator.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].sid, m3.sid);
}
