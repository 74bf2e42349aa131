//! `herald simulator` (docs/ARCHITECTURE.md §7): the Twilio-compatible carrier on its own, every flag also read from `HERALD_<FLAG>`.

use std::time::Duration;

use clap::Args;

use super::{DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Simulator, SimulatorConfig};

/// Flags of `herald simulator`; each maps to one [`SimulatorConfig`] field.
#[derive(Debug, Clone, Args)]
pub struct SimulatorArgs {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, env = "HERALD_BIND", default_value = "127.0.0.1:8081")]
    pub bind: String,
    /// The account SID clients must use (Basic-auth user and the AccountSid in paths).
    #[arg(long, env = "HERALD_ACCOUNT_SID", default_value = DEFAULT_ACCOUNT_SID)]
    pub account_sid: String,
    /// The auth token clients must use; it also signs status callbacks.
    #[arg(
        long,
        env = "HERALD_AUTH_TOKEN",
        default_value = DEFAULT_AUTH_TOKEN,
        hide_env_values = true,
        hide_default_value = true
    )]
    pub auth_token: String,
    /// Milliseconds from create to the `sent` callback, and again to the final one.
    #[arg(long, env = "HERALD_CALLBACK_DELAY_MS", default_value_t = 50)]
    pub callback_delay_ms: u64,
    /// Weight of `delivered` among final statuses.
    #[arg(long, env = "HERALD_DELIVERED", default_value_t = 1.0, value_parser = weight)]
    pub delivered: f64,
    /// Weight of `undelivered` (ErrorCode 30003) among final statuses.
    #[arg(long, env = "HERALD_UNDELIVERED", default_value_t = 0.0, value_parser = weight)]
    pub undelivered: f64,
    /// Weight of `failed` (ErrorCode 30008) among final statuses.
    #[arg(long, env = "HERALD_FAILED", default_value_t = 0.0, value_parser = weight)]
    pub failed: f64,
    /// Share (0–1) of creates answered 429 / 20429, not processed.
    #[arg(long = "fail-429", env = "HERALD_FAIL_429", default_value_t = 0.0, value_parser = share)]
    pub fail_429: f64,
    /// Share (0–1) of creates answered 500; half of them after the message was created.
    #[arg(long = "fail-5xx", env = "HERALD_FAIL_5XX", default_value_t = 0.0, value_parser = share)]
    pub fail_5xx: f64,
    /// Share (0–1) of requests answered only after --slow-delay-ms.
    #[arg(long, env = "HERALD_SLOW", default_value_t = 0.0, value_parser = share)]
    pub slow: f64,
    /// How long a slow request waits before answering, in milliseconds.
    #[arg(long, env = "HERALD_SLOW_DELAY_MS", default_value_t = 15_000)]
    pub slow_delay_ms: u64,
    /// Share (0–1) of status callbacks never sent (fetch and list still answer each message's
    /// current status, as Twilio's do).
    #[arg(long, env = "HERALD_DROP_CALLBACKS", default_value_t = 0.0, value_parser = share)]
    pub drop_callbacks: f64,
    /// Share (0–1) of status callbacks sent twice.
    #[arg(long, env = "HERALD_DUPLICATE_CALLBACKS", default_value_t = 0.0, value_parser = share)]
    pub duplicate_callbacks: f64,
    /// Share (0–1) of messages whose final callback comes before `sent`.
    #[arg(long, env = "HERALD_REORDER_CALLBACKS", default_value_t = 0.0, value_parser = share)]
    pub reorder_callbacks: f64,
    /// Retries of a callback POST that failed (connect error, timeout, non-2xx).
    #[arg(long, env = "HERALD_CALLBACK_RETRIES", default_value_t = 5)]
    pub callback_retries: u32,
    /// First callback retry delay in milliseconds; it doubles per retry (capped at 30 s).
    #[arg(long, env = "HERALD_CALLBACK_RETRY_BACKOFF_MS", default_value_t = 200)]
    pub callback_retry_backoff_ms: u64,
    /// Most callback POSTs in flight at once.
    #[arg(long, env = "HERALD_CALLBACK_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub callback_concurrency: u32,
    /// Also send callbacks to non-loopback hosts (by default they are skipped).
    #[arg(long, env = "HERALD_ALLOW_REMOTE_CALLBACKS")]
    pub allow_remote_callbacks: bool,
    /// Seed for faults and the status mix, for reproducible runs (SIDs stay unique per run).
    #[arg(long, env = "HERALD_SEED")]
    pub seed: Option<u64>,
    /// Herald's incoming-message webhook (`http://HOST:PORT/webhooks/twilio/inbound`), where
    /// `POST /sim/inbound` delivers a test SMS signed with --auth-token.
    #[arg(long, env = "HERALD_INBOUND_URL")]
    pub inbound_url: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "HERALD_LOG_JSON")]
    pub log_json: bool,
    /// The numbers the account owns, comma-separated E.164 (`IncomingPhoneNumbers`, with SMS);
    /// without it, every number.
    #[arg(long, env = "HERALD_INCOMING_NUMBERS", value_delimiter = ',')]
    pub incoming_numbers: Option<Vec<String>>,
}

/// A share: a finite number in 0–1.
fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|e| format!("{e}"))?;
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err("expected a number between 0 and 1".to_owned())
    }
}

/// A weight: a finite number ≥ 0.
fn weight(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|e| format!("{e}"))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err("expected a non-negative number".to_owned())
    }
}

impl SimulatorArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> SimulatorConfig {
        SimulatorConfig {
            account_sid: self.account_sid.clone(),
            auth_token: self.auth_token.clone(),
            callback_delay: Duration::from_millis(self.callback_delay_ms),
            delivered: self.delivered,
            undelivered: self.undelivered,
            failed: self.failed,
            fail_429: self.fail_429,
            fail_5xx: self.fail_5xx,
            slow: self.slow,
            slow_delay: Duration::from_millis(self.slow_delay_ms),
            drop_callbacks: self.drop_callbacks,
            duplicate_callbacks: self.duplicate_callbacks,
            reorder_callbacks: self.reorder_callbacks,
            callback_retries: self.callback_retries,
            callback_retry_backoff: Duration::from_millis(self.callback_retry_backoff_ms),
            callback_concurrency: self.callback_concurrency as usize,
            allow_remote_callbacks: self.allow_remote_callbacks,
            seed: self.seed,
            inbound_url: self.inbound_url.clone().filter(|u| !u.trim().is_empty()),
            inbound_signed_url: None,
            incoming_numbers: incoming_numbers(self.incoming_numbers.as_deref()),
        }
    }
}

/// The `--incoming-numbers` list, trimmed, without empty entries.
pub fn incoming_numbers(list: Option<&[String]>) -> Option<Vec<String>> {
    list.map(|l| {
        l.iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    })
}

/// Runs the simulator until Ctrl-C or SIGTERM, printing the address it listens on.
pub async fn run(args: SimulatorArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.log_json);
    let config = args.config();
    if config.account_sid.is_empty() || config.auth_token.is_empty() {
        anyhow::bail!("--account-sid and --auth-token must not be empty");
    }
    let mut running = Simulator::spawn(config, &args.bind).await?;
    tracing::info!(
        address = %running.addr,
        account_sid = %running.simulator.config().account_sid,
        "simulator is listening"
    );
    println!("Simulator listening on {}", running.base_url);
    match &running.simulator.config().inbound_url {
        Some(url) => println!(
            "Test inbound SMS: POST {}/sim/inbound {{\"from\",\"to\",\"body\"}} is delivered to {url}",
            running.base_url
        ),
        None => println!(
            "Give --inbound-url (Herald's /webhooks/twilio/inbound) to send test inbound SMS with POST /sim/inbound"
        ),
    }
    tokio::select! {
        _ = crate::shutdown::signal() => {}
        _ = running.stopped() => anyhow::bail!("the simulator's server stopped unexpectedly"),
    }
    running.shutdown().await;
    tracing::info!("simulator stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SimulatorArgs,
    }

    #[test]
    fn flags_map_to_config() {
        let w = Wrapper::try_parse_from([
            "x",
            "--bind",
            "127.0.0.1:0",
            "--account-sid",
            "AC1",
            "--auth-token",
            "t",
            "--callback-delay-ms",
            "5",
            "--undelivered",
            "2",
            "--fail-429",
            "0.25",
            "--fail-5xx",
            "0.5",
            "--slow",
            "1",
            "--slow-delay-ms",
            "7",
            "--drop-callbacks",
            "0.1",
            "--duplicate-callbacks",
            "0.2",
            "--reorder-callbacks",
            "0.3",
            "--callback-retries",
            "9",
            "--seed",
            "42",
            "--inbound-url",
            "http://127.0.0.1:8080/webhooks/twilio/inbound",
        ])
        .unwrap();
        let c = w.args.config();
        assert_eq!(c.account_sid, "AC1");
        assert_eq!(c.callback_delay, Duration::from_millis(5));
        assert_eq!((c.undelivered, c.fail_429, c.fail_5xx), (2.0, 0.25, 0.5));
        assert_eq!(c.slow_delay, Duration::from_millis(7));
        assert_eq!(c.callback_retries, 9);
        assert_eq!(c.seed, Some(42));
        assert_eq!(
            c.inbound_url.as_deref(),
            Some("http://127.0.0.1:8080/webhooks/twilio/inbound")
        );
        assert!(Wrapper::try_parse_from(["x", "--fail-429", "1.5"]).is_err());
        assert!(Wrapper::try_parse_from(["x", "--failed", "-1"]).is_err());
        assert!(Wrapper::try_parse_from(["x", "--slow", "NaN"]).is_err());
    }
}
