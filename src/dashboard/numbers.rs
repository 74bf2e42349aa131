//! The sending-number pages: list, register (one of the Twilio account's numbers, its incoming
//! SMS pointed at Herald), edit (pace and agent) and remove a number.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::forms::Form;
use serde::Deserialize;

use super::auth::CsrfForm;
use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::{ConfirmPage, Errors};
use super::signed_in::{CurrentUser, check_csrf};
use super::views::{Layout, phone_path};
use crate::service::App;
use crate::service::sessions::SignedIn;
use crate::service::views::{AgentView, NumberRequest, NumberUpdate, TwilioNumberView};
use crate::service::{ServiceError, ServiceResult, agents, numbers};

/// A number as listed.
struct NumberRow {
    phone: String,
    path: String,
    mps: f64,
    agent: Option<String>,
}

#[derive(Template)]
#[template(path = "numbers.html")]
struct NumbersPage {
    layout: Layout,
    numbers: Vec<NumberRow>,
    /// The account's Twilio numbers not added yet.
    available: Vec<TwilioNumberView>,
    /// Where Twilio must send incoming SMS for Herald to get them.
    inbound_url: String,
    point_webhook: bool,
    agents: Vec<AgentView>,
    phone: String,
    mps: String,
    agent_id: String,
    errors: Errors,
}

/// Number form fields.
#[derive(Debug, Deserialize)]
pub struct NumberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    mps: String,
    #[serde(default)]
    agent_id: String,
    /// Non-empty: point the new number's incoming SMS at Herald.
    #[serde(default)]
    point_webhook: String,
}

async fn agent_names(state: &App, user: &SignedIn) -> ServiceResult<Vec<AgentView>> {
    Ok(agents::list(state, &user.account_id).await?.agents)
}

async fn numbers_page(
    state: &App,
    user: &SignedIn,
    form: Option<&NumberForm>,
    errors: Errors,
) -> PageResult<NumbersPage> {
    let agents = agent_names(state, user).await?;
    let names: HashMap<&str, &str> = agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.name.as_str()))
        .collect();
    let numbers = numbers::list(state, &user.account_id)
        .await?
        .numbers
        .into_iter()
        .map(|n| NumberRow {
            path: phone_path(&n.phone),
            agent: n
                .agent_id
                .as_deref()
                .map(|a| names.get(a).map_or(a, |n| *n).to_owned()),
            phone: n.phone,
            mps: n.mps,
        })
        .collect();
    Ok(NumbersPage {
        layout: Layout::new("Sending numbers", Some(user), "numbers"),
        numbers,
        available: numbers::available(state, &user.account_id).await?,
        inbound_url: numbers::inbound_url(state),
        point_webhook: form.is_none_or(|f| !f.point_webhook.is_empty()),
        phone: form.map(|f| f.phone.clone()).unwrap_or_default(),
        mps: form.map_or_else(|| "1".to_owned(), |f| f.mps.clone()),
        agent_id: form.map(|f| f.agent_id.clone()).unwrap_or_default(),
        agents,
        errors,
    })
}

/// The sending numbers, and a form to add one.
pub async fn numbers(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let mut page = numbers_page(&state, &user, None, Errors::default()).await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

fn parse_mps(raw: &str) -> Result<Option<f64>, Errors> {
    match raw.trim() {
        "" => Ok(None),
        m => m.parse::<f64>().map(Some).map_err(|_| {
            Errors::one(
                "mps",
                "must be a number of segments per second, such as 1 or 0.5",
            )
        }),
    }
}

/// Registers a sending number.
pub async fn create_number(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<NumberForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let result = match parse_mps(&form.mps) {
        Err(errors) => Err(errors),
        Ok(mps) => {
            let req = NumberRequest {
                phone: Some(form.phone.clone()),
                mps,
                agent_id: Some(form.agent_id.clone()).filter(|a| !a.is_empty()),
            };
            match numbers::create(&state, &user.account_id, &req).await {
                Ok(n) => Ok(n),
                Err(ServiceError::Conflict(m)) => Err(Errors::one(
                    "phone",
                    m.split_once(' ').map_or(m.as_str(), |(_, rest)| rest),
                )),
                Err(e) => Err(Errors::from_service(e)?),
            }
        }
    };
    match result {
        Ok(n) => {
            let (kind, text) = if form.point_webhook.is_empty() {
                match numbers::webhook(&state, &user.account_id, &n.phone).await {
                    Some(w) if !w.points_here => (
                        FlashKind::Warning,
                        format!(
                            "{} added, but Twilio sends its incoming SMS {}, not to Herald: replies and STOP will not reach Herald. Open the number to point it at Herald.",
                            n.phone,
                            w.sms_url
                                .map_or("nowhere".to_owned(), |u| format!("to {u}")),
                        ),
                    ),
                    _ => (FlashKind::Success, format!("{} added.", n.phone)),
                }
            } else {
                match numbers::point_at_herald(&state, &user.account_id, &n.phone).await {
                    Ok(_) => (
                        FlashKind::Success,
                        format!(
                            "{} added; Twilio now sends its incoming SMS to Herald.",
                            n.phone
                        ),
                    ),
                    Err(e) => (FlashKind::Warning, format!("{} added, but {e}.", n.phone)),
                }
            };
            Ok(redirect_with("/numbers", kind, text))
        }
        Err(errors) => {
            let page = numbers_page(&state, &user, Some(&form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "number.html")]
struct NumberPage {
    layout: Layout,
    /// Where Twilio sends this number's incoming SMS (`None`: Twilio cannot be asked).
    webhook: Option<TwilioNumberView>,
    inbound_url: String,
    phone: String,
    path: String,
    mps: String,
    agent_id: String,
    agents: Vec<AgentView>,
    errors: Errors,
}

/// One number's rate and agent, to edit.
pub async fn number(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Path(phone): Path<String>,
) -> PageResult {
    let n = numbers::get(&state, &user.account_id, &phone).await?;
    Ok(html(&NumberPage {
        layout: Layout::new(format!("Number {}", n.phone), Some(&user), "numbers")
            .with_flash(flash),
        webhook: numbers::webhook(&state, &user.account_id, &n.phone).await,
        inbound_url: numbers::inbound_url(&state),
        path: phone_path(&n.phone),
        mps: n.mps.to_string(),
        agent_id: n.agent_id.unwrap_or_default(),
        phone: n.phone,
        agents: agent_names(&state, &user).await?,
        errors: Errors::default(),
    }))
}

/// Saves a number's rate and agent.
pub async fn update_number(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
    Form(form): Form<NumberForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let result = match parse_mps(&form.mps) {
        Err(errors) => Err(errors),
        Ok(mps) => {
            let req = NumberUpdate {
                mps: Some(mps.unwrap_or(1.0)),
                agent_id: Some(Some(form.agent_id.clone()).filter(|a| !a.is_empty())),
            };
            match numbers::update(&state, &user.account_id, &phone, &req).await {
                Ok(n) => Ok(n),
                Err(e) => Err(Errors::from_service(e)?),
            }
        }
    };
    match result {
        Ok(n) => Ok(redirect_with(
            &format!("/numbers/{}", phone_path(&n.phone)),
            FlashKind::Success,
            "Number saved.",
        )),
        Err(errors) => {
            let n = numbers::get(&state, &user.account_id, &phone).await?;
            let page = NumberPage {
                layout: Layout::new(format!("Number {}", n.phone), Some(&user), "numbers"),
                webhook: numbers::webhook(&state, &user.account_id, &n.phone).await,
                inbound_url: numbers::inbound_url(&state),
                path: phone_path(&n.phone),
                phone: n.phone,
                mps: form.mps,
                agent_id: form.agent_id,
                agents: agent_names(&state, &user).await?,
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

/// Points the number's incoming SMS at Herald, through Twilio's API.
pub async fn point_webhook(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let back = format!("/numbers/{}", phone_path(&phone));
    Ok(
        match numbers::point_at_herald(&state, &user.account_id, &phone).await {
            Ok(_) => redirect_with(
                &back,
                FlashKind::Success,
                "Twilio now sends this number's incoming SMS to Herald.",
            ),
            Err(ServiceError::Unavailable(m)) => redirect_with(&back, FlashKind::Warning, m),
            Err(e) => return Err(e.into()),
        },
    )
}

/// "Are you sure?" before removing a number.
pub async fn delete_number_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
) -> PageResult {
    let n = numbers::get(&state, &user.account_id, &phone).await?;
    Ok(html(&ConfirmPage {
        layout: Layout::new(format!("Remove {}?", n.phone), Some(&user), "numbers"),
        message: "Herald stops sending from this number. Your Twilio number itself is not \
                  changed. A number that an unfinished campaign sends from cannot be removed."
            .into(),
        action: format!("/numbers/{}/delete", phone_path(&n.phone)),
        button: "Yes, remove this number".into(),
        back: format!("/numbers/{}", phone_path(&n.phone)),
    }))
}

/// Removes a number no unfinished campaign uses.
pub async fn delete_number(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match numbers::delete(&state, &user.account_id, &phone).await {
        Ok(()) => Ok(redirect_with(
            "/numbers",
            FlashKind::Success,
            "Number removed.",
        )),
        Err(ServiceError::Conflict(_)) => Ok(redirect_with(
            &format!("/numbers/{}", phone_path(&phone)),
            FlashKind::Warning,
            "An unfinished campaign still sends from this number, so it was not removed.",
        )),
        Err(e) => Err(e.into()),
    }
}
