//! Builds the application from `Settings`: database, migrations, first account, listener, router.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::engine::EngineHandle;
use crate::http::{self, AppState};
use crate::service::accounts::{self, AccountCredentials};
use crate::store::{self, DynStore};

/// A built, bound, not yet running Herald.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Credentials of the account created on an empty database (shown once).
    pub bootstrap: Option<AccountCredentials>,
}

impl Application {
    /// Connects and migrates the database, creates the first account if there is none,
    /// and binds the listener (so `local_addr` is known before serving).
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        let store = store::connect(&settings.database_url)
            .await
            .with_context(|| format!("opening the database {}", settings.database_url))?;
        store.migrate().await.context("migrating the database")?;
        let bootstrap = accounts::bootstrap(store.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("creating the first account: {e}"))?;
        let listener = TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr()?;
        if settings.public_url.is_none() {
            settings.public_url = Some(format!("http://{addr}"));
        }
        let state = AppState {
            store,
            settings: Arc::new(settings),
            engine: EngineHandle::new(),
        };
        Ok(Self {
            listener,
            state,
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
        self.state.store.clone()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = http::router(self.state);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")
    }
}
