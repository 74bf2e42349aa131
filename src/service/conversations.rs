//! Reading conversations: the list (latest activity first) and one thread with the campaign
//! message it answers, for the dashboard and API users.

use time::OffsetDateTime;

use super::page::{Page, page_size, parse_cursor, rows_to_read};
use super::{App, ServiceError, ServiceResult};
use crate::domain::ids::{AccountId, ConversationId};
use crate::service::views::replies::{
    ConversationDetail, ConversationList, ConversationParams, ConversationView, MessageParams,
};

/// The account's conversations, latest activity first.
pub async fn list(
    app: &App,
    account: &AccountId,
    params: &ConversationParams,
) -> ServiceResult<ConversationList> {
    let store = app.store.as_ref();
    let limit = page_size("limit", params.limit, 50, 500)?;
    let before = params
        .cursor
        .as_deref()
        .map(parse_list_cursor)
        .transpose()?;
    let list = store
        .list_conversations(account, before, rows_to_read(limit))
        .await?;
    let page = Page::from_rows(list, limit, |c| {
        format!(
            "{}_{}",
            c.last_message_at.unix_timestamp_nanos() / 1_000_000,
            c.seq
        )
    });
    Ok(ConversationList {
        conversations: page.rows.into_iter().map(ConversationView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// A list cursor is `<last_message_at ms>_<seq>`, as [`list`] hands them out.
fn parse_list_cursor(raw: &str) -> ServiceResult<(OffsetDateTime, i64)> {
    raw.split_once('_')
        .and_then(|(ms, seq)| {
            let ms: i64 = ms.parse().ok()?;
            let seq: i64 = seq.parse().ok()?;
            let at = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()?;
            Some((at, seq))
        })
        .ok_or_else(|| ServiceError::invalid("cursor", "is not a cursor this API returned"))
}

/// One conversation with its campaign context and a page of messages (oldest first).
pub async fn get(
    app: &App,
    account: &AccountId,
    id: &str,
    params: &MessageParams,
) -> ServiceResult<ConversationDetail> {
    let store = app.store.as_ref();
    let id = ConversationId::parse(id).ok_or(ServiceError::NotFound("conversation"))?;
    let limit = page_size("messages_limit", params.messages_limit, 100, 1_000)?;
    let after = parse_cursor("messages_cursor", params.messages_cursor.as_deref())?;
    let conversation = store
        .get_conversation(account, &id)
        .await
        .map_err(ServiceError::from_store("conversation"))?;
    let context = store
        .latest_campaign_sent(
            account,
            &conversation.our_number,
            &conversation.their_number,
        )
        .await?;
    let messages = store
        .list_messages(account, &id, after, rows_to_read(limit))
        .await
        .map_err(ServiceError::from_store("conversation"))?;
    let page = Page::from_rows(messages, limit, |m| m.seq.to_string());
    Ok(ConversationDetail {
        conversation: conversation.into(),
        context: context.map(Into::into),
        messages: page.rows.into_iter().map(Into::into).collect(),
        messages_next_cursor: page.next_cursor,
    })
}
