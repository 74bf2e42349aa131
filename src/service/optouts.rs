//! Opt-out use cases: the account's suppression list, added to and taken from by hand.
//! (STOP keywords and Twilio's 21610 add to it on their own; see `inbound` and the engine.)

use time::OffsetDateTime;

use super::page::{Page, page_size, rows_to_read};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::consent::{MAX_EVIDENCE_CHARS, sources};
use crate::domain::ids::AccountId;
use crate::domain::phone::Phone;
use crate::service::views::replies::{
    ConsentView, OptOutList, OptOutParams, OptOutRequest, OptOutView,
};
use crate::store::ConsentEvent;

/// The account's opt-outs, newest first.
pub async fn list(
    app: &App,
    account: &AccountId,
    params: &OptOutParams,
) -> ServiceResult<OptOutList> {
    let store = app.store.as_ref();
    let limit = page_size("limit", params.limit, 100, 1_000)?;
    let before = params.cursor.as_deref().map(parse_cursor).transpose()?;
    let list = store
        .list_opt_outs(account, before, rows_to_read(limit))
        .await?;
    let page = Page::from_rows(list, limit, |o| {
        format!(
            "{}_{}",
            o.created_at.unix_timestamp_nanos() / 1_000_000,
            o.phone
        )
    });
    Ok(OptOutList {
        opt_outs: page.rows.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    })
}

/// One number's opt-out; 404 when the number is not opted out.
pub async fn get(app: &App, account: &AccountId, phone: &str) -> ServiceResult<OptOutView> {
    let store = app.store.as_ref();
    let phone = Phone::parse(phone).map_err(|_| ServiceError::NotFound("opt-out"))?;
    store
        .get_opt_out(account, phone.as_str())
        .await?
        .map(Into::into)
        .ok_or(ServiceError::NotFound("opt-out"))
}

/// A cursor is `<created_at ms>_<phone>`, as [`list`] hands them out.
fn parse_cursor(raw: &str) -> ServiceResult<(OffsetDateTime, String)> {
    raw.split_once('_')
        .and_then(|(ms, phone)| {
            let ms: i64 = ms.parse().ok()?;
            let at = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()?;
            Some((at, phone.to_owned()))
        })
        .ok_or_else(|| ServiceError::invalid("cursor", "is not a cursor this API returned"))
}

fn reason(raw: Option<&str>, required: bool) -> Result<Option<String>, FieldError> {
    // Counted as sent (the document's maxLength), stored trimmed.
    let chars = raw.map_or(0, |r| r.chars().count());
    match raw.map(str::trim) {
        None | Some("") if required => Err(FieldError::new(
            "reason",
            "is required: say why this number may be messaged again (it is kept as evidence)",
        )),
        None | Some("") => Ok(None),
        Some(_) if chars > MAX_EVIDENCE_CHARS => Err(FieldError::new(
            "reason",
            format!("must be at most {MAX_EVIDENCE_CHARS} characters"),
        )),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

/// Puts a number on the opt-out list (with a `revoked` consent record). Returns the entry and
/// whether it is new (an existing entry is returned unchanged).
pub async fn add(
    app: &App,
    account: &AccountId,
    req: &OptOutRequest,
) -> ServiceResult<(OptOutView, bool)> {
    let store = app.store.as_ref();
    let mut errors = Vec::new();
    let phone = match req.phone.as_deref() {
        None => {
            errors.push(FieldError::new("phone", "is required"));
            None
        }
        Some(raw) => Phone::parse(raw)
            .map_err(|e| errors.push(FieldError::new("phone", e.to_string())))
            .ok(),
    };
    let reason = reason(req.reason.as_deref(), false)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let (Some(phone), true) = (phone, errors.is_empty()) else {
        return Err(ServiceError::Validation(errors));
    };
    let now = OffsetDateTime::now_utc();
    let event = ConsentEvent {
        phone: phone.as_str().to_owned(),
        source: sources::API.to_owned(),
        evidence: reason.clone(),
        at: now,
    };
    let created = store.opt_out(account, &event, reason.as_deref()).await?;
    app.engine.phone_opted_out(account.as_str(), phone.as_str());
    let entry = store
        .get_opt_out(account, phone.as_str())
        .await?
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("a stored opt-out went missing")))?;
    Ok((entry.into(), created))
}

/// Takes a number off the opt-out list; the reason is required and becomes the evidence of the
/// `granted` consent record written with it. 404 when the number is not opted out.
pub async fn remove(
    app: &App,
    account: &AccountId,
    phone: &str,
    reason_text: Option<&str>,
) -> ServiceResult<ConsentView> {
    let store = app.store.as_ref();
    let phone = Phone::parse(phone).map_err(|_| ServiceError::NotFound("opt-out"))?;
    let reason = reason(reason_text, true).map_err(|e| ServiceError::Validation(vec![e]))?;
    let event = ConsentEvent {
        phone: phone.as_str().to_owned(),
        source: sources::API.to_owned(),
        evidence: reason,
        at: OffsetDateTime::now_utc(),
    };
    let record = store
        .remove_opt_out(account, &event)
        .await
        .map_err(ServiceError::from_store("opt-out"))?;
    app.engine.phone_opted_in(account.as_str(), phone.as_str());
    Ok(record.into())
}
