//! The engine's writes on SQLite. Why they differ from PostgreSQL: the single writer
//! serialises claims, outcomes and promotions, so no row is locked; batches travel as JSON
//! arrays read with `json_each` (a statement per row cost a round trip to sqlx's SQLite
//! thread); attempt ids are built with `printf` and `randomblob`.

use std::collections::HashSet;

use serde_json::Value;
use time::OffsetDateTime;

use super::SqliteStore;
use crate::domain::ids::{CampaignId, NodeId};
use crate::domain::status::{CampaignStatus, NO_CONSENT, OPTED_OUT, StatusRow, fold_status_events};
use crate::store::sql::engine::{EngineSql, claimed_work, result_id};
use crate::store::sql::rows::{ClaimedRow, StatusRowRecord};
use crate::store::sql::{backend, stored};
use crate::store::{Lane, SendResult, StatusEvent, StoreResult, Work};

impl EngineSql for SqliteStore {
    async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE campaigns SET status = 'running', started_at = ?1 \
             WHERE status = 'scheduled' AND scheduled_at <= ?1 RETURNING id",
        )
        .bind(stored(now))
        .fetch_all(&self.writer)
        .await
        .map_err(backend)?;
        Ok(ids.into_iter().map(CampaignId::from_trusted).collect())
    }

    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>> {
        let rows: Vec<(String, f64)> = sqlx::query_as(
            "SELECT DISTINCT j.value AS phone, COALESCE(n.mps, 1.0) AS mps \
             FROM campaigns c, json_each(c.from_numbers) j LEFT JOIN numbers n ON n.phone = j.value \
             WHERE c.status = 'running' ORDER BY 1",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(phone, mps)| Lane { phone, mps })
            .collect())
    }

    async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar(
            "SELECT c.seq FROM campaigns c WHERE c.status = 'running' \
             AND EXISTS (SELECT 1 FROM json_each(c.from_numbers) WHERE value = ?) ORDER BY c.seq",
        )
        .bind(from_number)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)
    }

    async fn claim_work(
        &self,
        node: &NodeId,
        campaign_seq: i64,
        from_number: &str,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Work>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let campaign: Option<(String, String, bool)> = sqlx::query_as(
            "SELECT id, account_id, require_consent FROM campaigns WHERE seq = ? AND status = 'running'",
        )
        .bind(campaign_seq)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((campaign, account, require_consent)) = campaign else {
            return Ok(Vec::new());
        };
        // Opt-outs recorded since the campaign was created are honoured just before sending.
        sqlx::query(
            "UPDATE recipients SET status = 'failed', error_code = ?6, error_message = ?7, updated_at = ?1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = ?2 AND from_number = ?3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
                 ORDER BY position LIMIT ?4) \
             AND phone IN (SELECT phone FROM opt_outs WHERE account_id = ?5)",
        )
        .bind(stored(now))
        .bind(campaign_seq)
        .bind(from_number)
        .bind(limit as i64)
        .bind(&account)
        .bind(OPTED_OUT.code)
        .bind(OPTED_OUT.message)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // Consent withdrawn since the campaign was created, likewise.
        if require_consent {
            sqlx::query(
                "UPDATE recipients SET status = 'failed', error_code = ?6, error_message = ?7, updated_at = ?1 \
                 WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = ?2 AND from_number = ?3 \
                     AND status = 'pending' AND inflight_since IS NULL \
                     AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
                     ORDER BY position LIMIT ?4) \
                 AND phone NOT IN (SELECT phone FROM consent_state WHERE account_id = ?5 AND status = 'granted')",
            )
            .bind(stored(now))
            .bind(campaign_seq)
            .bind(from_number)
            .bind(limit as i64)
            .bind(&account)
            .bind(NO_CONSENT.code)
            .bind(NO_CONSENT.message)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        // Attempt ids grow with time (claim time in ms, row id, 24 random bits), so a
        // claim's new ids land together at the end of the attempt index: random ids dirtied
        // a page of it per row, several MB of WAL per claim.
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "UPDATE recipients SET attempt_id = printf('%012x%010x', ?1, id) || lower(hex(randomblob(3))), \
             inflight_since = ?1, \
             attempts = attempts + 1, reconcile = 0, claimed_by = ?5, updated_at = ?1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = ?2 AND from_number = ?3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
                 ORDER BY position LIMIT ?4) \
             RETURNING id, position, phone, from_number, body, segments, attempts, attempt_id",
        )
        .bind(stored(now))
        .bind(campaign_seq)
        .bind(from_number)
        .bind(limit as i64)
        .bind(node.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(claimed_work(rows, campaign_seq, &campaign, &account))
    }

    async fn record_results(&self, results: &[SendResult], now: OffsetDateTime) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        // Grouping by kind reorders results; that is only the same as applying them in order
        // when no recipient is named twice. Otherwise apply them one at a time, in order.
        let mut ids = HashSet::with_capacity(results.len());
        if results.iter().all(|r| ids.insert(result_id(r))) {
            record_grouped(&mut tx, results, now).await?;
        } else {
            for r in results {
                record_grouped(&mut tx, std::slice::from_ref(r), now).await?;
            }
        }
        tx.commit().await.map_err(backend)
    }

    async fn apply_status_events(
        &self,
        events: &[StatusEvent],
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        // Read the rows the events may name, apply the batch to them in order
        // (`fold_status_events`), and write back the ones that moved in one statement. The
        // one writer connection holds the transaction: nothing moves the rows in between.
        let sids = Value::Array(events.iter().map(|e| Value::from(e.sid.as_str())).collect());
        let attempts = Value::Array(
            events
                .iter()
                .filter_map(|e| e.attempt_id.as_deref().map(Value::from))
                .collect(),
        );
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let rows = sqlx::query_as::<_, StatusRowRecord>(
            "SELECT r.id, r.attempt_id, r.twilio_sid, r.status, r.error_code, r.error_message \
             FROM json_each(?1) AS j JOIN recipients r ON r.twilio_sid = j.value \
             UNION \
             SELECT r.id, r.attempt_id, r.twilio_sid, r.status, r.error_code, r.error_message \
             FROM json_each(?2) AS j JOIN recipients r ON r.attempt_id = j.value",
        )
        .bind(sids.to_string())
        .bind(attempts.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(StatusRow::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let moved = fold_status_events(rows, events);
        if moved.is_empty() {
            tx.commit().await.map_err(backend)?;
            return Ok(0);
        }
        let updates: Vec<Value> = moved
            .iter()
            .map(|r| {
                serde_json::json!([
                    r.id,
                    r.status.as_str(),
                    r.twilio_sid,
                    r.error_code,
                    r.error_message
                ])
            })
            .collect();
        sqlx::query(
            "UPDATE recipients SET status = v.status, twilio_sid = v.sid, error_code = v.code, \
             error_message = v.message, inflight_since = NULL, reconcile = 0, \
             next_attempt_at = NULL, submitted_at = COALESCE(recipients.submitted_at, ?2), \
             updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS status, value->>2 AS sid, \
                   value->>3 AS code, value->>4 AS message FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id",
        )
        .bind(Value::Array(updates).to_string())
        .bind(stored(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(moved.len() as u64)
    }

    async fn finish_campaigns(
        &self,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(CampaignId, CampaignStatus)>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, id FROM campaigns c WHERE status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM recipients r WHERE r.campaign_seq = c.seq AND r.status = 'pending')",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let mut changed = Vec::new();
        for (seq, id) in rows {
            let submitted_any: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM recipients WHERE campaign_seq = ? \
                 AND (status <> 'failed' OR twilio_sid IS NOT NULL))",
            )
            .bind(seq)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            let status = if submitted_any {
                CampaignStatus::Done
            } else {
                CampaignStatus::Failed
            };
            sqlx::query("UPDATE campaigns SET status = ?, finished_at = ? WHERE seq = ?")
                .bind(status.as_str())
                .bind(stored(now))
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            changed.push((CampaignId::from_trusted(id), status));
        }
        tx.commit().await.map_err(backend)?;
        Ok(changed)
    }
}

/// Stores outcomes with one statement per kind of outcome, each over a JSON array of rows: a
/// statement per row costs a round trip to sqlx's SQLite thread, which capped sending at a
/// few thousand a second. Callers make sure no recipient is named twice.
async fn record_grouped(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    results: &[SendResult],
    now: OffsetDateTime,
) -> StoreResult<()> {
    let mut accepted = Vec::new();
    let mut failed = Vec::new();
    let mut retry = Vec::new();
    let mut unknown = Vec::new();
    let mut released = Vec::new();
    for result in results {
        match result {
            SendResult::Accepted {
                id,
                attempt_id,
                sid,
                status,
            } => accepted.push(serde_json::json!([
                id,
                attempt_id,
                sid,
                status.as_str(),
                status.rank()
            ])),
            SendResult::Failed {
                id,
                attempt_id,
                code,
                message,
            } => failed.push(serde_json::json!([id, attempt_id, code, message])),
            SendResult::Retry {
                id,
                attempt_id,
                not_before,
                code,
                message,
            } => retry.push(serde_json::json!([
                id,
                attempt_id,
                stored(*not_before).unix_ms(),
                code,
                message
            ])),
            SendResult::Unknown {
                id,
                attempt_id,
                message,
            } => unknown.push(serde_json::json!([id, attempt_id, message])),
            SendResult::Released { id, attempt_id } => {
                released.push(serde_json::json!([id, attempt_id]))
            }
        }
    }
    let now = stored(now);
    let batches: [(&Vec<Value>, &'static str); 5] = [
        (
            &accepted,
            "UPDATE recipients SET twilio_sid = COALESCE(recipients.twilio_sid, v.sid), \
             status = CASE WHEN (CASE recipients.status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                 WHEN 'sent' THEN 2 ELSE 3 END) < v.rank THEN v.status ELSE recipients.status END, \
             error_code = CASE WHEN recipients.status = 'pending' THEN NULL ELSE recipients.error_code END, \
             error_message = CASE WHEN recipients.status = 'pending' THEN NULL ELSE recipients.error_message END, \
             inflight_since = NULL, reconcile = 0, next_attempt_at = NULL, \
             submitted_at = COALESCE(recipients.submitted_at, ?2), updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS sid, \
                   value->>3 AS status, value->>4 AS rank FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt",
        ),
        (
            &failed,
            "UPDATE recipients SET status = 'failed', error_code = v.code, error_message = v.message, \
             inflight_since = NULL, reconcile = 0, updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS code, \
                   value->>3 AS message FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.status = 'pending'",
        ),
        (
            &retry,
            "UPDATE recipients SET inflight_since = NULL, reconcile = 0, next_attempt_at = v.not_before, \
             error_code = v.code, error_message = v.message, updated_at = ?2, \
             status = CASE WHEN (SELECT status FROM campaigns WHERE seq = recipients.campaign_seq) = 'cancelled' \
                 THEN 'cancelled' ELSE recipients.status END \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS not_before, \
                   value->>3 AS code, value->>4 AS message FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.status = 'pending' AND recipients.inflight_since IS NOT NULL",
        ),
        (
            &unknown,
            "UPDATE recipients SET reconcile = 1, error_message = v.message, updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS message \
                   FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.inflight_since IS NOT NULL",
        ),
        (
            &released,
            "UPDATE recipients SET inflight_since = NULL, reconcile = 0, attempts = recipients.attempts - 1, \
             updated_at = ?2, \
             status = CASE WHEN (SELECT status FROM campaigns WHERE seq = recipients.campaign_seq) = 'cancelled' \
                 THEN 'cancelled' ELSE recipients.status END \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.status = 'pending' AND recipients.inflight_since IS NOT NULL",
        ),
    ];
    for (rows, sql) in batches {
        if rows.is_empty() {
            continue;
        }
        sqlx::query(sql)
            .bind(Value::Array(rows.clone()).to_string())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}
