//! Who is signed in: the `herald_session` cookie resumed into a user (the page extractors),
//! CSRF checks, sign-in throttling, and the dashboard's cookie settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::error::PageError;
use crate::service::App;
use crate::service::drafts;
use crate::service::sessions::{self, SignedIn};

/// The session cookie: 256 random bits, HttpOnly, SameSite=Lax, Secure behind https.
pub const SESSION_COOKIE: &str = "herald_session";
/// The sign-in form's CSRF token, before there is a session to hold one.
pub const LOGIN_CSRF_COOKIE: &str = "herald_login_csrf";

/// Failed sign-ins allowed per user name in [`THROTTLE_WINDOW`] before further tries are refused.
const MAX_FAILURES: u32 = 10;
/// How long failures are remembered.
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most user names tracked at once (a flood of made-up names cannot grow memory without bound).
const MAX_TRACKED: usize = 10_000;

/// The dashboard's process-local state.
pub struct Dashboard {
    /// Cookies get `Secure` when the public URL is https.
    pub secure: bool,
    /// Failed sign-ins per user name.
    throttle: Mutex<HashMap<String, (u32, Instant)>>,
    /// Last time expired sessions and drafts were purged.
    last_purge: Mutex<Option<Instant>>,
}

impl Dashboard {
    /// Fresh state.
    pub fn new(secure: bool) -> Self {
        Self {
            secure,
            throttle: Mutex::new(HashMap::new()),
            last_purge: Mutex::new(None),
        }
    }

    /// `Err(wait)` when this user name has failed too often recently.
    pub fn check_throttle(&self, username: &str) -> Result<(), Duration> {
        let key = username.trim().to_lowercase();
        let map = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some((n, since)) if *n >= MAX_FAILURES && since.elapsed() < THROTTLE_WINDOW => {
                Err(THROTTLE_WINDOW.saturating_sub(since.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed sign-in for this user name.
    pub fn record_failure(&self, username: &str) {
        let key = username.trim().to_lowercase();
        let mut map = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| since.elapsed() < THROTTLE_WINDOW);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let entry = map.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= THROTTLE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets the failures of a user name that just signed in.
    pub fn record_success(&self, username: &str) {
        let key = username.trim().to_lowercase();
        self.throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// True at most once an hour: time to delete expired sessions and old drafts.
    pub fn purge_due(&self) -> bool {
        let mut last = self.last_purge.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() > Duration::from_secs(3600));
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// A cookie with the dashboard's attributes.
    pub fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<time::Duration>,
    ) -> Cookie<'static> {
        let mut c = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure);
        if let Some(age) = max_age {
            c = c.max_age(age);
        }
        c.build()
    }

    /// A cookie that deletes `name`.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        self.cookie(name, String::new(), Some(time::Duration::ZERO))
    }
}

fn dashboard(parts: &Parts) -> Arc<Dashboard> {
    parts
        .extensions
        .get::<Arc<Dashboard>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(Dashboard::new(false)))
}

async fn resume(parts: &Parts, state: &App) -> Result<Option<SignedIn>, PageError> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    if dashboard(parts).purge_due() {
        drafts::purge_expired(state, now).await;
    }
    Ok(sessions::resume(state, &token, now).await?)
}

/// A signed-in user; a page request without a valid session is sent to the sign-in page
/// (and back here afterwards).
pub struct CurrentUser(pub SignedIn);

impl FromRequestParts<App> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Response> {
        match resume(parts, state).await {
            Ok(Some(user)) => Ok(CurrentUser(user)),
            Ok(None) => {
                let target = if parts.method == Method::GET {
                    let here = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    format!("/login?next={}", urlencode(here))
                } else {
                    "/login".to_owned()
                };
                Err(Redirect::to(&target).into_response())
            }
            Err(e) => Err(e.render(None)),
        }
    }
}

/// The signed-in user, if any (pages that also serve visitors: sign-in, 404).
pub struct MaybeUser(pub Option<SignedIn>);

impl FromRequestParts<App> for MaybeUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Response> {
        resume(parts, state)
            .await
            .map(MaybeUser)
            .map_err(|e| e.render(None))
    }
}

/// A signed-in user for the JSON endpoints the page script polls: 401 JSON otherwise.
pub struct LiveUser(pub SignedIn);

impl FromRequestParts<App> for LiveUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Response> {
        match resume(parts, state).await {
            Ok(Some(user)) => Ok(LiveUser(user)),
            Ok(None) => Err((
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": {"code": "unauthorized", "message": "your session has ended: reload the page to sign in again"}})),
            )
                .into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A local path to go to after signing in; anything else (another host, `//evil`) is `/campaigns`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains(['\r', '\n'])
                && !n.starts_with("/login") =>
        {
            n.to_owned()
        }
        _ => "/campaigns".to_owned(),
    }
}

/// Refuses a form whose CSRF token is not the session's (compared in constant time).
pub fn check_csrf(user: &SignedIn, presented: &str) -> Result<(), PageError> {
    if presented
        .as_bytes()
        .ct_eq(user.csrf_token.as_bytes())
        .into()
    {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}

/// Checks a token against an expected value in constant time (the sign-in form's cookie).
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_stay_on_this_site() {
        assert_eq!(safe_next(Some("/campaigns/smsc_1")), "/campaigns/smsc_1");
        assert_eq!(safe_next(Some("/campaigns?x=1")), "/campaigns?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "/login",
        ] {
            assert_eq!(safe_next(Some(bad)), "/campaigns", "{bad}");
        }
        assert_eq!(safe_next(None), "/campaigns");
    }

    #[test]
    fn throttle_after_repeated_failures() {
        let d = Dashboard::new(false);
        for _ in 0..MAX_FAILURES {
            assert!(d.check_throttle("Alice").is_ok());
            d.record_failure("alice");
        }
        assert!(d.check_throttle(" ALICE ").is_err());
        assert!(d.check_throttle("bob").is_ok());
        d.record_success("alice");
        assert!(d.check_throttle("alice").is_ok());
    }

    #[test]
    fn urlencoding_keeps_paths_readable() {
        assert_eq!(urlencode("/campaigns?a=b&c"), "/campaigns%3Fa%3Db%26c");
        assert_eq!(urlencode("+44 7"), "%2B44%207");
    }
}
