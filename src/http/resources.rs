//! `/v1/api-keys`, `/v1/agents` and `/v1/numbers`: the objects campaigns refer to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, Authenticated};
use crate::api::{
    AgentList, AgentRequest, AgentView, ApiKeyList, ApiKeyRequest, ApiKeyView, CreatedApiKey,
    NumberList, NumberRequest, NumberUpdate, NumberView,
};
use crate::service::App;
use crate::service::resources;

/// Create an API key; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = ApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let key = resources::create_key(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// The account's API keys (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<ApiKeyList>> {
    Ok(Json(resources::list_keys(&state, &account).await?))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<ApiKeyView>> {
    Ok(Json(resources::revoke_key(&state, &account, &id).await?))
}

/// Create an agent.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = AgentRequest,
    responses((status = 201, body = AgentView), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_agent(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<AgentRequest>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    let agent = resources::create_agent(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// The account's agents.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, body = AgentList)), security(("bearer" = [])))]
pub async fn list_agents(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<AgentList>> {
    Ok(Json(resources::list_agents(&state, &account).await?))
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
    Ok(Json(resources::get_agent(&state, &account, &id).await?))
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
        resources::update_agent(&state, &account, &id, &body.value).await?,
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
    resources::delete_agent(&state, &account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register a sending number (`mps` defaults to 1.0).
#[utoipa::path(post, path = "/v1/numbers", tag = "numbers", request_body = NumberRequest,
    responses((status = 201, body = NumberView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_number(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<NumberRequest>,
) -> ApiResult<(StatusCode, Json<NumberView>)> {
    let number = resources::create_number(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(number)))
}

/// The account's sending numbers.
#[utoipa::path(get, path = "/v1/numbers", tag = "numbers",
    responses((status = 200, body = NumberList)), security(("bearer" = [])))]
pub async fn list_numbers(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<NumberList>> {
    Ok(Json(resources::list_numbers(&state, &account).await?))
}

/// One number, addressed by its E.164 phone (URL-encode the `+` as `%2B`).
#[utoipa::path(get, path = "/v1/numbers/{phone}", tag = "numbers",
    params(("phone" = String, Path)),
    responses((status = 200, body = NumberView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_number(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(phone): ApiPath,
) -> ApiResult<Json<NumberView>> {
    Ok(Json(resources::get_number(&state, &account, &phone).await?))
}

/// Change a number's rate or default agent.
#[utoipa::path(patch, path = "/v1/numbers/{phone}", tag = "numbers", request_body = NumberUpdate,
    params(("phone" = String, Path)),
    responses((status = 200, body = NumberView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_number(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(phone): ApiPath,
    body: ApiJson<NumberUpdate>,
) -> ApiResult<Json<NumberView>> {
    let number = resources::update_number(&state, &account, &phone, &body.value).await?;
    Ok(Json(number))
}

/// Remove a number that no unfinished campaign sends from.
#[utoipa::path(delete, path = "/v1/numbers/{phone}", tag = "numbers",
    params(("phone" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_number(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(phone): ApiPath,
) -> ApiResult<StatusCode> {
    resources::delete_number(&state, &account, &phone).await?;
    Ok(StatusCode::NO_CONTENT)
}
