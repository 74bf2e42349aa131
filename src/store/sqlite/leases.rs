//! [`LeaseStore`] on SQLite (migration 0005). Why it differs from PostgreSQL: nodes sharing
//! an SQLite file run on one machine, so the lease clock is that machine's (Unix
//! milliseconds), where PostgreSQL uses the database's `clock_timestamp()`.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::SqliteStore;
use crate::domain::ids::NodeId;
use crate::store::sql::rows::LeaseRow;
use crate::store::sql::{backend, stored};
use crate::store::{LeaseRecord, LeaseStore, StoreResult};

fn now_ms() -> i64 {
    stored(OffsetDateTime::now_utc()).unix_ms()
}

fn span_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(&self, node: &NodeId, phone: &str, ttl: Duration) -> StoreResult<bool> {
        let now = now_ms();
        let held = sqlx::query(
            "INSERT INTO number_leases (phone, node_id, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (phone) DO UPDATE SET node_id = excluded.node_id, expires_at = excluded.expires_at \
             WHERE number_leases.node_id = excluded.node_id OR number_leases.expires_at <= ?4",
        )
        .bind(phone)
        .bind(node.as_str())
        .bind(now + span_ms(ttl))
        .bind(now)
        .execute(&self.writer)
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
        let now = now_ms();
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO nodes (node_id, seen_at) VALUES (?1, ?2) \
             ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(node.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let phones_json = serde_json::to_string(phones).unwrap_or_else(|_| "[]".into());
        let kept: Vec<String> = sqlx::query_scalar(
            "UPDATE number_leases SET expires_at = ?1 \
             WHERE node_id = ?2 AND expires_at > ?3 AND phone IN (SELECT value FROM json_each(?4)) \
             RETURNING phone",
        )
        .bind(now + span_ms(ttl))
        .bind(node.as_str())
        .bind(now)
        .bind(phones_json)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(kept)
    }

    async fn release_lease(&self, node: &NodeId, phone: &str, guard: Duration) -> StoreResult<()> {
        sqlx::query(
            "UPDATE number_leases SET expires_at = min(expires_at, ?1) WHERE phone = ?2 AND node_id = ?3",
        )
        .bind(now_ms() + span_ms(guard))
        .bind(phone)
        .bind(node.as_str())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn retire_node(&self, node: &NodeId, guard: Duration) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query("UPDATE number_leases SET expires_at = min(expires_at, ?1) WHERE node_id = ?2")
            .bind(now_ms() + span_ms(guard))
            .bind(node.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM nodes WHERE node_id = ?")
            .bind(node.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn live_nodes(&self, node: &NodeId, within: Duration) -> StoreResult<u32> {
        let others: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE seen_at > ?1 AND node_id <> ?2")
                .bind(now_ms() - span_ms(within))
                .bind(node.as_str())
                .fetch_one(&self.reader)
                .await
                .map_err(backend)?;
        Ok(u32::try_from(others).unwrap_or(u32::MAX - 1) + 1)
    }

    async fn leases(&self) -> StoreResult<Vec<LeaseRecord>> {
        let rows = sqlx::query_as::<_, LeaseRow>(
            "SELECT phone, node_id, expires_at FROM number_leases ORDER BY phone",
        )
        .fetch_all(&self.reader)
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
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE recipients SET reconcile = 1 \
             WHERE inflight_since IS NOT NULL AND reconcile = 0 AND ( \
                 (?1 AND claimed_by = ?2) \
                 OR ((claimed_by IS NULL OR claimed_by <> ?2) \
                     AND NOT EXISTS (SELECT 1 FROM nodes n \
                         WHERE n.node_id = recipients.claimed_by AND n.seen_at > ?3) \
                     AND NOT EXISTS (SELECT 1 FROM number_leases l \
                         WHERE l.phone = recipients.from_number \
                           AND l.node_id = recipients.claimed_by AND l.expires_at > ?4)))",
        )
        .bind(own)
        .bind(node.as_str())
        .bind(now - span_ms(alive_within))
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
