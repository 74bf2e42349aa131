//! Herald's black-box API tests: one binary, a real server per test, HTTP only.

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
