//! `/v1/api-keys`: make, list and revoke API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, Authenticated};
use crate::service::App;
use crate::service::keys;
use crate::service::views::{ApiKeyList, ApiKeyRequest, ApiKeyView, CreatedApiKey};

/// Create an API key; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = ApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let key = keys::create(&state, &account, &body.value).await?;
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
    Ok(Json(keys::list(&state, &account).await?))
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
    Ok(Json(keys::revoke(&state, &account, &id).await?))
}
