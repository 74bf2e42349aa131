//! End-to-end tests of the simulator through Herald's real Twilio client and a signature-checking callback receiver.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::*;
use crate::provider::signature;
use crate::provider::twilio::{
    ListFilter, SendOutcome, SendRequest, TwilioClient, TwilioConfig, TwilioError,
};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "sim-test-token";
const FROM: &str = "+15005550006";

fn config() -> SimulatorConfig {
    SimulatorConfig {
        account_sid: SID.to_owned(),
        auth_token: TOKEN.to_owned(),
        callback_delay: Duration::from_millis(20),
        callback_retry_backoff: Duration::from_millis(20),
        seed: Some(7),
        ..SimulatorConfig::default()
    }
}

async fn spawn(config: SimulatorConfig) -> RunningSimulator {
    Simulator::spawn(config, "127.0.0.1:0").await.unwrap()
}

fn client_with(base_url: &str, account: &str, user: &str, token: &str) -> TwilioClient {
    let mut cfg = TwilioConfig::new(account, token);
    cfg.username = user.to_owned();
    cfg.base_url = base_url.to_owned();
    cfg.timeout = Duration::from_secs(5);
    TwilioClient::new(cfg).unwrap()
}

fn client_for(sim: &RunningSimulator) -> TwilioClient {
    client_with(&sim.base_url, SID, SID, TOKEN)
}

fn req<'a>(to: &'a str, body: &'a str, callback: Option<&'a str>) -> SendRequest<'a> {
    SendRequest {
        to,
        from: FROM,
        body,
        status_callback: callback,
    }
}

fn accepted(outcome: SendOutcome) -> crate::provider::twilio::Message {
    match outcome {
        SendOutcome::Accepted(message) => message,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

/// Polls `check` every 10 ms for up to 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One callback as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    sid: String,
    status: String,
    params: Vec<(String, String)>,
    signature_ok: bool,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny status-callback endpoint that checks `X-Twilio-Signature` like Herald does.
#[derive(Clone)]
struct Receiver {
    base: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answer 503 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    hits: Arc<AtomicUsize>,
    concurrent: Arc<AtomicUsize>,
    max_concurrent: Arc<AtomicUsize>,
    /// Hold each request this long (to observe concurrency).
    hold: Duration,
}

impl Receiver {
    async fn spawn(fail_first: usize, hold: Duration) -> (Receiver, String) {
        let receiver = Receiver {
            base: Arc::default(),
            seen: Arc::default(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            hits: Arc::default(),
            concurrent: Arc::default(),
            max_concurrent: Arc::default(),
            hold,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        *receiver.base.lock().unwrap() = base.clone();
        let app = Router::new()
            .route("/status", post(Self::handle))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, format!("{base}/status?campaign=42&attempt=a'1"))
    }

    async fn handle(
        State(me): State<Receiver>,
        OriginalUri(uri): OriginalUri,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        me.hits.fetch_add(1, Ordering::SeqCst);
        let now = me.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
        me.max_concurrent.fetch_max(now, Ordering::SeqCst);
        if !me.hold.is_zero() {
            tokio::time::sleep(me.hold).await;
        }
        me.concurrent.fetch_sub(1, Ordering::SeqCst);
        let failing = me
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let params: Vec<(String, String)> = wire::form_pairs(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let url = format!("{}{}", me.base.lock().unwrap(), uri);
        let sig = headers
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let field = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let seen = Seen {
            sid: field("MessageSid"),
            status: field("MessageStatus"),
            signature_ok: signature::verify(TOKEN, &url, &params, sig),
            params,
        };
        me.seen.lock().unwrap().push(seen);
        StatusCode::OK
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn statuses(&self, sid: &str) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|s| s.sid == sid)
            .map(|s| s.status)
            .collect()
    }
}

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

#[tokio::test]
async fn callbacks_are_signed_and_ordered() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let sim = spawn(config()).await;
    let client = client_for(&sim);
    let m = accepted(client.send(&req("+447700900001", "hi", Some(&url))).await);
    eventually("two callbacks", || receiver.seen().len() >= 2).await;
    let seen = receiver.seen();
    assert_eq!(receiver.statuses(&m.sid), ["sent", "delivered"]);
    for s in &seen {
        assert!(s.signature_ok, "bad signature on {s:?}");
        assert_eq!(s.param("AccountSid"), Some(SID));
        assert_eq!(s.param("ApiVersion"), Some("2010-04-01"));
        assert_eq!(s.param("From"), Some(FROM));
        assert_eq!(s.param("To"), Some("+447700900001"));
        assert_eq!(s.param("SmsSid"), Some(m.sid.as_str()));
        assert_eq!(s.param("SmsStatus"), Some(s.status.as_str()));
        assert_eq!(s.param("ErrorCode"), None);
    }
    assert_eq!(seen[0].param("RawDlrDoneDate"), None);
    let done = seen[1].param("RawDlrDoneDate").unwrap();
    assert_eq!(done.len(), 10);
    // The stored status followed the callbacks.
    assert_eq!(client.fetch(&m.sid).await.unwrap().status, "delivered");

    // Undelivered and failed carry an ErrorCode.
    let mut cfg = config();
    cfg.delivered = 0.0;
    cfg.undelivered = 1.0;
    cfg.failed = 1.0;
    cfg.seed = Some(8);
    let sim2 = spawn(cfg).await;
    let client2 = client_for(&sim2);
    let mut sids = Vec::new();
    for _ in 0..20 {
        sids.push(accepted(client2.send(&req("+447700900002", "hi", Some(&url))).await).sid);
    }
    eventually("forty more callbacks", || receiver.seen().len() >= 42).await;
    let finals: Vec<Seen> = receiver
        .seen()
        .into_iter()
        .filter(|s| sids.contains(&s.sid) && s.status != "sent")
        .collect();
    assert_eq!(finals.len(), 20);
    assert!(finals.iter().all(|s| s.signature_ok));
    for s in &finals {
        let code = match s.status.as_str() {
            "undelivered" => "30003",
            "failed" => "30008",
            other => panic!("unexpected {other}"),
        };
        assert_eq!(s.param("ErrorCode"), Some(code));
    }
    assert!(finals.iter().any(|s| s.status == "undelivered"));
    assert!(finals.iter().any(|s| s.status == "failed"));
    // The receiver records a callback before the simulator counts its answer.
    eventually("forty counted deliveries", || {
        sim2.simulator.callback_stats().delivered == 40
    })
    .await;
}

#[tokio::test]
async fn injected_429_is_retryable_and_not_processed() {
    let mut cfg = config();
    cfg.fail_429 = 1.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    for _ in 0..5 {
        match client.send(&req("+447700900001", "hi", None)).await {
            SendOutcome::Retryable {
                http_status, error, ..
            } => {
                assert_eq!(http_status, Some(429));
                assert_eq!(error.and_then(|e| e.code), Some(20429));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(sim.simulator.journal().is_empty());
}

async fn count_created_under_5xx(seed: u64) -> usize {
    let mut cfg = config();
    cfg.fail_5xx = 1.0;
    cfg.seed = Some(seed);
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    for _ in 0..200 {
        match client.send(&req("+447700900001", "hi", None)).await {
            SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, Some(500)),
            other => panic!("{other:?}"),
        }
    }
    let journal = sim.simulator.journal();
    // What was created is really there: a reconciler can find it by listing.
    let listed = client
        .list(&ListFilter {
            to: Some("+447700900001"),
            page_size: 1000,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), journal.len());
    journal.len()
}

#[tokio::test]
async fn injected_5xx_is_ambiguous_and_half_are_created() {
    let created = count_created_under_5xx(11).await;
    assert!((70..=130).contains(&created), "{created} of 200 created");
    // Seeded: the same run gives the same split.
    assert_eq!(count_created_under_5xx(11).await, created);
}

#[tokio::test]
async fn slow_creates_time_out_but_exist() {
    let mut cfg = config();
    cfg.slow = 1.0;
    cfg.slow_delay = Duration::from_secs(3);
    let sim = spawn(cfg).await;
    let mut tc = TwilioConfig::new(SID, TOKEN);
    tc.base_url = sim.base_url.clone();
    tc.timeout = Duration::from_millis(200);
    let client = TwilioClient::new(tc).unwrap();
    match client.send(&req("+447700900001", "hi", None)).await {
        SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, None),
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.simulator.journal().len(), 1);
}

#[tokio::test]
async fn duplicate_callbacks_arrive_twice() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.duplicate_callbacks = 1.0;
    let sim = spawn(cfg).await;
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&url)))
            .await,
    );
    eventually("four callbacks", || receiver.seen().len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.statuses(&m.sid),
        ["sent", "sent", "delivered", "delivered"]
    );
    assert!(receiver.seen().iter().all(|s| s.signature_ok));
}

#[tokio::test]
async fn reordered_callbacks_send_final_first() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.reorder_callbacks = 1.0;
    let sim = spawn(cfg).await;
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&url)))
            .await,
    );
    eventually("two callbacks", || receiver.seen().len() >= 2).await;
    assert_eq!(receiver.statuses(&m.sid), ["delivered", "sent"]);
}

#[tokio::test]
async fn dropped_callbacks_never_arrive() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.drop_callbacks = 1.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let m = accepted(client.send(&req("+447700900001", "hi", Some(&url))).await);
    eventually("two dropped callbacks", || {
        sim.simulator.callback_stats().dropped == 2
    })
    .await;
    assert!(receiver.seen().is_empty());
    // The message still reaches its final status, as at Twilio.
    let mut status = String::new();
    for _ in 0..500 {
        status = client.fetch(&m.sid).await.unwrap().status;
        if status == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, "delivered");
}

#[tokio::test]
async fn failed_callbacks_are_retried_until_the_receiver_is_up() {
    let (receiver, url) = Receiver::spawn(3, Duration::ZERO).await;
    let mut cfg = config();
    cfg.callback_retries = 5;
    let sim = spawn(cfg).await;
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&url)))
            .await,
    );
    eventually("both statuses", || {
        let s = receiver.statuses(&m.sid);
        s.contains(&"sent".to_owned()) && s.contains(&"delivered".to_owned())
    })
    .await;
    eventually("two counted deliveries", || {
        sim.simulator.callback_stats().delivered == 2
    })
    .await;
    let stats = sim.simulator.callback_stats();
    assert_eq!(stats.failed_attempts, 3);
    assert_eq!(stats.delivered, 2);
    assert_eq!(stats.given_up, 0);

    // A receiver that is not listening at all: connection refused, then given up.
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/status", l.local_addr().unwrap())
    };
    let mut cfg = config();
    cfg.callback_retries = 2;
    let sim = spawn(cfg).await;
    accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&dead)))
            .await,
    );
    eventually("gave up", || sim.simulator.callback_stats().given_up == 2).await;
    assert_eq!(sim.simulator.callback_stats().failed_attempts, 6);
}

#[tokio::test]
async fn many_callbacks_stay_within_the_concurrency_bound() {
    let (receiver, url) = Receiver::spawn(0, Duration::from_millis(2)).await;
    let mut cfg = config();
    cfg.callback_concurrency = 8;
    cfg.callback_delay = Duration::from_millis(5);
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let to = format!("+4477009{t:02}{i:03}");
                accepted(client.send(&req(&to, "hi", Some(&url))).await);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    eventually("1600 callbacks", || receiver.seen().len() >= 1600).await;
    assert!(receiver.max_concurrent.load(Ordering::SeqCst) <= 8);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1600);
    eventually("every callback counted", || {
        let s = sim.simulator.callback_stats();
        s.delivered == 1600 && s.in_flight == 0
    })
    .await;
    let stats = sim.simulator.callback_stats();
    assert_eq!(
        (stats.delivered, stats.queued, stats.in_flight),
        (1600, 0, 0)
    );
    assert!(receiver.seen().iter().all(|s| s.signature_ok));
    assert_eq!(sim.simulator.journal().len(), 800);
}

#[tokio::test]
async fn remote_callbacks_are_skipped_by_default() {
    let sim = spawn(config()).await;
    // TEST-NET-1: never contacted.
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some("http://192.0.2.1/status")))
            .await,
    );
    assert!(m.sid.starts_with("SM"));
    let stats = sim.simulator.callback_stats();
    assert_eq!((stats.skipped_remote, stats.queued), (2, 0));
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

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = spawn(config()).await;
    let base = sim.base_url.clone();
    let client = client_for(&sim);
    accepted(client.send(&req("+447700900001", "hi", None)).await);
    sim.shutdown().await;
    let fresh = client_with(&base, SID, SID, TOKEN);
    assert!(matches!(
        fresh.send(&req("+447700900001", "hi", None)).await,
        SendOutcome::Retryable { .. }
    ));
}

#[test]
fn config_debug_hides_the_token() {
    let text = format!("{:?}", config());
    assert!(!text.contains(TOKEN));
    assert!(text.contains("<redacted>"));
}

#[test]
fn tuning_clamps_and_normalises() {
    let cfg = SimulatorConfig {
        delivered: f64::NAN,
        undelivered: 3.0,
        failed: 1.0,
        fail_429: 7.0,
        fail_5xx: -1.0,
        ..SimulatorConfig::default()
    };
    let t = Tuning::from_config(&cfg);
    assert_eq!((t.fail_429, t.fail_5xx), (1.0, 0.0));
    assert_eq!((t.undelivered, t.failed), (0.75, 0.25));
    let zero = SimulatorConfig {
        delivered: 0.0,
        ..SimulatorConfig::default()
    };
    let t = Tuning::from_config(&zero);
    assert_eq!((t.undelivered, t.failed), (0.0, 0.0));
}
