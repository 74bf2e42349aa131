//! Creating a campaign on SQLite. Why it differs from PostgreSQL: recipients go in as
//! multi-row INSERTs with anonymous `?` placeholders (numbered ones made binding quadratic),
//! built while SQLite's own thread writes the previous chunk; the idempotency key is checked
//! first, which the single writer makes safe.

use sqlx::sqlite::SqliteArguments;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Sqlite};

use super::SqliteStore;
use crate::domain::ids::CampaignId;
use crate::domain::status::{CampaignStatus, RecipientStatus, Refusal};
use crate::store::sql::campaigns::CampaignSql;
use crate::store::sql::{Backend, StoredTime, backend, json_error, stored};
use crate::store::{
    Created, IdempotencyKey, NewCampaign, RecipientSource, StoreError, StoreResult,
};

/// Rows per multi-row INSERT when storing recipients (11 parameters each, well
/// under SQLite's 32,766-parameter limit; big enough to amortise statement cost).
const INSERT_CHUNK: usize = 500;

fn recipient_insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO recipients (campaign_seq, position, phone, variables, body, segments, \
         from_number, status, error_code, error_message, updated_at) VALUES ",
    );
    // Anonymous `?` only: sqlx looks up every parameter's name when binding, and SQLite finds
    // a numbered parameter's name by walking a list, which made numbered multi-row inserts
    // quadratic (70% of a 100,000-recipient create went there).
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

/// Builds the multi-row INSERT of each chunk of a new campaign's recipients.
struct RecipientInserts {
    seq: i64,
    now: StoredTime,
    full_chunk_sql: String,
    /// Position of the next recipient.
    position: i64,
    /// Recipients so far that fail at once (opted out, no consent).
    failed: i64,
}

impl RecipientInserts {
    /// The INSERT of the source's next chunk, or `None` when it has no more.
    fn next(
        &mut self,
        recipients: &mut dyn RecipientSource,
    ) -> StoreResult<Option<sqlx::query::Query<'static, Sqlite, SqliteArguments>>> {
        let chunk = recipients.next_chunk(INSERT_CHUNK)?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let sql = if chunk.len() == INSERT_CHUNK {
            self.full_chunk_sql.clone()
        } else {
            recipient_insert_sql(chunk.len())
        };
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            let variables = serde_json::to_string(&r.variables).map_err(json_error)?;
            let refusal = Refusal::of_new(r.opted_out, r.no_consent);
            let status = if refusal.is_some() {
                self.failed += 1;
                RecipientStatus::Failed
            } else {
                RecipientStatus::Pending
            };
            q = q
                .bind(self.seq)
                .bind(self.position)
                .bind(r.phone.as_str().to_owned())
                .bind(variables)
                .bind(r.body.clone())
                .bind(r.segments as i64)
                .bind(r.from_number.as_str().to_owned())
                .bind(status.as_str())
                .bind(refusal.map(|r| r.code))
                .bind(refusal.map(|r| r.message))
                .bind(self.now);
            self.position += 1;
        }
        Ok(Some(q))
    }
}

impl CampaignSql for SqliteStore {
    async fn create_campaign(
        &self,
        new: &NewCampaign,
        recipients: &mut dyn RecipientSource,
        idempotency: Option<&IdempotencyKey>,
    ) -> StoreResult<Created> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if let Some(idem) = idempotency {
            let prior: Option<(Vec<u8>, String)> = sqlx::query_as(
                "SELECT request_hash, campaign_id FROM idempotency_keys \
                 WHERE account_id = $1 AND key = $2",
            )
            .bind(new.account_id.as_str())
            .bind(&idem.key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some((hash, campaign_id)) = prior {
                return if hash == idem.request_hash {
                    Ok(Created::Replayed(CampaignId::from_trusted(campaign_id)))
                } else {
                    Err(StoreError::IdempotencyMismatch)
                };
            }
        }
        let now = stored(new.created_at);
        let started_at = (new.status == CampaignStatus::Running).then_some(now);
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (id, account_id, agent_id, name, message_template, from_numbers, \
             status, source, scheduled_at, duplicates_removed, created_at, started_at, require_consent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12) RETURNING seq",
        )
        .bind(new.id.as_str())
        .bind(new.account_id.as_str())
        .bind(new.agent_id.as_deref())
        .bind(&new.name)
        .bind(&new.message_template)
        .bind(Json(&new.from_numbers))
        .bind(new.status.as_str())
        .bind(new.source.as_str())
        .bind(new.scheduled_at.map(stored))
        .bind(now)
        .bind(started_at)
        .bind(new.require_consent)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;

        let mut inserts = RecipientInserts {
            seq,
            now,
            full_chunk_sql: recipient_insert_sql(INSERT_CHUNK),
            position: 0,
            failed: 0,
        };
        // SQLite runs on its own thread: while it inserts one chunk, this task reads (checks
        // and renders) the next. The statement owns its arguments, so the two overlap.
        let mut next = inserts.next(recipients)?;
        while let Some(insert) = next {
            let (done, following) =
                tokio::join!(insert.execute(&mut *tx), async { inserts.next(recipients) });
            done.map_err(backend)?;
            next = following?;
        }
        let (position, failed) = (inserts.position, inserts.failed);

        // Known only once every recipient was read.
        let duplicates_removed = recipients.duplicates_removed();
        if duplicates_removed > 0 {
            sqlx::query("UPDATE campaigns SET duplicates_removed = $1 WHERE seq = $2")
                .bind(duplicates_removed as i64)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for (status, n) in [
            (RecipientStatus::Pending, position - failed),
            (RecipientStatus::Failed, failed),
        ] {
            if n == 0 {
                continue;
            }
            sqlx::query(Self::INSERT_COUNTS)
                .bind(seq)
                .bind(status.as_str())
                .bind(n)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }

        if let Some(idem) = idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (account_id, key, request_hash, campaign_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new.account_id.as_str())
            .bind(&idem.key)
            .bind(&idem.request_hash)
            .bind(new.id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(Created::New(new.id.clone()))
    }
}
