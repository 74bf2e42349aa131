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
    /// Price of one SMS segment, for the cost estimate of a preview (Twilio bills per segment).
    pub price_per_segment: f64,
    /// Currency of `price_per_segment` (ISO 4217, e.g. `USD`).
    pub currency: String,
}

/// Twilio's list price of one outbound SMS segment to the US, in USD.
pub const DEFAULT_PRICE_PER_SEGMENT: f64 = 0.0079;
/// Currency of [`DEFAULT_PRICE_PER_SEGMENT`].
pub const DEFAULT_CURRENCY: &str = "USD";

impl Settings {
    /// Defaults for a local run against `database_url`.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: database_url.into(),
            public_url: None,
            max_body_bytes: 32 * 1024 * 1024,
            limits: Limits::default(),
            price_per_segment: DEFAULT_PRICE_PER_SEGMENT,
            currency: DEFAULT_CURRENCY.into(),
        }
    }
}
