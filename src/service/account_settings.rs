//! The account's reply settings: its name, HELP text and whether Herald answers keywords.

use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::campaign::{MAX_BODY_CHARS, MAX_NAME_CHARS};
use crate::domain::ids::AccountId;
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
    let name = match req.name.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            errors.push(FieldError::new("name", "must not be empty"));
            None
        }
        Some(n) if n.chars().count() > MAX_NAME_CHARS => {
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
            t if t.chars().count() > MAX_BODY_CHARS => {
                errors.push(FieldError::new(
                    "help_text",
                    format!("must be at most {MAX_BODY_CHARS} characters (one SMS)"),
                ));
                None
            }
            t => Some(Some(t.to_owned())),
        },
    };
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let update = AccountSettingsUpdate {
        name,
        help_text,
        keyword_replies: req.keyword_replies,
    };
    Ok(store
        .update_account_settings(account, &update)
        .await
        .map_err(ServiceError::from_store("account"))?
        .into())
}
