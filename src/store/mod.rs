//! Persistence: one store per backend (SQLite, PostgreSQL), seen through aspect traits.
//!
//! Everything SQL lives below this module. Callers see records and typed errors, never a
//! driver type, so a backend can change without touching its callers.
//!
//! Layout: each aspect has a module with its records and trait (`accounts`, `resources`,
//! `campaigns`, `engine`, `conversations`, `consents`, `sessions`, `leases`, `webhooks`); [`Store`] is
//! all of them at once. The queries that are the same on both backends are written once in
//! `sql/`; `sqlite/` and `postgres/` hold only what differs (see `sql/mod.rs` for how).

pub mod accounts;
pub mod campaigns;
pub mod consents;
pub mod conversations;
pub mod engine;
pub mod leases;
mod postgres;
pub mod resources;
pub mod sessions;
mod sql;
mod sqlite;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use accounts::*;
pub use campaigns::*;
pub use consents::*;
pub use conversations::*;
pub use engine::*;
pub use leases::*;
pub use postgres::PgStore;
pub use resources::*;
pub use sessions::*;
pub use sqlite::SqliteStore;
pub use webhooks::*;

/// Every aspect trait, for callers that hold a concrete store (methods called through
/// [`DynStore`] need no import).
pub mod prelude {
    pub use super::{
        AccountStore, CampaignStore, ConsentStore, ConversationStore, EngineStore, LeaseStore,
        ResourceStore, SessionStore, Store, WebhookStore,
    };
}

/// Errors a store reports. Driver details travel only as the `source` of `Backend`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (or belongs to another account).
    #[error("not found")]
    NotFound,
    /// The write conflicts with existing data (a duplicate key, an object in use, …).
    #[error("{0}")]
    Conflict(String),
    /// The idempotency key was used before with a different request body.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// A [`RecipientSource`] refused its recipients part way; nothing was stored.
    #[error("the recipients were refused")]
    Refused,
    /// The database failed.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A shared handle to whichever backend the configuration chose.
pub type DynStore = Arc<dyn Store>;

/// How a store uses its database: pool size and statement timeout
/// (`--db-max-connections`, `--db-statement-timeout-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbOptions {
    /// Most connections a PostgreSQL pool opens (per node: size it so that every node's
    /// pool fits the server's `max_connections`). SQLite has one writer and uses this many
    /// readers, at most four.
    pub max_connections: u32,
    /// PostgreSQL cancels any statement running longer (`statement_timeout`; zero means
    /// no limit). Migrations are exempt. SQLite ignores it.
    pub statement_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Opens the database at `url` and returns its store, not yet migrated: `sqlite://PATH`
/// (the file is created if missing) or `postgres://USER@HOST[:PORT]/DATABASE` (the
/// database must exist).
pub async fn connect(url: &str, options: &DbOptions) -> anyhow::Result<DynStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect_with(url, options).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect(url, options).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL {url:?}: expected sqlite://PATH or postgres://USER@HOST/DATABASE"
        )
    }
}

/// Everything Herald persists: every aspect trait, plus what the database itself needs.
/// Every method that takes an account scopes to it: another account's object is
/// `NotFound`, never visible.
#[async_trait]
pub trait Store:
    AccountStore
    + ResourceStore
    + CampaignStore
    + EngineStore
    + ConversationStore
    + ConsentStore
    + SessionStore
    + LeaseStore
    + WebhookStore
    + Send
    + Sync
    + 'static
{
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Answers when the database can serve queries.
    async fn ping(&self) -> StoreResult<()>;
}
