//! API keys: made with a secret shown once, listed without secrets, revoked at once.

use time::OffsetDateTime;

use super::credentials::generate_key;
use super::views::{ApiKeyList, ApiKeyRequest, ApiKeyView, CreatedApiKey};
use super::{App, ServiceError, ServiceResult};
use crate::domain::ids::{AccountId, KeyId};
use crate::store::NewApiKey;

/// Longest key name.
const MAX_NAME: usize = 200;

/// Makes a key; its secret appears in this answer only.
pub async fn create(
    app: &App,
    account: &AccountId,
    req: &ApiKeyRequest,
) -> ServiceResult<CreatedApiKey> {
    let store = app.store.as_ref();
    // Counted as sent (the document's maxLength), stored trimmed.
    let raw = req.name.as_deref().unwrap_or("");
    let name = raw.trim().to_owned();
    if raw.chars().count() > MAX_NAME {
        return Err(ServiceError::invalid(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    let key = generate_key();
    let stored = store
        .create_api_key(
            account,
            &NewApiKey {
                id: key.id.clone(),
                name,
                secret_hash: key.secret_hash,
            },
        )
        .await?;
    Ok(CreatedApiKey {
        key: stored.into(),
        api_key: key.token,
    })
}

/// The account's keys, without secrets.
pub async fn list(app: &App, account: &AccountId) -> ServiceResult<ApiKeyList> {
    let store = app.store.as_ref();
    Ok(ApiKeyList {
        api_keys: store
            .list_api_keys(account)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// Revokes a key at once; requests using it get 401 from then on.
pub async fn revoke(app: &App, account: &AccountId, id: &str) -> ServiceResult<ApiKeyView> {
    let store = app.store.as_ref();
    let id = KeyId::parse(id).ok_or(ServiceError::NotFound("api key"))?;
    let key = store
        .revoke_api_key(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("api key"))?;
    Ok(key.into())
}
