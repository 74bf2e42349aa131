//! The engine's writes on SQLite. Why they differ from PostgreSQL: the single writer
//! serialises claims, outcomes and promotions, so no row is locked; batches travel as JSON
//! arrays read with `json_each` (a statement per row cost a round trip to sqlx's SQLite
//! thread); attempt ids are built with `printf` and `randomblob`.

use serde_json::Value;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::domain::status::StatusRow;
use crate::store::sql::engine::{EngineSql, claim_campaign, recent_messages_sql};
use crate::store::sql::rows::StatusRowRecord;
use crate::store::sql::{StoredTime, backend, stored};
use crate::store::{SendResult, StatusEvent, StoreResult};

/// The recipients a claim may take: `$2`'s pending ones on sending number `$3` that wait for
/// nothing, in order, at most `$4`.
macro_rules! claimable {
    () => {
        "SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
         AND status = 'pending' AND inflight_since IS NULL AND held_until IS NULL \
         AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY position LIMIT $4"
    };
}

impl EngineSql for SqliteStore {
    const CLAIM_CAMPAIGN: &'static str = concat!(
        claim_campaign!(),
        " WHERE c.seq = $1 AND c.status = 'running'"
    );
    const CLAIM_FAIL_OPTED_OUT: &'static str = concat!(
        "UPDATE recipients SET status = 'failed', error_code = $6, error_message = $7, \
         updated_at = $1 WHERE id IN (",
        claimable!(),
        ") AND phone IN (SELECT phone FROM opt_outs WHERE account_id = $5)"
    );
    const CLAIM_FAIL_NO_CONSENT: &'static str = concat!(
        "UPDATE recipients SET status = 'failed', error_code = $6, error_message = $7, \
         updated_at = $1 WHERE id IN (",
        claimable!(),
        ") AND phone NOT IN (SELECT phone FROM consent_state \
                            WHERE account_id = $5 AND status = 'granted')"
    );
    // Attempt ids grow with time (claim time in ms, row id, 24 random bits), so a claim's new
    // ids land together at the end of the attempt index: random ids dirtied a page of it per
    // row, several MB of WAL per claim.
    const CLAIM: &'static str = concat!(
        "UPDATE recipients SET \
         attempt_id = printf('%012x%010x', $1, id) || lower(hex(randomblob(3))), \
         inflight_since = $1, attempts = attempts + 1, reconcile = 0, claimed_by = $5, \
         updated_at = $1 WHERE id IN (",
        claimable!(),
        ") RETURNING id, position, phone, from_number, body, segments, attempts, attempt_id"
    );
    const LANES: &'static str = "SELECT DISTINCT j.value AS phone, COALESCE(n.mps, 1.0) AS mps \
         FROM campaigns c, json_each(c.from_numbers) j LEFT JOIN numbers n ON n.phone = j.value \
         WHERE c.status = 'running' ORDER BY 1";
    const LANE_CAMPAIGNS: &'static str = "SELECT c.seq FROM campaigns c WHERE c.status = 'running' \
         AND EXISTS (SELECT 1 FROM json_each(c.from_numbers) WHERE value = $1) ORDER BY c.seq";
    const LANE_CAMPAIGNS_NEW: &'static str = "SELECT c.seq FROM campaigns c WHERE c.seq IN \
         (SELECT seq FROM campaigns WHERE seq > $2 \
          UNION ALL SELECT seq FROM campaigns WHERE started_at >= $3 AND status = 'running') \
         AND c.status = 'running' \
         AND EXISTS (SELECT 1 FROM json_each(c.from_numbers) WHERE value = $1) ORDER BY c.seq";
    const SKIP_LOCKED: &'static str = "";

    async fn lock_claim_campaigns(_: &mut SqliteConnection, _: &[i64]) -> StoreResult<()> {
        Ok(())
    }

    async fn lock_outcomes(_: &mut SqliteConnection, _: &[i64]) -> StoreResult<()> {
        Ok(())
    }

    async fn record_batch(
        conn: &mut SqliteConnection,
        results: &[SendResult],
        now: StoredTime,
    ) -> StoreResult<()> {
        record_grouped(conn, results, now).await
    }

    async fn status_rows(
        conn: &mut SqliteConnection,
        events: &[StatusEvent],
    ) -> StoreResult<Vec<StatusRow>> {
        // The one writer connection holds the transaction: nothing moves the rows meanwhile.
        let sids = Value::Array(events.iter().map(|e| Value::from(e.sid.as_str())).collect());
        let attempts = Value::Array(
            events
                .iter()
                .filter_map(|e| e.attempt_id.as_deref().map(Value::from))
                .collect(),
        );
        let rows = sqlx::query_as::<_, StatusRowRecord>(
            "SELECT r.id, r.attempt_id, r.twilio_sid, r.status, r.error_code, r.error_message \
             FROM json_each($1) AS j JOIN recipients r ON r.twilio_sid = j.value \
             UNION \
             SELECT r.id, r.attempt_id, r.twilio_sid, r.status, r.error_code, r.error_message \
             FROM json_each($2) AS j JOIN recipients r ON r.attempt_id = j.value",
        )
        .bind(sids.to_string())
        .bind(attempts.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        rows.into_iter().map(StatusRow::try_from).collect()
    }

    async fn write_statuses(
        conn: &mut SqliteConnection,
        moved: &[StatusRow],
        now: StoredTime,
    ) -> StoreResult<()> {
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
             next_attempt_at = NULL, submitted_at = COALESCE(recipients.submitted_at, $2), \
             delivered_at = CASE WHEN v.status = 'delivered' \
                 THEN COALESCE(recipients.delivered_at, $2) ELSE recipients.delivered_at END, \
             updated_at = $2 \
             FROM (SELECT value->>0 AS id, value->>1 AS status, value->>2 AS sid, \
                   value->>3 AS code, value->>4 AS message FROM json_each($1)) AS v \
             WHERE recipients.id = v.id",
        )
        .bind(Value::Array(updates).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn after_finish(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn recent_messages(
        conn: &mut SqliteConnection,
        account: &str,
        phones: &[&str],
        since: StoredTime,
        _lock: bool,
    ) -> StoreResult<Vec<(String, i64)>> {
        // No lock: the claim runs on the one writer connection, so no other claim counts or
        // claims meanwhile.
        let phones = Value::Array(phones.iter().map(|p| Value::from(*p)).collect());
        sqlx::query_as(recent_messages_sql!(
            "r.phone IN (SELECT value FROM json_each($1))"
        ))
        .bind(phones.to_string())
        .bind(account)
        .bind(since)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)
    }
}

/// Stores outcomes with one statement per kind of outcome, each over a JSON array of rows: a
/// statement per row costs a round trip to sqlx's SQLite thread, which capped sending at a
/// few thousand a second. Callers make sure no recipient is named twice.
async fn record_grouped(
    conn: &mut SqliteConnection,
    results: &[SendResult],
    now: StoredTime,
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
    let batches: [(&Vec<Value>, &'static str); 5] = [
        (
            &accepted,
            "UPDATE recipients SET twilio_sid = COALESCE(recipients.twilio_sid, v.sid), \
             status = CASE WHEN (CASE recipients.status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                 WHEN 'sent' THEN 2 ELSE 3 END) < v.rank THEN v.status ELSE recipients.status END, \
             error_code = CASE WHEN recipients.status = 'pending' THEN NULL ELSE recipients.error_code END, \
             error_message = CASE WHEN recipients.status = 'pending' THEN NULL ELSE recipients.error_message END, \
             inflight_since = NULL, reconcile = 0, next_attempt_at = NULL, \
             submitted_at = COALESCE(recipients.submitted_at, ?2), updated_at = ?2, \
             delivered_at = CASE WHEN v.status = 'delivered' AND recipients.status IN ('pending', 'queued', 'sent') \
                 THEN ?2 ELSE recipients.delivered_at END \
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
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}
