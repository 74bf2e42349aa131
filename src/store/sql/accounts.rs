//! [`AccountStore`](crate::store::AccountStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism).

/// Writes `impl AccountStore for $store`.
macro_rules! account_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::prelude::*;

            #[async_trait]
            impl AccountStore for $store {
                async fn count_accounts(&self) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(backend)?;
                    Ok(n as u64)
                }

                async fn create_account(&self, new: &NewAccount) -> StoreResult<()> {
                    let now = stored(new.created_at);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(new.id.as_str())
                        .bind(&new.name)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    sqlx::query(
                        "INSERT INTO users (account_id, username, password_hash, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(new.id.as_str())
                    .bind(&new.username)
                    .bind(&new.password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match backend(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict(format!("user {:?} already exists", new.username))
                        }
                        other => other,
                    })?;
                    sqlx::query(
                        "INSERT INTO api_keys (id, account_id, name, secret_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(new.key.id.as_str())
                    .bind(new.id.as_str())
                    .bind(&new.key.name)
                    .bind(&new.key.secret_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    tx.commit().await.map_err(backend)
                }

                async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
                    sqlx::query_as::<_, AccountRow>(
                        "SELECT id, name, created_at FROM accounts WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .map(Account::from)
                    .ok_or(StoreError::NotFound)
                }

                async fn list_accounts(&self) -> StoreResult<Vec<(Account, Vec<String>)>> {
                    let accounts = sqlx::query_as::<_, AccountRow>(
                        "SELECT id, name, created_at FROM accounts ORDER BY created_at, id",
                    )
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let users: Vec<(String, String)> = sqlx::query_as(
                        "SELECT account_id, username FROM users ORDER BY username",
                    )
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(accounts
                        .into_iter()
                        .map(|row| {
                            let account = Account::from(row);
                            let names = users
                                .iter()
                                .filter(|(a, _)| a == account.id.as_str())
                                .map(|(_, u)| u.clone())
                                .collect();
                            (account, names)
                        })
                        .collect())
                }

                async fn create_api_key(
                    &self,
                    account: &AccountId,
                    key: &NewApiKey,
                ) -> StoreResult<ApiKey> {
                    let now = stored(OffsetDateTime::now_utc());
                    sqlx::query(
                        "INSERT INTO api_keys (id, account_id, name, secret_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(key.id.as_str())
                    .bind(account.as_str())
                    .bind(&key.name)
                    .bind(&key.secret_hash)
                    .bind(now)
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(ApiKey {
                        id: key.id.clone(),
                        name: key.name.clone(),
                        created_at: now.get(),
                        revoked_at: None,
                    })
                }

                async fn key_credentials(&self, key: &KeyId) -> StoreResult<Option<KeyCredentials>> {
                    let row = sqlx::query_as::<_, CredentialsRow>(
                        "SELECT account_id, secret_hash, revoked_at IS NOT NULL AS revoked \
                         FROM api_keys WHERE id = $1",
                    )
                    .bind(key.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(KeyCredentials::from))
                }

                async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
                    let rows = sqlx::query_as::<_, KeyRow>(
                        "SELECT id, name, created_at, revoked_at FROM api_keys \
                         WHERE account_id = $1 ORDER BY created_at DESC, id DESC",
                    )
                    .bind(account.as_str())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(ApiKey::from).collect())
                }

                async fn revoke_api_key(
                    &self,
                    account: &AccountId,
                    key: &KeyId,
                    now: OffsetDateTime,
                ) -> StoreResult<ApiKey> {
                    sqlx::query_as::<_, KeyRow>(
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
                         WHERE id = $2 AND account_id = $3 \
                         RETURNING id, name, created_at, revoked_at",
                    )
                    .bind(stored(now))
                    .bind(key.as_str())
                    .bind(account.as_str())
                    .fetch_optional(self.write_pool())
                    .await
                    .map_err(backend)?
                    .map(ApiKey::from)
                    .ok_or(StoreError::NotFound)
                }

                async fn account_context(&self, account: &AccountId) -> StoreResult<AccountContext> {
                    let agents: Vec<String> =
                        sqlx::query_scalar("SELECT id FROM agents WHERE account_id = $1")
                            .bind(account.as_str())
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(backend)?;
                    let numbers: Vec<(String, Option<String>)> =
                        sqlx::query_as("SELECT phone, agent_id FROM numbers WHERE account_id = $1")
                            .bind(account.as_str())
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(backend)?;
                    Ok(AccountContext {
                        agents: agents.into_iter().collect(),
                        numbers: numbers.into_iter().collect(),
                        opted_out: self.opted_out_phones(account).await?,
                        // Read only for requests with `require_consent` (`consented_phones`).
                        consented: HashSet::new(),
                    })
                }

                async fn account_settings(&self, account: &AccountId) -> StoreResult<AccountSettings> {
                    sqlx::query_as::<_, SettingsRow>(AssertSqlSafe(format!(
                        "SELECT {SETTINGS_COLUMNS} FROM accounts WHERE id = $1"
                    )))
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .map(AccountSettings::from)
                    .ok_or(StoreError::NotFound)
                }

                async fn update_account_settings(
                    &self,
                    account: &AccountId,
                    update: &AccountSettingsUpdate,
                ) -> StoreResult<AccountSettings> {
                    let window = update.send_window.map(|w| {
                        w.map(|w| (i32::from(w.start.minutes()), i32::from(w.end.minutes())))
                    });
                    sqlx::query_as::<_, SettingsRow>(AssertSqlSafe(format!(
                        "UPDATE accounts SET name = COALESCE($1, name), \
                         help_text = CASE WHEN $2 THEN $3 ELSE help_text END, \
                         keyword_replies = COALESCE($4, keyword_replies), \
                         send_window_start = CASE WHEN $6 THEN $7 ELSE send_window_start END, \
                         send_window_end = CASE WHEN $6 THEN $8 ELSE send_window_end END, \
                         time_zone = COALESCE($9, time_zone), \
                         max_messages_per_recipient_per_day = CASE WHEN $10 THEN $11 \
                             ELSE max_messages_per_recipient_per_day END \
                         WHERE id = $5 RETURNING {SETTINGS_COLUMNS}"
                    )))
                    .bind(&update.name)
                    .bind(update.help_text.is_some())
                    .bind(update.help_text.clone().flatten())
                    .bind(update.keyword_replies)
                    .bind(account.as_str())
                    .bind(window.is_some())
                    .bind(window.flatten().map(|w| w.0))
                    .bind(window.flatten().map(|w| w.1))
                    .bind(update.time_zone.as_ref().map(|z| z.as_str().to_owned()))
                    .bind(update.max_messages_per_recipient_per_day.is_some())
                    .bind(
                        update
                            .max_messages_per_recipient_per_day
                            .flatten()
                            .map(|cap| cap.get() as i32),
                    )
                    .fetch_optional(self.write_pool())
                    .await
                    .map_err(backend)?
                    .map(AccountSettings::from)
                    .ok_or(StoreError::NotFound)
                }
            }
        };
    };
}

pub(in crate::store) use account_store;
