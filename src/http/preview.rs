//! `POST /v1/sms/campaigns/preview` and `POST /v1/sms/recipients/parse`: what the dashboard's
//! new-campaign form shows before anything is sent.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiQuery, Authenticated, JsonBody, Unparsed, parse_json_listing};
use crate::domain::campaign::{CampaignRequest, MisshapenRequest};
use crate::service::App;
use crate::service::recipients::{self, UploadFormat};
use crate::service::views::{CampaignPreview, ParseParams, ParsedRecipients, PreviewParams};
use crate::service::{campaigns, preview};

/// Preview a create body: every recipient's rendered message, encoding and segments, the
/// estimated cost, and every problem (invalid, duplicate, opted-out recipients, missing
/// variables, campaign errors). Nothing is created, and bad recipients are listed, not refused.
#[utoipa::path(
    post, path = "/v1/sms/campaigns/preview", tag = "campaigns",
    request_body(content = PreviewRequest, example = super::examples::create_body),
    params(PreviewParams),
    responses(
        (status = 200, description = "what create would do; `valid` says whether it would succeed", body = CampaignPreview),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "bad API key", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "fields of the wrong type (every one, with what create would also refuse), or bad paging parameters", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn preview_campaign(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiQuery(params): ApiQuery<PreviewParams>,
    body: JsonBody,
) -> ApiResult<Json<CampaignPreview>> {
    let request = match parse_json_listing(&body.bytes, MisshapenRequest::read) {
        Ok(request) => request,
        Err(Unparsed::Refused(e)) => return Err(e),
        // As create refuses it: every field of the wrong type, and what else create would say.
        Err(Unparsed::Misshapen(m)) => {
            return Err(campaigns::refuse_misshapen(&state, &account, &m)
                .await
                .into());
        }
    };
    Ok(Json(
        preview::preview(&state, &account, &request, &params).await?,
    ))
}

/// The body of `POST /v1/sms/campaigns/preview` as the document describes it: create's fields
/// ([`CampaignRequest`]) with the same types, none required and each nullable, without create's
/// bounds (a preview reports those in its answer). Never read: preview reads a
/// [`CampaignRequest`]; this is its schema only.
pub struct PreviewRequest;

impl utoipa::PartialSchema for PreviewRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::openapi::preview_request(<CampaignRequest as utoipa::PartialSchema>::schema())
    }
}

impl utoipa::ToSchema for PreviewRequest {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        // What create's body refers to (its recipients, `ScheduleType`).
        <CampaignRequest as utoipa::ToSchema>::schemas(schemas);
    }
}

/// Read recipients from a CSV upload (`text/csv`) or pasted numbers (`text/plain`): the
/// phone column is detected, other columns become variables, bad rows and repeated phones
/// are reported, and so is the encoding the body was read in (UTF-8 with or without BOM,
/// UTF-16 with BOM, otherwise Windows-1252).
#[utoipa::path(
    post, path = "/v1/sms/recipients/parse", tag = "recipients",
    request_body(
        description = "a CSV file, or numbers separated by commas, tabs, spaces or newlines (mixed); UTF-8, UTF-16 with a BOM, or Windows-1252",
        content(
            (String = "text/csv"),
            (String = "text/plain"),
        )
    ),
    params(ParseParams),
    responses(
        (status = 200, description = "recipients, bad rows, the detected phone column and variables, the encoding read", body = ParsedRecipients),
        (status = 401, description = "bad API key", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "neither CSV nor plain text", body = ErrorBody),
        (status = 422, description = "unknown default_country, or an upload that is empty, phone-less, BOM-marked but broken UTF-8/UTF-16, holds a NUL character, or has more rows than --max-recipients (reading stops there)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn parse_recipients(
    State(state): State<App>,
    Authenticated(_account): Authenticated,
    ApiQuery(params): ApiQuery<ParseParams>,
    upload: Upload,
) -> ApiResult<Json<ParsedRecipients>> {
    Ok(Json(
        recipients::parse(
            upload.format,
            upload.bytes,
            params.default_country,
            state.settings.limits.max_recipients,
        )
        .await?,
    ))
}

/// Content types read as CSV: the standard one and what browsers send for `.csv` files.
const CSV_TYPES: [&str; 3] = ["text/csv", "application/csv", "application/vnd.ms-excel"];

/// A raw upload body and how to read it, chosen from its Content-Type (415 otherwise).
pub struct Upload {
    /// CSV or paste.
    pub format: UploadFormat,
    /// The body as sent.
    pub bytes: Bytes,
}

impl FromRequest<App> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, Self::Rejection> {
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let format = match mime.as_str() {
            "text/plain" => UploadFormat::Paste,
            m if CSV_TYPES.contains(&m) => UploadFormat::Csv,
            _ => {
                return Err(ApiError::UnsupportedContentType(
                    "text/csv (a CSV file) or text/plain (pasted numbers)",
                ));
            }
        };
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(state.settings.max_body_bytes))?;
        Ok(Upload { format, bytes })
    }
}
