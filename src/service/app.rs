//! The application's shared state: the one handle every edge (the JSON API, the dashboard)
//! holds and passes to the use cases.
//!
//! Why here, in `service`: the use cases own every side effect (the store, waking the send
//! engine, background replies, metrics), so the handle to those belongs to the service layer.
//! Both edges depend on `service` and never on each other; `startup` builds one `App` and
//! hands it to both routers.

use std::sync::Arc;

use crate::config::Settings;
use crate::engine::EngineHandle;
use crate::engine::webhooks::WebhookWake;
use crate::metrics::Metrics;
use crate::provider::twilio::TwilioClient;
use crate::service::callbacks::StatusIngest;
use crate::service::replier::Replier;
use crate::store::DynStore;

/// What every use case can reach; cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct App {
    /// The database: reached through the use cases only (so each one's side effects stay
    /// together), hence not public outside `service`.
    pub(in crate::service) store: DynStore,
    /// Settings the use cases and edges need (limits, public URL, …).
    pub settings: Arc<Settings>,
    /// Wakes the send engine when there is new work (the use cases that make some do).
    pub(in crate::service) engine: EngineHandle,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Stores status callbacks in batches.
    pub callbacks: StatusIngest,
    /// Answers inbound messages with the agent's model, in the background.
    pub(in crate::service) replier: Replier,
    /// Wakes the webhook deliverer when a use case writes an event.
    pub(in crate::service) webhooks: WebhookWake,
    /// Twilio (or the simulator), asked which numbers the account owns; `None` (an `App`
    /// built without one, as some tests do) skips that check.
    pub(in crate::service) twilio: Option<TwilioClient>,
}

impl App {
    /// The state of a process serving `store` with `settings`: a fresh engine handle and
    /// metrics, and the status-callback ingestion task started on the current runtime.
    pub fn new(store: DynStore, settings: Arc<Settings>, replier: Replier) -> Self {
        Self {
            callbacks: StatusIngest::spawn(store.clone()),
            store,
            settings,
            engine: EngineHandle::new(),
            metrics: Metrics::new(),
            replier,
            webhooks: WebhookWake::default(),
            twilio: None,
        }
    }

    /// The webhook deliverer's wake-up, for the composition root to give the deliverer.
    pub fn webhook_wake(&self) -> &WebhookWake {
        &self.webhooks
    }

    /// The same, asking `client` which numbers the Twilio account owns.
    pub fn with_twilio(mut self, client: TwilioClient) -> Self {
        self.twilio = Some(client);
        self
    }

    /// The store, for the composition root (the engine shares it) and tests in the process.
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// The engine's handle, for the composition root to give the engine it starts.
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Abandons model calls in progress (their messages are marked `failed`) and waits up to
    /// `grace` for that to be recorded.
    pub async fn stop_replies(&self, grace: std::time::Duration) {
        self.replier.shutdown(grace).await;
    }

    /// Whether the database answers (the readiness probe); a failure is logged.
    pub async fn database_ready(&self) -> bool {
        match self.store.ping().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                false
            }
        }
    }
}
