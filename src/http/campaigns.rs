//! `/v1/sms/campaigns`: create, list, get, cancel, launch, append recipients to a draft.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiResult, ErrorBody};
use super::extract::{
    ApiPath, ApiQuery, Authenticated, JsonBody, Unparsed, parse_json, parse_json_listing,
};
use crate::domain::campaign::{AppendRequest, CampaignRequest, MisshapenRequest, RecipientsJson};
use crate::domain::status::Source;
use crate::service::App;
use crate::service::appends::{self, AppendedRecipients};
use crate::service::campaigns;
use crate::service::views::{
    CampaignDetail, CampaignList, CampaignView, CreatedCampaign, ListParams, RecipientParams,
};

/// Create a campaign and (for `now`) start sending it.
#[utoipa::path(
    post, path = "/v1/sms/campaigns", tag = "campaigns",
    request_body = CampaignRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried POST with the same key and body returns the first campaign")),
    responses(
        (status = 201, description = "created (or replayed)", body = CreatedCampaign),
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
    responses((status = 200, body = CampaignDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
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

/// Cancel a draft, scheduled or running campaign. Sent messages are not recalled.
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

/// Add recipients to a draft (then `launch` it): checked as at create, at most the per-call
/// limit each call, so a campaign can grow past one call's limit.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/{id}/recipients", tag = "campaigns",
    request_body = AppendRequest,
    params(
        ("id" = String, Path, description = "campaign_id"),
        ("Idempotency-Key" = Option<String>, Header, description = "a retried POST with the same key and body (to the same campaign) answers as the first did and adds nothing"),
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
