//! [`LeaseStore`](crate::store::LeaseStore) written once for both backends (see `sql/mod.rs`
//! for the mechanism). What differs is the clock ([`LeaseSql::NOW`]) and how a span is bound,
//! and the two statements that read lists or lock rows their own way.

use std::time::Duration;

use super::Backend;

/// What each backend spells its own way for [`crate::store::LeaseStore`].
pub(in crate::store) trait LeaseSql: Backend {
    /// A span of time, as the backend adds it to [`LeaseSql::NOW`].
    type Span;
    /// A list of phones as one parameter.
    type Phones;
    /// The lease clock, as SQL.
    const NOW: &'static str;
    /// The SQL function giving the smaller of two values.
    const LEAST: &'static str;
    /// Renews node `$2`'s unexpired leases among phones `$3` until `NOW + $1`; returns their
    /// phones.
    const RENEW: &'static str;
    /// Marks for reconciliation the orphaned in-flight recipients: `$1` whether node `$2`'s
    /// own count, `$3` how recently a live node heartbeated.
    const ORPHANS: &'static str;

    /// `d` as a parameter (absurd spans saturate).
    fn span(d: Duration) -> Self::Span;
    /// `phones` as one parameter.
    fn phones(phones: &[String]) -> Self::Phones;
}

/// Writes `impl LeaseStore for $store`.
macro_rules! lease_store {
    ($store:ty) => {
        const _: () = {
            use std::time::Duration;

            use $crate::store::sql::leases::LeaseSql;
            use $crate::store::sql::prelude::*;

            #[async_trait]
            impl LeaseStore for $store {
                async fn acquire_lease(
                    &self,
                    node: &NodeId,
                    phone: &str,
                    ttl: Duration,
                ) -> StoreResult<bool> {
                    let held = sqlx::query(AssertSqlSafe(format!(
                        "INSERT INTO number_leases (phone, node_id, expires_at) \
                         VALUES ($1, $2, {now} + $3) \
                         ON CONFLICT (phone) DO UPDATE SET node_id = excluded.node_id, \
                             expires_at = excluded.expires_at \
                         WHERE number_leases.node_id = excluded.node_id \
                            OR number_leases.expires_at <= {now}",
                        now = Self::NOW
                    )))
                    .bind(phone)
                    .bind(node.as_str())
                    .bind(Self::span(ttl))
                    .execute(self.write_pool())
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
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    sqlx::query(AssertSqlSafe(format!(
                        "INSERT INTO nodes (node_id, seen_at) VALUES ($1, {}) \
                         ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at",
                        Self::NOW
                    )))
                    .bind(node.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let kept: Vec<String> = sqlx::query_scalar(Self::RENEW)
                        .bind(Self::span(ttl))
                        .bind(node.as_str())
                        .bind(Self::phones(phones))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(kept)
                }

                async fn release_lease(
                    &self,
                    node: &NodeId,
                    phone: &str,
                    guard: Duration,
                ) -> StoreResult<()> {
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE number_leases SET expires_at = {}(expires_at, {} + $1) \
                         WHERE phone = $2 AND node_id = $3",
                        Self::LEAST,
                        Self::NOW
                    )))
                    .bind(Self::span(guard))
                    .bind(phone)
                    .bind(node.as_str())
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn retire_node(&self, node: &NodeId, guard: Duration) -> StoreResult<()> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE number_leases SET expires_at = {}(expires_at, {} + $1) \
                         WHERE node_id = $2",
                        Self::LEAST,
                        Self::NOW
                    )))
                    .bind(Self::span(guard))
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
                    let others: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM nodes WHERE seen_at > {} - $1 AND node_id <> $2",
                        Self::NOW
                    )))
                    .bind(Self::span(within))
                    .bind(node.as_str())
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(u32::try_from(others).unwrap_or(u32::MAX - 1) + 1)
                }

                async fn leases(&self) -> StoreResult<Vec<LeaseRecord>> {
                    let rows = sqlx::query_as::<_, LeaseRow>(
                        "SELECT phone, node_id, expires_at FROM number_leases ORDER BY phone",
                    )
                    .fetch_all(self.read_pool())
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
                    let done = sqlx::query(Self::ORPHANS)
                        .bind(own)
                        .bind(node.as_str())
                        .bind(Self::span(alive_within))
                        .execute(self.write_pool())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(in crate::store) use lease_store;
