//! Failures as pages: a short explanation, the right status code, and a way back.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::views::{Layout, render};
use crate::service::ServiceError;
use crate::service::sessions::SignedIn;
use crate::store::StoreError;

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

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
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
    /// The error page, with the navigation of `user` when signed in.
    pub fn render(self, user: Option<&SignedIn>) -> Response {
        let (status, heading, message) = match self {
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
        };
        let page = ErrorPage {
            layout: Layout::new(heading, user, ""),
            heading: heading.to_owned(),
            message,
        };
        (status, render(&page)).into_response()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.render(None)
    }
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
