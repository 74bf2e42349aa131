//! Creating a campaign on PostgreSQL. Why it differs from SQLite: recipients go in as one
//! `COPY … FROM STDIN` per chunk (PostgreSQL's bulk load), and the
//! sending numbers are held so that a concurrent `delete_number` on another node sees the
//! campaign.

use sqlx::PgConnection;
use sqlx::postgres::PgCopyIn;

use super::PgStore;
use crate::domain::campaign::NewRecipient;
use crate::domain::ids::AccountId;
use crate::domain::status::{RecipientStatus, Refusal};
use crate::store::sql::campaigns::CampaignSql;
use crate::store::sql::tallies::NewTallies;
use crate::store::sql::{StoredTime, backend, json_error};
use crate::store::{RecipientSource, StoreResult};

/// Recipients per `COPY … FROM STDIN`: one round trip stores this many, and a chunk stays a
/// few MiB.
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
        // One COPY per chunk; the next chunk is read (checked, rendered) while PostgreSQL
        // writes this one.
        let (mut first, mut failed) = (0i64, 0i64);
        let mut chunk = recipients.take_chunk(INSERT_CHUNK)?;
        while !chunk.is_empty() {
            tallies.add(&chunk);
            let (stored, following) =
                Self::insert_rows_while(conn, seq, first, now, &chunk, async {
                    recipients.take_chunk(INSERT_CHUNK)
                })
                .await;
            failed += stored?;
            first += chunk.len() as i64;
            chunk = following?;
        }
        Ok((first, failed))
    }

    const APPEND_CHUNK: usize = INSERT_CHUNK;
    // One probe of the phone index per phone, whatever the planner thinks of the campaign's
    // size: `LIMIT 1` keeps the probe a nested loop (a plain `phone = ANY($2)` became a scan of
    // the whole campaign once it held a few hundred thousand rows, 70 ms a chunk), and `+ 0`
    // keeps it off the campaign's own indexes (a generic plan ANDed them: 96 s).
    const PHONES_IN_CAMPAIGN: &'static str = "SELECT p.phone FROM unnest($2::text[]) AS p(phone), \
         LATERAL (SELECT 1 FROM recipients r WHERE r.phone = p.phone AND r.campaign_seq + 0 = $1 \
         LIMIT 1) AS present";
    const ADD_COUNTS: &'static str = "INSERT INTO campaign_counts AS c (campaign_seq, status, slot, n) \
         VALUES ($1, $2, 0, $3) ON CONFLICT (campaign_seq, status, slot) DO UPDATE SET n = c.n + excluded.n";
    type PhoneList = Vec<String>;

    fn phone_list(phones: Vec<&str>) -> Vec<String> {
        phones.into_iter().map(str::to_owned).collect()
    }

    async fn insert_rows_while<T: Send>(
        conn: &mut PgConnection,
        seq: i64,
        first: i64,
        now: StoredTime,
        rows: &[NewRecipient],
        meanwhile: impl Future<Output = T> + Send,
    ) -> (StoreResult<i64>, T) {
        let failed = rows.iter().filter(|r| r.opted_out || r.no_consent).count() as i64;
        // The rows are sent first, then `meanwhile` runs while PostgreSQL writes them (it
        // reads the COPY's data as fast as it stores it) and until it says it is done.
        let copy = match start_copy(conn, seq, first, now, rows).await {
            Ok(copy) => copy,
            Err(e) => return (Err(e), meanwhile.await),
        };
        let (done, other) = tokio::join!(copy.finish(), meanwhile);
        (done.map(|_| failed).map_err(backend), other)
    }
}

/// Appends `text` to a `COPY … FROM STDIN` (text format) row: backslash, tab, newline and
/// carriage return escaped, the rest as is (no byte of a multi-byte UTF-8 character is one
/// of them).
fn copy_field(row: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        row.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => row.extend_from_slice(b"\\\\"),
            b'\t' => row.extend_from_slice(b"\\t"),
            b'\n' => row.extend_from_slice(b"\\n"),
            b'\r' => row.extend_from_slice(b"\\r"),
            _ => row.push(b),
        }
    }
}

/// `chunk` as the rows of a `COPY recipients (…) FROM STDIN` in text format, recipients of
/// campaign `seq` at positions from `first`, each `pending` or failed at once (opted out, no
/// consent) with its refusal.
fn copy_rows(
    seq: i64,
    first: i64,
    now: StoredTime,
    chunk: &[NewRecipient],
) -> StoreResult<Vec<u8>> {
    use std::io::Write;
    let now = now
        .get()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| crate::store::StoreError::Backend(Box::new(e)))?;
    let mut rows = Vec::with_capacity(chunk.len() * 256);
    for (i, r) in chunk.iter().enumerate() {
        let variables = serde_json::to_string(&r.variables).map_err(json_error)?;
        // Integers and fixed words need no escaping.
        let _ = write!(rows, "{seq}\t{}\t", first + i as i64);
        copy_field(&mut rows, r.phone.as_str());
        rows.push(b'\t');
        copy_field(&mut rows, &variables);
        rows.push(b'\t');
        copy_field(&mut rows, &r.body);
        let _ = write!(rows, "\t{}\t", r.segments);
        copy_field(&mut rows, r.from_number.as_str());
        match Refusal::of_new(r.opted_out, r.no_consent) {
            Some(refusal) => {
                let _ = write!(rows, "\t{}\t", RecipientStatus::Failed.as_str());
                copy_field(&mut rows, refusal.code);
                rows.push(b'\t');
                copy_field(&mut rows, refusal.message);
            }
            None => {
                let _ = write!(rows, "\t{}\t\\N\t\\N", RecipientStatus::Pending.as_str());
            }
        }
        let _ = writeln!(rows, "\t{now}");
    }
    Ok(rows)
}

/// Starts the `COPY … FROM STDIN` (PostgreSQL's bulk load: no parameters to bind, no plan,
/// rows parsed as they stream in) of `chunk` as recipients of campaign `seq` at positions from
/// `first`, and sends every row; the caller ends it (`finish`).
async fn start_copy<'c>(
    conn: &'c mut PgConnection,
    seq: i64,
    first: i64,
    now: StoredTime,
    chunk: &[NewRecipient],
) -> StoreResult<PgCopyIn<&'c mut PgConnection>> {
    let rows = copy_rows(seq, first, now, chunk)?;
    let mut copy = conn
        .copy_in_raw(
            "COPY recipients (campaign_seq, position, phone, variables, body, segments, \
             from_number, status, error_code, error_message, updated_at) FROM STDIN",
        )
        .await
        .map_err(backend)?;
    if let Err(e) = copy.send(rows).await {
        // Ends the COPY (and with it the statement) before the error goes up.
        let _ = copy.abort(e.to_string()).await;
        return Err(backend(e));
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::copy_field;

    #[test]
    fn copy_fields_escape_what_copy_text_format_reads_as_syntax() {
        let mut row = Vec::new();
        copy_field(&mut row, "a\\b\tc\nd\re é");
        assert_eq!(row, "a\\\\b\\tc\\nd\\re é".as_bytes());
        let mut plain = Vec::new();
        copy_field(&mut plain, "{\"name\":\"Zoë\"}");
        assert_eq!(plain, "{\"name\":\"Zoë\"}".as_bytes());
    }
}
