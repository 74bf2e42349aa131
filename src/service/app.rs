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
use crate::metrics::Metrics;
use crate::service::agent::Replier;
use crate::service::callbacks::StatusIngest;
use crate::store::DynStore;

/// What every use case can reach; cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: DynStore,
    /// Settings the use cases and edges need (limits, public URL, …).
    pub settings: Arc<Settings>,
    /// Wakes the send engine when there is new work.
    pub engine: EngineHandle,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Stores status callbacks in batches.
    pub callbacks: StatusIngest,
    /// Answers inbound messages with the agent's model, in the background.
    pub replier: Replier,
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
        }
    }
}
