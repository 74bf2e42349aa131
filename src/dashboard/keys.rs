//! The API-key pages: list, make (its secret is shown once) and revoke a key.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::forms::Form;
use serde::Deserialize;

use super::auth::CsrfForm;
use super::error::{PageError, PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::{ConfirmPage, Errors};
use super::signed_in::{CurrentUser, check_csrf};
use super::views::{Layout, When};
use crate::service::App;
use crate::service::keys;
use crate::service::sessions::SignedIn;
use crate::service::views::ApiKeyRequest;

/// A key as listed.
struct KeyRow {
    id: String,
    name: String,
    created: When,
    revoked: Option<When>,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    errors: Errors,
    name: String,
    /// The secret of a key just made (this page view only).
    created: Option<(String, String)>,
}

async fn keys_page(state: &App, user: &SignedIn) -> PageResult<KeysPage> {
    let keys = keys::list(state, &user.account_id)
        .await?
        .api_keys
        .into_iter()
        .map(|k| KeyRow {
            created: When::new(k.created_at),
            revoked: When::opt(k.revoked_at),
            id: k.key_id,
            name: k.name,
        })
        .collect();
    Ok(KeysPage {
        layout: Layout::new("API keys", Some(user), "api-keys"),
        keys,
        errors: Errors::default(),
        name: String::new(),
        created: None,
    })
}

/// The account's API keys, and a form to make one.
pub async fn api_keys(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let mut page = keys_page(&state, &user).await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// Key form fields.
#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Makes a key and shows its secret, once: the answer is a page, not a redirect, so reloading
/// or going back never shows it again.
pub async fn create_api_key(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<KeyForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let req = ApiKeyRequest {
        name: Some(form.name.clone()),
    };
    match keys::create(&state, &user.account_id, &req).await {
        Ok(key) => {
            let mut page = keys_page(&state, &user).await?;
            page.created = Some((key.key.name.clone(), key.api_key));
            Ok(html(&page))
        }
        Err(e) => {
            let mut page = keys_page(&state, &user).await?;
            page.errors = Errors::from_service(e)?;
            page.name = form.name;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

/// "Are you sure?" before revoking a key.
pub async fn revoke_api_key_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    let keys = keys::list(&state, &user.account_id).await?;
    let key = keys
        .api_keys
        .into_iter()
        .find(|k| k.key_id == id)
        .ok_or(PageError::NotFound)?;
    Ok(html(&ConfirmPage {
        layout: Layout::new(
            format!("Revoke key {}?", key.key_id),
            Some(&user),
            "api-keys",
        ),
        message: "Programs using this key get “401 unauthorized” from now on. This cannot be \
                  undone: make a new key for them if they still need access."
            .into(),
        action: format!("/api-keys/{}/revoke", key.key_id),
        button: "Yes, revoke this key".into(),
        back: "/api-keys".into(),
    }))
}

/// Revokes a key.
pub async fn revoke_api_key(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let key = keys::revoke(&state, &user.account_id, &id).await?;
    Ok(redirect_with(
        "/api-keys",
        FlashKind::Success,
        format!("Key {} revoked.", key.key_id),
    ))
}
