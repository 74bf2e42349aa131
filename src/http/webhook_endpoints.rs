//! `/v1/webhook-endpoints`: where Herald posts its events, signed the Standard Webhooks way.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use crate::service::App;
use crate::service::views::webhooks::{
    DeliveryParams, WebhookDeliveryList, WebhookEndpointCreated, WebhookEndpointList,
    WebhookEndpointPatch, WebhookEndpointRequest, WebhookEndpointView, WebhookSecretRotated,
    WebhookTestQueued,
};
use crate::service::webhooks;

/// Add a webhook endpoint. The answer carries its `secret`, shown this once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhook-endpoints",
    request_body = WebhookEndpointRequest,
    responses((status = 201, body = WebhookEndpointCreated), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<WebhookEndpointRequest>,
) -> ApiResult<(StatusCode, Json<WebhookEndpointCreated>)> {
    let created = webhooks::create(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The account's webhook endpoints.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhook-endpoints",
    responses((status = 200, body = WebhookEndpointList)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<WebhookEndpointList>> {
    Ok(Json(webhooks::list(&state, &account).await?))
}

/// One webhook endpoint (`enabled: false` with a `disabled_reason` when Herald disabled it
/// after a day of failures).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhook-endpoints",
    params(("endpoint_id" = String, Path)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<WebhookEndpointView>> {
    Ok(Json(webhooks::get(&state, &account, &id).await?))
}

/// Change a webhook endpoint's URL, event types, description, or whether it is enabled.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhook-endpoints",
    request_body = WebhookEndpointPatch, params(("endpoint_id" = String, Path)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    body: ApiJson<WebhookEndpointPatch>,
) -> ApiResult<Json<WebhookEndpointView>> {
    Ok(Json(
        webhooks::update(&state, &account, &id, &body.value).await?,
    ))
}

/// Delete a webhook endpoint, its undelivered messages and its delivery log.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhook-endpoints",
    params(("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state, &account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give the endpoint a new secret (shown once). The previous one keeps signing beside it
/// for 24 hours: deliveries then carry two `v1,` signatures.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    tag = "webhook-endpoints", params(("endpoint_id" = String, Path)),
    responses((status = 200, body = WebhookSecretRotated), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<WebhookSecretRotated>> {
    Ok(Json(webhooks::rotate_secret(&state, &account, &id).await?))
}

/// The endpoint's recent delivery attempts, newest first.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries",
    tag = "webhook-endpoints", params(("endpoint_id" = String, Path), DeliveryParams),
    responses((status = 200, body = WebhookDeliveryList), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> ApiResult<Json<WebhookDeliveryList>> {
    Ok(Json(
        webhooks::deliveries(&state, &account, &id, params.limit).await?,
    ))
}

/// Send the endpoint a `webhook.test` event (whatever event types it receives).
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/test",
    tag = "webhook-endpoints", params(("endpoint_id" = String, Path)),
    responses((status = 202, body = WebhookTestQueued), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send_test(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<(StatusCode, Json<WebhookTestQueued>)> {
    let queued = webhooks::send_test(&state, &account, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
