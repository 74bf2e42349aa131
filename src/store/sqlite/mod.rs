//! The SQLite store: Herald's zero-configuration default, one file beside the binary.
//!
//! Why it differs from PostgreSQL: SQLite allows one writer at a time. Rather than let
//! concurrent transactions race for the lock (and fail with SQLITE_BUSY when a reader
//! upgrades), every write goes through `writer`, a pool of exactly one connection; reads use
//! `reader`, which WAL mode lets run beside the writer. That single writer is what keeps
//! concurrent work apart here, so no query takes row locks; times are Unix milliseconds and
//! JSON is text (`json_each` where PostgreSQL has arrays). The queries both backends share
//! are in `sql/`; this folder holds connect and migrate, campaign creation (bulk insert),
//! the engine's writes, consent appends and leases.

mod campaigns;
mod consents;
mod engine;
mod leases;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use super::sql::{self, Backend, backend};
use super::{DbOptions, Store, StoreError, StoreResult};

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    /// A JSON array, read with `json_each`.
    type IdList = String;
    const FOR_UPDATE: &'static str = "";
    const FOR_NO_KEY_UPDATE: &'static str = "";
    const FOR_NO_KEY_UPDATE_OF_C: &'static str = "";
    const IN_LIST_1: &'static str = "IN (SELECT value FROM json_each($1))";
    const SENDS_FROM_2: &'static str =
        "EXISTS (SELECT 1 FROM json_each(campaigns.from_numbers) WHERE value = $2)";
    const INSERT_COUNTS: &'static str =
        "INSERT INTO campaign_counts (campaign_seq, status, n) VALUES ($1, $2, $3)";
    const ADD_QUEUE: &'static str = "INSERT INTO campaign_queues \
         (campaign_seq, from_number, pending, segments, held) VALUES ($1, $2, $3, $4, 0) \
         ON CONFLICT (campaign_seq, from_number) DO UPDATE SET \
         pending = pending + excluded.pending, segments = segments + excluded.segments";
    const ADD_ERRORS: &'static str = "INSERT INTO campaign_errors \
         (campaign_seq, error_code, n, error_message) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (campaign_seq, error_code) DO UPDATE SET n = n + excluded.n, \
         error_message = CASE WHEN error_message IS NULL OR excluded.error_message > error_message \
         THEN COALESCE(excluded.error_message, error_message) ELSE error_message END";

    fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    fn write_pool(&self) -> &SqlitePool {
        &self.writer
    }

    fn id_list(ids: &[i64]) -> String {
        serde_json::Value::from(ids).to_string()
    }
}

sql::accounts::account_store!(SqliteStore);
sql::resources::resource_store!(SqliteStore);
sql::campaigns::campaign_store!(SqliteStore);
sql::draft_phones::draft_phones_store!(SqliteStore);
sql::tallies::tallies_writer!(SqliteStore);
sql::engine::engine_store!(SqliteStore);
sql::conversations::conversation_store!(SqliteStore);
sql::consents::consent_store!(SqliteStore);
sql::sessions::session_store!(SqliteStore);
sql::leases::lease_store!(SqliteStore);
sql::webhooks::webhook_store!(SqliteStore);

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
}
