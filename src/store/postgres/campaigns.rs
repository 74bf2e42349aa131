//! Creating a campaign on PostgreSQL. Why it differs from SQLite: recipients go in as one
//! `INSERT … SELECT FROM UNNEST(…)` per chunk (each column one array parameter); the
//! idempotency key is claimed first, so a concurrent create with the same key on another node
//! waits for this one and replays it; the sending numbers are held so that a concurrent
//! `delete_number` sees this campaign; the counts start in the campaign's own cache rows.

use sqlx::types::Json;

use super::PgStore;
use crate::domain::ids::CampaignId;
use crate::domain::status::{CampaignStatus, NO_CONSENT, OPTED_OUT, RecipientStatus, Refusal};
use crate::store::sql::campaigns::CampaignSql;
use crate::store::sql::{backend, json_error, stored};
use crate::store::{
    Created, IdempotencyKey, NewCampaign, RecipientSource, StoreError, StoreResult,
};

/// Recipients per `INSERT … SELECT FROM UNNEST(…)`: one round trip stores this many,
/// whatever their number (arrays are single parameters), and a chunk stays a few MiB.
const INSERT_CHUNK: usize = 5_000;

impl CampaignSql for PgStore {
    async fn create_campaign(
        &self,
        new: &NewCampaign,
        recipients: &mut dyn RecipientSource,
        idempotency: Option<&IdempotencyKey>,
    ) -> StoreResult<Created> {
        let now = stored(new.created_at);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(idem) = idempotency {
            // Claim the key before anything else. A concurrent create with the same key (on
            // any node) blocks here until this transaction ends; if it commits, the other
            // finds the key taken and replays this campaign; if it rolls back, the other
            // goes ahead as the first.
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (account_id, key, request_hash, campaign_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, key) DO NOTHING",
            )
            .bind(new.account_id.as_str())
            .bind(&idem.key)
            .bind(&idem.request_hash)
            .bind(new.id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected()
                == 1;
            if !claimed {
                let (hash, campaign_id): (Vec<u8>, String) = sqlx::query_as(
                    "SELECT request_hash, campaign_id FROM idempotency_keys \
                     WHERE account_id = $1 AND key = $2",
                )
                .bind(new.account_id.as_str())
                .bind(&idem.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                return if hash == idem.request_hash {
                    Ok(Created::Replayed(CampaignId::from_trusted(campaign_id)))
                } else {
                    Err(StoreError::IdempotencyMismatch)
                };
            }
        }
        // Hold the sending numbers (key share: updates of their rate still go through)
        // so that `delete_number` on another node waits for this campaign and sees it.
        sqlx::query(
            "SELECT 1 FROM numbers WHERE account_id = $1 AND phone = ANY($2) \
             ORDER BY phone FOR KEY SHARE",
        )
        .bind(new.account_id.as_str())
        .bind(&new.from_numbers)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let started_at = (new.status == CampaignStatus::Running).then_some(now);
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (id, account_id, agent_id, name, message_template, from_numbers, \
             status, source, scheduled_at, duplicates_removed, created_at, started_at, \
             require_consent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq",
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
        .bind(0i64)
        .bind(now)
        .bind(started_at)
        .bind(new.require_consent)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;

        // One round trip per chunk: each column travels as one array parameter.
        let (mut first, mut failed) = (0i64, 0i64);
        loop {
            let chunk = recipients.next_chunk(INSERT_CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            let positions: Vec<i64> = (first..first + chunk.len() as i64).collect();
            first += chunk.len() as i64;
            failed += chunk.iter().filter(|r| r.opted_out || r.no_consent).count() as i64;
            let phones: Vec<&str> = chunk.iter().map(|r| r.phone.as_str()).collect();
            let variables = chunk
                .iter()
                .map(|r| serde_json::to_string(&r.variables))
                .collect::<Result<Vec<String>, _>>()
                .map_err(json_error)?;
            let bodies: Vec<&str> = chunk.iter().map(|r| r.body.as_str()).collect();
            let segments: Vec<i32> = chunk.iter().map(|r| r.segments as i32).collect();
            let senders: Vec<&str> = chunk.iter().map(|r| r.from_number.as_str()).collect();
            // Why a recipient fails at once, if it does: opted out (first) or no consent.
            let codes: Vec<Option<&str>> = chunk
                .iter()
                .map(|r| Refusal::of_new(r.opted_out, r.no_consent).map(|r| r.code))
                .collect();
            sqlx::query(
                "INSERT INTO recipients (campaign_seq, position, phone, variables, body, segments, \
                 from_number, status, error_code, error_message, updated_at) \
                 SELECT $1, r.position, r.phone, r.variables::jsonb, r.body, r.segments, r.from_number, \
                     CASE WHEN r.code IS NULL THEN $4 ELSE $3 END, r.code, \
                     CASE r.code WHEN $5 THEN $6 WHEN $14 THEN $15 END, $2 \
                 FROM UNNEST($7::bigint[], $8::text[], $9::text[], $10::text[], $11::int4[], \
                             $12::text[], $13::text[]) \
                     AS r(position, phone, variables, body, segments, from_number, code)",
            )
            .bind(seq)
            .bind(now)
            .bind(RecipientStatus::Failed.as_str())
            .bind(RecipientStatus::Pending.as_str())
            .bind(OPTED_OUT.code)
            .bind(OPTED_OUT.message)
            .bind(positions)
            .bind(phones)
            .bind(variables)
            .bind(bodies)
            .bind(segments)
            .bind(senders)
            .bind(codes)
            .bind(NO_CONSENT.code)
            .bind(NO_CONSENT.message)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }

        // The initial counts, in the campaign's own rows (`slot = 0`): nobody else can see the
        // campaign before this commits, so nothing waits here.
        let pending = first - failed;
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
        sqlx::query(
            "INSERT INTO campaign_counts (campaign_seq, status, slot, n) \
             SELECT $1, c.status, 0, c.n FROM UNNEST($2::text[], $3::bigint[]) AS c(status, n) \
             WHERE c.n > 0",
        )
        .bind(seq)
        .bind(vec![
            RecipientStatus::Pending.as_str(),
            RecipientStatus::Failed.as_str(),
        ])
        .bind(vec![pending, failed])
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Created::New(new.id.clone()))
    }
}
