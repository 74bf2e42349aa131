//! Run-time settings of `herald serve`, gathered from flags and `HERALD_*` environment variables.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::campaign::Limits;
use crate::domain::ids::NodeId;
use crate::domain::prices::PriceTable;
use crate::engine::EngineConfig;
pub use crate::engine::webhooks::WebhookSettings;
use crate::provider::llm::LlmConfig;
use crate::simulator::SimulatorConfig;
use crate::store::DbOptions;

/// How Herald reaches Twilio (or a Twilio-compatible carrier).
#[derive(Clone)]
pub struct TwilioSettings {
    /// API origin (`https://api.twilio.com`).
    pub base_url: String,
    /// The account (`AC…`).
    pub account_sid: String,
    /// The account's auth token: signs webhooks (and authenticates, without an API key).
    pub auth_token: String,
    /// Optional API key pair (`SK…`, secret) used for REST calls instead of the auth token.
    pub api_key: Option<(String, String)>,
    /// Whole-request timeout of REST calls.
    pub timeout: Duration,
}

impl fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("api_key", &self.api_key.as_ref().map(|(sid, _)| sid))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Everything `herald serve` needs to start.
#[derive(Clone)]
pub struct Settings {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    pub bind: String,
    /// `sqlite://PATH` or `postgres://…` (created, for SQLite, and migrated on start).
    pub database_url: String,
    /// Pool size and statement timeout of the database.
    pub db: DbOptions,
    /// The URL Twilio reaches this server at (status callbacks, signature checks);
    /// `None` means `http://` + the bound address.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Per-call limits on campaigns.
    pub limits: Limits,
    /// Twilio; `None` starts the built-in simulator on a loopback port.
    pub twilio: Option<TwilioSettings>,
    /// The send engine (its `callback_base` is filled in from the public URL).
    pub engine: EngineConfig,
    /// Run the send engine (tests of the API alone turn it off).
    pub run_engine: bool,
    /// How the built-in simulator behaves when `twilio` is `None` (its account sid and
    /// auth token are replaced by random ones at start). By default every message is
    /// delivered ([`crate::simulator::SimulatorMix`] picks another mix).
    pub simulator: SimulatorConfig,
    /// The name of the account created on an empty database (the sender name of STOP/HELP
    /// confirmations).
    pub account_name: String,
    /// Where the built-in simulator listens (port 0 picks a free one).
    pub simulator_bind: String,
    /// The built-in simulator's base URL once it runs (filled in at start; `None` with Twilio):
    /// the dashboard sends test inbound SMS through its `POST /sim/inbound`.
    pub simulator_url: Option<String>,
    /// Price of one SMS segment, for the cost estimate of a preview (Twilio bills per segment).
    pub price_per_segment: f64,
    /// Currency of `price_per_segment` (ISO 4217, e.g. `USD`).
    pub currency: String,
    /// Price of one segment by destination country, in `currency`: Twilio's published
    /// prices (`data/prices/twilio-sms.csv`) until [`crate::startup::Application::build`]
    /// applies `currency` and `price_file`. Countries not in it cost `price_per_segment`.
    pub prices: PriceTable,
    /// A CSV file in the shape of `data/prices/twilio-sms.csv` whose rows override the
    /// built-in prices (`--price-file`); read at start, a bad file refuses to start.
    pub price_file: Option<PathBuf>,
    /// The agent's OpenAI-compatible model; `None`: replies are stored, not answered.
    pub llm: Option<LlmConfig>,
    /// This node's name in a cluster; `None` derives it from the host name and the bound
    /// address, so a node restarting on the same address keeps its name.
    pub node_id: Option<NodeId>,
    /// A connection that has not sent a whole request head within this long (or sits idle
    /// between requests that long) is closed: a client trickling half a header holds nothing
    /// for long.
    pub header_read_timeout: Duration,
    /// Most client connections open at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// The bearer token `/metrics` requires; `None`: only loopback clients may read it.
    pub metrics_token: Option<String>,
    /// Outgoing webhooks (docs/ARCHITECTURE.md §10).
    pub webhooks: WebhookSettings,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database_url", &redact_database_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("twilio", &self.twilio)
            .field("node_id", &self.node_id)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The password of a database URL (`postgres://user:PASSWORD@host/db`, or a `password=`
/// query parameter), so it can be masked wherever the URL or an error quoting it is shown.
pub fn database_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    let in_query = rest.split_once('?').and_then(|(_, query)| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("password="))
    });
    in_userinfo.or(in_query).filter(|p| !p.is_empty())
}

/// The database URL with its password replaced by `***`: the only form that is ever logged
/// or printed.
pub fn redact_database_url(url: &str) -> String {
    redact_password(url, url)
}

/// `text` (a message, an error chain) with the password of the database URL `url` masked.
pub fn redact_password(text: &str, url: &str) -> String {
    match database_password(url) {
        Some(password) => text.replace(password, "***"),
        None => text.to_owned(),
    }
}

/// An error whose message (and causes) may quote the database URL, with its password masked.
pub fn redact_error(e: anyhow::Error, url: &str) -> anyhow::Error {
    if database_password(url).is_none() {
        return e;
    }
    anyhow::anyhow!("{}", redact_password(&format!("{e:#}"), url))
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
            db: DbOptions::default(),
            public_url: None,
            max_body_bytes: 32 * 1024 * 1024,
            limits: Limits::default(),
            twilio: None,
            engine: EngineConfig::default(),
            run_engine: true,
            simulator: SimulatorConfig {
                callback_delay: Duration::from_millis(500),
                ..SimulatorConfig::default()
            },
            simulator_bind: "127.0.0.1:0".into(),
            account_name: crate::service::accounts::DEFAULT_ACCOUNT_NAME.into(),
            simulator_url: None,
            price_per_segment: DEFAULT_PRICE_PER_SEGMENT,
            currency: DEFAULT_CURRENCY.into(),
            prices: PriceTable::twilio_defaults(),
            price_file: None,
            llm: None,
            node_id: None,
            header_read_timeout: Duration::from_secs(15),
            max_connections: 1024,
            metrics_token: None,
            webhooks: WebhookSettings::default(),
        }
    }

    /// Applies `currency` and `price_file` to `prices` (at start): the built-in prices when
    /// they are in `currency`, with the file's rows over them. A file that cannot be read or
    /// has a bad line (every price must be in `currency`) is an error naming the file and line.
    pub fn resolve_prices(&mut self) -> anyhow::Result<()> {
        let overrides = match &self.price_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!(
                        "reading the price file {} (--price-file): {e}",
                        path.display()
                    )
                })?;
                let table = PriceTable::parse(&text, &self.currency).map_err(|e| {
                    anyhow::anyhow!("the price file {} (--price-file), {e}", path.display())
                })?;
                Some(table)
            }
        };
        self.prices = self.prices.for_currency(&self.currency, overrides.as_ref());
        Ok(())
    }

    /// True when the public URL is https: cookies get `Secure`, answers `Strict-Transport-Security`.
    pub fn is_https(&self) -> bool {
        self.public_base().starts_with("https://")
    }

    /// The public URL without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.public_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_masked() {
        assert_eq!(
            redact_database_url("postgres://herald:s3cret@db.example:5432/herald"),
            "postgres://herald:***@db.example:5432/herald"
        );
        assert_eq!(
            redact_database_url("postgres://herald@db/herald?sslmode=require&password=s3cret"),
            "postgres://herald@db/herald?sslmode=require&password=***"
        );
        assert_eq!(
            redact_database_url("sqlite://herald.db"),
            "sqlite://herald.db"
        );
        assert_eq!(
            redact_database_url("postgres://herald@db/x"),
            "postgres://herald@db/x"
        );
        let e = anyhow::anyhow!("refused postgres://u:pw9@h/db").context("opening");
        assert_eq!(
            redact_error(e, "postgres://u:pw9@h/db").to_string(),
            "opening: refused postgres://u:***@h/db"
        );
        let s = Settings::new("postgres://u:pw9@h/db");
        assert!(!format!("{s:?}").contains("pw9"));
    }
}
