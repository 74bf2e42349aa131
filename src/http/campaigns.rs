//! `/v1/sms/campaigns`: create, list, get, cancel, launch, append recipients to a draft,
//! pause, resume, resend, and the recipients as CSV.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiResult, ErrorBody};
use super::extract::{
    ApiJson, ApiPath, ApiQuery, Authenticated, JsonBody, Unparsed, parse_json, parse_json_listing,
};
use crate::domain::campaign::{AppendRequest, CampaignRequest, MisshapenRequest, RecipientsJson};
use crate::domain::status::Source;
use crate::service::App;
use crate::service::appends::{self, AppendedRecipients};
use crate::service::campaigns;
use crate::service::export::{self, CsvParams};
use crate::service::resend::{self, ResendRequest};
use crate::service::views::{
    CampaignDetail, CampaignList, CampaignView, CreatedCampaign, ListParams, RecipientParams,
};

/// Create a campaign and (for `now`) start sending it.
#[utoipa::path(
    post, path = "/v1/sms/campaigns", tag = "campaigns",
    request_body(content = CampaignRequest, example = super::examples::create_body),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = r"^[\x21-\x7e]+$", description = "a retried POST with the same key and body returns the first campaign; 1 to 255 visible ASCII characters (422 otherwise)")),
    responses(
        (status = 201, description = "created (or replayed)", body = CreatedCampaign, example = super::examples::created),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "bad API key", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "invalid fields, each with its path: every field of the wrong type, missing or with a bad value at once", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    // Recipients borrowed from the body. A body that form refuses is read again in the owned
    // form, whose errors (path, message and position) are the ones to report, each bad field
    // of it listed (read field by field); the two forms accept the same bodies, so that second
    // read is only ever for the errors.
    let request = match parse_json::<CampaignRequest<RecipientsJson<'_>>>(&body.bytes) {
        Ok(request) => Ok(request),
        Err(_) => match parse_json_listing(&body.bytes, MisshapenRequest::read) {
            Ok(owned) => Err::<_, CampaignRequest>(owned),
            Err(Unparsed::Refused(e)) => return Err(e),
            Err(Unparsed::Misshapen(m)) => {
                return Err(campaigns::refuse_misshapen(&state, &account, &m)
                    .await
                    .into());
            }
        },
    };
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(campaigns::idempotency_key(
            v.to_str().unwrap_or(""),
            body.body_hash.clone(),
        )?),
    };
    let outcome = match &request {
        Ok(request) => {
            campaigns::create(&state, &account, request, Source::Api, idempotency.as_ref()).await?
        }
        Err(request) => {
            campaigns::create(&state, &account, request, Source::Api, idempotency.as_ref()).await?
        }
    };
    let mut response = (StatusCode::CREATED, Json(outcome.campaign)).into_response();
    if outcome.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// All campaigns of the account, newest first, each with computed counts.
#[utoipa::path(
    get, path = "/v1/sms/campaigns", tag = "campaigns",
    params(ListParams),
    responses((status = 200, body = CampaignList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<CampaignList>> {
    Ok(Json(campaigns::list(&state, &account, &params).await?))
}

/// One campaign with counts and a page of its recipients.
#[utoipa::path(
    get, path = "/v1/sms/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id"), RecipientParams),
    responses((status = 200, body = CampaignDetail, example = super::examples::detail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    ApiQuery(params): ApiQuery<RecipientParams>,
) -> ApiResult<Json<CampaignDetail>> {
    Ok(Json(campaigns::get(&state, &account, &id, &params).await?))
}

/// Cancel a draft, scheduled, running or paused campaign. Sent messages are not recalled.
#[utoipa::path(
    delete, path = "/v1/sms/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id")),
    responses(
        (status = 200, description = "cancelled", body = CampaignView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "already done, failed or cancelled", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::cancel(&state, &account, &id).await?))
}

/// Launch a draft: now, or at its `scheduled_at`.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/{id}/launch", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id")),
    responses(
        (status = 200, body = CampaignView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not a draft", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn launch(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::launch(&state, &account, &id).await?))
}

/// Pause a running or scheduled campaign: nothing more is sent for it (on every node) until it
/// is resumed. Requests already in flight finish and are tracked; callbacks keep updating the
/// counts. A paused campaign can still be cancelled.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/{id}/pause", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id")),
    responses(
        (status = 200, description = "paused", body = CampaignView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not running or scheduled (the message says its status)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn pause(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::pause(&state, &account, &id).await?))
}

/// Resume a paused campaign where it stopped: `running`, or `scheduled` if its
/// `scheduled_at` is still ahead. Only recipients never sent are sent: nobody twice.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/{id}/resume", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id")),
    responses(
        (status = 200, description = "running or scheduled again", body = CampaignView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not paused (the message says its status)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resume(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::resume(&state, &account, &id).await?))
}

/// Resend to the recipients of a finished (done or failed) or cancelled campaign who are in
/// the given statuses: a new campaign of exactly those recipients, with their variables, the
/// same template and sending numbers, and `resend_of` naming the original. People who opted
/// out since are kept, never sent, and fail with `opted_out`, as at create.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/{id}/resend", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id of the original")),
    request_body = ResendRequest,
    responses(
        (status = 201, description = "the new campaign", body = CreatedCampaign),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the original is still draft, scheduled, running or paused", body = ErrorBody),
        (status = 422, description = "invalid fields (`statuses`, `schedule_type`, `scheduled_at`, `name`), or no recipient in those statuses", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resend(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    body: ApiJson<ResendRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCampaign>)> {
    let outcome = resend::resend(&state, &account, &id, &body.value).await?;
    Ok((StatusCode::CREATED, Json(outcome.campaign)))
}

/// Every recipient of the campaign as CSV (UTF-8 with a byte order mark, CRLF line ends),
/// streamed: `phone, status, error_code, error_message, twilio_sid, from_number, segments,
/// sent_at, delivered_at, updated_at`, then one column per template variable. A cell that a
/// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return) is written with a leading `'`, except phone numbers.
#[utoipa::path(
    get, path = "/v1/sms/campaigns/{id}/recipients.csv", tag = "campaigns",
    params(("id" = String, Path, description = "campaign_id"), CsvParams),
    responses(
        (status = 200, description = "the recipients", content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "unknown `status`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn recipients_csv(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    ApiQuery(params): ApiQuery<CsvParams>,
) -> ApiResult<Response> {
    let csv = export::recipients_csv(&state, &account, &id, &params).await?;
    Ok(csv_response(&export::file_name(&id), csv))
}

/// A streamed CSV download.
fn csv_response(file_name: &str, csv: export::RecipientsCsv) -> Response {
    let mut response = Response::new(axum::body::Body::from_stream(csv.into_stream()));
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Add recipients to a draft (then `launch` it): checked as at create, at most the per-call
/// limit each call, so a campaign can grow past one call's limit.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/{id}/recipients", tag = "campaigns",
    request_body = AppendRequest,
    params(
        ("id" = String, Path, description = "campaign_id"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = r"^[\x21-\x7e]+$", description = "a retried POST with the same key and body (to the same campaign) answers as the first did and adds nothing; 1 to 255 visible ASCII characters (422 otherwise)"),
    ),
    responses(
        (status = 200, description = "added (or replayed): phones already in the campaign, or earlier in this list, are dropped as duplicates", body = AppendedRecipients),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "bad API key", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not a draft", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "invalid fields, each with its path (as at create); nothing is added", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn append_recipients(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    // Recipients borrowed from the body, as at create; a body that form refuses is read in
    // the owned form for its errors.
    let request = match parse_json::<AppendRequest<RecipientsJson<'_>>>(&body.bytes) {
        Ok(request) => request,
        Err(e) => return Err(parse_json::<AppendRequest>(&body.bytes).err().unwrap_or(e)),
    };
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(appends::idempotency_key(
            v.to_str().unwrap_or(""),
            &id,
            &body.body_hash,
        )?),
    };
    let outcome = appends::append(&state, &account, &id, request, idempotency.as_ref()).await?;
    let mut response = (StatusCode::OK, Json(outcome.appended)).into_response();
    if outcome.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
