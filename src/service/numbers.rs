//! Sending numbers: one of the account's Twilio numbers, its pace, and the agent that answers
//! its replies. A change wakes the engine, so a new pace takes effect within a tick.

use time::OffsetDateTime;

use super::views::{NumberList, NumberRequest, NumberUpdate, NumberView};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::ids::{AccountId, AgentId};
use crate::domain::phone::Phone;
use crate::store::{Number, Store};

/// Highest rate a number may be given, in segments per second (short codes do 100; a
/// Twilio-compatible test carrier may take far more).
const MAX_MPS: f64 = 100_000.0;

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
pub async fn create(
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
pub async fn list(app: &App, account: &AccountId) -> ServiceResult<NumberList> {
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
pub async fn get(app: &App, account: &AccountId, phone: &str) -> ServiceResult<NumberView> {
    let store = app.store.as_ref();
    let phone = number_phone(phone)?;
    Ok(store
        .get_number(account, phone.as_str())
        .await
        .map_err(ServiceError::from_store("number"))?
        .into())
}

/// Changes a number's rate or default agent.
pub async fn update(
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
pub async fn delete(app: &App, account: &AccountId, phone: &str) -> ServiceResult<()> {
    let store = app.store.as_ref();
    let phone = number_phone(phone)?;
    store
        .delete_number(account, phone.as_str())
        .await
        .map_err(ServiceError::from_store("number"))
}
