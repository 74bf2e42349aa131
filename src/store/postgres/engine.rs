//! The engine's writes on PostgreSQL. Why they differ from SQLite: several nodes' engines
//! share the database, so claims skip rows another node holds (`FOR UPDATE SKIP LOCKED`),
//! promotion and finishing lock the campaigns they change, stored outcomes and callbacks lock
//! campaigns then recipients in key order (no deadlocks), batches travel as arrays
//! (`UNNEST`), and the counts cache is folded on the engine's beat.

use sqlx::{PgConnection, PgPool};

use super::PgStore;
use crate::domain::status::StatusRow;
use crate::store::sql::engine::{EngineSql, claim_campaign, recent_messages_sql};
use crate::store::sql::rows::StatusRowRecord;
use crate::store::sql::{StoredTime, backend, stored};
use crate::store::{SendResult, StatusEvent, StoreResult};

/// The recipients a claim may take: `$2`'s pending ones on sending number `$3` that wait for
/// nothing, in order, at most `$4`. SKIP LOCKED: rows another node is claiming right now are
/// its business; a row whose claim committed meanwhile fails the re-check of these conditions
/// on its new version, so claimed sets are disjoint.
macro_rules! claimable {
    () => {
        "SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
         AND status = 'pending' AND inflight_since IS NULL AND held_until IS NULL \
         AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
         ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED"
    };
}

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
             submitted_at = COALESCE(r.submitted_at, $1), updated_at = $1, \
             delivered_at = CASE WHEN v.status = 'delivered' AND r.status IN ('pending', 'queued', 'sent') \
                 THEN $1 ELSE r.delivered_at END \
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

/// Folds the per-backend rows of `campaign_queues` and `campaign_errors` into slot 0 as
/// [`fold_counts`] does for the counts (and with its locks), then deletes the slot-0 queue
/// rows that reached zero, so a number's rows stay the campaigns with work on it (see
/// migrations/postgres/0015_tallies.sql). Sums are unchanged.
async fn fold_tallies(pool: &PgPool) -> StoreResult<()> {
    sqlx::query(
        "WITH moved AS ( \
             DELETE FROM campaign_queues d \
             WHERE d.slot <> 0 AND (d.campaign_seq, d.from_number, d.slot) IN \
                 (SELECT l.campaign_seq, l.from_number, l.slot FROM campaign_queues l \
                  WHERE l.slot <> 0 FOR UPDATE SKIP LOCKED) \
             RETURNING d.campaign_seq, d.from_number, d.pending, d.segments, d.held) \
         INSERT INTO campaign_queues AS q (campaign_seq, from_number, slot, pending, segments, held) \
         SELECT campaign_seq, from_number, 0, SUM(pending)::bigint, SUM(segments)::bigint, \
                SUM(held)::bigint FROM moved \
         GROUP BY campaign_seq, from_number ORDER BY campaign_seq, from_number \
         ON CONFLICT (campaign_seq, from_number, slot) DO UPDATE SET \
             pending = q.pending + excluded.pending, segments = q.segments + excluded.segments, \
             held = q.held + excluded.held",
    )
    .execute(pool)
    .await
    .map_err(backend)?;
    sqlx::query(
        "DELETE FROM campaign_queues d WHERE d.slot = 0 AND (d.campaign_seq, d.from_number) IN \
             (SELECT l.campaign_seq, l.from_number FROM campaign_queues l \
              WHERE l.slot = 0 AND l.pending = 0 AND l.segments = 0 AND l.held = 0 \
              FOR UPDATE SKIP LOCKED) \
         AND d.pending = 0 AND d.segments = 0 AND d.held = 0",
    )
    .execute(pool)
    .await
    .map_err(backend)?;
    sqlx::query(
        "WITH moved AS ( \
             DELETE FROM campaign_errors d \
             WHERE d.slot <> 0 AND (d.campaign_seq, d.error_code, d.slot) IN \
                 (SELECT l.campaign_seq, l.error_code, l.slot FROM campaign_errors l \
                  WHERE l.slot <> 0 FOR UPDATE SKIP LOCKED) \
             RETURNING d.campaign_seq, d.error_code, d.n, d.error_message) \
         INSERT INTO campaign_errors AS e (campaign_seq, error_code, slot, n, error_message) \
         SELECT campaign_seq, error_code, 0, SUM(n)::bigint, MAX(error_message) FROM moved \
         GROUP BY campaign_seq, error_code ORDER BY campaign_seq, error_code \
         ON CONFLICT (campaign_seq, error_code, slot) DO UPDATE SET n = e.n + excluded.n, \
             error_message = GREATEST(e.error_message, excluded.error_message)",
    )
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(())
}

impl EngineSql for PgStore {
    // A shared lock: many claims run at once, but none overlaps a cancellation, so no
    // recipient is claimed once the campaign is cancelled.
    const CLAIM_CAMPAIGN: &'static str = concat!(
        claim_campaign!(),
        " WHERE c.seq = $1 AND c.status = 'running' FOR KEY SHARE OF c"
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
        ") AND NOT EXISTS (SELECT 1 FROM consent_state s WHERE s.account_id = $5 \
                           AND s.phone = recipients.phone AND s.status = 'granted')"
    );
    // Attempt ids grow with time, as on SQLite (claim time in ms, row id, 24 random bits from
    // gen_random_uuid(), built in since PostgreSQL 13), so a claim's new ids land together at
    // the end of the attempt index instead of on a page each.
    const CLAIM: &'static str = concat!(
        "UPDATE recipients SET \
         attempt_id = lpad(to_hex((extract(epoch FROM $1) * 1000)::bigint), 12, '0') \
             || lpad(to_hex(id), 10, '0') || left(md5(gen_random_uuid()::text), 6), \
         inflight_since = $1, attempts = attempts + 1, reconcile = false, claimed_by = $5, \
         updated_at = $1 WHERE id IN (",
        claimable!(),
        ") RETURNING id, position, phone, from_number, body, segments, attempts, attempt_id"
    );
    const LANES: &'static str = "SELECT DISTINCT j.phone, COALESCE(n.mps, 1.0::float8) AS mps \
         FROM campaigns c \
         CROSS JOIN LATERAL jsonb_array_elements_text(c.from_numbers) AS j(phone) \
         LEFT JOIN numbers n ON n.phone = j.phone \
         WHERE c.status = 'running' ORDER BY 1";
    const LANE_CAMPAIGNS: &'static str = "SELECT seq FROM campaigns WHERE status = 'running' \
         AND from_numbers @> jsonb_build_array($1::text) ORDER BY seq";
    const LANE_CAMPAIGNS_NEW: &'static str = "SELECT seq FROM campaigns WHERE seq IN \
         (SELECT seq FROM campaigns WHERE seq > $2 AND status = 'running' \
          UNION ALL SELECT seq FROM campaigns WHERE started_at >= $3 AND status = 'running') \
         AND status = 'running' AND from_numbers @> jsonb_build_array($1::text) ORDER BY seq";
    const SKIP_LOCKED: &'static str = " FOR NO KEY UPDATE SKIP LOCKED";

    async fn lock_claim_campaigns(conn: &mut PgConnection, seqs: &[i64]) -> StoreResult<()> {
        // Every campaign of the group before any recipient, in key order (see
        // `lock_outcomes`); each campaign's `CLAIM_CAMPAIGN` then finds its lock held.
        sqlx::query("SELECT 1 FROM campaigns WHERE seq = ANY($1) ORDER BY seq FOR KEY SHARE")
            .bind(seqs)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn lock_outcomes(conn: &mut PgConnection, ids: &[i64]) -> StoreResult<()> {
        // Lock order (campaigns, then recipients, each by key) is the one every transaction
        // here follows, so batches from several nodes cannot deadlock. The campaigns are
        // held shared (as claims hold them) so that no cancellation runs meanwhile: a
        // retried or released recipient of a campaign being cancelled becomes `cancelled`
        // either way, never stranded as `pending`.
        sqlx::query(
            "SELECT 1 FROM campaigns WHERE seq IN \
                 (SELECT campaign_seq FROM recipients WHERE id = ANY($1)) \
             ORDER BY seq FOR KEY SHARE",
        )
        .bind(ids)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        sqlx::query("SELECT 1 FROM recipients WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn record_batch(
        conn: &mut PgConnection,
        results: &[SendResult],
        now: StoredTime,
    ) -> StoreResult<()> {
        record_by_kind(conn, results, now).await
    }

    async fn status_rows(
        conn: &mut PgConnection,
        events: &[StatusEvent],
    ) -> StoreResult<Vec<StatusRow>> {
        // Taken in id order (see `lock_outcomes`): callbacks for the same messages may reach
        // several nodes at once.
        let sids: Vec<&str> = events.iter().map(|e| e.sid.as_str()).collect();
        let attempts: Vec<&str> = events
            .iter()
            .filter_map(|e| e.attempt_id.as_deref())
            .collect();
        let rows = sqlx::query_as::<_, StatusRowRecord>(
            "SELECT id, attempt_id, twilio_sid, status, error_code, error_message \
             FROM recipients WHERE twilio_sid = ANY($1) OR attempt_id = ANY($2) \
             ORDER BY id FOR UPDATE",
        )
        .bind(&sids)
        .bind(&attempts)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        rows.into_iter().map(StatusRow::try_from).collect()
    }

    async fn write_statuses(
        conn: &mut PgConnection,
        moved: &[StatusRow],
        now: StoredTime,
    ) -> StoreResult<()> {
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
             submitted_at = COALESCE(r.submitted_at, $1), updated_at = $1, \
             delivered_at = CASE WHEN v.status = 'delivered' THEN COALESCE(r.delivered_at, $1) \
                 ELSE r.delivered_at END \
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
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn after_finish(&self) -> StoreResult<()> {
        // Housekeeping of the counts cache, on the engine's beat (every node's, every tick).
        fold_counts(&self.pool).await?;
        fold_tallies(&self.pool).await
    }

    async fn recent_messages(
        conn: &mut PgConnection,
        account: &str,
        phones: &[&str],
        since: StoredTime,
        lock: bool,
    ) -> StoreResult<Vec<(String, i64)>> {
        if lock {
            // The lock a number's opt-out state changes under (`consents::lock_phone`: the
            // same key), one per phone, taken in key order so that claims taking several never
            // wait on one another in a cycle (a consent change takes one). Then the count, a
            // statement of its own: its snapshot is taken after the locks, so it sees the
            // claims that held them and committed meanwhile.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(k) FROM \
                 (SELECT DISTINCT hashtextextended($1 || ' ' || p, 0) AS k \
                  FROM UNNEST($2::text[]) AS u(p) ORDER BY k) AS keys",
            )
            .bind(account)
            .bind(phones)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        }
        sqlx::query_as(recent_messages_sql!("r.phone = ANY($1)"))
            .bind(phones)
            .bind(account)
            .bind(since)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }
}
