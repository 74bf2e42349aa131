//! Herald's pure core: the types and rules of campaigns, with no I/O.

pub mod campaign;
pub mod consent;
pub mod daily_cap;
pub mod error_codes;
pub mod eta;
pub mod export;
pub mod ids;
pub mod import;
pub mod input;
pub mod keywords;
pub mod phone;
pub mod phone_runs;
pub mod prices;
pub mod reply;
pub mod segments;
pub mod send_window;
pub mod status;
pub mod template;
pub mod webhooks;

pub use phone::{Phone, PhoneError};

/// One problem with one field of a request, named by its JSON path (`recipients[3].phone`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `recipients[3].phone`.
    pub field: String,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
