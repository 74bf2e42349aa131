//! The one place errors become HTTP: every failure answers with the same JSON shape.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::service::ServiceError;

/// `{"error": {...}}`, the body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    /// For a person to read.
    pub message: String,
    /// Per-field problems (validation errors only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

/// An error on its way to becoming a response.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not JSON (or not well-formed).
    #[error("{0}")]
    MalformedJson(String),
    /// The body is larger than allowed.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body's Content-Type is not one this route reads; names the ones it does.
    #[error("expected Content-Type: {0}")]
    UnsupportedContentType(&'static str),
    /// The query string does not parse.
    #[error("{0}")]
    BadQuery(String),
    /// No such route.
    #[error("no route for this path")]
    RouteNotFound,
    /// The route exists but not for this method.
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// A webhook whose signature is missing or wrong.
    #[error("the request signature is missing or invalid")]
    Forbidden,
    /// `/metrics` without the configured metrics token.
    #[error("send Authorization: Bearer with the metrics token (--metrics-token)")]
    MetricsUnauthorized,
    /// `/metrics` from another host while no metrics token is configured.
    #[error("/metrics answers only loopback clients unless --metrics-token is set")]
    MetricsLoopbackOnly,
}

fn body(
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<FieldError>,
) -> Response {
    (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code,
                message,
                details,
            },
        }),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Service(e) => match e {
                ServiceError::Validation(details) => {
                    let message = match details.len() {
                        1 => format!("{}: {}", details[0].field, details[0].message),
                        n => format!("{n} fields are invalid"),
                    };
                    body(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        message,
                        details,
                    )
                }
                ServiceError::NotFound(what) => body(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("{what} not found"),
                    vec![],
                ),
                ServiceError::Conflict(m) => body(StatusCode::CONFLICT, "conflict", m, vec![]),
                e @ ServiceError::IdempotencyMismatch => body(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    e.to_string(),
                    vec![],
                ),
                ServiceError::Unauthorized => {
                    let mut r = body(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "missing or invalid API key: send Authorization: Bearer KEY_ID:KEY_SECRET"
                            .into(),
                        vec![],
                    );
                    r.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    r
                }
                ServiceError::Unavailable(m) => {
                    body(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m, vec![])
                }
                ServiceError::Internal(e) => {
                    tracing::error!(error = ?e, "internal error");
                    body(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        "something went wrong on our side; it has been logged".into(),
                        vec![],
                    )
                }
            },
            e @ ApiError::MalformedJson(_) => body(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                e.to_string(),
                vec![],
            ),
            e @ ApiError::PayloadTooLarge(_) => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.to_string(),
                vec![],
            ),
            e @ ApiError::UnsupportedMediaType => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                e.to_string(),
                vec![],
            ),
            e @ ApiError::UnsupportedContentType(_) => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                e.to_string(),
                vec![],
            ),
            e @ ApiError::BadQuery(_) => {
                body(StatusCode::BAD_REQUEST, "bad_query", e.to_string(), vec![])
            }
            e @ ApiError::RouteNotFound => {
                body(StatusCode::NOT_FOUND, "not_found", e.to_string(), vec![])
            }
            e @ ApiError::Forbidden => {
                body(StatusCode::FORBIDDEN, "forbidden", e.to_string(), vec![])
            }
            e @ ApiError::MetricsUnauthorized => {
                let mut r = body(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    e.to_string(),
                    vec![],
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            e @ ApiError::MetricsLoopbackOnly => {
                body(StatusCode::FORBIDDEN, "forbidden", e.to_string(), vec![])
            }
            e @ ApiError::MethodNotAllowed => body(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                e.to_string(),
                vec![],
            ),
        }
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;
