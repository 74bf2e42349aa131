//! The engine's writes on PostgreSQL. Why they differ from SQLite: several nodes' engines
//! share the database, so claims skip rows another node holds (`FOR UPDATE SKIP LOCKED`),
//! promotion and finishing lock the campaigns they change, stored outcomes and callbacks lock
//! campaigns then recipients in key order (no deadlocks), batches travel as arrays
//! (`UNNEST`), and the counts cache is folded on the engine's beat.

use std::collections::HashSet;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::PgStore;
use crate::domain::ids::{CampaignId, NodeId};
use crate::domain::status::{CampaignStatus, NO_CONSENT, OPTED_OUT, StatusRow, fold_status_events};
use crate::store::sql::engine::{EngineSql, claimed_work, result_id};
use crate::store::sql::rows::{ClaimedRow, StatusRowRecord, campaign_status};
use crate::store::sql::{StoredTime, backend, stored};
use crate::store::{Lane, SendResult, StatusEvent, StoreResult, Work};

/// `record_results` for a batch that names each recipient once: one statement per kind of
/// outcome, over arrays.
async fn record_by_kind(
    conn: &mut PgConnection,
    results: &[SendResult],
    now: StoredTime,
) -> StoreResult<()> {
    #[derive(Default)]
    struct Columns<'a> {
        ids: Vec<i64>,
        attempts: Vec<&'a str>,
        texts: [Vec<&'a str>; 2],
        ranks: Vec<i32>,
        times: Vec<StoredTime>,
    }
    impl<'a> Columns<'a> {
        fn push(&mut self, id: i64, attempt: &'a str, texts: &[&'a str]) {
            self.ids.push(id);
            self.attempts.push(attempt);
            for (column, text) in self.texts.iter_mut().zip(texts) {
                column.push(text);
            }
        }
    }
    let mut accepted = Columns::default();
    let mut failed = Columns::default();
    let mut retry = Columns::default();
    let mut unknown = Columns::default();
    let mut released = Columns::default();
    for result in results {
        match result {
            SendResult::Accepted {
                id,
                attempt_id,
                sid,
                status,
            } => {
                accepted.push(*id, attempt_id, &[sid, status.as_str()]);
                accepted.ranks.push(status.rank() as i32);
            }
            SendResult::Failed {
                id,
                attempt_id,
                code,
                message,
            } => failed.push(*id, attempt_id, &[code, message]),
            SendResult::Retry {
                id,
                attempt_id,
                not_before,
                code,
                message,
            } => {
                retry.push(*id, attempt_id, &[code, message]);
                retry.times.push(stored(*not_before));
            }
            SendResult::Unknown {
                id,
                attempt_id,
                message,
            } => unknown.push(*id, attempt_id, &[message]),
            SendResult::Released { id, attempt_id } => released.push(*id, attempt_id, &[]),
        }
    }
    if !accepted.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET twilio_sid = COALESCE(r.twilio_sid, v.sid), \
             status = CASE WHEN (CASE r.status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                 WHEN 'sent' THEN 2 ELSE 3 END) < v.rank THEN v.status ELSE r.status END, \
             error_code = CASE WHEN r.status = 'pending' THEN NULL ELSE r.error_code END, \
             error_message = CASE WHEN r.status = 'pending' THEN NULL ELSE r.error_message END, \
             inflight_since = NULL, reconcile = false, next_attempt_at = NULL, \
             submitted_at = COALESCE(r.submitted_at, $1), updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::int4[]) \
                 AS v(id, attempt, sid, status, rank) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt",
        )
        .bind(now)
        .bind(&accepted.ids)
        .bind(&accepted.attempts)
        .bind(&accepted.texts[0])
        .bind(&accepted.texts[1])
        .bind(&accepted.ranks)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !failed.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET status = 'failed', error_code = v.code, \
             error_message = v.message, inflight_since = NULL, reconcile = false, updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[]) \
                 AS v(id, attempt, code, message) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.status = 'pending'",
        )
        .bind(now)
        .bind(&failed.ids)
        .bind(&failed.attempts)
        .bind(&failed.texts[0])
        .bind(&failed.texts[1])
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !retry.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET inflight_since = NULL, reconcile = false, \
             next_attempt_at = v.not_before, error_code = v.code, error_message = v.message, \
             updated_at = $1, \
             status = CASE WHEN (SELECT c.status FROM campaigns c WHERE c.seq = r.campaign_seq) \
                 = 'cancelled' THEN 'cancelled' ELSE r.status END \
             FROM UNNEST($2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) \
                 AS v(id, attempt, not_before, code, message) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.status = 'pending' \
             AND r.inflight_since IS NOT NULL",
        )
        .bind(now)
        .bind(&retry.ids)
        .bind(&retry.attempts)
        .bind(&retry.times)
        .bind(&retry.texts[0])
        .bind(&retry.texts[1])
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !unknown.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET reconcile = true, error_message = v.message, updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS v(id, attempt, message) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.inflight_since IS NOT NULL",
        )
        .bind(now)
        .bind(&unknown.ids)
        .bind(&unknown.attempts)
        .bind(&unknown.texts[0])
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !released.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET inflight_since = NULL, reconcile = false, \
             attempts = r.attempts - 1, updated_at = $1, \
             status = CASE WHEN (SELECT c.status FROM campaigns c WHERE c.seq = r.campaign_seq) \
                 = 'cancelled' THEN 'cancelled' ELSE r.status END \
             FROM UNNEST($2::bigint[], $3::text[]) AS v(id, attempt) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.status = 'pending' \
             AND r.inflight_since IS NOT NULL",
        )
        .bind(now)
        .bind(&released.ids)
        .bind(&released.attempts)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Folds the per-backend rows of `campaign_counts` into each campaign's `slot = 0` row, so
/// that a campaign keeps a few rows there however many server processes changed its
/// statuses over time (see migrations/postgres/0004_counts.sql). Sums are unchanged, and a
/// reader sees the rows before or after, never between.
///
/// Locks: a row that a transaction is writing right now is skipped (`SKIP LOCKED`), left
/// for the next fold, so a fold never waits on a status change. Only folds write `slot = 0`
/// rows of existing campaigns, and each takes them in key order, so concurrent folds (one
/// per node) wait for one another at worst, never in a cycle. A status change may wait for
/// a fold that holds its row (one short statement), never the other way round.
async fn fold_counts(pool: &PgPool) -> StoreResult<()> {
    sqlx::query(
        "WITH moved AS ( \
             DELETE FROM campaign_counts d \
             WHERE d.slot <> 0 AND (d.campaign_seq, d.status, d.slot) IN \
                 (SELECT l.campaign_seq, l.status, l.slot FROM campaign_counts l \
                  WHERE l.slot <> 0 FOR UPDATE SKIP LOCKED) \
             RETURNING d.campaign_seq, d.status, d.n) \
         INSERT INTO campaign_counts AS c (campaign_seq, status, slot, n) \
         SELECT campaign_seq, status, 0, SUM(n)::bigint FROM moved \
         GROUP BY campaign_seq, status ORDER BY campaign_seq, status \
         ON CONFLICT (campaign_seq, status, slot) DO UPDATE SET n = c.n + excluded.n",
    )
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(())
}

impl EngineSql for PgStore {
    async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>> {
        // Every node's scheduler runs this: the row locks make each campaign start once.
        // A campaign another node is promoting (or cancelling) right now is skipped, and
        // the status check on the locked row keeps a finished race from repeating.
        let mut promoted: Vec<(i64, String)> = sqlx::query_as(
            "UPDATE campaigns SET status = 'running', started_at = $1 \
             WHERE seq IN (SELECT seq FROM campaigns \
                           WHERE status = 'scheduled' AND scheduled_at <= $1 \
                           ORDER BY seq FOR NO KEY UPDATE SKIP LOCKED) \
             AND status = 'scheduled' RETURNING seq, id",
        )
        .bind(stored(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        // In campaign order, as SQLite returns them.
        promoted.sort();
        Ok(promoted
            .into_iter()
            .map(|(_, id)| CampaignId::from_trusted(id))
            .collect())
    }

    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>> {
        let rows: Vec<(String, f64)> = sqlx::query_as(
            "SELECT DISTINCT j.phone, COALESCE(n.mps, 1.0::float8) AS mps \
             FROM campaigns c \
             CROSS JOIN LATERAL jsonb_array_elements_text(c.from_numbers) AS j(phone) \
             LEFT JOIN numbers n ON n.phone = j.phone \
             WHERE c.status = 'running' ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(phone, mps)| Lane { phone, mps })
            .collect())
    }

    async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar(
            "SELECT seq FROM campaigns WHERE status = 'running' \
             AND from_numbers @> jsonb_build_array($1::text) ORDER BY seq",
        )
        .bind(from_number)
        .fetch_all(&self.pool)
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
        let now = stored(now);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A shared lock: many claims run at once, but none overlaps a cancellation, so no
        // recipient is claimed once the campaign is cancelled.
        let campaign: Option<(String, String, bool)> = sqlx::query_as(
            "SELECT id, account_id, require_consent FROM campaigns \
             WHERE seq = $1 AND status = 'running' FOR KEY SHARE",
        )
        .bind(campaign_seq)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((campaign, account, require_consent)) = campaign else {
            return Ok(Vec::new());
        };
        // Opt-outs recorded since the campaign was created are honoured just before sending.
        // SKIP LOCKED: rows another node is claiming right now are its business.
        sqlx::query(
            "UPDATE recipients SET status = 'failed', error_code = $6, error_message = $7, \
             updated_at = $1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
                 ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED) \
             AND phone IN (SELECT phone FROM opt_outs WHERE account_id = $5)",
        )
        .bind(now)
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
                "UPDATE recipients SET status = 'failed', error_code = $6, error_message = $7, \
                 updated_at = $1 \
                 WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
                     AND status = 'pending' AND inflight_since IS NULL \
                     AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
                     ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 AND NOT EXISTS (SELECT 1 FROM consent_state s WHERE s.account_id = $5 \
                                 AND s.phone = recipients.phone AND s.status = 'granted')",
            )
            .bind(now)
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
        // The claim proper. Rows locked by another node's claim are skipped, not waited
        // for, and a row whose claim committed meanwhile fails the re-check of the
        // subquery's conditions on its new version, so claimed sets are disjoint.
        // Attempt ids grow with time, as on SQLite (claim time in ms, row id, 24 random
        // bits from gen_random_uuid(), built in since PostgreSQL 13), so a claim's new ids
        // land together at the end of the attempt index instead of on a page each.
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "UPDATE recipients SET attempt_id = lpad(to_hex((extract(epoch FROM $1) * 1000)::bigint), 12, '0') \
                 || lpad(to_hex(id), 10, '0') || left(md5(gen_random_uuid()::text), 6), \
             inflight_since = $1, attempts = attempts + 1, reconcile = false, claimed_by = $5, \
             updated_at = $1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
                 ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, position, phone, from_number, body, segments, attempts, attempt_id",
        )
        .bind(now)
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
        let now = stored(now);
        let ids: Vec<i64> = results.iter().map(result_id).collect();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Lock order (campaigns, then recipients, each by key) is the one every transaction
        // here follows, so batches from several nodes cannot deadlock. The campaigns are
        // held shared (as claims hold them) so that no cancellation runs meanwhile: a
        // retried or released recipient of a campaign being cancelled becomes `cancelled`
        // (below) either way, never stranded as `pending`.
        sqlx::query(
            "SELECT 1 FROM campaigns WHERE seq IN \
                 (SELECT campaign_seq FROM recipients WHERE id = ANY($1)) \
             ORDER BY seq FOR KEY SHARE",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("SELECT 1 FROM recipients WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // Each recipient once (the engine's batches): one statement per kind of outcome. Every
        // statement's condition reads only its own row and its campaign (held above), so the
        // order does not matter and this is what the statements one by one below would do,
        // in at most five round trips (and five runs of the counts trigger) instead of one
        // each.
        if ids.iter().collect::<HashSet<_>>().len() == ids.len() {
            record_by_kind(&mut tx, results, now).await?;
            return tx.commit().await.map_err(backend);
        }
        for result in results {
            let q = match result {
                SendResult::Accepted {
                    id,
                    attempt_id,
                    sid,
                    status,
                } => sqlx::query(
                    "UPDATE recipients SET twilio_sid = COALESCE(twilio_sid, $1), \
                     status = CASE WHEN (CASE status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                         WHEN 'sent' THEN 2 ELSE 3 END) < $2 THEN $3 ELSE status END, \
                     error_code = CASE WHEN status = 'pending' THEN NULL ELSE error_code END, \
                     error_message = CASE WHEN status = 'pending' THEN NULL ELSE error_message END, \
                     inflight_since = NULL, reconcile = false, next_attempt_at = NULL, \
                     submitted_at = COALESCE(submitted_at, $4), updated_at = $4 \
                     WHERE id = $5 AND attempt_id = $6",
                )
                .bind(sid)
                .bind(status.rank() as i32)
                .bind(status.as_str())
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Failed {
                    id,
                    attempt_id,
                    code,
                    message,
                } => sqlx::query(
                    "UPDATE recipients SET status = 'failed', error_code = $1, error_message = $2, \
                     inflight_since = NULL, reconcile = false, updated_at = $3 \
                     WHERE id = $4 AND attempt_id = $5 AND status = 'pending'",
                )
                .bind(code)
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Retry {
                    id,
                    attempt_id,
                    not_before,
                    code,
                    message,
                } => sqlx::query(
                    "UPDATE recipients SET inflight_since = NULL, reconcile = false, \
                     next_attempt_at = $1, error_code = $2, error_message = $3, updated_at = $4, \
                     status = CASE WHEN (SELECT c.status FROM campaigns c \
                                         WHERE c.seq = recipients.campaign_seq) = 'cancelled' \
                         THEN 'cancelled' ELSE status END \
                     WHERE id = $5 AND attempt_id = $6 AND status = 'pending' \
                     AND inflight_since IS NOT NULL",
                )
                .bind(stored(*not_before))
                .bind(code)
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Unknown {
                    id,
                    attempt_id,
                    message,
                } => sqlx::query(
                    "UPDATE recipients SET reconcile = true, error_message = $1, updated_at = $2 \
                     WHERE id = $3 AND attempt_id = $4 AND inflight_since IS NOT NULL",
                )
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Released { id, attempt_id } => sqlx::query(
                    "UPDATE recipients SET inflight_since = NULL, reconcile = false, \
                     attempts = attempts - 1, updated_at = $1, \
                     status = CASE WHEN (SELECT c.status FROM campaigns c \
                                         WHERE c.seq = recipients.campaign_seq) = 'cancelled' \
                         THEN 'cancelled' ELSE status END \
                     WHERE id = $2 AND attempt_id = $3 AND status = 'pending' \
                     AND inflight_since IS NOT NULL",
                )
                .bind(now)
                .bind(id)
                .bind(attempt_id),
            };
            q.execute(&mut *tx).await.map_err(backend)?;
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
        let now = stored(now);
        let sids: Vec<&str> = events.iter().map(|e| e.sid.as_str()).collect();
        let attempts: Vec<&str> = events
            .iter()
            .filter_map(|e| e.attempt_id.as_deref())
            .collect();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Take the rows in id order first (see `record_results`): callbacks for the same
        // messages may reach several nodes at once. Held, they are what the batch applied
        // in order does to them (`fold_status_events`), written back in one statement.
        let rows = sqlx::query_as::<_, StatusRowRecord>(
            "SELECT id, attempt_id, twilio_sid, status, error_code, error_message \
             FROM recipients WHERE twilio_sid = ANY($1) OR attempt_id = ANY($2) \
             ORDER BY id FOR UPDATE",
        )
        .bind(&sids)
        .bind(&attempts)
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
        let ids: Vec<i64> = moved.iter().map(|r| r.id).collect();
        let statuses: Vec<&str> = moved.iter().map(|r| r.status.as_str()).collect();
        let sids: Vec<Option<&str>> = moved.iter().map(|r| r.twilio_sid.as_deref()).collect();
        let codes: Vec<Option<&str>> = moved.iter().map(|r| r.error_code.as_deref()).collect();
        let messages: Vec<Option<&str>> =
            moved.iter().map(|r| r.error_message.as_deref()).collect();
        sqlx::query(
            "UPDATE recipients AS r SET status = v.status, twilio_sid = v.sid, \
             error_code = v.code, error_message = v.message, \
             inflight_since = NULL, reconcile = false, next_attempt_at = NULL, \
             submitted_at = COALESCE(r.submitted_at, $1), updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                 AS v(id, status, sid, code, message) \
             WHERE r.id = v.id",
        )
        .bind(now)
        .bind(&ids)
        .bind(&statuses)
        .bind(&sids)
        .bind(&codes)
        .bind(&messages)
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
        // One statement, run by every node's engine: the campaign rows are locked (SKIP
        // LOCKED: one that another node is finishing or cancelling is left for the next
        // tick) and re-checked, so each campaign finishes once. No recipient can become
        // `pending` again in a running campaign, so "none pending" cannot go stale, and
        // claims and stored outcomes (KEY SHARE) need not be waited for.
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "UPDATE campaigns c SET finished_at = $1, \
                 status = CASE WHEN EXISTS (SELECT 1 FROM recipients r WHERE r.campaign_seq = c.seq \
                                  AND (r.status <> 'failed' OR r.twilio_sid IS NOT NULL)) \
                          THEN 'done' ELSE 'failed' END \
             WHERE c.seq IN (SELECT d.seq FROM campaigns d WHERE d.status = 'running' \
                             AND NOT EXISTS (SELECT 1 FROM recipients r \
                                             WHERE r.campaign_seq = d.seq AND r.status = 'pending') \
                             ORDER BY d.seq FOR NO KEY UPDATE SKIP LOCKED) \
             AND c.status = 'running' \
             RETURNING c.seq, c.id, c.status",
        )
        .bind(stored(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut changed = rows
            .into_iter()
            .map(|(seq, id, status)| {
                Ok((seq, CampaignId::from_trusted(id), campaign_status(&status)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        changed.sort_by_key(|(seq, _, _)| *seq);
        // Housekeeping of the counts cache, on the engine's beat (every node's, every tick).
        fold_counts(&self.pool).await?;
        Ok(changed
            .into_iter()
            .map(|(_, id, status)| (id, status))
            .collect())
    }
}
