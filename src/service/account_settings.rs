//! The account's settings: its name, HELP text, whether Herald answers keywords, its send
//! window and fallback time zone, and its daily cap per recipient.

use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::campaign::{MAX_BODY_CHARS, MAX_NAME_CHARS};
use crate::domain::daily_cap::DailyCap;
use crate::domain::ids::AccountId;
use crate::domain::send_window::{LocalMinute, SendWindow, ZoneName};
use crate::service::views::replies::{AccountUpdate, AccountView};
use crate::store::AccountSettingsUpdate;

/// The account's settings.
pub async fn get(app: &App, account: &AccountId) -> ServiceResult<AccountView> {
    let store = app.store.as_ref();
    Ok(store
        .account_settings(account)
        .await
        .map_err(ServiceError::from_store("account"))?
        .into())
}

/// Changes the given settings; every problem is reported with its field.
pub async fn update(
    app: &App,
    account: &AccountId,
    req: &AccountUpdate,
) -> ServiceResult<AccountView> {
    let store = app.store.as_ref();
    let mut errors = Vec::new();
    // Lengths are counted as sent (the document's maxLength); texts are stored trimmed.
    let name_chars = req.name.as_deref().map_or(0, |n| n.chars().count());
    let name = match req.name.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            errors.push(FieldError::new("name", "must not be empty"));
            None
        }
        Some(_) if name_chars > MAX_NAME_CHARS => {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
            None
        }
        Some(n) => Some(n.to_owned()),
    };
    let help_text = match &req.help_text {
        None => None,
        Some(None) => Some(None),
        Some(Some(text)) => match text.trim() {
            "" => {
                errors.push(FieldError::new(
                    "help_text",
                    "must not be empty (send null to use the default)",
                ));
                None
            }
            _ if text.chars().count() > MAX_BODY_CHARS => {
                errors.push(FieldError::new(
                    "help_text",
                    format!("must be at most {MAX_BODY_CHARS} characters (one SMS)"),
                ));
                None
            }
            t => Some(Some(t.to_owned())),
        },
    };
    let send_window = match &req.send_window {
        None => None,
        Some(None) => Some(None),
        Some(Some(w)) => {
            let mut time = |field: &str, value: &str| {
                LocalMinute::parse(value)
                    .map_err(|e| {
                        errors.push(FieldError::new(
                            format!("send_window.{field}"),
                            e.to_string(),
                        ))
                    })
                    .ok()
            };
            let (start, end) = (time("start", &w.start), time("end", &w.end));
            match (start, end) {
                (Some(start), Some(end)) => match SendWindow::new(start, end) {
                    Ok(w) => Some(Some(w)),
                    Err(e) => {
                        errors.push(FieldError::new("send_window", e.to_string()));
                        None
                    }
                },
                _ => None,
            }
        }
    };
    let time_zone = match req.time_zone.as_deref().map(str::trim) {
        None => None,
        Some(z) => match ZoneName::parse(z) {
            Ok(z) => Some(z),
            Err(e) => {
                errors.push(FieldError::new("time_zone", e.to_string()));
                None
            }
        },
    };
    let max_messages_per_recipient_per_day = match req.max_messages_per_recipient_per_day {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => match DailyCap::new(n) {
            Ok(cap) => Some(Some(cap)),
            Err(e) => {
                errors.push(FieldError::new(
                    "max_messages_per_recipient_per_day",
                    e.to_string(),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let update = AccountSettingsUpdate {
        name,
        help_text,
        keyword_replies: req.keyword_replies,
        send_window,
        time_zone,
        max_messages_per_recipient_per_day,
    };
    Ok(store
        .update_account_settings(account, &update)
        .await
        .map_err(ServiceError::from_store("account"))?
        .into())
}
