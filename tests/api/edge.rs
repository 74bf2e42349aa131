//! The public edge: what strangers send costs Herald almost nothing (small body limits,
//! unsigned webhooks refused unread, a bounded and atomic sign-in throttle), `next` stays on
//! this site, `/metrics` is guarded, slow clients are cut off, and secrets are never printed.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Client, Response};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use herald_test_support::dashboard::{hidden, set_cookie};
use herald_test_support::{TestApp, spawn_app, spawn_app_with};

/// A generous bound for answers that must come without the client sending anything more.
const PATIENCE: Duration = Duration::from_secs(20);

fn no_redirects(from: Option<&str>) -> Client {
    let mut b = Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(ip) = from {
        b = b.local_address(ip.parse::<IpAddr>().unwrap());
    }
    b.build().unwrap()
}

/// The sign-in form's cookie and token, as a browser gets them.
async fn login_form(app: &TestApp, client: &Client, next: &str) -> (String, String) {
    let r = client
        .get(app.url(&format!("/login?next={next}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jar = set_cookie(&r, "herald_login_csrf").unwrap();
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    (jar, csrf)
}

async fn post_login(
    app: &TestApp,
    client: &Client,
    (jar, csrf): &(String, String),
    user: &str,
    password: &str,
    next: &str,
) -> Response {
    let body = serde_urlencoded::to_string([
        ("username", user),
        ("password", password),
        ("csrf", csrf),
        ("next", next),
    ])
    .unwrap();
    client
        .post(app.url("/login"))
        .header(COOKIE, jar)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Signs in as the bootstrap user: the session cookie and the session's CSRF token.
async fn signed_in(app: &TestApp) -> (String, String) {
    let client = no_redirects(None);
    let form = login_form(app, &client, "/").await;
    let r = post_login(
        app,
        &client,
        &form,
        &app.creds.user,
        &app.creds.password,
        "",
    )
    .await;
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "herald_session").unwrap();
    let page = client
        .get(app.url("/campaigns/new"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (session, hidden(&page, "csrf"))
}

async fn error_code(r: Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Writes `head` on a fresh connection and returns what the server answers before the
/// client sends anything more (the status line, or nothing when it closes the connection).
async fn answer_to_head(addr: SocketAddr, head: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("the server answers without waiting for the body")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn unsigned_webhooks_are_refused_before_their_body_is_read() {
    let app = spawn_app().await;
    for path in ["/webhooks/twilio/status", "/webhooks/twilio/inbound"] {
        // A 32 MiB body is announced and never sent: the 403 comes anyway.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 33554432\r\n\r\nMessageSid=SM1"
        );
        let answer = answer_to_head(app.addr, &head).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{path}: {answer}");
        assert!(answer.contains("\"forbidden\""), "{path}: {answer}");
    }
}

#[tokio::test]
async fn webhook_bodies_over_64_kib_are_413_in_the_apis_shape() {
    let app = spawn_app().await;
    let client = Client::new();
    let big = format!("Body={}", "a".repeat(70 * 1024));
    for path in ["/webhooks/twilio/status", "/webhooks/twilio/inbound"] {
        let r = client
            .post(app.url(path))
            .header("X-Twilio-Signature", "anything")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        assert_eq!(error_code(r).await, "payload_too_large");
    }
    // Without a Content-Length (chunked), reading stops at the limit.
    let chunk = "a".repeat(70 * 1024);
    let head = format!(
        "POST /webhooks/twilio/inbound HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        chunk.len()
    );
    let answer = answer_to_head(app.addr, &head).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    // A small signed form still gets through to the signature check.
    let r = client
        .post(app.url("/webhooks/twilio/status"))
        .header("X-Twilio-Signature", "wrong")
        .form(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn sign_in_forms_over_64_kib_and_long_names_cost_nothing() {
    let app = spawn_app().await;
    let client = no_redirects(None);
    let form = login_form(&app, &client, "/").await;
    let r = post_login(&app, &client, &form, &"x".repeat(80 * 1024), "password", "").await;
    assert_eq!(r.status(), 413);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("That is too large"));

    // A name no user can have is refused like a wrong one, and not echoed back whole.
    let long = "n".repeat(300);
    let r = post_login(&app, &client, &form, &long, "password", "").await;
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert!(page.contains("The user name or password is not right"));
    assert!(!page.contains(&long));
}

/// Posts these sign-ins all at once; their statuses.
async fn burst(app: &TestApp, client: &Client, tries: Vec<(String, String)>) -> Vec<u16> {
    let (jar, csrf) = login_form(app, client, "/").await;
    let mut set = tokio::task::JoinSet::new();
    for (user, password) in tries {
        let req = client.post(app.url("/login")).header(COOKIE, &jar).form(&[
            ("username", user.as_str()),
            ("password", password.as_str()),
            ("csrf", csrf.as_str()),
        ]);
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    set.join_all().await
}

#[tokio::test]
async fn a_parallel_burst_of_wrong_passwords_gets_no_more_than_the_limit() {
    let app = spawn_app().await;
    let client = no_redirects(None);
    let user = app.creds.user.clone();
    let tries = (0..40)
        .map(|i| (user.clone(), format!("guess {i}")))
        .collect();
    let statuses = burst(&app, &client, tries).await;
    let judged = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(judged <= 10, "{statuses:?}");
    assert_eq!(judged + refused, 40, "{statuses:?}");

    // Locked out from this address, even with the right password (a try that found Herald
    // too busy to check it was not counted, so top the failures up first)…
    let form = login_form(&app, &client, "/").await;
    for _ in 0..10 {
        let r = post_login(&app, &client, &form, &user, "one more guess", "").await;
        if r.status() == 429 {
            break;
        }
    }
    let r = post_login(&app, &client, &form, &user, &app.creds.password, "").await;
    assert_eq!(r.status(), 429);
    // …but not from another: a stranger cannot lock a real user out.
    let elsewhere = no_redirects(Some("127.0.0.2"));
    let form = login_form(&app, &elsewhere, "/").await;
    let r = post_login(&app, &elsewhere, &form, &user, &app.creds.password, "").await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn many_sign_ins_at_once_wait_their_turn_and_never_fail() {
    let app = spawn_app().await;
    let client = no_redirects(None);
    let tries = (0..24)
        .map(|i| (format!("user{i}"), "guess".to_owned()))
        .collect();
    for status in burst(&app, &client, tries).await {
        assert!(status == 401 || status == 429, "{status}");
    }
}

#[tokio::test]
async fn next_after_sign_in_stays_on_this_site_and_never_fails() {
    let app = spawn_app().await;
    let client = no_redirects(None);
    // The form carries only a safe `next`.
    let r = client
        .get(app.url("/login?next=/%09/evil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hidden(&r.text().await.unwrap(), "next"), "/");
    let form = login_form(&app, &client, "/").await;
    let r = post_login(
        &app,
        &client,
        &form,
        &app.creds.user,
        &app.creds.password,
        "/\t/evil.example",
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/");
    let session = set_cookie(&r, "herald_session").unwrap();
    // Signed in, `/login?next=…` redirects at once: control characters never reach a header.
    for (next, to) in [
        ("/%01x", "/"),
        ("/%09/evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("//evil.example", "/"),
        ("/campaigns%3Fx%3D1", "/campaigns?x=1"),
    ] {
        let r = client
            .get(app.url(&format!("/login?next={next}")))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(r.headers()[LOCATION], to, "{next}");
    }
}

#[tokio::test]
async fn metrics_answer_loopback_or_the_token() {
    let open = spawn_app().await;
    let r = Client::new()
        .get(open.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let guarded = spawn_app_with(|s| {
        s.run_engine = false;
        s.metrics_token = Some("metrics-secret-7".into());
    })
    .await;
    let client = Client::new();
    for auth in [None, Some("Bearer wrong"), Some("metrics-secret-7")] {
        let mut req = client.get(guarded.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(error_code(r).await, "unauthorized");
    }
    let r = client
        .get(guarded.url("/metrics"))
        .bearer_auth("metrics-secret-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("# EOF"));
}

#[tokio::test]
async fn a_connection_that_sends_half_a_header_is_closed() {
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.header_read_timeout = Duration::from_millis(200);
    })
    .await;
    let answer = answer_to_head(app.addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
    // Closed without an answer, or with a 408: either way the connection is not held.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A whole request is served as ever.
    let r = Client::new().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.max_connections = 2;
    })
    .await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    // Both held connections are accepted before the third (connections are accepted in
    // order); make sure of it by completing a request on the first.
    let mut first = first;
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    drop(first);
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, third.read_to_end(&mut answer))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn every_answer_says_nosniff_and_https_adds_hsts() {
    let app = spawn_app().await;
    let client = no_redirects(None);
    for path in [
        "/healthz",
        "/v1/sms/campaigns",
        "/login",
        "/nowhere",
        "/v1/nowhere",
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(r.headers().get("strict-transport-security").is_none());
    }
    let https = spawn_app_with(|s| {
        s.run_engine = false;
        s.public_url = Some("https://herald.example.com".into());
    })
    .await;
    for path in ["/healthz", "/login"] {
        let r = client.get(https.url(path)).send().await.unwrap();
        assert!(
            r.headers()["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age="),
            "{path}"
        );
    }
}

#[tokio::test]
async fn dashboard_json_endpoints_and_bad_uploads_answer_in_their_edges_shape() {
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.max_body_bytes = 64 * 1024;
    })
    .await;
    let (session, csrf) = signed_in(&app).await;
    let client = no_redirects(None);
    let multipart = |csrf: &str, file: &str| {
        let b = "----edge-boundary";
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"recipients_file\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{b}--\r\n"
        )
    };
    let post = |path: &str, content_type: &str, body: String| {
        client
            .post(app.url(path))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let with_boundary = "multipart/form-data; boundary=----edge-boundary";

    // The live check: a stale token, no boundary, too large: all in the API's shape.
    let r = post(
        "/campaigns/new/check",
        with_boundary,
        multipart("stale", ""),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "forbidden");
    let r = post("/campaigns/new/check", "multipart/form-data", String::new())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "bad_request");
    let big = "+15555550100\n".repeat(8_000);
    let r = post(
        "/campaigns/new/check",
        with_boundary,
        multipart(&csrf, &big),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "payload_too_large");

    // The form itself: the dashboard's error page.
    let r = post("/campaigns/new", "multipart/form-data", String::new())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Something is wrong with that request")
    );
    let r = post("/campaigns/new", with_boundary, multipart(&csrf, &big))
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let page = r.text().await.unwrap();
    assert!(page.contains("That is too large"), "{page}");
    assert!(page.contains("Sign out"), "framed for the signed-in user");
    // A form in a type the route does not read keeps its status, on the dashboard's page.
    let r = post("/campaigns/new", "text/plain", "x".into())
        .await
        .unwrap();
    let status = r.status();
    assert!(status.is_client_error(), "{status}");
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

fn herald(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_herald"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn secrets_never_appear_in_help_or_errors() {
    let secrets = [
        (
            "HERALD_DATABASE_URL",
            "postgres://herald:db-pass-1@127.0.0.1:1/h",
        ),
        ("TWILIO_AUTH_TOKEN", "twilio-token-2"),
        ("TWILIO_API_KEY", "SKapi-key-3"),
        ("TWILIO_API_SECRET", "api-secret-4"),
        ("HERALD_LLM_API_KEY", "model-key-5"),
        ("HERALD_METRICS_TOKEN", "metrics-token-6"),
    ];
    let words = [
        "db-pass-1",
        "twilio-token-2",
        "SKapi-key-3",
        "api-secret-4",
        "model-key-5",
        "metrics-token-6",
    ];
    for args in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["accounts", "create", "--help"],
    ] {
        let out = herald(args, &secrets);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("--metrics-token") || args[0] != "serve",
            "{text}"
        );
        for w in words {
            assert!(!text.contains(w), "{args:?} shows {w}: {text}");
        }
    }

    // A database URL Herald cannot use: the error quotes it with the password masked.
    let out = herald(
        &[
            "migrate",
            "--database",
            "mysql://herald:db-pass-1@127.0.0.1/h",
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("herald:***@"), "{stderr}");
    assert!(!stderr.contains("db-pass-1"), "{stderr}");
    let out = herald(
        &["serve", "--bind", "127.0.0.1:0"],
        &[(
            "HERALD_DATABASE_URL",
            "mysql://herald:db-pass-1@127.0.0.1/h",
        )],
    );
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("herald:***@"), "{all}");
    assert!(!all.contains("db-pass-1"), "{all}");

    // The success line of `herald migrate` names the database without its password.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let out = herald(&["migrate", "--database", &db], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("migrations applied to sqlite://"));
}
