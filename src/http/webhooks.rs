//! Twilio's webhooks: status callbacks, verified by `X-Twilio-Signature` before anything changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

use super::error::ApiError;
use crate::domain::status::{RecipientStatus, StatusEvent};
use crate::provider::signature;
use crate::provider::twilio::webhook::StatusCallback;
use crate::service::App;

/// Checks the signature over the public URL + path + query and the form parameters
/// (every Twilio webhook: status callbacks here, incoming messages in `inbound`).
pub(super) fn verified_params(
    state: &App,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let token = state
        .settings
        .twilio
        .as_ref()
        .map(|t| t.auth_token.as_str())
        .ok_or(ApiError::Forbidden)?;
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| ApiError::Forbidden)?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{}", state.settings.public_base(), path_and_query);
    let signature = headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Forbidden)?;
    if !signature::verify(token, &url, &params, signature) {
        tracing::warn!(path = uri.path(), "rejected a webhook with a bad signature");
        return Err(ApiError::Forbidden);
    }
    Ok(params)
}

/// Twilio's status callback for an outbound message: moves the recipient forward, never back.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "webhooks",
    params(("attempt" = Option<String>, Query, description = "Herald's attempt id, set in the StatusCallback URL")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's callback parameters (MessageSid, MessageStatus, ErrorCode, …)"),
    responses((status = 200, description = "stored"), (status = 403, description = "missing or wrong X-Twilio-Signature")))]
pub async fn status(
    State(state): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let params = verified_params(&state, &uri, &headers, &body)?;
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
