//! [`SessionStore`] on SQLite: dashboard users, sessions and drafts (migration 0002).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use super::sessions::{DashboardUser, DraftRecord, NewSession, SessionRecord, SessionStore};
use super::sqlite::{backend, from_ms, to_ms};
use super::{SqliteStore, StoreError, StoreResult};
use crate::domain::ids::AccountId;

fn user_from_row(row: &SqliteRow) -> DashboardUser {
    DashboardUser {
        id: row.get("user_id"),
        account_id: AccountId::from_trusted(row.get("account_id")),
        username: row.get("username"),
        password_hash: row.get("password_hash"),
    }
}

fn draft_from_row(row: &SqliteRow) -> DraftRecord {
    DraftRecord {
        id: row.get("id"),
        account_id: AccountId::from_trusted(row.get("account_id")),
        user_id: row.get("user_id"),
        data: row.get("data"),
        upload: row.get("upload"),
        campaign_id: row.get("campaign_id"),
        created_at: from_ms(row.get("created_at")),
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn find_user(&self, username: &str) -> StoreResult<Option<DashboardUser>> {
        let row = sqlx::query(
            "SELECT id AS user_id, account_id, username, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        let now = to_ms(session.created_at);
        sqlx::query(
            "INSERT INTO dashboard_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.csrf_token, s.created_at, s.last_seen_at, \
                    u.id AS user_id, u.account_id, u.username, u.password_hash \
             FROM dashboard_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.map(|row| SessionRecord {
            user: user_from_row(&row),
            csrf_token: row.get("csrf_token"),
            created_at: from_ms(row.get("created_at")),
            last_seen_at: from_ms(row.get("last_seen_at")),
        }))
    }

    async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE dashboard_sessions SET last_seen_at = ? WHERE token_hash = ?")
            .bind(to_ms(now))
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&[u8]>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM dashboard_sessions WHERE user_id = ? AND (? IS NULL OR token_hash <> ?)",
        )
        .bind(user_id)
        .bind(keep)
        .bind(keep)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM dashboard_sessions WHERE last_seen_at < ? OR created_at < ?")
                .bind(to_ms(idle_before))
                .bind(to_ms(created_before))
                .execute(&self.writer)
                .await
                .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn save_draft(&self, draft: &DraftRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO dashboard_drafts (id, account_id, user_id, data, upload, campaign_id, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&draft.id)
        .bind(draft.account_id.as_str())
        .bind(draft.user_id)
        .bind(&draft.data)
        .bind(&draft.upload)
        .bind(&draft.campaign_id)
        .bind(to_ms(draft.created_at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_draft(&self, account: &AccountId, id: &str) -> StoreResult<DraftRecord> {
        let row = sqlx::query(
            "SELECT id, account_id, user_id, data, upload, campaign_id, created_at \
             FROM dashboard_drafts WHERE id = ? AND account_id = ?",
        )
        .bind(id)
        .bind(account.as_str())
        .fetch_optional(&self.reader)
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
            "UPDATE dashboard_drafts SET campaign_id = ? WHERE id = ? AND account_id = ?",
        )
        .bind(campaign_id)
        .bind(id)
        .bind(account.as_str())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_drafts_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM dashboard_drafts WHERE created_at < ?")
            .bind(to_ms(before))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
