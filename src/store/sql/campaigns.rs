//! [`CampaignStore`](crate::store::CampaignStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism); each backend inserts a new campaign's recipients its own
//! way ([`CampaignSql`]): the bulk insert is what differs most.

use super::tallies::NewTallies;
use super::{Backend, Conn, StoredTime};
use crate::domain::campaign::NewRecipient;
use crate::domain::ids::AccountId;
use crate::store::{RecipientSource, StoreResult};

/// What each backend writes its own way when creating a campaign.
pub(in crate::store) trait CampaignSql: Backend + Sized {
    /// Holds the sending numbers until the transaction ends, so that deleting one waits for
    /// the campaign (PostgreSQL); nothing on SQLite, whose single writer serialises both.
    async fn hold_numbers(
        conn: &mut Conn<Self>,
        account: &AccountId,
        phones: &[String],
    ) -> StoreResult<()>;
    /// Recipients per chunk of a bulk insert (create, append).
    const BULK_CHUNK: usize;
    /// Adds `$3` to the count of status `$2` of campaign `$1`.
    const ADD_COUNTS: &'static str;
    /// Campaign `$1`'s recipients after position `$2` (-1: all), as a condition on
    /// `recipients`; [`Self::BY_POSITION`] orders them by position. SQLite finds them by its
    /// index on (campaign, position); PostgreSQL as a range of ids, which are the campaign's
    /// key × 2³² + the position (migrations/postgres/0017_recipient_rows.sql).
    const AFTER_POSITION: &'static str;
    /// The key that orders [`Self::AFTER_POSITION`]'s recipients by position.
    const BY_POSITION: &'static str;
    /// A list of text as one parameter (JSON on SQLite, an array on PostgreSQL).
    type PhoneList;
    /// `phones` as that parameter.
    fn phone_list(phones: Vec<&str>) -> Self::PhoneList;
    /// A chunk of recipients made ready to store (PostgreSQL: a COPY's bytes; SQLite:
    /// multi-row INSERTs), with how many of them fail at once (opted out, no consent).
    type Ready: Send;
    /// Makes `rows` ready to store as recipients of campaign `seq` at positions from `first`.
    fn ready_rows(
        seq: i64,
        first: i64,
        now: StoredTime,
        rows: &[NewRecipient],
    ) -> StoreResult<Self::Ready>;
    /// Stores `ready` and runs `meanwhile` once its rows are with the database, so that
    /// preparing the next chunk (checking, rendering, looking up duplicates, encoding)
    /// overlaps the database's writing of this one; returns how many of the rows fail at once,
    /// and what `meanwhile` gave.
    async fn insert_ready_while<T: Send>(
        conn: &mut Conn<Self>,
        ready: Self::Ready,
        meanwhile: impl Future<Output = T> + Send,
    ) -> (StoreResult<i64>, T);
}

/// Recipients in the first chunk of a bulk insert: few, so that the database starts writing
/// soon.
const FIRST_CHUNK: usize = 1_000;

/// How many recipients the chunk after `taken` of them takes.
pub(in crate::store) fn chunk_size<S: CampaignSql>(taken: usize) -> usize {
    if taken == 0 {
        S::BULK_CHUNK.min(FIRST_CHUNK)
    } else {
        S::BULK_CHUNK
    }
}

/// Stores campaign `seq`'s recipients at positions from `start`, read from `recipients`
/// chunk by chunk, in bulk: each chunk is read (checked, rendered; for an append, its phones
/// looked up) and made ready while the database writes the previous one. Returns how many
/// there were and how many failed at once (opted out, no consent), and adds them to
/// `tallies`.
pub(in crate::store) async fn insert_recipients<S: CampaignSql>(
    conn: &mut Conn<S>,
    seq: i64,
    start: i64,
    now: StoredTime,
    recipients: &mut dyn RecipientSource,
    tallies: &mut NewTallies,
) -> StoreResult<(i64, i64)> {
    let mut next_chunk = |first: i64| {
        let chunk = recipients.take_chunk(chunk_size::<S>((first - start) as usize))?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let ready = S::ready_rows(seq, first, now, &chunk)?;
        StoreResult::Ok(Some((chunk, ready)))
    };
    let (mut first, mut failed) = (start, 0i64);
    let mut current = next_chunk(first)?;
    while let Some((chunk, ready)) = current {
        tallies.add(&chunk);
        let following_first = first + chunk.len() as i64;
        let (stored, following) =
            S::insert_ready_while(conn, ready, async { next_chunk(following_first) }).await;
        failed += stored?;
        first = following_first;
        current = following?;
    }
    Ok((first - start, failed))
}

/// Writes `impl CampaignStore for $store`.
macro_rules! campaign_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::campaigns::CampaignSql;
            use $crate::store::sql::prelude::*;
            use $crate::store::sql::tallies::NewTallies;
            use $crate::store::sql::draft_phones::NewToDraft;

            impl $store {
                /// The counts of campaigns `seqs`, from the counts cache.
                async fn counts_for(&self, seqs: &[i64]) -> StoreResult<HashMap<i64, Counts>> {
                    let mut out: HashMap<i64, Counts> = HashMap::new();
                    if seqs.is_empty() {
                        return Ok(out);
                    }
                    // A few rows per campaign (on PostgreSQL, a few per server process: see
                    // migrations/postgres/0004_counts.sql).
                    let rows: Vec<(i64, String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT campaign_seq, status, CAST(SUM(n) AS BIGINT) AS n \
                         FROM campaign_counts WHERE campaign_seq {} \
                         GROUP BY campaign_seq, status HAVING SUM(n) <> 0",
                        Self::IN_LIST_1
                    )))
                    .bind(Self::id_list(seqs))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    for (seq, status, n) in rows {
                        out.entry(seq)
                            .or_default()
                            .add(recipient_status(&status)?, n as u64);
                    }
                    Ok(out)
                }

                /// Tallies of campaign `seq` from its queue and error rows (cached or
                /// aggregated), with when its last hold ends if any recipient is held.
                async fn tallies_of(
                    &self,
                    seq: i64,
                    queues: Vec<(String, i64, i64, i64)>,
                    errors: Vec<(String, Option<String>, i64)>,
                ) -> StoreResult<CampaignTallies> {
                    let mut tallies = $crate::store::sql::campaigns::tallies(queues, errors);
                    if tallies.held > 0 {
                        tallies.last_hold_ends = self.last_hold_ends(seq).await?;
                    }
                    Ok(tallies)
                }

                /// The latest `held_until` of campaign `seq`'s held recipients: one step down
                /// the partial index `recipients_held` (campaign, held_until).
                async fn last_hold_ends(&self, seq: i64) -> StoreResult<Option<OffsetDateTime>> {
                    let at: Option<StoredTime> = sqlx::query_scalar(
                        "SELECT held_until FROM recipients WHERE campaign_seq = $1 \
                         AND status = 'pending' AND held_until IS NOT NULL \
                         ORDER BY held_until DESC LIMIT 1",
                    )
                    .bind(seq)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(at.map(StoredTime::get))
                }

                /// A user campaign's internal key.
                async fn campaign_seq(&self, account: &AccountId, id: &CampaignId) -> StoreResult<i64> {
                    sqlx::query_scalar(
                        "SELECT seq FROM campaigns WHERE id = $1 AND account_id = $2 \
                         AND kind = 'campaign'",
                    )
                    .bind(id.as_str())
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)
                }

                /// A user campaign's key and status, locked with `lock` for the transaction.
                async fn campaign_status_in(
                    conn: &mut Conn<Self>,
                    account: &AccountId,
                    id: &CampaignId,
                    lock: &str,
                ) -> StoreResult<(i64, CampaignStatus, Option<StoredTime>)> {
                    let (seq, status, scheduled_at): (i64, String, Option<StoredTime>) =
                        sqlx::query_as(AssertSqlSafe(format!(
                            "SELECT seq, status, scheduled_at FROM campaigns WHERE id = $1 \
                             AND account_id = $2 AND kind = 'campaign'{lock}"
                        )))
                        .bind(id.as_str())
                        .bind(account.as_str())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(backend)?
                        .ok_or(StoreError::NotFound)?;
                    Ok((seq, campaign_status(&status)?, scheduled_at))
                }
            }

            #[async_trait]
            impl CampaignStore for $store {
                async fn create_campaign(
                    &self,
                    new: &NewCampaign,
                    recipients: &mut dyn RecipientSource,
                    idempotency: Option<&IdempotencyKey>,
                ) -> StoreResult<Created> {
                    let now = stored(new.created_at);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    if let Some(idem) = idempotency {
                        // Claim the key before anything else. A concurrent create with the same
                        // key (on any node) waits here until this transaction ends; if it
                        // commits, the other finds the key taken and replays this campaign; if
                        // it rolls back (as returning early here does), the other goes ahead.
                        let claimed = sqlx::query(
                            "INSERT INTO idempotency_keys (account_id, key, request_hash, \
                             campaign_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (account_id, key) DO NOTHING",
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
                    Self::hold_numbers(&mut tx, &new.account_id, &new.from_numbers).await?;
                    let started_at = (new.status == CampaignStatus::Running).then_some(now);
                    let seq: i64 = sqlx::query_scalar(
                        "INSERT INTO campaigns (id, account_id, agent_id, name, message_template, \
                         from_numbers, status, source, scheduled_at, duplicates_removed, \
                         created_at, started_at, require_consent, respect_send_window, \
                         send_window_reason, resend_of) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, \
                         $15) \
                         RETURNING seq",
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
                    .bind(new.respect_send_window)
                    .bind(&new.send_window_reason)
                    .bind(new.resend_of.as_ref().map(CampaignId::as_str))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let mut tallies = NewTallies::default();
                    let (total, failed) =
                        $crate::store::sql::campaigns::insert_recipients::<Self>(
                            &mut tx,
                            seq,
                            0,
                            now,
                            recipients,
                            &mut tallies,
                        )
                        .await?;
                    Self::write_tallies(&mut tx, seq, &tallies).await?;
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
                    // The initial counts (on PostgreSQL in the campaign's own rows): nobody
                    // else can see the campaign before this commits, so nothing waits here.
                    for (status, n) in [
                        (RecipientStatus::Pending, total - failed),
                        (RecipientStatus::Failed, failed),
                    ] {
                        if n > 0 {
                            sqlx::query(Self::INSERT_COUNTS)
                                .bind(seq)
                                .bind(status.as_str())
                                .bind(n)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                        }
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(Created::New(new.id.clone()))
                }

                async fn get_campaign(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Campaign> {
                    let row = sqlx::query_as::<_, CampaignRow>(AssertSqlSafe(format!(
                        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 \
                         AND account_id = $2 AND kind = 'campaign'"
                    )))
                    .bind(id.as_str())
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?;
                    let mut campaign = Campaign::try_from(row)?;
                    campaign.counts = self
                        .counts_for(&[campaign.seq])
                        .await?
                        .remove(&campaign.seq)
                        .unwrap_or_default();
                    Ok(campaign)
                }

                async fn list_campaigns(
                    &self,
                    account: &AccountId,
                    before: Option<i64>,
                    limit: u32,
                ) -> StoreResult<Vec<Campaign>> {
                    let rows = sqlx::query_as::<_, CampaignRow>(AssertSqlSafe(format!(
                        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE account_id = $1 \
                         AND kind = 'campaign' AND seq < $2 ORDER BY seq DESC LIMIT $3"
                    )))
                    .bind(account.as_str())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let mut campaigns = rows
                        .into_iter()
                        .map(Campaign::try_from)
                        .collect::<StoreResult<Vec<_>>>()?;
                    let seqs: Vec<i64> = campaigns.iter().map(|c| c.seq).collect();
                    let mut counts = self.counts_for(&seqs).await?;
                    for c in &mut campaigns {
                        c.counts = counts.remove(&c.seq).unwrap_or_default();
                    }
                    Ok(campaigns)
                }

                async fn list_recipients(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                    query: &RecipientQuery,
                ) -> StoreResult<Vec<Recipient>> {
                    let seq = self.campaign_seq(account, id).await?;
                    // Two statements rather than `($4 IS NULL OR status = $4)`, so each gets the
                    // plan that suits it (a status filter walks `recipients_status`).
                    let sql = match query.status {
                        None => format!(
                            "SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE {} \
                             ORDER BY {} LIMIT $3",
                            Self::AFTER_POSITION,
                            Self::BY_POSITION
                        ),
                        Some(_) => format!(
                            "SELECT {RECIPIENT_COLUMNS} FROM recipients \
                             WHERE campaign_seq = $1 AND status = $4 AND position > $2 \
                             ORDER BY position LIMIT $3"
                        ),
                    };
                    let mut q = sqlx::query_as::<_, RecipientRow>(AssertSqlSafe(sql))
                        .bind(seq)
                        .bind(query.after.unwrap_or(-1))
                        .bind(query.limit as i64);
                    if let Some(status) = query.status {
                        q = q.bind(status.as_str());
                    }
                    let rows = q.fetch_all(self.read_pool()).await.map_err(backend)?;
                    rows.into_iter().map(Recipient::try_from).collect()
                }

                async fn cancel_campaign(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                    now: OffsetDateTime,
                ) -> StoreResult<()> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    // PostgreSQL: the strongest row lock. It orders this against a concurrent
                    // finish, launch or promotion on any node, and also against claims and
                    // stored outcomes, which hold the campaign with KEY SHARE (the only lock
                    // that FOR UPDATE excludes and finishing does not).
                    let (seq, status, _) =
                        Self::campaign_status_in(&mut tx, account, id, Self::FOR_UPDATE).await?;
                    let next = status.cancel().map_err(|e| StoreError::Conflict(e.0))?;
                    let now = stored(now);
                    sqlx::query(
                        "UPDATE campaigns SET status = $1, cancelled_at = $2, finished_at = $2 \
                         WHERE seq = $3",
                    )
                    .bind(next.as_str())
                    .bind(now)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query(
                        "UPDATE recipients SET status = 'cancelled', updated_at = $1 \
                         WHERE campaign_seq = $2 AND status = 'pending' AND inflight_since IS NULL",
                    )
                    .bind(now)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if status == CampaignStatus::Draft {
                        Self::drop_draft_phones(&mut tx, seq).await?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn pause_campaign(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                    _now: OffsetDateTime,
                ) -> StoreResult<CampaignStatus> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    // PostgreSQL: the lock cancel takes, for the same reason: it waits for the
                    // claims under way (KEY SHARE) on every node, and every claim after it reads
                    // `paused` and takes nothing. What those claims marked in flight finishes
                    // and is stored as usual (docs/ARCHITECTURE.md §3).
                    let (seq, status, _) =
                        Self::campaign_status_in(&mut tx, account, id, Self::FOR_UPDATE).await?;
                    let next = status.pause().map_err(|e| StoreError::Conflict(e.0))?;
                    sqlx::query("UPDATE campaigns SET status = $1 WHERE seq = $2")
                        .bind(next.as_str())
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(next)
                }

                async fn resume_campaign(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                    now: OffsetDateTime,
                ) -> StoreResult<CampaignStatus> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let (seq, status, scheduled_at) =
                        Self::campaign_status_in(&mut tx, account, id, Self::FOR_NO_KEY_UPDATE)
                            .await?;
                    let now = stored(now);
                    let next = status
                        .resume(scheduled_at.map(StoredTime::get), now.get())
                        .map_err(|e| StoreError::Conflict(e.0))?;
                    // A campaign paused before it started starts now; one paused while running
                    // keeps its first start.
                    sqlx::query(
                        "UPDATE campaigns SET status = $1, \
                         started_at = CASE WHEN $1 = 'running' THEN COALESCE(started_at, $2) \
                                      ELSE started_at END \
                         WHERE seq = $3",
                    )
                    .bind(next.as_str())
                    .bind(now)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(next)
                }

                async fn launch_campaign(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                    now: OffsetDateTime,
                ) -> StoreResult<CampaignStatus> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let (seq, status, scheduled_at) =
                        Self::campaign_status_in(&mut tx, account, id, Self::FOR_NO_KEY_UPDATE)
                            .await?;
                    let now = stored(now);
                    let next = status
                        .launch(scheduled_at.map(StoredTime::get), now.get())
                        .map_err(|e| StoreError::Conflict(e.0))?;
                    sqlx::query("UPDATE campaigns SET status = $1, started_at = $2 WHERE seq = $3")
                        .bind(next.as_str())
                        .bind((next == CampaignStatus::Running).then_some(now))
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    Self::drop_draft_phones(&mut tx, seq).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(next)
                }

                async fn create_test_send(&self, new: &NewTestSend) -> StoreResult<()> {
                    let now = stored(new.created_at);
                    let m = &new.message;
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let seq: i64 = sqlx::query_scalar(
                        "INSERT INTO campaigns (id, account_id, name, message_template, \
                         from_numbers, status, source, kind, created_at, started_at) \
                         VALUES ($1, $2, 'Test send', $3, $4, 'running', 'api', 'test', $5, $5) \
                         RETURNING seq",
                    )
                    .bind(new.id.as_str())
                    .bind(new.account_id.as_str())
                    .bind(&new.message_template)
                    .bind(Json([m.from_number.as_str()]))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let refusal = crate::domain::status::Refusal::of_new(m.opted_out, m.no_consent);
                    let status = if refusal.is_some() {
                        RecipientStatus::Failed
                    } else {
                        RecipientStatus::Pending
                    };
                    sqlx::query(
                        "INSERT INTO recipients (campaign_seq, position, phone, variables, body, \
                         segments, from_number, status, error_code, error_message, updated_at) \
                         VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(seq)
                    .bind(m.phone.as_str())
                    .bind(Json(&m.variables))
                    .bind(&m.body)
                    .bind(m.segments as i32)
                    .bind(m.from_number.as_str())
                    .bind(status.as_str())
                    .bind(refusal.map(|r| r.code))
                    .bind(refusal.map(|r| r.message))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query(Self::INSERT_COUNTS)
                        .bind(seq)
                        .bind(status.as_str())
                        .bind(1i64)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let mut tallies = NewTallies::default();
                    tallies.add_one(m.from_number.as_str(), m.segments, refusal);
                    Self::write_tallies(&mut tx, seq, &tallies).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn get_test_send(
                    &self,
                    account: &AccountId,
                    id: &TestSendId,
                ) -> StoreResult<TestSend> {
                    let found: Option<(i64, StoredTime)> = sqlx::query_as(
                        "SELECT seq, created_at FROM campaigns WHERE id = $1 AND account_id = $2 \
                         AND kind = 'test'",
                    )
                    .bind(id.as_str())
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let (seq, created_at) = found.ok_or(StoreError::NotFound)?;
                    let row = sqlx::query_as::<_, RecipientRow>(AssertSqlSafe(format!(
                        "SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE {} ORDER BY {} LIMIT 1",
                        Self::AFTER_POSITION,
                        Self::BY_POSITION
                    )))
                    .bind(seq)
                    .bind(-1i64)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?;
                    Ok(TestSend {
                        id: id.clone(),
                        message: Recipient::try_from(row)?,
                        created_at: created_at.get(),
                    })
                }

                async fn append_recipients(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                    recipients: &mut dyn RecipientSource,
                    idempotency: Option<&IdempotencyKey>,
                    now: OffsetDateTime,
                ) -> StoreResult<Appended> {
                    let now = stored(now);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    // The campaign first (lock order: campaign, then its rows), held until the
                    // end, so a launch or a cancel waits for the append, and so does another
                    // append to it (which then sees these phones).
                    let (seq, status, _) =
                        Self::campaign_status_in(&mut tx, account, id, Self::FOR_NO_KEY_UPDATE).await?;
                    if let Some(idem) = idempotency {
                        // As at create: the key is claimed first; a retry finds it and replays.
                        let claimed = sqlx::query(
                            "INSERT INTO idempotency_keys (account_id, key, request_hash, \
                             campaign_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (account_id, key) DO NOTHING",
                        )
                        .bind(account.as_str())
                        .bind(&idem.key)
                        .bind(&idem.request_hash)
                        .bind(id.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?
                        .rows_affected()
                            == 1;
                        if !claimed {
                            let (hash, outcome): (Vec<u8>, Option<String>) = sqlx::query_as(
                                "SELECT request_hash, outcome FROM idempotency_keys \
                                 WHERE account_id = $1 AND key = $2",
                            )
                            .bind(account.as_str())
                            .bind(&idem.key)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                            let replayed = outcome
                                .filter(|_| hash == idem.request_hash)
                                .and_then(|o| serde_json::from_str::<AppendedRows>(&o).ok());
                            return replayed
                                .map(Appended::Replayed)
                                .ok_or(StoreError::IdempotencyMismatch);
                        }
                    }
                    if status != CampaignStatus::Draft {
                        return Err(StoreError::Conflict(format!(
                            "only a draft takes more recipients; this campaign is {}",
                            status.as_str()
                        )));
                    }
                    let last: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT position FROM recipients WHERE {} ORDER BY {} DESC LIMIT 1",
                        Self::AFTER_POSITION,
                        Self::BY_POSITION
                    )))
                    .bind(seq)
                    .bind(-1i64)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let next = last.map_or(0, |p| p + 1);
                    let (draft, rebuilt) = Self::draft_phones_in(&mut tx, seq, next).await?;
                    // The phones the campaign has already are its runs, which this
                    // transaction's lock on the campaign row keeps still (every earlier append
                    // is committed, no other can start); a phone this call repeats is the
                    // checker's duplicate.
                    let mut new_to_draft = NewToDraft::new(recipients, &draft);
                    let mut tallies = NewTallies::default();
                    let (added, failed) = $crate::store::sql::campaigns::insert_recipients::<Self>(
                        &mut tx,
                        seq,
                        next,
                        now,
                        &mut new_to_draft,
                        &mut tallies,
                    )
                    .await?;
                    let (mut rows, added_keys) = new_to_draft.into_rows();
                    rows.added = added as u64;
                    for (status, n) in [
                        (RecipientStatus::Pending, added - failed),
                        (RecipientStatus::Failed, failed),
                    ] {
                        if n > 0 {
                            sqlx::query(Self::ADD_COUNTS)
                                .bind(seq)
                                .bind(status.as_str())
                                .bind(n)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                        }
                    }
                    Self::write_tallies(&mut tx, seq, &tallies).await?;
                    Self::write_draft_phones(&mut tx, seq, draft, rebuilt, added_keys).await?;
                    let dropped = recipients.duplicates_removed() + rows.already_in_campaign.len() as u64;
                    if dropped > 0 {
                        sqlx::query(
                            "UPDATE campaigns SET duplicates_removed = duplicates_removed + $1 \
                             WHERE seq = $2",
                        )
                        .bind(dropped as i64)
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    if let Some(idem) = idempotency {
                        let outcome = serde_json::to_string(&rows).map_err($crate::store::sql::json_error)?;
                        sqlx::query(
                            "UPDATE idempotency_keys SET outcome = $1 WHERE account_id = $2 AND key = $3",
                        )
                        .bind(outcome)
                        .bind(account.as_str())
                        .bind(&idem.key)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(Appended::New(rows))
                }

                async fn aggregate_counts(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Counts> {
                    let seq = self.campaign_seq(account, id).await?;
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT status, COUNT(*) AS n FROM recipients WHERE campaign_seq = $1 \
                         GROUP BY status",
                    )
                    .bind(seq)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    counts(rows)
                }

                async fn campaign_tallies(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                ) -> StoreResult<CampaignTallies> {
                    let seq = self.campaign_seq(account, id).await?;
                    // A few rows per campaign (on PostgreSQL, a few per server process until
                    // the engine folds them: see migrations/postgres/0015_tallies.sql).
                    let queues: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                        "SELECT from_number, CAST(SUM(pending) AS BIGINT), \
                         CAST(SUM(segments) AS BIGINT), CAST(SUM(held) AS BIGINT) \
                         FROM campaign_queues WHERE campaign_seq = $1 GROUP BY from_number \
                         ORDER BY from_number",
                    )
                    .bind(seq)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let errors: Vec<(String, Option<String>, i64)> = sqlx::query_as(
                        "SELECT error_code, MAX(error_message), CAST(SUM(n) AS BIGINT) AS c \
                         FROM campaign_errors WHERE campaign_seq = $1 GROUP BY error_code \
                         HAVING SUM(n) <> 0 ORDER BY c DESC, error_code",
                    )
                    .bind(seq)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    self.tallies_of(seq, queues, errors).await
                }

                async fn aggregate_tallies(
                    &self,
                    account: &AccountId,
                    id: &CampaignId,
                ) -> StoreResult<CampaignTallies> {
                    let seq = self.campaign_seq(account, id).await?;
                    let queues: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                        "SELECT from_number, \
                         CAST(SUM(CASE WHEN held_until IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
                         CAST(SUM(CASE WHEN held_until IS NULL THEN segments ELSE 0 END) AS BIGINT), \
                         CAST(SUM(CASE WHEN held_until IS NULL THEN 0 ELSE 1 END) AS BIGINT) \
                         FROM recipients WHERE campaign_seq = $1 AND status = 'pending' \
                         GROUP BY from_number ORDER BY from_number",
                    )
                    .bind(seq)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let errors: Vec<(String, Option<String>, i64)> = sqlx::query_as(
                        "SELECT error_code, MAX(error_message), COUNT(*) AS n FROM recipients \
                         WHERE campaign_seq = $1 AND status IN ('failed', 'undelivered') \
                         AND error_code IS NOT NULL GROUP BY error_code \
                         ORDER BY n DESC, error_code",
                    )
                    .bind(seq)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    self.tallies_of(seq, queues, errors).await
                }

                async fn number_loads(
                    &self,
                    account: &AccountId,
                    phones: &[String],
                ) -> StoreResult<Vec<NumberLoad>> {
                    if phones.is_empty() {
                        return Ok(Vec::new());
                    }
                    let list = || Self::phone_list(phones.iter().map(String::as_str).collect());
                    let rates: Vec<(String, f64)> = sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT phone, mps FROM numbers WHERE phone {} AND account_id = $2",
                        Self::IN_LIST_1
                    )))
                    .bind(list())
                    .bind(account.as_str())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    // The campaigns with work on these numbers (zero rows are deleted, or
                    // folded away on PostgreSQL), of which the running ones.
                    let queued: Vec<(String, i64, i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT q.from_number, q.campaign_seq, CAST(SUM(q.pending) AS BIGINT), \
                         CAST(SUM(q.segments) AS BIGINT) \
                         FROM campaign_queues q JOIN campaigns c ON c.seq = q.campaign_seq \
                         WHERE q.from_number {} AND c.status = 'running' \
                         GROUP BY q.from_number, q.campaign_seq HAVING SUM(q.pending) > 0 \
                         ORDER BY q.from_number, q.campaign_seq",
                        Self::IN_LIST_1
                    )))
                    .bind(list())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let rates: HashMap<String, f64> = rates.into_iter().collect();
                    let mut loads: Vec<NumberLoad> = phones
                        .iter()
                        .map(|p| NumberLoad {
                            phone: p.clone(),
                            mps: rates.get(p).copied().unwrap_or(1.0),
                            campaigns: Vec::new(),
                        })
                        .collect();
                    for (phone, seq, pending, segments) in queued {
                        if let Some(load) = loads.iter_mut().find(|l| l.phone == phone) {
                            load.campaigns.push(QueuedCampaign {
                                seq,
                                pending: u64::try_from(pending).unwrap_or(0),
                                segments: u64::try_from(segments).unwrap_or(0),
                            });
                        }
                    }
                    Ok(loads)
                }
            }
        };
    };
}

pub(in crate::store) use campaign_store;

/// Tallies from rows of (number, pending, segments, held) and (code, message, count).
pub(in crate::store) fn tallies(
    queues: Vec<(String, i64, i64, i64)>,
    errors: Vec<(String, Option<String>, i64)>,
) -> crate::store::CampaignTallies {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut out = crate::store::CampaignTallies::default();
    for (from_number, pending, segments, held) in queues {
        out.held += count(held);
        if pending > 0 || held > 0 {
            out.queues.push(crate::store::NumberQueue {
                from_number,
                pending: count(pending),
                segments: count(segments),
                held: count(held),
            });
        }
    }
    out.errors = errors
        .into_iter()
        .map(|(error_code, error_message, n)| crate::store::ErrorTally {
            error_code,
            error_message,
            count: count(n),
        })
        .collect();
    out
}
