//! What the object pages (agents, numbers, keys, opt-outs) share: a form's field errors and
//! the "are you sure?" page.

use askama::Template;

use super::error::PageError;
use super::views::Layout;
use crate::service::ServiceError;

/// Field errors of a form, by field name.
#[derive(Debug, Default, Clone)]
pub struct Errors(Vec<(String, String)>);

impl Errors {
    /// One problem with one field.
    pub fn one(field: &str, message: &str) -> Self {
        Self(vec![(field.to_owned(), message.to_owned())])
    }

    pub fn from_service(e: ServiceError) -> Result<Self, PageError> {
        match e {
            ServiceError::Validation(errors) => Ok(Self(
                errors.into_iter().map(|e| (e.field, e.message)).collect(),
            )),
            ServiceError::Conflict(m) => Ok(Self(vec![("form".into(), m)])),
            other => Err(other.into()),
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

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
    pub layout: Layout,
    pub message: String,
    pub action: String,
    pub button: String,
    pub back: String,
}
