//! Databases for tests: a fresh SQLite file or PostgreSQL database per test, and a raw
//! connection for the few tests that look beneath the store.

use reqwest::Url;
use sqlx::migrate::MigrateDatabase;
use tempfile::TempDir;

use herald::store::{self, DbOptions, DynStore};

/// A database backend the tests can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A fresh, empty (not yet migrated) database for one test. A PostgreSQL database is
/// dropped when this is, even when the test panicked.
pub struct TestDb {
    /// Which backend it is on.
    pub backend: Backend,
    /// Its connection URL.
    pub url: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        TestDb {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
        }
    }

    /// A new database `herald_test_<random>` on the server of `TEST_DATABASE_URL`; `None`
    /// when that is unset (the caller skips), unless `HERALD_REQUIRE_POSTGRES=1` says the
    /// run must cover PostgreSQL (then it panics).
    pub async fn postgres() -> Option<TestDb> {
        let Some(admin) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            if std::env::var("HERALD_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("HERALD_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
            }
            return None;
        };
        let mut url = Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/herald_test_{:016x}", rand::random::<u64>()));
        let url = url.to_string();
        sqlx::Postgres::create_database(&url)
            .await
            .unwrap_or_else(|e| panic!("creating a test database on {admin}: {e}"));
        Some(TestDb {
            backend: Backend::Postgres,
            url,
            _dir: None,
        })
    }

    /// The backend `HERALD_TEST_BACKEND` names (`sqlite`, the default, or `postgres`).
    pub async fn for_api_tests() -> TestDb {
        match std::env::var("HERALD_TEST_BACKEND").as_deref() {
            Ok("postgres") => TestDb::postgres()
                .await
                .expect("HERALD_TEST_BACKEND=postgres needs TEST_DATABASE_URL"),
            Ok("sqlite") | Ok("") | Err(_) => TestDb::sqlite(),
            Ok(other) => panic!("HERALD_TEST_BACKEND={other:?}: expected sqlite or postgres"),
        }
    }

    /// A new store on this database with its own connection pool (a second one stands in
    /// for a second Herald node), migrated.
    pub async fn store(&self) -> DynStore {
        let store = self.connect().await;
        store.migrate().await.expect("migrations apply");
        store
    }

    /// Like [`TestDb::store`], not migrated.
    pub async fn connect(&self) -> DynStore {
        let options = DbOptions {
            max_connections: 4,
            ..DbOptions::default()
        };
        store::connect(&self.url, &options)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e:#}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        // Drop can't await, and may run on a runtime that is shutting down: use a thread
        // with a runtime of its own. `force_drop_database` ends the test's connections.
        let url = self.url.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(sqlx::Postgres::force_drop_database(&url))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.url);
        }
    }
}

/// A direct connection to a test app's database, for the few tests that look beneath the API
/// (the SQL they run must mean the same on both backends).
pub enum RawDb {
    /// A pool on a SQLite file.
    Sqlite(sqlx::SqlitePool),
    /// A pool on a PostgreSQL database.
    Postgres(sqlx::PgPool),
}

impl RawDb {
    /// Connects to the database at `url` (SQLite or PostgreSQL, by its scheme).
    pub async fn connect(url: &str) -> RawDb {
        if url.starts_with("sqlite:") {
            RawDb::Sqlite(sqlx::SqlitePool::connect(url).await.expect("SQLite"))
        } else {
            RawDb::Postgres(sqlx::PgPool::connect(url).await.expect("PostgreSQL"))
        }
    }

    /// The first column of every row, as text.
    pub async fn strings(&self, sql: &'static str) -> Vec<String> {
        match self {
            RawDb::Sqlite(db) => sqlx::query_scalar(sql).fetch_all(db).await,
            RawDb::Postgres(db) => sqlx::query_scalar(sql).fetch_all(db).await,
        }
        .expect("query")
    }

    /// Runs a statement; the rows it changed.
    pub async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        match self {
            RawDb::Sqlite(db) => sqlx::query(sql)
                .execute(db)
                .await
                .map(|r| r.rows_affected()),
            RawDb::Postgres(db) => sqlx::query(sql)
                .execute(db)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Closes the pool.
    pub async fn close(self) {
        match self {
            RawDb::Sqlite(db) => db.close().await,
            RawDb::Postgres(db) => db.close().await,
        }
    }
}
