//! The objects a campaign refers to: API keys, agents and sending numbers.

use time::OffsetDateTime;

use super::credentials::generate_key;
use super::{App, ServiceError, ServiceResult};
use crate::api::{
    AgentList, AgentRequest, AgentView, ApiKeyList, ApiKeyRequest, ApiKeyView, CreatedApiKey,
    NumberList, NumberRequest, NumberUpdate, NumberView,
};
use crate::domain::FieldError;
use crate::domain::ids::{AccountId, AgentId, KeyId};
use crate::domain::phone::Phone;
use crate::store::{Agent, NewApiKey, Number, Store};

/// Longest agent name.
const MAX_NAME: usize = 200;
/// Longest system prompt (about 25 pages of text).
const MAX_PROMPT: usize = 100_000;
/// Highest rate a number may be given, in segments per second (short codes do 100; a
/// Twilio-compatible test carrier may take far more).
const MAX_MPS: f64 = 100_000.0;

/// Makes a key; its secret appears in this answer only.
pub async fn create_key(
    app: &App,
    account: &AccountId,
    req: &ApiKeyRequest,
) -> ServiceResult<CreatedApiKey> {
    let store = app.store.as_ref();
    let name = req.name.as_deref().map(str::trim).unwrap_or("").to_owned();
    if name.chars().count() > MAX_NAME {
        return Err(ServiceError::invalid(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    let key = generate_key();
    let stored = store
        .create_api_key(
            account,
            &NewApiKey {
                id: key.id.clone(),
                name,
                secret_hash: key.secret_hash,
            },
        )
        .await?;
    Ok(CreatedApiKey {
        key: stored.into(),
        api_key: key.token,
    })
}

/// The account's keys, without secrets.
pub async fn list_keys(app: &App, account: &AccountId) -> ServiceResult<ApiKeyList> {
    let store = app.store.as_ref();
    Ok(ApiKeyList {
        api_keys: store
            .list_api_keys(account)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// Revokes a key at once; requests using it get 401 from then on.
pub async fn revoke_key(app: &App, account: &AccountId, id: &str) -> ServiceResult<ApiKeyView> {
    let store = app.store.as_ref();
    let id = KeyId::parse(id).ok_or(ServiceError::NotFound("api key"))?;
    let key = store
        .revoke_api_key(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("api key"))?;
    Ok(key.into())
}

fn agent_fields(req: &AgentRequest) -> ServiceResult<(String, String)> {
    let mut errors = Vec::new();
    let name = req.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        errors.push(FieldError::new("name", "is required"));
    } else if name.chars().count() > MAX_NAME {
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
pub async fn create_agent(
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
pub async fn list_agents(app: &App, account: &AccountId) -> ServiceResult<AgentList> {
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
pub async fn get_agent(app: &App, account: &AccountId, id: &str) -> ServiceResult<AgentView> {
    let store = app.store.as_ref();
    let id = agent_id(id)?;
    Ok(store
        .get_agent(account, &id)
        .await
        .map_err(ServiceError::from_store("agent"))?
        .into())
}

/// Replaces an agent's name and prompt.
pub async fn update_agent(
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
pub async fn delete_agent(app: &App, account: &AccountId, id: &str) -> ServiceResult<()> {
    let store = app.store.as_ref();
    let id = agent_id(id)?;
    store
        .delete_agent(account, &id)
        .await
        .map_err(ServiceError::from_store("agent"))
}

fn check_mps(mps: f64, errors: &mut Vec<FieldError>) {
    if !(mps.is_finite() && mps > 0.0 && mps <= MAX_MPS) {
        errors.push(FieldError::new(
            "mps",
            format!("must be greater than 0 and at most {MAX_MPS}"),
        ));
    }
}

async fn check_agent(
    store: &dyn Store,
    account: &AccountId,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> ServiceResult<Option<AgentId>> {
    let Some(raw) = raw else { return Ok(None) };
    let found = match AgentId::parse(raw) {
        Some(id) => match store.get_agent(account, &id).await {
            Ok(_) => Some(id),
            Err(crate::store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    if found.is_none() {
        errors.push(FieldError::new(
            "agent_id",
            format!("no agent {raw:?} in this account"),
        ));
    }
    Ok(found)
}

/// Registers a sending number (one of your Twilio numbers).
pub async fn create_number(
    app: &App,
    account: &AccountId,
    req: &NumberRequest,
) -> ServiceResult<NumberView> {
    let store = app.store.as_ref();
    let mut errors = Vec::new();
    let phone = match req.phone.as_deref() {
        None => {
            errors.push(FieldError::new("phone", "is required"));
            None
        }
        Some(raw) => match Phone::parse(raw) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(FieldError::new("phone", e.to_string()));
                None
            }
        },
    };
    let mps = req.mps.unwrap_or(1.0);
    check_mps(mps, &mut errors);
    let agent_id = check_agent(store, account, req.agent_id.as_deref(), &mut errors).await?;
    let (Some(phone), true) = (phone, errors.is_empty()) else {
        return Err(ServiceError::Validation(errors));
    };
    let now = OffsetDateTime::now_utc();
    let number = Number {
        phone: phone.as_str().to_owned(),
        mps,
        agent_id,
        created_at: now,
        updated_at: now,
    };
    store
        .create_number(account, &number)
        .await
        .map_err(ServiceError::from_store("number"))?;
    Ok(store.get_number(account, &number.phone).await?.into())
}

/// The account's numbers.
pub async fn list_numbers(app: &App, account: &AccountId) -> ServiceResult<NumberList> {
    let store = app.store.as_ref();
    Ok(NumberList {
        numbers: store
            .list_numbers(account)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

fn number_phone(raw: &str) -> ServiceResult<Phone> {
    Phone::parse(raw).map_err(|_| ServiceError::NotFound("number"))
}

/// One number.
pub async fn get_number(app: &App, account: &AccountId, phone: &str) -> ServiceResult<NumberView> {
    let store = app.store.as_ref();
    let phone = number_phone(phone)?;
    Ok(store
        .get_number(account, phone.as_str())
        .await
        .map_err(ServiceError::from_store("number"))?
        .into())
}

/// Changes a number's rate or default agent.
pub async fn update_number(
    app: &App,
    account: &AccountId,
    phone: &str,
    req: &NumberUpdate,
) -> ServiceResult<NumberView> {
    let store = app.store.as_ref();
    let phone = number_phone(phone)?;
    let mut number = store
        .get_number(account, phone.as_str())
        .await
        .map_err(ServiceError::from_store("number"))?;
    let mut errors = Vec::new();
    if let Some(mps) = req.mps {
        check_mps(mps, &mut errors);
        number.mps = mps;
    }
    if let Some(agent) = &req.agent_id {
        number.agent_id = check_agent(store, account, agent.as_deref(), &mut errors).await?;
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    number.updated_at = OffsetDateTime::now_utc();
    store
        .update_number(account, &number)
        .await
        .map_err(ServiceError::from_store("number"))?;
    // A faster rate, or an agent for its replies, takes effect within a tick.
    app.engine.wake();
    Ok(number.into())
}

/// Removes a number no unfinished campaign sends from.
pub async fn delete_number(app: &App, account: &AccountId, phone: &str) -> ServiceResult<()> {
    let store = app.store.as_ref();
    let phone = number_phone(phone)?;
    store
        .delete_number(account, phone.as_str())
        .await
        .map_err(ServiceError::from_store("number"))
}
