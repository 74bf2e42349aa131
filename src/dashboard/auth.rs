//! Sign-in, sign-out and password changes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::forms::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with, with_flash};
use super::signed_in::{
    CurrentUser, Dashboard, LOGIN_CSRF_COOKIE, MaybeUser, SESSION_COOKIE, ThrottleKey, check_csrf,
    safe_next, tokens_match,
};
use super::views::Layout;
use crate::service::App;
use crate::service::ServiceError;
use crate::service::sessions::{
    self, ABSOLUTE_TIMEOUT, MAX_USERNAME_BYTES, MIN_PASSWORD_CHARS, SignInError, random_token,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    username: String,
    next: String,
    error: Option<String>,
}

/// `?next=` of the sign-in page.
#[derive(Debug, Deserialize, Default)]
pub struct NextParam {
    next: Option<String>,
}

fn login_form(
    dashboard: &Dashboard,
    jar: CookieJar,
    status: StatusCode,
    username: String,
    next: String,
    error: Option<String>,
    flash: IncomingFlash,
) -> Response {
    let csrf = random_token();
    let jar = jar.add(dashboard.cookie(LOGIN_CSRF_COOKIE, csrf.clone(), None));
    let page = LoginPage {
        layout: Layout::new("Sign in", None, "").with_flash(flash),
        csrf,
        username,
        next,
        error,
    };
    (status, jar, html(&page)).into_response()
}

/// The sign-in form (or the campaign list, when already signed in).
pub async fn login_page(
    user: MaybeUser,
    Extension(dashboard): Extension<Arc<Dashboard>>,
    Extension(flash): Extension<IncomingFlash>,
    jar: CookieJar,
    Query(q): Query<NextParam>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.0.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_form(
        &dashboard,
        jar,
        StatusCode::OK,
        String::new(),
        next,
        None,
        flash,
    )
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Largest sign-in form accepted: a user name, a password, a token and a path.
pub const LOGIN_MAX_BODY: usize = 64 * 1024;

/// Checks the password; on success opens a session and goes where the user was heading.
/// Failures are throttled per client address and user name (checked and counted in one
/// step), and a user name no user can have is refused before any lookup.
pub async fn login(
    State(state): State<App>,
    Extension(dashboard): Extension<Arc<Dashboard>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    jar: CookieJar,
    Form(mut form): Form<LoginForm>,
) -> PageResult {
    let next = safe_next(Some(&form.next));
    let too_long = form.username.len() > MAX_USERNAME_BYTES;
    if too_long {
        // Not echoed back whole: the form shows at most a name's worth of it.
        let mut end = MAX_USERNAME_BYTES;
        while !form.username.is_char_boundary(end) {
            end -= 1;
        }
        form.username.truncate(end);
    }
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let retry = |jar, status, error: &str| {
        login_form(
            &dashboard,
            jar,
            status,
            form.username.clone(),
            next.clone(),
            Some(error.to_owned()),
            IncomingFlash::default(),
        )
    };
    if !tokens_match(&form.csrf, &expected) {
        return Ok(retry(
            jar,
            StatusCode::FORBIDDEN,
            "The sign-in form had expired. Please sign in again.",
        ));
    }
    let refused = |jar| {
        retry(
            jar,
            StatusCode::UNAUTHORIZED,
            "The user name or password is not right. Check them and try again.",
        )
    };
    if too_long {
        return Ok(refused(jar));
    }
    let client = client.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(a))| {
        a.ip()
    });
    let key = ThrottleKey::new(client, &form.username);
    if let Err(wait) = dashboard.begin_sign_in(key) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return Ok(retry(
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed attempts to sign in as this user. Wait {minutes} minute{} and try again.",
                if minutes == 1 { "" } else { "s" }
            ),
        ));
    }
    match sessions::sign_in(&state, &form.username, &form.password).await {
        Ok(new) => {
            dashboard.sign_in_succeeded(key);
            let jar = jar
                .remove(dashboard.removal(LOGIN_CSRF_COOKIE))
                .add(dashboard.cookie(SESSION_COOKIE, new.token, Some(ABSOLUTE_TIMEOUT)));
            Ok((jar, Redirect::to(&next)).into_response())
        }
        // Already counted by `begin_sign_in`.
        Err(SignInError::Refused) => Ok(refused(jar)),
        Err(SignInError::Busy) => {
            dashboard.sign_in_not_judged(key);
            Ok(retry(
                jar,
                StatusCode::TOO_MANY_REQUESTS,
                "Herald is busy checking other sign-ins. Wait a moment and try again.",
            ))
        }
        Err(SignInError::Failed(e)) => {
            dashboard.sign_in_not_judged(key);
            Err(e.into())
        }
    }
}

/// A form that carries only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// Ends the session.
pub async fn logout(
    State(state): State<App>,
    Extension(dashboard): Extension<Arc<Dashboard>>,
    CurrentUser(user): CurrentUser,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    sessions::sign_out(&state, &user).await?;
    let jar = jar.remove(dashboard.removal(SESSION_COOKIE));
    Ok(with_flash(
        (jar, Redirect::to("/login")),
        FlashKind::Success,
        "You have signed out.",
    ))
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    min: usize,
    errors: Vec<(String, String)>,
}

impl PasswordPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// The change-password form.
pub async fn password_page(
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> Response {
    html(&PasswordPage {
        layout: Layout::new("Change your password", Some(&user), "account").with_flash(flash),
        min: MIN_PASSWORD_CHARS,
        errors: Vec::new(),
    })
}

/// The change-password form's fields.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Changes the password; every other session of the user ends.
pub async fn change_password(
    State(state): State<App>,
    Extension(dashboard): Extension<Arc<Dashboard>>,
    CurrentUser(user): CurrentUser,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    match sessions::change_password(
        &state,
        &user,
        &form.current_password,
        &form.new_password,
        &form.confirm_password,
    )
    .await
    {
        Ok(new) => {
            let jar = jar.add(dashboard.cookie(SESSION_COOKIE, new.token, Some(ABSOLUTE_TIMEOUT)));
            Ok(with_flash(
                (jar, Redirect::to("/account/password")),
                FlashKind::Success,
                "Your password has been changed. Any other browser signed in as you has been signed out.",
            ))
        }
        Err(ServiceError::Validation(errors)) => {
            let page = PasswordPage {
                layout: Layout::new("Change your password", Some(&user), "account"),
                min: MIN_PASSWORD_CHARS,
                errors: errors.into_iter().map(|e| (e.field, e.message)).collect(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
        Err(ServiceError::Unauthorized) => Ok(redirect_with(
            "/login",
            FlashKind::Warning,
            "Please sign in again.",
        )),
        Err(e) => Err(e.into()),
    }
}
