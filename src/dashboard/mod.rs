//! The web dashboard (docs/ARCHITECTURE.md §6): server-rendered pages for the people who will never write a
//! curl command. Sign in, paste or upload recipients, check the preview, send, and watch it go.
//!
//! Every page calls the same `service` functions as the JSON API (campaigns are created with
//! `Source::Dashboard`), so counts, validation and previews can never disagree with the API.
//! Pages work without JavaScript; one small embedded script adds the live parts (counts that
//! update, the character counter, local times). Nothing is loaded from outside the binary.

mod agents;
mod assets;
mod auth;
mod campaigns;
mod conversations;
mod error;
mod flash;
mod forms;
mod keys;
mod new_campaign;
mod numbers;
mod opt_outs;
mod profile;
mod settings;
mod signed_in;
mod views;
mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};

use crate::service::App;
use error::PageError;
use signed_in::{Dashboard, MaybeUser};

/// The dashboard's routes, for `startup` to merge beside the API's. Its catch-all answers an
/// HTML 404 for unknown paths; the API's own catch-alls under `/v1` and `/webhooks` are more
/// specific, so those paths keep the API's JSON 404.
pub fn router(state: App) -> Router<App> {
    let secure = state.settings.public_base().starts_with("https://");
    let dashboard = Arc::new(Dashboard::new(secure));
    Router::new()
        .route("/", get(home))
        .route(
            "/login",
            get(auth::login_page)
                .post(auth::login)
                .layer(DefaultBodyLimit::max(auth::LOGIN_MAX_BODY)),
        )
        .route("/logout", post(auth::logout))
        .route(
            "/account/password",
            get(auth::password_page).post(auth::change_password),
        )
        .route("/account/profile", get(profile::page).post(profile::save))
        .route("/campaigns", get(campaigns::list))
        .route("/campaigns/live", get(campaigns::list_live))
        .route(
            "/campaigns/new",
            get(new_campaign::form).post(new_campaign::submit),
        )
        .route("/campaigns/new/check", post(new_campaign::check))
        .route(
            "/campaigns/drafts/{draft}",
            get(new_campaign::preview).post(new_campaign::confirm),
        )
        .route(
            "/campaigns/drafts/{draft}/test",
            post(new_campaign::send_test),
        )
        .route("/test-sends/{id}/live", get(new_campaign::test_live))
        .route("/campaigns/{id}", get(campaigns::detail))
        .route("/campaigns/{id}/live", get(campaigns::detail_live))
        .route(
            "/campaigns/{id}/cancel",
            get(campaigns::cancel_page).post(campaigns::cancel),
        )
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resend", post(new_campaign::resend))
        .route(
            "/campaigns/{id}/recipients.csv",
            get(campaigns::recipients_csv),
        )
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route(
            "/campaigns/{id}/launch",
            get(campaigns::launch_page).post(campaigns::launch),
        )
        .route("/conversations", get(conversations::list))
        .route(
            "/conversations/test-inbound",
            post(conversations::test_inbound),
        )
        .route("/conversations/{id}", get(conversations::thread))
        .route(
            "/opt-outs",
            get(opt_outs::opt_outs).post(opt_outs::add_opt_out),
        )
        .route(
            "/opt-outs/{phone}/remove",
            get(opt_outs::remove_opt_out_page).post(opt_outs::remove_opt_out),
        )
        .route("/agents", get(agents::agents).post(agents::create_agent))
        .route(
            "/agents/{id}",
            get(agents::agent).post(agents::update_agent),
        )
        .route(
            "/agents/{id}/delete",
            get(agents::delete_agent_page).post(agents::delete_agent),
        )
        .route(
            "/numbers",
            get(numbers::numbers).post(numbers::create_number),
        )
        .route(
            "/numbers/{phone}",
            get(numbers::number).post(numbers::update_number),
        )
        .route("/numbers/{phone}/webhook", post(numbers::point_webhook))
        .route(
            "/numbers/{phone}/delete",
            get(numbers::delete_number_page).post(numbers::delete_number),
        )
        .route(
            "/webhook-endpoints",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/webhook-endpoints/{id}", get(webhooks::detail))
        .route("/webhook-endpoints/{id}/test", post(webhooks::send_test))
        .route(
            "/webhook-endpoints/{id}/enabled",
            post(webhooks::set_enabled),
        )
        .route(
            "/webhook-endpoints/{id}/delete",
            get(webhooks::delete_page).post(webhooks::delete),
        )
        .route("/api-keys", get(keys::api_keys).post(keys::create_api_key))
        .route("/settings", get(settings::page).post(settings::save))
        .route(
            "/api-keys/{id}/revoke",
            get(keys::revoke_api_key_page).post(keys::revoke_api_key),
        )
        .route("/static/{version}/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route("/{*path}", any(not_found))
        .layer(middleware::from_fn_with_state(
            dashboard.clone(),
            flash::flash_layer,
        ))
        .layer(middleware::from_fn(forms::input_rules))
        .layer(middleware::from_fn_with_state(state, error::error_pages))
        .layer(middleware::from_fn(security_headers))
        .layer(Extension(dashboard))
}

/// `/`: the campaign list for a signed-in user, the sign-in page otherwise.
async fn home(user: MaybeUser) -> Response {
    match user.0 {
        Some(_) => Redirect::to("/campaigns").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// Unknown paths outside the API's prefixes: an HTML page.
async fn not_found() -> Response {
    PageError::NotFound.into_response()
}

/// Headers every dashboard answer carries: no framing, no sniffing, no third-party anything.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
