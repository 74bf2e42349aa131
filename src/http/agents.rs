//! `/v1/agents`: the agents that answer replies, and their system prompts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, Authenticated};
use crate::service::App;
use crate::service::agents;
use crate::service::views::{AgentList, AgentRequest, AgentView};

/// Create an agent.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = AgentRequest,
    responses((status = 201, body = AgentView), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_agent(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<AgentRequest>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    let agent = agents::create(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// The account's agents.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, body = AgentList)), security(("bearer" = [])))]
pub async fn list_agents(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<AgentList>> {
    Ok(Json(agents::list(&state, &account).await?))
}

/// One agent.
#[utoipa::path(get, path = "/v1/agents/{agent_id}", tag = "agents",
    params(("agent_id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_agent(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<AgentView>> {
    Ok(Json(agents::get(&state, &account, &id).await?))
}

/// Replace an agent's name and system prompt.
#[utoipa::path(put, path = "/v1/agents/{agent_id}", tag = "agents", request_body = AgentRequest,
    params(("agent_id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_agent(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    body: ApiJson<AgentRequest>,
) -> ApiResult<Json<AgentView>> {
    Ok(Json(
        agents::update(&state, &account, &id, &body.value).await?,
    ))
}

/// Delete an agent that no number or campaign uses.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}", tag = "agents",
    params(("agent_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_agent(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<StatusCode> {
    agents::delete(&state, &account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
