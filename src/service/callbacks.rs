//! Status-callback ingestion: callbacks arriving together are stored in one transaction.
//!
//! Twilio can post thousands of callbacks a second during a large campaign. One write
//! transaction per callback would make SQLite's single writer the bottleneck, so a task
//! gathers whatever arrived meanwhile (up to `MAX_BATCH`) and stores it at once. Each
//! request still waits for its own batch to commit before Twilio gets its 200, so an
//! acknowledged callback is never lost.

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::{ServiceError, ServiceResult};
use crate::store::{DynStore, StatusEvent};

/// Most callbacks stored in one transaction.
const MAX_BATCH: usize = 1024;

type Ack = oneshot::Sender<Result<(), String>>;

/// A handle to the ingestion task.
#[derive(Clone)]
pub struct StatusIngest {
    tx: mpsc::Sender<(StatusEvent, Ack)>,
}

impl StatusIngest {
    /// Starts the ingestion task on the current runtime.
    pub fn spawn(store: DynStore) -> Self {
        let (tx, mut rx) = mpsc::channel::<(StatusEvent, Ack)>(MAX_BATCH * 8);
        tokio::spawn(async move {
            let mut events = Vec::with_capacity(MAX_BATCH);
            let mut acks = Vec::with_capacity(MAX_BATCH);
            while let Some((event, ack)) = rx.recv().await {
                events.push(event);
                acks.push(ack);
                while events.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((event, ack)) => {
                            events.push(event);
                            acks.push(ack);
                        }
                        Err(_) => break,
                    }
                }
                let outcome = store
                    .apply_status_events(&events, OffsetDateTime::now_utc())
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        tracing::error!(error = ?e, callbacks = events.len(), "storing status callbacks failed");
                        "storing status callbacks failed".to_owned()
                    });
                for ack in acks.drain(..) {
                    let _ = ack.send(outcome.clone());
                }
                events.clear();
            }
        });
        Self { tx }
    }

    /// Stores one callback (batched with others); returns once it is committed.
    pub async fn submit(&self, event: StatusEvent) -> ServiceResult<()> {
        let (ack, done) = oneshot::channel();
        self.tx.send((event, ack)).await.map_err(|_| {
            ServiceError::Internal(anyhow::anyhow!("the callback ingestion task stopped"))
        })?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(ServiceError::Internal(anyhow::anyhow!(message))),
            Err(_) => Err(ServiceError::Internal(anyhow::anyhow!(
                "the callback ingestion task stopped"
            ))),
        }
    }
}
