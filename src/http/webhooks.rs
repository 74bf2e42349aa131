//! Twilio's webhooks: status callbacks, verified by `X-Twilio-Signature` before anything changes.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;
use crate::domain::status::{RecipientStatus, StatusEvent};
use crate::provider::signature;
use crate::provider::twilio::webhook::StatusCallback;
use crate::service::App;

/// Largest body a Twilio webhook may have. Twilio's forms are a few kilobytes (a 1,600
/// character message and some twenty fields); anything far larger is not Twilio.
pub const WEBHOOK_MAX_BODY: usize = 64 * 1024;

/// Reads a webhook's body, at most [`WEBHOOK_MAX_BODY`] bytes (413 beyond, without reading
/// the rest; a declared `Content-Length` over the limit is refused before reading at all).
async fn read_limited(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > WEBHOOK_MAX_BODY as u64) {
        return Err(ApiError::PayloadTooLarge(WEBHOOK_MAX_BODY));
    }
    match Limited::new(body, WEBHOOK_MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge(WEBHOOK_MAX_BODY))
        }
        // The client went away mid-body: nothing to verify.
        Err(_) => Err(ApiError::Forbidden),
    }
}

/// Checks the signature over the public URL + path + query and the form parameters
/// (every Twilio webhook: status callbacks here, incoming messages in `inbound`). A request
/// without `X-Twilio-Signature` is refused before its body is read, and a body is read only
/// up to [`WEBHOOK_MAX_BODY`], so a stranger's POST costs next to nothing.
pub(super) async fn verified_params(
    state: &App,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<(String, String)>, ApiError> {
    let token = state
        .settings
        .twilio
        .as_ref()
        .map(|t| t.auth_token.as_str())
        .ok_or(ApiError::Forbidden)?;
    let signature = headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::Forbidden)?;
    let body = read_limited(headers, body).await?;
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::Forbidden)?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{}", state.settings.public_base(), path_and_query);
    if !signature::verify(token, &url, &params, signature) {
        tracing::warn!(path = uri.path(), "rejected a webhook with a bad signature");
        return Err(ApiError::Forbidden);
    }
    for (name, value) in &params {
        crate::domain::input::check_text(name, value)
            .map_err(|e| ApiError::from(crate::service::ServiceError::Validation(vec![e])))?;
    }
    Ok(params)
}

/// Twilio's status callback for an outbound message: moves the recipient forward, never back.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "webhooks",
    params(("attempt" = Option<String>, Query, description = "Herald's attempt id, set in the StatusCallback URL")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's callback parameters (MessageSid, MessageStatus, ErrorCode, …)"),
    responses((status = 200, description = "stored"), (status = 403, description = "missing or wrong X-Twilio-Signature"),
        (status = 413, description = "body over 64 KiB", body = super::error::ErrorBody)))]
pub async fn status(
    State(state): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let params = verified_params(&state, &uri, &headers, body).await?;
    let callback = StatusCallback::parse(&params);
    state.metrics.callback(callback.status);
    let (Some(sid), Some(status)) = (
        callback.message_sid,
        RecipientStatus::from_twilio(callback.status),
    ) else {
        return Ok(StatusCode::OK);
    };
    let attempt_id = uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "attempt")
            .map(|(_, v)| v)
    });
    let event = StatusEvent {
        attempt_id,
        sid: sid.to_owned(),
        status,
        error_code: callback.error_code.map(str::to_owned),
        error_message: callback.error_message.map(str::to_owned),
    };
    state.callbacks.submit(event).await?;
    Ok(StatusCode::OK)
}
