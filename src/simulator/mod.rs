//! A Twilio-compatible SMS carrier (docs/ARCHITECTURE.md §1): Messages create/fetch/list, signed status callbacks, injected faults.
//!
//! Herald runs it in-process on a loopback port when no Twilio credentials are configured, and
//! `herald simulator` runs it on its own. It speaks the same wire format as Twilio (what
//! [`crate::provider::twilio::TwilioClient`] sends and parses), keeps a journal of every
//! accepted create (`GET /sim/messages`) so tests can check pacing and duplicates from outside,
//! and POSTs `X-Twilio-Signature`-signed status callbacks (`sent`, then a final status).
//!
//! A message's status follows the clock: `queued` at create, `sent` after `callback_delay`,
//! its final status after another `callback_delay`, whether or not callbacks are delivered, so
//! fetch and list show what a reconciler would see at Twilio.

#![warn(missing_docs)]

mod callbacks;
pub mod cli;
mod inbound;
mod numbers;
mod routes;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use callbacks::CallbackStats;
pub use cli::SimulatorArgs;
pub use inbound::InboundAnswer;

use callbacks::Dispatcher;

/// Default account SID of a simulator nobody configured (`AC` + 32 zeros).
pub const DEFAULT_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

/// Default auth token of a simulator nobody configured; only meaningful on loopback.
pub const DEFAULT_AUTH_TOKEN: &str = "simulator-auth-token";

/// How the simulated carrier behaves: callback timing, the mix of final statuses, and faults.
///
/// Shares are probabilities in `0.0..=1.0` (out-of-range values are clamped, NaN is 0); the
/// three final-status weights are normalised, and all zero means "all delivered".
#[derive(Clone)]
pub struct SimulatorConfig {
    /// The only account the simulator knows (`AC…`): Basic-auth user and the path's AccountSid.
    pub account_sid: String,
    /// Basic-auth password, and the key that signs status callbacks. Never logged.
    pub auth_token: String,
    /// Delay from create to `sent`; the final status follows after another `callback_delay`.
    pub callback_delay: Duration,
    /// Weight of `delivered` among final statuses.
    pub delivered: f64,
    /// Weight of `undelivered` (ErrorCode 30003) among final statuses.
    pub undelivered: f64,
    /// Weight of `failed` (ErrorCode 30008) among final statuses.
    pub failed: f64,
    /// Share of creates answered 429 / 20429 and not processed.
    pub fail_429: f64,
    /// Share of creates answered 500 / 20500: half of them after the message was created (an
    /// ambiguous outcome, as with real Twilio), half before.
    pub fail_5xx: f64,
    /// Share of requests that wait `slow_delay` before answering (the message, if any, is
    /// created first), to push clients into timeouts.
    pub slow: f64,
    /// How long a slow request waits before answering.
    pub slow_delay: Duration,
    /// Share of status callbacks never sent (each callback decided on its own), as when Twilio
    /// could not reach Herald and gave up; `1.0` loses every one. The message's status moves
    /// on regardless: fetch and list answer its current status, as Twilio's do, which is what
    /// Herald's status polls rely on.
    pub drop_callbacks: f64,
    /// Share of status callbacks sent twice (the copy follows half a `callback_delay` later).
    pub duplicate_callbacks: f64,
    /// Share of messages whose final-status callback is sent before their `sent` callback.
    pub reorder_callbacks: f64,
    /// How many times a callback POST that failed (connect error, timeout, non-2xx) is retried,
    /// with exponential backoff, like Twilio's own retries.
    pub callback_retries: u32,
    /// First retry delay; each further retry doubles it (capped at 30 s).
    pub callback_retry_backoff: Duration,
    /// Most callback POSTs in flight at once; further due callbacks wait their turn.
    pub callback_concurrency: usize,
    /// Whether callbacks may go to non-loopback hosts; by default only `localhost`, loopback and
    /// unspecified (`0.0.0.0`, `::`) addresses are contacted, the rest are skipped and counted.
    pub allow_remote_callbacks: bool,
    /// Seed for faults, the status mix and callback faults, for reproducible runs; SIDs are
    /// always fresh, so a restarted simulator never repeats a SID Herald already stored.
    pub seed: Option<u64>,
    /// Where `POST /sim/inbound` delivers an incoming SMS: Herald's
    /// `/webhooks/twilio/inbound`. `None`: the route answers 409.
    pub inbound_url: Option<String>,
    /// The URL the inbound webhook's signature covers when Herald knows itself by another
    /// address than `inbound_url` (its public URL); `None`: `inbound_url`.
    pub inbound_signed_url: Option<String>,
    /// The numbers the account owns (`IncomingPhoneNumbers`, with SMS); `None`: every number.
    pub incoming_numbers: Option<Vec<String>>,
}

impl Default for SimulatorConfig {
    /// Fast and well-behaved: callbacks 50 ms apart, everything delivered, no faults.
    fn default() -> Self {
        Self {
            account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
            auth_token: DEFAULT_AUTH_TOKEN.to_owned(),
            callback_delay: Duration::from_millis(50),
            delivered: 1.0,
            undelivered: 0.0,
            failed: 0.0,
            fail_429: 0.0,
            fail_5xx: 0.0,
            slow: 0.0,
            slow_delay: Duration::from_secs(15),
            drop_callbacks: 0.0,
            duplicate_callbacks: 0.0,
            reorder_callbacks: 0.0,
            callback_retries: 5,
            callback_retry_backoff: Duration::from_millis(200),
            callback_concurrency: 64,
            allow_remote_callbacks: false,
            seed: None,
            inbound_url: None,
            inbound_signed_url: None,
            incoming_numbers: None,
        }
    }
}

impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("callback_delay", &self.callback_delay)
            .field("delivered", &self.delivered)
            .field("undelivered", &self.undelivered)
            .field("failed", &self.failed)
            .field("fail_429", &self.fail_429)
            .field("fail_5xx", &self.fail_5xx)
            .field("slow", &self.slow)
            .field("slow_delay", &self.slow_delay)
            .field("drop_callbacks", &self.drop_callbacks)
            .field("duplicate_callbacks", &self.duplicate_callbacks)
            .field("reorder_callbacks", &self.reorder_callbacks)
            .field("callback_retries", &self.callback_retries)
            .field("callback_retry_backoff", &self.callback_retry_backoff)
            .field("callback_concurrency", &self.callback_concurrency)
            .field("allow_remote_callbacks", &self.allow_remote_callbacks)
            .field("seed", &self.seed)
            .field("inbound_url", &self.inbound_url)
            .field("incoming_numbers", &self.incoming_numbers)
            .finish()
    }
}

/// The named outcome mixes of the built-in simulator (`herald serve --simulator-mix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SimulatorMix {
    /// Every message is delivered and nothing fails: a first campaign shows no surprise.
    #[default]
    Delivered,
    /// Like a real carrier: 94 % delivered, 4 % undelivered (30003), 2 % failed (30008).
    Realistic,
}

impl SimulatorMix {
    /// Sets the final-status weights of `config` to this mix.
    pub fn apply(self, config: &mut SimulatorConfig) {
        let (d, u, f) = match self {
            SimulatorMix::Delivered => (1.0, 0.0, 0.0),
            SimulatorMix::Realistic => (0.94, 0.04, 0.02),
        };
        config.delivered = d;
        config.undelivered = u;
        config.failed = f;
    }
}

/// One accepted create as `GET /sim/messages` reports it, so a test can check pacing and
/// duplicates from outside.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// The message SID returned (or, for an ambiguous 500, that would have been returned).
    pub sid: String,
    /// Recipient as sent.
    pub to: String,
    /// Sender as sent.
    pub from: String,
    /// Text as sent.
    pub body: String,
    /// Segments Twilio would bill (GSM-7/UCS-2 rules of [`crate::domain::segments`]).
    pub segments: u32,
    /// When the create was accepted: RFC 3339, UTC, microseconds (`2026-11-27T05:05:00.123456Z`).
    pub received_at: String,
}

/// Final status of a message, drawn from the configured mix at create time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinalStatus {
    Delivered,
    Undelivered,
    Failed,
}

impl FinalStatus {
    /// Twilio's status word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Delivered => "delivered",
            FinalStatus::Undelivered => "undelivered",
            FinalStatus::Failed => "failed",
        }
    }

    /// The asynchronous error code and message Twilio reports with this status.
    pub(crate) fn error(self) -> Option<(i64, &'static str)> {
        match self {
            FinalStatus::Delivered => None,
            FinalStatus::Undelivered => Some((30003, "Unreachable destination handset")),
            FinalStatus::Failed => Some((30008, "Unknown error")),
        }
    }
}

/// A message as the simulator stores it; immutable once created (the status follows the clock).
#[derive(Debug)]
pub(crate) struct StoredMessage {
    /// `SM` + 32 lowercase hex digits.
    pub(crate) sid: String,
    pub(crate) to: String,
    pub(crate) from: String,
    pub(crate) body: String,
    pub(crate) segments: u32,
    /// The exact `StatusCallback` string, when callbacks go out for this message.
    pub(crate) status_callback: Option<String>,
    /// Wall-clock creation time (dates in JSON, journal, list filters).
    pub(crate) created_at: OffsetDateTime,
    /// Monotonic creation time (status progression, callback schedule).
    pub(crate) created: Instant,
    pub(crate) outcome: FinalStatus,
}

/// The status a message shows at `now`, and when it entered that status.
pub(crate) struct CurrentStatus {
    pub(crate) status: &'static str,
    pub(crate) since: OffsetDateTime,
    pub(crate) error: Option<(i64, &'static str)>,
}

impl StoredMessage {
    /// `queued` until `delay`, then `sent`, then the final status after `2 * delay`.
    pub(crate) fn status_at(&self, now: Instant, delay: Duration) -> CurrentStatus {
        let elapsed = now.saturating_duration_since(self.created);
        let stage = if elapsed < delay {
            0
        } else if elapsed < delay.saturating_mul(2) {
            1
        } else {
            2
        };
        let since = self.created_at + delay.saturating_mul(stage);
        match stage {
            0 => CurrentStatus {
                status: "queued",
                since: self.created_at,
                error: None,
            },
            1 => CurrentStatus {
                status: "sent",
                since,
                error: None,
            },
            _ => CurrentStatus {
                status: self.outcome.as_str(),
                since,
                error: self.outcome.error(),
            },
        }
    }

    fn journal_entry(&self) -> JournalEntry {
        JournalEntry {
            sid: self.sid.clone(),
            to: self.to.clone(),
            from: self.from.clone(),
            body: self.body.clone(),
            segments: self.segments,
            received_at: wire::rfc3339_micros(self.created_at),
        }
    }
}

/// Probabilities after clamping, and the status mix as cumulative thresholds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub(crate) fail_429: f64,
    pub(crate) fail_5xx: f64,
    pub(crate) slow: f64,
    pub(crate) drop_callbacks: f64,
    pub(crate) duplicate_callbacks: f64,
    pub(crate) reorder_callbacks: f64,
    /// Share of final statuses that are `undelivered`.
    pub(crate) undelivered: f64,
    /// Share of final statuses that are `failed`.
    pub(crate) failed: f64,
}

fn share(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn weight(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

impl Tuning {
    fn from_config(config: &SimulatorConfig) -> Self {
        let (d, u, f) = (
            weight(config.delivered),
            weight(config.undelivered),
            weight(config.failed),
        );
        let total = d + u + f;
        let (undelivered, failed) = if total > 0.0 && total.is_finite() {
            (u / total, f / total)
        } else {
            (0.0, 0.0)
        };
        Self {
            fail_429: share(config.fail_429),
            fail_5xx: share(config.fail_5xx),
            slow: share(config.slow),
            drop_callbacks: share(config.drop_callbacks),
            duplicate_callbacks: share(config.duplicate_callbacks),
            reorder_callbacks: share(config.reorder_callbacks),
            undelivered,
            failed,
        }
    }
}

/// Mutable state behind one std mutex; nothing awaits while holding it.
pub(crate) struct State {
    /// Every accepted message, oldest first (indices are stable: nothing is removed).
    pub(crate) messages: Vec<Arc<StoredMessage>>,
    /// SID (numeric part) → index in `messages`.
    pub(crate) by_sid: HashMap<u128, usize>,
    /// Recipient → indices in `messages`, ascending.
    pub(crate) by_to: HashMap<String, Vec<usize>>,
    /// The journal is `messages[journal_start..]`; `DELETE /sim/messages` moves it to the end.
    pub(crate) journal_start: usize,
    pub(crate) rng: StdRng,
}

/// What the handlers share: configuration, state and the callback dispatcher.
pub(crate) struct Inner {
    pub(crate) config: SimulatorConfig,
    pub(crate) tuning: Tuning,
    pub(crate) state: Mutex<State>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    /// The account's phone numbers and their `SmsUrl`.
    pub(crate) numbers: numbers::Registry,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: stop the callback scheduler with it.
        self.dispatcher.stop();
    }
}

/// The simulated carrier: shared state plus configuration; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Builds a simulator with no messages; nothing runs until its router serves requests
    /// (the callback scheduler starts with the first message that has a `StatusCallback`).
    pub fn new(config: SimulatorConfig) -> Simulator {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng::<StdRng>(),
        };
        let dispatcher = Arc::new(Dispatcher::new(&config));
        Simulator {
            inner: Arc::new(Inner {
                tuning: Tuning::from_config(&config),
                config,
                state: Mutex::new(State {
                    messages: Vec::new(),
                    by_sid: HashMap::new(),
                    by_to: HashMap::new(),
                    journal_start: 0,
                    rng,
                }),
                dispatcher,
                numbers: numbers::Registry::default(),
            }),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
    }

    /// Every route: Twilio's Messages create/fetch/list under `/2010-04-01`, the journal
    /// (`GET`/`DELETE /sim/messages`) and a test inbound SMS (`POST /sim/inbound`); anything else answers a Twilio-shaped JSON 404/405.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Binds `bind` (port 0 picks a free port) and serves [`Simulator::router`] in a tokio
    /// task until the returned handle is shut down or dropped.
    pub async fn spawn(config: SimulatorConfig, bind: &str) -> anyhow::Result<RunningSimulator> {
        let simulator = Simulator::new(config);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the simulator to {bind}"))?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let app = simulator.router();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { signal.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "simulator server stopped with an error");
            }
        });
        tracing::debug!(%addr, "simulator listening");
        Ok(RunningSimulator {
            addr,
            base_url: format!("http://{addr}"),
            simulator,
            shutdown,
            task: Some(task),
        })
    }

    /// Every accepted create since the journal was last cleared, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        let messages: Vec<Arc<StoredMessage>> = {
            let state = self.lock();
            state.messages[state.journal_start..].to_vec()
        };
        messages.iter().map(|m| m.journal_entry()).collect()
    }

    /// Empties the journal (messages stay fetchable and listable, as at Twilio).
    pub fn clear_journal(&self) {
        let mut state = self.lock();
        state.journal_start = state.messages.len();
    }

    /// Counters of the callback machinery, so tests can wait for callbacks to settle.
    pub fn callback_stats(&self) -> CallbackStats {
        self.inner.dispatcher.stats()
    }

    /// Stops sending callbacks (queued ones are discarded, in-flight ones abandoned).
    pub fn stop_callbacks(&self) {
        self.inner.dispatcher.stop();
    }

    /// The state lock; a panic elsewhere while holding it must not take the simulator down.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A simulator serving on a bound address; shut down explicitly or by dropping it.
pub struct RunningSimulator {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// `http://{addr}`: the `base_url` to give [`crate::provider::twilio::TwilioConfig`].
    pub base_url: String,
    /// The simulator behind the server (journal, stats).
    pub simulator: Simulator,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for RunningSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningSimulator")
            .field("addr", &self.addr)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// How long [`RunningSimulator::shutdown`] lets open requests finish before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl RunningSimulator {
    /// Stops accepting requests and sending callbacks, and waits (up to a few seconds) for
    /// requests in flight to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.simulator.stop_callbacks();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    /// Completes when the server task ends (after [`RunningSimulator::shutdown`] elsewhere, or
    /// an accept error); the standalone command waits on this alongside Ctrl-C.
    pub async fn stopped(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
            self.task = None;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.simulator.stop_callbacks();
    }
}
