//! `/v1/conversations`: the threads of replies, for the dashboard and API users.

use axum::Json;
use axum::extract::State;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, Authenticated};
use crate::service::App;
use crate::service::conversations;
use crate::service::views::replies::{
    ConversationDetail, ConversationList, ConversationParams, MessageParams,
};

/// The account's conversations, latest activity first, each with its latest message.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations",
    params(ConversationParams),
    responses((status = 200, body = ConversationList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiQuery(params): ApiQuery<ConversationParams>,
) -> ApiResult<Json<ConversationList>> {
    Ok(Json(conversations::list(&state, &account, &params).await?))
}

/// One conversation: the campaign message it answers, and its messages oldest first, each
/// with its delivery status (outbound) or what the agent did with it (inbound).
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}", tag = "conversations",
    params(("conversation_id" = String, Path), MessageParams),
    responses((status = 200, body = ConversationDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<App>,
    Authenticated(account): Authenticated,
    ApiPath(id): ApiPath,
    ApiQuery(params): ApiQuery<MessageParams>,
) -> ApiResult<Json<ConversationDetail>> {
    Ok(Json(
        conversations::get(&state, &account, &id, &params).await?,
    ))
}
