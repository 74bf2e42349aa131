//! The account settings page: the send window (local hours campaigns keep to), the
//! account's fallback time zone, and the daily cap per recipient.

use super::forms::Form;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::Errors;
use super::signed_in::{CurrentUser, check_csrf};
use super::views::Layout;
use crate::domain::FieldError;
use crate::domain::daily_cap::CapError;
use crate::service::account_settings;
use crate::service::sessions::SignedIn;
use crate::service::views::replies::{AccountUpdate, SendWindowBody};
use crate::service::{App, ServiceError};

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    errors: Errors,
    start: String,
    end: String,
    time_zone: String,
    daily_cap: String,
}

/// The account's settings.
pub async fn page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let account = account_settings::get(&state, &user.account_id).await?;
    let (start, end) = account
        .send_window
        .map_or((String::new(), String::new()), |w| (w.start, w.end));
    Ok(html(&SettingsPage {
        layout: Layout::new("Settings", Some(&user), "settings").with_flash(flash),
        errors: Errors::default(),
        start,
        end,
        time_zone: account.time_zone,
        daily_cap: account
            .max_messages_per_recipient_per_day
            .map_or(String::new(), |n| n.to_string()),
    }))
}

/// Settings form fields: both times empty means no window.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    time_zone: String,
    /// The daily cap per recipient; empty: none.
    #[serde(default)]
    daily_cap: String,
}

/// Saves the send window and time zone.
pub async fn save(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<SettingsForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let (start, end) = (form.start.trim(), form.end.trim());
    // Empty: no cap. Text that is no whole number is refused here, with the API's words, and
    // nothing is saved.
    let daily_cap = match form.daily_cap.trim() {
        "" => None,
        n => match n.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let refused = ServiceError::Validation(vec![FieldError::new(
                    DAILY_CAP_FIELD,
                    CapError.to_string(),
                )]);
                return refuse(&user, refused, form);
            }
        },
    };
    let req = AccountUpdate {
        send_window: Some(
            (!start.is_empty() || !end.is_empty()).then(|| SendWindowBody {
                start: start.to_owned(),
                end: end.to_owned(),
            }),
        ),
        time_zone: Some(form.time_zone.trim().to_owned()),
        max_messages_per_recipient_per_day: Some(daily_cap),
        ..AccountUpdate::default()
    };
    match account_settings::update(&state, &user.account_id, &req).await {
        Ok(_) => Ok(redirect_with(
            "/settings",
            FlashKind::Success,
            "Settings saved.",
        )),
        Err(e) => refuse(&user, e, form),
    }
}

/// The settings field of the daily cap (the API's name, so its error lands beside it).
const DAILY_CAP_FIELD: &str = "max_messages_per_recipient_per_day";

/// The form again, as sent, with what was wrong (422).
fn refuse(user: &SignedIn, e: ServiceError, form: SettingsForm) -> PageResult {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        html(&SettingsPage {
            layout: Layout::new("Settings", Some(user), "settings"),
            errors: Errors::from_service(e)?,
            start: form.start,
            end: form.end,
            time_zone: form.time_zone,
            daily_cap: form.daily_cap,
        }),
    )
        .into_response())
}
