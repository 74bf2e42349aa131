//! The webhook deliverer: claims due messages from the outbox, posts them signed, and stores
//! each attempt and what follows it (docs/ARCHITECTURE.md §10). It runs beside the send
//! engine, never in its path: its own task, its own HTTP client, its own bounds, so a slow
//! receiver never slows sending.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::webhooks::{self, AfterFailure};
use crate::provider::standard_webhooks::{PostOutcome, WebhookSender};
use crate::store::{DueWebhook, DynStore, WebhookAttemptResult, WebhookNext};

/// Posts to one endpoint at once, per node.
pub const PER_ENDPOINT: usize = 4;
/// Messages of one endpoint claimed and not yet finished, per node (the rest wait in the
/// database, where a claim does not hold them).
const CLAIMED_PER_ENDPOINT: usize = 16;
/// Messages claimed per round.
const CLAIM_BATCH: u32 = 32;
/// Posts in flight at once, all endpoints together, per node.
const MAX_IN_FLIGHT: usize = 64;
/// How often the outbox is looked at (an enqueue through the service wakes it sooner).
const TICK: Duration = Duration::from_millis(250);
/// Finished messages are kept this long (their attempts are the deliveries list).
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a claim holds a message: longer than the claimed messages of one endpoint can
/// take, one after the other, four at a time ([`CLAIMED_PER_ENDPOINT`] / [`PER_ENDPOINT`]
/// time-outs), with room to spare. A node that dies leaves its claims due after this.
pub fn claim_hold(timeout: Duration) -> Duration {
    timeout * (2 * (CLAIMED_PER_ENDPOINT / PER_ENDPOINT) as u32) + Duration::from_secs(5)
}

/// How outgoing webhooks are delivered.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Admit plain http and private, loopback and link-local addresses
    /// (`--allow-private-webhook-urls`: tests and private deployments).
    pub allow_private: bool,
    /// How long one post may take.
    pub timeout: Duration,
    /// The first retry's wait; each next one doubles (with jitter), up to two hours.
    pub retry_base: Duration,
    /// Run the delivery worker (with the engine).
    pub deliver: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            deliver: true,
        }
    }
}

/// Wakes the deliverer (an event written from Rust, e.g. a test event).
#[derive(Clone, Default)]
pub struct WebhookWake(Arc<Notify>);

impl WebhookWake {
    /// Looks at the outbox now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

struct Deliverer {
    store: DynStore,
    sender: WebhookSender,
    settings: WebhookSettings,
    all: Arc<Semaphore>,
    endpoints: Mutex<HashMap<i64, (Arc<Semaphore>, usize)>>,
}

/// Starts the deliverer; it stops claiming when `shutdown` is cancelled and lets posts in
/// flight finish (each bounded by the time-out).
pub fn spawn(
    store: DynStore,
    settings: WebhookSettings,
    wake: WebhookWake,
    shutdown: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let sender = WebhookSender::new(settings.timeout, settings.allow_private)?;
    let me = Arc::new(Deliverer {
        store,
        sender,
        settings,
        all: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        endpoints: Mutex::default(),
    });
    Ok(tokio::spawn(run(me, wake, shutdown)))
}

async fn run(me: Arc<Deliverer>, wake: WebhookWake, shutdown: CancellationToken) {
    let tasks = TaskTracker::new();
    let mut last_purge = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.0.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
        let mut claimed = claim_round(&me, &tasks).await;
        // A full batch: there may be more due at once.
        while claimed == CLAIM_BATCH as usize && !shutdown.is_cancelled() {
            claimed = claim_round(&me, &tasks).await;
        }
        if last_purge.elapsed() > Duration::from_secs(600) {
            last_purge = tokio::time::Instant::now();
            let before = OffsetDateTime::now_utc() - KEEP_FINISHED;
            if let Err(e) = me.store.purge_webhooks(before).await {
                tracing::warn!(error = %e, "purging delivered webhooks failed");
            }
        }
    }
    tasks.close();
    let _ = tokio::time::timeout(me.settings.timeout + Duration::from_secs(1), tasks.wait()).await;
}

/// Claims one batch and starts its posts; returns how many were claimed.
async fn claim_round(me: &Arc<Deliverer>, tasks: &TaskTracker) -> usize {
    let busy: Vec<i64> = {
        let endpoints = me.endpoints.lock().expect("not poisoned");
        endpoints
            .iter()
            .filter(|(_, (_, claimed))| *claimed >= CLAIMED_PER_ENDPOINT)
            .map(|(seq, _)| *seq)
            .collect()
    };
    let now = OffsetDateTime::now_utc();
    let hold = claim_hold(me.settings.timeout);
    let due = match me
        .store
        .claim_webhooks(now, now + hold, CLAIM_BATCH, &busy)
        .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "claiming webhooks failed");
            return 0;
        }
    };
    let n = due.len();
    for message in due {
        let gate = {
            let mut endpoints = me.endpoints.lock().expect("not poisoned");
            let entry = endpoints
                .entry(message.endpoint_seq)
                .or_insert_with(|| (Arc::new(Semaphore::new(PER_ENDPOINT)), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        let me = me.clone();
        tasks.spawn(async move {
            let seq = message.endpoint_seq;
            if let (Ok(_one), Ok(_all)) = (gate.acquire().await, me.all.acquire().await) {
                deliver(&me, message).await;
            }
            let mut endpoints = me.endpoints.lock().expect("not poisoned");
            if let Some(entry) = endpoints.get_mut(&seq) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    endpoints.remove(&seq);
                }
            }
        });
    }
    n
}

/// The body of a message: `{"type", "timestamp", "data"}`.
pub fn body(message: &DueWebhook) -> Vec<u8> {
    let timestamp = message
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::to_vec(&serde_json::json!({
        "type": message.event_type,
        "timestamp": timestamp,
        "data": message.data,
    }))
    .unwrap_or_default()
}

async fn deliver(me: &Deliverer, message: DueWebhook) {
    let attempt = message.attempts + 1;
    let now = OffsetDateTime::now_utc();
    let outcome = me
        .sender
        .post(
            &message.url,
            &message.webhook_id,
            now.unix_timestamp(),
            body(&message),
            &message.secrets,
        )
        .await;
    let at = OffsetDateTime::now_utc();
    let (status_code, error) = match &outcome {
        PostOutcome::Answered(code) if webhooks::is_success(*code) => (Some(*code), None),
        PostOutcome::Answered(code) => (Some(*code), Some(format!("HTTP {code}"))),
        PostOutcome::Failed(why) => (None, Some(why.clone())),
    };
    let (next, disable) = if error.is_none() {
        (WebhookNext::Delivered, None)
    } else {
        let jitter = 0.5 + rand::random::<f64>();
        let next = match webhooks::after_failure(
            message.created_at,
            attempt,
            at,
            me.settings.retry_base,
            jitter,
        ) {
            AfterFailure::RetryAt(t) => WebhookNext::RetryAt(t),
            AfterFailure::GiveUp => WebhookNext::GiveUp,
        };
        let since = message.failing_since.unwrap_or(at);
        let disable = webhooks::should_disable(since, at)
            .then(|| "disabled by Herald: every delivery failed for 24 hours".to_owned());
        (next, disable)
    };
    tracing::debug!(webhook_id = %message.webhook_id, attempt, ?status_code, "webhook attempt");
    let result = WebhookAttemptResult {
        message_id: message.id,
        endpoint_seq: message.endpoint_seq,
        attempt,
        status_code,
        error,
        at,
        next,
        disable,
    };
    if let Err(e) = me.store.record_webhook_attempt(&result).await {
        // The claim's hold runs out and the message is sent again (at least once).
        tracing::warn!(error = %e, webhook_id = %message.webhook_id, "storing a webhook attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_outlasts_the_posts_it_holds() {
        let timeout = Duration::from_secs(10);
        // Claimed messages of one endpoint go four at a time, each at most one time-out.
        let worst = timeout * (CLAIMED_PER_ENDPOINT / PER_ENDPOINT) as u32;
        assert!(claim_hold(timeout) > worst);
    }
}
