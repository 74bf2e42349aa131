//! `/v1/account`: the account's reply settings (HELP text, keyword confirmations).

use axum::Json;
use axum::extract::State;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use crate::service::App;
use crate::service::account_settings;
use crate::service::views::replies::{AccountUpdate, AccountView};

/// The account's settings.
#[utoipa::path(get, path = "/v1/account", tag = "account",
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<App>,
    Authenticated(account): Authenticated,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(account_settings::get(&state, &account).await?))
}

/// Change the account's name, HELP text (null: the default) or `keyword_replies` (whether
/// Herald confirms STOP/START/HELP itself; turn it off when Twilio's own opt-out handling
/// answers them).
#[utoipa::path(patch, path = "/v1/account", tag = "account", request_body = AccountUpdate,
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    body: ApiJson<AccountUpdate>,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(
        account_settings::update(&state, &account, &body.value).await?,
    ))
}
