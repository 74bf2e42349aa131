//! The objects around campaigns: agents (and their system prompts), sending numbers, API
//! keys (a new key's secret is shown once), and opt-outs.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Form};
use serde::Deserialize;

use super::auth::CsrfForm;
use super::error::{PageError, PageResult, html};
use super::session::{CurrentUser, FlashKind, IncomingFlash, check_csrf, redirect_with, urlencode};
use super::views::{Layout, When, phone_path};
use crate::api::replies::{OptOutParams, OptOutRequest};
use crate::api::{AgentRequest, AgentView, ApiKeyRequest, NumberRequest, NumberUpdate};
use crate::domain::phone::Phone;
use crate::service::App;
use crate::service::sessions::SignedIn;
use crate::service::{ServiceError, ServiceResult, optouts, resources};

/// Field errors of a form, by field name.
#[derive(Debug, Default, Clone)]
struct Errors(Vec<(String, String)>);

impl Errors {
    fn from_service(e: ServiceError) -> Result<Self, PageError> {
        match e {
            ServiceError::Validation(errors) => Ok(Self(
                errors.into_iter().map(|e| (e.field, e.message)).collect(),
            )),
            ServiceError::Conflict(m) => Ok(Self(vec![("form".into(), m)])),
            other => Err(other.into()),
        }
    }

    fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (anchor, sentence) for the "There is a problem" box.
    fn summary(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(field, message)| {
                let label = match field.as_str() {
                    "system_prompt" => "System prompt",
                    "mps" => "Segments per second",
                    "phone" => "Phone number",
                    "agent_id" => "Agent",
                    "name" => "Name",
                    "reason" => "Reason",
                    _ => "",
                };
                let text = if label.is_empty() || message.starts_with(char::is_uppercase) {
                    message.clone()
                } else {
                    format!("{label} {message}")
                };
                (field.clone(), text)
            })
            .collect()
    }
}

/// A generic "are you sure?" page.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    layout: Layout,
    message: String,
    action: String,
    button: String,
    back: String,
}

// ---------------------------------------------------------------------------------- agents

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    layout: Layout,
    agents: Vec<(AgentView, When)>,
    name: String,
    system_prompt: String,
    errors: Errors,
}

/// Agent form fields.
#[derive(Debug, Deserialize)]
pub struct AgentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    system_prompt: String,
}

async fn agents_page(
    state: &App,
    user: &SignedIn,
    name: String,
    system_prompt: String,
    errors: Errors,
) -> PageResult<AgentsPage> {
    let agents = resources::list_agents(state, &user.account_id)
        .await?
        .agents
        .into_iter()
        .map(|a| {
            let w = When::new(a.updated_at);
            (a, w)
        })
        .collect();
    Ok(AgentsPage {
        layout: Layout::new("Agents", Some(user), "agents"),
        agents,
        name,
        system_prompt,
        errors,
    })
}

/// The agents, and a form to add one.
pub async fn agents(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let mut page = agents_page(
        &state,
        &user,
        String::new(),
        String::new(),
        Errors::default(),
    )
    .await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

fn agent_request(form: &AgentForm) -> AgentRequest {
    AgentRequest {
        name: Some(form.name.clone()),
        system_prompt: Some(form.system_prompt.replace("\r\n", "\n")),
    }
}

/// Adds an agent.
pub async fn create_agent(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<AgentForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match resources::create_agent(&state, &user.account_id, &agent_request(&form)).await {
        Ok(a) => Ok(redirect_with(
            "/agents",
            FlashKind::Success,
            format!("Agent “{}” added.", a.name),
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = agents_page(&state, &user, form.name, form.system_prompt, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "agent.html")]
struct AgentPage {
    layout: Layout,
    agent: AgentView,
    name: String,
    system_prompt: String,
    errors: Errors,
}

/// One agent's name and system prompt, to edit.
pub async fn agent(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Path(id): Path<String>,
) -> PageResult {
    let agent = resources::get_agent(&state, &user.account_id, &id).await?;
    Ok(html(&AgentPage {
        layout: Layout::new(format!("Agent: {}", agent.name), Some(&user), "agents")
            .with_flash(flash),
        name: agent.name.clone(),
        system_prompt: agent.system_prompt.clone(),
        agent,
        errors: Errors::default(),
    }))
}

/// Saves an agent's name and system prompt.
pub async fn update_agent(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<AgentForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match resources::update_agent(&state, &user.account_id, &id, &agent_request(&form)).await {
        Ok(a) => Ok(redirect_with(
            &format!("/agents/{}", a.agent_id),
            FlashKind::Success,
            "Agent saved. Replies from now on use the new prompt.",
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let agent = resources::get_agent(&state, &user.account_id, &id).await?;
            let page = AgentPage {
                layout: Layout::new(format!("Agent: {}", agent.name), Some(&user), "agents"),
                agent,
                name: form.name,
                system_prompt: form.system_prompt,
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

/// "Are you sure?" before deleting an agent.
pub async fn delete_agent_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    let agent = resources::get_agent(&state, &user.account_id, &id).await?;
    Ok(html(&ConfirmPage {
        layout: Layout::new(
            format!("Delete agent “{}”?", agent.name),
            Some(&user),
            "agents",
        ),
        message: "The agent and its system prompt are deleted. This cannot be undone. An agent \
                  that a number or a campaign still uses cannot be deleted."
            .into(),
        action: format!("/agents/{}/delete", agent.agent_id),
        button: "Yes, delete this agent".into(),
        back: format!("/agents/{}", agent.agent_id),
    }))
}

/// Deletes an agent nothing uses.
pub async fn delete_agent(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match resources::delete_agent(&state, &user.account_id, &id).await {
        Ok(()) => Ok(redirect_with(
            "/agents",
            FlashKind::Success,
            "Agent deleted.",
        )),
        Err(ServiceError::Conflict(_)) => Ok(redirect_with(
            &format!("/agents/{id}"),
            FlashKind::Warning,
            "This agent is still used by a number or a campaign, so it was not deleted.",
        )),
        Err(e) => Err(e.into()),
    }
}

// --------------------------------------------------------------------------------- numbers

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
}

async fn agent_names(state: &App, user: &SignedIn) -> ServiceResult<Vec<AgentView>> {
    Ok(resources::list_agents(state, &user.account_id)
        .await?
        .agents)
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
    let numbers = resources::list_numbers(state, &user.account_id)
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
            Errors(vec![(
                "mps".into(),
                "must be a number of segments per second, such as 1 or 0.5".into(),
            )])
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
            match resources::create_number(&state, &user.account_id, &req).await {
                Ok(n) => Ok(n),
                Err(ServiceError::Conflict(_)) => Err(Errors(vec![(
                    "phone".into(),
                    "is already registered (by this or another account)".into(),
                )])),
                Err(e) => Err(Errors::from_service(e)?),
            }
        }
    };
    match result {
        Ok(n) => Ok(redirect_with(
            "/numbers",
            FlashKind::Success,
            format!("{} added.", n.phone),
        )),
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
    let n = resources::get_number(&state, &user.account_id, &phone).await?;
    Ok(html(&NumberPage {
        layout: Layout::new(format!("Number {}", n.phone), Some(&user), "numbers")
            .with_flash(flash),
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
            match resources::update_number(&state, &user.account_id, &phone, &req).await {
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
            let n = resources::get_number(&state, &user.account_id, &phone).await?;
            let page = NumberPage {
                layout: Layout::new(format!("Number {}", n.phone), Some(&user), "numbers"),
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

/// "Are you sure?" before removing a number.
pub async fn delete_number_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
) -> PageResult {
    let n = resources::get_number(&state, &user.account_id, &phone).await?;
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
    match resources::delete_number(&state, &user.account_id, &phone).await {
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

// -------------------------------------------------------------------------------- API keys

/// A key as listed.
struct KeyRow {
    id: String,
    name: String,
    created: When,
    revoked: Option<When>,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    errors: Errors,
    name: String,
    /// The secret of a key just made (this page view only).
    created: Option<(String, String)>,
}

async fn keys_page(state: &App, user: &SignedIn) -> PageResult<KeysPage> {
    let keys = resources::list_keys(state, &user.account_id)
        .await?
        .api_keys
        .into_iter()
        .map(|k| KeyRow {
            created: When::new(k.created_at),
            revoked: When::opt(k.revoked_at),
            id: k.key_id,
            name: k.name,
        })
        .collect();
    Ok(KeysPage {
        layout: Layout::new("API keys", Some(user), "api-keys"),
        keys,
        errors: Errors::default(),
        name: String::new(),
        created: None,
    })
}

/// The account's API keys, and a form to make one.
pub async fn api_keys(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let mut page = keys_page(&state, &user).await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// Key form fields.
#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Makes a key and shows its secret, once: the answer is a page, not a redirect, so reloading
/// or going back never shows it again.
pub async fn create_api_key(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<KeyForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let req = ApiKeyRequest {
        name: Some(form.name.clone()),
    };
    match resources::create_key(&state, &user.account_id, &req).await {
        Ok(key) => {
            let mut page = keys_page(&state, &user).await?;
            page.created = Some((key.key.name.clone(), key.api_key));
            Ok(html(&page))
        }
        Err(e) => {
            let mut page = keys_page(&state, &user).await?;
            page.errors = Errors::from_service(e)?;
            page.name = form.name;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

/// "Are you sure?" before revoking a key.
pub async fn revoke_api_key_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    let keys = resources::list_keys(&state, &user.account_id).await?;
    let key = keys
        .api_keys
        .into_iter()
        .find(|k| k.key_id == id)
        .ok_or(PageError::NotFound)?;
    Ok(html(&ConfirmPage {
        layout: Layout::new(
            format!("Revoke key {}?", key.key_id),
            Some(&user),
            "api-keys",
        ),
        message: "Programs using this key get “401 unauthorized” from now on. This cannot be \
                  undone: make a new key for them if they still need access."
            .into(),
        action: format!("/api-keys/{}/revoke", key.key_id),
        button: "Yes, revoke this key".into(),
        back: "/api-keys".into(),
    }))
}

/// Revokes a key.
pub async fn revoke_api_key(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let key = resources::revoke_key(&state, &user.account_id, &id).await?;
    Ok(redirect_with(
        "/api-keys",
        FlashKind::Success,
        format!("Key {} revoked.", key.key_id),
    ))
}

// -------------------------------------------------------------------------------- opt-outs

/// An opt-out as listed.
struct OptOutRow {
    phone: String,
    path: String,
    source: String,
    reason: Option<String>,
    at: When,
}

#[derive(Template)]
#[template(path = "opt_outs.html")]
struct OptOutsPage {
    layout: Layout,
    rows: Vec<OptOutRow>,
    first_page: bool,
    next_cursor: Option<String>,
    phone: String,
    reason: String,
    errors: Errors,
}

/// `?cursor=` of the opt-out list.
#[derive(Debug, Default, Deserialize)]
pub struct OptOutQuery {
    cursor: Option<String>,
}

async fn opt_outs_page(
    state: &App,
    user: &SignedIn,
    cursor: Option<String>,
    phone: String,
    reason: String,
    errors: Errors,
) -> PageResult<OptOutsPage> {
    let params = OptOutParams {
        limit: Some(OPT_OUT_PAGE),
        cursor: cursor.clone(),
    };
    let list = optouts::list(state, &user.account_id, &params).await?;
    Ok(OptOutsPage {
        layout: Layout::new("Opt-outs", Some(user), "opt-outs"),
        rows: list
            .opt_outs
            .into_iter()
            .map(|o| OptOutRow {
                path: phone_path(&o.phone),
                phone: o.phone,
                source: o.source,
                reason: o.reason,
                at: When::new(o.created_at),
            })
            .collect(),
        first_page: cursor.is_none(),
        next_cursor: list.next_cursor.map(|c| urlencode(&c)),
        phone,
        reason,
        errors,
    })
}

/// Opt-outs per page.
const OPT_OUT_PAGE: u32 = 100;

/// Numbers that asked not to be texted (by STOP, or added here), newest first.
pub async fn opt_outs(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Query(q): Query<OptOutQuery>,
) -> PageResult {
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let mut page = opt_outs_page(
        &state,
        &user,
        cursor,
        String::new(),
        String::new(),
        Errors::default(),
    )
    .await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// Opt-out form fields.
#[derive(Debug, Deserialize)]
pub struct OptOutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    reason: String,
}

/// Adds a number to the opt-outs (someone asked by phone or email): never texted again.
/// The same use case as `POST /v1/opt-outs`.
pub async fn add_opt_out(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<OptOutForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    // National numbers are read as numbers of the account's first sending number's country.
    let region = resources::list_numbers(&state, &user.account_id)
        .await?
        .numbers
        .first()
        .and_then(|n| Phone::parse(&n.phone).ok())
        .and_then(|p| p.region());
    let phone = Phone::parse_with_region(&form.phone, region.as_deref())
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|_| form.phone.clone());
    let req = OptOutRequest {
        phone: Some(phone),
        reason: Some(form.reason.clone()),
    };
    match optouts::add(&state, &user.account_id, &req).await {
        Ok((view, created)) => Ok(redirect_with(
            "/opt-outs",
            FlashKind::Success,
            if created {
                format!("{} will not be sent any more messages.", view.phone)
            } else {
                format!("{} was already opted out.", view.phone)
            },
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = opt_outs_page(&state, &user, None, form.phone, form.reason, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "opt_out_remove.html")]
struct RemoveOptOutPage {
    layout: Layout,
    entry: OptOutRow,
    reason: String,
    errors: Errors,
}

/// The opt-out of `phone` (as written in the path), or 404.
async fn find_opt_out(state: &App, user: &SignedIn, phone: &str) -> PageResult<OptOutRow> {
    let o = optouts::get(state, &user.account_id, phone).await?;
    Ok(OptOutRow {
        path: phone_path(&o.phone),
        phone: o.phone,
        source: o.source,
        reason: o.reason,
        at: When::new(o.created_at),
    })
}

fn remove_page(
    user: &SignedIn,
    entry: OptOutRow,
    reason: String,
    errors: Errors,
) -> RemoveOptOutPage {
    RemoveOptOutPage {
        layout: Layout::new(
            format!("Opt {} back in?", entry.phone),
            Some(user),
            "opt-outs",
        ),
        entry,
        reason,
        errors,
    }
}

/// "Are you sure?" before taking a number off the opt-outs, with the reason to give.
pub async fn remove_opt_out_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
) -> PageResult {
    let entry = find_opt_out(&state, &user, &phone).await?;
    Ok(html(&remove_page(
        &user,
        entry,
        String::new(),
        Errors::default(),
    )))
}

/// Takes a number off the opt-outs (it may be sent campaigns again). The reason is required
/// and kept as the evidence of the consent record written: the same use case as
/// `DELETE /v1/opt-outs/{phone}`.
pub async fn remove_opt_out(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
    Form(form): Form<OptOutForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let entry = find_opt_out(&state, &user, &phone).await?;
    match optouts::remove(&state, &user.account_id, &entry.phone, Some(&form.reason)).await {
        Ok(_) => Ok(redirect_with(
            "/opt-outs",
            FlashKind::Success,
            format!(
                "{} is opted back in: campaigns can be sent to it again.",
                entry.phone
            ),
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = remove_page(&user, entry, form.reason, errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}
