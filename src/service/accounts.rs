//! Accounts and authentication: creating a tenant with its first user and key, and checking keys.

use serde::Serialize;
use time::OffsetDateTime;

use super::credentials::{self, generate_key};
use super::{App, ServiceError, ServiceResult};
use crate::domain::ids::AccountId;
use crate::store::{NewAccount, NewApiKey, Store};

/// What `herald accounts create` prints: the only time the secrets are visible.
#[derive(Debug, Clone, Serialize)]
pub struct AccountCredentials {
    /// The new account.
    pub account_id: String,
    /// `KEY_ID:KEY_SECRET`.
    pub api_key: String,
    /// Dashboard user name.
    pub user: String,
    /// Dashboard password.
    pub password: String,
}

/// Creates an account with a dashboard user and an API key.
pub async fn create_account(store: &dyn Store, name: &str) -> ServiceResult<AccountCredentials> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::invalid("name", "must not be empty"));
    }
    let id = AccountId::generate();
    let key = generate_key();
    let password = credentials::generate_password();
    let username = username_for(name, &id);
    let new = NewAccount {
        id: id.clone(),
        name: name.to_owned(),
        username: username.clone(),
        password_hash: credentials::hash_password(&password).map_err(ServiceError::Internal)?,
        key: NewApiKey {
            id: key.id.clone(),
            name: "default".into(),
            secret_hash: key.secret_hash.clone(),
        },
        created_at: OffsetDateTime::now_utc(),
    };
    store
        .create_account(&new)
        .await
        .map_err(ServiceError::from_store("account"))?;
    Ok(AccountCredentials {
        account_id: id.to_string(),
        api_key: key.token,
        user: username,
        password,
    })
}

/// A user name derived from the account name, made unique by the account id.
fn username_for(name: &str, id: &AccountId) -> String {
    let slug: String = name
        .chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() || c == '-' || c == '_' {
                Some('-')
            } else {
                None
            }
        })
        .take(32)
        .collect();
    let suffix = &id.as_str()[AccountId::PREFIX.len()..][..6];
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("admin-{suffix}")
    } else {
        format!("{slug}-{suffix}")
    }
}

/// The first account's name unless `--account-name` says otherwise.
pub const DEFAULT_ACCOUNT_NAME: &str = "Default";

/// On an empty database, creates the first account, named `name`, so a new user can start at
/// once. Returns its credentials, to print once; `None` when accounts already exist.
pub async fn bootstrap(store: &dyn Store, name: &str) -> ServiceResult<Option<AccountCredentials>> {
    if store.count_accounts().await? > 0 {
        return Ok(None);
    }
    let name = if name.trim().is_empty() {
        DEFAULT_ACCOUNT_NAME
    } else {
        name
    };
    create_account(store, name).await.map(Some)
}

/// One account as `herald accounts list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountListing {
    /// Its id.
    pub account_id: String,
    /// Its name (the sender name of STOP/HELP confirmations).
    pub name: String,
    /// Its dashboard users.
    pub users: Vec<String>,
    /// Creation time (RFC 3339).
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
}

/// Every account, oldest first.
pub async fn list(store: &dyn Store) -> ServiceResult<Vec<AccountListing>> {
    Ok(store
        .list_accounts()
        .await?
        .into_iter()
        .map(|(a, users)| AccountListing {
            account_id: a.id.to_string(),
            name: a.name,
            users,
            created_at: a.created_at,
        })
        .collect())
}

/// Renames an account (what `PATCH /v1/account {"name"}` does), for the command line.
pub async fn rename(store: &dyn Store, id: &str, name: &str) -> ServiceResult<AccountListing> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > crate::domain::campaign::MAX_NAME_CHARS {
        return Err(ServiceError::invalid(
            "name",
            format!(
                "must be at most {} characters",
                crate::domain::campaign::MAX_NAME_CHARS
            ),
        ));
    }
    let id = AccountId::parse(id.trim()).ok_or(ServiceError::NotFound("account"))?;
    let update = crate::store::AccountSettingsUpdate {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    store
        .update_account_settings(&id, &update)
        .await
        .map_err(ServiceError::from_store("account"))?;
    list(store)
        .await?
        .into_iter()
        .find(|a| a.account_id == id.as_str())
        .ok_or(ServiceError::NotFound("account"))
}

/// Gives a dashboard user a new random password (returned, to print once) and signs them out
/// everywhere.
pub async fn reset_password(store: &dyn Store, username: &str) -> ServiceResult<String> {
    let user = store
        .find_user(username.trim())
        .await?
        .ok_or(ServiceError::NotFound("user"))?;
    let password = credentials::generate_password();
    let hash = credentials::hash_password(&password).map_err(ServiceError::Internal)?;
    store.set_password(user.id, &hash).await?;
    store.delete_user_sessions(user.id, None).await?;
    Ok(password)
}

/// Resolves `KEY_ID:KEY_SECRET` to its account, or `Unauthorized`.
pub async fn authenticate(app: &App, token: &str) -> ServiceResult<AccountId> {
    let store = app.store.as_ref();
    let (key_id, secret) = credentials::split_token(token).ok_or(ServiceError::Unauthorized)?;
    let Some(creds) = store.key_credentials(&key_id).await? else {
        // Spend the same hashing work as a real check, so timing does not reveal key ids.
        let _ = credentials::secret_matches(secret, &[0; 32]);
        return Err(ServiceError::Unauthorized);
    };
    if creds.revoked || !credentials::secret_matches(secret, &creds.secret_hash) {
        return Err(ServiceError::Unauthorized);
    }
    Ok(creds.account_id)
}
