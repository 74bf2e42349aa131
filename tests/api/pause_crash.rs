//! A paused campaign survives a crash: `herald serve` as a real process sending to a
//! standalone simulator, the campaign paused mid-send, the server SIGKILLed and started again
//! on the same database. Nothing leaves while it stays paused, and after resume every
//! recipient has exactly one message at the carrier (its journal), on both backends.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use herald_test_support::{Backend, TestDb};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const FROM: &str = "+447446466847";
const RECIPIENTS: u64 = 40;
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "pause-crash-token";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls `check` every 50 ms for up to `secs` seconds; panics with `what` if it never holds.
async fn wait_for<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 20 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The carrier (`herald simulator`) and one `herald serve` in front of it, on `db`.
struct Rig {
    sim: Child,
    sim_url: String,
    server: Option<Child>,
    base: String,
    port: u16,
    db: String,
    key: String,
    client: reqwest::Client,
}

impl Rig {
    async fn new(db: &str) -> Rig {
        let sim_port = free_port();
        let sim = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("simulator")
            .args(["--bind", &format!("127.0.0.1:{sim_port}")])
            .args(["--account-sid", SID, "--auth-token", TOKEN])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let sim_url = format!("http://127.0.0.1:{sim_port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let probe = format!("{sim_url}/sim/messages");
        wait_for(30, "the simulator", || {
            let (c, u) = (client.clone(), probe.clone());
            async move { c.get(u).send().await.is_ok() }
        })
        .await;
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["accounts", "create", "Paused", "--json"])
            .env("HERALD_DATABASE_URL", db)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let key = serde_json::from_slice::<Value>(&out.stdout).unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let port = free_port();
        Rig {
            sim,
            sim_url,
            server: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            db: db.to_owned(),
            key,
            client,
        }
    }

    /// Starts `herald serve` and waits until it is ready.
    async fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .env("HERALD_DATABASE_URL", &self.db)
            .env("HERALD_BIND", format!("127.0.0.1:{}", self.port))
            .env("TWILIO_ACCOUNT_SID", SID)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("HERALD_TWILIO_BASE_URL", &self.sim_url)
            .env("HERALD_RECONCILE_AFTER_MS", "1000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.server = Some(child);
        let url = format!("{}/readyz", self.base);
        wait_for(60, "herald serve", || {
            let (c, u) = (self.client.clone(), url.clone());
            async move { c.get(u).send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
    }

    /// SIGKILL: no shutdown, exactly like a crash.
    async fn kill(&mut self) {
        let mut child = self.server.take().expect("a running server");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn campaign(&self, id: &str) -> Value {
        let (status, c) = self
            .call(Method::GET, &format!("/v1/sms/campaigns/{id}"), None)
            .await;
        assert_eq!(status, 200, "{c}");
        c
    }

    /// Messages the carrier accepted, per recipient.
    async fn carrier(&self) -> HashMap<String, u32> {
        let journal: Vec<Value> = self
            .client
            .get(format!("{}/sim/messages", self.sim_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut by_phone = HashMap::new();
        for m in journal {
            *by_phone
                .entry(m["to"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        by_phone
    }
}

async fn paused_campaign_survives_sigkill(db: TestDb) {
    let mut rig = Rig::new(&db.url).await;
    rig.start().await;
    let (status, n) = rig
        .call(
            Method::POST,
            "/v1/numbers",
            Some(json!({ "phone": FROM, "mps": 5 })),
        )
        .await;
    assert_eq!(status, 201, "{n}");
    let recipients: Vec<Value> = (0..RECIPIENTS)
        .map(|i| json!({ "phone": format!("+447723{:06}", 100_000 + i), "variables": { "n": i } }))
        .collect();
    let (status, created) = rig
        .call(
            Method::POST,
            "/v1/sms/campaigns",
            Some(json!({
                "from_number": FROM, "name": "Paused then killed",
                "message_template": "Hello {{n}}", "recipients": recipients,
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["campaign_id"].as_str().unwrap().to_owned();

    // Mid-send: some left, most not.
    wait_for(60, "the first messages at the carrier", || async {
        rig.carrier().await.len() >= 4
    })
    .await;
    let (status, paused) = rig
        .call(Method::POST, &format!("/v1/sms/campaigns/{id}/pause"), None)
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "paused", "{paused}");

    // Crash while paused. Whatever Herald had in flight reached the carrier or did not;
    // from here on only a restarted Herald can send.
    rig.kill().await;
    let at_kill = rig.carrier().await;
    assert!(
        (at_kill.len() as u64) < RECIPIENTS,
        "the campaign finished before the pause: {at_kill:?}"
    );

    rig.start().await;
    let c = rig.campaign(&id).await;
    assert_eq!(c["status"], "paused", "{c}");
    // Longer than the reconciliation delay (1 s) and several messages at the number's pace.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let while_paused = rig.carrier().await;
    assert_eq!(
        while_paused, at_kill,
        "a message left for a paused campaign after the restart"
    );
    let c = rig.campaign(&id).await;
    assert_eq!(c["status"], "paused", "{c}");

    let (status, resumed) = rig
        .call(
            Method::POST,
            &format!("/v1/sms/campaigns/{id}/resume"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "running", "{resumed}");

    let mut last = Value::Null;
    for _ in 0..2400 {
        last = rig.campaign(&id).await;
        if last["status"] == "done" && last["delivered_count"] == RECIPIENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["status"], "done", "{last}");
    assert_eq!(last["delivered_count"], RECIPIENTS, "{last}");
    let carrier = rig.carrier().await;
    assert_eq!(carrier.len() as u64, RECIPIENTS, "{carrier:?}");
    let twice: Vec<_> = carrier.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "texted more than once: {twice:?}");
    assert_eq!(last["total_count"], RECIPIENTS, "{last}");
    assert_eq!(last["pending_count"], 0, "{last}");

    rig.kill().await;
    let _ = rig.sim.kill().await;
}

#[tokio::test]
async fn a_campaign_paused_then_sigkilled_sends_nothing_until_resumed_and_nobody_twice_sqlite() {
    paused_campaign_survives_sigkill(TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_campaign_paused_then_sigkilled_sends_nothing_until_resumed_and_nobody_twice_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("skipped: set TEST_DATABASE_URL");
        return;
    };
    assert_eq!(db.backend, Backend::Postgres);
    paused_campaign_survives_sigkill(db).await;
}
