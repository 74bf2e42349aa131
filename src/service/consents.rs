//! Consent use cases: record one consent, import many from CSV, read the history, and the
//! consent half of a campaign's account context (`require_consent`).

use time::OffsetDateTime;

use super::page::{Page, page_size, parse_cursor, rows_to_read};
use super::{App, ServiceError, ServiceResult};
use crate::domain::campaign::{AccountContext, CampaignRequest};
use crate::domain::consent::{self, ConsentInput, ConsentRequest, ConsentStatus};
use crate::domain::ids::{AccountId, ConsentId};
use crate::domain::phone::Phone;
use crate::service::views::replies::{
    ConsentImport, ConsentImportParams, ConsentList, ConsentParams, ConsentView, PhoneConsent,
};
use crate::store::{NewConsent, Store};

/// What validating a campaign request needs: the account context, plus the numbers with
/// granted consent when the request has `require_consent` (read only then: it can be large).
pub(super) async fn campaign_context<L: Sync>(
    store: &dyn Store,
    account: &AccountId,
    request: &CampaignRequest<L>,
) -> ServiceResult<AccountContext> {
    let mut ctx = store.account_context(account).await?;
    if request.require_consent == Some(true) {
        ctx.consented = store.consented_phones(account).await?;
    }
    Ok(ctx)
}

fn new_consent(input: ConsentInput, now: OffsetDateTime) -> NewConsent {
    NewConsent {
        id: ConsentId::generate(),
        phone: input.phone.as_str().to_owned(),
        status: input.status,
        source: input.source,
        evidence: input.evidence,
        occurred_at: input.occurred_at.unwrap_or(now),
    }
}

/// Appends one consent record. A `revoked` record stops `require_consent` campaigns; it does
/// not put the number on the opt-out list (that is STOP, or `POST /v1/opt-outs`), and a
/// `granted` record never takes a number off it.
pub async fn add(
    app: &App,
    account: &AccountId,
    req: &ConsentRequest,
) -> ServiceResult<ConsentView> {
    let store = app.store.as_ref();
    let now = OffsetDateTime::now_utc();
    let input = consent::check_request(req, now).map_err(ServiceError::Validation)?;
    let mut stored = store
        .add_consents(account, &[new_consent(input, now)], now)
        .await?;
    stored
        .pop()
        .map(Into::into)
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("a stored consent went missing")))
}

/// Imports a CSV file of consent records, all or nothing (see [`consent::parse_import`]).
/// Parsing runs on the blocking pool: a large file is many phone parses.
pub async fn import(
    app: &App,
    account: &AccountId,
    body: impl AsRef<[u8]> + Send + 'static,
    params: &ConsentImportParams,
) -> ServiceResult<ConsentImport> {
    let store = app.store.as_ref();
    let now = OffsetDateTime::now_utc();
    let region = params.default_country.clone();
    let rows = tokio::task::spawn_blocking(move || {
        consent::parse_import(body.as_ref(), region.as_deref(), now)
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::Error::new(e).context("parsing a consent import")))?
    .map_err(ServiceError::Validation)?;
    let records: Vec<NewConsent> = rows.into_iter().map(|r| new_consent(r, now)).collect();
    let granted = records
        .iter()
        .filter(|r| r.status == ConsentStatus::Granted)
        .count();
    store.add_consents(account, &records, now).await?;
    Ok(ConsentImport {
        imported: records.len(),
        granted,
        revoked: records.len() - granted,
    })
}

/// The account's consent records, newest first, optionally of one number.
pub async fn list(
    app: &App,
    account: &AccountId,
    params: &ConsentParams,
) -> ServiceResult<ConsentList> {
    let store = app.store.as_ref();
    let limit = page_size("limit", params.limit, 100, 1_000)?;
    let before = parse_cursor("cursor", params.cursor.as_deref())?;
    let phone = params
        .phone
        .as_deref()
        .map(|p| Phone::parse(p).map_err(|e| ServiceError::invalid("phone", e.to_string())))
        .transpose()?;
    let records = store
        .list_consents(
            account,
            phone.as_ref().map(Phone::as_str),
            before,
            rows_to_read(limit),
        )
        .await?;
    let page = Page::from_rows(records, limit, |r| r.seq.to_string());
    Ok(ConsentList {
        consents: page.rows.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    })
}

/// One number's consent now and its history. A number never heard of answers with no status
/// and no records (not 404: "no consent" is an answer).
pub async fn for_phone(app: &App, account: &AccountId, phone: &str) -> ServiceResult<PhoneConsent> {
    let store = app.store.as_ref();
    let phone = Phone::parse(phone).map_err(|_| ServiceError::NotFound("phone"))?;
    let status = store.consent_status(account, phone.as_str()).await?;
    let opted_out = store.is_opted_out(account, phone.as_str()).await?;
    let records = store
        .list_consents(account, Some(phone.as_str()), None, 1_000)
        .await?;
    Ok(PhoneConsent {
        phone: phone.as_str().to_owned(),
        status,
        sendable_with_consent: status == Some(ConsentStatus::Granted) && !opted_out,
        opted_out,
        consents: records.into_iter().map(Into::into).collect(),
    })
}
