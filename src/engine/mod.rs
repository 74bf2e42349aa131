//! The send engine: promotes scheduled campaigns, claims pending recipients, paces and sends them.

use std::sync::Arc;

use tokio::sync::Notify;

/// A cheap handle the API uses to tell the engine there is new work
/// (a campaign created, launched or cancelled, a number's rate changed).
#[derive(Clone, Default)]
pub struct EngineHandle {
    notify: Arc<Notify>,
}

impl EngineHandle {
    /// A handle with nobody listening yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the engine if it sleeps; remembered if it is busy.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Waits for the next `wake`.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }
}
