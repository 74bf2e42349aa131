//! `/v1/opt-outs`: the numbers that never receive a campaign SMS from the account.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated, parse_json};
use crate::service::App;
use crate::service::optouts;
use crate::service::views::replies::{
    ConsentView, OptOutList, OptOutParams, OptOutRemoval, OptOutRequest, OptOutView,
};

/// The account's opt-outs, newest first (STOP keywords, Twilio's 21610, and added by hand).
#[utoipa::path(get, path = "/v1/opt-outs", tag = "opt-outs",
    params(OptOutParams),
    responses((status = 200, body = OptOutList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiQuery(params): ApiQuery<OptOutParams>,
) -> ApiResult<Json<OptOutList>> {
    Ok(Json(optouts::list(&state, &account, &params).await?))
}

/// Opt a number out: it is never sent a campaign SMS again (unless removed, or it texts
/// START). Writes a `revoked` consent record. 201 when new, 200 when it was already opted out.
#[utoipa::path(post, path = "/v1/opt-outs", tag = "opt-outs", request_body = OptOutRequest,
    responses((status = 201, body = OptOutView), (status = 200, description = "already opted out", body = OptOutView),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<OptOutRequest>,
) -> ApiResult<(StatusCode, Json<OptOutView>)> {
    let (view, created) = optouts::add(&state, &account, &body.value).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// Take a number off the opt-out list. A `reason` is required (query parameter or JSON body
/// `{"reason": …}`); it becomes the evidence of the `granted` consent record written, which
/// this answers with.
#[utoipa::path(delete, path = "/v1/opt-outs/{phone}", tag = "opt-outs",
    params(("phone" = String, Path, description = "E.164; URL-encode the `+` as `%2B`"), OptOutRemoval),
    request_body(content = Option<OptOutRemoval>, description = "the reason, if not in the query"),
    responses((status = 200, description = "removed; the consent record written", body = ConsentView),
        (status = 404, description = "not opted out", body = ErrorBody), (status = 422, description = "no reason", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(phone): ApiPath,
    ApiQuery(query): ApiQuery<OptOutRemoval>,
    body: Bytes,
) -> ApiResult<Json<ConsentView>> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        OptOutRemoval::default()
    } else {
        parse_json::<OptOutRemoval>(&body)?
    };
    let reason = query.reason.or(from_body.reason);
    Ok(Json(
        optouts::remove(&state, &account, &phone, reason.as_deref()).await?,
    ))
}
