//! Status callbacks: a due-time queue, one scheduler task, a bounded number of signed POSTs in flight, retries with backoff.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{SimulatorConfig, StoredMessage, wire};
use crate::provider::signature;

/// Whole-request timeout of one callback POST (Twilio's default total is 15 s).
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait between two attempts of one callback.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Most response body read from a callback receiver (it is discarded anyway).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Which status a callback reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The carrier accepted it.
    Sent,
    /// delivered / undelivered / failed, as drawn at create time.
    Final,
}

/// One callback to POST (or re-POST).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) message: Arc<StoredMessage>,
    pub(crate) stage: Stage,
    /// Attempts already made.
    pub(crate) attempt: u32,
}

struct Entry {
    due: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so the max-heap pops the earliest due time (FIFO among equal times).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .due
            .cmp(&self.due)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

/// Counters of the callback machinery, for tests and the standalone command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackStats {
    /// Callbacks waiting for their due time (including retries).
    pub queued: u64,
    /// POSTs in flight right now.
    pub in_flight: u64,
    /// Callbacks answered 2xx.
    pub delivered: u64,
    /// Failed attempts (connect error, timeout, non-2xx), retried or not.
    pub failed_attempts: u64,
    /// Callbacks abandoned after the last retry.
    pub given_up: u64,
    /// Callbacks deliberately dropped by `drop_callbacks`.
    pub dropped: u64,
    /// Callbacks not sent because the URL is not loopback (see `allow_remote_callbacks`).
    pub skipped_remote: u64,
}

#[derive(Default)]
struct Counters {
    in_flight: AtomicU64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    given_up: AtomicU64,
    dropped: AtomicU64,
    skipped_remote: AtomicU64,
}

/// Schedules and sends the status callbacks of one simulator.
pub(crate) struct Dispatcher {
    queue: Mutex<Queue>,
    wake: Notify,
    permits: Arc<Semaphore>,
    /// Built on first use, so a simulator that never sends a callback needs no TLS set-up.
    http: OnceLock<Option<reqwest::Client>>,
    account_sid: String,
    auth_token: String,
    retries: u32,
    backoff: Duration,
    allow_remote: bool,
    cancel: CancellationToken,
    started: AtomicBool,
    warned_remote: AtomicBool,
    warned_give_up: AtomicBool,
    counters: Counters,
}

impl Dispatcher {
    pub(crate) fn new(config: &SimulatorConfig) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            permits: Arc::new(Semaphore::new(config.callback_concurrency.clamp(1, 4096))),
            http: OnceLock::new(),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            retries: config.callback_retries,
            backoff: config.callback_retry_backoff,
            allow_remote: config.allow_remote_callbacks,
            cancel: CancellationToken::new(),
            started: AtomicBool::new(false),
            warned_remote: AtomicBool::new(false),
            warned_give_up: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Whether a callback to `url` may be sent (loopback only unless remote ones are allowed).
    pub(crate) fn may_contact(&self, url: &reqwest::Url) -> bool {
        self.allow_remote || is_local(url)
    }

    /// Counts a callback that will never be sent because its host is not local.
    pub(crate) fn note_skipped_remote(&self) {
        self.counters
            .skipped_remote
            .fetch_add(1, AtomicOrdering::Relaxed);
        if !self.warned_remote.swap(true, AtomicOrdering::Relaxed) {
            tracing::warn!(
                "simulator: a StatusCallback points to a non-loopback host; its callbacks are \
                 skipped (set allow_remote_callbacks / --allow-remote-callbacks to send them)"
            );
        }
    }

    /// Counts a callback deliberately dropped by fault injection.
    pub(crate) fn note_dropped(&self) {
        self.counters.dropped.fetch_add(1, AtomicOrdering::Relaxed);
    }

    /// Stops the scheduler and abandons queued and in-flight callbacks.
    pub(crate) fn stop(&self) {
        self.cancel.cancel();
        self.lock_queue().heap.clear();
    }

    pub(crate) fn stats(&self) -> CallbackStats {
        let c = &self.counters;
        CallbackStats {
            queued: self.lock_queue().heap.len() as u64,
            in_flight: c.in_flight.load(AtomicOrdering::Relaxed),
            delivered: c.delivered.load(AtomicOrdering::Relaxed),
            failed_attempts: c.failed_attempts.load(AtomicOrdering::Relaxed),
            given_up: c.given_up.load(AtomicOrdering::Relaxed),
            dropped: c.dropped.load(AtomicOrdering::Relaxed),
            skipped_remote: c.skipped_remote.load(AtomicOrdering::Relaxed),
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues callbacks, starting the scheduler on first use (must run inside a tokio runtime).
    pub(crate) fn schedule(self: &Arc<Self>, jobs: impl IntoIterator<Item = (Instant, Job)>) {
        if self.cancel.is_cancelled() {
            return;
        }
        if !self.started.swap(true, AtomicOrdering::AcqRel) {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.run().await });
        }
        let wake = {
            let mut queue = self.lock_queue();
            let earliest = queue.heap.peek().map(|e| e.due);
            let mut wake = false;
            for (due, job) in jobs {
                queue.seq += 1;
                let seq = queue.seq;
                wake |= earliest.is_none_or(|e| due < e);
                queue.heap.push(Entry { due, seq, job });
            }
            wake
        };
        if wake {
            self.wake.notify_one();
        }
    }

    /// The scheduler: pops due callbacks and starts each one once a permit is free.
    async fn run(self: Arc<Self>) {
        enum Next {
            Job(Job),
            Until(Instant),
            Idle,
        }
        loop {
            let next = {
                let mut queue = self.lock_queue();
                match queue.heap.peek().map(|e| e.due) {
                    Some(due) if due <= Instant::now() => match queue.heap.pop() {
                        Some(entry) => Next::Job(entry.job),
                        None => Next::Idle,
                    },
                    Some(due) => Next::Until(due),
                    None => Next::Idle,
                }
            };
            match next {
                Next::Job(job) => {
                    let permit = tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        permit = Arc::clone(&self.permits).acquire_owned() => match permit {
                            Ok(permit) => permit,
                            Err(_) => return,
                        },
                    };
                    let me = Arc::clone(&self);
                    me.counters.in_flight.fetch_add(1, AtomicOrdering::Relaxed);
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = me.cancel.cancelled() => {}
                            _ = me.deliver(job) => {}
                        }
                        me.counters.in_flight.fetch_sub(1, AtomicOrdering::Relaxed);
                        drop(permit);
                    });
                }
                Next::Until(due) => {
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                        _ = self.wake.notified() => {}
                    }
                }
                Next::Idle => {
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = self.wake.notified() => {}
                    }
                }
            }
        }
    }

    fn client(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(CALLBACK_TIMEOUT)
                    .connect_timeout(CALLBACK_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    // Callbacks go to loopback; an environment proxy must not intercept them.
                    .no_proxy()
                    .tcp_nodelay(true)
                    .user_agent("TwilioProxy/1.1 (herald simulator)")
                    .build()
                    .inspect_err(|error| {
                        tracing::error!(%error, "simulator: cannot build the callback HTTP client");
                    })
                    .ok()
            })
            .as_ref()
    }

    /// POSTs one signed callback; on failure, queues the next attempt or gives up.
    async fn deliver(self: &Arc<Self>, mut job: Job) {
        let Some(url) = job.message.status_callback.as_deref() else {
            return;
        };
        let Some(client) = self.client() else {
            self.counters.given_up.fetch_add(1, AtomicOrdering::Relaxed);
            return;
        };
        let params = callback_params(&self.account_sid, &job.message, job.stage);
        let signature = signature::compute(&self.auth_token, url, &params);
        let result = client
            .post(url)
            .header(signature::HEADER, signature)
            .form(&params)
            .send()
            .await;
        let failure = match result {
            Ok(mut response) => {
                let status = response.status();
                // Read (a bounded amount of) the body so the connection goes back to the pool.
                let mut read = 0usize;
                while read < MAX_RESPONSE_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => read += chunk.len(),
                        _ => break,
                    }
                }
                (!status.is_success()).then(|| format!("HTTP {}", status.as_u16()))
            }
            Err(error) => Some(if error.is_timeout() {
                "timed out".to_owned()
            } else if error.is_connect() {
                "connection failed".to_owned()
            } else {
                "request failed".to_owned()
            }),
        };
        let Some(failure) = failure else {
            self.counters
                .delivered
                .fetch_add(1, AtomicOrdering::Relaxed);
            return;
        };
        self.counters
            .failed_attempts
            .fetch_add(1, AtomicOrdering::Relaxed);
        if job.attempt < self.retries {
            let wait = backoff(self.backoff, job.attempt);
            tracing::debug!(
                sid = %job.message.sid,
                stage = ?job.stage,
                attempt = job.attempt + 1,
                failure = %failure,
                retry_in_ms = wait.as_millis() as u64,
                "simulator: status callback failed, will retry"
            );
            job.attempt += 1;
            self.schedule([(Instant::now() + wait, job)]);
        } else {
            self.counters.given_up.fetch_add(1, AtomicOrdering::Relaxed);
            if !self.warned_give_up.swap(true, AtomicOrdering::Relaxed) {
                tracing::warn!(
                    sid = %job.message.sid,
                    failure = %failure,
                    "simulator: gave up on a status callback (further ones are logged at debug)"
                );
            } else {
                tracing::debug!(
                    sid = %job.message.sid,
                    failure = %failure,
                    "simulator: gave up on a status callback"
                );
            }
        }
    }
}

/// `base * 2^attempt`, capped.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF)
}

/// The form Twilio posts for a status change of an outbound SMS.
pub(crate) fn callback_params(
    account_sid: &str,
    message: &StoredMessage,
    stage: Stage,
) -> Vec<(String, String)> {
    let status = match stage {
        Stage::Sent => "sent",
        Stage::Final => message.outcome.as_str(),
    };
    let mut params = vec![
        ("AccountSid".to_owned(), account_sid.to_owned()),
        ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
        ("From".to_owned(), message.from.clone()),
        ("MessageSid".to_owned(), message.sid.clone()),
        ("MessageStatus".to_owned(), status.to_owned()),
        ("SmsSid".to_owned(), message.sid.clone()),
        ("SmsStatus".to_owned(), status.to_owned()),
        ("To".to_owned(), message.to.clone()),
    ];
    if stage == Stage::Final {
        if let Some((code, _)) = message.outcome.error() {
            params.push(("ErrorCode".to_owned(), code.to_string()));
        }
        params.push((
            "RawDlrDoneDate".to_owned(),
            wire::raw_dlr_done_date(OffsetDateTime::now_utc()),
        ));
    }
    params
}

/// `localhost` (and `*.localhost`), loopback and unspecified IP literals.
fn is_local(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 0), Duration::from_millis(100));
        assert_eq!(backoff(base, 3), Duration::from_millis(800));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
        assert_eq!(backoff(Duration::MAX, 2), MAX_BACKOFF);
    }

    #[test]
    fn only_local_hosts_are_local() {
        for local in [
            "http://127.0.0.1:8080/x",
            "http://127.8.9.1/x",
            "http://localhost:1/x",
            "http://LOCALHOST./x",
            "http://herald.localhost/x",
            "http://[::1]:9/x",
            "http://0.0.0.0:8080/x",
            "http://[::ffff:127.0.0.1]/x",
        ] {
            assert!(is_local(&reqwest::Url::parse(local).unwrap()), "{local}");
        }
        for remote in [
            "http://10.0.0.1/x",
            "https://example.com/x",
            "http://localhost.example.com/x",
            "http://[2001:db8::1]/x",
        ] {
            assert!(!is_local(&reqwest::Url::parse(remote).unwrap()), "{remote}");
        }
    }
}
