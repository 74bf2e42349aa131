//! [`SessionStore`](crate::store::SessionStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism).

/// Writes `impl SessionStore for $store`.
macro_rules! session_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::prelude::*;

            #[async_trait]
            impl SessionStore for $store {
                async fn find_user(&self, username: &str) -> StoreResult<Option<DashboardUser>> {
                    let row = sqlx::query_as::<_, UserRow>(
                        "SELECT id AS user_id, account_id, username, password_hash FROM users \
                         WHERE username = $1",
                    )
                    .bind(username)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(DashboardUser::from))
                }

                async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(user_id)
                        .execute(self.write_pool())
                        .await
                        .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn user_phone(&self, user_id: i64) -> StoreResult<Option<String>> {
                    let row: Option<(Option<String>,)> =
                        sqlx::query_as("SELECT phone FROM users WHERE id = $1")
                            .bind(user_id)
                            .fetch_optional(self.read_pool())
                            .await
                            .map_err(backend)?;
                    row.map(|(phone,)| phone).ok_or(StoreError::NotFound)
                }

                async fn set_user_phone(&self, user_id: i64, phone: Option<&str>) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET phone = $1 WHERE id = $2")
                        .bind(phone)
                        .bind(user_id)
                        .execute(self.write_pool())
                        .await
                        .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO dashboard_sessions (token_hash, user_id, csrf_token, \
                         created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)",
                    )
                    .bind(&session.token_hash)
                    .bind(session.user_id)
                    .bind(&session.csrf_token)
                    .bind(stored(session.created_at))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
                    let row = sqlx::query_as::<_, SessionRow>(
                        "SELECT s.csrf_token, s.created_at, s.last_seen_at, \
                                u.id AS user_id, u.account_id, u.username, u.password_hash \
                         FROM dashboard_sessions s JOIN users u ON u.id = s.user_id \
                         WHERE s.token_hash = $1",
                    )
                    .bind(token_hash)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(SessionRecord::from))
                }

                async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()> {
                    sqlx::query("UPDATE dashboard_sessions SET last_seen_at = $1 WHERE token_hash = $2")
                        .bind(stored(now))
                        .bind(token_hash)
                        .execute(self.write_pool())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
                    sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
                        .bind(token_hash)
                        .execute(self.write_pool())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn delete_user_sessions(
                    &self,
                    user_id: i64,
                    keep: Option<&[u8]>,
                ) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "DELETE FROM dashboard_sessions WHERE user_id = $1 \
                         AND ($2 OR token_hash <> $3)",
                    )
                    .bind(user_id)
                    .bind(keep.is_none())
                    .bind(keep)
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected())
                }

                async fn delete_expired_sessions(
                    &self,
                    idle_before: OffsetDateTime,
                    created_before: OffsetDateTime,
                ) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "DELETE FROM dashboard_sessions WHERE last_seen_at < $1 OR created_at < $2",
                    )
                    .bind(stored(idle_before))
                    .bind(stored(created_before))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected())
                }

                async fn save_draft(&self, draft: &DraftRecord) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO dashboard_drafts (id, account_id, user_id, data, upload, \
                         campaign_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&draft.id)
                    .bind(draft.account_id.as_str())
                    .bind(draft.user_id)
                    .bind(&draft.data)
                    .bind(&draft.upload)
                    .bind(&draft.campaign_id)
                    .bind(stored(draft.created_at))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn get_draft(&self, account: &AccountId, id: &str) -> StoreResult<DraftRecord> {
                    sqlx::query_as::<_, DraftRow>(
                        "SELECT id, account_id, user_id, data, upload, campaign_id, created_at \
                         FROM dashboard_drafts WHERE id = $1 AND account_id = $2",
                    )
                    .bind(id)
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .map(DraftRecord::from)
                    .ok_or(StoreError::NotFound)
                }

                async fn mark_draft_sent(
                    &self,
                    account: &AccountId,
                    id: &str,
                    campaign_id: &str,
                ) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE dashboard_drafts SET campaign_id = $1 WHERE id = $2 AND account_id = $3",
                    )
                    .bind(campaign_id)
                    .bind(id)
                    .bind(account.as_str())
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn delete_drafts_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM dashboard_drafts WHERE created_at < $1")
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

pub(in crate::store) use session_store;
