//! The HTTP edge: thin axum handlers (parse, call one use case, map the result) and the router.

pub mod account;
pub mod campaigns;
pub mod consents;
pub mod conversations;
pub mod error;
pub mod extract;
pub mod health;
pub mod inbound;
pub mod optouts;
pub mod preview;
pub mod resources;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Settings;
use crate::engine::EngineHandle;
use crate::metrics::Metrics;
use crate::service::agent::Replier;
use crate::service::callbacks::StatusIngest;
use crate::store::DynStore;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: DynStore,
    /// Settings the handlers need (limits, public URL, …).
    pub settings: Arc<Settings>,
    /// Wakes the send engine when there is new work.
    pub engine: EngineHandle,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Stores status callbacks in batches.
    pub callbacks: StatusIngest,
    /// Answers inbound messages with the agent's model, in the background.
    pub replier: Replier,
}

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

/// The whole API, with its OpenAPI document generated from the same handlers.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(campaigns::create, campaigns::list))
        .routes(routes!(campaigns::get, campaigns::cancel))
        .routes(routes!(campaigns::launch))
        .routes(routes!(preview::preview_campaign))
        .routes(routes!(preview::parse_recipients))
        .routes(routes!(resources::create_key, resources::list_keys))
        .routes(routes!(resources::revoke_key))
        .routes(routes!(resources::create_agent, resources::list_agents))
        .routes(routes!(
            resources::get_agent,
            resources::update_agent,
            resources::delete_agent
        ))
        .routes(routes!(resources::create_number, resources::list_numbers))
        .routes(routes!(
            resources::get_number,
            resources::update_number,
            resources::delete_number
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
        .split_for_parts();
    let openapi = Arc::new(openapi);

    router
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(metrics))
        .merge(crate::dashboard::router(state.clone()))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(CatchPanicLayer::custom(panic_response))
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": {"code": "internal_error", "message": "something went wrong on our side; it has been logged"}})),
    )
        .into_response()
}
