//! One sending number's lane: campaigns on the number take turns, every message waits for
//! its pacing slot, then a send task calls Twilio. A lane runs only while its node holds
//! the number's lease (see [`super::leases`]).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque, hash_map};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::leases::{self, handover_guard};
use super::pacing::Pacer;
use super::{Shared, retry};
use crate::metrics::NumberLabel;
use crate::provider::twilio::SendRequest;
use crate::store::{SendResult, StoreError, StoreResult, Work};

/// How often a lane re-reads which campaigns use its number.
const REFRESH: Duration = Duration::from_secs(1);
/// How far back a woken lane looks for campaigns started since it last looked.
const NEW_MARGIN: time::Duration = time::Duration::seconds(5);
/// How long an empty campaign queue is left alone before asking the store again.
const EMPTY_BACKOFF: Duration = Duration::from_millis(250);
/// How far ahead (in pacing time) a lane claims work: small, so a crash leaves little to reconcile.
const CLAIM_AHEAD: f64 = 0.25;
/// The resolution of tokio's timer.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);
/// Most recipients claimed at once by one lane (fast numbers claim in large batches, so the
/// claim transaction is rare next to the sends).
const MAX_CLAIM: f64 = 500.0;

/// Most campaigns claimed for in one transaction (see [`claim_ahead`]).
const MAX_GROUP: usize = 64;

/// A claim under way in the background: the next batch, claimed while this one sends.
/// `None`: the campaign was part of a group claim that reached its limit before it.
type Claim = JoinHandle<StoreResult<Option<Vec<Work>>>>;

/// A refresh under way: when it was asked (wall clock and lane clock), and the campaigns.
type Refresh = JoinHandle<((OffsetDateTime, Instant), StoreResult<Vec<i64>>)>;

/// Claimed work of one campaign on this lane.
#[derive(Debug)]
struct CampaignQueue {
    seq: i64,
    /// When the lane took the campaign on (a refresh asked before that does not drop it).
    joined: Instant,
    buffer: VecDeque<Work>,
    empty_until: Option<Instant>,
    claiming: Option<Claim>,
}

impl CampaignQueue {
    fn new(seq: i64) -> Self {
        Self {
            seq,
            joined: Instant::now(),
            buffer: VecDeque::new(),
            empty_until: None,
            claiming: None,
        }
    }

    /// Whether its next batch should be claimed now: nothing under way, the buffer low,
    /// no back-off.
    fn wants_claim(&self, batch: u32, now: Instant) -> bool {
        self.claiming.is_none()
            && self.buffer.len() <= (batch / 2) as usize
            && self.empty_until.is_none_or(|t| now >= t)
    }

    /// Takes in the outcome of a claim; false when the claim did not reach this campaign
    /// (a group claim's limit ran out first).
    fn absorb(&mut self, claimed: StoreResult<Option<Vec<Work>>>, phone: &str) -> bool {
        match claimed {
            Ok(None) => return false,
            Ok(Some(work)) if work.is_empty() => {
                self.empty_until = Some(Instant::now() + EMPTY_BACKOFF)
            }
            Ok(Some(work)) => {
                self.empty_until = None;
                self.buffer.extend(work);
            }
            Err(e) => {
                tracing::error!(number = %phone, error = ?e, "claiming work failed");
                self.empty_until = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        true
    }
}

/// Claimed work a lane gives back: what its queues held, and claims still under way
/// (whose work is given back once they come in).
#[derive(Debug, Default)]
struct Leftovers {
    work: Vec<Work>,
    claims: Vec<Claim>,
}

impl Leftovers {
    fn take_from(&mut self, q: &mut CampaignQueue) {
        self.work.extend(q.buffer.drain(..));
        self.claims.extend(q.claiming.take());
    }
}

/// Round-robin over the campaigns of one number, so a small campaign is not stuck
/// behind a large one: each turn takes one message from the next campaign that has one.
///
/// Every step is O(1) (O(log n) for a queue put to sleep), however many campaigns run on
/// the number: the turn order holds only queues that may have something to send now; a
/// queue whose claim came back empty sleeps out its back-off in `sleeping` (ordered by
/// when it wakes) and rejoins the turns at the back. Only a full refresh (once a
/// [`REFRESH`]) looks at every campaign, with a hash lookup per campaign.
#[derive(Debug, Default)]
struct Turns {
    queues: HashMap<i64, CampaignQueue>,
    /// Seqs whose turn comes, in order (each at most once; a seq whose queue is gone is
    /// skipped when its turn comes).
    order: VecDeque<i64>,
    /// Queues waiting out an empty claim's back-off, by wake-up time.
    sleeping: BTreeSet<(Instant, i64)>,
    /// The highest seq ever seen (campaigns created later have higher ones).
    max_seq: i64,
}

impl Turns {
    /// Keeps the queues of `running` campaigns, the list as read at `asked` (adding new
    /// ones at the end), and returns the claimed work of campaigns that stopped running.
    /// Queues taken on after `asked` stay: the list could not know them.
    fn retain_running(&mut self, running: &[i64], asked: Instant) -> Leftovers {
        let keep: HashSet<i64> = running.iter().copied().collect();
        let mut released = Leftovers::default();
        self.queues.retain(|seq, q| {
            let kept = keep.contains(seq) || q.joined > asked;
            if !kept {
                released.take_from(q);
            }
            kept
        });
        // Stale entries of the turn order and the sleepers go now, so neither grows with
        // campaigns that come and go.
        let queues = &self.queues;
        self.order.retain(|seq| queues.contains_key(seq));
        self.sleeping.retain(|(_, seq)| queues.contains_key(seq));
        self.add(running);
        released
    }

    /// Adds queues for the campaigns of `started` not known yet, at the end of the turns.
    fn add(&mut self, started: &[i64]) {
        for &seq in started {
            self.max_seq = self.max_seq.max(seq);
            if let hash_map::Entry::Vacant(e) = self.queues.entry(seq) {
                e.insert(CampaignQueue::new(seq));
                self.order.push_back(seq);
            }
        }
    }

    /// Removes a campaign's queue, returning its claimed work (its entries in the turn
    /// order and among the sleepers are skipped, then dropped at the next refresh).
    fn drop_campaign(&mut self, seq: i64) -> Leftovers {
        let mut released = Leftovers::default();
        if let Some(mut q) = self.queues.remove(&seq) {
            released.take_from(&mut q);
        }
        released
    }

    fn drain_all(&mut self) -> Leftovers {
        let mut released = Leftovers::default();
        for (_, mut q) in self.queues.drain() {
            released.take_from(&mut q);
        }
        self.order.clear();
        self.sleeping.clear();
        released
    }

    /// Queues whose back-off is over take their turns again (at the end).
    fn wake_sleepers(&mut self, now: Instant) {
        while let Some(&(at, seq)) = self.sleeping.first()
            && at <= now
        {
            self.sleeping.pop_first();
            if self.queues.contains_key(&seq) {
                self.order.push_back(seq);
            }
        }
    }

    /// The next queue whose turn it is (None when no queue may send now).
    fn next_turn(&mut self) -> Option<CampaignQueue> {
        while let Some(seq) = self.order.pop_front() {
            if let Some(q) = self.queues.remove(&seq) {
                return Some(q);
            }
        }
        None
    }

    /// Puts a queue back after its turn: at the end of the turns, or asleep until its
    /// back-off ends if it has nothing and may not claim yet.
    fn after_turn(&mut self, q: CampaignQueue, now: Instant) {
        let seq = q.seq;
        match q.empty_until {
            Some(until) if until > now && q.buffer.is_empty() && q.claiming.is_none() => {
                self.sleeping.insert((until, seq));
            }
            _ => self.order.push_back(seq),
        }
        self.queues.insert(seq, q);
    }

    /// The queues whose turns come next from `from` turns away (at most `n`, looking at most
    /// `2n` turns ahead) that want a claim: a group claim takes them along (O(n), whatever
    /// the number of campaigns).
    fn upcoming_claims(&self, from: usize, n: usize, batch: u32, now: Instant) -> Vec<i64> {
        self.order
            .iter()
            .skip(from)
            .take(2 * n)
            .filter(|seq| {
                self.queues
                    .get(*seq)
                    .is_some_and(|q| q.wants_claim(batch, now))
            })
            .take(n)
            .copied()
            .collect()
    }

    /// Starts claiming for `q` and the queues whose turns come next that want work too,
    /// in one transaction (see [`claim_ahead`]).
    fn start_claims(
        &mut self,
        q: &mut CampaignQueue,
        shared: &Arc<Shared>,
        phone: &str,
        batch: u32,
    ) {
        let mut group = vec![q.seq];
        group.extend(self.upcoming_claims(0, MAX_GROUP - 1, batch, Instant::now()));
        for (seq, claim) in claim_ahead(shared, group, phone, batch) {
            if seq == q.seq {
                q.claiming = Some(claim);
            } else if let Some(other) = self.queues.get_mut(&seq) {
                other.claiming = Some(claim);
            }
        }
    }

    /// The group whose claim should start now so that it is in by the turn of its first
    /// campaign, `ahead` turns away (None when that campaign needs none): that campaign and
    /// the next ones that want work. Without it, many small campaigns on one number waited for
    /// a claim every `batch` messages (each group claim stops at `batch` recipients, and the
    /// first campaign it did not reach asked for its own at its turn). A group claim's answer
    /// that did not reach the campaign is taken in here, so it is asked again at once.
    fn early_group(&mut self, ahead: usize, batch: u32, phone: &str) -> Option<Vec<i64>> {
        let &seq = self.order.get(ahead)?;
        let q = self.queues.get_mut(&seq)?;
        if q.claiming.as_ref().is_some_and(JoinHandle::is_finished)
            && let Some(outcome) = q.claiming.take().and_then(FutureExt::now_or_never)
        {
            q.absorb(
                outcome.unwrap_or_else(|e| Err(StoreError::Backend(Box::new(e)))),
                phone,
            );
        }
        // Only one that would wait at its turn: nothing buffered, nothing under way.
        let now = Instant::now();
        if !q.buffer.is_empty() || !q.wants_claim(batch, now) {
            return None;
        }
        Some(self.upcoming_claims(ahead, MAX_GROUP, batch, now))
    }

    /// Starts the claim of [`Self::early_group`], if there is one.
    fn claim_early(&mut self, shared: &Arc<Shared>, phone: &str, batch: u32) {
        // A batch's worth of turns ahead: at most two batches claimed and not yet sent.
        let ahead = (batch as usize).min(self.order.len().saturating_sub(1));
        let Some(group) = self.early_group(ahead, batch, phone) else {
            return;
        };
        for (seq, claim) in claim_ahead(shared, group, phone, batch) {
            if let Some(q) = self.queues.get_mut(&seq) {
                q.claiming = Some(claim);
            }
        }
    }

    /// How many queues may take a turn now (an upper bound: gone ones not yet skipped).
    fn turns_due(&self) -> usize {
        self.order.len()
    }
}

/// Starts claiming the next batch of campaigns `seqs` (in turn order) on this number in the
/// background, in one transaction: up to `batch` recipients in all, the first campaign
/// first. Many small campaigns on one number (one-recipient reminders) cost a claim
/// transaction per group instead of one per campaign; a large campaign fills the batch
/// alone, as it did before. Returns each campaign's claim.
fn claim_ahead(shared: &Arc<Shared>, seqs: Vec<i64>, phone: &str, batch: u32) -> Vec<(i64, Claim)> {
    let mut senders = Vec::with_capacity(seqs.len());
    let mut claims = Vec::with_capacity(seqs.len());
    for &seq in &seqs {
        let (tx, rx) = oneshot::channel::<StoreResult<Option<Vec<Work>>>>();
        senders.push(tx);
        claims.push((
            seq,
            tokio::spawn(async move {
                rx.await
                    .unwrap_or_else(|e| Err(StoreError::Backend(Box::new(e))))
            }),
        ));
    }
    let (shared, phone) = (shared.clone(), phone.to_owned());
    tokio::spawn(async move {
        let started = Instant::now();
        let claimed = shared
            .store
            .claim_lane_work(
                &shared.config.node,
                &seqs,
                &phone,
                batch,
                shared.config.clock.now(),
            )
            .await;
        tracing::trace!(
            number = %phone,
            campaigns = seqs.len(),
            rows = claimed.as_ref().map_or(0, |c| c.iter().map(|(_, w)| w.len()).sum()),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "claimed"
        );
        match claimed {
            Ok(claimed) => {
                let mut by_seq: HashMap<i64, Vec<Work>> = claimed.into_iter().collect();
                for (seq, tx) in seqs.iter().zip(senders) {
                    let _ = tx.send(Ok(by_seq.remove(seq)));
                }
            }
            // The first campaign takes the error (and its back-off); the others claim again
            // at their turns.
            Err(e) => {
                let mut senders = senders.into_iter();
                if let Some(first) = senders.next() {
                    let _ = first.send(Err(e));
                }
                for tx in senders {
                    let _ = tx.send(Ok(None));
                }
            }
        }
    });
    claims
}

/// The outcome of a background claim (a claim task that died is a failed claim).
async fn claimed(claim: Claim) -> StoreResult<Option<Vec<Work>>> {
    claim
        .await
        .unwrap_or_else(|e| Err(StoreError::Backend(Box::new(e))))
}

pub(super) async fn run(shared: Arc<Shared>, phone: String, pacer: Arc<Mutex<Pacer>>) {
    let mut turns = Turns::default();
    let mut wake = shared.handle.subscribe();
    let mut last_refresh: Option<Instant> = None;
    let mut refreshing: Option<Refresh> = None;
    // Woken (a campaign created or launched): ask only for the campaigns new to the lane.
    let mut news = false;
    let mut looked_new_at = OffsetDateTime::now_utc();
    let lag = shared
        .metrics
        .pacing_lag_seconds
        .get_or_create_owned(&NumberLabel {
            number: phone.clone(),
        });
    tracing::debug!(number = %phone, "lane started");
    let ttl = shared.config.lease_ttl;
    let guard = || handover_guard(pacer.lock().map(|p| p.mps()).unwrap_or(1.0), ttl);
    // A number this node held in its previous life: wait as another node would have to.
    let resumed = shared
        .resumed
        .lock()
        .map(|mut r| r.remove(&phone))
        .unwrap_or(false);
    if resumed {
        tokio::select! {
            _ = shared.shutdown.cancelled() => {}
            _ = tokio::time::sleep_until(shared.started + guard()) => {}
        }
    }
    'lane: loop {
        if shared.shutdown.is_cancelled() {
            break;
        }
        if !shared.held.may_send(&phone, guard(), Instant::now()) {
            tracing::info!(number = %phone, "the number's lease ends; the lane stops");
            break;
        }
        news |= wake.has_changed().unwrap_or(false);
        // The refresh reads every running campaign of the number (50,000 reminders: tens of
        // milliseconds), so it runs beside the sends; only the lane's first waits for it.
        if refreshing.is_none() && last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
            wake.mark_unchanged();
            news = false;
            let (shared, phone) = (shared.clone(), phone.clone());
            refreshing = Some(tokio::spawn(async move {
                let asked = (OffsetDateTime::now_utc(), Instant::now());
                (asked, shared.store.lane_campaigns(&phone).await)
            }));
        }
        if let Some(refresh) = refreshing.take_if(|r| last_refresh.is_none() || r.is_finished()) {
            // A refresh task that died is a failed refresh.
            match refresh
                .await
                .map_err(|e| StoreError::Backend(Box::new(e)))
                .and_then(|(asked, running)| Ok((asked, running?)))
            {
                Ok(((asked_at, asked), running)) => {
                    last_refresh = Some(Instant::now());
                    looked_new_at = asked_at;
                    release_leftovers(&shared, turns.retain_running(&running, asked)).await;
                    if running.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(number = %phone, error = ?e, "listing campaigns failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        } else if news {
            wake.mark_unchanged();
            news = false;
            // Started "since" with a margin for clocks (another node's, or this one's
            // between the start and its commit); campaigns already known are ignored.
            let asked_at = OffsetDateTime::now_utc();
            match shared
                .store
                .lane_campaigns_new(&phone, turns.max_seq, looked_new_at - NEW_MARGIN)
                .await
            {
                Ok(new) => {
                    looked_new_at = asked_at;
                    turns.add(&new);
                }
                Err(e) => {
                    tracing::error!(number = %phone, error = ?e, "listing new campaigns failed")
                }
            }
        }

        let batch = {
            let mps = pacer.lock().map(|p| p.mps()).unwrap_or(1.0);
            (mps * CLAIM_AHEAD).ceil().clamp(1.0, MAX_CLAIM) as u32
        };
        let mut picked = None;
        turns.wake_sleepers(Instant::now());
        for _ in 0..turns.turns_due() {
            let Some(mut q) = turns.next_turn() else {
                break;
            };
            // The next batch is claimed while this one sends, once the buffer runs low, for
            // this campaign and those whose turns come next.
            if q.wants_claim(batch, Instant::now()) {
                turns.start_claims(&mut q, &shared, &phone, batch);
            }
            if q.claiming
                .as_ref()
                .is_some_and(|c| c.is_finished() || q.buffer.is_empty())
                && let Some(claim) = q.claiming.take()
            {
                let outcome = claimed(claim).await;
                // Left out of a group claim that ran out before it, with nothing to send:
                // claim now, first of a group of its own.
                if !q.absorb(outcome, &phone) && q.buffer.is_empty() {
                    turns.start_claims(&mut q, &shared, &phone, batch);
                    if let Some(claim) = q.claiming.take() {
                        let outcome = claimed(claim).await;
                        q.absorb(outcome, &phone);
                    }
                }
            }
            let next = q.buffer.pop_front();
            turns.after_turn(q, Instant::now());
            if next.is_some() {
                picked = next;
                break;
            }
        }
        if picked.is_some() {
            turns.claim_early(&shared, &phone, batch);
        }

        let Some(work) = picked else {
            // Nothing sendable now (retries waiting, callbacks pending): wait for news, or
            // for the first sleeper to wake.
            let idle = turns
                .sleeping
                .first()
                .map_or(EMPTY_BACKOFF, |(at, _)| {
                    at.saturating_duration_since(Instant::now())
                })
                .clamp(TIMER_RESOLUTION, EMPTY_BACKOFF);
            tokio::select! {
                _ = shared.shutdown.cancelled() => break 'lane,
                _ = wake.changed() => news = true,
                _ = tokio::time::sleep(idle) => {},
            }
            continue;
        };

        let Some(work) = unless_cancelled(&shared, &mut turns, work).await else {
            continue;
        };
        if opted_out_since_claim(&shared, &work).await {
            continue;
        }

        let slot = match pacer.lock() {
            Ok(mut p) => p.reserve(work.segments, Instant::now()),
            Err(_) => Instant::now(),
        };
        // tokio's timer fires on whole milliseconds, so a shorter sleep costs a full one and
        // would cap a fast number near 1,000 messages a second: a slot due within the timer's
        // resolution is due now. (Spacing is then exact to a millisecond; the window guard
        // below still holds every carrier window to the rate.)
        if slot > Instant::now() + TIMER_RESOLUTION {
            tokio::select! {
                _ = shared.shutdown.cancelled() => {
                    if let Ok(mut p) = pacer.lock() {
                        p.unreserve(slot, work.segments);
                    }
                    release(&shared, vec![work]).await;
                    break 'lane;
                }
                _ = tokio::time::sleep_until(slot) => {}
            }
        }
        // The carrier's one-second window must have room as well (see `pacing`).
        loop {
            let ready = match pacer.lock() {
                Ok(mut p) => p.window_ready(work.segments, Instant::now()),
                Err(_) => Ok(()),
            };
            match ready {
                Ok(()) => break,
                Err(at) => tokio::select! {
                    _ = shared.shutdown.cancelled() => {
                        release(&shared, vec![work]).await;
                        break 'lane;
                    }
                    _ = tokio::time::sleep_until(at) => {}
                },
            }
        }
        // A cancel that arrived while this message waited for its slot stops it here.
        let Some(work) = unless_cancelled(&shared, &mut turns, work).await else {
            continue;
        };
        // So does a STOP from the recipient.
        if opted_out_since_claim(&shared, &work).await {
            continue;
        }
        let permit = tokio::select! {
            _ = shared.shutdown.cancelled() => {
                release(&shared, vec![work]).await;
                break 'lane;
            }
            permit = shared.permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break 'lane,
            },
        };
        // The last check before the message leaves: the lease must outlast it by a guard,
        // so a hand-over never puts two nodes' messages in one carrier window.
        if !shared.held.may_send(&phone, guard(), Instant::now()) {
            tracing::info!(number = %phone, "the number's lease ends; the lane stops");
            release(&shared, vec![work]).await;
            break 'lane;
        }
        lag.set(Instant::now().saturating_duration_since(slot).as_secs_f64());
        if let Ok(mut p) = pacer.lock() {
            p.depart(work.segments);
        }
        let shared2 = shared.clone();
        let pacer2 = pacer.clone();
        shared.sends.spawn(async move {
            send(&shared2, work, &pacer2).await;
            drop(permit);
        });
    }
    release_leftovers(&shared, turns.drain_all()).await;
    leases::release(&shared, &phone, guard()).await;
    tracing::debug!(number = %phone, "lane stopped");
}

/// Passes `work` on unless its campaign was cancelled, in which case it and the rest of
/// that campaign's claimed work are given back (and become `cancelled`).
async fn unless_cancelled(shared: &Shared, turns: &mut Turns, work: Work) -> Option<Work> {
    if !shared.handle.is_cancelled(work.campaign_id.as_str()) {
        return Some(work);
    }
    let mut released = turns.drop_campaign(work.campaign_seq);
    released.work.push(work);
    release_leftovers(shared, released).await;
    None
}

/// Gives back what a lane's queues held, once the claims under way have come in.
async fn release_leftovers(shared: &Shared, mut leftovers: Leftovers) {
    for claim in leftovers.claims {
        if let Ok(Some(work)) = claimed(claim).await {
            leftovers.work.extend(work);
        }
    }
    release(shared, leftovers.work).await;
}

/// Fails claimed work whose recipient opted out after the claim (the claim itself skips
/// numbers that were opted out already); true when it did.
async fn opted_out_since_claim(shared: &Shared, work: &Work) -> bool {
    if !shared
        .handle
        .is_opted_out(work.account_id.as_str(), &work.phone)
    {
        return false;
    }
    shared
        .store_result(SendResult::Failed {
            id: work.id,
            attempt_id: work.attempt_id.clone(),
            code: "opted_out".into(),
            message: "the recipient opted out of messages from this account".into(),
        })
        .await;
    true
}

/// Gives back claimed work that will not be sent now.
async fn release(shared: &Shared, work: Vec<Work>) {
    for w in work {
        shared
            .store_result(SendResult::Released {
                id: w.id,
                attempt_id: w.attempt_id,
            })
            .await;
    }
}

/// One request to Twilio and its consequences.
async fn send(shared: &Shared, work: Work, pacer: &Mutex<Pacer>) {
    let callback = format!(
        "{}/webhooks/twilio/status?attempt={}",
        shared.config.callback_base, work.attempt_id
    );
    let started = Instant::now();
    let outcome = shared
        .client
        .send(&SendRequest {
            to: &work.phone,
            from: &work.from_number,
            body: &work.body,
            status_callback: Some(&callback),
        })
        .await;
    if let Ok(mut p) = pacer.lock() {
        p.acknowledge(work.segments, Instant::now());
    }
    shared
        .metrics
        .provider_latency_seconds
        .observe(started.elapsed().as_secs_f64());
    let decision = retry::decide(
        &work,
        outcome,
        &shared.config.retry,
        OffsetDateTime::now_utc(),
        rand::random::<f64>(),
    );
    shared.metrics.submission(decision.outcome);
    tracing::debug!(
        campaign_id = %work.campaign_id,
        recipient = work.id,
        attempt = %work.attempt_id,
        outcome = decision.outcome,
        "sent"
    );
    if decision.opted_out {
        shared
            .handle
            .phone_opted_out(work.account_id.as_str(), &work.phone);
    }
    if decision.opted_out
        && let Err(e) = shared
            .store
            .add_opt_out(
                &work.account_id,
                &work.phone,
                "twilio_21610",
                Some("Twilio refused the send: the recipient replied STOP (error 21610)"),
                OffsetDateTime::now_utc(),
            )
            .await
    {
        tracing::error!(error = ?e, "recording an opt-out from error 21610 failed");
    }
    if let Ok(mut p) = pacer.lock() {
        if let Some(retry_after) = decision.slow_down {
            p.slow_down(Instant::now(), retry_after);
        }
        if let Some(pause) = decision.pause {
            p.pause(Instant::now() + pause);
        }
    }
    shared.store_result(decision.result).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AccountId, CampaignId};

    fn work(seq: i64, id: i64) -> Work {
        Work {
            id,
            campaign_seq: seq,
            campaign_id: CampaignId::generate(),
            account_id: AccountId::generate(),
            phone: "+447111000001".into(),
            from_number: "+447446466847".into(),
            body: "Hi".into(),
            segments: 1,
            attempts: 1,
            attempt_id: format!("a{id}"),
        }
    }

    /// Takes the next message the way the lane does: one from each campaign in turn.
    fn take(turns: &mut Turns) -> Option<i64> {
        turns.wake_sleepers(Instant::now());
        for _ in 0..turns.turns_due() {
            let mut q = turns.next_turn()?;
            let next = q.buffer.pop_front();
            turns.after_turn(q, Instant::now());
            if let Some(w) = next {
                return Some(w.id);
            }
        }
        None
    }

    fn queue(turns: &mut Turns, seq: i64) -> &mut CampaignQueue {
        turns.queues.get_mut(&seq).expect("a queue")
    }

    #[test]
    fn campaigns_sharing_a_number_take_turns() {
        let mut turns = Turns::default();
        turns.retain_running(&[1, 2], Instant::now());
        queue(&mut turns, 1)
            .buffer
            .extend((0..5).map(|i| work(1, 100 + i)));
        queue(&mut turns, 2)
            .buffer
            .extend((0..2).map(|i| work(2, 200 + i)));
        let order: Vec<i64> = std::iter::from_fn(|| take(&mut turns)).collect();
        assert_eq!(order, [100, 200, 101, 201, 102, 103, 104]);
    }

    #[test]
    fn stopped_campaigns_give_back_their_claims() {
        let mut turns = Turns::default();
        turns.retain_running(&[1, 2], Instant::now());
        queue(&mut turns, 1).buffer.push_back(work(1, 1));
        queue(&mut turns, 2).buffer.push_back(work(2, 2));
        let released = turns.retain_running(&[2, 3], Instant::now());
        assert_eq!(released.work.iter().map(|w| w.id).collect::<Vec<_>>(), [1]);
        assert_eq!(turns.order, [2, 3]);
        assert_eq!(turns.drop_campaign(2).work.len(), 1);
        assert!(turns.drain_all().work.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_campaign_sleeps_out_its_back_off_then_takes_its_turn_again() {
        let mut turns = Turns::default();
        turns.retain_running(&[1, 2], Instant::now());
        queue(&mut turns, 2).buffer.push_back(work(2, 20));
        queue(&mut turns, 1).absorb(Ok(Some(Vec::new())), "+447446466847");
        assert_eq!(take(&mut turns), Some(20));
        assert_eq!(take(&mut turns), None);
        // Asleep, it is not even looked at until its back-off ends (the other, which may
        // claim more at once, keeps its turns).
        assert_eq!(turns.order, [2]);
        assert_eq!(turns.sleeping.len(), 1);
        queue(&mut turns, 1).buffer.push_back(work(1, 10));
        assert_eq!(take(&mut turns), None);
        tokio::time::advance(EMPTY_BACKOFF).await;
        assert_eq!(take(&mut turns), Some(10));
    }

    #[test]
    fn a_claim_takes_along_the_next_campaigns_that_want_work() {
        let mut turns = Turns::default();
        turns.retain_running(&[1, 2, 3, 4], Instant::now());
        // Enough buffered for now (more than half a batch of 10): not taken along.
        queue(&mut turns, 3)
            .buffer
            .extend((0..6).map(|i| work(3, 300 + i)));
        let now = Instant::now();
        assert_eq!(turns.upcoming_claims(0, 10, 10, now), [1, 2, 4]);
        assert_eq!(turns.upcoming_claims(0, 2, 10, now), [1, 2]);
        assert_eq!(turns.upcoming_claims(1, 10, 10, now), [2, 4]);
        // Neither is one backing off after an empty claim.
        queue(&mut turns, 2).absorb(Ok(Some(Vec::new())), "+447446466847");
        assert_eq!(turns.upcoming_claims(0, 10, 10, Instant::now()), [1, 4]);
        // Nor one whose queue is gone.
        turns.drop_campaign(4);
        assert_eq!(turns.upcoming_claims(0, 10, 10, Instant::now()), [1]);
    }

    #[tokio::test]
    async fn the_next_group_is_claimed_a_batch_of_turns_ahead() {
        let mut turns = Turns::default();
        turns.retain_running(&(1..=100).collect::<Vec<_>>(), Instant::now());
        let phone = "+447446466847";
        // Campaigns 1–25 are a group claimed already; the one 25 turns away, 26, was not
        // reached by it (its answer is in): it heads the next group, with those after it.
        let reached = |seq: i64| {
            tokio::spawn(async move { Ok(Some(vec![work(seq, seq)])) as StoreResult<_> })
        };
        for seq in 1..=25 {
            queue(&mut turns, seq).claiming = Some(reached(seq));
        }
        let missed = tokio::spawn(async { Ok(None) as StoreResult<Option<Vec<Work>>> });
        while !missed.is_finished() {
            tokio::task::yield_now().await;
        }
        queue(&mut turns, 26).claiming = Some(missed);
        let group = turns.early_group(25, 25, phone).expect("a group");
        assert_eq!(group, (26..=26 + MAX_GROUP as i64 - 1).collect::<Vec<_>>());
        assert!(queue(&mut turns, 26).claiming.is_none());
        // One that has its claim under way, or work buffered (its claim's, taken in now),
        // heads none.
        assert_eq!(turns.early_group(2, 25, phone), None);
        assert_eq!(turns.early_group(3, 25, phone), None);
        assert_eq!(queue(&mut turns, 4).buffer.len(), 1);
        queue(&mut turns, 30).buffer.push_back(work(30, 3000));
        assert_eq!(turns.early_group(29, 25, phone), None);
        // Nor one backing off after an empty claim.
        queue(&mut turns, 31).absorb(Ok(Some(Vec::new())), phone);
        assert_eq!(turns.early_group(30, 25, phone), None);
        assert_eq!(turns.early_group(500, 25, phone), None);
    }

    #[test]
    fn a_campaign_a_group_claim_did_not_reach_wants_a_claim_at_once() {
        let mut q = CampaignQueue::new(1);
        assert!(!q.absorb(Ok(None), "+447446466847"));
        assert!(q.empty_until.is_none());
        assert!(q.wants_claim(10, Instant::now()));
        assert!(q.absorb(Ok(Some(vec![work(1, 10)])), "+447446466847"));
        assert_eq!(q.buffer.len(), 1);
    }

    #[test]
    fn new_campaigns_join_at_the_end_once_and_raise_the_highest_seq() {
        let mut turns = Turns::default();
        turns.retain_running(&[3, 5], Instant::now());
        turns.add(&[5, 9]);
        assert_eq!(turns.order, [3, 5, 9]);
        assert_eq!(turns.max_seq, 9);
        // A refresh drops what stopped, keeps the order of the rest and adds the new ones.
        turns.retain_running(&[9, 5, 11], Instant::now());
        assert_eq!(turns.order, [5, 9, 11]);
        assert_eq!(turns.queues.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_asked_before_a_campaign_joined_does_not_drop_it() {
        let mut turns = Turns::default();
        turns.retain_running(&[1, 2], Instant::now());
        let asked = Instant::now();
        tokio::time::advance(Duration::from_millis(5)).await;
        // Started (and announced) while the refresh's list was being read.
        turns.add(&[7]);
        turns.retain_running(&[2], asked);
        assert_eq!(turns.order, [2, 7]);
        // The next refresh, asked after it joined, decides for it as for any other.
        turns.retain_running(&[2], Instant::now());
        assert_eq!(turns.order, [2]);
    }

    #[test]
    fn a_refresh_of_fifty_thousand_campaigns_keeps_only_the_running_ones() {
        let mut turns = Turns::default();
        let running: Vec<i64> = (1..=50_000).collect();
        turns.retain_running(&running, Instant::now());
        // Every campaign but the first stopped, one more started: one pass, hash lookups.
        let released = turns.retain_running(&[1, 50_001], Instant::now());
        assert!(released.work.is_empty());
        assert_eq!(turns.order, [1, 50_001]);
    }
}
