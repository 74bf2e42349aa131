//! The benchmarks of scale (issue 14): many running campaigns on one number
//! (`many-campaigns`), and a draft grown by appends (`append`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Size;
use super::harness::{ServerProcess, SimulatorProcess};
use super::perf::{Scratch, campaign_body, client, new_report, post_campaign};
use super::report::Report;
use super::seed;
use crate::domain::status::CampaignStatus;

/// CPU time (user + system) a process has used so far, in seconds (`/proc/PID/stat`, at
/// Linux's 100 ticks a second).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The arguments of `bench many-campaigns`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManyArgs {
    #[command(flatten)]
    pub size: Size,
    /// How many running campaigns (default 50,000; 1,000 with --quick), for the curve of
    /// rate against N.
    #[arg(long)]
    pub campaigns: Option<u64>,
}

/// The arguments of `bench append`.
#[derive(Debug, Clone, clap::Args)]
pub struct AppendArgs {
    #[command(flatten)]
    pub size: Size,
    /// Append the phones in a scattered order, as a customer list exported from elsewhere has
    /// them, rather than in ascending order (each new phone then lands anywhere in the phone
    /// index, not at its end).
    #[arg(long)]
    pub shuffled: bool,
}

/// The `j`-th phone of `n` appended: `seed::phone(j + 1)`, or with `shuffled` the phones
/// 1..=n in a fixed scattered order (`j` × a prime not dividing `n`, modulo `n`, is a
/// permutation of 0..n).
fn appended_phone(j: u64, n: u64, shuffled: bool) -> String {
    const SCATTER: u64 = 611_953;
    if shuffled && !n.is_multiple_of(SCATTER) {
        seed::phone((j * SCATTER) % n + 1)
    } else {
        seed::phone(j + 1)
    }
}

/// `many-campaigns`: N running one-recipient campaigns on one number at mps 100 (the
/// appointment reminders sent one campaign per person). Most are stored before the server
/// starts (as if created earlier); the last ones are created through the API while it sends
/// (each create wakes the engine). Then the send rate and the server's CPU are measured.
pub async fn many_campaigns(size: &Size, campaigns: Option<u64>) -> anyhow::Result<Report> {
    let quick = size.quick;
    let n: u64 = campaigns
        .unwrap_or(if quick { 1_000 } else { 50_000 })
        .max(1);
    let by_api: u64 = (if quick { 100 } else { 1_000 }).min(n);
    let window = Duration::from_secs(if quick { 5 } else { 30 });
    let mps = 100.0;
    let mut report = new_report("many-campaigns", size);
    let scratch = Scratch::new("many", size)?;
    let database = scratch.database("many.db").await?;
    let seeded = seed::open(&database, 1, mps).await?;
    let started = Instant::now();
    for i in 0..(n - by_api) {
        seed::campaign(&seeded, 1, i, CampaignStatus::Running).await?;
    }
    let seeded_in = started.elapsed().as_secs_f64();
    let key = seeded.key.clone();
    let from = seeded.numbers.clone();
    drop(seeded);
    let sim = SimulatorProcess::start(&["--callback-delay-ms", "200"]).await?;
    let mut server = ServerProcess::new(&database, &sim, &[])?;
    server.start(None).await?;
    let pid = server.pid().context("server pid")?;
    let client = client();

    // The last campaigns through the API, a few at a time, while the first ones send.
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(n - by_api));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, base, key, from, next) = (
            client.clone(),
            server.base_url.clone(),
            key.clone(),
            from.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                post_campaign(&client, &base, &key, campaign_body(&from, 1, i, "now")).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let created_in = started.elapsed().as_secs_f64();

    // Then the steady state: messages the carrier received, and CPU, over the window.
    let sent_before = sim.journal(&client).await?.len();
    let cpu_before = cpu_seconds(pid).unwrap_or_default();
    let t = Instant::now();
    tokio::time::sleep(window).await;
    let sent_after = sim.journal(&client).await?.len();
    let cpu_after = cpu_seconds(pid).unwrap_or_default();
    let elapsed = t.elapsed().as_secs_f64();
    report.note(format!(
        "{n} running one-recipient campaigns on one number at mps {mps}: {} stored before the \
         server started (in {seeded_in:.1} s), the last {by_api} created through the API while it \
         sent; then measured for {} s",
        n - by_api,
        window.as_secs()
    ));
    report.figure(
        &format!("API creates/s while sending ({by_api}, 4 at a time)"),
        by_api as f64 / created_in,
        "1/s",
    );
    report.at_least(
        "messages/s after all were created",
        (sent_after - sent_before) as f64 / elapsed,
        "1/s",
        95.0,
    );
    report.figure(
        "server CPU meanwhile (% of one core)",
        (cpu_after - cpu_before) / elapsed * 100.0,
        "%",
    );
    report.figure("messages sent in all by the end", sent_after as f64, "");
    server.terminate().await?;
    sim.stop().await;
    Ok(report)
}

/// `append`: a draft grown by ten appends of N recipients (100,000: a campaign of a million),
/// then a GET with counts and a launch, with the server's RSS while it sends.
pub async fn append(size: &Size, shuffled: bool) -> anyhow::Result<Report> {
    let quick = size.quick;
    let per_call: u64 = if quick { 2_000 } else { 100_000 };
    let calls = 10;
    let mut report = new_report("append", size);
    let scratch = Scratch::new("append", size)?;
    let sim = SimulatorProcess::start(&["--callback-delay-ms", "200"]).await?;
    let mut server = ServerProcess::new(&scratch.database("append.db").await?, &sim, &[])?;
    let key = server.create_account("Bench").await?;
    server.start(None).await?;
    let pid = server.pid().context("server pid")?;
    let client = client();
    let from = super::perf::numbers(&client, &server.base_url, &key, 4, 100_000.0).await?;
    let draft = post_campaign(
        &client,
        &server.base_url,
        &key,
        campaign_body(&from, 1, 0, "draft"),
    )
    .await?;
    let id = draft["campaign_id"].as_str().context("id")?.to_owned();
    let url = format!("{}/v1/sms/campaigns/{id}", server.base_url);
    let mut times = Vec::new();
    let mut body_mb = 0.0;
    for call in 0..calls {
        let first = 1 + call * per_call;
        let recipients: Vec<serde_json::Value> = (0..per_call)
            .map(|i| {
                serde_json::json!({
                    "phone": appended_phone(first + i - 1, calls * per_call, shuffled),
                    "variables": { "first_name": format!("Patient{}", first + i), "day": "Tuesday", "time": "2pm" }
                })
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "recipients": recipients }))?;
        body_mb = body.len() as f64 / 1_048_576.0;
        let t = Instant::now();
        let r = client
            .post(format!("{url}/recipients"))
            .bearer_auth(&key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(r.status().as_u16() == 200, "append: {}", r.text().await?);
        let answer: serde_json::Value = r.json().await?;
        times.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(answer["added"] == per_call, "unexpected answer: {answer}");
    }
    let total = 1 + calls * per_call;
    let mut get_ms = Vec::new();
    for _ in 0..(if quick { 20 } else { 100 }) {
        let t = Instant::now();
        let c: serde_json::Value = client
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        get_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(c["total_count"] == total, "{c}");
    }
    let t = Instant::now();
    let r = client
        .post(format!("{url}/launch"))
        .bearer_auth(&key)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "launch: {}", r.text().await?);
    let launch_ms = t.elapsed().as_secs_f64() * 1000.0;
    let sample_for = Duration::from_secs(if quick { 3 } else { 30 });
    let started = Instant::now();
    let mut peak: f64 = 0.0;
    while started.elapsed() < sample_for {
        if let Some((rss, _)) = super::report::rss_mb(pid) {
            peak = peak.max(rss);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = sim.journal(&client).await?.len();
    report.note(format!(
        "a draft of 1 recipient, then {calls} appends of {per_call} ({body_mb:.1} MB of JSON each, 3 variables, phones {}), a campaign of {total}; 4 numbers at 100,000 mps; RSS sampled for {} s after the launch ({sent} sent by then)",
        if shuffled { "in a scattered order (--shuffled)" } else { "in ascending order" },
        sample_for.as_secs()
    ));
    report.at_most(
        "median time of an append",
        super::report::median(&times),
        "s",
        1.0,
    );
    report.figure("first append", times[0], "s");
    report.figure("last append", times[times.len() - 1], "s");
    report.figure(
        "slowest append",
        super::report::percentile(&times, 1.0),
        "s",
    );
    report.at_most(
        "GET campaign with counts, median",
        super::report::median(&get_ms),
        "ms",
        5.0,
    );
    report.figure("launch", launch_ms, "ms");
    report.at_most("peak RSS while sending", peak, "MB", 150.0);
    server.kill().await?;
    sim.stop().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_phones_are_the_same_phones_scattered() {
        for n in [20_000u64, 1_000_000] {
            let sorted: Vec<String> = (0..n).map(|j| appended_phone(j, n, false)).collect();
            let shuffled: Vec<String> = (0..n).map(|j| appended_phone(j, n, true)).collect();
            assert_ne!(shuffled, sorted);
            // Neighbours in the request are far apart in the phone order.
            let number = |p: &String| p[1..].parse::<u64>().unwrap();
            assert!(
                shuffled
                    .windows(2)
                    .all(|w| number(&w[0]).abs_diff(number(&w[1])) > 1)
            );
            let mut again = shuffled.clone();
            again.sort();
            assert_eq!(again, sorted, "a permutation of the same phones");
            assert!(!shuffled.contains(&seed::phone(0)), "the draft's own phone");
        }
    }
}
