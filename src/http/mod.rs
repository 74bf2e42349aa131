//! The JSON API edge: thin axum handlers (parse, call one use case, map the result) and its
//! router, which `startup` merges beside the dashboard's.

pub mod account;
pub mod agents;
pub mod campaigns;
pub mod consents;
pub mod conversations;
pub mod error;
pub mod examples;
pub mod extract;
pub mod health;
pub mod inbound;
pub mod keys;
pub mod numbers;
pub mod openapi;
pub mod optouts;
pub mod preview;
pub mod test_send;
pub mod webhook_endpoints;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::App;
use error::ApiError;
use subtle::ConstantTimeEq;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "SMS campaigns through Twilio: one call sends a personalised SMS to many recipients, paced per sending number, tracked per recipient."
    ),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody, crate::domain::FieldError)),
    tags(
        (name = "campaigns", description = "SMS campaigns"),
        (name = "agents", description = "AI agents that answer replies"),
        (name = "numbers", description = "Sending numbers"),
        (name = "api-keys", description = "API keys"),
        (name = "conversations", description = "Replies: inbound messages, the agent's answers, keyword confirmations"),
        (name = "opt-outs", description = "Numbers that never receive a campaign SMS"),
        (name = "consents", description = "Append-only consent records"),
        (name = "account", description = "The account's reply settings"),
        (name = "health", description = "Probes"),
        (name = "webhooks", description = "Twilio's callbacks"),
        (name = "webhook-endpoints", description = "Outgoing webhooks: where Herald posts its events, signed the Standard Webhooks way"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("KEY_ID:KEY_SECRET")
                    .build(),
            ),
        );
    }
}

/// The whole API, with its OpenAPI document generated from the same handlers. Paths under
/// `/v1` and `/webhooks` that no route matches answer the API's JSON 404 here, so the
/// dashboard's catch-all never sees them.
pub fn router() -> Router<App> {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(campaigns::create, campaigns::list))
        .routes(routes!(campaigns::get, campaigns::cancel))
        .routes(routes!(campaigns::launch))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(campaigns::resend))
        .routes(routes!(campaigns::recipients_csv))
        .routes(routes!(test_send::send))
        .routes(routes!(test_send::get))
        .routes(routes!(campaigns::append_recipients))
        .routes(routes!(preview::preview_campaign))
        .routes(routes!(preview::parse_recipients))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(agents::create_agent, agents::list_agents))
        .routes(routes!(
            agents::get_agent,
            agents::update_agent,
            agents::delete_agent
        ))
        .routes(routes!(numbers::create_number, numbers::list_numbers))
        .routes(routes!(
            numbers::get_number,
            numbers::update_number,
            numbers::delete_number
        ))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(webhooks::status))
        .routes(routes!(inbound::inbound))
        .routes(routes!(conversations::list))
        .routes(routes!(conversations::get))
        .routes(routes!(optouts::list, optouts::add))
        .routes(routes!(optouts::remove))
        .routes(routes!(consents::list, consents::add))
        .routes(routes!(consents::import))
        .routes(routes!(consents::for_phone))
        .routes(routes!(account::get, account::update))
        .routes(routes!(webhook_endpoints::create, webhook_endpoints::list))
        .routes(routes!(
            webhook_endpoints::get,
            webhook_endpoints::update,
            webhook_endpoints::delete
        ))
        .routes(routes!(webhook_endpoints::rotate_secret))
        .routes(routes!(webhook_endpoints::deliveries))
        .routes(routes!(webhook_endpoints::send_test))
        .split_for_parts();
    // Completed once with what every route shares (`openapi::complete`), served as is.
    let openapi = Arc::new(openapi::complete(
        serde_json::to_value(&openapi).expect("the OpenAPI document serializes"),
    ));

    router
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(metrics))
        .route("/v1", any(route_not_found))
        .route("/v1/{*rest}", any(route_not_found))
        .route("/webhooks", any(route_not_found))
        .route("/webhooks/{*rest}", any(route_not_found))
        .layer(axum::middleware::from_fn(extract::input_rules))
}

/// The JSON 404 of a path no route serves.
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// The JSON 405 of a route that exists, but not for this method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Who may read `/metrics`: with a token configured, whoever presents it as
/// `Authorization: Bearer <token>` (compared in constant time); without one, only clients on
/// loopback.
fn metrics_access(
    token: Option<&str>,
    client: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    match token {
        Some(token) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if presented.is_empty() || !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
                return Err(ApiError::MetricsUnauthorized);
            }
        }
        None => {
            if !client.is_some_and(|addr| addr.ip().to_canonical().is_loopback()) {
                return Err(ApiError::MetricsLoopbackOnly);
            }
        }
    }
    Ok(())
}

/// Prometheus metrics, for whoever [`metrics_access`] lets in.
async fn metrics(
    State(state): State<App>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    metrics_access(
        state.settings.metrics_token.as_deref(),
        client.map(|Extension(ConnectInfo(addr))| addr),
        &headers,
    )?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}

/// The answer to a request whose handler panicked: the API's JSON 500 (logged).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": {"code": "internal_error", "message": "something went wrong on our side; it has been logged"}})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_need_the_token_or_loopback() {
        let none = HeaderMap::new();
        let addr = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert!(metrics_access(None, addr("127.0.0.1:5000"), &none).is_ok());
        assert!(metrics_access(None, addr("[::1]:5000"), &none).is_ok());
        assert!(metrics_access(None, addr("[::ffff:127.0.0.1]:5000"), &none).is_ok());
        for far in ["10.0.0.5:5000", "[2001:db8::1]:5000"] {
            assert!(matches!(
                metrics_access(None, addr(far), &none),
                Err(ApiError::MetricsLoopbackOnly)
            ));
        }
        assert!(matches!(
            metrics_access(None, None, &none),
            Err(ApiError::MetricsLoopbackOnly)
        ));
        let mut right = HeaderMap::new();
        right.insert(header::AUTHORIZATION, "Bearer t0ken".parse().unwrap());
        let mut wrong = HeaderMap::new();
        wrong.insert(header::AUTHORIZATION, "Bearer t0ke".parse().unwrap());
        // With a token, loopback alone is not enough, and anywhere with it is.
        assert!(matches!(
            metrics_access(Some("t0ken"), addr("127.0.0.1:1"), &none),
            Err(ApiError::MetricsUnauthorized)
        ));
        assert!(matches!(
            metrics_access(Some("t0ken"), addr("10.0.0.5:1"), &wrong),
            Err(ApiError::MetricsUnauthorized)
        ));
        assert!(metrics_access(Some("t0ken"), addr("10.0.0.5:1"), &right).is_ok());
        let r = ApiError::MetricsLoopbackOnly.into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}
