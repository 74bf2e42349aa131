//! The test harness: a real Herald on a random loopback port with a fresh database.
//!
//! The database is a SQLite file in a temporary directory, or, with
//! `HERALD_TEST_BACKEND=postgres` and `TEST_DATABASE_URL` (an admin URL such as
//! `postgres://postgres@127.0.0.1:55432/postgres`, what `scripts/pg-up.sh` prints), a fresh
//! PostgreSQL database `herald_test_<random>` created for the test and dropped after it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald::config::Settings;
use herald::service::accounts::{self, AccountCredentials};
use herald::startup::Application;
use herald::store::{self, DbOptions, DynStore};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::migrate::MigrateDatabase;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running Herald and an HTTP client that speaks to it as the bootstrap account.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The in-process simulator's base URL (`GET {sim_url}/sim/messages` is its journal).
    pub sim_url: Option<String>,
    /// Settings in force (public URL, Twilio auth token, …).
    pub settings: Arc<Settings>,
    pub client: reqwest::Client,
    pub creds: AccountCredentials,
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
}

/// A database backend the tests can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty (not yet migrated) database for one test. A PostgreSQL database is
/// dropped when this is, even when the test panicked.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        TestDb {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
        }
    }

    /// A new database `herald_test_<random>` on the server of `TEST_DATABASE_URL`; `None`
    /// when that is unset (the caller skips), unless `HERALD_REQUIRE_POSTGRES=1` says the
    /// run must cover PostgreSQL (then it panics).
    pub async fn postgres() -> Option<TestDb> {
        let Some(admin) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            if std::env::var("HERALD_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("HERALD_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
            }
            return None;
        };
        let mut url = reqwest::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/herald_test_{:016x}", rand::random::<u64>()));
        let url = url.to_string();
        sqlx::Postgres::create_database(&url)
            .await
            .unwrap_or_else(|e| panic!("creating a test database on {admin}: {e}"));
        Some(TestDb {
            backend: Backend::Postgres,
            url,
            _dir: None,
        })
    }

    /// The backend `HERALD_TEST_BACKEND` names (`sqlite`, the default, or `postgres`).
    pub async fn for_api_tests() -> TestDb {
        match std::env::var("HERALD_TEST_BACKEND").as_deref() {
            Ok("postgres") => TestDb::postgres()
                .await
                .expect("HERALD_TEST_BACKEND=postgres needs TEST_DATABASE_URL"),
            Ok("sqlite") | Ok("") | Err(_) => TestDb::sqlite(),
            Ok(other) => panic!("HERALD_TEST_BACKEND={other:?}: expected sqlite or postgres"),
        }
    }

    /// A new store on this database with its own connection pool (a second one stands in
    /// for a second Herald node), migrated.
    pub async fn store(&self) -> DynStore {
        let store = self.connect().await;
        store.migrate().await.expect("migrations apply");
        store
    }

    /// Like [`TestDb::store`], not migrated.
    pub async fn connect(&self) -> DynStore {
        let options = DbOptions {
            max_connections: 4,
            ..DbOptions::default()
        };
        store::connect(&self.url, &options)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e:#}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        // Drop can't await, and may run on a runtime that is shutting down: use a thread
        // with a runtime of its own. `force_drop_database` ends the test's connections.
        let url = self.url.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(sqlx::Postgres::force_drop_database(&url))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.url);
        }
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

    /// Posts a signed incoming-message webhook from `from` to our number `to`, as Twilio does
    /// (Herald must have Twilio settings, as with the simulator); asserts the 200.
    pub async fn text_in(&self, from: &str, to: &str, body: &str, sid: &str) {
        let mut params: Vec<(String, String)> = [
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("ApiVersion", "2010-04-01"),
            ("Body", body),
            ("From", from),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("To", to),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        params.sort();
        let url = format!("{}/webhooks/twilio/inbound", self.settings.public_base());
        let token = &self
            .settings
            .twilio
            .as_ref()
            .expect("Twilio settings")
            .auth_token;
        let r = self
            .client
            .post(self.url("/webhooks/twilio/inbound"))
            .header(
                herald::provider::signature::HEADER,
                herald::provider::signature::compute(token, &url, &params),
            )
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
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

/// One create the simulator accepted, as its journal reports it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Sent {
    pub to: String,
    pub from: String,
    pub body: String,
    pub segments: u32,
    pub received_at: String,
}

impl Sent {
    /// `received_at` as an instant.
    pub fn at(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::parse(
            &self.received_at,
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339")
    }
}

impl TestApp {
    /// Every create the simulator accepted, oldest first.
    pub async fn journal(&self) -> Vec<Sent> {
        let url = format!("{}/sim/messages", self.sim_url.as_ref().expect("simulator"));
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
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
}

/// The create request exactly as the product page prints it.
pub const SPEC_CREATE: &str = r#"{
"agent_id": "agent_125207e452f8714a",
"from_number": "+447446466847",
"name": "March promotion",
"message_template": "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book.",
"recipients": [
{ "phone": "+447111000001", "variables": { "first_name": "Sarah" } },
{ "phone": "+447111000002", "variables": { "first_name": "James" } }
],
"schedule_type": "now"
}"#;

/// Sets up what the spec example refers to: its agent id and its sending number.
pub async fn spec_setup(app: &TestApp) {
    let now = time::OffsetDateTime::now_utc();
    let account = herald::domain::ids::AccountId::parse(&app.creds.account_id).unwrap();
    app.store
        .create_agent(
            &account,
            &herald::store::Agent {
                id: herald::domain::ids::AgentId::parse("agent_125207e452f8714a").unwrap(),
                name: "Acme Dental receptionist".into(),
                system_prompt: "You are the receptionist at Acme Dental.".into(),
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .unwrap();
    app.add_number("+447446466847").await;
}

/// A direct connection to a test app's database, for the few tests that look beneath the API
/// (the SQL they run must mean the same on both backends).
pub enum RawDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl RawDb {
    pub async fn connect(url: &str) -> RawDb {
        if url.starts_with("sqlite:") {
            RawDb::Sqlite(sqlx::SqlitePool::connect(url).await.expect("SQLite"))
        } else {
            RawDb::Postgres(sqlx::PgPool::connect(url).await.expect("PostgreSQL"))
        }
    }

    /// The first column of every row, as text.
    pub async fn strings(&self, sql: &'static str) -> Vec<String> {
        match self {
            RawDb::Sqlite(db) => sqlx::query_scalar(sql).fetch_all(db).await,
            RawDb::Postgres(db) => sqlx::query_scalar(sql).fetch_all(db).await,
        }
        .expect("query")
    }

    /// Runs a statement; the rows it changed.
    pub async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        match self {
            RawDb::Sqlite(db) => sqlx::query(sql)
                .execute(db)
                .await
                .map(|r| r.rows_affected()),
            RawDb::Postgres(db) => sqlx::query(sql)
                .execute(db)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    pub async fn close(self) {
        match self {
            RawDb::Sqlite(db) => db.close().await,
            RawDb::Postgres(db) => db.close().await,
        }
    }
}
