//! [`LeaseStore`] on PostgreSQL (migration 0005). Why it differs from SQLite: nodes on
//! several machines share the database, so every lease time is the database's
//! `clock_timestamp()` and the nodes' clocks never matter; orphans are marked in id order,
//! the lock order every writer of recipients follows here.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::types::PgInterval;

use super::PgStore;
use crate::domain::ids::NodeId;
use crate::store::sql::backend;
use crate::store::sql::rows::LeaseRow;
use crate::store::{LeaseRecord, LeaseStore, StoreResult};

/// A span as a PostgreSQL interval (microseconds; absurd spans saturate).
fn interval(d: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4),
    }
}

#[async_trait]
impl LeaseStore for PgStore {
    async fn acquire_lease(&self, node: &NodeId, phone: &str, ttl: Duration) -> StoreResult<bool> {
        let held = sqlx::query(
            "INSERT INTO number_leases (phone, node_id, expires_at) \
             VALUES ($1, $2, clock_timestamp() + $3) \
             ON CONFLICT (phone) DO UPDATE SET node_id = excluded.node_id, expires_at = excluded.expires_at \
             WHERE number_leases.node_id = excluded.node_id \
                OR number_leases.expires_at <= clock_timestamp()",
        )
        .bind(phone)
        .bind(node.as_str())
        .bind(interval(ttl))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(held.rows_affected() == 1)
    }

    async fn heartbeat(
        &self,
        node: &NodeId,
        phones: &[String],
        ttl: Duration,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO nodes (node_id, seen_at) VALUES ($1, clock_timestamp()) \
             ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(node.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let kept: Vec<String> = sqlx::query_scalar(
            "UPDATE number_leases SET expires_at = clock_timestamp() + $1 \
             WHERE node_id = $2 AND expires_at > clock_timestamp() AND phone = ANY($3) \
             RETURNING phone",
        )
        .bind(interval(ttl))
        .bind(node.as_str())
        .bind(phones)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(kept)
    }

    async fn release_lease(&self, node: &NodeId, phone: &str, guard: Duration) -> StoreResult<()> {
        sqlx::query(
            "UPDATE number_leases SET expires_at = LEAST(expires_at, clock_timestamp() + $1) \
             WHERE phone = $2 AND node_id = $3",
        )
        .bind(interval(guard))
        .bind(phone)
        .bind(node.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn retire_node(&self, node: &NodeId, guard: Duration) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "UPDATE number_leases SET expires_at = LEAST(expires_at, clock_timestamp() + $1) \
             WHERE node_id = $2",
        )
        .bind(interval(guard))
        .bind(node.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM nodes WHERE node_id = $1")
            .bind(node.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn live_nodes(&self, node: &NodeId, within: Duration) -> StoreResult<u32> {
        let others: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM nodes WHERE seen_at > clock_timestamp() - $1 AND node_id <> $2",
        )
        .bind(interval(within))
        .bind(node.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(u32::try_from(others).unwrap_or(u32::MAX - 1) + 1)
    }

    async fn leases(&self) -> StoreResult<Vec<LeaseRecord>> {
        let rows = sqlx::query_as::<_, LeaseRow>(
            "SELECT phone, node_id, expires_at FROM number_leases ORDER BY phone",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(LeaseRecord::from).collect())
    }

    async fn mark_orphaned_in_flight(
        &self,
        node: &NodeId,
        own: bool,
        alive_within: Duration,
    ) -> StoreResult<u64> {
        // Other nodes store outcomes of these rows meanwhile, locking them in id order
        // (`record_results`, `apply_status_events`): so does this, or the two deadlock (a
        // plain UPDATE locks rows in the order it finds them).
        let done = sqlx::query(
            "UPDATE recipients SET reconcile = true \
             WHERE id IN (SELECT r.id FROM recipients r \
                 WHERE r.inflight_since IS NOT NULL AND NOT r.reconcile AND ( \
                     ($1 AND r.claimed_by = $2) \
                     OR (r.claimed_by IS DISTINCT FROM $2 \
                         AND NOT EXISTS (SELECT 1 FROM nodes n \
                             WHERE n.node_id = r.claimed_by \
                               AND n.seen_at > clock_timestamp() - $3) \
                         AND NOT EXISTS (SELECT 1 FROM number_leases l \
                             WHERE l.phone = r.from_number \
                               AND l.node_id = r.claimed_by \
                               AND l.expires_at > clock_timestamp()))) \
                 ORDER BY r.id FOR UPDATE OF r) \
             AND inflight_since IS NOT NULL AND NOT reconcile",
        )
        .bind(own)
        .bind(node.as_str())
        .bind(interval(alive_within))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
