//! Persistence of cluster coordination: sending-number leases, live nodes, and the
//! reconciliation of work whose node is gone (docs/ARCHITECTURE.md §4).
//!
//! Each sending number is paced by one node at a time, the holder of its lease. Leases are
//! timed by the database, not by the nodes: a node counts its lease from the moment it
//! asked, which is never later than the database's own stamp, so a holder that stops
//! renewing stops sending before anyone else may take the number, whatever the nodes'
//! clocks say. One of the aspect traits that make up [`super::Store`].

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::ids::NodeId;

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The sending number.
    pub phone: String,
    /// Its holder (or last holder, once expired).
    pub node_id: String,
    /// When it expires, by the database's clock.
    pub expires_at: OffsetDateTime,
}

/// Leases on sending numbers and the nodes that hold them.
#[async_trait]
pub trait LeaseStore {
    /// Takes the lease on `phone` for `ttl` when it is free, expired, or already `node`'s
    /// (which renews it). True when `node` holds it afterwards.
    async fn acquire_lease(&self, node: &NodeId, phone: &str, ttl: Duration) -> StoreResult<bool>;

    /// Records that `node` is alive and renews, for `ttl`, those of `phones` whose lease it
    /// still holds (unexpired); returns them. A number missing from the answer is lost: its
    /// lane must stop.
    async fn heartbeat(
        &self,
        node: &NodeId,
        phones: &[String],
        ttl: Duration,
    ) -> StoreResult<Vec<String>>;

    /// Gives up `node`'s lease on `phone`: it expires `guard` from now (unless sooner), so the
    /// next holder cannot send within `guard` of this node's last message. `node` itself may
    /// take it back at once (its own pacer remembers its last sends).
    async fn release_lease(&self, node: &NodeId, phone: &str, guard: Duration) -> StoreResult<()>;

    /// Releases every lease of `node` as [`release_lease`](Self::release_lease) does and
    /// forgets the node (a graceful shutdown).
    async fn retire_node(&self, node: &NodeId, guard: Duration) -> StoreResult<()>;

    /// How many nodes were alive (heartbeated) within `within`, counting `node` itself.
    async fn live_nodes(&self, node: &NodeId, within: Duration) -> StoreResult<u32>;

    /// Every lease, by phone (expired ones included until someone takes them).
    async fn leases(&self) -> StoreResult<Vec<LeaseRecord>>;

    /// Marks for reconciliation the in-flight recipients of other nodes that are gone: their
    /// claiming node has not heartbeated within `alive_within` and holds no unexpired lease
    /// on their number. With `own`, `node`'s own in-flight recipients as well (at start-up
    /// they belong to its previous life). A live node settles its own work, so nothing it
    /// may still be sending is ever reconciled behind its back. Returns how many were marked.
    async fn mark_orphaned_in_flight(
        &self,
        node: &NodeId,
        own: bool,
        alive_within: Duration,
    ) -> StoreResult<u64>;
}
