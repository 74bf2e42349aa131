//! "Send me a test": the draft's message, from its first sending number, with the first
//! recipient's variables, to the phone on the user's profile, through the same service
//! function as `POST /v1/sms/test`; then the test's panel, kept up to date by the script.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{DraftData, capitalise, load_draft, problem};
use crate::dashboard::error::{PageError, PageResult, live_error};
use crate::dashboard::flash::{FlashKind, redirect_with};
use crate::dashboard::forms::Form;
use crate::dashboard::signed_in::{CurrentUser, LiveUser, check_csrf};
use crate::domain::FieldError;
use crate::domain::status::RecipientStatus;
use crate::service::sessions::SignedIn;
use crate::service::test_send::{self, TestSendView};
use crate::service::{App, ServiceError, profile};

/// Where a test stands, as its panel and the script show it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TestState {
    /// The wire status (`delivered`, …).
    pub(super) status: &'static str,
    /// What the badge says.
    pub(super) label: &'static str,
    /// The badge's CSS class suffix.
    pub(super) badge: &'static str,
    /// Why it failed, if it did.
    pub(super) error: Option<String>,
    /// True once it will not change any more.
    pub(super) terminal: bool,
}

impl TestState {
    fn of(t: &TestSendView) -> Self {
        let (label, badge) = match t.status {
            RecipientStatus::Pending | RecipientStatus::Queued => ("Sending", "pending"),
            RecipientStatus::Sent => ("Sent, waiting for delivery", "running"),
            RecipientStatus::Delivered => ("Delivered", "done"),
            RecipientStatus::Undelivered => ("Not delivered", "failed"),
            RecipientStatus::Failed => ("Failed", "failed"),
            RecipientStatus::Cancelled => ("Cancelled", "cancelled"),
        };
        let error = match (&t.error_code, &t.error_message) {
            (_, Some(m)) if !m.is_empty() => Some(m.clone()),
            (Some(c), _) => Some(c.clone()),
            _ => None,
        };
        Self {
            status: t.status.as_str(),
            label,
            badge,
            error,
            terminal: t.status.is_terminal(),
        }
    }
}

/// A test send's panel on the form and the preview.
#[derive(Debug, Clone)]
pub(super) struct TestPanel {
    pub(super) test_id: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) body: String,
    pub(super) segments: u32,
    pub(super) encoding: &'static str,
    pub(super) state: TestState,
    /// This page again, showing the test (to check its status without the script).
    pub(super) refresh: String,
}

/// The panel of test `id` (`?test=` of the form and the preview, `page`); none if it is not
/// one of the account's.
pub(super) async fn panel(
    state: &App,
    user: &SignedIn,
    id: Option<&str>,
    page: &str,
) -> Option<TestPanel> {
    let t = test_send::get(state, &user.account_id, id?).await.ok()?;
    Some(TestPanel {
        refresh: shown_at(page, Some(&t.test_id)),
        state: TestState::of(&t),
        encoding: t.encoding.as_str(),
        test_id: t.test_id,
        from: t.from_number,
        to: t.to,
        body: t.body,
        segments: t.segments,
    })
}

/// The sentence a refused test shows.
fn refusal(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| match e.field.as_str() {
            profile::NO_PHONE_FIELD => e.message.clone(),
            "to" => format!("The phone number on your profile: {}.", e.message),
            "message_template" => format!("{}.", capitalise(&e.message)),
            f if f.starts_with("variables") => format!("The first recipient's {f} {}.", e.message),
            _ => problem(e).text,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends the draft's test; `Ok(Err(sentence))` when it was refused (shown on the page).
pub(super) async fn send_for_draft(
    state: &App,
    user: &SignedIn,
    data: &DraftData,
) -> Result<Result<String, String>, PageError> {
    let variables = data
        .parsed
        .recipients
        .first()
        .map(|r| r.variables.clone())
        .unwrap_or_default();
    let sent = profile::send_me_a_test(
        state,
        user,
        data.form.from_numbers.first().cloned(),
        data.form.message_template.clone(),
        variables,
    )
    .await;
    match sent {
        Ok(t) => Ok(Ok(t.test_id)),
        Err(ServiceError::Validation(errors)) => {
            Ok(Err(format!("The test was not sent. {}", refusal(&errors))))
        }
        Err(ServiceError::Conflict(m) | ServiceError::Unavailable(m)) => {
            Ok(Err(format!("The test was not sent: {m}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Where a draft's page shows test `id` (or, with none, the test section).
pub(super) fn shown_at(page: &str, test: Option<&str>) -> String {
    let sep = if page.contains('?') { '&' } else { '?' };
    match test {
        Some(id) => format!("{page}{sep}test={id}#test-send"),
        None => format!("{page}#test-send"),
    }
}

/// The preview's "Send me a test" form.
#[derive(Debug, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    csrf: String,
}

/// "Send me a test" on the preview: sends, then shows the preview with the test's panel.
pub async fn send_test(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(draft): Path<String>,
    Form(form): Form<TestForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let (record, data) = load_draft(&state, &user, &draft).await?;
    if let Some(campaign) = &record.campaign_id {
        return Ok(Redirect::to(&format!("/campaigns/{campaign}")).into_response());
    }
    let page = format!("/campaigns/drafts/{}", record.id);
    Ok(match send_for_draft(&state, &user, &data).await? {
        Ok(id) => Redirect::to(&shown_at(&page, Some(&id))).into_response(),
        Err(why) => redirect_with(&shown_at(&page, None), FlashKind::Warning, why),
    })
}

/// The live state of a test (the panel's script polls it).
pub async fn test_live(
    State(state): State<App>,
    LiveUser(user): LiveUser,
    Path(id): Path<String>,
) -> Response {
    match test_send::get(&state, &user.account_id, &id).await {
        Ok(t) => Json(TestState::of(&t)).into_response(),
        Err(e) => live_error(e),
    }
}
