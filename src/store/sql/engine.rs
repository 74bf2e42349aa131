//! [`EngineStore`](crate::store::EngineStore): the reads written once for both backends (see
//! `sql/mod.rs` for the mechanism). Claims, outcomes, callbacks, promotion and finishing are
//! each backend's own ([`EngineSql`]): PostgreSQL runs several nodes' engines on one database
//! and locks what SQLite's single writer serialises.

use super::rows::ClaimedRow;
use crate::domain::ids::{AccountId, CampaignId, NodeId};
use crate::domain::status::CampaignStatus;
use crate::store::{Lane, SendResult, StatusEvent, StoreResult, Work};
use time::OffsetDateTime;

/// What each backend writes its own way for [`crate::store::EngineStore`]; each method is
/// the trait's method of the same name.
pub(in crate::store) trait EngineSql {
    async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>>;
    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>>;
    async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>>;
    async fn claim_work(
        &self,
        node: &NodeId,
        campaign_seq: i64,
        from_number: &str,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Work>>;
    async fn record_results(&self, results: &[SendResult], now: OffsetDateTime) -> StoreResult<()>;
    async fn apply_status_events(
        &self,
        events: &[StatusEvent],
        now: OffsetDateTime,
    ) -> StoreResult<u64>;
    async fn finish_campaigns(
        &self,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(CampaignId, CampaignStatus)>>;
}

/// A claim's rows as work, in campaign order.
pub(in crate::store) fn claimed_work(
    mut rows: Vec<ClaimedRow>,
    campaign_seq: i64,
    campaign: &str,
    account: &str,
) -> Vec<Work> {
    rows.sort_by_key(|r| r.position);
    rows.into_iter()
        .map(|r| Work {
            id: r.id,
            campaign_seq,
            campaign_id: CampaignId::from_trusted(campaign.to_owned()),
            account_id: AccountId::from_trusted(account.to_owned()),
            phone: r.phone,
            from_number: r.from_number,
            body: r.body,
            segments: r.segments as u32,
            attempts: r.attempts as u32,
            attempt_id: r.attempt_id,
        })
        .collect()
}

/// The row a send outcome is about.
pub(in crate::store) fn result_id(result: &SendResult) -> i64 {
    match result {
        SendResult::Accepted { id, .. }
        | SendResult::Failed { id, .. }
        | SendResult::Retry { id, .. }
        | SendResult::Unknown { id, .. }
        | SendResult::Released { id, .. } => *id,
    }
}

/// Writes `impl EngineStore for $store`.
macro_rules! engine_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::engine::EngineSql;
            use $crate::store::sql::prelude::*;

            #[async_trait]
            impl EngineStore for $store {
                async fn promote_due_campaigns(
                    &self,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<CampaignId>> {
                    EngineSql::promote_due_campaigns(self, now).await
                }

                async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>> {
                    EngineSql::lanes_with_work(self).await
                }

                async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>> {
                    EngineSql::lane_campaigns(self, from_number).await
                }

                async fn claim_work(
                    &self,
                    node: &NodeId,
                    campaign_seq: i64,
                    from_number: &str,
                    limit: u32,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<Work>> {
                    EngineSql::claim_work(self, node, campaign_seq, from_number, limit, now).await
                }

                async fn record_results(
                    &self,
                    results: &[SendResult],
                    now: OffsetDateTime,
                ) -> StoreResult<()> {
                    EngineSql::record_results(self, results, now).await
                }

                async fn apply_status_events(
                    &self,
                    events: &[StatusEvent],
                    now: OffsetDateTime,
                ) -> StoreResult<u64> {
                    EngineSql::apply_status_events(self, events, now).await
                }

                async fn finish_campaigns(
                    &self,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<(CampaignId, CampaignStatus)>> {
                    EngineSql::finish_campaigns(self, now).await
                }

                async fn unknown_in_flight(&self, limit: u32) -> StoreResult<Vec<InFlight>> {
                    let rows = sqlx::query_as::<_, InFlightRow>(
                        "SELECT id, attempt_id, phone, from_number, body, inflight_since, attempts \
                         FROM recipients WHERE inflight_since IS NOT NULL AND reconcile \
                         ORDER BY inflight_since, id LIMIT $1",
                    )
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(InFlight::from).collect())
                }

                async fn known_sids(
                    &self,
                    phone: &str,
                    from_number: &str,
                ) -> StoreResult<HashSet<String>> {
                    let sids: Vec<String> = sqlx::query_scalar(
                        "SELECT twilio_sid FROM recipients \
                         WHERE phone = $1 AND from_number = $2 AND twilio_sid IS NOT NULL",
                    )
                    .bind(phone)
                    .bind(from_number)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(sids.into_iter().collect())
                }

                async fn campaign_running(&self, campaign_seq: i64) -> StoreResult<bool> {
                    sqlx::query_scalar("SELECT status = 'running' FROM campaigns WHERE seq = $1")
                        .bind(campaign_seq)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(backend)
                        .map(|r: Option<bool>| r.unwrap_or(false))
                }

                async fn pending_total(&self) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar(
                        // From the counts cache (a few rows per campaign): counting the rows
                        // scanned a million index entries every few seconds and filled a
                        // reader's page cache.
                        "SELECT CAST(COALESCE(SUM(cc.n), 0) AS BIGINT) FROM campaigns c \
                         JOIN campaign_counts cc ON cc.campaign_seq = c.seq \
                         WHERE c.status = 'running' AND cc.status = 'pending'",
                    )
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(n as u64)
                }
            }
        };
    };
}

pub(in crate::store) use engine_store;
