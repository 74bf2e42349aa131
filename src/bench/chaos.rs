//! The chaos run: `herald serve` is killed with SIGKILL at random instants while campaigns
//! send, restarted on the same database, and at the end the carrier's journal is compared
//! with Herald's records. Passing means: every recipient was accepted by the carrier exactly
//! once or failed with a reason, no recipient was left pending, and counts equal the rows.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::harness::{ServerProcess, SimulatorProcess, wait_until};

/// Knobs of a chaos run.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// SIGKILLs to deliver while campaigns are sending.
    #[arg(long, default_value_t = 100)]
    pub kills: u32,
    /// Recipients per campaign (a new campaign starts whenever the last one finished and
    /// kills remain).
    #[arg(long, default_value_t = 2000)]
    pub recipients: u32,
    /// Sending numbers the campaigns spread over.
    #[arg(long, default_value_t = 4)]
    pub numbers: u32,
    /// Rate of each number, segments per second.
    #[arg(long, default_value_t = 50.0)]
    pub mps: f64,
    /// Shortest time between a restart and the next kill, in ms.
    #[arg(long, default_value_t = 50)]
    pub min_gap_ms: u64,
    /// Longest time between a restart and the next kill, in ms.
    #[arg(long, default_value_t = 600)]
    pub max_gap_ms: u64,
    /// Share of the carrier's answers that are 500s (half of them after creating the message).
    #[arg(long, default_value_t = 0.02)]
    pub fail_5xx: f64,
    /// Seed for the kill instants and the carrier's faults.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Longest wait for the campaigns to settle after the last kill, in seconds.
    #[arg(long, default_value_t = 180)]
    pub settle_secs: u64,
    /// Print the report as one JSON line too.
    #[arg(long)]
    pub json: bool,
    /// `herald serve` processes sharing the database and the carrier, each on its own
    /// loopback port; each kill picks one at random. More than one needs PostgreSQL.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub nodes: u32,
    /// The database: a PostgreSQL server URL (`postgres://USER@HOST:PORT/DB`), on which a
    /// new database `herald_chaos_<random>` is created for the run (and dropped after it,
    /// unless the run failed), or a `sqlite://` file that does not exist yet. Default: a
    /// SQLite file in a scratch directory.
    #[arg(long)]
    pub database: Option<String>,
    /// Make the pacing check part of the verdict: no sending number may have carried more
    /// segments than its mps in any 1 s window at the carrier. `--check-pacing` alone means
    /// true. Default: on with more than one node (several nodes must share each number's
    /// rate), off with one (a node restarted within a second of its last sends is allowed
    /// a fresh start).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub check_pacing: Option<bool>,
    /// The nodes' sending-number lease, in ms (`herald serve --lease-ttl-ms`): a killed
    /// node's numbers pass to the others this long after its last renewal at the latest.
    #[arg(long, default_value_t = 10_000)]
    pub lease_ttl_ms: u64,
    /// How long a killed node stays down before it restarts, in ms. Longer than the lease,
    /// the other nodes take its numbers over and reconcile its in-flight work meanwhile.
    #[arg(long, default_value_t = 0)]
    pub down_ms: u64,
}

impl ChaosArgs {
    /// Whether the verdict includes the pacing check.
    pub fn pacing_checked(&self) -> bool {
        self.check_pacing.unwrap_or(self.nodes > 1)
    }
}

/// The busiest 1 s of one sending number at the carrier.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NumberWindow {
    /// The sending number.
    pub from: String,
    /// Messages the carrier accepted from it.
    pub messages: u64,
    /// Most segments it carried in any 1 s window (`[t, t + 1 s)`).
    pub worst_window: u64,
    /// Its configured rate, segments per second.
    pub mps: f64,
}

/// What a chaos run found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ChaosReport {
    /// SIGKILLs delivered mid-campaign.
    pub kills: u32,
    /// Campaigns created.
    pub campaigns: u32,
    /// Recipients over all campaigns.
    pub recipients: u64,
    /// Recipients the carrier accepted (with a sid in Herald matching the carrier's journal).
    pub accepted: u64,
    /// Recipients failed with a reason (error code) and never seen by the carrier.
    pub failed_with_reason: u64,
    /// Phones the carrier received more than once.
    pub duplicates: u64,
    /// Carrier messages Herald does not account for, plus recipients left without an outcome.
    pub lost: u64,
    /// Recipients still pending or queued at the end.
    pub unsettled: u64,
    /// Campaigns whose counts differ from their rows.
    pub count_mismatches: u64,
    /// Exit code of the final graceful shutdown (SIGTERM): the first node's that was not
    /// 0, else 0.
    pub shutdown_exit_code: Option<i32>,
    /// Wall time of the run.
    pub seconds: f64,
    /// `herald serve` processes.
    pub nodes: u32,
    /// Backend of the database (`sqlite` or `postgres`).
    pub backend: String,
    /// Messages the carrier accepted (its journal).
    pub carrier_messages: u64,
    /// Carrier messages per second between its first and its last acceptance.
    pub throughput: f64,
    /// Each sending number's busiest 1 s.
    pub windows: Vec<NumberWindow>,
    /// The busiest 1 s of any number, in segments.
    pub worst_window: u64,
    /// Configured rate of each number.
    pub mps: f64,
    /// No number carried more than its mps in any 1 s window.
    pub worst_window_ok: bool,
    /// Whether `worst_window_ok` is part of the verdict (`--check-pacing`).
    pub pacing_checked: bool,
    /// Sending-number leases taken, over all nodes (from their logs): the first takes, the
    /// take-backs after restarts and the take-overs of dead nodes' numbers.
    pub lease_takes: u64,
    /// Times a node marked a dead node's in-flight work for reconciliation (from the logs).
    pub dead_node_reconciliations: u64,
}

impl ChaosReport {
    /// Nothing lost, nothing twice, everything settled, counts right, clean shutdown.
    pub fn ok(&self) -> bool {
        self.duplicates == 0
            && self.lost == 0
            && self.unsettled == 0
            && self.count_mismatches == 0
            && self.accepted + self.failed_with_reason == self.recipients
            && self.shutdown_exit_code == Some(0)
            && (self.worst_window_ok || !self.pacing_checked)
    }

    /// Prints the report as a table (and JSON when asked).
    pub fn print(&self) {
        println!("chaos run");
        println!("  kills (SIGKILL mid-campaign)  {}", self.kills);
        println!("  campaigns                     {}", self.campaigns);
        println!("  recipients                    {}", self.recipients);
        println!("  accepted by the carrier once  {}", self.accepted);
        println!(
            "  failed with a reason          {}",
            self.failed_with_reason
        );
        println!("  duplicates                    {}", self.duplicates);
        println!("  lost                          {}", self.lost);
        println!("  unsettled                     {}", self.unsettled);
        println!("  count mismatches              {}", self.count_mismatches);
        println!(
            "  graceful shutdown exit code   {:?}",
            self.shutdown_exit_code
        );
        println!(
            "  nodes                         {} ({})",
            self.nodes, self.backend
        );
        println!("  carrier messages              {}", self.carrier_messages);
        println!(
            "  throughput                    {:.1} messages/s",
            self.throughput
        );
        for w in &self.windows {
            println!(
                "  busiest 1 s, {:<17}{} segments ({} messages, mps {})",
                w.from, w.worst_window, w.messages, w.mps
            );
        }
        println!(
            "  pacing                        worst {} of mps {}: {}{}",
            self.worst_window,
            self.mps,
            if self.worst_window_ok { "ok" } else { "OVER" },
            if self.pacing_checked {
                ""
            } else {
                " (not checked)"
            }
        );
        println!("  number leases taken           {}", self.lease_takes);
        println!(
            "  dead nodes' work reconciled   {} time(s)",
            self.dead_node_reconciliations
        );
        println!("  time                          {:.1} s", self.seconds);
        println!(
            "  verdict                       {}",
            if self.ok() { "PASS" } else { "FAIL" }
        );
        if let Ok(line) = serde_json::to_string(self) {
            println!("{line}");
        }
    }
}

/// Runs the chaos scenario end to end.
pub async fn run(args: &ChaosArgs) -> anyhow::Result<ChaosReport> {
    let dir = tempfile_dir()?;
    let db = ChaosDb::prepare(args.database.as_deref(), &dir).await?;
    anyhow::ensure!(
        args.nodes == 1 || db.postgres_url.is_some(),
        "--nodes {} needs a PostgreSQL --database (SQLite serves one node)",
        args.nodes
    );
    let result = run_on(args, &db.url, &dir).await;
    match &result {
        Ok(report) if report.ok() => {
            db.drop().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(_) => {
            eprintln!(
                "chaos: keeping {} (database {}) for inspection",
                dir.display(),
                db.url
            );
        }
        Err(_) => db.drop().await,
    }
    result
}

/// The run's database: a SQLite file, or a database created for the run on a PostgreSQL
/// server.
struct ChaosDb {
    url: String,
    /// Set when the database was created for the run (dropped after it).
    postgres_url: Option<String>,
}

impl ChaosDb {
    async fn prepare(arg: Option<&str>, dir: &std::path::Path) -> anyhow::Result<ChaosDb> {
        use sqlx::migrate::MigrateDatabase as _;
        let Some(arg) = arg else {
            return Ok(ChaosDb {
                url: format!("sqlite://{}/chaos.db", dir.display()),
                postgres_url: None,
            });
        };
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            let url = super::harness::fresh_postgres_database(arg, "herald_chaos").await?;
            return Ok(ChaosDb {
                url: url.clone(),
                postgres_url: Some(url),
            });
        }
        if arg.starts_with("sqlite:") {
            anyhow::ensure!(
                !sqlx::Sqlite::database_exists(arg).await.unwrap_or(false),
                "--database {arg} exists: a chaos run needs a fresh database"
            );
            return Ok(ChaosDb {
                url: arg.to_owned(),
                postgres_url: None,
            });
        }
        anyhow::bail!("--database {arg}: expected a postgres:// or sqlite:// URL")
    }

    /// Drops a database created for the run.
    async fn drop(&self) {
        if let Some(url) = &self.postgres_url {
            super::harness::drop_postgres_database(url).await;
        }
    }
}

async fn run_on(
    args: &ChaosArgs,
    database: &str,
    dir: &std::path::Path,
) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    eprintln!(
        "chaos: seed {seed}, {} node(s), working in {}",
        args.nodes,
        dir.display()
    );

    let sim = SimulatorProcess::start(&[
        "--callback-delay-ms",
        "100",
        "--callback-retries",
        "12",
        "--callback-retry-backoff-ms",
        "200",
        "--fail-5xx",
        &args.fail_5xx.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .await?;
    let mut nodes: Vec<ServerProcess> = (0..args.nodes)
        .map(|_| {
            ServerProcess::new(
                database,
                &sim,
                &[
                    ("HERALD_RECONCILE_AFTER_MS", "1000"),
                    ("HERALD_LEASE_TTL_MS", &args.lease_ttl_ms.to_string()),
                    // Lease hand-overs are logged at info: the report counts them.
                    ("RUST_LOG", "warn,herald::engine::leases=info"),
                ],
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let logs: Vec<std::path::PathBuf> = (0..args.nodes)
        .map(|i| match args.nodes {
            1 => dir.join("serve.log"),
            _ => dir.join(format!("serve-{i}.log")),
        })
        .collect();
    // The account (and the migrations) once, before any node starts.
    let key = nodes[0].create_account("Chaos").await?;
    for (node, log) in nodes.iter_mut().zip(&logs) {
        node.start(Some(log)).await?;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let numbers: Vec<String> = (0..args.numbers)
        .map(|i| format!("+4474464668{:02}", 10 + i))
        .collect();
    for n in &numbers {
        let r = client
            .post(format!("{}/v1/numbers", nodes[0].base_url))
            .bearer_auth(&key)
            .json(&json!({ "phone": n, "mps": args.mps }))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "creating number {n}: {}",
            r.text().await?
        );
    }

    let mut report = ChaosReport {
        nodes: args.nodes,
        backend: if database.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
        .to_owned(),
        mps: args.mps,
        pacing_checked: args.pacing_checked(),
        ..ChaosReport::default()
    };
    let mut campaigns: Vec<String> = Vec::new();
    let mut next_phone: u64 = 100_000;
    let create = |first: u64| {
        let recipients: Vec<Value> = (0..args.recipients as u64)
            .map(|i| json!({ "phone": format!("+447723{:06}", first + i), "variables": { "n": first + i } }))
            .collect();
        json!({
            "from_numbers": numbers,
            "name": format!("chaos {first}"),
            "message_template": "Chaos {{n}}",
            "recipients": recipients,
        })
    };

    // Without kills, one campaign runs to completion (a throughput run).
    let mut first = args.kills == 0;
    while first || report.kills < args.kills {
        // Every node is up here: any of them serves the API.
        let base = nodes[rng.random_range(0..nodes.len())].base_url.clone();
        let running = match campaigns.last() {
            None => false,
            Some(id) => status(&client, &base, &key, id).await? == "running",
        };
        if !running {
            let body = create(next_phone);
            next_phone += args.recipients as u64;
            let r = client
                .post(format!("{base}/v1/sms/campaigns"))
                .bearer_auth(&key)
                .header("Idempotency-Key", format!("chaos-{next_phone}"))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().as_u16() == 201, "create: {}", r.text().await?);
            let v: Value = r.json().await?;
            campaigns.push(v["campaign_id"].as_str().context("campaign_id")?.to_owned());
            report.recipients += args.recipients as u64;
        }
        if first {
            first = false;
            continue;
        }
        let gap = rng.random_range(args.min_gap_ms..=args.max_gap_ms.max(args.min_gap_ms));
        tokio::time::sleep(Duration::from_millis(gap)).await;
        let victim = rng.random_range(0..nodes.len());
        nodes[victim].kill().await?;
        report.kills += 1;
        if args.down_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.down_ms)).await;
        }
        nodes[victim].start(Some(&logs[victim])).await?;
    }
    report.campaigns = campaigns.len() as u32;
    let base = nodes[0].base_url.clone();

    // Let everything settle: sends finish, reconciliation runs, callbacks (retried by the
    // carrier while Herald was down) arrive.
    let settle = Duration::from_secs(args.settle_secs);
    let settled = wait_until(settle, || {
        let client = client.clone();
        let base = base.clone();
        let key = key.clone();
        let campaigns = campaigns.clone();
        async move {
            for id in &campaigns {
                match detail(&client, &base, &key, id, None).await {
                    Ok(c) if c["status"] != "running" && c["pending_count"] == 0 => {}
                    _ => return false,
                }
            }
            true
        }
    })
    .await;
    if settled.is_err() {
        eprintln!("chaos: campaigns did not settle within {settle:?}");
    }

    // Compare the carrier's journal with Herald's records.
    let journal = sim.journal(&client).await?;
    let mut carrier: HashMap<String, Vec<String>> = HashMap::new();
    for m in &journal {
        carrier
            .entry(m["to"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(m["sid"].as_str().unwrap_or_default().to_owned());
    }
    report.duplicates = carrier.values().filter(|sids| sids.len() > 1).count() as u64;
    let mut accounted: HashSet<String> = HashSet::new();
    for id in &campaigns {
        // A "settled" campaign can still see `sent` become `delivered` (a late callback): read
        // the counts before and after the rows, and again until nothing moved in between, so
        // that the comparison below is between one state of the campaign and itself.
        let mut head = Value::Null;
        let mut rows: Vec<Value> = Vec::new();
        for _ in 0..50 {
            let before = detail(&client, &base, &key, id, None).await?;
            let mut cursor: Option<String> = None;
            rows.clear();
            loop {
                let page = detail(&client, &base, &key, id, cursor.as_deref()).await?;
                rows.extend(page["recipients"].as_array().cloned().unwrap_or_default());
                cursor = page["recipients_next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            head = detail(&client, &base, &key, id, None).await?;
            let stable = [
                "delivered_count",
                "failed_count",
                "pending_count",
                "total_count",
            ]
            .iter()
            .all(|k| before[*k] == head[*k]);
            if stable {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut counts = [0u64; 4];
        for r in &rows {
            let phone = r["phone"].as_str().unwrap_or_default();
            let status = r["status"].as_str().unwrap_or_default();
            match status {
                "delivered" => counts[0] += 1,
                "failed" | "undelivered" | "sent" => counts[1] += 1,
                "pending" | "queued" => counts[2] += 1,
                _ => counts[3] += 1,
            }
            if matches!(status, "pending" | "queued") {
                report.unsettled += 1;
            }
            let sent_sids = carrier.get(phone).cloned().unwrap_or_default();
            match r["twilio_sid"].as_str() {
                Some(sid) if sent_sids.iter().any(|s| s == sid) => {
                    report.accepted += 1;
                    accounted.insert(sid.to_owned());
                }
                Some(_) => report.lost += 1, // a sid the carrier never issued
                None if sent_sids.is_empty() && r["error_code"].is_string() => {
                    report.failed_with_reason += 1
                }
                None => report.lost += 1,
            }
        }
        let matches = head["delivered_count"] == counts[0]
            && head["failed_count"] == counts[1]
            && head["pending_count"] == counts[2]
            && head["total_count"] == rows.len() as u64;
        if !matches {
            report.count_mismatches += 1;
        }
    }
    // Carrier messages no recipient accounts for.
    report.lost += journal
        .iter()
        .filter(|m| !accounted.contains(m["sid"].as_str().unwrap_or_default()))
        .count() as u64;

    pacing(&journal, args.mps, &mut report)?;

    report.shutdown_exit_code = Some(0);
    for node in &mut nodes {
        let code = node.terminate().await?;
        if report.shutdown_exit_code == Some(0) {
            report.shutdown_exit_code = code;
        }
    }
    sim.stop().await;
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        report.lease_takes += text.matches("took the number's lease").count() as u64;
        report.dead_node_reconciliations +=
            text.matches("in flight on a node that is gone").count() as u64;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Fills in the carrier-side figures: throughput, and each number's busiest 1 s window
/// (`[t, t + 1 s)` from each acceptance `t`), in segments.
fn pacing(journal: &[Value], mps: f64, report: &mut ChaosReport) -> anyhow::Result<()> {
    let mut by_number: HashMap<String, Vec<(OffsetDateTime, u64)>> = HashMap::new();
    let mut all: Vec<OffsetDateTime> = Vec::with_capacity(journal.len());
    for m in journal {
        let at = OffsetDateTime::parse(m["received_at"].as_str().unwrap_or_default(), &Rfc3339)
            .context("a carrier journal time")?;
        all.push(at);
        by_number
            .entry(m["from"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push((at, m["segments"].as_u64().unwrap_or(1)));
    }
    report.carrier_messages = journal.len() as u64;
    all.sort();
    if let (Some(first), Some(last)) = (all.first(), all.last()) {
        let span = (*last - *first).as_seconds_f64();
        if span > 0.0 {
            report.throughput = (all.len() - 1) as f64 / span;
        }
    }
    let mut windows: Vec<NumberWindow> = by_number
        .into_iter()
        .map(|(from, mut sends)| {
            sends.sort();
            let (mut worst, mut in_window, mut start) = (0, 0, 0);
            for end in 0..sends.len() {
                in_window += sends[end].1;
                while sends[end].0 - sends[start].0 >= time::Duration::SECOND {
                    in_window -= sends[start].1;
                    start += 1;
                }
                worst = worst.max(in_window);
            }
            NumberWindow {
                from,
                messages: sends.len() as u64,
                worst_window: worst,
                mps,
            }
        })
        .collect();
    windows.sort_by(|a, b| a.from.cmp(&b.from));
    report.worst_window = windows.iter().map(|w| w.worst_window).max().unwrap_or(0);
    report.worst_window_ok = windows
        .iter()
        .all(|w| w.worst_window as f64 <= w.mps.max(1.0));
    report.windows = windows;
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("herald-chaos-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn detail(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    cursor: Option<&str>,
) -> anyhow::Result<Value> {
    let mut url = format!("{base}/v1/sms/campaigns/{id}?recipients_limit=1000");
    if let Some(c) = cursor {
        url.push_str("&recipients_cursor=");
        url.push_str(c);
    }
    Ok(client
        .get(url)
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?)
}

async fn status(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
) -> anyhow::Result<String> {
    let v = detail(client, base, key, id, None).await?;
    Ok(v["status"].as_str().unwrap_or_default().to_owned())
}
