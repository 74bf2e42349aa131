//! Who is signed in: the `herald_session` cookie resumed into a user (the page extractors),
//! CSRF checks, sign-in throttling, and the dashboard's cookie settings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use sha2::{Digest, Sha256};
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

/// Failed sign-ins allowed per client address and user name in [`THROTTLE_WINDOW`] before
/// further tries are refused.
const MAX_FAILURES: u32 = 10;
/// How long failures are remembered.
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most (address, user name) pairs tracked at once: a flood of made-up names evicts the
/// oldest entries one by one, never the whole table, and each entry is 32 bytes of key.
const MAX_TRACKED: usize = 10_000;

/// Which sign-in attempts a throttle entry counts: a SHA-256 of the client's address and the
/// user name (trimmed, lower-cased), so an entry's size does not depend on what was sent and
/// a stranger elsewhere cannot lock a real user out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThrottleKey([u8; 32]);

impl ThrottleKey {
    /// The key of `username` tried from `client`.
    pub fn new(client: IpAddr, username: &str) -> Self {
        let mut hash = Sha256::new();
        match client.to_canonical() {
            IpAddr::V4(ip) => hash.update(ip.octets()),
            IpAddr::V6(ip) => hash.update(ip.octets()),
        }
        hash.update([0]);
        hash.update(username.trim().to_lowercase().as_bytes());
        Self(hash.finalize().into())
    }
}

/// Failed sign-ins of one key since `since`.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// The dashboard's process-local state.
pub struct Dashboard {
    /// Cookies get `Secure` when the public URL is https.
    pub secure: bool,
    /// Failed (and in-progress) sign-ins per client address and user name.
    throttle: Mutex<HashMap<ThrottleKey, Failures>>,
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

    /// Starts a sign-in attempt: `Err(wait)` when this key has failed too often recently,
    /// otherwise the attempt is counted as a failure at once, in the same step as the check,
    /// so a burst of parallel tries cannot get past the limit; [`Self::sign_in_succeeded`] or
    /// [`Self::sign_in_not_judged`] takes it back.
    pub fn begin_sign_in(&self, key: ThrottleKey) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get_mut(&key) {
            if now.duration_since(f.since) >= THROTTLE_WINDOW {
                *f = Failures {
                    count: 0,
                    since: now,
                };
            }
            if f.count >= MAX_FAILURES {
                return Err(THROTTLE_WINDOW.saturating_sub(now.duration_since(f.since)));
            }
            f.count += 1;
            return Ok(());
        }
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| now.duration_since(f.since) < THROTTLE_WINDOW);
        }
        if map.len() >= MAX_TRACKED
            && let Some(oldest) = map.iter().min_by_key(|(_, f)| f.since).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            key,
            Failures {
                count: 1,
                since: now,
            },
        );
        Ok(())
    }

    /// Forgets the failures of a key that just signed in.
    pub fn sign_in_succeeded(&self, key: ThrottleKey) {
        self.throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// Takes back an attempt that was neither right nor wrong (it failed on our side, or
    /// waited too long for its turn to be checked).
    pub fn sign_in_not_judged(&self, key: ThrottleKey) {
        let mut map = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get_mut(&key) {
            f.count = f.count.saturating_sub(1);
        }
    }

    /// Pairs tracked (for tests of the bound).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
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
            Err(e) => Err(super::error::live_page_error(e)),
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

/// Longest `next` path kept (a longer one is not a page of Herald's).
const MAX_NEXT_LEN: usize = 2_048;

/// Where to go after signing in: a path on this site, parsed from `?next=`. Only printable
/// ASCII is kept, without backslashes, starting with one `/` and never containing `//`, so
/// no browser can read it as another host (browsers drop tabs and newlines and treat `\`
/// as `/`, which is how `/\t/evil.example` would become `//evil.example`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPath(String);

impl NextPath {
    /// The path, if `raw` is one of this site's (and not the sign-in page itself).
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() <= MAX_NEXT_LEN
            && raw.starts_with('/')
            && raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
            && !raw.contains("//")
            && !raw.starts_with("/login");
        ok.then(|| Self(raw.to_owned()))
    }
}

/// A local path to go to after signing in: the campaigns when none was given, `/` for
/// anything that is not a path on this site (see [`NextPath`]).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        None | Some("") => "/campaigns".to_owned(),
        Some(raw) => NextPath::parse(raw).map_or_else(|| "/".to_owned(), |p| p.0),
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
        assert_eq!(safe_next(Some("/campaigns?q=a%20b")), "/campaigns?q=a%20b");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/x",
            "/\u{1}x",
            "/x\u{7f}",
            "/a b",
            "/caf\u{e9}",
            "/x//evil.example",
            "/./\\evil",
            "/login",
            "/login?next=/x",
            "evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
            assert!(NextPath::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(3_000)))), "/");
        assert_eq!(safe_next(None), "/campaigns");
        assert_eq!(safe_next(Some("")), "/campaigns");
        // Whatever it keeps is a valid header value.
        for ok in ["/campaigns/smsc_1", "/a-b_c.d~e!$&'()*+,;=:@%41?x=1#f"] {
            let p = NextPath::parse(ok).unwrap();
            assert!(axum::http::HeaderValue::from_str(&p.0).is_ok());
        }
    }

    fn key(ip: &str, user: &str) -> ThrottleKey {
        ThrottleKey::new(ip.parse().unwrap(), user)
    }

    #[test]
    fn throttle_after_repeated_failures() {
        let d = Dashboard::new(false);
        for _ in 0..MAX_FAILURES {
            assert!(d.begin_sign_in(key("10.0.0.1", "Alice")).is_ok());
        }
        assert!(d.begin_sign_in(key("10.0.0.1", " ALICE ")).is_err());
        // Another client, or another name, is not locked out by these failures.
        assert!(d.begin_sign_in(key("10.0.0.2", "alice")).is_ok());
        assert!(d.begin_sign_in(key("10.0.0.1", "bob")).is_ok());
        d.sign_in_succeeded(key("10.0.0.1", "alice"));
        assert!(d.begin_sign_in(key("10.0.0.1", "alice")).is_ok());
        // An attempt not judged is given back.
        let k = key("10.0.0.3", "carol");
        for _ in 0..MAX_FAILURES {
            assert!(d.begin_sign_in(k).is_ok());
        }
        d.sign_in_not_judged(k);
        assert!(d.begin_sign_in(k).is_ok());
        assert!(d.begin_sign_in(k).is_err());
        // IPv4 and its IPv6-mapped form are one client.
        assert_eq!(key("10.0.0.1", "a"), key("::ffff:10.0.0.1", "a"));
    }

    #[test]
    fn throttle_memory_is_bounded_and_never_cleared_whole() {
        let d = Dashboard::new(false);
        let victim = key("10.9.9.9", "alice");
        for _ in 0..MAX_FAILURES {
            d.begin_sign_in(victim).unwrap();
        }
        for i in 0..MAX_TRACKED + 500 {
            d.begin_sign_in(key("10.0.0.1", &format!("made-up-{i}")))
                .unwrap();
            assert!(d.tracked() <= MAX_TRACKED);
        }
        assert_eq!(d.tracked(), MAX_TRACKED);
        // Only the oldest entries went, one at a time: the newest are all still counted.
        assert!(
            d.begin_sign_in(key("10.0.0.1", &format!("made-up-{}", MAX_TRACKED + 499)))
                .is_ok()
        );
        assert_eq!(d.tracked(), MAX_TRACKED);
    }

    #[test]
    fn urlencoding_keeps_paths_readable() {
        assert_eq!(urlencode("/campaigns?a=b&c"), "/campaigns%3Fa%3Db%26c");
        assert_eq!(urlencode("+44 7"), "%2B44%207");
    }
}
