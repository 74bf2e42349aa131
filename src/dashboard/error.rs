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
    /// The body (an upload, a form) is larger than Herald accepts.
    TooLarge,
    /// A field breaks an input rule every edge applies (`domain::input`): a NUL character.
    /// Answered 422, naming the field.
    Invalid(crate::domain::FieldError),
    /// Something failed on our side; logged, not shown.
    Internal(anyhow::Error),
}

impl PageError {
    /// A field that breaks an input rule (422).
    pub fn invalid(e: crate::domain::FieldError) -> Self {
        PageError::Invalid(e)
    }
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
            ServiceError::Unavailable(m) => PageError::Conflict(m),
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
            PageError::Invalid(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Something is wrong with that request",
                format!("{}: {}. Nothing was changed.", e.field, e.message),
            ),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "That is too large",
                "The upload or form is larger than Herald accepts. Split the recipients into \
                 smaller files and send them as separate campaigns. Nothing was changed."
                    .to_owned(),
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

/// True for the paths the page script calls, which answer JSON, errors included.
fn is_json_path(path: &str) -> bool {
    path.ends_with("/live") || path == "/campaigns/new/check"
}

/// An extractor's rejection (axum answers those in plain text: a body over the limit, a
/// multipart request without a boundary, an unreadable form, a wrong content type) as the
/// dashboard's own error, with the rejection's status.
async fn rejection(res: Response) -> (StatusCode, &'static str, String) {
    let status = res.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return PageError::TooLarge.parts();
    }
    let text = axum::body::to_bytes(res.into_body(), 4 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        "The form could not be read.".to_owned()
    } else {
        text
    };
    (status, "Something is wrong with that request", message)
}

/// True for a plain-text client error: what axum's extractors answer when they refuse.
fn is_plain_rejection(res: &Response) -> bool {
    res.status().is_client_error()
        && res
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
}

/// Renders error pages that handlers returned, in the frame of the signed-in user; an
/// extractor's plain-text rejection becomes the same page (or, on the script's JSON paths,
/// the API's JSON error shape).
pub async fn error_pages(State(state): State<App>, req: Request, next: Next) -> Response {
    let cookies = req.headers().clone();
    let json = is_json_path(req.uri().path());
    let mut res = next.run(req).await;
    let e = match res.extensions_mut().remove::<Unrendered>() {
        Some(e) if json => {
            let status = res.status();
            return live_json(status, status_code(status), e.message);
        }
        Some(e) => e,
        None if is_plain_rejection(&res) => {
            let (status, heading, message) = rejection(res).await;
            if json {
                return live_json(status, status_code(status), message);
            }
            let mut res = status.into_response();
            res.extensions_mut().insert(Unrendered { heading, message });
            return render_unrendered(&state, &cookies, res).await;
        }
        None => return res,
    };
    res.extensions_mut().insert(e);
    render_unrendered(&state, &cookies, res).await
}

/// Renders the [`Unrendered`] page `res` carries, with the navigation of whoever the
/// request's session cookie names.
async fn render_unrendered(
    state: &App,
    cookies: &axum::http::HeaderMap,
    mut res: Response,
) -> Response {
    let Some(e) = res.extensions_mut().remove::<Unrendered>() else {
        return res;
    };
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(cookies);
    let user = match jar.get(super::signed_in::SESSION_COOKIE) {
        Some(c) => sessions::resume(state, c.value(), OffsetDateTime::now_utc())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    render_page(res.status(), e.heading, e.message, user.as_ref())
}

/// The API's code for a status the dashboard answers.
fn status_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    }
}

/// `{"error": {"code", "message"}}` with this status.
fn live_json(status: StatusCode, code: &'static str, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// A page error on a JSON endpoint of the page script, in the API's error shape.
pub fn live_page_error(e: PageError) -> Response {
    match e {
        PageError::Csrf => live_json(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this page is out of date: reload it".to_owned(),
        ),
        PageError::Internal(e) => live_error(ServiceError::Internal(e)),
        e => {
            let (status, _, message) = e.parts();
            live_json(status, status_code(status), message)
        }
    }
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
        ServiceError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m, vec![]),
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
