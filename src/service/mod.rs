//! Herald's use cases: each public function is one thing a user asks for, combining domain
//! rules with the store, and doing every side effect the use case has (waking the engine,
//! answering in the background), so the two edges that call them, the JSON API and the
//! dashboard, cannot drift apart. They take the shared [`App`] and return [`views`].

pub mod account_settings;
pub mod accounts;
pub mod agents;
pub mod app;
pub mod appends;
pub mod callbacks;
pub mod campaigns;
pub mod consents;
pub mod conversations;
pub mod credentials;
pub mod drafts;
pub mod eta;
pub mod export;
pub mod inbound;
pub mod keys;
pub mod numbers;
pub mod optouts;
mod page;
pub mod preview;
pub mod profile;
pub mod recipients;
pub mod replier;
pub mod resend;
pub mod sandbox;
pub mod sessions;
pub mod test_send;
pub mod views;
pub mod webhooks;

pub use app::App;

use crate::domain::FieldError;
use crate::store::StoreError;

/// Why a use case did not happen. Mapped once at each edge: to JSON in `http::error`, to
/// pages in `dashboard::error`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is invalid; every problem is listed with its field path.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No such object in this account.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The object's state forbids the operation.
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` was reused with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// Missing, malformed, unknown or revoked credentials.
    #[error("invalid or missing API key")]
    Unauthorized,
    /// A service Herald depends on (Twilio) did not answer; trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Something on our side failed; the detail is logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Maps a store error, naming the object for `NotFound`.
    pub fn from_store(what: &'static str) -> impl FnOnce(StoreError) -> ServiceError {
        move |e| match e {
            StoreError::NotFound => ServiceError::NotFound(what),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::IdempotencyMismatch => ServiceError::IdempotencyMismatch,
            // Only the caller that handed the store a refusing source knows why; it maps this
            // itself. Reaching here is a bug.
            StoreError::Refused => {
                ServiceError::Internal(anyhow::anyhow!("recipients refused").context(what))
            }
            StoreError::Backend(source) => {
                ServiceError::Internal(anyhow::Error::from_boxed(source).context(what))
            }
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::from_store("object")(e)
    }
}

/// Shorthand for use-case results.
pub type ServiceResult<T> = Result<T, ServiceError>;
