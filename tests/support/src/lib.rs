//! Herald's integration-test harness, shared by `tests/api` and `tests/browser`: a real Herald
//! on a random loopback port with a fresh database, and the set-up steps tests share.
//!
//! The database is a SQLite file in a temporary directory, or, with
//! `HERALD_TEST_BACKEND=postgres` and `TEST_DATABASE_URL` (an admin URL such as
//! `postgres://postgres@127.0.0.1:55432/postgres`, what `scripts/pg-up.sh` prints), a fresh
//! PostgreSQL database `herald_test_<random>` created for the test and dropped after it.

mod app;
mod checks;
pub mod dashboard;
mod db;
mod spec;
mod twilio;

pub use app::{TestApp, spawn_app, spawn_app_with, spawn_sending_app};
pub use checks::{
    assert_cache_matches, assert_counts_match, error_fields, finished, json, succeeded,
};
pub use db::{Backend, RawDb, TestDb};
pub use spec::{SPEC_CREATE, spec_setup};
pub use twilio::Sent;
