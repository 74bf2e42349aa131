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
use crate::store::StoreResult;
use crate::store::sql::campaigns::CampaignSql;
use crate::store::sql::{StoredTime, backend, json_error};

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

    const BULK_CHUNK: usize = INSERT_CHUNK;
    const AFTER_POSITION: &'static str = "id > $1 * 4294967296 + $2 AND id < ($1 + 1) * 4294967296";
    const BY_POSITION: &'static str = "id";
    const ADD_COUNTS: &'static str = "INSERT INTO campaign_counts AS c (campaign_seq, status, slot, n) \
         VALUES ($1, $2, 0, $3) ON CONFLICT (campaign_seq, status, slot) DO UPDATE SET n = c.n + excluded.n";
    type PhoneList = Vec<String>;

    fn phone_list(phones: Vec<&str>) -> Vec<String> {
        phones.into_iter().map(str::to_owned).collect()
    }

    type Ready = (Vec<u8>, i64);

    fn ready_rows(
        seq: i64,
        first: i64,
        now: StoredTime,
        rows: &[NewRecipient],
    ) -> StoreResult<Self::Ready> {
        let failed = rows.iter().filter(|r| r.opted_out || r.no_consent).count() as i64;
        Ok((copy_rows(seq, first, now, rows)?, failed))
    }

    async fn insert_ready_while<T: Send>(
        conn: &mut PgConnection,
        (rows, failed): Self::Ready,
        meanwhile: impl Future<Output = T> + Send,
    ) -> (StoreResult<i64>, T) {
        // The rows are sent first, then `meanwhile` runs while PostgreSQL writes them (it
        // reads the COPY's data as fast as it stores it) and until it says it is done.
        let copy = match start_copy(conn, rows).await {
            Ok(copy) => copy,
            Err(e) => return (Err(e), meanwhile.await),
        };
        let (done, other) = tokio::join!(copy.finish(), meanwhile);
        (done.map(|_| failed).map_err(backend), other)
    }
}

/// The rows of a `COPY … FROM STDIN (FORMAT binary)`: PostgreSQL takes each field as it is
/// stored (numbers and times with nothing to parse, texts with nothing to escape). Measured
/// alone, loading 100,000 recipients this way took about a tenth less of PostgreSQL's time than
/// the text format; within an append's noise it shows no difference.
struct BinaryRows(Vec<u8>);

impl BinaryRows {
    /// The stream's header: signature, no flags, no extension.
    fn new(rows: usize, fields: i16) -> Self {
        let mut out = Vec::with_capacity(19 + rows * (2 + fields as usize * 4 + 200));
        out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        Self(out)
    }

    fn row(&mut self, fields: i16) {
        self.0.extend_from_slice(&fields.to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) -> StoreResult<()> {
        let len = i32::try_from(bytes.len())
            .map_err(|e| crate::store::StoreError::Backend(Box::new(e)))?;
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn null(&mut self) {
        self.0.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn int8(&mut self, v: i64) {
        self.0.extend_from_slice(&8i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn int4(&mut self, v: i32) {
        self.0.extend_from_slice(&4i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    /// The trailer, and the bytes.
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}

/// Microseconds from PostgreSQL's epoch (2000-01-01 UTC) to `t`: a `timestamptz`'s binary form.
fn pg_micros(t: time::OffsetDateTime) -> i64 {
    const PG_EPOCH_UNIX_MICROS: i128 = 946_684_800_000_000;
    let micros = t.unix_timestamp_nanos() / 1_000 - PG_EPOCH_UNIX_MICROS;
    micros.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `chunk` as the rows of a binary `COPY recipients (…) FROM STDIN`, recipients of campaign
/// `seq` at positions from `first`, each `pending` or failed at once (opted out, no consent)
/// with its refusal.
fn copy_rows(
    seq: i64,
    first: i64,
    now: StoredTime,
    chunk: &[NewRecipient],
) -> StoreResult<Vec<u8>> {
    const FIELDS: i16 = 11;
    let now = pg_micros(now.get());
    let mut rows = BinaryRows::new(chunk.len(), FIELDS);
    for (i, r) in chunk.iter().enumerate() {
        let variables = serde_json::to_string(&r.variables).map_err(json_error)?;
        rows.row(FIELDS);
        rows.int8(seq);
        rows.int8(first + i as i64);
        rows.field(r.phone.as_str().as_bytes())?;
        rows.field(variables.as_bytes())?; // `json`'s binary form is its text
        rows.field(r.body.as_bytes())?;
        rows.int4(i32::try_from(r.segments).unwrap_or(i32::MAX));
        rows.field(r.from_number.as_str().as_bytes())?;
        match Refusal::of_new(r.opted_out, r.no_consent) {
            Some(refusal) => {
                rows.field(RecipientStatus::Failed.as_str().as_bytes())?;
                rows.field(refusal.code.as_bytes())?;
                rows.field(refusal.message.as_bytes())?;
            }
            None => {
                rows.field(RecipientStatus::Pending.as_str().as_bytes())?;
                rows.null();
                rows.null();
            }
        }
        rows.int8(now);
    }
    Ok(rows.finish())
}

/// Starts the `COPY … FROM STDIN` (PostgreSQL's bulk load: no parameters to bind, no plan)
/// of recipients encoded by [`copy_rows`], and sends every row; the caller ends it (`finish`).
async fn start_copy(
    conn: &mut PgConnection,
    rows: Vec<u8>,
) -> StoreResult<PgCopyIn<&mut PgConnection>> {
    let mut copy = conn
        .copy_in_raw(
            "COPY recipients (campaign_seq, position, phone, variables, body, segments, \
             from_number, status, error_code, error_message, updated_at) FROM STDIN \
             (FORMAT binary)",
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
    use super::*;
    use crate::domain::phone::Phone;

    #[test]
    fn a_timestamptz_counts_microseconds_from_2000() {
        let t = time::macros::datetime!(2000-01-01 00:00:00.001 UTC);
        assert_eq!(pg_micros(t), 1_000);
        let t = time::macros::datetime!(1999-12-31 23:59:59 UTC);
        assert_eq!(pg_micros(t), -1_000_000);
    }

    #[test]
    fn binary_rows_are_framed_as_postgresql_reads_them() {
        let mut rows = BinaryRows::new(1, 3);
        rows.row(3);
        rows.int8(7);
        rows.field("a\tb\\".as_bytes()).unwrap();
        rows.null();
        let bytes = rows.finish();
        let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 3]);
        expected.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(&[0, 0, 0, 4, b'a', b'\t', b'b', b'\\']);
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_recipient_is_eleven_fields_and_its_variables_are_json_text() {
        let phone = Phone::parse("+447111000001").unwrap();
        let r = NewRecipient {
            phone: phone.clone(),
            variables: serde_json::Map::from_iter([("n".to_owned(), "Zoë".into())]),
            body: "Hi Zoë".to_owned(),
            segments: 1,
            encoding: crate::domain::segments::Encoding::Ucs2,
            from_number: phone,
            opted_out: false,
            no_consent: false,
        };
        let now = StoredTime::from(time::macros::datetime!(2000-01-01 00:00:01 UTC));
        let bytes = copy_rows(3, 10, now, std::slice::from_ref(&r)).unwrap();
        let body = &bytes[19..bytes.len() - 2];
        assert_eq!(&body[..2], &11i16.to_be_bytes());
        let json = "{\"n\":\"Zoë\"}".as_bytes();
        let at = body
            .windows(json.len())
            .position(|w| w == json)
            .expect("the variables");
        let len = u32::from_be_bytes(body[at - 4..at].try_into().unwrap());
        assert_eq!(
            len as usize,
            json.len(),
            "json's binary form is its text, nothing before it"
        );
        assert_eq!(&body[body.len() - 8..], &1_000_000i64.to_be_bytes());
    }
}
