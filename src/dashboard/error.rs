//! Failures as pages: a short explanation, the right status code, and a way back.

use askama::Template;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;

use super::views::{Layout, render};
use crate::service::App;
use crate::service::ServiceError;
use crate::service::sessions::{self, SignedIn};

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// No such page or object (or it belongs to another account).
    NotFound,
    /// The form's CSRF token is missing or wrong (an old tab, or a forged request).
    Csrf,
    /// The object's state forbids the action; the message says why.
    Conflict(String),
    /// The request itself is unusable; the message says why.
    BadRequest(String),
    /// Something failed on our side; logged, not shown.
    Internal(anyhow::Error),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) => PageError::NotFound,
            ServiceError::Conflict(m) => PageError::Conflict(m),
            ServiceError::IdempotencyMismatch => PageError::Conflict(e.to_string()),
            ServiceError::Validation(errors) => PageError::BadRequest(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ServiceError::Unauthorized => PageError::Csrf,
            ServiceError::Internal(e) => PageError::Internal(e),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

impl PageError {
    /// Status, heading and message of the error page.
    fn parts(self) -> (StatusCode, &'static str, String) {
        match self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "If you typed the web address, check it is correct. If you followed a link, the \
                 thing it points to may have been deleted, or it belongs to another account."
                    .to_owned(),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your security, forms only work from the page they were shown on while you \
                 are signed in. Go back, reload the page and try again. Nothing was changed."
                    .to_owned(),
            ),
            PageError::Conflict(m) => (
                StatusCode::CONFLICT,
                "That cannot be done now",
                format!("{m}. Nothing was changed."),
            ),
            PageError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "Something is wrong with that request",
                m,
            ),
            PageError::Internal(e) => {
                tracing::error!(error = ?e, "dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem on our side",
                    "It has been logged. Try again in a moment; if it keeps happening, contact \
                     whoever runs Herald for you."
                        .to_owned(),
                )
            }
        }
    }

    /// The error page, with the navigation of `user` when signed in.
    pub fn render(self, user: Option<&SignedIn>) -> Response {
        let (status, heading, message) = self.parts();
        render_page(status, heading, message, user)
    }
}

fn render_page(
    status: StatusCode,
    heading: &str,
    message: String,
    user: Option<&SignedIn>,
) -> Response {
    let page = ErrorPage {
        layout: Layout::new(heading, user, ""),
        heading: heading.to_owned(),
        message,
    };
    (status, render(&page)).into_response()
}

/// An error page not rendered yet: [`error_pages`] renders it with the signed-in user's
/// navigation (a handler's error does not know who is signed in).
#[derive(Debug, Clone)]
struct Unrendered {
    heading: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = self.parts();
        let mut r = status.into_response();
        r.extensions_mut().insert(Unrendered { heading, message });
        r
    }
}

/// Renders error pages that handlers returned, in the frame of the signed-in user.
pub async fn error_pages(State(state): State<App>, req: Request, next: Next) -> Response {
    let cookies = req.headers().clone();
    let mut res = next.run(req).await;
    let Some(e) = res.extensions_mut().remove::<Unrendered>() else {
        return res;
    };
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(&cookies);
    let user = match jar.get(super::signed_in::SESSION_COOKIE) {
        Some(c) => sessions::resume(&state, c.value(), OffsetDateTime::now_utc())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    render_page(res.status(), e.heading, e.message, user.as_ref())
}

/// The JSON error of a live endpoint (the scripts' polling and the form's check), in the same
/// `{"error": {"code", "message"}}` shape as the API's, so a script reads both alike.
pub fn live_error(e: ServiceError) -> Response {
    let (status, code, message, details) = match e {
        ServiceError::Validation(details) => {
            let message = match details.len() {
                1 => format!("{}: {}", details[0].field, details[0].message),
                n => format!("{n} fields are invalid"),
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
                details,
            )
        }
        ServiceError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
            vec![],
        ),
        ServiceError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, vec![]),
        e @ ServiceError::IdempotencyMismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            e.to_string(),
            vec![],
        ),
        ServiceError::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in again".to_owned(),
            vec![],
        ),
        ServiceError::Internal(e) => {
            tracing::error!(error = ?e, "dashboard live update failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side; it has been logged".to_owned(),
                vec![],
            )
        }
    };
    let mut error = serde_json::json!({ "code": code, "message": message });
    if !details.is_empty() {
        error["details"] = serde_json::json!(details);
    }
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

/// A page handler's result: the page, or an error page.
pub type PageResult<T = Response> = Result<T, PageError>;

/// Renders a template that cannot fail in practice; a failure becomes the 500 page.
pub fn html(page: &impl Template) -> Response {
    render(page).into_response()
}

/// The `Html` of a failed render, logged.
pub fn render_failed(e: askama::Error) -> Html<String> {
    tracing::error!(error = %e, "rendering a dashboard template failed");
    Html("<!doctype html><title>Error</title><p>Sorry, this page could not be shown.</p>".into())
}
