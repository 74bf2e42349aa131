//! [`ConsentStore`](crate::store::ConsentStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism). Each backend keeps its own ([`ConsentSql`]): how a
//! number's opt-out state is serialised, and how consent records are appended (one at a time
//! on SQLite, in bulk on PostgreSQL).

use time::OffsetDateTime;

use super::{Backend, Conn};
use crate::domain::ids::AccountId;
use crate::store::{ConsentRecord, NewConsent, StoreResult};

/// What each backend writes its own way for [`crate::store::ConsentStore`].
pub(in crate::store) trait ConsentSql: Backend + Sized {
    /// Serialises changes of one number's opt-out state until the transaction ends.
    async fn lock_phone(conn: &mut Conn<Self>, account: &AccountId, phone: &str)
    -> StoreResult<()>;

    /// Appends consent records in order and moves each number's current consent to its
    /// latest record (by time given, then by order of recording). Returns the stored records
    /// in the order given.
    async fn insert_consents(
        conn: &mut Conn<Self>,
        account: &AccountId,
        records: &[NewConsent],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ConsentRecord>>;
}

/// Writes `impl ConsentStore for $store`, and the opt-out and opt-in steps that
/// `receive_inbound` shares.
macro_rules! consent_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::consents::ConsentSql;
            use $crate::store::sql::prelude::*;

            impl $store {
                /// A number's current consent (its latest record's status), if it has one.
                async fn current_consent(
                    conn: &mut Conn<Self>,
                    account: &AccountId,
                    phone: &str,
                ) -> StoreResult<Option<ConsentStatus>> {
                    let status: Option<String> = sqlx::query_scalar(
                        "SELECT status FROM consent_state WHERE account_id = $1 AND phone = $2",
                    )
                    .bind(account.as_str())
                    .bind(phone)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                    Ok(status.as_deref().and_then(ConsentStatus::parse))
                }

                /// Puts the number on the opt-out list, with a `revoked` record when that
                /// changes anything ([`consent::record_needed`]). True when the number was not
                /// opted out before. Takes the number's lock.
                pub(in crate::store) async fn opt_out_in(
                    conn: &mut Conn<Self>,
                    account: &AccountId,
                    event: &ConsentEvent,
                    reason: Option<&str>,
                ) -> StoreResult<bool> {
                    Self::lock_phone(conn, account, &event.phone).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO opt_outs (account_id, phone, source, reason, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, phone) DO NOTHING",
                    )
                    .bind(account.as_str())
                    .bind(&event.phone)
                    .bind(&event.source)
                    .bind(reason)
                    .bind(stored(event.at))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?
                    .rows_affected()
                        == 1;
                    let current = Self::current_consent(conn, account, &event.phone).await?;
                    if consent::record_needed(inserted, current, ConsentStatus::Revoked) {
                        let record = event.record(ConsentStatus::Revoked);
                        Self::insert_consents(conn, account, &[record], event.at).await?;
                    }
                    Ok(inserted)
                }

                /// Takes the number off the opt-out list, with a `granted` record when that
                /// changes anything. Returns whether it was opted out, and the record written.
                /// Takes the number's lock.
                pub(in crate::store) async fn opt_in_in(
                    conn: &mut Conn<Self>,
                    account: &AccountId,
                    event: &ConsentEvent,
                ) -> StoreResult<(bool, Option<ConsentRecord>)> {
                    Self::lock_phone(conn, account, &event.phone).await?;
                    let deleted =
                        sqlx::query("DELETE FROM opt_outs WHERE account_id = $1 AND phone = $2")
                            .bind(account.as_str())
                            .bind(&event.phone)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?
                            .rows_affected()
                            == 1;
                    let current = Self::current_consent(conn, account, &event.phone).await?;
                    if !consent::record_needed(deleted, current, ConsentStatus::Granted) {
                        return Ok((deleted, None));
                    }
                    let record = event.record(ConsentStatus::Granted);
                    let mut stored = Self::insert_consents(conn, account, &[record], event.at).await?;
                    Ok((deleted, stored.pop()))
                }
            }

            #[async_trait]
            impl ConsentStore for $store {
                async fn add_opt_out(
                    &self,
                    account: &AccountId,
                    phone: &str,
                    source: &str,
                    reason: Option<&str>,
                    now: OffsetDateTime,
                ) -> StoreResult<()> {
                    let event = ConsentEvent {
                        phone: phone.to_owned(),
                        source: source.to_owned(),
                        evidence: reason.map(str::to_owned),
                        at: now,
                    };
                    self.opt_out(account, &event, reason).await.map(|_| ())
                }

                async fn opted_out_phones(&self, account: &AccountId) -> StoreResult<HashSet<String>> {
                    let phones: Vec<String> =
                        sqlx::query_scalar("SELECT phone FROM opt_outs WHERE account_id = $1")
                            .bind(account.as_str())
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(backend)?;
                    Ok(phones.into_iter().collect())
                }

                async fn is_opted_out(&self, account: &AccountId, phone: &str) -> StoreResult<bool> {
                    sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE account_id = $1 AND phone = $2)",
                    )
                    .bind(account.as_str())
                    .bind(phone)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(backend)
                }

                async fn list_opt_outs(
                    &self,
                    account: &AccountId,
                    before: Option<(OffsetDateTime, String)>,
                    limit: u32,
                ) -> StoreResult<Vec<OptOut>> {
                    let (at, phone) =
                        before.map_or((END_OF_TIME, String::new()), |(t, p)| (stored(t), p));
                    // A row comparison: (a, b) < (x, y) is a < x OR (a = x AND b < y), and walks
                    // the (account_id, created_at, phone) index.
                    let rows = sqlx::query_as::<_, OptOutRow>(
                        "SELECT phone, source, reason, created_at FROM opt_outs \
                         WHERE account_id = $1 AND (created_at, phone) < ($2, $3) \
                         ORDER BY created_at DESC, phone DESC LIMIT $4",
                    )
                    .bind(account.as_str())
                    .bind(at)
                    .bind(phone)
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(OptOut::from).collect())
                }

                async fn get_opt_out(&self, account: &AccountId, phone: &str) -> StoreResult<Option<OptOut>> {
                    let row = sqlx::query_as::<_, OptOutRow>(
                        "SELECT phone, source, reason, created_at FROM opt_outs \
                         WHERE account_id = $1 AND phone = $2",
                    )
                    .bind(account.as_str())
                    .bind(phone)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(OptOut::from))
                }

                async fn opt_out(
                    &self,
                    account: &AccountId,
                    event: &ConsentEvent,
                    reason: Option<&str>,
                ) -> StoreResult<bool> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let changed = Self::opt_out_in(&mut tx, account, event, reason).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(changed)
                }

                async fn remove_opt_out(
                    &self,
                    account: &AccountId,
                    event: &ConsentEvent,
                ) -> StoreResult<ConsentRecord> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let (deleted, record) = Self::opt_in_in(&mut tx, account, event).await?;
                    let (true, Some(record)) = (deleted, record) else {
                        return Err(StoreError::NotFound);
                    };
                    tx.commit().await.map_err(backend)?;
                    Ok(record)
                }

                async fn add_consents(
                    &self,
                    account: &AccountId,
                    records: &[NewConsent],
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<ConsentRecord>> {
                    if records.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let stored = Self::insert_consents(&mut tx, account, records, now).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(stored)
                }

                async fn list_consents(
                    &self,
                    account: &AccountId,
                    phone: Option<&str>,
                    before: Option<i64>,
                    limit: u32,
                ) -> StoreResult<Vec<ConsentRecord>> {
                    let rows = sqlx::query_as::<_, ConsentRow>(
                        "SELECT seq, id, phone, status, source, evidence, occurred_at, recorded_at \
                         FROM consents WHERE account_id = $1 AND ($2 OR phone = $3) AND seq < $4 \
                         ORDER BY seq DESC LIMIT $5",
                    )
                    .bind(account.as_str())
                    .bind(phone.is_none())
                    .bind(phone)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(ConsentRecord::try_from).collect()
                }

                async fn consent_status(
                    &self,
                    account: &AccountId,
                    phone: &str,
                ) -> StoreResult<Option<ConsentStatus>> {
                    let mut conn = self.read_pool().acquire().await.map_err(backend)?;
                    Self::current_consent(&mut conn, account, phone).await
                }

                async fn consented_phones(&self, account: &AccountId) -> StoreResult<HashSet<String>> {
                    let phones: Vec<String> = sqlx::query_scalar(
                        "SELECT phone FROM consent_state WHERE account_id = $1 AND status = 'granted'",
                    )
                    .bind(account.as_str())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(phones.into_iter().collect())
                }
            }
        };
    };
}

pub(in crate::store) use consent_store;
