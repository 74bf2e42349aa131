//! [`WebhookStore`](crate::store::WebhookStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism). The outbox itself is written by the triggers of
//! migration 0011 (per backend, in SQL); the claim borrows the engine's `SKIP_LOCKED`.

use sqlx::types::Json;

use super::StoredTime;
use crate::domain::ids::EndpointId;
use crate::domain::webhooks::decode_event_list;
use crate::store::{WebhookAttempt, WebhookEndpoint};

/// `webhook_endpoints` (with its pending count) as a [`WebhookEndpoint`].
#[derive(sqlx::FromRow)]
pub(in crate::store) struct EndpointRow {
    id: String,
    url: String,
    description: Option<String>,
    events: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<StoredTime>,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<StoredTime>,
    created_at: StoredTime,
    updated_at: StoredTime,
    pending: i64,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        Self {
            id: EndpointId::from_trusted(r.id),
            url: r.url,
            description: r.description,
            events: decode_event_list(&r.events),
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_secret_until: r.previous_secret_until.map(Into::into),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            failing_since: r.failing_since.map(Into::into),
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
            pending: r.pending.max(0) as u64,
        }
    }
}

/// The columns of [`EndpointRow`], from `webhook_endpoints e`.
pub(in crate::store) const ENDPOINT_COLUMNS: &str = "e.id, e.url, e.description, e.events, e.secret, e.previous_secret, \
     e.previous_secret_until, e.enabled, e.disabled_reason, e.failing_since, e.created_at, \
     e.updated_at, (SELECT COUNT(*) FROM webhook_messages m \
                    WHERE m.endpoint_seq = e.seq AND m.state = 'pending') AS pending";

/// A claimed `webhook_messages` row.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ClaimedRow {
    pub(in crate::store) id: i64,
    pub(in crate::store) webhook_id: String,
    pub(in crate::store) endpoint_seq: i64,
    pub(in crate::store) event_type: String,
    pub(in crate::store) data: Json<serde_json::Value>,
    pub(in crate::store) created_at: StoredTime,
    pub(in crate::store) attempts: i32,
}

/// What a claim needs of an endpoint.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct TargetRow {
    pub(in crate::store) seq: i64,
    pub(in crate::store) url: String,
    pub(in crate::store) secret: String,
    pub(in crate::store) previous_secret: Option<String>,
    pub(in crate::store) previous_secret_until: Option<StoredTime>,
    pub(in crate::store) failing_since: Option<StoredTime>,
}

/// An attempt joined with its message.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct AttemptRow {
    event_type: String,
    webhook_id: String,
    attempt: i32,
    status_code: Option<i32>,
    error: Option<String>,
    created_at: StoredTime,
}

impl From<AttemptRow> for WebhookAttempt {
    fn from(r: AttemptRow) -> Self {
        Self {
            event_type: r.event_type,
            webhook_id: r.webhook_id,
            attempt: r.attempt.max(0) as u32,
            status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
            error: r.error,
            at: r.created_at.into(),
        }
    }
}

/// A fresh `webhook-id` (the triggers make theirs the same way: `whmsg_` and 24 hex digits).
pub(in crate::store) fn new_webhook_id() -> String {
    format!(
        "whmsg_{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}

/// Writes `impl WebhookStore for $store`.
macro_rules! webhook_store {
    ($store:ty) => {
        const _: () = {
            use $crate::domain::ids::EndpointId;
            use $crate::domain::webhooks::encode_event_list;
            use $crate::store::sql::engine::EngineSql;
            use $crate::store::sql::prelude::*;
            use $crate::store::sql::webhooks::{
                AttemptRow, ClaimedRow, ENDPOINT_COLUMNS, EndpointRow, TargetRow, new_webhook_id,
            };

            impl $store {
                async fn endpoint_seq(
                    &self,
                    account: &AccountId,
                    id: &EndpointId,
                ) -> StoreResult<i64> {
                    sqlx::query_scalar(
                        "SELECT seq FROM webhook_endpoints WHERE account_id = $1 AND id = $2",
                    )
                    .bind(account.as_str())
                    .bind(id.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)
                }
            }

            #[async_trait]
            impl WebhookStore for $store {
                async fn create_webhook_endpoint(
                    &self,
                    account: &AccountId,
                    e: &WebhookEndpoint,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO webhook_endpoints (id, account_id, url, description, events, \
                         secret, previous_secret, previous_secret_until, enabled, disabled_reason, \
                         failing_since, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(e.id.as_str())
                    .bind(account.as_str())
                    .bind(&e.url)
                    .bind(&e.description)
                    .bind(encode_event_list(&e.events))
                    .bind(&e.secret)
                    .bind(&e.previous_secret)
                    .bind(e.previous_secret_until.map(stored))
                    .bind(e.enabled)
                    .bind(&e.disabled_reason)
                    .bind(e.failing_since.map(stored))
                    .bind(stored(e.created_at))
                    .bind(stored(e.updated_at))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn list_webhook_endpoints(
                    &self,
                    account: &AccountId,
                ) -> StoreResult<Vec<WebhookEndpoint>> {
                    let rows = sqlx::query_as::<_, EndpointRow>(AssertSqlSafe(format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e \
                         WHERE e.account_id = $1 ORDER BY e.seq"
                    )))
                    .bind(account.as_str())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn get_webhook_endpoint(
                    &self,
                    account: &AccountId,
                    id: &EndpointId,
                ) -> StoreResult<WebhookEndpoint> {
                    let row = sqlx::query_as::<_, EndpointRow>(AssertSqlSafe(format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e \
                         WHERE e.account_id = $1 AND e.id = $2"
                    )))
                    .bind(account.as_str())
                    .bind(id.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    row.map(Into::into).ok_or(StoreError::NotFound)
                }

                async fn update_webhook_endpoint(
                    &self,
                    account: &AccountId,
                    e: &WebhookEndpoint,
                ) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE webhook_endpoints SET url = $3, description = $4, events = $5, \
                         secret = $6, previous_secret = $7, previous_secret_until = $8, \
                         enabled = $9, disabled_reason = $10, failing_since = $11, updated_at = $12 \
                         WHERE account_id = $1 AND id = $2",
                    )
                    .bind(account.as_str())
                    .bind(e.id.as_str())
                    .bind(&e.url)
                    .bind(&e.description)
                    .bind(encode_event_list(&e.events))
                    .bind(&e.secret)
                    .bind(&e.previous_secret)
                    .bind(e.previous_secret_until.map(stored))
                    .bind(e.enabled)
                    .bind(&e.disabled_reason)
                    .bind(e.failing_since.map(stored))
                    .bind(stored(e.updated_at))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn delete_webhook_endpoint(
                    &self,
                    account: &AccountId,
                    id: &EndpointId,
                ) -> StoreResult<()> {
                    // Messages and attempts go by ON DELETE CASCADE (attempts reference
                    // messages; messages reference the endpoint).
                    let done = sqlx::query(
                        "DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2",
                    )
                    .bind(account.as_str())
                    .bind(id.as_str())
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn webhook_attempts(
                    &self,
                    account: &AccountId,
                    id: &EndpointId,
                    limit: u32,
                ) -> StoreResult<Vec<WebhookAttempt>> {
                    let seq = self.endpoint_seq(account, id).await?;
                    let rows = sqlx::query_as::<_, AttemptRow>(
                        "SELECT m.event_type, m.webhook_id, a.attempt, a.status_code, a.error, \
                         a.created_at FROM webhook_attempts a \
                         JOIN webhook_messages m ON m.id = a.message_id \
                         WHERE a.endpoint_seq = $1 ORDER BY a.id DESC LIMIT $2",
                    )
                    .bind(seq)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn enqueue_webhook_event(
                    &self,
                    account: &AccountId,
                    event_type: &str,
                    data: &serde_json::Value,
                    only: Option<&EndpointId>,
                    at: OffsetDateTime,
                ) -> StoreResult<u64> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let wanted = format!(",{event_type},");
                    let targets: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT seq, events FROM webhook_endpoints \
                         WHERE account_id = $1 AND enabled = TRUE AND ($2 IS NULL OR id = $2) \
                         ORDER BY seq",
                    )
                    .bind(account.as_str())
                    .bind(only.map(EndpointId::as_str))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let mut written = 0;
                    for (seq, events) in targets {
                        if only.is_none() && !events.contains(&wanted) {
                            continue;
                        }
                        sqlx::query(
                            "INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, \
                             data, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5)",
                        )
                        .bind(new_webhook_id())
                        .bind(seq)
                        .bind(event_type)
                        .bind(Json(data))
                        .bind(stored(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        written += 1;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(written)
                }

                async fn claim_webhooks(
                    &self,
                    now: OffsetDateTime,
                    hold_until: OffsetDateTime,
                    limit: u32,
                    busy: &[i64],
                ) -> StoreResult<Vec<DueWebhook>> {
                    // Nothing due (the usual answer): a read, so an idle outbox never
                    // takes SQLite's one writer from the engine.
                    let any: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM webhook_messages \
                         WHERE state = 'pending' AND next_attempt_at <= $1 LIMIT 1",
                    )
                    .bind(stored(now))
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    if any.is_none() {
                        return Ok(Vec::new());
                    }
                    // One statement selects and holds (see `claim_polls` in sql/engine.rs for
                    // the pattern): the re-check of the due time outside the subquery drops a
                    // row that another node's committed claim moved meanwhile.
                    let mut claimed = sqlx::query_as::<_, ClaimedRow>(AssertSqlSafe(format!(
                        "UPDATE webhook_messages SET next_attempt_at = $2 \
                         WHERE id IN (SELECT m.id FROM webhook_messages m \
                                      WHERE m.state = 'pending' AND m.next_attempt_at <= $3 \
                                        AND NOT (m.endpoint_seq {in_busy}) \
                                        AND EXISTS (SELECT 1 FROM webhook_endpoints e \
                                                    WHERE e.seq = m.endpoint_seq \
                                                      AND e.enabled = TRUE) \
                                      ORDER BY m.next_attempt_at, m.id LIMIT $4{skip}) \
                         AND state = 'pending' AND next_attempt_at <= $3 \
                         RETURNING id, webhook_id, endpoint_seq, event_type, data, created_at, \
                                   attempts",
                        in_busy = Self::IN_LIST_1,
                        skip = Self::SKIP_LOCKED,
                    )))
                    .bind(Self::id_list(busy))
                    .bind(stored(hold_until))
                    .bind(stored(now))
                    .bind(i64::from(limit))
                    .fetch_all(self.write_pool())
                    .await
                    .map_err(backend)?;
                    if claimed.is_empty() {
                        return Ok(Vec::new());
                    }
                    claimed.sort_by_key(|r| r.id);
                    let mut seqs: Vec<i64> = claimed.iter().map(|r| r.endpoint_seq).collect();
                    seqs.sort_unstable();
                    seqs.dedup();
                    let targets = sqlx::query_as::<_, TargetRow>(AssertSqlSafe(format!(
                        "SELECT seq, url, secret, previous_secret, previous_secret_until, \
                         failing_since FROM webhook_endpoints WHERE seq {}",
                        Self::IN_LIST_1
                    )))
                    .bind(Self::id_list(&seqs))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let targets: HashMap<i64, TargetRow> =
                        targets.into_iter().map(|t| (t.seq, t)).collect();
                    Ok(claimed
                        .into_iter()
                        .filter_map(|r| {
                            // An endpoint deleted since the claim takes its messages with it.
                            let t = targets.get(&r.endpoint_seq)?;
                            let mut secrets = vec![t.secret.clone()];
                            if let (Some(prev), Some(until)) =
                                (&t.previous_secret, t.previous_secret_until)
                            {
                                if until.get() > now {
                                    secrets.push(prev.clone());
                                }
                            }
                            Some(DueWebhook {
                                id: r.id,
                                webhook_id: r.webhook_id,
                                endpoint_seq: r.endpoint_seq,
                                url: t.url.clone(),
                                secrets,
                                failing_since: t.failing_since.map(Into::into),
                                event_type: r.event_type,
                                data: r.data.0,
                                created_at: r.created_at.into(),
                                attempts: r.attempts.max(0) as u32,
                            })
                        })
                        .collect())
                }

                async fn record_webhook_attempt(
                    &self,
                    r: &WebhookAttemptResult,
                ) -> StoreResult<()> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let at = stored(r.at);
                    // The message first, then the endpoint (the order every writer here
                    // keeps); a message deleted meanwhile (its endpoint was) ends it.
                    let (state, next, finished) = match r.next {
                        WebhookNext::Delivered => ("delivered", at, Some(at)),
                        WebhookNext::RetryAt(t) => ("pending", stored(t), None),
                        WebhookNext::GiveUp => ("failed", at, Some(at)),
                    };
                    let updated = sqlx::query(
                        "UPDATE webhook_messages SET state = $2, attempts = $3, \
                         next_attempt_at = $4, finished_at = $5 \
                         WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(r.message_id)
                    .bind(state)
                    .bind(r.attempt as i32)
                    .bind(next)
                    .bind(finished)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                    if updated == 0 {
                        return tx.commit().await.map_err(backend);
                    }
                    sqlx::query(
                        "INSERT INTO webhook_attempts (message_id, endpoint_seq, attempt, \
                         status_code, error, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(r.message_id)
                    .bind(r.endpoint_seq)
                    .bind(r.attempt as i32)
                    .bind(r.status_code.map(i32::from))
                    .bind(&r.error)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if r.next == WebhookNext::Delivered {
                        sqlx::query(
                            "UPDATE webhook_endpoints SET failing_since = NULL \
                             WHERE seq = $1 AND failing_since IS NOT NULL",
                        )
                        .bind(r.endpoint_seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    } else {
                        sqlx::query(
                            "UPDATE webhook_endpoints SET failing_since = $2 \
                             WHERE seq = $1 AND failing_since IS NULL",
                        )
                        .bind(r.endpoint_seq)
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        if let Some(reason) = &r.disable {
                            sqlx::query(
                                "UPDATE webhook_endpoints SET enabled = FALSE, \
                                 disabled_reason = $2, updated_at = $3 \
                                 WHERE seq = $1 AND enabled = TRUE",
                            )
                            .bind(r.endpoint_seq)
                            .bind(reason)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        }
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn purge_webhooks(&self, before: OffsetDateTime) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "DELETE FROM webhook_messages WHERE id IN \
                         (SELECT id FROM webhook_messages \
                          WHERE state <> 'pending' AND finished_at < $1 LIMIT 10000)",
                    )
                    .bind(stored(before))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(in crate::store) use webhook_store;
