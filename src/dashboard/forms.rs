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
