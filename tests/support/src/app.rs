//! A running Herald for one test, and the requests tests make of it: the HTTP verbs as the
//! bootstrap account, and the arrange steps (numbers, agents, campaigns) many tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald::config::Settings;
use herald::service::accounts::{self, AccountCredentials};
use herald::startup::Application;
use herald::store::DynStore;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::checks::{assert_counts_match, finished, json};
use crate::db::TestDb;

/// The agent prompt tests use when the prompt itself does not matter.
const RECEPTIONIST: &str = "You are the receptionist at Acme Dental.";

/// A running Herald and an HTTP client that speaks to it as the bootstrap account.
pub struct TestApp {
    /// Where it listens (a random loopback port).
    pub addr: SocketAddr,
    /// The in-process simulator's base URL (`GET {sim_url}/sim/messages` is its journal).
    pub sim_url: Option<String>,
    /// Settings in force (public URL, Twilio auth token, …).
    pub settings: Arc<Settings>,
    /// A plain HTTP client; [`TestApp::request`] adds the account's key.
    pub client: reqwest::Client,
    /// The bootstrap account: its id, API key, dashboard user and password.
    pub creds: AccountCredentials,
    /// The store the server uses, for the few tests that look beneath the API.
    pub store: DynStore,
    /// Dropping it stops the server (gracefully).
    pub stop: oneshot::Sender<()>,
    // Last: dropped after the server was told to stop (another node on the same
    // database has none).
    _db: Option<TestDb>,
}

/// Starts Herald's API with the send engine off (so statuses stay as created).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|s| s.run_engine = false).await
}

/// Starts Herald with its engine sending to the in-process simulator, tuned for quick tests:
/// callbacks after 20 ms, everything delivered, fast retries and reconciliation.
pub async fn spawn_sending_app(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.simulator.callback_delay = Duration::from_millis(20);
        s.simulator.delivered = 1.0;
        s.simulator.undelivered = 0.0;
        s.simulator.failed = 0.0;
        s.simulator.seed = Some(7);
        s.engine.tick = Duration::from_millis(50);
        s.engine.retry.base = Duration::from_millis(20);
        s.engine.retry.cap = Duration::from_millis(200);
        s.engine.retry.max_attempts = 20;
        s.engine.reconcile_after = Duration::from_millis(100);
        tweak(s);
    })
    .await
}

/// Starts Herald after `tweak` adjusted its settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    herald::telemetry::init(false);
    let db = TestDb::for_api_tests().await;
    let mut settings = Settings::new(&db.url);
    settings.db.max_connections = 8;
    settings.bind = "127.0.0.1:0".into();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let creds = app
        .bootstrap
        .clone()
        .expect("a fresh database bootstraps an account");
    let sim_url = app.simulator.as_ref().map(|s| s.base_url.clone());
    serve(app, creds, sim_url, Some(db))
}

/// Runs a built Herald in the background until the returned app's `stop` is dropped.
fn serve(
    app: Application,
    creds: AccountCredentials,
    sim_url: Option<String>,
    db: Option<TestDb>,
) -> TestApp {
    let addr = app.local_addr();
    let store = app.store();
    let settings = app.settings();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        sim_url,
        settings,
        client: reqwest::Client::new(),
        creds,
        store,
        stop,
        _db: db,
    }
}

impl TestApp {
    /// Starts another Herald node on this one's database and Twilio (simulator), as a
    /// cluster would run it, after `tweak` adjusted its settings (which start as this
    /// node's, on a new port). Its public URL stays this node's, as behind one load
    /// balancer: Twilio's callbacks for its messages arrive here. Its client speaks to it
    /// directly, as the same account.
    pub async fn spawn_another_node(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = (*self.settings).clone();
        settings.bind = "127.0.0.1:0".into();
        settings.public_url = Some(self.settings.public_base().to_owned());
        settings.node_id = None;
        tweak(&mut settings);
        let app = Application::build(settings).await.expect("node builds");
        assert!(
            app.bootstrap.is_none(),
            "the database already has an account"
        );
        serve(app, self.creds.clone(), self.sim_url.clone(), None)
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request authenticated as the bootstrap account.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.creds.api_key, method, path)
    }

    /// A request authenticated with another API key (another account's, a new key, a
    /// revoked one).
    pub fn request_as(&self, api_key: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(api_key)
    }

    /// `GET path` as the bootstrap account.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with a JSON body, as the bootstrap account.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `DELETE path` as the bootstrap account.
    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("request")
    }

    /// The OpenAPI document, which needs no key.
    pub async fn openapi(&self) -> Value {
        json(
            self.client
                .get(self.url("/v1/openapi.json"))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Registers a sending number at the default pace, returning its phone.
    pub async fn add_number(&self, phone: &str) -> String {
        let r = self
            .post_json("/v1/numbers", &json!({ "phone": phone }))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        phone.to_owned()
    }

    /// Registers a sending number that sends `mps` segments a second.
    pub async fn add_paced_number(&self, phone: &str, mps: f64) {
        let r = self
            .post_json("/v1/numbers", &json!({ "phone": phone, "mps": mps }))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// Creates an agent, returning its id.
    pub async fn add_agent(&self) -> String {
        self.add_agent_with(RECEPTIONIST).await
    }

    /// Creates an agent "Reception" with this system prompt, returning its id.
    pub async fn add_agent_with(&self, system_prompt: &str) -> String {
        let r = self
            .post_json(
                "/v1/agents",
                &json!({ "name": "Reception", "system_prompt": system_prompt }),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        json(r).await["agent_id"].as_str().unwrap().to_owned()
    }

    /// Makes `agent` the one answering replies to the number `phone`.
    pub async fn assign_agent(&self, phone: &str, agent: &str) {
        let r = self
            .request(
                Method::PATCH,
                &format!("/v1/numbers/{}", phone.replace('+', "%2B")),
            )
            .json(&json!({ "agent_id": agent }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Records a consent event for `phone` (`granted` or `revoked`, from `source`); returns
    /// the record.
    pub async fn record_consent(&self, phone: &str, status: &str, source: &str) -> Value {
        let r = self
            .post_json(
                "/v1/consents",
                &json!({ "phone": phone, "status": status, "source": source }),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        json(r).await
    }

    /// Creates a second account and returns its API key.
    pub async fn other_account(&self) -> String {
        accounts::create_account(self.store.as_ref(), "Other")
            .await
            .expect("account")
            .api_key
    }

    /// Creates a campaign of `n` recipients from `from`, returning its JSON.
    pub async fn create_campaign(&self, from: &str, n: usize, extra: Value) -> Value {
        let recipients: Vec<Value> = (0..n)
            .map(|i| json!({ "phone": format!("+4471110{:05}", i + 1), "variables": { "first_name": format!("P{i}") } }))
            .collect();
        let mut body = json!({
            "from_number": from,
            "name": "Test",
            "message_template": "Hi {{first_name}}",
            "recipients": recipients,
        });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        self.post_campaign(&body).await
    }

    /// Creates the campaign `body` describes (asserting the 201), returning its JSON.
    pub async fn post_campaign(&self, body: &Value) -> Value {
        let r = self.post_json("/v1/sms/campaigns", body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        json(r).await
    }

    /// Creates the campaign `body` describes and waits (20 s at most) until it is done and
    /// nothing is pending; returns it as it then is.
    pub async fn send_campaign(&self, body: &Value) -> Value {
        let created = self.post_campaign(body).await;
        let id = created["campaign_id"].as_str().unwrap();
        self.wait_until_done(id, 20).await
    }

    /// `POST /v1/sms/campaigns/{id}/launch`.
    pub async fn launch(&self, id: &str) -> Response {
        self.request(Method::POST, &format!("/v1/sms/campaigns/{id}/launch"))
            .send()
            .await
            .expect("request")
    }

    /// The campaign as the API shows it.
    pub async fn campaign(&self, id: &str) -> Value {
        json(self.get(&format!("/v1/sms/campaigns/{id}")).await).await
    }

    /// Polls the campaign until `done(campaign)` or the deadline; returns the last state.
    pub async fn wait_for(&self, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let c = json(
                self.get(&format!("/v1/sms/campaigns/{id}?recipients_limit=1000"))
                    .await,
            )
            .await;
            if done(&c) || tokio::time::Instant::now() > deadline {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the campaign until it is `done` with nothing pending, or the deadline.
    pub async fn wait_until_done(&self, id: &str, secs: u64) -> Value {
        self.wait_for(id, secs, |c| {
            c["status"] == "done" && c["pending_count"] == 0
        })
        .await
    }

    /// Waits (up to `secs`) until the campaign has finished with all `n` recipients
    /// delivered, and asserts so and that its counts agree with its rows; returns it.
    pub async fn wait_all_delivered(&self, id: &str, n: u64, secs: u64) -> Value {
        let c = self
            .wait_for(id, secs, |c| finished(c) && c["delivered_count"] == n)
            .await;
        assert_eq!(c["status"], "done", "{c}");
        assert_eq!(c["delivered_count"], n, "{c}");
        assert_counts_match(&c);
        c
    }
}
