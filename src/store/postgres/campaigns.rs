//! Creating a campaign on PostgreSQL. Why it differs from SQLite: recipients go in as one
//! `INSERT … SELECT FROM UNNEST(…)` per chunk (each column one array parameter), and the
//! sending numbers are held so that a concurrent `delete_number` on another node sees the
//! campaign.

use sqlx::PgConnection;

use super::PgStore;
use crate::domain::campaign::NewRecipient;
use crate::domain::ids::AccountId;
use crate::domain::status::{NO_CONSENT, OPTED_OUT, RecipientStatus, Refusal};
use crate::store::sql::campaigns::CampaignSql;
use crate::store::sql::tallies::NewTallies;
use crate::store::sql::{StoredTime, backend, json_error};
use crate::store::{RecipientSource, StoreResult};

/// Recipients per `INSERT … SELECT FROM UNNEST(…)`: one round trip stores this many,
/// whatever their number (arrays are single parameters), and a chunk stays a few MiB.
const INSERT_CHUNK: usize = 5_000;

impl CampaignSql for PgStore {
    async fn hold_numbers(
        conn: &mut PgConnection,
        account: &AccountId,
        phones: &[String],
    ) -> StoreResult<()> {
        // Key share: updates of their rate still go through, but `delete_number` on another
        // node waits for this campaign and sees it.
        sqlx::query(
            "SELECT 1 FROM numbers WHERE account_id = $1 AND phone = ANY($2) \
             ORDER BY phone FOR KEY SHARE",
        )
        .bind(account.as_str())
        .bind(phones)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn insert_recipients(
        conn: &mut PgConnection,
        seq: i64,
        now: StoredTime,
        recipients: &mut dyn RecipientSource,
        tallies: &mut NewTallies,
    ) -> StoreResult<(i64, i64)> {
        // One round trip per chunk: each column travels as one array parameter.
        let (mut first, mut failed) = (0i64, 0i64);
        loop {
            let chunk = recipients.next_chunk(INSERT_CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            tallies.add(chunk);
            failed += insert_unnest(conn, seq, first, now, chunk).await?;
            first += chunk.len() as i64;
        }
        Ok((first, failed))
    }

    const APPEND_CHUNK: usize = INSERT_CHUNK;
    // By the phone index (`+ 0` keeps the planner from reading the whole campaign instead).
    const PHONES_IN_CAMPAIGN: &'static str =
        "SELECT phone FROM recipients WHERE campaign_seq + 0 = $1 AND phone = ANY($2)";
    const ADD_COUNTS: &'static str = "INSERT INTO campaign_counts AS c (campaign_seq, status, slot, n) \
         VALUES ($1, $2, 0, $3) ON CONFLICT (campaign_seq, status, slot) DO UPDATE SET n = c.n + excluded.n";
    type PhoneList = Vec<String>;

    fn phone_list(phones: Vec<&str>) -> Vec<String> {
        phones.into_iter().map(str::to_owned).collect()
    }

    async fn insert_rows(
        conn: &mut PgConnection,
        seq: i64,
        first: i64,
        now: StoredTime,
        rows: &[NewRecipient],
    ) -> StoreResult<i64> {
        insert_unnest(conn, seq, first, now, rows).await
    }
}

/// One `INSERT … SELECT FROM UNNEST(…)` of `chunk` as recipients of campaign `seq` at
/// positions from `first`; returns how many fail at once (opted out, no consent).
async fn insert_unnest(
    conn: &mut PgConnection,
    seq: i64,
    first: i64,
    now: StoredTime,
    chunk: &[NewRecipient],
) -> StoreResult<i64> {
    let positions: Vec<i64> = (first..first + chunk.len() as i64).collect();
    let failed = chunk.iter().filter(|r| r.opted_out || r.no_consent).count() as i64;

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
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(failed)
}
