//! Herald: SMS campaigns through Twilio.
//!
//! Layout (docs/ARCHITECTURE.md §1): `domain` is pure rules and types; `store` persists them;
//! `service` holds the use cases; `http` is the thin axum edge; `engine` sends;
//! `cli` and `startup` put it together.

pub mod bench;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod provider;
pub mod service;
pub mod shutdown;
pub mod simulator;
pub mod startup;
pub mod store;
pub mod telemetry;
