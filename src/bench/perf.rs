//! The performance benchmarks of record (see BENCHMARKS.md): create, counts, dispatch,
//! pacing, callbacks, memory and startup. They report figures against targets; they never
//! fail because of speed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Size;
use super::harness::{self, ServerProcess, SimulatorProcess, wait_until};
use super::report::{Report, median, percentile, rss_mb};
use super::seed;
use crate::domain::status::CampaignStatus;
use crate::provider::signature;
use crate::provider::twilio::{SendOutcome, SendRequest, TwilioClient, TwilioConfig};

/// A scratch directory removed when dropped.
pub struct Scratch {
    dir: PathBuf,
    /// A PostgreSQL server to make the bench's databases on, instead of SQLite files.
    postgres: Option<String>,
    /// PostgreSQL databases made for the bench, dropped with it.
    made: std::sync::Mutex<Vec<String>>,
}

impl Scratch {
    /// A fresh directory under the system temp dir; databases on `size.database` (a
    /// PostgreSQL server) when given, SQLite files in the directory otherwise.
    pub fn new(name: &str, size: &Size) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("herald-bench-{name}-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir)?;
        if let Some(url) = &size.database {
            anyhow::ensure!(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "--database {url}: expected a postgres:// server URL (SQLite is the default)"
            );
        }
        Ok(Self {
            dir,
            postgres: size.database.clone(),
            made: std::sync::Mutex::default(),
        })
    }

    /// The URL of a new, empty database: a file `file` in the directory, or a database
    /// `herald_bench_<random>` created on the PostgreSQL server.
    pub async fn database(&self, file: &str) -> anyhow::Result<String> {
        let Some(server) = &self.postgres else {
            return Ok(format!("sqlite://{}", self.dir.join(file).display()));
        };
        let url = harness::fresh_postgres_database(server, "herald_bench").await?;
        if let Ok(mut made) = self.made.lock() {
            made.push(url.clone());
        }
        Ok(url)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let made = self.made.lock().map(|m| m.clone()).unwrap_or_default();
        if !made.is_empty() {
            // Drop can't await (and may run inside a runtime): a thread with its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    for url in made {
                        rt.block_on(harness::drop_postgres_database(&url));
                    }
                }
            })
            .join();
        }
    }
}

/// A bench's report, its first note naming the database it ran on.
pub(super) fn new_report(name: &str, size: &Size) -> Report {
    let mut report = Report::new(name, size.quick);
    report.note(match &size.database {
        Some(_) => "database: PostgreSQL (fresh databases on the --database server)",
        None => "database: SQLite (files in a scratch directory)",
    });
    report
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(256)
        .build()
        .expect("HTTP client")
}

pub(super) async fn numbers(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
    mps: f64,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for i in 0..n {
        let phone = format!("+4474464{:05}", 60_000 + i);
        let r = client
            .post(format!("{base}/v1/numbers"))
            .bearer_auth(key)
            .json(&json!({ "phone": phone, "mps": mps }))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "number: {}", r.text().await?);
        out.push(phone);
    }
    Ok(out)
}

pub(super) fn campaign_body(from: &[String], n: u64, first: u64, schedule: &str) -> Vec<u8> {
    let recipients: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "phone": seed::phone(first + i),
                "variables": { "first_name": format!("Patient{}", first + i), "day": "Tuesday", "time": "2pm" }
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "from_numbers": from,
        "name": "Bench",
        "message_template": "Hi {{first_name}}, your appointment is on {{day}} at {{time}}. Reply YES to confirm.",
        "recipients": recipients,
        "schedule_type": schedule,
    }))
    .expect("JSON")
}

pub(super) async fn post_campaign(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: Vec<u8>,
) -> anyhow::Result<Value> {
    let r = client
        .post(format!("{base}/v1/sms/campaigns"))
        .bearer_auth(key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 201, "create: {}", r.text().await?);
    Ok(r.json().await?)
}

/// Waits until the campaign's status is `done`.
pub(super) async fn wait_done(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let url = format!("{base}/v1/sms/campaigns/{id}?recipients_limit=1");
    wait_until(limit, || {
        let request = client.get(&url).bearer_auth(key).send();
        async move {
            match request.await {
                Ok(r) => r.json::<Value>().await.is_ok_and(|c| c["status"] == "done"),
                Err(_) => false,
            }
        }
    })
    .await
}

/// `create`: POST one campaign of N recipients to a running server, `runs` times.
pub async fn create(size: &Size) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = if quick { 10_000 } else { 100_000 };
    let runs = if quick { 3 } else { 5 };
    let mut report = new_report("create", size);
    let scratch = Scratch::new("create", size)?;
    let sim = SimulatorProcess::start(&[]).await?;
    let mut server = ServerProcess::new(&scratch.database("create.db").await?, &sim, &[])?;
    let key = server.create_account("Bench").await?;
    server.start(None).await?;
    let client = client();
    let from = numbers(&client, &server.base_url, &key, 1, 1.0).await?;
    let pid = server.pid().context("server pid")?;
    let (rss_before, _) = rss_mb(pid).unwrap_or_default();
    let mut times = Vec::new();
    let mut body_mb = 0.0;
    for run in 0..runs {
        let body = campaign_body(&from, n, run * n, "draft");
        body_mb = body.len() as f64 / 1_048_576.0;
        let started = Instant::now();
        let created = post_campaign(&client, &server.base_url, &key, body).await?;
        times.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(created["total_count"] == n, "unexpected count: {created}");
    }
    let (_, peak) = rss_mb(pid).unwrap_or_default();
    report.note(format!("{n} recipients, templated with 3 variables, {body_mb:.1} MB of JSON, {runs} runs, drafts (nothing sent)"));
    report.at_most("median time to 201", median(&times), "s", 1.0);
    report.figure("min time to 201", percentile(&times, 0.0), "s");
    report.figure("max time to 201", percentile(&times, 1.0), "s");
    report.figure("server RSS before", rss_before, "MB");
    report.at_most(
        "peak RSS growth / body size",
        (peak - rss_before) / body_mb,
        "x",
        4.0,
    );
    server.terminate().await?;
    sim.stop().await;
    Ok(report)
}

/// `counts`: GET a campaign of N recipients in mixed statuses, and list 1,000 campaigns.
pub async fn counts(size: &Size) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = if quick { 50_000 } else { 1_000_000 };
    let others: u64 = if quick { 199 } else { 999 };
    let mut report = new_report("counts", size);
    let scratch = Scratch::new("counts", size)?;
    let database = scratch.database("counts.db").await?;
    let seeded = seed::open(&database, 4, 1.0).await?;
    let started = Instant::now();
    let id = seed::campaign(&seeded, n, 0, CampaignStatus::Running).await?;
    seed::send_through(&seeded, &id, 0.9).await?;
    for i in 0..others {
        seed::campaign(&seeded, 10, n + i * 10, CampaignStatus::Draft).await?;
    }
    report.note(format!(
        "campaign of {n} recipients (70% delivered, 10% undelivered, 5% failed, 5% sent, 10% queued) + {others} small campaigns; seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let key = seeded.key.clone();
    drop(seeded);
    let sim = SimulatorProcess::start(&[]).await?;
    let mut server = ServerProcess::new(&database, &sim, &[])?;
    server.start(None).await?;
    let client = client();
    let url = format!("{}/v1/sms/campaigns/{id}", server.base_url);
    let mut get_ms = Vec::new();
    for _ in 0..(if quick { 50 } else { 200 }) {
        let t = Instant::now();
        let r = client.get(&url).bearer_auth(&key).send().await?;
        let body: Value = r.json().await?;
        get_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(body["total_count"] == n, "{}", body["error"]);
    }
    let mut list_ms = Vec::new();
    let mut all_ms = Vec::new();
    for _ in 0..(if quick { 10 } else { 50 }) {
        let t = Instant::now();
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        loop {
            let mut u = format!("{}/v1/sms/campaigns?limit=500", server.base_url);
            if let Some(c) = &cursor {
                u.push_str(&format!("&cursor={c}"));
            }
            let t_page = Instant::now();
            let page: Value = client
                .get(&u)
                .bearer_auth(&key)
                .send()
                .await?
                .json()
                .await?;
            list_ms.push(t_page.elapsed().as_secs_f64() * 1000.0);
            seen += page["campaigns"].as_array().map_or(0, |a| a.len());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        all_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(seen as u64 == others + 1, "listed {seen}");
    }
    report.at_most(
        "GET campaign (counts + 100 recipients) median",
        median(&get_ms),
        "ms",
        5.0,
    );
    report.figure("GET campaign p95", percentile(&get_ms, 0.95), "ms");
    report.figure(
        "list page of 500 with counts, median",
        median(&list_ms),
        "ms",
    );
    report.at_most(
        &format!("list all {} campaigns (pages of 500), median", others + 1),
        median(&all_ms),
        "ms",
        50.0,
    );
    server.terminate().await?;
    sim.stop().await;
    Ok(report)
}

/// `dispatch`: a campaign of N recipients over numbers with no practical rate limit, sent to
/// the simulator; compared with the raw rate of the same client posting to the same simulator.
///
/// Two runs: the figure of record has the simulator drop its status callbacks, as it does
/// for the raw client (which asks for none), so both sides do the same carrier work and the
/// difference is Herald's; the second run has both callbacks per message (`sent`,
/// `delivered`) flowing back into Herald on the same two cores, the whole loop.
pub async fn dispatch(size: &Size) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = if quick { 5_000 } else { 100_000 };
    let mut report = new_report("dispatch", size);
    let raw = {
        let sim = SimulatorProcess::start(&["--drop-callbacks", "1"]).await?;
        let raw = raw_rate(&sim, if quick { 5_000 } else { 50_000 }, 256).await?;
        sim.stop().await;
        raw
    };
    let quiet = dispatch_run(size, n, &["--drop-callbacks", "1"]).await?;
    let loud = dispatch_run(size, n, &["--callback-delay-ms", "200"]).await?;
    report.note(format!(
        "{n} recipients over 4 numbers at 100,000 mps each; Herald and the simulator on loopback"
    ));
    report.at_least(
        "submissions/s, create → done (carrier callbacks off, as for raw)",
        quiet,
        "1/s",
        5_000.0,
    );
    report.figure(
        "raw client→simulator creates/s (256 concurrent)",
        raw,
        "1/s",
    );
    report.at_least("Herald / raw", quiet / raw * 100.0, "%", 50.0);
    report.figure(
        "submissions/s with both callbacks per message flowing back",
        loud,
        "1/s",
    );
    Ok(report)
}

/// One dispatch run against a simulator started with `sim_args`: submissions per second
/// from the create's answer to the campaign's `done`.
async fn dispatch_run(size: &Size, n: u64, sim_args: &[&str]) -> anyhow::Result<f64> {
    let scratch = Scratch::new("dispatch", size)?;
    let sim = SimulatorProcess::start(sim_args).await?;
    let mut server = ServerProcess::new(&scratch.database("dispatch.db").await?, &sim, &[])?;
    let key = server.create_account("Bench").await?;
    server.start(None).await?;
    let client = client();
    let from = numbers(&client, &server.base_url, &key, 4, 100_000.0).await?;
    let body = campaign_body(&from, n, 0, "now");
    let created = post_campaign(&client, &server.base_url, &key, body).await?;
    let started = Instant::now();
    let id = created["campaign_id"].as_str().context("id")?.to_owned();
    wait_done(
        &client,
        &server.base_url,
        &key,
        &id,
        Duration::from_secs(600),
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let journal = sim.journal(&client).await?;
    anyhow::ensure!(
        journal.len() as u64 == n,
        "the carrier received {} messages, expected {n}",
        journal.len()
    );
    server.terminate().await?;
    sim.stop().await;
    Ok(n as f64 / elapsed)
}

/// The rate of Herald's Twilio client posting straight to the simulator, no Herald logic.
async fn raw_rate(sim: &SimulatorProcess, n: usize, concurrency: usize) -> anyhow::Result<f64> {
    let client = TwilioClient::new(TwilioConfig {
        base_url: sim.base_url.clone(),
        account_sid: sim.account_sid.clone(),
        username: sim.account_sid.clone(),
        password: sim.auth_token.clone(),
        timeout: Duration::from_secs(30),
    })?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let to = seed::phone(5_000_000 + i as u64);
                let outcome = client
                    .send(&SendRequest {
                        to: &to,
                        from: "+447446460000",
                        body: "Hi Patient, your appointment is on Tuesday at 2pm. Reply YES to confirm.",
                        status_callback: None,
                    })
                    .await;
                if !matches!(outcome, SendOutcome::Accepted(_)) {
                    tracing::warn!(outcome = outcome.kind(), "raw send not accepted");
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// `pacing`: 10 numbers at mps 10 (and, with `long`, 1,000 recipients on one number at mps 1).
pub async fn pacing(size: &Size, long: bool) -> anyhow::Result<Report> {
    let quick = size.quick;
    let mut report = new_report("pacing", size);
    let per_number: u64 = if quick { 20 } else { 100 };
    let (ideal, worst, total) = pace_run(size, 10, 10.0, per_number).await?;
    report.note(format!(
        "10 numbers at mps 10, {per_number} one-segment recipients each"
    ));
    report.figure("ideal last-first per number", ideal, "s");
    report.at_most(
        "slowest number, over ideal",
        (total / ideal - 1.0) * 100.0,
        "%",
        0.6,
    );
    report.at_most("1 s windows over the rate", worst, "", 0.0);
    if long {
        let (ideal, worst, total) = pace_run(size, 1, 1.0, 1_000).await?;
        report.note("1 number at mps 1, 1,000 recipients (real clock)");
        report.figure("ideal (1 number, mps 1)", ideal, "s");
        report.at_most(
            "1 number, over ideal",
            (total / ideal - 1.0) * 100.0,
            "%",
            0.6,
        );
        report.at_most("1 number, 1 s windows over the rate", worst, "", 0.0);
    }
    Ok(report)
}

/// Returns (ideal seconds, windows over the rate, slowest number's seconds).
async fn pace_run(
    size: &Size,
    numbers_n: usize,
    mps: f64,
    per_number: u64,
) -> anyhow::Result<(f64, f64, f64)> {
    let scratch = Scratch::new("pacing", size)?;
    let sim = SimulatorProcess::start(&[]).await?;
    let mut server = ServerProcess::new(&scratch.database("pacing.db").await?, &sim, &[])?;
    let key = server.create_account("Bench").await?;
    server.start(None).await?;
    let client = client();
    let from = numbers(&client, &server.base_url, &key, numbers_n, mps).await?;
    let n = per_number * numbers_n as u64;
    let created = post_campaign(
        &client,
        &server.base_url,
        &key,
        campaign_body(&from, n, 0, "now"),
    )
    .await?;
    let id = created["campaign_id"].as_str().context("id")?.to_owned();
    wait_done(
        &client,
        &server.base_url,
        &key,
        &id,
        Duration::from_secs(per_number * 2 + 120),
    )
    .await?;
    let journal = sim.journal(&client).await?;
    let mut by_number: HashMap<String, Vec<(OffsetDateTime, u32)>> = HashMap::new();
    for m in &journal {
        let at = OffsetDateTime::parse(
            m["received_at"].as_str().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339,
        )?;
        by_number
            .entry(m["from"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push((at, m["segments"].as_u64().unwrap_or(1) as u32));
    }
    let mut over = 0.0;
    let mut slowest: f64 = 0.0;
    for sends in by_number.values_mut() {
        sends.sort();
        let span = (sends.last().map(|s| s.0).unwrap_or(sends[0].0) - sends[0].0).as_seconds_f64();
        slowest = slowest.max(span);
        for i in 0..sends.len() {
            let in_window: u32 = sends[i..]
                .iter()
                .take_while(|(t, _)| (*t - sends[i].0) < time::Duration::seconds(1))
                .map(|(_, s)| s)
                .sum();
            if in_window as f64 > mps.max(1.0) {
                over += 1.0;
            }
        }
    }
    server.terminate().await?;
    sim.stop().await;
    Ok(((per_number - 1) as f64 / mps, over, slowest))
}

/// `callbacks`: signed status callbacks posted by a load generator over several connections.
pub async fn callbacks(size: &Size) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = if quick { 5_000 } else { 100_000 };
    let mut report = new_report("callbacks", size);
    let scratch = Scratch::new("callbacks", size)?;
    let database = scratch.database("callbacks.db").await?;
    let seeded = seed::open(&database, 4, 1.0).await?;
    let id = seed::campaign(&seeded, n, 0, CampaignStatus::Running).await?;
    let sids = seed::send_through(&seeded, &id, 0.0).await?;
    let key = seeded.key.clone();
    drop(seeded);
    let sim = SimulatorProcess::start(&[]).await?;
    let mut server = ServerProcess::new(&database, &sim, &[])?;
    server.start(None).await?;
    let url = format!("{}/webhooks/twilio/status", server.base_url);
    let token = sim.auth_token.clone();
    let client = client();
    let sids = Arc::new(sids);
    let next = Arc::new(AtomicUsize::new(0));
    let connections = 64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, sids, next, url, token) = (
            client.clone(),
            sids.clone(),
            next.clone(),
            url.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut failures = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sids.len() {
                    break;
                }
                let params = vec![
                    ("AccountSid".to_owned(), "AC0123".to_owned()),
                    ("MessageSid".to_owned(), sids[i].clone()),
                    ("MessageStatus".to_owned(), "delivered".to_owned()),
                    ("SmsSid".to_owned(), sids[i].clone()),
                    ("SmsStatus".to_owned(), "delivered".to_owned()),
                ];
                let sig = signature::compute(&token, &url, &params);
                let ok = client
                    .post(&url)
                    .header("X-Twilio-Signature", sig)
                    .form(&params)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    failures += 1;
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for t in tasks {
        failures += t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let c: Value = client
        .get(format!(
            "{}/v1/sms/campaigns/{id}?recipients_limit=1",
            server.base_url
        ))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    report.note(format!(
        "{n} signed `delivered` callbacks, {connections} concurrent connections"
    ));
    report.at_least("callbacks ingested/s", n as f64 / elapsed, "1/s", 10_000.0);
    report.figure("failed posts", failures as f64, "");
    report.figure(
        "delivered_count afterwards",
        c["delivered_count"].as_f64().unwrap_or(0.0),
        "",
    );
    server.terminate().await?;
    sim.stop().await;
    Ok(report)
}

/// `memory`: RSS of `herald serve` while a campaign of N recipients is sending.
pub async fn memory(size: &Size) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = if quick { 20_000 } else { 1_000_000 };
    let mut report = new_report("memory", size);
    let scratch = Scratch::new("memory", size)?;
    let database = scratch.database("memory.db").await?;
    let seeded = seed::open(&database, 4, 100_000.0).await?;
    let id = seed::campaign(&seeded, n, 0, CampaignStatus::Running).await?;
    let key = seeded.key.clone();
    drop(seeded);
    let sim = SimulatorProcess::start(&["--callback-delay-ms", "200"]).await?;
    let mut server = ServerProcess::new(&database, &sim, &[])?;
    server.start(None).await?;
    let pid = server.pid().context("pid")?;
    let client = client();
    let url = format!(
        "{}/v1/sms/campaigns/{id}?recipients_limit=1",
        server.base_url
    );
    let sample_for = Duration::from_secs(if quick { 5 } else { 60 });
    let started = Instant::now();
    let mut peak: f64 = 0.0;
    let mut samples = Vec::new();
    while started.elapsed() < sample_for {
        if let Some((rss, _)) = rss_mb(pid) {
            peak = peak.max(rss);
            samples.push(rss);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let c: Value = client
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    report.note(format!(
        "campaign of {n} recipients sending at full speed; RSS sampled every 200 ms for {} s; {} recipients still pending or queued (awaiting their callbacks) when sampling stopped",
        sample_for.as_secs(),
        c["pending_count"]
    ));
    report.at_most("peak RSS while sending", peak, "MB", 150.0);
    report.figure("median RSS while sending", median(&samples), "MB");
    server.kill().await?;
    sim.stop().await;
    Ok(report)
}

/// `startup`: `herald serve` on an existing database of N recipients, to `/readyz`.
pub async fn startup(size: &Size) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = if quick { 50_000 } else { 1_000_000 };
    let mut report = new_report("startup", size);
    let scratch = Scratch::new("startup", size)?;
    let database = scratch.database("startup.db").await?;
    let seeded = seed::open(&database, 4, 1.0).await?;
    let id = seed::campaign(&seeded, n, 0, CampaignStatus::Running).await?;
    seed::send_through(&seeded, &id, 1.0).await?;
    drop(seeded);
    let sim = SimulatorProcess::start(&[]).await?;
    let mut server = ServerProcess::new(&database, &sim, &[])?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        server.start(None).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        server.terminate().await?;
    }
    report.note(format!(
        "existing database with {n} recipients; 5 starts (spawn → /readyz 200, polled every 20 ms)"
    ));
    report.at_most("median start to ready", median(&times), "ms", 500.0);
    report.figure("max start to ready", percentile(&times, 1.0), "ms");
    sim.stop().await;
    Ok(report)
}
