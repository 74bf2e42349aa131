//! The PostgreSQL store: several Herald nodes sharing one database (docs/ARCHITECTURE.md §4, §8).
//!
//! Observable behaviour is the SQLite store's, method for method; what changes is how
//! concurrent nodes are kept apart, since PostgreSQL runs their transactions side by side:
//!
//! - work is claimed with `FOR UPDATE SKIP LOCKED`, so two nodes never claim one recipient;
//! - promotion and finishing lock the campaign rows they change (`SKIP LOCKED` again), so
//!   each campaign is promoted or finished once, whichever node gets there first;
//! - the idempotency key is inserted first (`ON CONFLICT DO NOTHING`) in the create's
//!   transaction: a concurrent create with the same key waits on it, then replays;
//! - a cancellation locks its campaign exclusively, while claims and stored outcomes hold
//!   it shared, so no recipient is claimed, retried or released into a cancelled campaign;
//! - transactions that touch both take campaign rows before recipient rows, each in key
//!   order, so they cannot deadlock one another;
//! - times are written at millisecond precision, as SQLite keeps them;
//! - the counts cache (`campaign_counts`) has rows per server process, so status changes on
//!   several nodes never wait for one another there (migrations/postgres/0004_counts.sql,
//!   `fold_counts`);
//! - replies, opt-outs and consents are in `postgres_replies`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;

use super::*;

/// PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// The same server without a statement timeout, for migrations (which may wait on
    /// another node's migration lock for longer than any one query should run).
    migrate_with: PgConnectOptions,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connect options: they hold the password.
        f.debug_struct("PgStore")
            .field(
                "max_connections",
                &self.pool.options().get_max_connections(),
            )
            .finish_non_exhaustive()
    }
}

pub(super) fn backend(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict("already exists".into());
        }
        if db.is_foreign_key_violation() {
            return StoreError::Conflict("still in use".into());
        }
    }
    StoreError::Backend(Box::new(e))
}

pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Backend(format!("unexpected value in the database: {what}").into())
}

/// A time as stored: UTC, cut to the millisecond (SQLite stores Unix milliseconds, and both
/// backends must give back the same instants).
pub(super) fn ms(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// Columns of `campaigns` read into a [`Campaign`] (counts filled in afterwards).
const CAMPAIGN_COLUMNS: &str = "seq, id, name, message_template, agent_id, from_numbers, status, source, \
     scheduled_at, duplicates_removed, created_at, started_at, finished_at, require_consent";

fn campaign_from_row(row: &PgRow) -> StoreResult<Campaign> {
    let status: String = row.get("status");
    let source: String = row.get("source");
    let Json(from_numbers): Json<Vec<String>> = row.get("from_numbers");
    Ok(Campaign {
        seq: row.get("seq"),
        id: CampaignId::from_trusted(row.get("id")),
        name: row.get("name"),
        message_template: row.get("message_template"),
        agent_id: row.get("agent_id"),
        from_numbers,
        status: CampaignStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("campaign status {status:?}")))?,
        source: Source::parse(&source).ok_or_else(|| corrupt(format!("source {source:?}")))?,
        scheduled_at: row.get("scheduled_at"),
        duplicates_removed: row.get::<i64, _>("duplicates_removed") as u64,
        created_at: row.get("created_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        require_consent: row.get("require_consent"),
        counts: Counts::default(),
    })
}

fn agent_from_row(row: &PgRow) -> Agent {
    Agent {
        id: AgentId::from_trusted(row.get("id")),
        name: row.get("name"),
        system_prompt: row.get("system_prompt"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn number_from_row(row: &PgRow) -> Number {
    Number {
        phone: row.get("phone"),
        mps: row.get("mps"),
        agent_id: row
            .get::<Option<String>, _>("agent_id")
            .map(AgentId::from_trusted),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn key_from_row(row: &PgRow) -> ApiKey {
    ApiKey {
        id: KeyId::from_trusted(row.get("id")),
        name: row.get("name"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    }
}

fn recipient_from_row(row: &PgRow) -> StoreResult<Recipient> {
    let status: String = row.get("status");
    let Json(variables): Json<Map<String, Value>> = row.get("variables");
    Ok(Recipient {
        position: row.get("position"),
        phone: row.get("phone"),
        variables,
        body: row.get("body"),
        segments: row.get::<i32, _>("segments") as u32,
        from_number: row.get("from_number"),
        status: RecipientStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("recipient status {status:?}")))?,
        twilio_sid: row.get("twilio_sid"),
        error_code: row.get("error_code"),
        error_message: row.get("error_message"),
        updated_at: row.get("updated_at"),
    })
}

/// Recipients per `INSERT … SELECT FROM UNNEST(…)`: one round trip stores this many,
/// whatever their number (arrays are single parameters), and a chunk stays a few MiB.
const INSERT_CHUNK: usize = 5_000;

/// Error code and message of a recipient who opted out (the same words as SQLite's store).
const OPTED_OUT_CODE: &str = "opted_out";
const OPTED_OUT_MESSAGE: &str = "the recipient opted out of messages from this account";
/// Error code and message of a recipient that a `require_consent` campaign does not send to.
const NO_CONSENT_CODE: &str = "no_consent";
const NO_CONSENT_MESSAGE: &str =
    "the campaign requires consent and this number has no granted consent record";

/// `record_results` for a batch that names each recipient once: one statement per kind of
/// outcome, over arrays.
async fn record_by_kind(
    conn: &mut PgConnection,
    results: &[SendResult],
    now: OffsetDateTime,
) -> StoreResult<()> {
    #[derive(Default)]
    struct Columns<'a> {
        ids: Vec<i64>,
        attempts: Vec<&'a str>,
        texts: [Vec<&'a str>; 2],
        ranks: Vec<i32>,
        times: Vec<OffsetDateTime>,
    }
    impl<'a> Columns<'a> {
        fn push(&mut self, id: i64, attempt: &'a str, texts: &[&'a str]) {
            self.ids.push(id);
            self.attempts.push(attempt);
            for (column, text) in self.texts.iter_mut().zip(texts) {
                column.push(text);
            }
        }
    }
    let mut accepted = Columns::default();
    let mut failed = Columns::default();
    let mut retry = Columns::default();
    let mut unknown = Columns::default();
    let mut released = Columns::default();
    for result in results {
        match result {
            SendResult::Accepted {
                id,
                attempt_id,
                sid,
                status,
            } => {
                accepted.push(*id, attempt_id, &[sid, status.as_str()]);
                accepted.ranks.push(status.rank() as i32);
            }
            SendResult::Failed {
                id,
                attempt_id,
                code,
                message,
            } => failed.push(*id, attempt_id, &[code, message]),
            SendResult::Retry {
                id,
                attempt_id,
                not_before,
                code,
                message,
            } => {
                retry.push(*id, attempt_id, &[code, message]);
                retry.times.push(ms(*not_before));
            }
            SendResult::Unknown {
                id,
                attempt_id,
                message,
            } => unknown.push(*id, attempt_id, &[message]),
            SendResult::Released { id, attempt_id } => released.push(*id, attempt_id, &[]),
        }
    }
    if !accepted.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET twilio_sid = COALESCE(r.twilio_sid, v.sid), \
             status = CASE WHEN (CASE r.status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                 WHEN 'sent' THEN 2 ELSE 3 END) < v.rank THEN v.status ELSE r.status END, \
             error_code = CASE WHEN r.status = 'pending' THEN NULL ELSE r.error_code END, \
             error_message = CASE WHEN r.status = 'pending' THEN NULL ELSE r.error_message END, \
             inflight_since = NULL, reconcile = false, next_attempt_at = NULL, \
             submitted_at = COALESCE(r.submitted_at, $1), updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::int4[]) \
                 AS v(id, attempt, sid, status, rank) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt",
        )
        .bind(now)
        .bind(&accepted.ids)
        .bind(&accepted.attempts)
        .bind(&accepted.texts[0])
        .bind(&accepted.texts[1])
        .bind(&accepted.ranks)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !failed.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET status = 'failed', error_code = v.code, \
             error_message = v.message, inflight_since = NULL, reconcile = false, updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[]) \
                 AS v(id, attempt, code, message) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.status = 'pending'",
        )
        .bind(now)
        .bind(&failed.ids)
        .bind(&failed.attempts)
        .bind(&failed.texts[0])
        .bind(&failed.texts[1])
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !retry.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET inflight_since = NULL, reconcile = false, \
             next_attempt_at = v.not_before, error_code = v.code, error_message = v.message, \
             updated_at = $1, \
             status = CASE WHEN (SELECT c.status FROM campaigns c WHERE c.seq = r.campaign_seq) \
                 = 'cancelled' THEN 'cancelled' ELSE r.status END \
             FROM UNNEST($2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) \
                 AS v(id, attempt, not_before, code, message) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.status = 'pending' \
             AND r.inflight_since IS NOT NULL",
        )
        .bind(now)
        .bind(&retry.ids)
        .bind(&retry.attempts)
        .bind(&retry.times)
        .bind(&retry.texts[0])
        .bind(&retry.texts[1])
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !unknown.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET reconcile = true, error_message = v.message, updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS v(id, attempt, message) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.inflight_since IS NOT NULL",
        )
        .bind(now)
        .bind(&unknown.ids)
        .bind(&unknown.attempts)
        .bind(&unknown.texts[0])
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if !released.ids.is_empty() {
        sqlx::query(
            "UPDATE recipients AS r SET inflight_since = NULL, reconcile = false, \
             attempts = r.attempts - 1, updated_at = $1, \
             status = CASE WHEN (SELECT c.status FROM campaigns c WHERE c.seq = r.campaign_seq) \
                 = 'cancelled' THEN 'cancelled' ELSE r.status END \
             FROM UNNEST($2::bigint[], $3::text[]) AS v(id, attempt) \
             WHERE r.id = v.id AND r.attempt_id = v.attempt AND r.status = 'pending' \
             AND r.inflight_since IS NOT NULL",
        )
        .bind(now)
        .bind(&released.ids)
        .bind(&released.attempts)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

impl PgStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`): a pool of
    /// `options.max_connections`, every session with `options.statement_timeout`.
    pub async fn connect(url: &str, options: &DbOptions) -> anyhow::Result<Self> {
        let base = PgConnectOptions::from_str(url)?.application_name("herald");
        let pooled = base.clone().options([(
            "statement_timeout",
            options.statement_timeout.as_millis().to_string(),
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(pooled)
            .await?;
        Ok(Self {
            pool,
            // Explicitly no limit, whatever the server, database or role default says.
            migrate_with: base.options([("statement_timeout", "0")]),
        })
    }

    async fn counts_for(&self, seqs: &[i64]) -> StoreResult<HashMap<i64, Counts>> {
        let mut out: HashMap<i64, Counts> = HashMap::new();
        if seqs.is_empty() {
            return Ok(out);
        }
        // The cache: a few rows per campaign (see migrations/postgres/0004_counts.sql).
        let rows = sqlx::query(
            "SELECT campaign_seq, status, SUM(n)::bigint AS n FROM campaign_counts \
             WHERE campaign_seq = ANY($1) GROUP BY campaign_seq, status HAVING SUM(n) <> 0",
        )
        .bind(seqs)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for row in rows {
            let status: String = row.get("status");
            let status = RecipientStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("recipient status {status:?}")))?;
            out.entry(row.get("campaign_seq"))
                .or_default()
                .add(status, row.get::<i64, _>("n") as u64);
        }
        Ok(out)
    }

    async fn campaign_seq(&self, account: &AccountId, id: &CampaignId) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT seq FROM campaigns WHERE id = $1 AND account_id = $2 AND kind = 'campaign'",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)
    }

    /// Folds the per-backend rows of `campaign_counts` into each campaign's `slot = 0` row, so
    /// that a campaign keeps a few rows there however many server processes changed its
    /// statuses over time (see migrations/postgres/0004_counts.sql). Sums are unchanged, and a
    /// reader sees the rows before or after, never between.
    ///
    /// Locks: a row that a transaction is writing right now is skipped (`SKIP LOCKED`), left
    /// for the next fold, so a fold never waits on a status change. Only folds write `slot = 0`
    /// rows of existing campaigns, and each takes them in key order, so concurrent folds (one
    /// per node) wait for one another at worst, never in a cycle. A status change may wait for
    /// a fold that holds its row (one short statement), never the other way round.
    async fn fold_counts(&self) -> StoreResult<()> {
        sqlx::query(
            "WITH moved AS ( \
                 DELETE FROM campaign_counts d \
                 WHERE d.slot <> 0 AND (d.campaign_seq, d.status, d.slot) IN \
                     (SELECT l.campaign_seq, l.status, l.slot FROM campaign_counts l \
                      WHERE l.slot <> 0 FOR UPDATE SKIP LOCKED) \
                 RETURNING d.campaign_seq, d.status, d.n) \
             INSERT INTO campaign_counts AS c (campaign_seq, status, slot, n) \
             SELECT campaign_seq, status, 0, SUM(n)::bigint FROM moved \
             GROUP BY campaign_seq, status ORDER BY campaign_seq, status \
             ON CONFLICT (campaign_seq, status, slot) DO UPDATE SET n = c.n + excluded.n",
        )
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        // Safe when several nodes start at once: sqlx's PostgreSQL migrator (0.9,
        // sqlx-core `Migrator::run_direct` with `locking` on by default) takes
        // `pg_advisory_lock(<id from current_database()>)` before it even creates
        // `_sqlx_migrations`, and releases it when done, so nodes migrate one after the
        // other and the later ones find nothing left to apply. It runs on its own
        // connection without the statement timeout: waiting for that lock is one statement.
        // (A one-connection pool rather than a bare connection: `Migrator::run(&mut conn)`
        // trips the "`Acquire` is not general enough" lifetime error inside async-trait.)
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(self.migrate_with.clone())
            .await
            .map_err(backend)?;
        let migrated = sqlx::migrate!("migrations/postgres").run(&pool).await;
        pool.close().await;
        migrated.map_err(|e| StoreError::Backend(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn count_accounts(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(n as u64)
    }

    async fn create_account(&self, new: &NewAccount) -> StoreResult<()> {
        let now = ms(new.created_at);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(new.id.as_str())
            .bind(&new.name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO users (account_id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new.id.as_str())
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match backend(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("user {:?} already exists", new.username))
            }
            other => other,
        })?;
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new.key.id.as_str())
        .bind(new.id.as_str())
        .bind(&new.key.name)
        .bind(&new.key.secret_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        let row = sqlx::query("SELECT id, name, created_at FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        Ok(Account {
            id: AccountId::from_trusted(row.get("id")),
            name: row.get("name"),
            created_at: row.get("created_at"),
        })
    }

    async fn create_api_key(&self, account: &AccountId, key: &NewApiKey) -> StoreResult<ApiKey> {
        let now = ms(OffsetDateTime::now_utc());
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.id.as_str())
        .bind(account.as_str())
        .bind(&key.name)
        .bind(&key.secret_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(ApiKey {
            id: key.id.clone(),
            name: key.name.clone(),
            created_at: now,
            revoked_at: None,
        })
    }

    async fn key_credentials(&self, key: &KeyId) -> StoreResult<Option<KeyCredentials>> {
        let row = sqlx::query(
            "SELECT account_id, secret_hash, revoked_at IS NOT NULL AS revoked FROM api_keys \
             WHERE id = $1",
        )
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(|row| KeyCredentials {
            account_id: AccountId::from_trusted(row.get("account_id")),
            secret_hash: row.get("secret_hash"),
            revoked: row.get("revoked"),
        }))
    }

    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, revoked_at FROM api_keys WHERE account_id = $1 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    async fn revoke_api_key(
        &self,
        account: &AccountId,
        key: &KeyId,
        now: OffsetDateTime,
    ) -> StoreResult<ApiKey> {
        let row = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND account_id = $3 RETURNING id, name, created_at, revoked_at",
        )
        .bind(ms(now))
        .bind(key.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(key_from_row(&row))
    }

    async fn create_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agents (id, account_id, name, system_prompt, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(agent.id.as_str())
        .bind(account.as_str())
        .bind(&agent.name)
        .bind(&agent.system_prompt)
        .bind(ms(agent.created_at))
        .bind(ms(agent.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn list_agents(&self, account: &AccountId) -> StoreResult<Vec<Agent>> {
        let rows = sqlx::query(
            "SELECT id, name, system_prompt, created_at, updated_at FROM agents \
             WHERE account_id = $1 ORDER BY seq",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(agent_from_row).collect())
    }

    async fn get_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<Agent> {
        let row = sqlx::query(
            "SELECT id, name, system_prompt, created_at, updated_at FROM agents \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(agent_from_row(&row))
    }

    async fn update_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE agents SET name = $1, system_prompt = $2, updated_at = $3 \
             WHERE account_id = $4 AND id = $5",
        )
        .bind(&agent.name)
        .bind(&agent.system_prompt)
        .bind(ms(agent.updated_at))
        .bind(account.as_str())
        .bind(agent.id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM agents WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| match backend(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict("the agent is still used by a number or a campaign".into())
                }
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_number(&self, account: &AccountId, number: &Number) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO numbers (phone, account_id, mps, agent_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&number.phone)
        .bind(account.as_str())
        .bind(number.mps)
        .bind(number.agent_id.as_ref().map(|a| a.as_str()))
        .bind(ms(number.created_at))
        .bind(ms(number.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| match backend(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("{} is already registered", number.phone))
            }
            other => other,
        })?;
        Ok(())
    }

    async fn list_numbers(&self, account: &AccountId) -> StoreResult<Vec<Number>> {
        let rows = sqlx::query(
            "SELECT phone, mps, agent_id, created_at, updated_at FROM numbers \
             WHERE account_id = $1 ORDER BY phone",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(number_from_row).collect())
    }

    async fn get_number(&self, account: &AccountId, phone: &str) -> StoreResult<Number> {
        let row = sqlx::query(
            "SELECT phone, mps, agent_id, created_at, updated_at FROM numbers \
             WHERE account_id = $1 AND phone = $2",
        )
        .bind(account.as_str())
        .bind(phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(number_from_row(&row))
    }

    async fn update_number(&self, account: &AccountId, number: &Number) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE numbers SET mps = $1, agent_id = $2, updated_at = $3 \
             WHERE account_id = $4 AND phone = $5",
        )
        .bind(number.mps)
        .bind(number.agent_id.as_ref().map(|a| a.as_str()))
        .bind(ms(number.updated_at))
        .bind(account.as_str())
        .bind(&number.phone)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_number(&self, account: &AccountId, phone: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Lock the number first: a campaign being created on it (which holds a key-share
        // lock on it until it commits) is then either visible to the check below, or
        // created after the number is gone.
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM numbers WHERE account_id = $1 AND phone = $2 FOR UPDATE",
        )
        .bind(account.as_str())
        .bind(phone)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let in_use: Option<String> = sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE account_id = $1 AND kind = 'campaign' \
             AND status IN ('draft', 'scheduled', 'running') \
             AND from_numbers @> jsonb_build_array($2::text) ORDER BY seq LIMIT 1",
        )
        .bind(account.as_str())
        .bind(phone)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(campaign) = in_use {
            return Err(StoreError::Conflict(format!(
                "{phone} sends for unfinished campaign {campaign}"
            )));
        }
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM numbers WHERE account_id = $1 AND phone = $2")
            .bind(account.as_str())
            .bind(phone)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn add_opt_out(
        &self,
        account: &AccountId,
        phone: &str,
        source: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        // With its consent record (see `postgres_replies`).
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
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(phones.into_iter().collect())
    }

    async fn account_context(&self, account: &AccountId) -> StoreResult<AccountContext> {
        let agents: Vec<String> = sqlx::query_scalar("SELECT id FROM agents WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let numbers = sqlx::query("SELECT phone, agent_id FROM numbers WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(AccountContext {
            agents: agents.into_iter().collect(),
            numbers: numbers
                .iter()
                .map(|r| (r.get("phone"), r.get("agent_id")))
                .collect(),
            opted_out: self.opted_out_phones(account).await?,
            // Read only for requests with `require_consent` (`consented_phones`).
            consented: HashSet::new(),
        })
    }

    async fn create_campaign(
        &self,
        new: &NewCampaign,
        recipients: &mut dyn RecipientSource,
        idempotency: Option<&IdempotencyKey>,
    ) -> StoreResult<Created> {
        let now = ms(new.created_at);
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
                let prior = sqlx::query(
                    "SELECT request_hash, campaign_id FROM idempotency_keys \
                     WHERE account_id = $1 AND key = $2",
                )
                .bind(new.account_id.as_str())
                .bind(&idem.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                let hash: Vec<u8> = prior.get("request_hash");
                return if hash == idem.request_hash {
                    Ok(Created::Replayed(CampaignId::from_trusted(
                        prior.get("campaign_id"),
                    )))
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
        .bind(new.scheduled_at.map(ms))
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
                .map_err(|e| StoreError::Backend(Box::new(e)))?;
            let bodies: Vec<&str> = chunk.iter().map(|r| r.body.as_str()).collect();
            let segments: Vec<i32> = chunk.iter().map(|r| r.segments as i32).collect();
            let senders: Vec<&str> = chunk.iter().map(|r| r.from_number.as_str()).collect();
            // Why a recipient fails at once, if it does: opted out (first) or no consent.
            let codes: Vec<Option<&str>> = chunk
                .iter()
                .map(|r| {
                    if r.opted_out {
                        Some(OPTED_OUT_CODE)
                    } else if r.no_consent {
                        Some(NO_CONSENT_CODE)
                    } else {
                        None
                    }
                })
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
            .bind(OPTED_OUT_CODE)
            .bind(OPTED_OUT_MESSAGE)
            .bind(positions)
            .bind(phones)
            .bind(variables)
            .bind(bodies)
            .bind(segments)
            .bind(senders)
            .bind(codes)
            .bind(NO_CONSENT_CODE)
            .bind(NO_CONSENT_MESSAGE)
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

    async fn get_campaign(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Campaign> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 AND account_id = $2 AND kind = 'campaign'"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let mut campaign = campaign_from_row(&row)?;
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
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE account_id = $1 AND kind = 'campaign' \
             AND seq < $2 ORDER BY seq DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut campaigns = rows
            .iter()
            .map(campaign_from_row)
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
        let after = query.after.unwrap_or(-1);
        let limit = query.limit as i64;
        // Two statements rather than `($3 IS NULL OR status = $3)`, so each gets the plan
        // that suits it (a status filter walks `recipients_status`).
        let rows = match query.status {
            None => sqlx::query(
                "SELECT position, phone, variables, body, segments, from_number, status, \
                 twilio_sid, error_code, error_message, updated_at FROM recipients \
                 WHERE campaign_seq = $1 AND position > $2 ORDER BY position LIMIT $3",
            )
            .bind(seq)
            .bind(after)
            .bind(limit),
            Some(status) => sqlx::query(
                "SELECT position, phone, variables, body, segments, from_number, status, \
                 twilio_sid, error_code, error_message, updated_at FROM recipients \
                 WHERE campaign_seq = $1 AND status = $4 AND position > $2 \
                 ORDER BY position LIMIT $3",
            )
            .bind(seq)
            .bind(after)
            .bind(limit)
            .bind(status.as_str()),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(recipient_from_row).collect()
    }

    async fn cancel_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The strongest row lock: it orders this against a concurrent finish, launch or
        // promotion on any node, and also against claims and stored outcomes, which hold
        // the campaign with KEY SHARE (the only lock that FOR UPDATE excludes and
        // finishing does not).
        let row = sqlx::query(
            "SELECT seq, status FROM campaigns WHERE id = $1 AND account_id = $2 \
             AND kind = 'campaign' FOR UPDATE",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let status: String = row.get("status");
        let status =
            CampaignStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status:?}")))?;
        if !status.is_cancellable() {
            return Err(StoreError::Conflict(format!(
                "the campaign is {} and cannot be cancelled",
                status.as_str()
            )));
        }
        let seq: i64 = row.get("seq");
        let now = ms(now);
        sqlx::query(
            "UPDATE campaigns SET status = 'cancelled', cancelled_at = $1, finished_at = $1 \
             WHERE seq = $2",
        )
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
        tx.commit().await.map_err(backend)
    }

    async fn launch_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<CampaignStatus> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "SELECT seq, status, scheduled_at FROM campaigns WHERE id = $1 AND account_id = $2 \
             AND kind = 'campaign' FOR NO KEY UPDATE",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let status: String = row.get("status");
        if status != CampaignStatus::Draft.as_str() {
            return Err(StoreError::Conflict(format!(
                "the campaign is {status}; only a draft can be launched"
            )));
        }
        let now = ms(now);
        let scheduled_at: Option<OffsetDateTime> = row.get("scheduled_at");
        let next = match scheduled_at {
            Some(at) if at > now => CampaignStatus::Scheduled,
            _ => CampaignStatus::Running,
        };
        sqlx::query("UPDATE campaigns SET status = $1, started_at = $2 WHERE seq = $3")
            .bind(next.as_str())
            .bind((next == CampaignStatus::Running).then_some(now))
            .bind(row.get::<i64, _>("seq"))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(next)
    }

    async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>> {
        // Every node's scheduler runs this: the row locks make each campaign start once.
        // A campaign another node is promoting (or cancelling) right now is skipped, and
        // the status check on the locked row keeps a finished race from repeating.
        let mut promoted: Vec<(i64, String)> = sqlx::query_as(
            "UPDATE campaigns SET status = 'running', started_at = $1 \
             WHERE seq IN (SELECT seq FROM campaigns \
                           WHERE status = 'scheduled' AND scheduled_at <= $1 \
                           ORDER BY seq FOR NO KEY UPDATE SKIP LOCKED) \
             AND status = 'scheduled' RETURNING seq, id",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        // In campaign order, as SQLite returns them.
        promoted.sort();
        Ok(promoted
            .into_iter()
            .map(|(_, id)| CampaignId::from_trusted(id))
            .collect())
    }

    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>> {
        let rows = sqlx::query(
            "SELECT DISTINCT j.phone, COALESCE(n.mps, 1.0::float8) AS mps \
             FROM campaigns c \
             CROSS JOIN LATERAL jsonb_array_elements_text(c.from_numbers) AS j(phone) \
             LEFT JOIN numbers n ON n.phone = j.phone \
             WHERE c.status = 'running' ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| Lane {
                phone: r.get("phone"),
                mps: r.get("mps"),
            })
            .collect())
    }

    async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar(
            "SELECT seq FROM campaigns WHERE status = 'running' \
             AND from_numbers @> jsonb_build_array($1::text) ORDER BY seq",
        )
        .bind(from_number)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn claim_work(
        &self,
        node: &NodeId,
        campaign_seq: i64,
        from_number: &str,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Work>> {
        let now = ms(now);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A shared lock: many claims run at once, but none overlaps a cancellation, so no
        // recipient is claimed once the campaign is cancelled.
        let campaign: Option<(String, String, bool)> = sqlx::query_as(
            "SELECT id, account_id, require_consent FROM campaigns \
             WHERE seq = $1 AND status = 'running' FOR KEY SHARE",
        )
        .bind(campaign_seq)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((campaign, account, require_consent)) = campaign else {
            return Ok(Vec::new());
        };
        // Opt-outs recorded since the campaign was created are honoured just before sending.
        // SKIP LOCKED: rows another node is claiming right now are its business.
        sqlx::query(
            "UPDATE recipients SET status = 'failed', error_code = $6, error_message = $7, \
             updated_at = $1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
                 ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED) \
             AND phone IN (SELECT phone FROM opt_outs WHERE account_id = $5)",
        )
        .bind(now)
        .bind(campaign_seq)
        .bind(from_number)
        .bind(limit as i64)
        .bind(&account)
        .bind(OPTED_OUT_CODE)
        .bind(OPTED_OUT_MESSAGE)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // Consent withdrawn since the campaign was created, likewise.
        if require_consent {
            sqlx::query(
                "UPDATE recipients SET status = 'failed', error_code = $6, error_message = $7, \
                 updated_at = $1 \
                 WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
                     AND status = 'pending' AND inflight_since IS NULL \
                     AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
                     ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 AND NOT EXISTS (SELECT 1 FROM consent_state s WHERE s.account_id = $5 \
                                 AND s.phone = recipients.phone AND s.status = 'granted')",
            )
            .bind(now)
            .bind(campaign_seq)
            .bind(from_number)
            .bind(limit as i64)
            .bind(&account)
            .bind(NO_CONSENT_CODE)
            .bind(NO_CONSENT_MESSAGE)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        // The claim proper. Rows locked by another node's claim are skipped, not waited
        // for, and a row whose claim committed meanwhile fails the re-check of the
        // subquery's conditions on its new version, so claimed sets are disjoint.
        // Attempt ids grow with time, as on SQLite (claim time in ms, row id, 24 random
        // bits from gen_random_uuid(), built in since PostgreSQL 13), so a claim's new ids
        // land together at the end of the attempt index instead of on a page each.
        let rows = sqlx::query(
            "UPDATE recipients SET attempt_id = lpad(to_hex((extract(epoch FROM $1) * 1000)::bigint), 12, '0') \
                 || lpad(to_hex(id), 10, '0') || left(md5(gen_random_uuid()::text), 6), \
             inflight_since = $1, attempts = attempts + 1, reconcile = false, claimed_by = $5, \
             updated_at = $1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = $2 AND from_number = $3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
                 ORDER BY position LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, position, phone, from_number, body, segments, attempts, attempt_id",
        )
        .bind(now)
        .bind(campaign_seq)
        .bind(from_number)
        .bind(limit as i64)
        .bind(node.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let mut work: Vec<(i64, Work)> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<i64, _>("position"),
                    Work {
                        id: r.get("id"),
                        campaign_seq,
                        campaign_id: CampaignId::from_trusted(campaign.clone()),
                        account_id: AccountId::from_trusted(account.clone()),
                        phone: r.get("phone"),
                        from_number: r.get("from_number"),
                        body: r.get("body"),
                        segments: r.get::<i32, _>("segments") as u32,
                        attempts: r.get::<i32, _>("attempts") as u32,
                        attempt_id: r.get("attempt_id"),
                    },
                )
            })
            .collect();
        work.sort_by_key(|(position, _)| *position);
        Ok(work.into_iter().map(|(_, w)| w).collect())
    }

    async fn record_results(&self, results: &[SendResult], now: OffsetDateTime) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = ms(now);
        let ids: Vec<i64> = results
            .iter()
            .map(|r| match r {
                SendResult::Accepted { id, .. }
                | SendResult::Failed { id, .. }
                | SendResult::Retry { id, .. }
                | SendResult::Unknown { id, .. }
                | SendResult::Released { id, .. } => *id,
            })
            .collect();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Lock order (campaigns, then recipients, each by key) is the one every transaction
        // here follows, so batches from several nodes cannot deadlock. The campaigns are
        // held shared (as claims hold them) so that no cancellation runs meanwhile: a
        // retried or released recipient of a campaign being cancelled becomes `cancelled`
        // (below) either way, never stranded as `pending`.
        sqlx::query(
            "SELECT 1 FROM campaigns WHERE seq IN \
                 (SELECT campaign_seq FROM recipients WHERE id = ANY($1)) \
             ORDER BY seq FOR KEY SHARE",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("SELECT 1 FROM recipients WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // Each recipient once (the engine's batches): one statement per kind of outcome. Every
        // statement's condition reads only its own row and its campaign (held above), so the
        // order does not matter and this is what the statements one by one below would do,
        // in at most five round trips (and five runs of the counts trigger) instead of one
        // each.
        if ids.iter().collect::<HashSet<_>>().len() == ids.len() {
            record_by_kind(&mut tx, results, now).await?;
            return tx.commit().await.map_err(backend);
        }
        for result in results {
            let q = match result {
                SendResult::Accepted {
                    id,
                    attempt_id,
                    sid,
                    status,
                } => sqlx::query(
                    "UPDATE recipients SET twilio_sid = COALESCE(twilio_sid, $1), \
                     status = CASE WHEN (CASE status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                         WHEN 'sent' THEN 2 ELSE 3 END) < $2 THEN $3 ELSE status END, \
                     error_code = CASE WHEN status = 'pending' THEN NULL ELSE error_code END, \
                     error_message = CASE WHEN status = 'pending' THEN NULL ELSE error_message END, \
                     inflight_since = NULL, reconcile = false, next_attempt_at = NULL, \
                     submitted_at = COALESCE(submitted_at, $4), updated_at = $4 \
                     WHERE id = $5 AND attempt_id = $6",
                )
                .bind(sid)
                .bind(status.rank() as i32)
                .bind(status.as_str())
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Failed {
                    id,
                    attempt_id,
                    code,
                    message,
                } => sqlx::query(
                    "UPDATE recipients SET status = 'failed', error_code = $1, error_message = $2, \
                     inflight_since = NULL, reconcile = false, updated_at = $3 \
                     WHERE id = $4 AND attempt_id = $5 AND status = 'pending'",
                )
                .bind(code)
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Retry {
                    id,
                    attempt_id,
                    not_before,
                    code,
                    message,
                } => sqlx::query(
                    "UPDATE recipients SET inflight_since = NULL, reconcile = false, \
                     next_attempt_at = $1, error_code = $2, error_message = $3, updated_at = $4, \
                     status = CASE WHEN (SELECT c.status FROM campaigns c \
                                         WHERE c.seq = recipients.campaign_seq) = 'cancelled' \
                         THEN 'cancelled' ELSE status END \
                     WHERE id = $5 AND attempt_id = $6 AND status = 'pending' \
                     AND inflight_since IS NOT NULL",
                )
                .bind(ms(*not_before))
                .bind(code)
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Unknown {
                    id,
                    attempt_id,
                    message,
                } => sqlx::query(
                    "UPDATE recipients SET reconcile = true, error_message = $1, updated_at = $2 \
                     WHERE id = $3 AND attempt_id = $4 AND inflight_since IS NOT NULL",
                )
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(attempt_id),
                SendResult::Released { id, attempt_id } => sqlx::query(
                    "UPDATE recipients SET inflight_since = NULL, reconcile = false, \
                     attempts = attempts - 1, updated_at = $1, \
                     status = CASE WHEN (SELECT c.status FROM campaigns c \
                                         WHERE c.seq = recipients.campaign_seq) = 'cancelled' \
                         THEN 'cancelled' ELSE status END \
                     WHERE id = $2 AND attempt_id = $3 AND status = 'pending' \
                     AND inflight_since IS NOT NULL",
                )
                .bind(now)
                .bind(id)
                .bind(attempt_id),
            };
            q.execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn apply_status_events(
        &self,
        events: &[StatusEvent],
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        let now = ms(now);
        let sids: Vec<&str> = events.iter().map(|e| e.sid.as_str()).collect();
        let attempts: Vec<&str> = events
            .iter()
            .filter_map(|e| e.attempt_id.as_deref())
            .collect();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Take the rows in id order first (see `record_results`): callbacks for the same
        // messages may reach several nodes at once. Held, they are what the batch applied
        // in order does to them (`fold_status_events`), written back in one statement.
        let rows = sqlx::query(
            "SELECT id, attempt_id, twilio_sid, status, error_code, error_message \
             FROM recipients WHERE twilio_sid = ANY($1) OR attempt_id = ANY($2) \
             ORDER BY id FOR UPDATE",
        )
        .bind(&sids)
        .bind(&attempts)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let rows = rows
            .iter()
            .map(|r| {
                let status: String = r.get("status");
                Ok(StatusRow {
                    id: r.get("id"),
                    attempt_id: r.get("attempt_id"),
                    twilio_sid: r.get("twilio_sid"),
                    status: RecipientStatus::parse(&status)
                        .ok_or_else(|| corrupt(format!("recipient status {status:?}")))?,
                    error_code: r.get("error_code"),
                    error_message: r.get("error_message"),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let moved = fold_status_events(rows, events);
        if moved.is_empty() {
            tx.commit().await.map_err(backend)?;
            return Ok(0);
        }
        let ids: Vec<i64> = moved.iter().map(|r| r.id).collect();
        let statuses: Vec<&str> = moved.iter().map(|r| r.status.as_str()).collect();
        let sids: Vec<Option<&str>> = moved.iter().map(|r| r.twilio_sid.as_deref()).collect();
        let codes: Vec<Option<&str>> = moved.iter().map(|r| r.error_code.as_deref()).collect();
        let messages: Vec<Option<&str>> =
            moved.iter().map(|r| r.error_message.as_deref()).collect();
        sqlx::query(
            "UPDATE recipients AS r SET status = v.status, twilio_sid = v.sid, \
             error_code = v.code, error_message = v.message, \
             inflight_since = NULL, reconcile = false, next_attempt_at = NULL, \
             submitted_at = COALESCE(r.submitted_at, $1), updated_at = $1 \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                 AS v(id, status, sid, code, message) \
             WHERE r.id = v.id",
        )
        .bind(now)
        .bind(&ids)
        .bind(&statuses)
        .bind(&sids)
        .bind(&codes)
        .bind(&messages)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(moved.len() as u64)
    }

    async fn finish_campaigns(
        &self,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(CampaignId, CampaignStatus)>> {
        // One statement, run by every node's engine: the campaign rows are locked (SKIP
        // LOCKED: one that another node is finishing or cancelling is left for the next
        // tick) and re-checked, so each campaign finishes once. No recipient can become
        // `pending` again in a running campaign, so "none pending" cannot go stale, and
        // claims and stored outcomes (KEY SHARE) need not be waited for.
        let rows = sqlx::query(
            "UPDATE campaigns c SET finished_at = $1, \
                 status = CASE WHEN EXISTS (SELECT 1 FROM recipients r WHERE r.campaign_seq = c.seq \
                                  AND (r.status <> 'failed' OR r.twilio_sid IS NOT NULL)) \
                          THEN 'done' ELSE 'failed' END \
             WHERE c.seq IN (SELECT d.seq FROM campaigns d WHERE d.status = 'running' \
                             AND NOT EXISTS (SELECT 1 FROM recipients r \
                                             WHERE r.campaign_seq = d.seq AND r.status = 'pending') \
                             ORDER BY d.seq FOR NO KEY UPDATE SKIP LOCKED) \
             AND c.status = 'running' \
             RETURNING c.seq, c.id, c.status",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut changed = rows
            .iter()
            .map(|row| {
                let status: String = row.get("status");
                let status = CampaignStatus::parse(&status)
                    .ok_or_else(|| corrupt(format!("campaign status {status:?}")))?;
                Ok((
                    row.get::<i64, _>("seq"),
                    CampaignId::from_trusted(row.get("id")),
                    status,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        changed.sort_by_key(|(seq, _, _)| *seq);
        // Housekeeping of the counts cache, on the engine's beat (every node's, every tick).
        self.fold_counts().await?;
        Ok(changed
            .into_iter()
            .map(|(_, id, status)| (id, status))
            .collect())
    }

    async fn unknown_in_flight(&self, limit: u32) -> StoreResult<Vec<InFlight>> {
        let rows = sqlx::query(
            "SELECT id, attempt_id, phone, from_number, body, inflight_since, attempts \
             FROM recipients WHERE inflight_since IS NOT NULL AND reconcile \
             ORDER BY inflight_since, id LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| InFlight {
                id: r.get("id"),
                attempt_id: r.get("attempt_id"),
                phone: r.get("phone"),
                from_number: r.get("from_number"),
                body: r.get("body"),
                since: r.get("inflight_since"),
                attempts: r.get::<i32, _>("attempts") as u32,
            })
            .collect())
    }

    async fn known_sids(&self, phone: &str, from_number: &str) -> StoreResult<HashSet<String>> {
        let sids: Vec<String> = sqlx::query_scalar(
            "SELECT twilio_sid FROM recipients \
             WHERE phone = $1 AND from_number = $2 AND twilio_sid IS NOT NULL",
        )
        .bind(phone)
        .bind(from_number)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(sids.into_iter().collect())
    }

    async fn campaign_running(&self, campaign_seq: i64) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT status = 'running' FROM campaigns WHERE seq = $1")
            .bind(campaign_seq)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
            .map(|r: Option<bool>| r.unwrap_or(false))
    }

    async fn pending_total(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            // From the counts cache (a few rows per campaign): counting the rows scanned a
            // million index entries every few seconds and filled a reader's page cache.
            "SELECT CAST(COALESCE(SUM(cc.n), 0) AS BIGINT) FROM campaigns c \
             JOIN campaign_counts cc ON cc.campaign_seq = c.seq \
             WHERE c.status = 'running' AND cc.status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(n as u64)
    }

    async fn aggregate_counts(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Counts> {
        let seq = self.campaign_seq(account, id).await?;
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM recipients WHERE campaign_seq = $1 GROUP BY status",
        )
        .bind(seq)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut counts = Counts::default();
        for row in rows {
            let status: String = row.get("status");
            let status = RecipientStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("recipient status {status:?}")))?;
            counts.add(status, row.get::<i64, _>("n") as u64);
        }
        Ok(counts)
    }
}
