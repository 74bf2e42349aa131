//! Consent records on SQLite. Why it differs from PostgreSQL: the single writer already runs
//! one opt-out change at a time (no lock to take), and records are appended one statement
//! each, in order, each moving the number's current consent when it is the latest.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::SqliteStore;
use crate::domain::ids::AccountId;
use crate::store::sql::consents::ConsentSql;
use crate::store::sql::{backend, stored};
use crate::store::{ConsentRecord, NewConsent, StoreResult};

impl ConsentSql for SqliteStore {
    async fn lock_phone(_: &mut SqliteConnection, _: &AccountId, _: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn insert_consents(
        conn: &mut SqliteConnection,
        account: &AccountId,
        records: &[NewConsent],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ConsentRecord>> {
        let recorded = stored(now);
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let occurred = stored(record.occurred_at);
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO consents (id, account_id, phone, status, source, evidence, \
                 occurred_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
            )
            .bind(record.id.as_str())
            .bind(account.as_str())
            .bind(&record.phone)
            .bind(record.status.as_str())
            .bind(&record.source)
            .bind(&record.evidence)
            .bind(occurred)
            .bind(recorded)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
            sqlx::query(
                "INSERT INTO consent_state (account_id, phone, status, occurred_at, consent_seq) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account_id, phone) DO UPDATE SET status = excluded.status, \
                     occurred_at = excluded.occurred_at, consent_seq = excluded.consent_seq \
                 WHERE excluded.occurred_at >= consent_state.occurred_at",
            )
            .bind(account.as_str())
            .bind(&record.phone)
            .bind(record.status.as_str())
            .bind(occurred)
            .bind(seq)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            out.push(ConsentRecord {
                seq,
                id: record.id.clone(),
                phone: record.phone.clone(),
                status: record.status,
                source: record.source.clone(),
                evidence: record.evidence.clone(),
                occurred_at: occurred.get(),
                recorded_at: recorded.get(),
            });
        }
        Ok(out)
    }
}
