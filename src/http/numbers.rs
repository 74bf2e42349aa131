//! `/v1/numbers`: the sending numbers campaigns go out from, their pace and their agent.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, Authenticated};
use crate::service::App;
use crate::service::numbers;
use crate::service::views::{NumberList, NumberRequest, NumberUpdate, NumberView};

/// Register a sending number (`mps` defaults to 1.0). The Twilio account must list it, with SMS.
#[utoipa::path(post, path = "/v1/numbers", tag = "numbers", request_body = NumberRequest,
    responses((status = 201, description = "registered", body = NumberView),
        (status = 409, description = "already one of your numbers, or it cannot be added", body = ErrorBody),
        (status = 422, description = "invalid fields, or not a number of the Twilio account with SMS", body = ErrorBody),
        (status = 503, description = "Twilio could not be asked whether the account owns it", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_number(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<NumberRequest>,
) -> ApiResult<(StatusCode, Json<NumberView>)> {
    let number = numbers::create(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(number)))
}

/// The account's sending numbers.
#[utoipa::path(get, path = "/v1/numbers", tag = "numbers",
    responses((status = 200, body = NumberList)), security(("bearer" = [])))]
pub async fn list_numbers(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<NumberList>> {
    Ok(Json(numbers::list(&state, &account).await?))
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
    Ok(Json(numbers::get(&state, &account, &phone).await?))
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
    let number = numbers::update(&state, &account, &phone, &body.value).await?;
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
    numbers::delete(&state, &account, &phone).await?;
    Ok(StatusCode::NO_CONTENT)
}
