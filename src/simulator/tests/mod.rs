//! End-to-end tests of the simulator through Herald's real Twilio client and a signature-checking callback receiver; the shared fixtures live here, the tests by subject below.

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

mod callbacks;
mod faults;
mod listing;
mod messages;

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
