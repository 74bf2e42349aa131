//! The PostgreSQL store: several Herald nodes sharing one database (docs/ARCHITECTURE.md §4, §8).
//!
//! Observable behaviour is the SQLite store's, method for method, and the queries both share
//! are written once in `sql/`. Why this folder exists: PostgreSQL runs several nodes'
//! transactions side by side, so what SQLite's single writer gives for free is explicit here:
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
//! - a number's opt-out state changes under a transaction-level advisory lock (`consents`);
//! - bulk writes travel as arrays (`UNNEST`), where SQLite uses `json_each`.

mod campaigns;
mod consents;
mod engine;
mod leases;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::sql::{self, Backend, backend};
use super::{DbOptions, Store, StoreError, StoreResult};

/// PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
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

impl PgStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`): a pool of
    /// `options.max_connections`, every session with `options.statement_timeout` and no JIT.
    pub async fn connect(url: &str, options: &DbOptions) -> anyhow::Result<Self> {
        let base = PgConnectOptions::from_str(url)?.application_name("herald");
        // No JIT: Herald's statements are short, and compiling one (PostgreSQL does it for
        // any plan it thinks costly) took longer than running it.
        let pooled = base.clone().options([
            (
                "statement_timeout",
                options.statement_timeout.as_millis().to_string(),
            ),
            ("jit", "off".to_owned()),
        ]);
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
}

impl Backend for PgStore {
    type Db = Postgres;
    type IdList = Vec<i64>;
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const FOR_NO_KEY_UPDATE: &'static str = " FOR NO KEY UPDATE";
    const FOR_NO_KEY_UPDATE_OF_C: &'static str = " FOR NO KEY UPDATE OF c";
    const IN_LIST_1: &'static str = "= ANY($1)";
    const SENDS_FROM_2: &'static str = "from_numbers @> jsonb_build_array($2::text)";
    const INSERT_COUNTS: &'static str =
        "INSERT INTO campaign_counts (campaign_seq, status, slot, n) VALUES ($1, $2, 0, $3)";
    const ADD_QUEUE: &'static str = "INSERT INTO campaign_queues AS q \
         (campaign_seq, from_number, slot, pending, segments, held) VALUES ($1, $2, 0, $3, $4, 0) \
         ON CONFLICT (campaign_seq, from_number, slot) DO UPDATE SET \
         pending = q.pending + excluded.pending, segments = q.segments + excluded.segments";
    const ADD_ERRORS: &'static str = "INSERT INTO campaign_errors AS e \
         (campaign_seq, error_code, slot, n, error_message) VALUES ($1, $2, 0, $3, $4) \
         ON CONFLICT (campaign_seq, error_code, slot) DO UPDATE SET n = e.n + excluded.n, \
         error_message = GREATEST(e.error_message, excluded.error_message)";

    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    fn write_pool(&self) -> &PgPool {
        &self.pool
    }

    fn id_list(ids: &[i64]) -> Vec<i64> {
        ids.to_vec()
    }
}

sql::accounts::account_store!(PgStore);
sql::resources::resource_store!(PgStore);
sql::campaigns::campaign_store!(PgStore);
sql::draft_phones::draft_phones_store!(PgStore);
sql::tallies::tallies_writer!(PgStore);
sql::engine::engine_store!(PgStore);
sql::conversations::conversation_store!(PgStore);
sql::consents::consent_store!(PgStore);
sql::sessions::session_store!(PgStore);
sql::leases::lease_store!(PgStore);
sql::webhooks::webhook_store!(PgStore);

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
}
