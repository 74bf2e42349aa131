//! Creating a campaign on SQLite. Why it differs from PostgreSQL: recipients go in as
//! multi-row INSERTs with anonymous `?` placeholders (numbered ones made binding quadratic),
//! built while SQLite's own thread writes the previous chunk; the single writer needs no lock
//! on the sending numbers.

use sqlx::sqlite::SqliteArguments;
use sqlx::{AssertSqlSafe, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::domain::campaign::NewRecipient;
use crate::domain::ids::AccountId;
use crate::domain::status::{RecipientStatus, Refusal};
use crate::store::StoreResult;
use crate::store::sql::campaigns::CampaignSql;
use crate::store::sql::{StoredTime, backend, json_error};

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

/// The multi-row INSERT (`sql`, for `rows.len()` rows) of `rows` as recipients of campaign
/// `seq` at positions from `first`, and how many of them fail at once.
fn insert_query(
    sql: String,
    seq: i64,
    first: i64,
    now: StoredTime,
    rows: &[NewRecipient],
) -> StoreResult<(sqlx::query::Query<'static, Sqlite, SqliteArguments>, i64)> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    let mut failed = 0;
    for (position, r) in (first..).zip(rows) {
        let variables = serde_json::to_string(&r.variables).map_err(json_error)?;
        let refusal = Refusal::of_new(r.opted_out, r.no_consent);
        let status = if refusal.is_some() {
            failed += 1;
            RecipientStatus::Failed
        } else {
            RecipientStatus::Pending
        };
        q = q
            .bind(seq)
            .bind(position)
            .bind(r.phone.as_str().to_owned())
            .bind(variables)
            .bind(r.body.clone())
            .bind(r.segments as i64)
            .bind(r.from_number.as_str().to_owned())
            .bind(status.as_str())
            .bind(refusal.map(|r| r.code))
            .bind(refusal.map(|r| r.message))
            .bind(now);
    }
    Ok((q, failed))
}

impl CampaignSql for SqliteStore {
    async fn hold_numbers(
        _: &mut SqliteConnection,
        _: &AccountId,
        _: &[String],
    ) -> StoreResult<()> {
        Ok(())
    }

    const BULK_CHUNK: usize = INSERT_CHUNK;
    const AFTER_POSITION: &'static str = "campaign_seq = $1 AND position > $2";
    const BY_POSITION: &'static str = "position";
    const ADD_COUNTS: &'static str = "INSERT INTO campaign_counts (campaign_seq, status, n) \
         VALUES ($1, $2, $3) ON CONFLICT (campaign_seq, status) DO UPDATE SET n = n + excluded.n";
    type PhoneList = String;

    fn phone_list(phones: Vec<&str>) -> String {
        serde_json::to_string(&phones).unwrap_or_else(|_| "[]".into())
    }

    type Ready = Vec<(sqlx::query::Query<'static, Sqlite, SqliteArguments>, i64)>;

    fn ready_rows(
        seq: i64,
        first: i64,
        now: StoredTime,
        rows: &[NewRecipient],
    ) -> StoreResult<Self::Ready> {
        let mut first = first;
        let mut ready = Vec::with_capacity(rows.len().div_ceil(INSERT_CHUNK));
        for chunk in rows.chunks(INSERT_CHUNK) {
            ready.push(insert_query(
                recipient_insert_sql(chunk.len()),
                seq,
                first,
                now,
                chunk,
            )?);
            first += chunk.len() as i64;
        }
        Ok(ready)
    }

    async fn insert_ready_while<T: Send>(
        conn: &mut SqliteConnection,
        ready: Self::Ready,
        meanwhile: impl Future<Output = T> + Send,
    ) -> (StoreResult<i64>, T) {
        // SQLite writes on its own thread: once a statement is handed over (the first poll),
        // `meanwhile` runs beside it.
        let insert = async {
            let mut failed = 0;
            for (q, f) in ready {
                q.execute(&mut *conn).await.map_err(backend)?;
                failed += f;
            }
            Ok(failed)
        };
        tokio::join!(insert, meanwhile)
    }
}
