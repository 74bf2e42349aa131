//! `/v1/consents`: the append-only record of who agreed to receive messages, and when.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use super::preview::Upload;
use crate::domain::consent::ConsentRequest;
use crate::service::App;
use crate::service::consents;
use crate::service::views::replies::{
    ConsentImport, ConsentImportParams, ConsentList, ConsentParams, ConsentView, PhoneConsent,
};

/// The account's consent records, newest first (of one number with `phone`).
#[utoipa::path(get, path = "/v1/consents", tag = "consents",
    params(ConsentParams),
    responses((status = 200, body = ConsentList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiQuery(params): ApiQuery<ConsentParams>,
) -> ApiResult<Json<ConsentList>> {
    Ok(Json(consents::list(&state, &account, &params).await?))
}

/// Record a consent (`granted`) or its withdrawal (`revoked`). Records are never changed or
/// deleted; a number's consent is its latest record by `timestamp`. Campaigns with
/// `require_consent` send only to numbers whose consent is `granted`. A record never changes
/// the opt-out list (STOP and `/v1/opt-outs` do).
#[utoipa::path(post, path = "/v1/consents", tag = "consents", request_body = ConsentRequest,
    responses((status = 201, body = ConsentView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<ConsentRequest>,
) -> ApiResult<(StatusCode, Json<ConsentView>)> {
    let record = consents::add(&state, &account, &body.value).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Import consent records from a CSV file (`text/csv`), all or nothing. A header row names the
/// columns: a phone column (`phone`, `mobile`, `number`, …) is required; `status`
/// (granted/revoked, default granted), `source` (default `import`), `evidence` and
/// `timestamp` (RFC 3339 or a date) are optional. A bad row refuses the whole file, naming
/// each problem as `lines[N].column` (N is the file's line).
#[utoipa::path(post, path = "/v1/consents/import", tag = "consents",
    request_body(description = "a CSV file with a header row", content((String = "text/csv"))),
    params(ConsentImportParams),
    responses((status = 201, body = ConsentImport), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiQuery(params): ApiQuery<ConsentImportParams>,
    upload: Upload,
) -> ApiResult<(StatusCode, Json<ConsentImport>)> {
    let outcome = consents::import(&state, &account, upload.bytes, &params).await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// One number's consent now (and whether `require_consent` campaigns send to it), with its
/// history, newest first.
#[utoipa::path(get, path = "/v1/consents/{phone}", tag = "consents",
    params(("phone" = String, Path, description = "E.164; URL-encode the `+` as `%2B`")),
    responses((status = 200, body = PhoneConsent), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn for_phone(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(phone): ApiPath,
) -> ApiResult<Json<PhoneConsent>> {
    Ok(Json(consents::for_phone(&state, &account, &phone).await?))
}
