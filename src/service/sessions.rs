//! Dashboard sign-in: passwords checked with Argon2, sessions as random 256-bit tokens of
//! which only the SHA-256 is stored, idle and absolute expiry, a CSRF token per session,
//! and password changes that end every other session.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;

use super::credentials::{hash_password, password_matches};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::ids::AccountId;
use crate::store::Store;
use crate::store::sessions::NewSession;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::hours(12);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::days(7);
/// Activity is written back at most this often (a page load is not a database write).
const TOUCH_EVERY: Duration = Duration::minutes(1);
/// Shortest password a user may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (Argon2 hashes anything, but a 1 MB password is an attack).
pub const MAX_PASSWORD_CHARS: usize = 1_024;

/// Longest user name looked up: anything longer is refused before the database or the
/// password hash is touched (names Herald creates are far shorter).
pub const MAX_USERNAME_BYTES: usize = 256;
/// Most password checks running at once. Each is an Argon2 hash using 19 MiB and tens of
/// milliseconds of CPU on the blocking pool; a flood of sign-ins queues here instead.
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// How long a password check waits for its turn before the sign-in is refused as busy.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// The turns of [`MAX_CONCURRENT_HASHES`].
static HASHING: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);

/// Why a sign-in opened no session.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong user name or password (which one is never said).
    #[error("wrong user name or password")]
    Refused,
    /// Too many passwords are being checked right now; try again shortly.
    #[error("too many sign-ins at once")]
    Busy,
    /// Something failed on our side.
    #[error(transparent)]
    Failed(#[from] ServiceError),
}

impl From<crate::store::StoreError> for SignInError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// Who a session belongs to, and what its forms must carry.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user's row id.
    pub user_id: i64,
    /// The account the user acts for.
    pub account_id: AccountId,
    /// The user's name, for the page header.
    pub username: String,
    /// The token every POST of this session must carry.
    pub csrf_token: String,
    /// SHA-256 of the session token (how sign-out and password changes name it).
    pub token_hash: Vec<u8>,
}

/// A session just made: the token goes into the cookie and is never stored.
#[derive(Debug, Clone)]
pub struct NewSignIn {
    /// The cookie value (43 characters of base64url, 256 random bits).
    pub token: String,
    /// The session it opens.
    pub session: SignedIn,
}

/// 32 random bytes as base64url: session tokens and CSRF tokens.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// SHA-256 of a session token, the only form in which it is stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A real Argon2 hash to check against when the user does not exist, so a wrong user name
/// costs the same time as a wrong password and timing does not tell which names exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("herald-dummy-password-for-unknown-users").unwrap_or_default());

/// Checks a password on the blocking pool (Argon2 takes tens of milliseconds of CPU), at most
/// [`MAX_CONCURRENT_HASHES`] at once; `Err(Busy)` after waiting [`HASH_WAIT`] for a turn.
async fn check_password(password: String, phc: String) -> Result<bool, SignInError> {
    let _turn = tokio::time::timeout(HASH_WAIT, HASHING.acquire())
        .await
        .map_err(|_| SignInError::Busy)?
        .map_err(|e| ServiceError::Internal(anyhow::Error::new(e)))?;
    tokio::task::spawn_blocking(move || password_matches(&password, &phc))
        .await
        .map_err(|e| {
            ServiceError::Internal(anyhow::Error::new(e).context("checking a password")).into()
        })
}

async fn open_session(
    store: &dyn Store,
    user_id: i64,
    account_id: AccountId,
    username: String,
) -> ServiceResult<NewSignIn> {
    let token = random_token();
    let session = SignedIn {
        user_id,
        account_id,
        username,
        csrf_token: random_token(),
        token_hash: token_hash(&token),
    };
    store
        .create_session(&NewSession {
            token_hash: session.token_hash.clone(),
            user_id,
            csrf_token: session.csrf_token.clone(),
            created_at: OffsetDateTime::now_utc(),
        })
        .await?;
    Ok(NewSignIn { token, session })
}

/// Signs a user in. A wrong user name and a wrong password are the same `Refused`, after
/// the same amount of work (a name no user can have, over [`MAX_USERNAME_BYTES`], and an
/// empty or over-long password are refused before any).
pub async fn sign_in(app: &App, username: &str, password: &str) -> Result<NewSignIn, SignInError> {
    let store = app.store.as_ref();
    let username = username.trim();
    if username.is_empty()
        || username.len() > MAX_USERNAME_BYTES
        || password.is_empty()
        || password.chars().count() > MAX_PASSWORD_CHARS
    {
        return Err(SignInError::Refused);
    }
    let user = store.find_user(username).await?;
    let phc = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let matches = check_password(password.to_owned(), phc).await?;
    match user {
        Some(user) if matches => {
            Ok(open_session(store, user.id, user.account_id, user.username).await?)
        }
        _ => Err(SignInError::Refused),
    }
}

/// The session a cookie token names, if it exists and has not expired (an expired one is
/// deleted). Records activity at most once a minute.
pub async fn resume(
    app: &App,
    token: &str,
    now: OffsetDateTime,
) -> ServiceResult<Option<SignedIn>> {
    let store = app.store.as_ref();
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some(record) = store.find_session(&hash).await? else {
        return Ok(None);
    };
    if now - record.last_seen_at > IDLE_TIMEOUT || now - record.created_at > ABSOLUTE_TIMEOUT {
        store.delete_session(&hash).await?;
        return Ok(None);
    }
    if now - record.last_seen_at > TOUCH_EVERY {
        store.touch_session(&hash, now).await?;
    }
    Ok(Some(SignedIn {
        user_id: record.user.id,
        account_id: record.user.account_id,
        username: record.user.username,
        csrf_token: record.csrf_token,
        token_hash: hash,
    }))
}

/// Ends a session.
pub async fn sign_out(app: &App, session: &SignedIn) -> ServiceResult<()> {
    let store = app.store.as_ref();
    store.delete_session(&session.token_hash).await?;
    Ok(())
}

/// Deletes expired sessions (run now and then; expiry is also checked on every request).
pub async fn purge_expired(app: &App, now: OffsetDateTime) -> ServiceResult<u64> {
    let store = app.store.as_ref();
    Ok(store
        .delete_expired_sessions(now - IDLE_TIMEOUT, now - ABSOLUTE_TIMEOUT)
        .await?)
}

/// Changes the signed-in user's password. The current password must be right, the new one
/// long enough and typed twice the same. Every session of the user ends, and a new one is
/// returned for this browser (so a stolen session cookie stops working too).
pub async fn change_password(
    app: &App,
    session: &SignedIn,
    current: &str,
    new: &str,
    confirm: &str,
) -> ServiceResult<NewSignIn> {
    let store = app.store.as_ref();
    let mut errors = Vec::new();
    let new_chars = new.chars().count();
    if new_chars < MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "new_password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    } else if new_chars > MAX_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "new_password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    } else if new == current {
        errors.push(FieldError::new(
            "new_password",
            "must be different from the current password",
        ));
    }
    if new != confirm {
        errors.push(FieldError::new(
            "confirm_password",
            "does not match the new password",
        ));
    }
    let user = store
        .find_user(&session.username)
        .await?
        .filter(|u| u.id == session.user_id)
        .ok_or(ServiceError::Unauthorized)?;
    let matches = current.chars().count() <= MAX_PASSWORD_CHARS
        && match check_password(current.to_owned(), user.password_hash.clone()).await {
            Ok(matches) => matches,
            Err(SignInError::Failed(e)) => return Err(e),
            Err(SignInError::Refused | SignInError::Busy) => {
                return Err(ServiceError::Conflict(
                    "Herald is checking too many passwords right now; try again in a moment".into(),
                ));
            }
        };
    if !matches {
        errors.insert(
            0,
            FieldError::new("current_password", "is not your current password"),
        );
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let new = new.to_owned();
    let phc = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| ServiceError::Internal(anyhow::Error::new(e)))?
        .map_err(ServiceError::Internal)?;
    store.set_password(user.id, &phc).await?;
    store.delete_user_sessions(user.id, None).await?;
    open_session(store, user.id, user.account_id, user.username).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::accounts;
    use crate::store::{SessionStore, SqliteStore};

    async fn store() -> (tempfile::TempDir, SqliteStore, App) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        crate::store::Store::migrate(&store).await.unwrap();
        let app = App::new(
            std::sync::Arc::new(store.clone()),
            std::sync::Arc::new(crate::config::Settings::new(url)),
            crate::service::replier::Replier::new(None),
        );
        (dir, store, app)
    }

    #[tokio::test(start_paused = true)]
    async fn password_checks_take_turns_and_give_up_as_busy() {
        // Every turn taken: the next check waits its while, then is refused as busy.
        let held = HASHING
            .acquire_many(MAX_CONCURRENT_HASHES as u32)
            .await
            .unwrap();
        let phc = hash_password("right password").unwrap();
        assert!(matches!(
            check_password("right password".into(), phc.clone()).await,
            Err(SignInError::Busy)
        ));
        drop(held);
        assert!(check_password("right password".into(), phc).await.unwrap());
        assert_eq!(HASHING.available_permits(), MAX_CONCURRENT_HASHES);
    }

    #[tokio::test]
    async fn sign_in_resume_expire_and_sign_out() {
        let (_dir, store, app) = store().await;
        let creds = accounts::create_account(&store, "Clinic").await.unwrap();
        assert!(matches!(
            sign_in(&app, &creds.user, "wrong").await,
            Err(SignInError::Refused)
        ));
        assert!(matches!(
            sign_in(&app, "nobody", &creds.password).await,
            Err(SignInError::Refused)
        ));
        assert!(matches!(
            sign_in(&app, &"x".repeat(MAX_USERNAME_BYTES + 1), &creds.password).await,
            Err(SignInError::Refused)
        ));
        let new = sign_in(&app, &format!(" {} ", creds.user), &creds.password)
            .await
            .unwrap();
        assert_eq!(new.token.len(), 43);
        assert_ne!(new.token, new.session.csrf_token);
        // Only the hash is stored.
        assert!(
            store
                .find_session(new.token.as_bytes())
                .await
                .unwrap()
                .is_none()
        );

        let now = OffsetDateTime::now_utc();
        let s = resume(&app, &new.token, now).await.unwrap().unwrap();
        assert_eq!(s.account_id.as_str(), creds.account_id);
        assert_eq!(s.csrf_token, new.session.csrf_token);
        assert!(resume(&app, "forged", now).await.unwrap().is_none());
        // Idle for longer than the timeout: gone, and deleted.
        let later = now + IDLE_TIMEOUT + Duration::minutes(1);
        assert!(resume(&app, &new.token, later).await.unwrap().is_none());
        assert!(resume(&app, &new.token, now).await.unwrap().is_none());

        let new = sign_in(&app, &creds.user, &creds.password).await.unwrap();
        // Active all along, but past the absolute limit.
        let mut t = now;
        while t < now + ABSOLUTE_TIMEOUT - Duration::hours(11) {
            t += Duration::hours(11);
            assert!(resume(&app, &new.token, t).await.unwrap().is_some());
        }
        t += Duration::hours(11);
        assert!(resume(&app, &new.token, t).await.unwrap().is_none());

        let new = sign_in(&app, &creds.user, &creds.password).await.unwrap();
        sign_out(&app, &new.session).await.unwrap();
        assert!(resume(&app, &new.token, now).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn password_change_checks_and_ends_other_sessions() {
        let (_dir, store, app) = store().await;
        let creds = accounts::create_account(&store, "Clinic").await.unwrap();
        let a = sign_in(&app, &creds.user, &creds.password).await.unwrap();
        let b = sign_in(&app, &creds.user, &creds.password).await.unwrap();
        let fields = |e: ServiceError| match e {
            ServiceError::Validation(errors) => {
                errors.into_iter().map(|e| e.field).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        };
        let e = change_password(&app, &a.session, "wrong", "short", "other")
            .await
            .unwrap_err();
        assert_eq!(
            fields(e),
            ["current_password", "new_password", "confirm_password"]
        );
        let e = change_password(
            &app,
            &a.session,
            &creds.password,
            &creds.password,
            &creds.password,
        )
        .await
        .unwrap_err();
        assert_eq!(fields(e), ["new_password"]);

        let fresh = change_password(
            &app,
            &a.session,
            &creds.password,
            "correct horse battery",
            "correct horse battery",
        )
        .await
        .unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(resume(&app, &a.token, now).await.unwrap().is_none());
        assert!(resume(&app, &b.token, now).await.unwrap().is_none());
        assert!(resume(&app, &fresh.token, now).await.unwrap().is_some());
        assert!(sign_in(&app, &creds.user, &creds.password).await.is_err());
        assert!(
            sign_in(&app, &creds.user, "correct horse battery")
                .await
                .is_ok()
        );
    }
}
