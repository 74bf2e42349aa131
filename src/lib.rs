//! Herald: SMS campaigns through Twilio.
//!
//! # Layout
//!
//! Each module has one job; `docs/ARCHITECTURE.md` §1 draws them and the rules of who may
//! import whom (the edges `http` and `dashboard` are siblings that never import each other;
//! `domain` imports nothing of Herald; `store` only `domain`).
//!
//! - [`domain`]: pure types and rules: phones, templates, segments, statuses and counts,
//!   campaign requests and their checks, paste/CSV import, the input rules every edge applies
//!   (`domain::input`), consent, keywords, reply threads, send windows and phone numbers' time
//!   zones, the daily cap per recipient (`domain::daily_cap`), and the per-country SMS prices of a
//!   preview's cost (`domain::prices`).
//! - [`store`]: persistence behind aspect traits, SQLite and PostgreSQL, shared SQL written once.
//! - [`service`]: the use cases, one function per thing a user does; owns their side effects
//!   and returns the views both edges show ([`service::App`] is the application's handle).
//! - [`engine`]: sends: promotes, claims, paces per number, calls Twilio, reconciles; and,
//!   beside it, delivers outgoing webhooks from their outbox.
//! - [`provider`]: speaks to the outside: Twilio's REST API and webhooks, signatures, TwiML,
//!   and the model that answers replies.
//! - [`http`]: the JSON API and Twilio's webhooks (parse, call one service function, map).
//! - [`dashboard`]: the server-rendered pages over the same service functions.
//! - [`startup`]: composes the running application: state, both routers, engine, simulator.
//! - [`cli`]: the `herald` command line; [`config`]: its settings.
//! - [`simulator`]: a Twilio-compatible carrier, in-process or standalone.
//! - [`bench`]: the benchmarks of record (`herald bench`).
//! - [`metrics`]: Prometheus metrics; [`telemetry`]: logging; [`shutdown`]: the stop signal.

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
