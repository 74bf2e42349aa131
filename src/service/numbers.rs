//! Sending numbers: one of the account's Twilio numbers (Twilio must list it, with SMS), its
//! pace, the agent that answers its replies, and where Twilio sends its incoming SMS. A change
//! wakes the engine, so a new pace takes effect within a tick.

use time::OffsetDateTime;

use super::views::{NumberList, NumberRequest, NumberUpdate, NumberView, TwilioNumberView};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::ids::{AccountId, AgentId};
use crate::domain::phone::Phone;
use crate::provider::twilio::IncomingNumber;
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
    if store.get_number(account, phone.as_str()).await.is_ok() {
        return Err(ServiceError::Conflict(format!(
            "{phone} is already one of your numbers"
        )));
    }
    owned_by_the_twilio_account(app, &phone).await?;
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
        .map_err(|e| match e {
            // Held by another account: say no more than that.
            crate::store::StoreError::Conflict(_) => {
                ServiceError::Conflict(format!("{phone} cannot be added"))
            }
            e => ServiceError::from_store("number")(e),
        })?;
    Ok(store.get_number(account, &number.phone).await?.into())
}

/// Twilio's answer for `phone`: the account's number with SMS, or a 422 on `phone` (a 503 when
/// Twilio does not answer). Skipped for an `App` built without a Twilio client.
async fn owned_by_the_twilio_account(
    app: &App,
    phone: &Phone,
) -> ServiceResult<Option<IncomingNumber>> {
    let Some(twilio) = &app.twilio else {
        return Ok(None);
    };
    let listed = twilio
        .incoming_numbers(Some(phone.as_str()))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "listing the Twilio account's numbers failed");
            ServiceError::Unavailable(format!(
                "Twilio could not be asked whether your account owns {phone}; try again in a moment"
            ))
        })?;
    match listed
        .into_iter()
        .find(|n| n.phone_number == phone.as_str())
    {
        Some(n) if n.capabilities.sms => Ok(Some(n)),
        Some(_) => Err(ServiceError::invalid(
            "phone",
            format!("{phone} is a number of your Twilio account but cannot send SMS"),
        )),
        None => Err(ServiceError::invalid(
            "phone",
            format!(
                "{phone} is not a number of your Twilio account: buy it or port it in Twilio first"
            ),
        )),
    }
}

/// Where Twilio must post a number's incoming SMS for Herald to get them.
pub fn inbound_url(app: &App) -> String {
    format!("{}/webhooks/twilio/inbound", app.settings.public_base())
}

/// The account's Twilio numbers that it has not added yet (with SMS), for the dashboard's
/// "Add number"; empty when Twilio cannot be asked.
pub async fn available(app: &App, account: &AccountId) -> ServiceResult<Vec<TwilioNumberView>> {
    let Some(twilio) = &app.twilio else {
        return Ok(Vec::new());
    };
    let added: Vec<String> = app
        .store
        .list_numbers(account)
        .await?
        .into_iter()
        .map(|n| n.phone)
        .collect();
    let listed = match twilio.incoming_numbers(None).await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %e, "listing the Twilio account's numbers failed");
            return Ok(Vec::new());
        }
    };
    let here = inbound_url(app);
    Ok(listed
        .into_iter()
        .filter(|n| n.capabilities.sms && !added.contains(&n.phone_number))
        .map(|n| TwilioNumberView::new(n, &here))
        .collect())
}

/// Where Twilio sends the incoming SMS of one of the account's numbers (`None` when Twilio
/// cannot be asked or does not list it).
pub async fn webhook(app: &App, account: &AccountId, phone: &str) -> Option<TwilioNumberView> {
    let phone = Phone::parse(phone).ok()?;
    app.store.get_number(account, phone.as_str()).await.ok()?;
    let twilio = app.twilio.as_ref()?;
    let listed = twilio.incoming_numbers(Some(phone.as_str())).await.ok()?;
    let n = listed
        .into_iter()
        .find(|n| n.phone_number == phone.as_str())?;
    Some(TwilioNumberView::new(n, &inbound_url(app)))
}

/// Points one of the account's numbers' incoming SMS at Herald (`SmsUrl` =
/// [`inbound_url`], through Twilio's API).
pub async fn point_at_herald(
    app: &App,
    account: &AccountId,
    phone: &str,
) -> ServiceResult<TwilioNumberView> {
    let phone = number_phone(phone)?;
    app.store
        .get_number(account, phone.as_str())
        .await
        .map_err(ServiceError::from_store("number"))?;
    let unavailable = |e: crate::provider::twilio::TwilioError| {
        tracing::warn!(error = %e, "pointing a number's SmsUrl at Herald failed");
        ServiceError::Unavailable(format!(
            "Twilio could not be asked to send {phone}'s incoming SMS to Herald; try again in a moment"
        ))
    };
    let Some(twilio) = &app.twilio else {
        return Err(ServiceError::Unavailable(
            "no Twilio client is configured".into(),
        ));
    };
    let listed = twilio
        .incoming_numbers(Some(phone.as_str()))
        .await
        .map_err(unavailable)?;
    let n = listed
        .into_iter()
        .find(|n| n.phone_number == phone.as_str())
        .ok_or_else(|| ServiceError::NotFound("number"))?;
    let here = inbound_url(app);
    let updated = twilio
        .set_sms_url(&n.sid, &here)
        .await
        .map_err(unavailable)?;
    Ok(TwilioNumberView::new(updated, &here))
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
