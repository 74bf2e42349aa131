//! What the object pages (agents, numbers, keys, opt-outs) share: the form extractor that
//! applies the input rules, a form's field errors and the "are you sure?" page.

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::PageError;
use super::views::Layout;
use crate::domain::input;
use crate::service::ServiceError;

/// A URL-encoded form body, as `axum::Form` reads it, after the input rules: a field holding a
/// NUL character is a 422 naming it (`domain::input`). Other rejections are axum's, which
/// `error::error_pages` renders as the dashboard's page.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        input::check_urlencoded(&bytes).map_err(|e| PageError::invalid(e).into_response())?;
        let req = Request::from_parts(parts, Body::from(bytes));
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(value)| Form(value))
            .map_err(IntoResponse::into_response)
    }
}

/// The input rules on every dashboard request's path and query string, before any handler
/// runs: a NUL character (`%00`) in the query string is a 422 naming the parameter; in the
/// path it names no page, so 404.
pub async fn input_rules(req: Request, next: Next) -> Response {
    if input::path_has_nul(req.uri().path()) {
        return PageError::NotFound.into_response();
    }
    if let Err(e) = input::check_urlencoded(req.uri().query().unwrap_or("").as_bytes()) {
        return PageError::invalid(e).into_response();
    }
    next.run(req).await
}

/// Field errors of a form, by field name.
#[derive(Debug, Default, Clone)]
pub struct Errors(Vec<(String, String)>);

impl Errors {
    /// One problem with one field.
    pub fn one(field: &str, message: &str) -> Self {
        Self(vec![(field.to_owned(), message.to_owned())])
    }

    /// The field errors of a refused form (a conflict is the whole form's); any other
    /// failure is an error page.
    pub fn from_service(e: ServiceError) -> Result<Self, PageError> {
        match e {
            ServiceError::Validation(errors) => Ok(Self(
                errors.into_iter().map(|e| (e.field, e.message)).collect(),
            )),
            ServiceError::Conflict(m) => Ok(Self(vec![("form".into(), m)])),
            other => Err(other.into()),
        }
    }

    /// The problem with `field`, to show beside it.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// True when the form has no problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (anchor, sentence) for the "There is a problem" box.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(field, message)| {
                let label = match field.as_str() {
                    "system_prompt" => "System prompt",
                    "mps" => "Segments per second",
                    "phone" => "Phone number",
                    "agent_id" => "Agent",
                    "name" => "Name",
                    "reason" => "Reason",
                    "max_messages_per_recipient_per_day" => "Daily cap",
                    _ => "",
                };
                let text = if label.is_empty() || message.starts_with(char::is_uppercase) {
                    message.clone()
                } else {
                    format!("{label} {message}")
                };
                (field.clone(), text)
            })
            .collect()
    }
}

/// A generic "are you sure?" page.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// The page frame.
    pub layout: Layout,
    /// What is about to happen, and what follows from it.
    pub message: String,
    /// Where the confirming form posts.
    pub action: String,
    /// The confirming button's label.
    pub button: String,
    /// Where "Cancel" goes.
    pub back: String,
}
