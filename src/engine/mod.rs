//! The send engine: promotes scheduled campaigns, claims pending recipients, paces them per
//! sending number, calls Twilio, stores every outcome, reconciles what a crash or an
//! ambiguous answer left unknown, and polls the statuses whose callbacks were lost.
//!
//! Shape of the machinery (all tasks share one [`Shared`]):
//! - the *supervisor* ticks (and wakes on [`EngineHandle::wake`]): promotes due campaigns,
//!   starts one *lane* per sending number with work, and closes finished campaigns;
//! - a *lane* owns a number's pacing: campaigns on the number take turns, each message waits
//!   for its slot, then a *send task* calls Twilio (bounded by a semaphore);
//! - send tasks hand outcomes to the *writer*, which stores them in batches;
//! - the *reconciler* settles attempts whose outcome is unknown by asking Twilio;
//! - the *poller* asks Twilio for the status of accepted messages whose final callback never
//!   came (see [`poll`]);
//! - the *keeper* renews this node's sending-number leases (see [`leases`]): on a cluster a
//!   lane runs only on the node holding its number's lease.
//!
//! Crash safety rests on one rule: a recipient is marked in flight (with a fresh attempt id)
//! in the same transaction that claims it, before any request leaves, and that mark is only
//! cleared by storing the attempt's outcome. Whatever this node had in flight at start-up,
//! and whatever a dead node had in flight, is reconciled against Twilio before it is ever
//! sent again.

pub mod clock;
mod lane;
pub mod leases;
pub mod pacing;
pub mod poll;
mod reconcile;
pub mod retry;
pub mod webhooks;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::ids::NodeId;
use crate::metrics::Metrics;
use crate::provider::twilio::TwilioClient;
use crate::store::{DynStore, SendResult};
use pacing::Pacer;
use retry::RetryPolicy;

/// How the engine behaves; defaults suit production.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Base of the StatusCallback URLs (Herald's public URL, no trailing slash).
    pub callback_base: String,
    /// Retries of outcomes Twilio did not process.
    pub retry: RetryPolicy,
    /// Most Twilio requests in flight at once, across numbers.
    pub max_in_flight: usize,
    /// Supervisor period (scheduled campaigns start within one tick of their time).
    pub tick: Duration,
    /// How long after an ambiguous answer to wait before asking Twilio what happened.
    pub reconcile_after: Duration,
    /// After this long unresolved, an unknown attempt fails with `reconcile_timeout`.
    pub reconcile_deadline: Duration,
    /// How long in-flight sends may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// This node's name in the cluster (leases and claims are recorded under it).
    pub node: NodeId,
    /// How long a sending-number lease lasts without renewal (renewed every third of it):
    /// how soon the other nodes take a dead node's numbers.
    pub lease_ttl: Duration,
    /// How long after Twilio accepted a message without a final status to ask Twilio for it
    /// (its callbacks may have been lost; see [`poll`]).
    pub status_poll_after: Duration,
    /// Most status polls (fetches) a second on this node, so a large campaign whose callbacks
    /// were lost never trips Twilio's request limits.
    pub status_poll_rate: f64,
    /// The wall clock claims read (send windows are decided by it); tests move it.
    pub clock: clock::Clock,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            callback_base: "http://127.0.0.1:8080".into(),
            retry: RetryPolicy::default(),
            max_in_flight: 256,
            tick: Duration::from_millis(250),
            reconcile_after: Duration::from_secs(5),
            reconcile_deadline: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(10),
            node: NodeId::parse("local").expect("a valid node name"),
            lease_ttl: Duration::from_secs(10),
            status_poll_after: Duration::from_secs(600),
            status_poll_rate: 10.0,
            clock: clock::Clock::real(),
        }
    }
}

/// A cheap handle the API uses to tell the engine about new work and cancellations.
#[derive(Clone)]
pub struct EngineHandle {
    wake: Arc<watch::Sender<u64>>,
    cancelled: Arc<Mutex<HashSet<String>>>,
    paused: Arc<Mutex<HashSet<String>>>,
    opted_out: Arc<Mutex<HashSet<(String, String)>>>,
}

impl Default for EngineHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineHandle {
    /// A handle with nobody listening yet.
    pub fn new() -> Self {
        Self {
            wake: Arc::new(watch::channel(0).0),
            cancelled: Arc::default(),
            paused: Arc::default(),
            opted_out: Arc::default(),
        }
    }

    /// Wakes the supervisor and every lane (a campaign was created or launched, a rate changed).
    pub fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A campaign was cancelled: lanes stop sending it at their next slot.
    pub fn campaign_cancelled(&self, campaign_id: &str) {
        if let Ok(mut set) = self.cancelled.lock() {
            set.insert(campaign_id.to_owned());
        }
        self.wake();
    }

    /// A campaign was paused through this node: its lanes here give back the work they
    /// claimed and have not sent, before its next message. (Other nodes learn it on their
    /// supervisor's next tick, [`EngineHandle::set_paused`]; the store's claim refuses a
    /// paused campaign on every node at once: docs/ARCHITECTURE.md §3.)
    pub fn campaign_paused(&self, campaign_id: &str) {
        if let Ok(mut set) = self.paused.lock() {
            set.insert(campaign_id.to_owned());
        }
        self.wake();
    }

    /// A campaign was resumed through this node: its lanes may send it again.
    pub fn campaign_resumed(&self, campaign_id: &str) {
        if let Ok(mut set) = self.paused.lock() {
            set.remove(campaign_id);
        }
        self.wake();
    }

    /// The campaigns paused now, as the store says (the supervisor reads them every tick).
    fn set_paused(&self, ids: HashSet<String>) {
        if let Ok(mut set) = self.paused.lock() {
            *set = ids;
        }
    }

    /// True if the campaign was cancelled while this process ran, or is paused (as this node
    /// last heard): its lanes send nothing more of it.
    pub fn is_cancelled(&self, campaign_id: &str) -> bool {
        let held = |set: &Mutex<HashSet<String>>| {
            set.lock()
                .map(|set| set.contains(campaign_id))
                .unwrap_or(false)
        };
        held(&self.cancelled) || held(&self.paused)
    }

    /// A number opted out of an account: lanes fail its claimed messages (`opted_out`) at
    /// their last check before sending, so nothing already claimed slips out after a STOP.
    /// (Unclaimed ones are failed by the store's claim, which reads the opt-out list.)
    pub fn phone_opted_out(&self, account_id: &str, phone: &str) {
        if let Ok(mut set) = self.opted_out.lock() {
            set.insert((account_id.to_owned(), phone.to_owned()));
        }
    }

    /// A number opted back in: it may be sent to again.
    pub fn phone_opted_in(&self, account_id: &str, phone: &str) {
        if let Ok(mut set) = self.opted_out.lock() {
            set.remove(&(account_id.to_owned(), phone.to_owned()));
        }
    }

    /// True if the number opted out of the account while this process ran (and not back in).
    pub fn is_opted_out(&self, account_id: &str, phone: &str) -> bool {
        self.opted_out
            .lock()
            .map(|set| set.contains(&(account_id.to_owned(), phone.to_owned())))
            .unwrap_or(false)
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }
}

/// Messages to the writer task.
enum WriterMsg {
    Result(SendResult),
    Flush(oneshot::Sender<()>),
}

/// State shared by the engine's tasks.
struct Shared {
    store: DynStore,
    client: TwilioClient,
    config: EngineConfig,
    handle: EngineHandle,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    writer: mpsc::Sender<WriterMsg>,
    shutdown: CancellationToken,
    sends: TaskTracker,
    pacers: Mutex<HashMap<String, Arc<Mutex<Pacer>>>>,
    /// Sending-number leases this node holds.
    held: leases::Held,
    /// Live nodes sharing the database (this one included), as the keeper last counted.
    live_nodes: AtomicU32,
    /// When the engine started.
    started: tokio::time::Instant,
    /// Numbers whose lease this node's previous life still held at start: their lanes wait
    /// one hand-over guard from `started` before sending, as another node would.
    resumed: Mutex<HashSet<String>>,
    /// When campaigns were last closed ([`finish`]).
    finished_at: Mutex<Option<tokio::time::Instant>>,
}

impl Shared {
    async fn store_result(&self, result: SendResult) {
        if self.writer.send(WriterMsg::Result(result)).await.is_err() {
            tracing::error!(
                "the result writer stopped; the attempt stays in flight and will be reconciled"
            );
        }
    }

    fn pacer(&self, phone: &str, mps: f64) -> Arc<Mutex<Pacer>> {
        let mut pacers = self.pacers.lock().expect("pacer map lock");
        let pacer = pacers
            .entry(phone.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(Pacer::new(mps))))
            .clone();
        if let Ok(mut p) = pacer.lock()
            && p.mps() != mps
        {
            p.set_mps(mps);
        }
        pacer
    }
}

/// Starts the engine; it runs until `shutdown` is cancelled, then stops claiming, lets
/// in-flight requests finish (bounded by `shutdown_grace`) and stores their outcomes.
pub fn spawn(
    store: DynStore,
    client: TwilioClient,
    config: EngineConfig,
    handle: EngineHandle,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let (tx, rx) = mpsc::channel(8192);
    let shared = Arc::new(Shared {
        permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
        store,
        client,
        config,
        handle,
        metrics,
        writer: tx,
        shutdown,
        sends: TaskTracker::new(),
        pacers: Mutex::default(),
        held: leases::Held::default(),
        live_nodes: AtomicU32::new(1),
        started: tokio::time::Instant::now(),
        resumed: Mutex::default(),
        finished_at: Mutex::default(),
    });
    tokio::spawn(run(shared, rx))
}

async fn run(shared: Arc<Shared>, rx: mpsc::Receiver<WriterMsg>) {
    let node = &shared.config.node;
    tracing::info!(node = %node, "send engine starting");
    match shared.store.leases().await {
        Ok(leases) => {
            if let Ok(mut resumed) = shared.resumed.lock() {
                resumed.extend(
                    leases
                        .into_iter()
                        .filter(|l| l.node_id == node.as_str())
                        .map(|l| l.phone),
                );
            }
        }
        Err(e) => tracing::error!(error = ?e, "reading the number leases failed"),
    }
    match shared
        .store
        .mark_orphaned_in_flight(node, true, shared.config.lease_ttl)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            recipients = n,
            "recipients were in flight when this node (or a dead one) stopped; reconciling them with Twilio before anything is resent"
        ),
        Err(e) => {
            tracing::error!(error = ?e, "could not mark in-flight recipients for reconciliation")
        }
    }
    let keeper = tokio::spawn(leases::keep(shared.clone()));
    let writer = tokio::spawn(writer(shared.clone(), rx));
    let reconciler = tokio::spawn(reconcile::run(shared.clone()));
    let poller = tokio::spawn(poll::run(shared.clone()));
    supervise(&shared).await;

    // Shutdown: lanes saw the token and released what they had claimed; wait for the
    // requests already on their way, then make sure every outcome is stored.
    shared.sends.close();
    if tokio::time::timeout(shared.config.shutdown_grace, shared.sends.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight sends did not finish in time; they will be reconciled at next start"
        );
    }
    let _ = reconciler.await;
    let _ = poller.await;
    let (ack, done) = oneshot::channel();
    if shared.writer.send(WriterMsg::Flush(ack)).await.is_ok() {
        let _ = done.await;
    }
    writer.abort();
    let _ = keeper.await;
    // Last, so that other nodes reconcile only what is really left in flight. The lanes
    // released their numbers with their own guards; half a lease is the longest of those
    // (see `handover_guard`), so this shortens none of them.
    if let Err(e) = shared
        .store
        .retire_node(&shared.config.node, shared.config.lease_ttl / 2)
        .await
    {
        tracing::warn!(error = ?e, "leaving the cluster cleanly failed; the leases will expire");
    }
    tracing::info!("send engine stopped");
}

async fn supervise(shared: &Arc<Shared>) {
    let mut wake = shared.handle.subscribe();
    let mut lanes: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut last_depth = tokio::time::Instant::now() - Duration::from_secs(60);
    loop {
        let now = OffsetDateTime::now_utc();
        match shared.store.promote_due_campaigns(now).await {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(campaign_id = %id, "scheduled campaign started");
                }
            }
            Err(e) => tracing::error!(error = ?e, "promoting scheduled campaigns failed"),
        }
        // Paused campaigns, wherever they were paused: this node's lanes stop sending them
        // within a tick, the work they claimed given back (docs/ARCHITECTURE.md §3).
        if !lanes.is_empty() {
            match shared.store.paused_campaigns().await {
                Ok(ids) => shared
                    .handle
                    .set_paused(ids.into_iter().map(|id| id.to_string()).collect()),
                Err(e) => tracing::error!(error = ?e, "listing paused campaigns failed"),
            }
        }
        match shared.store.lanes_with_work().await {
            Ok(found) => {
                lanes.retain(|_, h| !h.is_finished());
                let mut share =
                    leases::fair_share(found.len(), shared.live_nodes.load(Ordering::Relaxed));
                // Numbers this node may take: not held by another node (one read of the
                // lease table, a hint by this node's clock; `acquire` decides), so a node
                // short of its share does not try every other node's number on every tick.
                let mut free: HashSet<String> = HashSet::new();
                if shared.held.len() < share && found.iter().any(|l| !shared.held.holds(&l.phone)) {
                    free = leases::free_numbers(shared, &found).await;
                }
                // About to take numbers: count the live nodes afresh, so that a node that
                // started a moment ago gets its share now rather than by a hand-over later.
                if !free.is_empty()
                    && let Ok(n) = shared
                        .store
                        .live_nodes(&shared.config.node, shared.config.lease_ttl)
                        .await
                {
                    shared.live_nodes.store(n, Ordering::Relaxed);
                    share = leases::fair_share(found.len(), n);
                }
                for lane in &found {
                    let pacer = shared.pacer(&lane.phone, lane.mps);
                    if lanes.contains_key(&lane.phone) {
                        continue;
                    }
                    let held = shared.held.holds(&lane.phone)
                        || (shared.held.len() < share
                            && free.contains(&lane.phone)
                            && leases::acquire(shared, &lane.phone).await);
                    if held {
                        lanes.insert(
                            lane.phone.clone(),
                            tokio::spawn(lane::run(shared.clone(), lane.phone.clone(), pacer)),
                        );
                    }
                }
                // More than a fair share (a node joined): give one number back per tick.
                if shared.held.len() > share.max(1)
                    && let Some(phone) = shared.held.phones().pop()
                {
                    tracing::info!(number = %phone, share, "giving a number back to even out the nodes' shares");
                    shared.held.remove(&phone);
                }
            }
            Err(e) => tracing::error!(error = ?e, "listing sending numbers with work failed"),
        }
        finish(shared).await;
        if last_depth.elapsed() >= Duration::from_secs(5) {
            last_depth = tokio::time::Instant::now();
            if let Ok(n) = shared.store.pending_total().await {
                shared.metrics.queue_depth.set(n as i64);
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = wake.changed() => {},
            _ = tokio::time::sleep(shared.config.tick) => {},
        }
    }
    for (_, lane) in lanes {
        let _ = lane.await;
    }
}

/// Closes the campaigns that have nothing left to send, at most once every [`FINISH_EVERY`]
/// (the supervisor's tick and the outcome writer both ask; every create wakes the
/// supervisor).
async fn finish(shared: &Shared) {
    let now = tokio::time::Instant::now();
    if let Ok(mut last) = shared.finished_at.lock() {
        if last.is_some_and(|t| now.duration_since(t) < FINISH_EVERY) {
            return;
        }
        *last = Some(now);
    }
    match shared
        .store
        .finish_campaigns(OffsetDateTime::now_utc())
        .await
    {
        Ok(changed) => {
            for (id, status) in changed {
                tracing::info!(campaign_id = %id, status = status.as_str(), "campaign finished");
            }
        }
        Err(e) => tracing::error!(error = ?e, "closing finished campaigns failed"),
    }
}

/// How often campaigns are closed at most.
const FINISH_EVERY: Duration = Duration::from_millis(200);

/// Stores outcomes in batches: one transaction for everything that arrived meanwhile.
async fn writer(shared: Arc<Shared>, mut rx: mpsc::Receiver<WriterMsg>) {
    const MAX_BATCH: usize = 1024;
    let mut batch: Vec<SendResult> = Vec::with_capacity(MAX_BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                WriterMsg::Result(r) => batch.push(r),
                WriterMsg::Flush(ack) => acks.push(ack),
            }
            next = if batch.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let mut delay = Duration::from_millis(50);
        loop {
            let started = tokio::time::Instant::now();
            match shared
                .store
                .record_results(&batch, OffsetDateTime::now_utc())
                .await
            {
                Ok(()) => {
                    tracing::trace!(
                        rows = batch.len(),
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        "outcomes stored"
                    );
                    break;
                }
                Err(e) => {
                    tracing::error!(error = ?e, rows = batch.len(), "storing send outcomes failed; retrying");
                    if delay > Duration::from_secs(5) && shared.shutdown.is_cancelled() {
                        tracing::error!(
                            "giving up storing outcomes at shutdown; the attempts will be reconciled at next start"
                        );
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        batch.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        finish(&shared).await;
    }
}

#[cfg(test)]
mod handle_tests {
    use super::EngineHandle;

    #[test]
    fn opt_outs_are_per_account_and_undone_by_opt_ins() {
        let handle = EngineHandle::new();
        let other = handle.clone();
        handle.phone_opted_out("acct_a", "+447111000001");
        assert!(other.is_opted_out("acct_a", "+447111000001"));
        assert!(!other.is_opted_out("acct_b", "+447111000001"));
        assert!(!other.is_opted_out("acct_a", "+447111000002"));
        other.phone_opted_in("acct_a", "+447111000001");
        assert!(!handle.is_opted_out("acct_a", "+447111000001"));
    }
}
