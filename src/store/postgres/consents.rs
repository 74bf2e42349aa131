//! Consent records on PostgreSQL. Why it differs from SQLite: a number's opt-out state
//! changes under a transaction-level advisory lock on (account, phone), so a STOP and a START
//! (or an API opt-out) racing on two nodes apply one after the other and the opt-out list and
//! the consent history stay in step; consents are appended in bulk (arrays, not a statement
//! per record), and each number's current consent is updated by one statement in phone order.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use super::PgStore;
use crate::domain::ids::AccountId;
use crate::store::sql::consents::ConsentSql;
use crate::store::sql::{StoredTime, backend, corrupt, stored};
use crate::store::{ConsentRecord, NewConsent, StoreResult};

/// Consent records per `INSERT … SELECT FROM UNNEST(…)` (evidence may be 2,000 characters).
const CONSENT_CHUNK: usize = 5_000;

impl ConsentSql for PgStore {
    /// Serialises changes of one number's opt-out state (until the transaction ends): what SQLite's
    /// single writer gives for free. Taken after the conversation row, before any opt-out or
    /// consent row (see the module comment).
    async fn lock_phone(
        conn: &mut PgConnection,
        account: &AccountId,
        phone: &str,
    ) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))")
            .bind(account.as_str())
            .bind(phone)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Appends consent records in order and moves each number's current consent to its latest
    /// record (by time given, then by order of recording), as SQLite's `insert_consent` does one
    /// record at a time. Returns the stored records in the order given.
    async fn insert_consents(
        conn: &mut PgConnection,
        account: &AccountId,
        records: &[NewConsent],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ConsentRecord>> {
        let recorded = stored(now);
        let mut seqs: HashMap<String, i64> = HashMap::with_capacity(records.len());
        for chunk in records.chunks(CONSENT_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
            let phones: Vec<&str> = chunk.iter().map(|r| r.phone.as_str()).collect();
            let statuses: Vec<&str> = chunk.iter().map(|r| r.status.as_str()).collect();
            let sources: Vec<&str> = chunk.iter().map(|r| r.source.as_str()).collect();
            let evidence: Vec<Option<&str>> = chunk.iter().map(|r| r.evidence.as_deref()).collect();
            let occurred: Vec<StoredTime> = chunk.iter().map(|r| stored(r.occurred_at)).collect();
            // Identities are drawn in the order rows are inserted, which is the ORDER BY's: seqs
            // rise in the order given, as on SQLite.
            let rows = sqlx::query(
            "INSERT INTO consents (id, account_id, phone, status, source, evidence, occurred_at, \
             recorded_at) \
             SELECT c.id, $1, c.phone, c.status, c.source, c.evidence, c.occurred_at, $2 \
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::timestamptz[]) WITH ORDINALITY \
                 AS c(id, phone, status, source, evidence, occurred_at, i) \
             ORDER BY c.i \
             RETURNING id, seq",
        )
        .bind(account.as_str())
        .bind(recorded)
        .bind(ids)
        .bind(phones)
        .bind(statuses)
        .bind(sources)
        .bind(evidence)
        .bind(occurred)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
            for row in rows {
                seqs.insert(row.get("id"), row.get("seq"));
            }
        }
        let records_stored: Vec<ConsentRecord> = records
            .iter()
            .map(|r| {
                let seq = *seqs
                    .get(r.id.as_str())
                    .ok_or_else(|| corrupt(format!("consent {} not stored", r.id.as_str())))?;
                Ok(ConsentRecord {
                    seq,
                    id: r.id.clone(),
                    phone: r.phone.clone(),
                    status: r.status,
                    source: r.source.clone(),
                    evidence: r.evidence.clone(),
                    occurred_at: stored(r.occurred_at).get(),
                    recorded_at: recorded.get(),
                })
            })
            .collect::<StoreResult<_>>()?;
        // Each number's latest record of the batch (latest time, then latest seq) replaces its
        // current consent unless that is later: the state the records give one by one. One
        // statement in phone order, so concurrent imports lock the rows in the same order.
        // "Later" compares (time, seq), not the time alone as SQLite does: there, records are
        // applied in seq order, so the two agree; here a transaction holding lower seqs may
        // commit after one holding higher seqs, and must not overwrite its record.
        sqlx::query(
            "INSERT INTO consent_state AS s (account_id, phone, status, occurred_at, consent_seq) \
         SELECT DISTINCT ON (c.phone) $1, c.phone, c.status, c.occurred_at, c.seq \
         FROM UNNEST($2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) \
             AS c(phone, status, occurred_at, seq) \
         ORDER BY c.phone, c.occurred_at DESC, c.seq DESC \
         ON CONFLICT (account_id, phone) DO UPDATE SET status = excluded.status, \
             occurred_at = excluded.occurred_at, consent_seq = excluded.consent_seq \
         WHERE (excluded.occurred_at, excluded.consent_seq) > (s.occurred_at, s.consent_seq)",
        )
        .bind(account.as_str())
        .bind(
            records_stored
                .iter()
                .map(|r| r.phone.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            records_stored
                .iter()
                .map(|r| r.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            records_stored
                .iter()
                .map(|r| stored(r.occurred_at))
                .collect::<Vec<_>>(),
        )
        .bind(records_stored.iter().map(|r| r.seq).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        Ok(records_stored)
    }
}
