//! Builds the application from `Settings`: database, migrations, first account, Twilio (or the
//! built-in simulator), send engine, listener, and the router: the API's and the dashboard's
//! side by side over one shared [`App`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Settings, TwilioSettings, redact_database_url, redact_error};
use crate::dashboard;
use crate::domain::ids::NodeId;
use crate::engine;
use crate::http;
use crate::provider::llm::LlmClient;
use crate::provider::twilio::{TwilioClient, TwilioConfig};
use crate::service::App;
use crate::service::accounts::{self, AccountCredentials};
use crate::service::replier::Replier;
use crate::simulator::{RunningSimulator, Simulator, SimulatorConfig};
use crate::store::{self, DynStore};

/// A built, bound, not yet running Herald.
pub struct Application {
    listener: TcpListener,
    state: App,
    client: TwilioClient,
    /// The in-process simulator, when no Twilio credentials were configured.
    pub simulator: Option<RunningSimulator>,
    /// Credentials of the account created on an empty database (shown once).
    pub bootstrap: Option<AccountCredentials>,
}

/// Where Twilio posts incoming SMS.
const INBOUND_PATH: &str = "/webhooks/twilio/inbound";

/// The address to connect to for a listener bound to `addr` (an unspecified address such as
/// `0.0.0.0` is reached on loopback).
fn connect_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// True for `http(s)://localhost…`, `127.x` and `[::1]` URLs.
fn is_loopback_url(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]")
}

/// A random hex string of `bytes` random bytes.
fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl Application {
    /// Connects and migrates the database, creates the first account if there is none,
    /// starts the simulator when Twilio is not configured, and binds the listener (so
    /// `local_addr` is known before serving).
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        settings.resolve_prices()?;
        let url = settings.database_url.clone();
        let store = store::connect(&url, &settings.db)
            .await
            .map_err(|e| redact_error(e, &url))
            .with_context(|| format!("opening the database {}", redact_database_url(&url)))?;
        store
            .migrate()
            .await
            .map_err(|e| redact_error(e.into(), &url))
            .context("migrating the database")?;
        let bootstrap = accounts::bootstrap(store.as_ref(), &settings.account_name)
            .await
            .map_err(|e| anyhow::anyhow!("creating the first account: {e}"))?;
        let listener = TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr()?;
        if settings.public_url.is_none() {
            settings.public_url = Some(format!("http://{addr}"));
        }

        let mut simulator = None;
        if settings.twilio.is_none() {
            let config = SimulatorConfig {
                account_sid: format!("AC{}", random_hex(16)),
                auth_token: random_hex(16),
                // Test inbound SMS go straight to this process, signed for the public URL.
                inbound_url: Some(format!("http://{}{INBOUND_PATH}", connect_addr(addr))),
                inbound_signed_url: Some(format!("{}{INBOUND_PATH}", settings.public_base())),
                ..settings.simulator.clone()
            };
            let sim = Simulator::spawn(config.clone(), &settings.simulator_bind)
                .await
                .context("starting the built-in Twilio simulator")?;
            settings.simulator_url = Some(sim.base_url.clone());
            tracing::warn!(
                address = %sim.base_url,
                "no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN: sending to the built-in Twilio simulator (no real SMS leaves)"
            );
            settings.twilio = Some(TwilioSettings {
                base_url: sim.base_url.clone(),
                account_sid: config.account_sid,
                auth_token: config.auth_token,
                api_key: None,
                timeout: std::time::Duration::from_secs(10),
            });
            simulator = Some(sim);
        }
        let twilio = settings.twilio.clone().expect("set above");
        if simulator.is_none() && is_loopback_url(settings.public_base()) {
            tracing::warn!(
                public_url = settings.public_base(),
                "sending through Twilio but --public-url is a loopback address: Twilio cannot deliver status callbacks or inbound messages here; set --public-url to the address Twilio reaches"
            );
        }
        let (username, password) = twilio
            .api_key
            .clone()
            .unwrap_or_else(|| (twilio.account_sid.clone(), twilio.auth_token.clone()));
        let client = TwilioClient::new(TwilioConfig {
            base_url: twilio.base_url.clone(),
            account_sid: twilio.account_sid.clone(),
            username,
            password,
            timeout: twilio.timeout,
        })
        .context("configuring the Twilio client")?;
        settings.engine.callback_base = settings.public_base().to_owned();
        settings.engine.node = settings
            .node_id
            .clone()
            .unwrap_or_else(|| NodeId::derive(&host_name(), &addr.to_string()));
        let llm = match &settings.llm {
            None => {
                tracing::info!(
                    "no model configured (--llm-base-url, --llm-model): replies are stored, not answered"
                );
                None
            }
            Some(config) => {
                let client = LlmClient::new(config).context("configuring the agent's model")?;
                tracing::info!(
                    endpoint = client.endpoint(),
                    model = client.model(),
                    "the agent answers replies with this model"
                );
                Some(client)
            }
        };

        let state =
            App::new(store, Arc::new(settings), Replier::new(llm)).with_twilio(client.clone());
        Ok(Self {
            listener,
            state,
            client,
            simulator,
            bootstrap,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The store, for tests and admin commands that share the process.
    pub fn store(&self) -> DynStore {
        self.state.store().clone()
    }

    /// The settings in force (with the public URL and Twilio filled in).
    pub fn settings(&self) -> Arc<Settings> {
        self.state.settings.clone()
    }

    /// Serves and sends until `shutdown` completes; then stops accepting requests, stops
    /// claiming work, lets in-flight requests finish (bounded) and stores their outcomes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = CancellationToken::new();
        let engine = self.state.settings.run_engine.then(|| {
            engine::spawn(
                self.state.store().clone(),
                self.client.clone(),
                self.state.settings.engine.clone(),
                self.state.engine().clone(),
                self.state.metrics.clone(),
                token.clone(),
            )
        });
        // The webhook deliverer: its own task beside the engine (never in its send path).
        let deliverer = if self.state.settings.run_engine && self.state.settings.webhooks.deliver {
            Some(engine::webhooks::spawn(
                self.state.store().clone(),
                self.state.settings.webhooks,
                self.state.webhook_wake().clone(),
                token.clone(),
            )?)
        } else {
            None
        };
        let stop = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        let app = self.state.clone();
        let settings = self.state.settings.clone();
        let router = router(self.state);
        let served = serve_http(self.listener, router, &settings, token.clone()).await;
        token.cancel();
        app.stop_replies(Duration::from_secs(5)).await;
        if let Some(engine) = engine {
            let _ = engine.await;
        }
        if let Some(deliverer) = deliverer {
            let _ = deliverer.await;
        }
        if let Some(sim) = self.simulator {
            sim.shutdown().await;
        }
        served
    }
}

/// Accepts connections until `stop` is cancelled, then lets open ones finish. Each
/// connection must send its request head within `header_read_timeout` (a client trickling
/// half a header is closed), at most `max_connections` are served at once (the next waits in
/// the listen backlog), and every request knows its client's address (`ConnectInfo`).
async fn serve_http(
    listener: TcpListener,
    router: Router,
    settings: &Settings,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    loop {
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.context("connection slots closed")?,
        };
        let (stream, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                req
            });
        let connection = graceful.watch(
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
        );
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The whole HTTP surface: the API's routes and the dashboard's, merged over one state, with
/// the layers every request passes (body limit, timeout, tracing, redacted credentials, and a
/// panic caught as the API's JSON 500). Unknown routes and methods answer the API's JSON
/// 404/405 unless the dashboard's catch-all serves the path.
fn router(app: App) -> Router {
    let max_body = app.settings.max_body_bytes;
    let hsts = app.settings.is_https();
    http::router()
        .merge(dashboard::router(app.clone()))
        .fallback(http::route_not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .with_state(app)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(CatchPanicLayer::custom(http::panic_response))
        .layer(middleware::map_response(move |res: Response| async move {
            security_headers(res, hsts)
        }))
}

/// Headers on every answer, API and dashboard alike (outermost, so 408s and panics get them
/// too): never sniff a content type, and insist on https once the public URL is https.
fn security_headers(mut res: Response, hsts: bool) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// The machine's host name (for a node's default name), or `localhost`.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_url;

    #[test]
    fn loopback_public_urls_are_recognised() {
        assert!(is_loopback_url("http://127.0.0.1:8080"));
        assert!(is_loopback_url("http://localhost:8080/x"));
        assert!(is_loopback_url("http://[::1]:8080"));
        assert!(!is_loopback_url("https://herald.example.com"));
        assert!(!is_loopback_url("https://user@sms.example.org:8443/hooks"));
    }
}
