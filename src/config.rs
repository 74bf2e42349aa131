//! Run-time settings of `herald serve`, gathered from flags and `HERALD_*` environment variables.

use crate::domain::campaign::Limits;

/// Everything `herald serve` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    pub bind: String,
    /// `sqlite://PATH` (created and migrated on start).
    pub database_url: String,
    /// The URL Twilio reaches this server at (status callbacks, signature checks);
    /// `None` means `http://` + the bound address.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Per-call limits on campaigns.
    pub limits: Limits,
}

impl Settings {
    /// Defaults for a local run against `database_url`.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: database_url.into(),
            public_url: None,
            max_body_bytes: 32 * 1024 * 1024,
            limits: Limits::default(),
        }
    }
}
