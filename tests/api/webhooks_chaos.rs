//! Webhooks across a SIGKILL: events outstanding when the process dies are all delivered
//! after it restarts (the outbox is written in the transaction of each change).

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::webhooks::{receiver, verified_by};

struct Served {
    db: String,
    port: u16,
    base: String,
    key: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Served {
    fn new() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("hooks.db").display());
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["accounts", "create", "Hooks", "--json"])
            .env("HERALD_DATABASE_URL", &db)
            .output()
            .unwrap();
        let key = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        Served {
            db,
            port,
            base: format!("http://127.0.0.1:{port}"),
            key,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn start(&self) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .env("HERALD_DATABASE_URL", &self.db)
            .env("HERALD_BIND", format!("127.0.0.1:{}", self.port))
            .env("HERALD_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
            .env("HERALD_WEBHOOK_TIMEOUT_MS", "300")
            .env("HERALD_WEBHOOK_RETRY_BASE_MS", "50")
            .env_remove("TWILIO_ACCOUNT_SID")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok()
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not start");
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }
}

#[tokio::test]
async fn events_outstanding_at_a_sigkill_are_all_delivered_after_restart() {
    let rx = receiver().await;
    rx.state.down.store(true, Ordering::SeqCst);
    let served = Served::new();
    let mut child = served.start().await;
    let r = served
        .request(Method::POST, "/v1/webhook-endpoints")
        .json(&json!({ "url": rx.url, "events": ["opt_out.created"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let secret = r.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // Twenty events while the receiver is down: each is retried, none acknowledged.
    let phones: BTreeSet<String> = (0..20)
        .map(|i| format!("+447723{:06}", 200_000 + i))
        .collect();
    for phone in &phones {
        let r = served
            .request(Method::POST, "/v1/opt-outs")
            .json(&json!({ "phone": phone }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // Let some attempts happen (some are in flight when the process dies).
    rx.wait(10, |g| g.len() >= 20).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(rx.got().iter().all(|g| !g.acked));

    rx.state.down.store(false, Ordering::SeqCst);
    let mut child = served.start().await;
    let delivered = |g: &[crate::webhooks::Got]| -> BTreeSet<String> {
        g.iter()
            .filter(|g| g.acked)
            .map(|g| g.json()["data"]["phone"].as_str().unwrap().to_owned())
            .collect()
    };
    let got = rx.wait(60, |g| delivered(g) == phones).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        delivered(&got),
        phones,
        "every event delivered after the restart"
    );
    for g in got.iter().filter(|g| g.acked) {
        assert_eq!(verified_by(&secret, g), 1);
    }
    // Each event kept its webhook-id across the crash: one id per phone.
    let ids: BTreeSet<(String, String)> = got
        .iter()
        .map(|g| {
            (
                g.json()["data"]["phone"].as_str().unwrap().to_owned(),
                g.id.clone(),
            )
        })
        .collect();
    assert_eq!(ids.len(), phones.len(), "{ids:?}");
}
