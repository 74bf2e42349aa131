//! Processes and HTTP plumbing shared by the benchmarks: a `herald simulator` and
//! `herald serve` started from this very binary, on free loopback ports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::{Child, Command};

/// A free loopback port (bound and released; fine for a benchmark on one machine).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The `herald` executable running this benchmark.
pub fn herald_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the herald executable")
}

/// A standalone simulator process.
pub struct SimulatorProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Its account sid.
    pub account_sid: String,
    /// Its auth token.
    pub auth_token: String,
}

impl SimulatorProcess {
    /// Starts `herald simulator` with extra flags and waits until it answers.
    pub async fn start(extra: &[&str]) -> anyhow::Result<Self> {
        let port = free_port()?;
        let account_sid = format!("AC{}", "0123456789abcdef".repeat(2));
        let auth_token = "chaos-token".to_owned();
        let child = Command::new(herald_exe()?)
            .arg("simulator")
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--account-sid", &account_sid])
            .args(["--auth-token", &auth_token])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting herald simulator")?;
        let base_url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        wait_until(Duration::from_secs(20), || {
            let url = format!("{base_url}/sim/messages");
            let client = client.clone();
            async move { client.get(url).send().await.is_ok() }
        })
        .await
        .context("the simulator did not start")?;
        Ok(Self {
            child,
            base_url,
            account_sid,
            auth_token,
        })
    }

    /// Every create it accepted.
    pub async fn journal(&self, client: &reqwest::Client) -> anyhow::Result<Vec<Value>> {
        Ok(client
            .get(format!("{}/sim/messages", self.base_url))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `herald serve` as a child process that can be killed and restarted on the same database.
pub struct ServerProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    database: String,
    env: Vec<(String, String)>,
}

impl ServerProcess {
    /// Prepares a server on `database` that sends to `sim` (not started yet).
    pub fn new(
        database: &str,
        sim: &SimulatorProcess,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut env = vec![
            ("TWILIO_ACCOUNT_SID".to_owned(), sim.account_sid.clone()),
            ("TWILIO_AUTH_TOKEN".to_owned(), sim.auth_token.clone()),
            ("HERALD_TWILIO_BASE_URL".to_owned(), sim.base_url.clone()),
            ("HERALD_BIND".to_owned(), format!("127.0.0.1:{port}")),
            ("HERALD_DATABASE_URL".to_owned(), database.to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Ok(Self {
            child: None,
            base_url: format!("http://127.0.0.1:{port}"),
            database: database.to_owned(),
            env,
        })
    }

    /// Creates an account on its database (`herald accounts create --json`); returns the API key.
    pub async fn create_account(&self, name: &str) -> anyhow::Result<String> {
        let out = Command::new(herald_exe()?)
            .args(["accounts", "create", name, "--json"])
            .env("HERALD_DATABASE_URL", &self.database)
            .env("RUST_LOG", "warn")
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "accounts create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: Value = serde_json::from_slice(&out.stdout)?;
        Ok(v["api_key"].as_str().context("api_key")?.to_owned())
    }

    /// Starts the process and waits for `/readyz`.
    pub async fn start(&mut self, log: Option<&Path>) -> anyhow::Result<()> {
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => Stdio::null(),
        };
        let child = Command::new(herald_exe()?)
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .context("starting herald serve")?;
        self.child = Some(child);
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url);
        wait_until(Duration::from_secs(30), || {
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
        .context("herald serve did not become ready")
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// SIGKILL: no chance to clean up, exactly like a crash.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// SIGTERM and wait for the exit status (graceful shutdown).
    pub async fn terminate(&mut self) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
        Ok(status.code())
    }
}

/// Polls `check` every 20 ms until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a new database `{prefix}_<random>` on the PostgreSQL server of `server` (any
/// database URL on it) and returns its URL.
pub async fn fresh_postgres_database(server: &str, prefix: &str) -> anyhow::Result<String> {
    use sqlx::migrate::MigrateDatabase as _;
    let mut url = reqwest::Url::parse(server).context("--database is not a URL")?;
    url.set_path(&format!("/{prefix}_{:016x}", rand::random::<u64>()));
    let url = url.to_string();
    sqlx::Postgres::create_database(&url)
        .await
        .with_context(|| format!("creating a database on {server}"))?;
    Ok(url)
}

/// Drops a database made by [`fresh_postgres_database`] (ending its connections).
pub async fn drop_postgres_database(url: &str) {
    use sqlx::migrate::MigrateDatabase as _;
    if let Err(e) = sqlx::Postgres::force_drop_database(url).await {
        eprintln!("bench: could not drop {url}: {e}");
    }
}
