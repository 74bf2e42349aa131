//! The user's profile: the mobile number "Send me a test" sends to.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::{Errors, Form};
use super::signed_in::{CurrentUser, check_csrf};
use super::views::Layout;
use crate::service::App;
use crate::service::profile;

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    errors: Errors,
    phone: String,
}

/// The profile form, filled in with the saved phone.
pub async fn page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let phone = profile::phone(&state, &user).await?.unwrap_or_default();
    Ok(html(&ProfilePage {
        layout: Layout::new("Your profile", Some(&user), "account").with_flash(flash),
        errors: Errors::default(),
        phone,
    }))
}

/// The profile form's fields.
#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
}

/// Saves the phone (empty clears it).
pub async fn save(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<ProfileForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match profile::set_phone(&state, &user, &form.phone).await {
        Ok(Some(phone)) => Ok(redirect_with(
            "/account/profile",
            FlashKind::Success,
            format!("Saved. Tests will be sent to {phone}."),
        )),
        Ok(None) => Ok(redirect_with(
            "/account/profile",
            FlashKind::Success,
            "Your phone number was removed.",
        )),
        Err(e) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            html(&ProfilePage {
                layout: Layout::new("Your profile", Some(&user), "account"),
                errors: Errors::from_service(e)?,
                phone: form.phone,
            }),
        )
            .into_response()),
    }
}
