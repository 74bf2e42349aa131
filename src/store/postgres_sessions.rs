//! [`SessionStore`] on PostgreSQL: dashboard users, sessions and drafts (migration 0002).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use super::postgres::{backend, ms};
use super::sessions::{DashboardUser, DraftRecord, NewSession, SessionRecord, SessionStore};
use super::{PgStore, StoreError, StoreResult};
use crate::domain::ids::AccountId;

fn user_from_row(row: &PgRow) -> DashboardUser {
    DashboardUser {
        id: row.get("user_id"),
        account_id: AccountId::from_trusted(row.get("account_id")),
        username: row.get("username"),
        password_hash: row.get("password_hash"),
    }
}

fn draft_from_row(row: &PgRow) -> DraftRecord {
    DraftRecord {
        id: row.get("id"),
        account_id: AccountId::from_trusted(row.get("account_id")),
        user_id: row.get("user_id"),
        data: row.get("data"),
        upload: row.get("upload"),
        campaign_id: row.get("campaign_id"),
        created_at: row.get("created_at"),
    }
}

#[async_trait]
impl SessionStore for PgStore {
    async fn find_user(&self, username: &str) -> StoreResult<Option<DashboardUser>> {
        let row = sqlx::query(
            "SELECT id AS user_id, account_id, username, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        let now = ms(session.created_at);
        sqlx::query(
            "INSERT INTO dashboard_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.csrf_token, s.created_at, s.last_seen_at, \
                    u.id AS user_id, u.account_id, u.username, u.password_hash \
             FROM dashboard_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(|row| SessionRecord {
            user: user_from_row(&row),
            csrf_token: row.get("csrf_token"),
            created_at: row.get("created_at"),
            last_seen_at: row.get("last_seen_at"),
        }))
    }

    async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE dashboard_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(ms(now))
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&[u8]>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM dashboard_sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $3)",
        )
        .bind(user_id)
        .bind(keep)
        .bind(keep)
        .execute(&self.pool)
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
        .bind(ms(idle_before))
        .bind(ms(created_before))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn save_draft(&self, draft: &DraftRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO dashboard_drafts (id, account_id, user_id, data, upload, campaign_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&draft.id)
        .bind(draft.account_id.as_str())
        .bind(draft.user_id)
        .bind(&draft.data)
        .bind(&draft.upload)
        .bind(&draft.campaign_id)
        .bind(ms(draft.created_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_draft(&self, account: &AccountId, id: &str) -> StoreResult<DraftRecord> {
        let row = sqlx::query(
            "SELECT id, account_id, user_id, data, upload, campaign_id, created_at \
             FROM dashboard_drafts WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(draft_from_row).ok_or(StoreError::NotFound)
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_drafts_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM dashboard_drafts WHERE created_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
