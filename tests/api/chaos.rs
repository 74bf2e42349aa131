//! Crash safety, as a user would provoke it: real processes, SIGKILL, restart.

use std::process::{Child, Command, Stdio};

use herald_test_support::succeeded;
use reqwest::{Method, RequestBuilder};
use tempfile::TempDir;

/// `herald serve` as a real process on a SQLite file of its own, with one account: started,
/// SIGKILLed and started again on the same port and database.
struct Served {
    db: String,
    port: u16,
    base: String,
    key: String,
    client: reqwest::Client,
    _dir: TempDir,
}

impl Served {
    /// A new database `file` holding one account named `account` (made with the CLI).
    fn new(file: &str, account: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join(file).display());
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["accounts", "create", account, "--json"])
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

    /// Starts the server and waits until it answers.
    async fn start(&self) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .env("HERALD_DATABASE_URL", &self.db)
            .env("HERALD_BIND", format!("127.0.0.1:{}", self.port))
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
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not start");
    }

    /// The campaign as the API shows it to the account.
    async fn campaign(&self, id: &str) -> serde_json::Value {
        self.request(Method::GET, &format!("/v1/sms/campaigns/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A request as the account.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }
}

/// The short chaos run CI affords (the long run of record is `herald bench chaos --kills 100`).
#[test]
fn sigkill_mid_campaign_loses_nothing_and_sends_nothing_twice() {
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "bench",
            "chaos",
            "--kills",
            "10",
            "--recipients",
            "600",
            "--numbers",
            "3",
            "--mps",
            "60",
            "--seed",
            "11",
            "--settle-secs",
            "120",
        ])
        .output()
        .unwrap();
    let stdout = succeeded(&out);
    assert!(
        stdout.contains("verdict                       PASS"),
        "{stdout}"
    );
}

/// Three `herald serve` nodes on one PostgreSQL database (a fresh one, created on the server
/// of `TEST_DATABASE_URL` by the run), one of them SIGKILLed at random instants: nothing
/// lost, nothing twice, everything settled, counts exact, and no number over its rate in
/// any second at the carrier although three nodes send from it. Skipped without
/// `TEST_DATABASE_URL`. Asserts nothing about speed.
#[test]
fn three_nodes_on_postgres_survive_sigkills_and_share_each_numbers_rate() {
    let Some(server) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var("HERALD_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("HERALD_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
        }
        eprintln!("skipped: set TEST_DATABASE_URL (scripts/pg-up.sh prints one)");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "bench",
            "chaos",
            "--nodes",
            "3",
            "--database",
            &server,
            "--kills",
            "5",
            "--recipients",
            "600",
            "--numbers",
            "3",
            "--mps",
            "20",
            "--seed",
            "12",
            "--settle-secs",
            "120",
            "--check-pacing",
            // Leases of 3 s and a victim down for 4 s: the survivors take its number over
            // (and reconcile its in-flight work), then give it back when it returns.
            "--lease-ttl-ms",
            "3000",
            "--down-ms",
            "4000",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON report\n{stdout}\n{stderr}"));
    let field = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {report}"))
    };
    assert_eq!(report["nodes"], 3, "{stdout}");
    assert_eq!(field("kills"), 5, "{stdout}");
    assert_eq!(field("duplicates"), 0, "{stdout}\n{stderr}");
    assert_eq!(field("lost"), 0, "{stdout}\n{stderr}");
    assert_eq!(field("unsettled"), 0, "{stdout}\n{stderr}");
    assert_eq!(field("count_mismatches"), 0, "{stdout}\n{stderr}");
    assert_eq!(
        field("accepted") + field("failed_with_reason"),
        field("recipients"),
        "{stdout}"
    );
    assert_eq!(report["shutdown_exit_code"], 0, "{stdout}\n{stderr}");
    assert_eq!(report["pacing_checked"], true, "{stdout}");
    assert!(
        report["worst_window_ok"] == true,
        "a number carried more than its mps in some second: {}\n{stdout}",
        report["windows"]
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

/// A 201 means the campaign is on disk: killing the server right after loses nothing.
#[tokio::test]
async fn a_created_campaign_survives_an_immediate_sigkill() {
    let served = Served::new("durable.db", "Durable");
    let mut child = served.start().await;
    let r = served
        .request(Method::POST, "/v1/numbers")
        .json(&serde_json::json!({ "phone": "+447446466847" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let recipients: Vec<serde_json::Value> = (0..500)
        .map(|i| serde_json::json!({ "phone": format!("+447723{:06}", 100_000 + i) }))
        .collect();
    let r = served
        .request(Method::POST, "/v1/sms/campaigns")
        .json(&serde_json::json!({
            "from_number": "+447446466847", "name": "Durable", "message_template": "Hi",
            "recipients": recipients, "schedule_type": "draft"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    child.kill().unwrap(); // SIGKILL, straight after the answer
    child.wait().unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut child = served.start().await;
    let c = served.campaign(&id).await;
    assert_eq!(c["total_count"], 500, "{c}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A scheduled campaign whose time passes while Herald is down starts once when it is back.
#[tokio::test]
async fn a_campaign_scheduled_while_herald_was_down_starts_once_on_restart() {
    let served = Served::new("sched.db", "Scheduled");
    let mut child = served.start().await;
    served
        .request(Method::POST, "/v1/numbers")
        .json(&serde_json::json!({ "phone": "+447446466847", "mps": 50 }))
        .send()
        .await
        .unwrap();
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let at = at
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = served
        .request(Method::POST, "/v1/sms/campaigns")
        .json(&serde_json::json!({
            "from_number": "+447446466847", "name": "Later", "message_template": "Hi",
            "recipients": [{ "phone": "+447723456781" }, { "phone": "+447723456782" }],
            "schedule_type": "schedule", "scheduled_at": at
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    child.kill().unwrap(); // down before the scheduled time
    child.wait().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let mut child = served.start().await;
    let mut c = serde_json::Value::Null;
    for _ in 0..500 {
        c = served.campaign(&id).await;
        if c["status"] == "done" && c["pending_count"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(c["status"], "done", "{c}");
    assert_eq!(
        c["delivered_count"].as_u64().unwrap() + c["failed_count"].as_u64().unwrap(),
        2
    );
    for r in c["recipients"].as_array().unwrap() {
        assert!(r["twilio_sid"].is_string(), "{r}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
