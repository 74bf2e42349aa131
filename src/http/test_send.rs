//! `/v1/sms/test`: send yourself one SMS before a campaign, and follow it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, Authenticated};
use crate::service::App;
use crate::service::test_send::{self, TestSendRequest, TestSendView};

/// Send one test SMS now: rendered and checked as a campaign's recipient would be, sent at
/// the number's next pacing slot (opt-outs honoured), recorded and tracked to its final
/// status; never counted in or listed with campaigns. Answers once Twilio gave its sid (or
/// after 10 s, with `twilio_sid: null`: follow it with `GET /v1/sms/test/{id}`).
#[utoipa::path(post, path = "/v1/sms/test", tag = "campaigns", operation_id = "test_send_create",
    request_body = TestSendRequest,
    responses(
        (status = 201, description = "sent (or on its way)", body = TestSendView),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "invalid fields: `from_number`, `to`, `message_template`, `variables.…`", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn send(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<TestSendRequest>,
) -> ApiResult<(StatusCode, Json<TestSendView>)> {
    let sent = test_send::send(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// One test send and where it stands.
#[utoipa::path(get, path = "/v1/sms/test/{id}", tag = "campaigns", operation_id = "test_send_get",
    params(("id" = String, Path, description = "test_id")),
    responses((status = 200, body = TestSendView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<TestSendView>> {
    Ok(Json(test_send::get(&state, &account, &id).await?))
}
