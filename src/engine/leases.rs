//! Sender-number leases: on a cluster each number is paced by one node at a time, so the
//! per-number rate holds however many nodes share the database (docs/ARCHITECTURE.md §4).
//!
//! The rules, and why they keep pacing exact across a hand-over:
//! - A node sends from a number only while it holds the number's lease. It counts the
//!   lease from the moment it *asked* the database, which is never later than the
//!   database's own stamp, so its local deadline comes no later than the real expiry.
//! - It stops sending a [`handover_guard`] before that deadline, and a number it gives up
//!   (lane done, rebalancing, shutdown) stays closed to others for the same guard. So the
//!   next holder's first message leaves at least one guard after this node's last one: more
//!   than one carrier window and one pacing slot, plus room for network jitter.
//! - The keeper renews every held lease in one statement each `ttl / 3`; a lease missing
//!   from the renewal was lost and its lane stops. A node that dies stops renewing; its
//!   leases expire within `ttl` and the others take its numbers.
//! - Work a dead node had in flight is reconciled with Twilio by the survivors once the
//!   node has neither a heartbeat nor a lease (`LeaseStore::mark_orphaned_in_flight`);
//!   a live node's in-flight work is always its own to settle.
//! - Shares are fair: a node takes at most `ceil(numbers with work / live nodes)` numbers
//!   and gives one back per tick while it holds more, so a node that joins gets work.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::Shared;
use crate::store::Lane;

/// The carrier counts a number's rate over one-second windows.
const WINDOW: Duration = Duration::from_secs(1);
/// Allowance for the network: a message may reach Twilio this much later than another
/// that left after it.
const JITTER: Duration = Duration::from_millis(500);

/// How long before its lease's deadline a holder stops sending from a number, and how
/// long a number it gives up stays closed to other nodes: one carrier window or one pacing
/// slot, whichever is longer, plus jitter, capped at half the lease (so that a very slow
/// number still sends between renewals).
pub fn handover_guard(mps: f64, ttl: Duration) -> Duration {
    let slot = if mps.is_finite() && mps > 0.0 {
        Duration::from_secs_f64((1.0 / mps).min(3600.0))
    } else {
        WINDOW
    };
    (WINDOW.max(slot) + JITTER).min(ttl / 2)
}

/// The fair share of `numbers` numbers among `nodes` live nodes.
pub fn fair_share(numbers: usize, nodes: u32) -> usize {
    numbers.div_ceil(nodes.max(1) as usize)
}

/// The leases this node holds, each with its local deadline.
#[derive(Debug, Default)]
pub(super) struct Held {
    deadlines: Mutex<HashMap<String, Instant>>,
}

impl Held {
    /// True while `phone` may send a message now: its lease is held, and the deadline is
    /// more than `guard` away.
    pub(super) fn may_send(&self, phone: &str, guard: Duration, now: Instant) -> bool {
        self.deadlines
            .lock()
            .ok()
            .and_then(|d| d.get(phone).copied())
            .is_some_and(|deadline| now + guard < deadline)
    }

    /// True when `phone`'s lease is held (whatever its deadline).
    pub(super) fn holds(&self, phone: &str) -> bool {
        self.deadlines
            .lock()
            .map(|d| d.contains_key(phone))
            .unwrap_or(false)
    }

    pub(super) fn insert(&self, phone: &str, deadline: Instant) {
        if let Ok(mut d) = self.deadlines.lock() {
            d.insert(phone.to_owned(), deadline);
        }
    }

    pub(super) fn remove(&self, phone: &str) {
        if let Ok(mut d) = self.deadlines.lock() {
            d.remove(phone);
        }
    }

    pub(super) fn phones(&self) -> Vec<String> {
        let mut phones: Vec<String> = self
            .deadlines
            .lock()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        phones.sort();
        phones
    }

    pub(super) fn len(&self) -> usize {
        self.deadlines.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Applies a renewal asked at `asked`: the leases in `kept` run until `asked + ttl`,
    /// the others among `asked_for` are lost.
    fn renewed(&self, asked_for: &[String], kept: &[String], asked: Instant, ttl: Duration) {
        if let Ok(mut d) = self.deadlines.lock() {
            for phone in asked_for {
                if kept.contains(phone) {
                    d.insert(phone.clone(), asked + ttl);
                } else {
                    d.remove(phone);
                }
            }
        }
    }
}

/// Tries to take `phone`'s lease; true when this node holds it afterwards.
pub(super) async fn acquire(shared: &Shared, phone: &str) -> bool {
    let ttl = shared.config.lease_ttl;
    let asked = Instant::now();
    match shared
        .store
        .acquire_lease(&shared.config.node, phone, ttl)
        .await
    {
        Ok(true) => {
            shared.held.insert(phone, asked + ttl);
            shared.metrics.leases_held.set(shared.held.len() as i64);
            tracing::info!(number = %phone, node = %shared.config.node, "took the number's lease");
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::error!(number = %phone, error = ?e, "taking a number's lease failed");
            false
        }
    }
}

/// The numbers of `lanes` whose lease is free, expired or this node's, by the lease table
/// read now and this node's clock (a hint: `acquire` asks the database, whose clock
/// decides). On a failed read, all of them (and `acquire` decides).
pub(super) async fn free_numbers(shared: &Shared, lanes: &[Lane]) -> HashSet<String> {
    let taken: HashSet<String> = match shared.store.leases().await {
        Ok(leases) => {
            let now = OffsetDateTime::now_utc();
            leases
                .into_iter()
                .filter(|l| l.node_id != shared.config.node.as_str() && l.expires_at > now)
                .map(|l| l.phone)
                .collect()
        }
        Err(e) => {
            tracing::warn!(error = ?e, "reading the number leases failed");
            HashSet::new()
        }
    };
    lanes
        .iter()
        .filter(|l| !taken.contains(&l.phone))
        .map(|l| l.phone.clone())
        .collect()
}

/// Gives `phone` up: no longer held here, and closed to other nodes for `guard`.
pub(super) async fn release(shared: &Shared, phone: &str, guard: Duration) {
    shared.held.remove(phone);
    shared.metrics.leases_held.set(shared.held.len() as i64);
    if let Err(e) = shared
        .store
        .release_lease(&shared.config.node, phone, guard)
        .await
    {
        tracing::warn!(number = %phone, error = ?e, "releasing a number's lease failed; it will expire");
    }
}

/// The keeper: renews the held leases, records that this node lives, counts the live
/// nodes, and marks dead nodes' in-flight work for reconciliation; every `ttl / 3`.
pub(super) async fn keep(shared: Arc<Shared>) {
    let ttl = shared.config.lease_ttl;
    let period = ttl / 3;
    loop {
        let phones = shared.held.phones();
        let asked = Instant::now();
        match shared
            .store
            .heartbeat(&shared.config.node, &phones, ttl)
            .await
        {
            Ok(kept) => {
                for lost in phones.iter().filter(|p| !kept.contains(p)) {
                    tracing::warn!(number = %lost, "the number's lease was lost; its lane stops");
                }
                shared.held.renewed(&phones, &kept, asked, ttl);
                shared.metrics.leases_held.set(shared.held.len() as i64);
            }
            Err(e) => tracing::error!(
                error = ?e,
                "renewing the number leases failed; lanes stop before the leases expire"
            ),
        }
        match shared.store.live_nodes(&shared.config.node, ttl).await {
            Ok(n) => {
                shared
                    .live_nodes
                    .store(n, std::sync::atomic::Ordering::Relaxed);
                shared.metrics.nodes.set(i64::from(n));
            }
            Err(e) => tracing::error!(error = ?e, "counting live nodes failed"),
        }
        match shared
            .store
            .mark_orphaned_in_flight(&shared.config.node, false, ttl)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                recipients = n,
                "recipients were in flight on a node that is gone; reconciling them with Twilio"
            ),
            Err(e) => {
                tracing::error!(error = ?e, "looking for a dead node's in-flight work failed")
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_covers_a_window_or_a_slot_plus_jitter() {
        let ttl = Duration::from_secs(10);
        assert_eq!(handover_guard(50.0, ttl), Duration::from_millis(1500));
        assert_eq!(handover_guard(1.0, ttl), Duration::from_millis(1500));
        assert_eq!(handover_guard(0.5, ttl), Duration::from_millis(2500));
        // Very slow numbers: capped at half the lease.
        assert_eq!(handover_guard(0.01, ttl), Duration::from_secs(5));
        assert_eq!(handover_guard(f64::NAN, ttl), Duration::from_millis(1500));
    }

    #[test]
    fn fair_shares_cover_every_number() {
        assert_eq!(fair_share(4, 3), 2);
        assert_eq!(fair_share(3, 3), 1);
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(5, 0), 5);
        for numbers in 0..20 {
            for nodes in 1..6u32 {
                assert!(fair_share(numbers, nodes) * nodes as usize >= numbers);
            }
        }
    }

    #[test]
    fn a_lane_may_send_only_well_inside_its_lease() {
        let held = Held::default();
        let now = Instant::now();
        let guard = Duration::from_millis(1500);
        assert!(!held.may_send("+1", guard, now));
        held.insert("+1", now + Duration::from_secs(10));
        assert!(held.may_send("+1", guard, now));
        assert!(held.may_send("+1", guard, now + Duration::from_millis(8400)));
        assert!(!held.may_send("+1", guard, now + Duration::from_millis(8500)));
        held.renewed(
            &["+1".into(), "+2".into()],
            &["+1".into()],
            now + Duration::from_secs(3),
            Duration::from_secs(10),
        );
        assert!(held.may_send("+1", guard, now + Duration::from_secs(11)));
        held.renewed(&["+1".into()], &[], now, Duration::from_secs(10));
        assert!(!held.holds("+1"));
    }
}
