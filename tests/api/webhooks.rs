//! Outgoing webhooks seen from a receiver: a small axum server on loopback in the test that
//! checks every signature the Standard Webhooks way (independently of Herald's signer),
//! answers as told (failures first, to see retries), and records what it got.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_test_support::{TestApp, json, spawn_app_with, spawn_sending_app};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json as j};
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    /// Whether it answered 2xx.
    pub acked: bool,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
pub struct ReceiverState {
    pub got: Mutex<Vec<Got>>,
    /// Answer 500 to this many requests first.
    pub fail_next: AtomicU32,
    /// Answer 503 to everything while set.
    pub down: std::sync::atomic::AtomicBool,
}

/// The receiver: its URL and what it got.
pub struct Receiver {
    pub url: String,
    pub state: Arc<ReceiverState>,
}

impl Receiver {
    pub fn got(&self) -> Vec<Got> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits up to `secs` until `done(all requests so far)`; returns them.
    pub async fn wait(&self, secs: u64, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got();
            if done(&got) || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let fail = state.down.load(Ordering::SeqCst)
        || state
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    state.got.lock().unwrap().push(Got {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: body.to_vec(),
        acked: !fail,
    });
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Starts a receiver on a random loopback port.
pub async fn receiver() -> Receiver {
    let state = Arc::new(ReceiverState::default());
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        url: format!("http://{addr}/hook"),
        state,
    }
}

/// The signatures of `got` that `secret` verifies, following the specification: the key is
/// the base64 after `whsec_`, the signed content `id.timestamp.body`, each signature
/// `v1,<base64 HMAC-SHA256>`, several separated by spaces.
pub fn verified_by(secret: &str, got: &Got) -> usize {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", got.id, got.timestamp).as_bytes());
    mac.update(&got.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    got.signature.split(' ').filter(|s| *s == expected).count()
}

/// Herald delivering to loopback (private addresses allowed), retrying quickly.
async fn webhook_app(sending: bool) -> TestApp {
    let tweak = |s: &mut herald::config::Settings| {
        s.webhooks.allow_private = true;
        s.webhooks.retry_base = Duration::from_millis(100);
        s.webhooks.timeout = Duration::from_secs(2);
    };
    if sending {
        spawn_sending_app(tweak).await
    } else {
        spawn_app_with(|s| {
            tweak(s);
            // The deliverer runs with the engine; nothing here sends SMS.
            s.run_engine = true;
        })
        .await
    }
}

/// Adds an endpoint for `events` at `url`; returns (endpoint_id, secret).
async fn add_endpoint(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            &j!({ "url": url, "events": events, "description": "test receiver" }),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let body = json(r).await;
    (
        body["endpoint_id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_campaign_s_events_arrive_signed() {
    let app = webhook_app(true).await;
    let rx = receiver().await;
    let (_, secret) = add_endpoint(
        &app,
        &rx.url,
        &[
            "campaign.started",
            "campaign.finished",
            "recipient.delivered",
        ],
    )
    .await;
    let from = "+447446466847";
    app.add_number(from).await;
    let c = app.create_campaign(from, 3, j!({})).await;
    let id = c["campaign_id"].as_str().unwrap().to_owned();
    app.wait_all_delivered(&id, 3, 20).await;
    let got = rx
        .wait(20, |g| {
            g.iter()
                .filter(|g| g.json()["type"] == "campaign.finished")
                .count()
                == 1
                && g.iter()
                    .filter(|g| g.json()["type"] == "recipient.delivered")
                    .count()
                    == 3
        })
        .await;
    let types: Vec<String> = got
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "campaign.started").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "recipient.delivered").count(),
        3,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "campaign.finished").count(),
        1,
        "{types:?}"
    );
    for g in &got {
        assert_eq!(verified_by(&secret, g), 1, "{g:?}");
        assert!(g.id.starts_with("whmsg_"), "{g:?}");
        let body = g.json();
        assert_eq!(body["data"]["campaign_id"], id.as_str(), "{body}");
        assert!(
            time::OffsetDateTime::parse(
                body["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
    }
    let finished = got
        .iter()
        .find(|g| g.json()["type"] == "campaign.finished")
        .unwrap()
        .json();
    assert_eq!(finished["data"]["status"], "done", "{finished}");
    let delivered = got
        .iter()
        .find(|g| g.json()["type"] == "recipient.delivered")
        .unwrap()
        .json();
    assert_eq!(delivered["data"]["status"], "delivered", "{delivered}");
    assert!(
        delivered["data"]["phone"]
            .as_str()
            .unwrap()
            .starts_with("+44")
    );
    // Another secret verifies nothing.
    let other = add_endpoint(&app, &rx.url, &["opt_out.removed"]).await.1;
    assert!(got.iter().all(|g| verified_by(&other, g) == 0));
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_the_same_id_and_deliveries_show_them() {
    let app = webhook_app(false).await;
    let rx = receiver().await;
    rx.state.fail_next.store(2, Ordering::SeqCst);
    let (endpoint, secret) = add_endpoint(&app, &rx.url, &["opt_out.created"]).await;
    let r = app
        .post_json(
            "/v1/opt-outs",
            &j!({ "phone": "+447723100123", "reason": "asked" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let got = rx.wait(20, |g| g.iter().any(|g| g.acked)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.iter().all(|g| g.id == got[0].id),
        "one webhook-id: {got:?}"
    );
    assert_eq!(
        got.iter().map(|g| g.acked).collect::<Vec<_>>(),
        [false, false, true]
    );
    for g in &got {
        assert_eq!(verified_by(&secret, g), 1);
        assert_eq!(g.json()["type"], "opt_out.created");
        assert_eq!(g.json()["data"]["phone"], "+447723100123");
    }
    let d = json(
        app.get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
            .await,
    )
    .await;
    let deliveries = d["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3, "{d}");
    // Newest first.
    assert_eq!(deliveries[0]["attempt"], 3, "{d}");
    assert_eq!(deliveries[0]["status_code"], 204, "{d}");
    assert_eq!(deliveries[0]["error"], Value::Null, "{d}");
    assert_eq!(deliveries[2]["attempt"], 1, "{d}");
    assert_eq!(deliveries[2]["status_code"], 500, "{d}");
    assert_eq!(deliveries[2]["error"], "HTTP 500", "{d}");
    for x in deliveries {
        assert_eq!(x["webhook_id"], got[0].id.as_str());
        assert_eq!(x["event_type"], "opt_out.created");
    }
    // The endpoint is healthy again.
    let e = json(app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await).await;
    assert_eq!(e["failing_since"], Value::Null, "{e}");
    assert_eq!(e["pending"], 0, "{e}");
    assert_eq!(e["enabled"], true, "{e}");

    // Removing the opt-out is an event too, for an endpoint that asks for it.
    let r = app
        .request(Method::PATCH, &format!("/v1/webhook-endpoints/{endpoint}"))
        .json(&j!({ "events": ["opt_out.created", "opt_out.removed"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .request(Method::DELETE, "/v1/opt-outs/%2B447723100123?reason=asked")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let got = rx
        .wait(20, |g| {
            g.iter().any(|g| g.json()["type"] == "opt_out.removed")
        })
        .await;
    let removed = got.last().unwrap();
    assert_eq!(removed.json()["type"], "opt_out.removed");
    assert_eq!(verified_by(&secret, removed), 1);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_and_test_events_arrive() {
    let app = webhook_app(false).await;
    let rx = receiver().await;
    let (endpoint, old) = add_endpoint(&app, &rx.url, &["campaign.started"]).await;
    let r = app
        .request(
            Method::POST,
            &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated = json(r).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let r = app
        .request(
            Method::POST,
            &format!("/v1/webhook-endpoints/{endpoint}/test"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let got = rx.wait(20, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_eq!(got[0].signature.split(' ').count(), 2, "{:?}", got[0]);
    assert_eq!(verified_by(&old, &got[0]), 1);
    assert_eq!(verified_by(&new, &got[0]), 1);
    let e = json(app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await).await;
    assert_eq!(
        e["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );
    // The secret is never shown again.
    assert!(e.get("secret").is_none(), "{e}");
    let list = json(app.get("/v1/webhook-endpoints").await).await;
    assert!(!list.to_string().contains(&new));
}

#[tokio::test]
async fn endpoints_are_checked_scoped_and_documented() {
    // Private addresses not allowed (the default).
    let app = spawn_app_with(|s| s.run_engine = false).await;
    for (body, field) in [
        (
            j!({ "url": "http://hooks.example.com/x", "events": ["campaign.started"] }),
            "url",
        ),
        (
            j!({ "url": "https://127.0.0.1/x", "events": ["campaign.started"] }),
            "url",
        ),
        (
            j!({ "url": "https://169.254.169.254/latest", "events": ["campaign.started"] }),
            "url",
        ),
        (
            j!({ "url": "https://localhost/x", "events": ["campaign.started"] }),
            "url",
        ),
        (j!({ "events": ["campaign.started"] }), "url"),
        (
            j!({ "url": "https://93.184.216.34/x", "events": [] }),
            "events",
        ),
        (
            j!({ "url": "https://93.184.216.34/x", "events": ["campaign.exploded"] }),
            "events[0]",
        ),
        (j!({ "url": "https://93.184.216.34/x" }), "events"),
    ] {
        let r = app.post_json("/v1/webhook-endpoints", &body).await;
        assert_eq!(r.status(), 422, "{body}");
        let e = json(r).await;
        assert_eq!(e["error"]["details"][0]["field"], field, "{body}: {e}");
    }
    assert_eq!(
        json(app.get("/v1/webhook-endpoints").await).await["webhook_endpoints"],
        j!([])
    );
    // An address literal that is public needs no lookup.
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            &j!({ "url": "https://93.184.216.34/hook", "events": ["campaign.started", "campaign.started"] }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created = json(r).await;
    let id = created["endpoint_id"].as_str().unwrap().to_owned();
    assert_eq!(created["events"], j!(["campaign.started"]));
    assert_eq!(created["enabled"], true);

    // Another account sees nothing.
    let other = app.other_account().await;
    for (method, path) in [
        (Method::GET, format!("/v1/webhook-endpoints/{id}")),
        (Method::DELETE, format!("/v1/webhook-endpoints/{id}")),
        (
            Method::POST,
            format!("/v1/webhook-endpoints/{id}/rotate-secret"),
        ),
        (
            Method::GET,
            format!("/v1/webhook-endpoints/{id}/deliveries"),
        ),
    ] {
        let r = app.request_as(&other, method, &path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // PATCH: disable, bad fields are 422 and change nothing.
    let r = app
        .request(Method::PATCH, &format!("/v1/webhook-endpoints/{id}"))
        .json(&j!({ "enabled": false, "url": "https://10.0.0.1/x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .request(Method::PATCH, &format!("/v1/webhook-endpoints/{id}"))
        .json(&j!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["enabled"], false);
    let r = app
        .request(Method::POST, &format!("/v1/webhook-endpoints/{id}/test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = app
        .get(&format!("/v1/webhook-endpoints/{id}/deliveries?limit=0"))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.delete(&format!("/v1/webhook-endpoints/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/v1/webhook-endpoints/{id}"))
            .await
            .status(),
        404
    );

    let doc = app.openapi().await;
    for path in [
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints/{endpoint_id}",
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        "/v1/webhook-endpoints/{endpoint_id}/test",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}
