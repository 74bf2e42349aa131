//! `POST /webhooks/twilio/inbound`: Twilio's incoming-message webhook, verified like the
//! status callback, answered with TwiML at once (the agent works in the background).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorBody};
use super::webhooks::verified_params;
use crate::provider::twilio::webhook::IncomingMessage;
use crate::provider::twiml;
use crate::service::App;
use crate::service::inbound::{self, InboundSms};

/// Twilio's incoming-message webhook. The message is stored in its conversation; STOP, START
/// and HELP (and their synonyms) take effect at once and are confirmed in the TwiML answer
/// (unless the account turned `keyword_replies` off); any other message goes to the agent,
/// whose answer is sent later through the REST API, so the answer is then an empty
/// `<Response/>`.
#[utoipa::path(post, path = "/webhooks/twilio/inbound", tag = "webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's incoming-message parameters (From, To, Body, MessageSid, OptOutType, …)"),
    responses(
        (status = 200, description = "TwiML: an empty `<Response/>`, or one `<Message>` confirming a keyword", content_type = "text/xml", body = String),
        (status = 403, description = "missing or wrong X-Twilio-Signature", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
    ))]
pub async fn inbound(
    State(state): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let params = verified_params(&state, &uri, &headers, body).await?;
    let message = IncomingMessage::parse(&params);
    let sms = InboundSms {
        from: message.from,
        to: message.to,
        body: message.body,
        message_sid: message.message_sid,
        opt_out_type: message.opt_out_type,
    };
    let outcome = inbound::receive(&state, &sms).await?;
    Ok((
        [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
        twiml::response(outcome.reply.as_deref()),
    )
        .into_response())
}
