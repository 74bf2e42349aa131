//! Herald's black-box API tests: one binary, a real server per test, HTTP only.

/// Store tests written once, run on every backend: each `async fn NAME(db: &TestDb)` named
/// becomes `sqlite::NAME` (always) and `postgres::NAME` (on a fresh database of the server
/// `TEST_DATABASE_URL` names; skipped when it is unset, failed when
/// `HERALD_REQUIRE_POSTGRES=1` says PostgreSQL must be covered). Defined before the modules
/// so every one of them can use it.
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::helpers::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else {
                        eprintln!("skipped: set TEST_DATABASE_URL (scripts/pg-up.sh prints one)");
                        return;
                    };
                    super::$name(&db).await;
                }
            )+
        }
    };
}

mod appends;
mod auth;
mod bench;
mod campaigns;
mod chaos;
mod cli;
mod cluster;
mod daily_cap;
mod dashboard;
mod edge;
mod engine;
mod errors;
mod eta;
mod input_rules;
mod lane_claims;
mod number_ownership;
mod openapi_document;
mod operations;
mod pause_crash;
mod polling;
mod preview;
mod prices;
mod profile_store;
mod recipient_keys;
mod replies;
mod resources;
mod sandbox;
mod scale_store;
mod send_windows;
mod store_conformance;
mod tally_store;
mod webhook_store;
mod webhooks;
mod webhooks_chaos;

// The conformance suite's test macro names the harness by this path.
use herald_test_support as helpers;
