//! [`ResourceStore`](crate::store::ResourceStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism).

/// Writes `impl ResourceStore for $store`.
macro_rules! resource_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::prelude::*;

            /// An agent still named by a number or campaign cannot go.
            fn agent_in_use(e: sqlx::Error) -> StoreError {
                match backend(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(
                        "the agent is still used by a number or a campaign".into(),
                    ),
                    other => other,
                }
            }

            #[async_trait]
            impl ResourceStore for $store {
                async fn create_agent(
                    &self,
                    account: &AccountId,
                    agent: &Agent,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO agents (id, account_id, name, system_prompt, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(agent.id.as_str())
                    .bind(account.as_str())
                    .bind(&agent.name)
                    .bind(&agent.system_prompt)
                    .bind(stored(agent.created_at))
                    .bind(stored(agent.updated_at))
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn list_agents(&self, account: &AccountId) -> StoreResult<Vec<Agent>> {
                    let rows = sqlx::query_as::<_, AgentRow>(
                        "SELECT id, name, system_prompt, created_at, updated_at FROM agents \
                         WHERE account_id = $1 ORDER BY seq",
                    )
                    .bind(account.as_str())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(Agent::from).collect())
                }

                async fn get_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<Agent> {
                    sqlx::query_as::<_, AgentRow>(
                        "SELECT id, name, system_prompt, created_at, updated_at FROM agents \
                         WHERE account_id = $1 AND id = $2",
                    )
                    .bind(account.as_str())
                    .bind(id.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .map(Agent::from)
                    .ok_or(StoreError::NotFound)
                }

                async fn update_agent(
                    &self,
                    account: &AccountId,
                    agent: &Agent,
                ) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE agents SET name = $1, system_prompt = $2, updated_at = $3 \
                         WHERE account_id = $4 AND id = $5",
                    )
                    .bind(&agent.name)
                    .bind(&agent.system_prompt)
                    .bind(stored(agent.updated_at))
                    .bind(account.as_str())
                    .bind(agent.id.as_str())
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn delete_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<()> {
                    let done = sqlx::query("DELETE FROM agents WHERE account_id = $1 AND id = $2")
                        .bind(account.as_str())
                        .bind(id.as_str())
                        .execute(self.write_pool())
                        .await
                        .map_err(agent_in_use)?;
                    found(done.rows_affected())
                }

                async fn create_number(
                    &self,
                    account: &AccountId,
                    number: &Number,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO numbers (phone, account_id, mps, agent_id, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&number.phone)
                    .bind(account.as_str())
                    .bind(number.mps)
                    .bind(number.agent_id.as_ref().map(|a| a.as_str()))
                    .bind(stored(number.created_at))
                    .bind(stored(number.updated_at))
                    .execute(self.write_pool())
                    .await
                    .map_err(|e| match backend(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict(format!("{} is already registered", number.phone))
                        }
                        other => other,
                    })?;
                    Ok(())
                }

                async fn list_numbers(&self, account: &AccountId) -> StoreResult<Vec<Number>> {
                    let rows = sqlx::query_as::<_, NumberRow>(
                        "SELECT phone, mps, agent_id, created_at, updated_at FROM numbers \
                         WHERE account_id = $1 ORDER BY phone",
                    )
                    .bind(account.as_str())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(Number::from).collect())
                }

                async fn get_number(
                    &self,
                    account: &AccountId,
                    phone: &str,
                ) -> StoreResult<Number> {
                    sqlx::query_as::<_, NumberRow>(
                        "SELECT phone, mps, agent_id, created_at, updated_at FROM numbers \
                         WHERE account_id = $1 AND phone = $2",
                    )
                    .bind(account.as_str())
                    .bind(phone)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .map(Number::from)
                    .ok_or(StoreError::NotFound)
                }

                async fn update_number(
                    &self,
                    account: &AccountId,
                    number: &Number,
                ) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE numbers SET mps = $1, agent_id = $2, updated_at = $3 \
                         WHERE account_id = $4 AND phone = $5",
                    )
                    .bind(number.mps)
                    .bind(number.agent_id.as_ref().map(|a| a.as_str()))
                    .bind(stored(number.updated_at))
                    .bind(account.as_str())
                    .bind(&number.phone)
                    .execute(self.write_pool())
                    .await
                    .map_err(backend)?;
                    found(done.rows_affected())
                }

                async fn delete_number(&self, account: &AccountId, phone: &str) -> StoreResult<()> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    // Lock the number first (PostgreSQL): a campaign being created on it (which
                    // holds a key-share lock on it until it commits) is then either visible to
                    // the check below, or created after the number is gone.
                    let found: Option<i32> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT 1 FROM numbers WHERE account_id = $1 AND phone = $2{}",
                        Self::FOR_UPDATE
                    )))
                    .bind(account.as_str())
                    .bind(phone)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let in_use: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT id FROM campaigns WHERE account_id = $1 AND kind = 'campaign' \
                         AND status IN ('draft', 'scheduled', 'running', 'paused') AND {} \
                         ORDER BY seq LIMIT 1",
                        Self::SENDS_FROM_2
                    )))
                    .bind(account.as_str())
                    .bind(phone)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if let Some(campaign) = in_use {
                        return Err(StoreError::Conflict(number_in_use(phone, &campaign).0));
                    }
                    if found.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query("DELETE FROM numbers WHERE account_id = $1 AND phone = $2")
                        .bind(account.as_str())
                        .bind(phone)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)
                }

                async fn number_owner(&self, phone: &str) -> StoreResult<Option<NumberOwner>> {
                    let row = sqlx::query_as::<_, OwnerRow>(
                        "SELECT account_id, agent_id FROM numbers WHERE phone = $1",
                    )
                    .bind(phone)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(NumberOwner::from))
                }
            }
        };
    };
}

pub(in crate::store) use resource_store;
