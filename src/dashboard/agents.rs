//! The agents pages: list, add, edit (name and system prompt) and delete an agent.

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
use super::views::{Layout, When};
use crate::service::App;
use crate::service::sessions::SignedIn;
use crate::service::views::{AgentRequest, AgentView};
use crate::service::{ServiceError, agents};

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
    let agents = agents::list(state, &user.account_id)
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
    match agents::create(&state, &user.account_id, &agent_request(&form)).await {
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
    let agent = agents::get(&state, &user.account_id, &id).await?;
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
    match agents::update(&state, &user.account_id, &id, &agent_request(&form)).await {
        Ok(a) => Ok(redirect_with(
            &format!("/agents/{}", a.agent_id),
            FlashKind::Success,
            "Agent saved. Replies from now on use the new prompt.",
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let agent = agents::get(&state, &user.account_id, &id).await?;
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
    let agent = agents::get(&state, &user.account_id, &id).await?;
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
    match agents::delete(&state, &user.account_id, &id).await {
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
