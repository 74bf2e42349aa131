//! Agents: a name and the system prompt with which the model answers a conversation's replies.

use time::OffsetDateTime;

use super::views::{AgentList, AgentRequest, AgentView};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::ids::{AccountId, AgentId};
use crate::store::Agent;

/// Longest agent name.
const MAX_NAME: usize = 200;
/// Longest system prompt (about 25 pages of text).
const MAX_PROMPT: usize = 100_000;

fn agent_fields(req: &AgentRequest) -> ServiceResult<(String, String)> {
    let mut errors = Vec::new();
    // Lengths are counted as sent (the document's maxLength); names are stored trimmed.
    let raw_name = req.name.as_deref().unwrap_or("");
    let name = raw_name.trim();
    if name.is_empty() {
        errors.push(FieldError::new("name", "is required"));
    } else if raw_name.chars().count() > MAX_NAME {
        errors.push(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    let prompt = req.system_prompt.as_deref().unwrap_or("");
    if prompt.trim().is_empty() {
        errors.push(FieldError::new("system_prompt", "is required"));
    } else if prompt.chars().count() > MAX_PROMPT {
        errors.push(FieldError::new(
            "system_prompt",
            format!("must be at most {MAX_PROMPT} characters"),
        ));
    }
    if errors.is_empty() {
        Ok((name.to_owned(), prompt.to_owned()))
    } else {
        Err(ServiceError::Validation(errors))
    }
}

/// Creates an agent.
pub async fn create(
    app: &App,
    account: &AccountId,
    req: &AgentRequest,
) -> ServiceResult<AgentView> {
    let store = app.store.as_ref();
    let (name, system_prompt) = agent_fields(req)?;
    let now = OffsetDateTime::now_utc();
    let agent = Agent {
        id: AgentId::generate(),
        name,
        system_prompt,
        created_at: now,
        updated_at: now,
    };
    store.create_agent(account, &agent).await?;
    Ok(store.get_agent(account, &agent.id).await?.into())
}

/// The account's agents.
pub async fn list(app: &App, account: &AccountId) -> ServiceResult<AgentList> {
    let store = app.store.as_ref();
    Ok(AgentList {
        agents: store
            .list_agents(account)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

fn agent_id(raw: &str) -> ServiceResult<AgentId> {
    AgentId::parse(raw).ok_or(ServiceError::NotFound("agent"))
}

/// One agent.
pub async fn get(app: &App, account: &AccountId, id: &str) -> ServiceResult<AgentView> {
    let store = app.store.as_ref();
    let id = agent_id(id)?;
    Ok(store
        .get_agent(account, &id)
        .await
        .map_err(ServiceError::from_store("agent"))?
        .into())
}

/// Replaces an agent's name and prompt.
pub async fn update(
    app: &App,
    account: &AccountId,
    id: &str,
    req: &AgentRequest,
) -> ServiceResult<AgentView> {
    let store = app.store.as_ref();
    let id = agent_id(id)?;
    let (name, system_prompt) = agent_fields(req)?;
    let mut agent = store
        .get_agent(account, &id)
        .await
        .map_err(ServiceError::from_store("agent"))?;
    agent.name = name;
    agent.system_prompt = system_prompt;
    agent.updated_at = OffsetDateTime::now_utc();
    store
        .update_agent(account, &agent)
        .await
        .map_err(ServiceError::from_store("agent"))?;
    Ok(agent.into())
}

/// Deletes an agent no number or campaign uses.
pub async fn delete(app: &App, account: &AccountId, id: &str) -> ServiceResult<()> {
    let store = app.store.as_ref();
    let id = agent_id(id)?;
    store
        .delete_agent(account, &id)
        .await
        .map_err(ServiceError::from_store("agent"))
}
