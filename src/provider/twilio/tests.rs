//! Unit tests of the Twilio client against a local fake Twilio, and of the pure classification.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap as AxHeaderMap, StatusCode as AxStatus, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use time::OffsetDateTime;

use super::outcome::{classify_response, parse_retry_after};
use super::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";

/// One request as the fake Twilio saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    body: String,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
    fn record(&self, path: String, query: Option<String>, headers: &AxHeaderMap, body: &[u8]) {
        let h = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let seen = Seen {
            path,
            query,
            content_type: h(header::CONTENT_TYPE),
            authorization: h(header::AUTHORIZATION),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        if let Ok(mut all) = self.seen.lock() {
            all.push(seen);
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` (test-only, keeps repeated keys).
fn form_decode(raw: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (dec(k), dec(v))
        })
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn json(status: u16, body: serde_json::Value) -> Response {
    let status = AxStatus::from_u16(status).unwrap_or(AxStatus::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    json(
        status,
        serde_json::json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn message_json(sid: &str, to: &str, from: &str, body: &str, date_sent: &str) -> serde_json::Value {
    serde_json::json!({
        "account_sid": SID, "api_version": "2010-04-01", "body": body,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": date_sent,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api",
        "error_code": null, "error_message": null, "from": from, "num_media": "0",
        "num_segments": "1", "price": null, "price_unit": null,
        "messaging_service_sid": null, "sid": sid, "status": "queued",
        "subresource_uris": {"media": "/x"}, "to": to,
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json"),
    })
}

fn authorized(headers: &AxHeaderMap) -> bool {
    use base64::Engine as _;
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == want)
}

/// Create: answers like Twilio's test credentials do for its magic numbers, plus a few
/// numbers of our own for the transport cases.
async fn create(
    State(fake): State<Fake>,
    Path(account): Path<String>,
    headers: AxHeaderMap,
    body: Bytes,
) -> Response {
    fake.record(
        format!("/2010-04-01/Accounts/{account}/Messages.json"),
        None,
        &headers,
        &body,
    );
    if !authorized(&headers) {
        return twilio_error(401, 20003, "Authentication Error - invalid username");
    }
    if account != SID {
        return twilio_error(404, 20404, "The requested resource was not found");
    }
    let form = form_decode(&String::from_utf8_lossy(&body));
    let to = field(&form, "To").unwrap_or_default().to_owned();
    match to.as_str() {
        "+15005550001" => twilio_error(
            400,
            21211,
            "The 'To' number +15005550001 is not a valid phone number.",
        ),
        "+15005550002" => twilio_error(
            400,
            21612,
            "The 'To' phone number is not currently reachable.",
        ),
        "+15005550003" => twilio_error(
            400,
            21408,
            "Permission to send an SMS has not been enabled for the region.",
        ),
        "+15005550004" => twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        "+15005550009" => twilio_error(400, 21614, "'To' number is not a valid mobile number"),
        "+15005550611" => twilio_error(
            400,
            21611,
            "This 'From' number has exceeded the maximum number of queued messages",
        ),
        "+15005550606" => twilio_error(
            400,
            21606,
            "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
        ),
        "+15005550429" => {
            let mut resp = twilio_error(429, 20429, "Too Many Requests");
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
            resp
        }
        "+15005550500" => twilio_error(500, 20500, "Internal Server Error"),
        "+15005550503" => (
            AxStatus::SERVICE_UNAVAILABLE,
            "<html>upstream unavailable</html>",
        )
            .into_response(),
        "+15005550418" => (
            AxStatus::BAD_REQUEST,
            "<html><body>Bad Request from a proxy</body></html>",
        )
            .into_response(),
        "+15005550400" => (AxStatus::BAD_REQUEST, "").into_response(),
        "+15005550200" => (AxStatus::CREATED, "not json").into_response(),
        "+15005550999" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json(201, message_json("SMslow", &to, "", "", ""))
        }
        _ => {
            let from = field(&form, "From").unwrap_or_default();
            let text = field(&form, "Body").unwrap_or_default();
            json(
                201,
                message_json("SM0123456789abcdef0123456789abcdef", &to, from, text, ""),
            )
        }
    }
}

async fn fetch_one(
    State(fake): State<Fake>,
    Path((account, file)): Path<(String, String)>,
    headers: AxHeaderMap,
) -> Response {
    fake.record(
        format!("/2010-04-01/Accounts/{account}/Messages/{file}"),
        None,
        &headers,
        &[],
    );
    if !authorized(&headers) {
        return twilio_error(401, 20003, "Authentication Error");
    }
    match file.strip_suffix(".json") {
        Some("SM0000000000000000000000000000000a") => {
            let mut m = message_json(
                "SM0000000000000000000000000000000a",
                "+447111000001",
                "+15005550006",
                "Hi",
                "Fri, 24 May 2019 17:44:50 +0000",
            );
            m["status"] = "undelivered".into();
            m["error_code"] = 30003.into();
            m["error_message"] = "Unreachable destination handset".into();
            m["num_segments"] = "3".into();
            json(200, m)
        }
        _ => twilio_error(404, 20404, "The requested resource was not found"),
    }
}

async fn list_page(
    State(fake): State<Fake>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    headers: AxHeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/Messages.json");
    fake.record(path.clone(), query.clone(), &headers, &[]);
    if !authorized(&headers) {
        return twilio_error(401, 20003, "Authentication Error");
    }
    let params = form_decode(query.as_deref().unwrap_or_default());
    let page: u32 = field(&params, "Page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let to = field(&params, "To").unwrap_or("+447111000001").to_owned();
    // This recipient's history never ends, to exercise the page bound.
    let endless = to == "+15550000000";
    let msgs: Vec<_> = (0..2)
        .map(|i| {
            message_json(
                &format!("SM{page:016}{i:016}"),
                &to,
                "+15005550006",
                "Hello",
                "Fri, 24 May 2019 17:44:50 +0000",
            )
        })
        .collect();
    let next = if page < 2 || endless {
        serde_json::Value::String(format!(
            "{path}?To={}&PageSize=2&Page={}&PageToken=PA{}",
            to.replace('+', "%2B"),
            page + 1,
            page + 1
        ))
    } else {
        serde_json::Value::Null
    };
    json(
        200,
        serde_json::json!({
            "messages": msgs, "next_page_uri": next, "page": page, "page_size": 2,
            "first_page_uri": path, "previous_page_uri": null, "start": page * 2, "end": page * 2 + 1,
            "uri": path,
        }),
    )
}

async fn spawn_fake() -> (String, Fake) {
    let fake = Fake::default();
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(create).get(list_page),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{file}",
            get(fetch_one),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

fn config(base_url: &str) -> TwilioConfig {
    TwilioConfig {
        base_url: base_url.to_owned(),
        timeout: Duration::from_secs(3),
        ..TwilioConfig::new(SID, TOKEN)
    }
}

async fn client() -> (TwilioClient, Fake) {
    let (base, fake) = spawn_fake().await;
    (TwilioClient::new(config(&base)).expect("client"), fake)
}

fn to(number: &str) -> SendRequest<'_> {
    SendRequest {
        to: number,
        from: "+15005550006",
        body: "Hello",
        status_callback: None,
    }
}

#[tokio::test]
async fn send_posts_the_exact_form_with_basic_auth() {
    let (client, fake) = client().await;
    let req = SendRequest {
        to: "+447111000001",
        from: "+15005550006",
        body: "Café 👍 & 100% \"quoted\" + more",
        status_callback: Some("https://herald.example/webhooks/twilio/status?campaign=42&r=7"),
    };
    let outcome = client.send(&req).await;
    let SendOutcome::Accepted(message) = outcome else {
        panic!("expected Accepted, got {outcome:?}");
    };
    assert_eq!(message.sid, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(message.status, "queued");
    assert_eq!(message.num_segments, Some(1));
    assert_eq!(message.num_media, Some(0));
    assert_eq!(message.error_code, None);
    assert_eq!(message.to.as_deref(), Some("+447111000001"));
    assert_eq!(message.body.as_deref(), Some(req.body));
    assert!(message.date_created_at().is_some());

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    assert_eq!(
        s.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        s.body,
        "To=%2B447111000001&From=%2B15005550006\
         &Body=Caf%C3%A9+%F0%9F%91%8D+%26+100%25+%22quoted%22+%2B+more\
         &StatusCallback=https%3A%2F%2Fherald.example%2Fwebhooks%2Ftwilio%2Fstatus%3Fcampaign%3D42%26r%3D7"
    );
    let form = form_decode(&s.body);
    assert_eq!(field(&form, "Body"), Some(req.body));
    // base64("AC0123456789abcdef0123456789abcdef:test-auth-token")
    assert_eq!(
        s.authorization.as_deref(),
        Some("Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0ZXN0LWF1dGgtdG9rZW4=")
    );
}

#[tokio::test]
async fn send_without_callback_omits_the_field() {
    let (client, fake) = client().await;
    let outcome = client.send(&to("+447111000001")).await;
    assert_eq!(outcome.kind(), "accepted");
    assert_eq!(
        fake.seen()[0].body,
        "To=%2B447111000001&From=%2B15005550006&Body=Hello"
    );
}

fn expect_rejected(outcome: SendOutcome) -> (u16, TwilioApiError) {
    match outcome {
        SendOutcome::Rejected { http_status, error } => (http_status, error),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_number_is_rejected_with_code_and_message() {
    let (client, _) = client().await;
    let (status, error) = expect_rejected(client.send(&to("+15005550001")).await);
    assert_eq!(status, 400);
    assert_eq!(error.code, Some(21211));
    assert_eq!(
        error.message.as_deref(),
        Some("The 'To' number +15005550001 is not a valid phone number.")
    );
    assert_eq!(
        error.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/21211")
    );
    assert_eq!(error.status, Some(400));
    assert!(!error.is_opt_out());
}

#[tokio::test]
async fn opted_out_recipient_is_rejected_and_flagged() {
    let (client, _) = client().await;
    let (status, error) = expect_rejected(client.send(&to("+15005550004")).await);
    assert_eq!(status, 400);
    assert_eq!(error.code, Some(21610));
    assert!(error.is_opt_out());
}

#[tokio::test]
async fn other_recipient_errors_are_rejected() {
    let (client, _) = client().await;
    for (number, code) in [
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550009", 21614),
    ] {
        let (status, error) = expect_rejected(client.send(&to(number)).await);
        assert_eq!((status, error.code), (400, Some(code)), "{number}");
    }
}

#[tokio::test]
async fn bad_credentials_are_config() {
    let (base, _) = spawn_fake().await;
    let cfg = TwilioConfig {
        password: "wrong".into(),
        ..config(&base)
    };
    let client = TwilioClient::new(cfg).expect("client");
    match client.send(&to("+447111000001")).await {
        SendOutcome::Config { http_status, error } => {
            assert_eq!(http_status, 401);
            assert_eq!(error.code, Some(20003));
        }
        other => panic!("expected Config, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_account_and_bad_sender_are_config() {
    let (base, _) = spawn_fake().await;
    let cfg = TwilioConfig {
        account_sid: "AC00000000000000000000000000000000".into(),
        ..config(&base)
    };
    let client = TwilioClient::new(cfg).expect("client");
    match client.send(&to("+447111000001")).await {
        SendOutcome::Config { http_status, error } => {
            assert_eq!((http_status, error.code), (404, Some(20404)));
        }
        other => panic!("expected Config, got {other:?}"),
    }
    let (client, _) = self::client().await;
    assert_eq!(client.send(&to("+15005550606")).await.kind(), "config");
}

#[tokio::test]
async fn too_many_requests_is_retryable_with_retry_after() {
    let (client, _) = client().await;
    match client.send(&to("+15005550429")).await {
        SendOutcome::Retryable {
            http_status,
            error,
            retry_after,
            ..
        } => {
            assert_eq!(http_status, Some(429));
            assert_eq!(error.and_then(|e| e.code), Some(20429));
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn sender_queue_full_is_retryable_with_long_backoff() {
    let (client, _) = client().await;
    match client.send(&to("+15005550611")).await {
        SendOutcome::Retryable {
            http_status,
            error,
            retry_after,
            ..
        } => {
            assert_eq!(http_status, Some(400));
            assert!(error.is_some_and(|e| e.is_sender_queue_full()));
            assert_eq!(retry_after, Some(SENDER_QUEUE_FULL_RETRY_AFTER));
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_ambiguous() {
    let (client, _) = client().await;
    for (number, status) in [("+15005550500", 500), ("+15005550503", 503)] {
        match client.send(&to(number)).await {
            SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, Some(status)),
            other => panic!("expected Ambiguous for {status}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unparseable_success_body_is_ambiguous() {
    let (client, _) = client().await;
    match client.send(&to("+15005550200")).await {
        SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, Some(201)),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
}

#[tokio::test]
async fn timeout_after_sending_is_ambiguous() {
    let (base, fake) = spawn_fake().await;
    let cfg = TwilioConfig {
        timeout: Duration::from_millis(300),
        ..config(&base)
    };
    let client = TwilioClient::new(cfg).expect("client");
    let started = std::time::Instant::now();
    match client.send(&to("+15005550999")).await {
        SendOutcome::Ambiguous {
            http_status,
            detail,
        } => {
            assert_eq!(http_status, None);
            assert!(detail.contains("timed out"), "{detail}");
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // The request did reach the server: that is exactly why it is ambiguous.
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn closed_port_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = TwilioClient::new(config(&format!("http://{addr}"))).expect("client");
    match client.send(&to("+447111000001")).await {
        SendOutcome::Retryable {
            http_status,
            error,
            detail,
            ..
        } => {
            assert_eq!(http_status, None);
            assert!(error.is_none());
            assert!(!detail.contains(TOKEN));
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_dropped_mid_request_is_ambiguous() {
    // A server that reads the request and hangs up without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        if let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    let client = TwilioClient::new(config(&format!("http://{addr}"))).expect("client");
    assert_eq!(client.send(&to("+447111000001")).await.kind(), "ambiguous");
}

#[tokio::test]
async fn non_json_error_bodies_are_tolerated() {
    let (client, _) = client().await;
    let (status, error) = expect_rejected(client.send(&to("+15005550418")).await);
    assert_eq!(status, 400);
    assert_eq!(error.code, None);
    assert_eq!(error.status, Some(400));
    assert!(
        error
            .message
            .as_deref()
            .is_some_and(|m| m.contains("Bad Request from a proxy"))
    );

    let (status, error) = expect_rejected(client.send(&to("+15005550400")).await);
    assert_eq!(status, 400);
    assert_eq!(error.message.as_deref(), Some("Bad Request"));
}

#[tokio::test]
async fn fetch_parses_a_message_and_reports_not_found() {
    let (client, fake) = client().await;
    let m = client
        .fetch("SM0000000000000000000000000000000a")
        .await
        .expect("fetch");
    assert_eq!(m.status, "undelivered");
    assert_eq!(m.error_code, Some(30003));
    assert_eq!(m.num_segments, Some(3));
    assert_eq!(
        m.date_sent_at(),
        Some(time::macros::datetime!(2019-05-24 17:44:50 UTC))
    );
    assert_eq!(
        fake.seen()[0].path,
        format!("/2010-04-01/Accounts/{SID}/Messages/SM0000000000000000000000000000000a.json")
    );
    let err = client
        .fetch("SMffffffffffffffffffffffffffffffff")
        .await
        .expect_err("404");
    assert!(err.is_not_found(), "{err:?}");
    assert!(!err.is_retryable());
    let err = client.fetch("../Calls").await.expect_err("bad sid");
    assert!(matches!(err, TwilioError::InvalidArgument(_)));
}

#[tokio::test]
async fn list_sends_filters_and_follows_pages() {
    let (client, fake) = client().await;
    let filter = ListFilter {
        to: Some("+447111000001"),
        from: Some("+15005550006"),
        date_sent_after: Some(time::macros::date!(2026 - 11 - 27)),
        page_size: 2,
        ..ListFilter::default()
    };
    let messages = client.list(&filter).await.expect("list");
    assert_eq!(messages.len(), 6, "three pages of two");
    assert_eq!(messages[0].sid, format!("SM{:016}{:016}", 0, 0));
    assert_eq!(messages[5].sid, format!("SM{:016}{:016}", 2, 1));
    assert!(messages.iter().all(|m| m.num_segments == Some(1)));

    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].query.as_deref(),
        Some("To=%2B447111000001&From=%2B15005550006&DateSent%3E=2026-11-27&PageSize=2")
    );
    let q = form_decode(seen[0].query.as_deref().unwrap_or_default());
    assert_eq!(field(&q, "DateSent>"), Some("2026-11-27"));
    assert!(
        seen[1]
            .query
            .as_deref()
            .is_some_and(|q| q.contains("PageToken=PA1"))
    );
    assert!(seen.iter().all(|s| s.authorization.is_some()));
}

#[tokio::test]
async fn list_stops_at_the_page_bound() {
    let (client, fake) = client().await;
    let filter = ListFilter {
        to: Some("+15550000000"),
        page_size: 2,
        max_pages: 4,
        ..ListFilter::default()
    };
    let err = client.list(&filter).await.expect_err("endless paging");
    assert!(
        matches!(err, TwilioError::PageLimit { max_pages: 4 }),
        "{err:?}"
    );
    assert_eq!(fake.seen().len(), 4);
    let bad = ListFilter {
        page_size: 0,
        ..ListFilter::default()
    };
    assert!(matches!(
        client.list(&bad).await,
        Err(TwilioError::InvalidArgument(_))
    ));
}

#[test]
fn classification_table() {
    let body = |code: i64, status: u16| {
        serde_json::json!({"code": code, "message": "m", "status": status}).to_string()
    };
    let kind = |status: u16, b: &str| classify_response(status, None, b.as_bytes()).kind();
    assert_eq!(kind(429, &body(20429, 429)), "retryable");
    assert_eq!(kind(429, ""), "retryable");
    assert_eq!(kind(400, &body(21611, 400)), "retryable");
    assert_eq!(kind(408, ""), "retryable");
    for status in [500, 502, 503, 504] {
        assert_eq!(kind(status, ""), "ambiguous");
    }
    assert_eq!(kind(201, "{}"), "ambiguous");
    assert_eq!(kind(401, ""), "config");
    assert_eq!(kind(401, &body(20003, 401)), "config");
    assert_eq!(kind(403, &body(20003, 403)), "config");
    assert_eq!(kind(404, ""), "config");
    assert_eq!(kind(400, &body(21606, 400)), "config");
    assert_eq!(kind(400, &body(21608, 400)), "config");
    assert_eq!(kind(302, ""), "config");
    for code in [
        21211, 21614, 21408, 21610, 21612, 21635, 21617, 21602, 99999,
    ] {
        assert_eq!(kind(400, &body(code, 400)), "rejected", "{code}");
    }
    assert_eq!(kind(403, ""), "rejected");
    assert_eq!(kind(400, "\u{0}\u{ff}garbage"), "rejected");
}

fn body_of(code: i64) -> String {
    serde_json::json!({"code": code, "message": "m", "status": 400}).to_string()
}

#[test]
fn error_bodies_in_other_shapes() {
    let problem = br#"{"type":"https://www.twilio.com/docs/errors/21211","title":"Invalid To","status":400,"code":"21211","detail":"bad number"}"#;
    let e = TwilioApiError::from_body(400, problem);
    assert_eq!(e.code, Some(21211));
    assert_eq!(e.message.as_deref(), Some("bad number"));
    assert_eq!(
        e.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/21211")
    );
    let bulk = br#"{"errors":[{"code":21610,"message":"unsubscribed","infoUrl":"u"}]}"#;
    let e = TwilioApiError::from_body(400, bulk);
    assert!(e.is_opt_out());
    assert_eq!(e.status, Some(400));
    let e = TwilioApiError::from_body(400, br#"[1,2]"#);
    assert_eq!((e.code, e.status), (None, Some(400)));
    let long = "x".repeat(10_000);
    let e = TwilioApiError::from_body(400, long.as_bytes());
    assert_eq!(
        e.message.as_ref().map(|m| m.chars().count()),
        Some(MAX_ERROR_TEXT_CHARS)
    );
    assert!(e.to_string().starts_with("Twilio error: xxx"));
    let e = TwilioApiError::from_body(400, body_of(21211).as_bytes());
    assert_eq!(e.to_string(), "Twilio error 21211: m");
}

#[test]
fn message_fields_are_lenient() {
    let m: Message = serde_json::from_str(
        r#"{"sid":"SM1","status":"sent","num_segments":"12","num_media":7,"error_code":"30007","extra":{"a":1}}"#,
    )
    .expect("parse");
    assert_eq!(
        (m.num_segments, m.num_media, m.error_code),
        (Some(12), Some(7), Some(30007))
    );
    let m: Message = serde_json::from_str(
        r#"{"sid":"SM1","status":"sent","num_segments":"lots","error_code":null,"date_sent":"garbage"}"#,
    )
    .expect("parse");
    assert_eq!(
        (m.num_segments, m.error_code, m.date_sent_at()),
        (None, None, None)
    );
    assert!(serde_json::from_str::<Message>(r#"{"status":"sent"}"#).is_err());
}

#[test]
fn retry_after_forms() {
    let mut headers = HeaderMap::new();
    assert_eq!(parse_retry_after(&headers), None);
    headers.insert(RETRY_AFTER, "120".parse().expect("hv"));
    assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(120)));
    headers.insert(RETRY_AFTER, "99999999999999".parse().expect("hv"));
    assert_eq!(parse_retry_after(&headers), Some(MAX_RETRY_AFTER));
    headers.insert(
        RETRY_AFTER,
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("hv"),
    );
    assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
    let soon = OffsetDateTime::now_utc() + time::Duration::seconds(90);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    headers.insert(
        RETRY_AFTER,
        soon.format(&fmt).expect("fmt").parse().expect("hv"),
    );
    let got = parse_retry_after(&headers).expect("date parsed");
    assert!(
        got > Duration::from_secs(80) && got <= Duration::from_secs(90),
        "{got:?}"
    );
    headers.insert(RETRY_AFTER, "soon".parse().expect("hv"));
    assert_eq!(parse_retry_after(&headers), None);
}

#[test]
fn config_is_validated_and_never_prints_the_password() {
    let cfg = TwilioConfig::new(SID, "super-secret-token");
    let printed = format!("{cfg:?}");
    assert!(!printed.contains("super-secret-token"), "{printed}");
    let client = TwilioClient::new(cfg.clone()).expect("client");
    assert!(!format!("{client:?}").contains("super-secret-token"));
    assert_eq!(
        client.account_url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{SID}")
    );

    let bad = |f: fn(&mut TwilioConfig)| {
        let mut c = cfg.clone();
        f(&mut c);
        matches!(TwilioClient::new(c), Err(TwilioError::InvalidConfig(_)))
    };
    assert!(bad(|c| c.base_url = "api.twilio.com".into()));
    assert!(bad(|c| c.base_url = "ftp://api.twilio.com".into()));
    assert!(bad(|c| c.base_url = "https://api.twilio.com/?x=1".into()));
    assert!(bad(|c| c.base_url = "https://AC1:tok@api.twilio.com".into()));
    assert!(bad(|c| c.account_sid = "AC/../x".into()));
    assert!(bad(|c| c.account_sid = String::new()));
    assert!(bad(|c| c.username = "a:b".into()));
    assert!(bad(|c| c.password = String::new()));
    assert!(bad(|c| c.timeout = Duration::ZERO));
    // API key auth: username is the key SID, the account SID stays in the path.
    let mut api_key = cfg.clone();
    api_key.username = "SK0123456789abcdef0123456789abcdef".into();
    api_key.base_url = "https://api.twilio.com/".into();
    let client = TwilioClient::new(api_key).expect("api key client");
    assert_eq!(
        client.account_url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{SID}")
    );
}
