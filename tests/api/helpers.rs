//! The test harness: a real Herald on a random loopback port with a fresh SQLite database.

use std::net::SocketAddr;

use herald::config::Settings;
use herald::service::accounts::{self, AccountCredentials};
use herald::startup::Application;
use herald::store::DynStore;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running Herald and an HTTP client that speaks to it as the bootstrap account.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub creds: AccountCredentials,
    pub store: DynStore,
    _dir: TempDir,
    _stop: oneshot::Sender<()>,
}

/// Starts Herald with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts Herald after `tweak` adjusted its settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    herald::telemetry::init(false);
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let mut settings = Settings::new(&db_url);
    settings.bind = "127.0.0.1:0".into();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let addr = app.local_addr();
    let creds = app
        .bootstrap
        .clone()
        .expect("a fresh database bootstraps an account");
    let store = app.store();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        creds,
        store,
        _dir: dir,
        _stop: stop,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request authenticated as the bootstrap account.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.creds.api_key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("request")
    }

    /// Registers a sending number, returning its phone.
    pub async fn add_number(&self, phone: &str) -> String {
        let r = self
            .post_json("/v1/numbers", &serde_json::json!({ "phone": phone }))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        phone.to_owned()
    }

    /// Creates an agent, returning its id.
    pub async fn add_agent(&self) -> String {
        let r = self
            .post_json(
                "/v1/agents",
                &serde_json::json!({ "name": "Reception", "system_prompt": "You are the receptionist at Acme Dental." }),
            )
            .await;
        assert_eq!(r.status(), 201);
        json(r).await["agent_id"].as_str().unwrap().to_owned()
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
            .map(|i| serde_json::json!({ "phone": format!("+4471110{:05}", i + 1), "variables": { "first_name": format!("P{i}") } }))
            .collect();
        let mut body = serde_json::json!({
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
        let r = self.post_json("/v1/sms/campaigns", &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        json(r).await
    }
}

/// The body of a response as JSON.
pub async fn json(r: Response) -> Value {
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The field paths named by a validation error.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
