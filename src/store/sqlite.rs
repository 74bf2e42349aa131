//! The SQLite store: Herald's zero-configuration default, one file beside the binary.
//!
//! SQLite allows one writer at a time. Rather than let concurrent transactions
//! race for the lock (and fail with SQLITE_BUSY when a reader upgrades), every
//! write goes through `writer`, a pool of exactly one connection; reads use
//! `reader`, which WAL mode lets run beside the writer.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqlitePool, sqlite::SqliteRow};
use time::OffsetDateTime;

use super::*;

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) writer: SqlitePool,
    pub(super) reader: SqlitePool,
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

pub(super) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(super) fn opt_from_ms(ms: Option<i64>) -> Option<OffsetDateTime> {
    ms.map(from_ms)
}

/// Columns of `campaigns` read into a [`Campaign`] (counts filled in afterwards).
const CAMPAIGN_COLUMNS: &str = "seq, id, name, message_template, agent_id, from_numbers, status, source, \
     scheduled_at, duplicates_removed, created_at, started_at, finished_at, require_consent";

fn campaign_from_row(row: &SqliteRow) -> StoreResult<Campaign> {
    let status: String = row.get("status");
    let source: String = row.get("source");
    let from_numbers: String = row.get("from_numbers");
    Ok(Campaign {
        seq: row.get("seq"),
        id: CampaignId::from_trusted(row.get("id")),
        name: row.get("name"),
        message_template: row.get("message_template"),
        agent_id: row.get("agent_id"),
        from_numbers: serde_json::from_str(&from_numbers)
            .map_err(|e| StoreError::Backend(Box::new(e)))?,
        status: CampaignStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("campaign status {status:?}")))?,
        source: Source::parse(&source).ok_or_else(|| corrupt(format!("source {source:?}")))?,
        scheduled_at: opt_from_ms(row.get("scheduled_at")),
        duplicates_removed: row.get::<i64, _>("duplicates_removed") as u64,
        created_at: from_ms(row.get("created_at")),
        started_at: opt_from_ms(row.get("started_at")),
        finished_at: opt_from_ms(row.get("finished_at")),
        require_consent: row.get("require_consent"),
        counts: Counts::default(),
    })
}

pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Backend(format!("unexpected value in the database: {what}").into())
}

fn agent_from_row(row: &SqliteRow) -> Agent {
    Agent {
        id: AgentId::from_trusted(row.get("id")),
        name: row.get("name"),
        system_prompt: row.get("system_prompt"),
        created_at: from_ms(row.get("created_at")),
        updated_at: from_ms(row.get("updated_at")),
    }
}

fn number_from_row(row: &SqliteRow) -> Number {
    Number {
        phone: row.get("phone"),
        mps: row.get("mps"),
        agent_id: row
            .get::<Option<String>, _>("agent_id")
            .map(AgentId::from_trusted),
        created_at: from_ms(row.get("created_at")),
        updated_at: from_ms(row.get("updated_at")),
    }
}

fn key_from_row(row: &SqliteRow) -> ApiKey {
    ApiKey {
        id: KeyId::from_trusted(row.get("id")),
        name: row.get("name"),
        created_at: from_ms(row.get("created_at")),
        revoked_at: opt_from_ms(row.get("revoked_at")),
    }
}

/// Error code and message of a recipient that a `require_consent` campaign does not send to.
const NO_CONSENT_CODE: &str = "no_consent";
const NO_CONSENT_MESSAGE: &str =
    "the campaign requires consent and this number has no granted consent record";

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
    now: i64,
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
            let variables = serde_json::to_string(&r.variables)
                .map_err(|e| StoreError::Backend(Box::new(e)))?;
            let (status, code, message) = if r.opted_out {
                (
                    RecipientStatus::Failed,
                    Some("opted_out"),
                    Some("the recipient opted out of messages from this account"),
                )
            } else if r.no_consent {
                (
                    RecipientStatus::Failed,
                    Some(NO_CONSENT_CODE),
                    Some(NO_CONSENT_MESSAGE),
                )
            } else {
                (RecipientStatus::Pending, None, None)
            };
            if status == RecipientStatus::Failed {
                self.failed += 1;
            }
            q = q
                .bind(self.seq)
                .bind(self.position)
                .bind(r.phone.as_str().to_owned())
                .bind(variables)
                .bind(r.body.clone())
                .bind(r.segments as i64)
                .bind(r.from_number.as_str().to_owned())
                .bind(status.as_str())
                .bind(code)
                .bind(message)
                .bind(self.now);
            self.position += 1;
        }
        Ok(Some(q))
    }
}

impl SqliteStore {
    /// Opens `url` (`sqlite://PATH`, created if missing) in WAL mode.
    ///
    /// `synchronous = NORMAL` in WAL mode keeps every committed transaction across
    /// a process crash (kill -9): the WAL is written before commit returns, and
    /// only an OS crash or power loss can lose the last commits.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, &DbOptions::default()).await
    }

    /// Like [`SqliteStore::connect`], with up to `db.max_connections` readers (at most
    /// four: one file gains little from more). The statement timeout does not apply.
    pub async fn connect_with(url: &str, db: &DbOptions) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            // 8 MiB of page cache per reader (four of them): reads are indexed (a campaign's
            // counts are a few rows, a page of recipients one index range), and each reader
            // that ran a scan kept its whole cache: 16 MiB each took a sending server past
            // 150 MB.
            .pragma("cache_size", "-8192");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // 8 MiB for the writer: it mostly appends and updates rows it has just read
            // (claims, outcomes), and a large create filled all 16 MiB with pages that are
            // written once (a third of the server's growth during a 100,000-recipient create).
            .connect_with(options.clone().pragma("cache_size", "-8192"))
            .await?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(db.max_connections.clamp(1, 4))
                .connect_with(options.read_only(true))
                .await?
        };
        Ok(Self { writer, reader })
    }

    async fn counts_for(&self, seqs: &[i64]) -> StoreResult<HashMap<i64, Counts>> {
        let mut out: HashMap<i64, Counts> = HashMap::new();
        if seqs.is_empty() {
            return Ok(out);
        }
        let placeholders = vec!["?"; seqs.len()].join(",");
        let sql = format!(
            "SELECT campaign_seq, status, n FROM campaign_counts \
             WHERE campaign_seq IN ({placeholders}) AND n <> 0"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in seqs {
            q = q.bind(s);
        }
        for row in q.fetch_all(&self.reader).await.map_err(backend)? {
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
            "SELECT seq FROM campaigns WHERE id = ? AND account_id = ? AND kind = 'campaign'",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn count_accounts(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(n as u64)
    }

    async fn create_account(&self, new: &NewAccount) -> StoreResult<()> {
        let now = to_ms(new.created_at);
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)")
            .bind(new.id.as_str())
            .bind(&new.name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO users (account_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
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
            "INSERT INTO api_keys (id, account_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
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
        let row = sqlx::query("SELECT id, name, created_at FROM accounts WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        Ok(Account {
            id: AccountId::from_trusted(row.get("id")),
            name: row.get("name"),
            created_at: from_ms(row.get("created_at")),
        })
    }

    async fn create_api_key(&self, account: &AccountId, key: &NewApiKey) -> StoreResult<ApiKey> {
        let now = OffsetDateTime::now_utc();
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.id.as_str())
        .bind(account.as_str())
        .bind(&key.name)
        .bind(&key.secret_hash)
        .bind(to_ms(now))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(ApiKey {
            id: key.id.clone(),
            name: key.name.clone(),
            created_at: from_ms(to_ms(now)),
            revoked_at: None,
        })
    }

    async fn key_credentials(&self, key: &KeyId) -> StoreResult<Option<KeyCredentials>> {
        let row =
            sqlx::query("SELECT account_id, secret_hash, revoked_at FROM api_keys WHERE id = ?")
                .bind(key.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        Ok(row.map(|row| KeyCredentials {
            account_id: AccountId::from_trusted(row.get("account_id")),
            secret_hash: row.get("secret_hash"),
            revoked: row.get::<Option<i64>, _>("revoked_at").is_some(),
        }))
    }

    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, revoked_at FROM api_keys WHERE account_id = ? \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(account.as_str())
        .fetch_all(&self.reader)
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
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND account_id = ? \
             RETURNING id, name, created_at, revoked_at",
        )
        .bind(to_ms(now))
        .bind(key.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(key_from_row(&row))
    }

    async fn create_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agents (id, account_id, name, system_prompt, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(agent.id.as_str())
        .bind(account.as_str())
        .bind(&agent.name)
        .bind(&agent.system_prompt)
        .bind(to_ms(agent.created_at))
        .bind(to_ms(agent.updated_at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn list_agents(&self, account: &AccountId) -> StoreResult<Vec<Agent>> {
        let rows = sqlx::query(
            "SELECT id, name, system_prompt, created_at, updated_at FROM agents \
             WHERE account_id = ? ORDER BY seq",
        )
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(agent_from_row).collect())
    }

    async fn get_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<Agent> {
        let row = sqlx::query(
            "SELECT id, name, system_prompt, created_at, updated_at FROM agents \
             WHERE account_id = ? AND id = ?",
        )
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(agent_from_row(&row))
    }

    async fn update_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE agents SET name = ?, system_prompt = ?, updated_at = ? WHERE account_id = ? AND id = ?",
        )
        .bind(&agent.name)
        .bind(&agent.system_prompt)
        .bind(to_ms(agent.updated_at))
        .bind(account.as_str())
        .bind(agent.id.as_str())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM agents WHERE account_id = ? AND id = ?")
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
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
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&number.phone)
        .bind(account.as_str())
        .bind(number.mps)
        .bind(number.agent_id.as_ref().map(|a| a.as_str()))
        .bind(to_ms(number.created_at))
        .bind(to_ms(number.updated_at))
        .execute(&self.writer)
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
             WHERE account_id = ? ORDER BY phone",
        )
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(number_from_row).collect())
    }

    async fn get_number(&self, account: &AccountId, phone: &str) -> StoreResult<Number> {
        let row = sqlx::query(
            "SELECT phone, mps, agent_id, created_at, updated_at FROM numbers \
             WHERE account_id = ? AND phone = ?",
        )
        .bind(account.as_str())
        .bind(phone)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(number_from_row(&row))
    }

    async fn update_number(&self, account: &AccountId, number: &Number) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE numbers SET mps = ?, agent_id = ?, updated_at = ? WHERE account_id = ? AND phone = ?",
        )
        .bind(number.mps)
        .bind(number.agent_id.as_ref().map(|a| a.as_str()))
        .bind(to_ms(number.updated_at))
        .bind(account.as_str())
        .bind(&number.phone)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_number(&self, account: &AccountId, phone: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let in_use: Option<String> = sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE account_id = ? AND kind = 'campaign' \
             AND status IN ('draft', 'scheduled', 'running') AND EXISTS (SELECT 1 FROM json_each(campaigns.from_numbers) WHERE value = ?) LIMIT 1",
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
        let done = sqlx::query("DELETE FROM numbers WHERE account_id = ? AND phone = ?")
            .bind(account.as_str())
            .bind(phone)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
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
        // With its consent record (see `sqlite_replies`).
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
            sqlx::query_scalar("SELECT phone FROM opt_outs WHERE account_id = ?")
                .bind(account.as_str())
                .fetch_all(&self.reader)
                .await
                .map_err(backend)?;
        Ok(phones.into_iter().collect())
    }

    async fn account_context(&self, account: &AccountId) -> StoreResult<AccountContext> {
        let agents: Vec<String> = sqlx::query_scalar("SELECT id FROM agents WHERE account_id = ?")
            .bind(account.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        let numbers = sqlx::query("SELECT phone, agent_id FROM numbers WHERE account_id = ?")
            .bind(account.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(AccountContext {
            agents: agents.into_iter().collect(),
            numbers: numbers
                .iter()
                .map(|r| (r.get("phone"), r.get("agent_id")))
                .collect(),
            opted_out: self.opted_out_phones(account).await?,
            consented: HashSet::new(),
        })
    }

    async fn create_campaign(
        &self,
        new: &NewCampaign,
        recipients: &mut dyn RecipientSource,
        idempotency: Option<&IdempotencyKey>,
    ) -> StoreResult<Created> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if let Some(idem) = idempotency {
            let prior = sqlx::query(
                "SELECT request_hash, campaign_id FROM idempotency_keys WHERE account_id = ? AND key = ?",
            )
            .bind(new.account_id.as_str())
            .bind(&idem.key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(prior) = prior {
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
        let now = to_ms(new.created_at);
        let from_numbers = serde_json::to_string(&new.from_numbers)
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let started_at = (new.status == CampaignStatus::Running).then_some(now);
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (id, account_id, agent_id, name, message_template, from_numbers, \
             status, source, scheduled_at, duplicates_removed, created_at, started_at, require_consent) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(new.id.as_str())
        .bind(new.account_id.as_str())
        .bind(new.agent_id.as_deref())
        .bind(&new.name)
        .bind(&new.message_template)
        .bind(from_numbers)
        .bind(new.status.as_str())
        .bind(new.source.as_str())
        .bind(new.scheduled_at.map(to_ms))
        .bind(0i64)
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
            sqlx::query("UPDATE campaigns SET duplicates_removed = ? WHERE seq = ?")
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
            sqlx::query("INSERT INTO campaign_counts (campaign_seq, status, n) VALUES (?, ?, ?)")
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
                 VALUES (?, ?, ?, ?, ?)",
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

    async fn get_campaign(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Campaign> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ? AND account_id = ? AND kind = 'campaign'"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&self.reader)
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
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE account_id = ? AND kind = 'campaign' \
             AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit as i64)
            .fetch_all(&self.reader)
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
        let rows = sqlx::query(
            "SELECT position, phone, variables, body, segments, from_number, status, twilio_sid, \
             error_code, error_message, updated_at FROM recipients \
             WHERE campaign_seq = ?1 AND position > ?2 AND (?3 IS NULL OR status = ?3) \
             ORDER BY position LIMIT ?4",
        )
        .bind(seq)
        .bind(query.after.unwrap_or(-1))
        .bind(query.status.map(|s| s.as_str()))
        .bind(query.limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let status: String = row.get("status");
                let variables: String = row.get("variables");
                Ok(Recipient {
                    position: row.get("position"),
                    phone: row.get("phone"),
                    variables: serde_json::from_str(&variables)
                        .map_err(|e| StoreError::Backend(Box::new(e)))?,
                    body: row.get("body"),
                    segments: row.get::<i64, _>("segments") as u32,
                    from_number: row.get("from_number"),
                    status: RecipientStatus::parse(&status)
                        .ok_or_else(|| corrupt(format!("recipient status {status:?}")))?,
                    twilio_sid: row.get("twilio_sid"),
                    error_code: row.get("error_code"),
                    error_message: row.get("error_message"),
                    updated_at: from_ms(row.get("updated_at")),
                })
            })
            .collect()
    }

    async fn cancel_campaign(
        &self,
        account: &AccountId,
        id: &CampaignId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "SELECT seq, status FROM campaigns WHERE id = ? AND account_id = ? AND kind = 'campaign'",
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
        let now = to_ms(now);
        sqlx::query(
            "UPDATE campaigns SET status = 'cancelled', cancelled_at = ?, finished_at = ? WHERE seq = ?",
        )
        .bind(now)
        .bind(now)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "UPDATE recipients SET status = 'cancelled', updated_at = ? \
             WHERE campaign_seq = ? AND status = 'pending' AND inflight_since IS NULL",
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "SELECT seq, status, scheduled_at FROM campaigns \
             WHERE id = ? AND account_id = ? AND kind = 'campaign'",
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
        let now = to_ms(now);
        let scheduled_at: Option<i64> = row.get("scheduled_at");
        let next = match scheduled_at {
            Some(at) if at > now => CampaignStatus::Scheduled,
            _ => CampaignStatus::Running,
        };
        sqlx::query("UPDATE campaigns SET status = ?, started_at = ? WHERE seq = ?")
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
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE campaigns SET status = 'running', started_at = ?1 \
             WHERE status = 'scheduled' AND scheduled_at <= ?1 RETURNING id",
        )
        .bind(to_ms(now))
        .fetch_all(&self.writer)
        .await
        .map_err(backend)?;
        Ok(ids.into_iter().map(CampaignId::from_trusted).collect())
    }

    async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>> {
        let rows = sqlx::query(
            "SELECT DISTINCT j.value AS phone, COALESCE(n.mps, 1.0) AS mps \
             FROM campaigns c, json_each(c.from_numbers) j LEFT JOIN numbers n ON n.phone = j.value \
             WHERE c.status = 'running' ORDER BY 1",
        )
        .fetch_all(&self.reader)
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
            "SELECT c.seq FROM campaigns c WHERE c.status = 'running' \
             AND EXISTS (SELECT 1 FROM json_each(c.from_numbers) WHERE value = ?) ORDER BY c.seq",
        )
        .bind(from_number)
        .fetch_all(&self.reader)
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let campaign: Option<(String, String, bool)> = sqlx::query_as(
            "SELECT id, account_id, require_consent FROM campaigns WHERE seq = ? AND status = 'running'",
        )
        .bind(campaign_seq)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((campaign, account, require_consent)) = campaign else {
            return Ok(Vec::new());
        };
        // Opt-outs recorded since the campaign was created are honoured just before sending.
        sqlx::query(
            "UPDATE recipients SET status = 'failed', error_code = 'opted_out', \
             error_message = 'the recipient opted out of messages from this account', updated_at = ?1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = ?2 AND from_number = ?3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
                 ORDER BY position LIMIT ?4) \
             AND phone IN (SELECT phone FROM opt_outs WHERE account_id = ?5)",
        )
        .bind(to_ms(now))
        .bind(campaign_seq)
        .bind(from_number)
        .bind(limit as i64)
        .bind(&account)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // Consent withdrawn since the campaign was created, likewise.
        if require_consent {
            sqlx::query(
                "UPDATE recipients SET status = 'failed', error_code = ?6, error_message = ?7, updated_at = ?1 \
                 WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = ?2 AND from_number = ?3 \
                     AND status = 'pending' AND inflight_since IS NULL \
                     AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
                     ORDER BY position LIMIT ?4) \
                 AND phone NOT IN (SELECT phone FROM consent_state WHERE account_id = ?5 AND status = 'granted')",
            )
            .bind(to_ms(now))
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
        // Attempt ids grow with time (claim time in ms, row id, 24 random bits), so a
        // claim's new ids land together at the end of the attempt index: random ids dirtied
        // a page of it per row, several MB of WAL per claim.
        let rows = sqlx::query(
            "UPDATE recipients SET attempt_id = printf('%012x%010x', ?1, id) || lower(hex(randomblob(3))), \
             inflight_since = ?1, \
             attempts = attempts + 1, reconcile = 0, claimed_by = ?5, updated_at = ?1 \
             WHERE id IN (SELECT id FROM recipients WHERE campaign_seq = ?2 AND from_number = ?3 \
                 AND status = 'pending' AND inflight_since IS NULL \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
                 ORDER BY position LIMIT ?4) \
             RETURNING id, position, phone, from_number, body, segments, attempts, attempt_id",
        )
        .bind(to_ms(now))
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
                        segments: r.get::<i64, _>("segments") as u32,
                        attempts: r.get::<i64, _>("attempts") as u32,
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        // Grouping by kind reorders results; that is only the same as applying them in order
        // when no recipient is named twice. Otherwise apply them one at a time, in order.
        let mut ids = HashSet::with_capacity(results.len());
        if results.iter().all(|r| ids.insert(result_id(r))) {
            record_grouped(&mut tx, results, now).await?;
        } else {
            for r in results {
                record_grouped(&mut tx, std::slice::from_ref(r), now).await?;
            }
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
        // Read the rows the events may name, apply the batch to them in order
        // (`fold_status_events`), and write back the ones that moved in one statement. The
        // one writer connection holds the transaction: nothing moves the rows in between.
        let sids = Value::Array(events.iter().map(|e| Value::from(e.sid.as_str())).collect());
        let attempts = Value::Array(
            events
                .iter()
                .filter_map(|e| e.attempt_id.as_deref().map(Value::from))
                .collect(),
        );
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let rows = sqlx::query(
            "SELECT r.id, r.attempt_id, r.twilio_sid, r.status, r.error_code, r.error_message \
             FROM json_each(?1) AS j JOIN recipients r ON r.twilio_sid = j.value \
             UNION \
             SELECT r.id, r.attempt_id, r.twilio_sid, r.status, r.error_code, r.error_message \
             FROM json_each(?2) AS j JOIN recipients r ON r.attempt_id = j.value",
        )
        .bind(sids.to_string())
        .bind(attempts.to_string())
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
        let updates: Vec<Value> = moved
            .iter()
            .map(|r| {
                serde_json::json!([
                    r.id,
                    r.status.as_str(),
                    r.twilio_sid,
                    r.error_code,
                    r.error_message
                ])
            })
            .collect();
        sqlx::query(
            "UPDATE recipients SET status = v.status, twilio_sid = v.sid, error_code = v.code, \
             error_message = v.message, inflight_since = NULL, reconcile = 0, \
             next_attempt_at = NULL, submitted_at = COALESCE(recipients.submitted_at, ?2), \
             updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS status, value->>2 AS sid, \
                   value->>3 AS code, value->>4 AS message FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id",
        )
        .bind(Value::Array(updates).to_string())
        .bind(to_ms(now))
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let rows = sqlx::query(
            "SELECT seq, id FROM campaigns c WHERE status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM recipients r WHERE r.campaign_seq = c.seq AND r.status = 'pending')",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let mut changed = Vec::new();
        for row in rows {
            let seq: i64 = row.get("seq");
            let submitted_any: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM recipients WHERE campaign_seq = ? \
                 AND (status <> 'failed' OR twilio_sid IS NOT NULL))",
            )
            .bind(seq)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            let status = if submitted_any {
                CampaignStatus::Done
            } else {
                CampaignStatus::Failed
            };
            sqlx::query("UPDATE campaigns SET status = ?, finished_at = ? WHERE seq = ?")
                .bind(status.as_str())
                .bind(to_ms(now))
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            changed.push((CampaignId::from_trusted(row.get("id")), status));
        }
        tx.commit().await.map_err(backend)?;
        Ok(changed)
    }

    async fn unknown_in_flight(&self, limit: u32) -> StoreResult<Vec<InFlight>> {
        let rows = sqlx::query(
            "SELECT id, attempt_id, phone, from_number, body, inflight_since, attempts FROM recipients \
             WHERE inflight_since IS NOT NULL AND reconcile = 1 ORDER BY inflight_since LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
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
                since: from_ms(r.get("inflight_since")),
                attempts: r.get::<i64, _>("attempts") as u32,
            })
            .collect())
    }

    async fn known_sids(&self, phone: &str, from_number: &str) -> StoreResult<HashSet<String>> {
        let sids: Vec<String> = sqlx::query_scalar(
            "SELECT twilio_sid FROM recipients WHERE phone = ? AND from_number = ? AND twilio_sid IS NOT NULL",
        )
        .bind(phone)
        .bind(from_number)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(sids.into_iter().collect())
    }

    async fn campaign_running(&self, campaign_seq: i64) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT status = 'running' FROM campaigns WHERE seq = ?")
            .bind(campaign_seq)
            .fetch_optional(&self.reader)
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
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        Ok(n as u64)
    }

    async fn aggregate_counts(&self, account: &AccountId, id: &CampaignId) -> StoreResult<Counts> {
        let seq = self.campaign_seq(account, id).await?;
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM recipients WHERE campaign_seq = ? GROUP BY status",
        )
        .bind(seq)
        .fetch_all(&self.reader)
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

/// The row a send outcome is about.
fn result_id(result: &SendResult) -> i64 {
    match result {
        SendResult::Accepted { id, .. }
        | SendResult::Failed { id, .. }
        | SendResult::Retry { id, .. }
        | SendResult::Unknown { id, .. }
        | SendResult::Released { id, .. } => *id,
    }
}

/// Stores outcomes with one statement per kind of outcome, each over a JSON array of rows: a
/// statement per row costs a round trip to sqlx's SQLite thread, which capped sending at a
/// few thousand a second. Callers make sure no recipient is named twice.
async fn record_grouped(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    results: &[SendResult],
    now: OffsetDateTime,
) -> StoreResult<()> {
    let mut accepted = Vec::new();
    let mut failed = Vec::new();
    let mut retry = Vec::new();
    let mut unknown = Vec::new();
    let mut released = Vec::new();
    for result in results {
        match result {
            SendResult::Accepted {
                id,
                attempt_id,
                sid,
                status,
            } => accepted.push(serde_json::json!([
                id,
                attempt_id,
                sid,
                status.as_str(),
                status.rank()
            ])),
            SendResult::Failed {
                id,
                attempt_id,
                code,
                message,
            } => failed.push(serde_json::json!([id, attempt_id, code, message])),
            SendResult::Retry {
                id,
                attempt_id,
                not_before,
                code,
                message,
            } => retry.push(serde_json::json!([
                id,
                attempt_id,
                to_ms(*not_before),
                code,
                message
            ])),
            SendResult::Unknown {
                id,
                attempt_id,
                message,
            } => unknown.push(serde_json::json!([id, attempt_id, message])),
            SendResult::Released { id, attempt_id } => {
                released.push(serde_json::json!([id, attempt_id]))
            }
        }
    }
    let now = to_ms(now);
    let batches: [(&Vec<Value>, &'static str); 5] = [
        (
            &accepted,
            "UPDATE recipients SET twilio_sid = COALESCE(recipients.twilio_sid, v.sid), \
             status = CASE WHEN (CASE recipients.status WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 \
                 WHEN 'sent' THEN 2 ELSE 3 END) < v.rank THEN v.status ELSE recipients.status END, \
             error_code = CASE WHEN recipients.status = 'pending' THEN NULL ELSE recipients.error_code END, \
             error_message = CASE WHEN recipients.status = 'pending' THEN NULL ELSE recipients.error_message END, \
             inflight_since = NULL, reconcile = 0, next_attempt_at = NULL, \
             submitted_at = COALESCE(recipients.submitted_at, ?2), updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS sid, \
                   value->>3 AS status, value->>4 AS rank FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt",
        ),
        (
            &failed,
            "UPDATE recipients SET status = 'failed', error_code = v.code, error_message = v.message, \
             inflight_since = NULL, reconcile = 0, updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS code, \
                   value->>3 AS message FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.status = 'pending'",
        ),
        (
            &retry,
            "UPDATE recipients SET inflight_since = NULL, reconcile = 0, next_attempt_at = v.not_before, \
             error_code = v.code, error_message = v.message, updated_at = ?2, \
             status = CASE WHEN (SELECT status FROM campaigns WHERE seq = recipients.campaign_seq) = 'cancelled' \
                 THEN 'cancelled' ELSE recipients.status END \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS not_before, \
                   value->>3 AS code, value->>4 AS message FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.status = 'pending' AND recipients.inflight_since IS NOT NULL",
        ),
        (
            &unknown,
            "UPDATE recipients SET reconcile = 1, error_message = v.message, updated_at = ?2 \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt, value->>2 AS message \
                   FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.inflight_since IS NOT NULL",
        ),
        (
            &released,
            "UPDATE recipients SET inflight_since = NULL, reconcile = 0, attempts = recipients.attempts - 1, \
             updated_at = ?2, \
             status = CASE WHEN (SELECT status FROM campaigns WHERE seq = recipients.campaign_seq) = 'cancelled' \
                 THEN 'cancelled' ELSE recipients.status END \
             FROM (SELECT value->>0 AS id, value->>1 AS attempt FROM json_each(?1)) AS v \
             WHERE recipients.id = v.id AND recipients.attempt_id = v.attempt \
               AND recipients.status = 'pending' AND recipients.inflight_since IS NOT NULL",
        ),
    ];
    for (rows, sql) in batches {
        if rows.is_empty() {
            continue;
        }
        sqlx::query(sql)
            .bind(Value::Array(rows.clone()).to_string())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}
