//! The form's live check for the page script: recipients found, problems, and the first few
//! messages rendered, with nothing stored.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::form::{parse_input, read_form, recipients_input};
use super::{DraftData, Parsed, RowProblem, capitalise};
use crate::dashboard::error::{PageError, live_error, live_page_error};
use crate::dashboard::signed_in::{LiveUser, check_csrf};
use crate::service::App;
use crate::service::ServiceError;
use crate::service::preview;
use crate::service::views::PreviewParams;

/// Recipients rendered as samples while the form is being filled in.
const SAMPLES: usize = 3;
/// Parse problems listed while the form is being filled in (the preview lists them all).
const CHECK_ERRORS: usize = 5;

/// What the form's live check shows: recipients found, problems, and sample messages.
#[derive(Debug, Serialize)]
pub struct CheckAnswer {
    /// Recipients found (unique).
    count: usize,
    /// Rows refused.
    error_count: usize,
    /// The first refused rows.
    errors: Vec<RowProblem>,
    /// Repeated numbers dropped.
    duplicates: usize,
    /// The detected phone column.
    phone_column: Option<String>,
    /// Variable names for placeholders.
    variables: Vec<String>,
    /// The message for the first recipients.
    samples: Vec<Sample>,
    /// Why the recipients could not be read at all.
    problem: Option<String>,
}

/// A rendered sample message.
#[derive(Debug, Serialize)]
pub struct Sample {
    phone: String,
    body: String,
    segments: u32,
    encoding: &'static str,
    missing: Vec<String>,
}

/// The form's live check (page script): parses the recipients and renders the first few
/// messages with the same code as the preview, without storing anything.
pub async fn check(
    State(state): State<App>,
    LiveUser(user): LiveUser,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<Json<CheckAnswer>, Response> {
    // Errors in the API's shape, `{"error": {"code", "message"}}`, as the script reads them.
    let fail = |e: PageError| match e {
        e @ (PageError::Csrf
        | PageError::BadRequest(_)
        | PageError::TooLarge
        | PageError::Invalid(_)) => live_page_error(e),
        _ => live_page_error(PageError::BadRequest(
            "the form could not be read".to_owned(),
        )),
    };
    let mp = mp.map_err(|e| {
        fail(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PageError::TooLarge
        } else {
            PageError::BadRequest(e.body_text())
        })
    })?;
    let mut s = read_form(mp).await.map_err(fail)?;
    check_csrf(&user, &s.csrf).map_err(fail)?;
    let mut answer = CheckAnswer {
        count: 0,
        error_count: 0,
        errors: Vec::new(),
        duplicates: 0,
        phone_column: None,
        variables: Vec::new(),
        samples: Vec::new(),
        problem: None,
    };
    let input = match recipients_input(&state, &user, &mut s).await {
        Ok(Some(i)) => i,
        Ok(None) => return Ok(Json(answer)),
        Err(e) => {
            answer.problem = e.first().map(|e| e.message.clone());
            return Ok(Json(answer));
        }
    };
    let parsed = match parse_input(&state, &input, &s.fields.default_country).await {
        Ok(p) => p,
        Err(ServiceError::Validation(e)) => {
            answer.problem = e.first().map(|e| capitalise(&e.message));
            return Ok(Json(answer));
        }
        Err(e) => return Err(live_error(e)),
    };
    let parsed = Parsed::from(parsed);
    answer.count = parsed.recipients.len();
    answer.error_count = parsed.errors.len();
    answer.errors = parsed.errors.iter().take(CHECK_ERRORS).cloned().collect();
    answer.duplicates = parsed.duplicates.len();
    answer.phone_column = parsed.phone_column.clone();
    answer.variables = parsed.variables.clone();
    if !s.fields.message_template.trim().is_empty() && !parsed.recipients.is_empty() {
        let mut sample = DraftData {
            form: s.fields,
            parsed,
            resend_of: None,
        };
        sample.parsed.recipients.truncate(SAMPLES);
        let request = sample.request(None, None);
        let preview = preview::preview(
            &state,
            &user.account_id,
            &request,
            &PreviewParams::default(),
        )
        .await
        .map_err(live_error)?;
        answer.samples = preview
            .recipients
            .into_iter()
            .map(|r| Sample {
                phone: r.phone,
                body: r.body,
                segments: r.segments,
                encoding: r.encoding.as_str(),
                missing: r.missing_variables,
            })
            .collect();
    }
    Ok(Json(answer))
}
