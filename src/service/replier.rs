//! The agent at work: answers an inbound message in the background with the model, and queues
//! the answer as an SMS through the engine (so it is paced, retried, reconciled and tracked
//! like any campaign message).
//!
//! Why in the background: the webhook answers Twilio at once (Twilio gives it 15 s, a model
//! may take longer). Concurrency is bounded; messages of one conversation are answered one at
//! a time, in order, so each answer sees the previous one in its history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::ids::{AccountId, CampaignId, ConversationId, MessageId};
use crate::domain::reply::{self, CampaignContext, HistoryLimits, PromptInput, Turn};
use crate::domain::segments;
use crate::engine::EngineHandle;
use crate::provider::llm::LlmClient;
use crate::store::{DynStore, NewReply, ReplyStatus, Store, StoreError};

/// Most model calls at once, across conversations.
pub const MAX_CONCURRENT_CALLS: usize = 8;

/// One inbound message for the agent to answer.
#[derive(Debug, Clone)]
pub struct AgentJob {
    /// The account.
    pub account_id: AccountId,
    /// Its conversation (answers within one are serialised).
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
}

/// Runs agent jobs in the background; cheap to clone.
#[derive(Clone)]
pub struct Replier {
    inner: Arc<Inner>,
}

struct Inner {
    llm: Option<LlmClient>,
    limits: HistoryLimits,
    permits: Semaphore,
    conversations: Mutex<HashMap<ConversationId, Arc<tokio::sync::Mutex<()>>>>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier")
            .field("llm", &self.inner.llm)
            .finish_non_exhaustive()
    }
}

impl Replier {
    /// A replier calling `llm` (`None`: no model configured, nothing is ever answered).
    pub fn new(llm: Option<LlmClient>) -> Self {
        Self {
            inner: Arc::new(Inner {
                llm,
                limits: HistoryLimits::default(),
                permits: Semaphore::new(MAX_CONCURRENT_CALLS),
                conversations: Mutex::default(),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// Whether a model is configured.
    pub fn is_configured(&self) -> bool {
        self.inner.llm.is_some()
    }

    /// Answers `job` in the background.
    pub fn spawn(&self, store: DynStore, engine: EngineHandle, job: AgentJob) {
        let Some(llm) = self.inner.llm.clone() else {
            return;
        };
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            let lock = inner.conversation_lock(&job.conversation_id);
            let run = async {
                let _turn = lock.lock().await;
                let _permit = inner.permits.acquire().await;
                answer(store.as_ref(), &llm, &engine, &job, inner.limits).await
            };
            let outcome = tokio::select! {
                outcome = run => outcome,
                _ = inner.shutdown.cancelled() => Err(AgentError::Failed(
                    "Herald stopped before the agent answered".into(),
                )),
            };
            if let Err(e) = outcome {
                let (status, text) = match e {
                    AgentError::Failed(text) => (ReplyStatus::Failed, text),
                    AgentError::Store(e) => {
                        tracing::error!(error = ?e, message_id = %job.message_id, "the agent could not read or store a conversation");
                        (ReplyStatus::Failed, "Herald could not store the answer".into())
                    }
                };
                if let Err(e) = store
                    .set_reply_status(&job.message_id, status, Some(&text))
                    .await
                {
                    tracing::error!(error = ?e, message_id = %job.message_id, "recording the agent's failure failed");
                }
            }
            drop(lock);
            inner.release_conversation(&job.conversation_id);
        });
    }

    /// Stops: model calls in progress are abandoned (their messages are marked `failed`), and
    /// this waits up to `grace` for the jobs to record that.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("agent jobs did not stop in time");
        }
    }
}

impl Inner {
    fn conversation_lock(&self, id: &ConversationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.conversations.lock().expect("conversation locks");
        map.entry(id.clone()).or_default().clone()
    }

    /// Forgets a conversation's lock when no other job holds or waits for it.
    fn release_conversation(&self, id: &ConversationId) {
        let mut map = self.conversations.lock().expect("conversation locks");
        if map.get(id).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(id);
        }
    }
}

/// Why a job did not answer.
#[derive(Debug)]
enum AgentError {
    /// The model failed; the text is recorded as the message's `reply_error`.
    Failed(String),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for AgentError {
    fn from(e: StoreError) -> Self {
        AgentError::Store(e)
    }
}

/// One answer: read the conversation, ask the model, queue the SMS.
async fn answer(
    store: &dyn Store,
    llm: &LlmClient,
    engine: &EngineHandle,
    job: &AgentJob,
    limits: HistoryLimits,
) -> Result<(), AgentError> {
    let work = store
        .agent_work(&job.account_id, &job.message_id, limits.max_messages as u32)
        .await?;
    if work.reply_status != Some(ReplyStatus::Pending) {
        return Ok(());
    }
    let skip = if work.opted_out {
        Some(ReplyStatus::OptedOut)
    } else if work.superseded {
        Some(ReplyStatus::Superseded)
    } else if work.agent.is_none() {
        Some(ReplyStatus::NoAgent)
    } else {
        None
    };
    if let Some(status) = skip {
        store
            .set_reply_status(&job.message_id, status, None)
            .await?;
        return Ok(());
    }
    let Some((agent_id, system_prompt)) = &work.agent else {
        return Ok(());
    };
    let campaign = work.campaign.as_ref().map(|c| CampaignContext {
        name: c.name.clone(),
        sent_at: c.sent_at,
        body: c.body.clone(),
        variables: c.variables.clone(),
    });
    let history: Vec<Turn> = work
        .history
        .iter()
        .map(|(direction, body)| Turn {
            direction: *direction,
            body: body.clone(),
        })
        .collect();
    let messages = reply::build_messages(
        &PromptInput {
            system_prompt,
            our_number: &work.our_number,
            their_number: &work.their_number,
            campaign: campaign.as_ref(),
            history: &history,
        },
        limits,
    );
    let started = std::time::Instant::now();
    let text = llm.complete(&messages).await.map_err(|e| {
        tracing::warn!(
            error = %e,
            message_id = %job.message_id,
            agent_id = %agent_id,
            "the agent's model did not answer; the message stays stored, unanswered"
        );
        AgentError::Failed(e.to_string())
    })?;
    let Some(body) = reply::sms_answer(&text) else {
        tracing::warn!(message_id = %job.message_id, "the agent's model answered with no text");
        return Err(AgentError::Failed("the model's answer was empty".into()));
    };
    let queued = store
        .create_reply(&NewReply {
            account_id: job.account_id.clone(),
            inbound_id: job.message_id.clone(),
            campaign_id: CampaignId::generate(),
            message_id: MessageId::generate(),
            segments: segments::count(&body).segments,
            body,
            now: OffsetDateTime::now_utc(),
        })
        .await?;
    if queued {
        engine.wake();
    }
    tracing::info!(
        message_id = %job.message_id,
        agent_id = %agent_id,
        queued,
        model_seconds = started.elapsed().as_secs_f64(),
        "the agent answered"
    );
    Ok(())
}
