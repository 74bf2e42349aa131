//! Campaign use cases: create (validated, idempotent), read with counts, list, cancel, launch.

use time::OffsetDateTime;

use super::{ServiceError, ServiceResult};
use crate::api::{
    CampaignDetail, CampaignList, CampaignView, CreatedCampaign, ListParams, RecipientParams,
};
use crate::domain::campaign::{self, CampaignRequest, Limits, Schedule};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::status::{CampaignStatus, RecipientStatus, Source};
use crate::store::{Created, IdempotencyKey, NewCampaign, RecipientQuery, Store};

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Checks an `Idempotency-Key` header value and pairs it with the request's hash.
pub fn idempotency_key(raw: &str, request_hash: Vec<u8>) -> ServiceResult<IdempotencyKey> {
    let key = raw.trim();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(ServiceError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(IdempotencyKey {
        key: key.to_owned(),
        request_hash,
    })
}

/// What a create did: the campaign, and whether an earlier identical request made it.
#[derive(Debug)]
pub struct CreateOutcome {
    /// The campaign (the first one, on a replay).
    pub campaign: CreatedCampaign,
    /// True when the `Idempotency-Key` matched an earlier request.
    pub replayed: bool,
}

/// Validates and stores a campaign; nothing is stored unless everything is valid.
pub async fn create(
    store: &dyn Store,
    limits: &Limits,
    account: &AccountId,
    request: &CampaignRequest,
    source: Source,
    idempotency: Option<&IdempotencyKey>,
) -> ServiceResult<CreateOutcome> {
    let now = OffsetDateTime::now_utc();
    let started = std::time::Instant::now();
    let ctx = super::consents::campaign_context(store, account, request).await?;
    let valid = campaign::validate(request, &ctx, limits, now).map_err(ServiceError::Validation)?;
    let validated = started.elapsed();
    let (status, scheduled_at) = match valid.schedule {
        Schedule::Now => (CampaignStatus::Running, None),
        Schedule::At(t) => (CampaignStatus::Scheduled, Some(t)),
        Schedule::Draft(t) => (CampaignStatus::Draft, t),
    };
    let new = NewCampaign {
        id: CampaignId::generate(),
        account_id: account.clone(),
        name: valid.name,
        message_template: valid.message_template,
        agent_id: valid.agent_id,
        from_numbers: valid
            .from_numbers
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        status,
        source,
        scheduled_at,
        duplicates_removed: valid.duplicates.len() as u64,
        require_consent: valid.require_consent,
        recipients: valid.recipients,
        created_at: now,
    };
    let created = store
        .create_campaign(&new, idempotency)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    tracing::debug!(
        recipients = new.recipients.len(),
        validate_ms = validated.as_millis() as u64,
        store_ms = (started.elapsed() - validated).as_millis() as u64,
        "campaign created"
    );
    let (id, replayed, duplicates) = match created {
        Created::New(id) => (id, false, valid.duplicates),
        Created::Replayed(id) => (id, true, Vec::new()),
    };
    let stored = store
        .get_campaign(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    Ok(CreateOutcome {
        campaign: CreatedCampaign {
            campaign: stored.into(),
            duplicates,
        },
        replayed,
    })
}

fn parse_campaign_id(raw: &str) -> ServiceResult<CampaignId> {
    CampaignId::parse(raw).ok_or(ServiceError::NotFound("campaign"))
}

/// Reads a paging cursor this API handed out (also used by the preview's recipient pages).
pub(super) fn parse_cursor(field: &str, raw: Option<&str>) -> ServiceResult<Option<i64>> {
    raw.map(|c| {
        c.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ServiceError::invalid(field, "is not a cursor this API returned"))
    })
    .transpose()
}

/// Checks a page size against its bounds (also used by the preview's recipient pages).
pub(super) fn page_size(
    field: &str,
    raw: Option<u32>,
    default: u32,
    max: u32,
) -> ServiceResult<u32> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ServiceError::invalid(
            field,
            format!("must be between 1 and {max}"),
        )),
    }
}

/// One campaign with counts and a page of recipients.
pub async fn get(
    store: &dyn Store,
    account: &AccountId,
    id: &str,
    params: &RecipientParams,
) -> ServiceResult<CampaignDetail> {
    let id = parse_campaign_id(id)?;
    let limit = page_size("recipients_limit", params.recipients_limit, 100, 1_000)?;
    let after = parse_cursor("recipients_cursor", params.recipients_cursor.as_deref())?;
    let status = params
        .recipient_status
        .as_deref()
        .map(|s| {
            RecipientStatus::parse(s).ok_or_else(|| {
                ServiceError::invalid(
                    "recipient_status",
                    "must be one of pending, queued, sent, delivered, undelivered, failed, cancelled",
                )
            })
        })
        .transpose()?;
    let campaign = store
        .get_campaign(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    let mut recipients = store
        .list_recipients(
            account,
            &id,
            &RecipientQuery {
                status,
                after,
                limit: limit + 1,
            },
        )
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    let next = if recipients.len() > limit as usize {
        recipients.truncate(limit as usize);
        recipients.last().map(|r| r.position.to_string())
    } else {
        None
    };
    Ok(CampaignDetail {
        campaign: campaign.into(),
        recipients: recipients.into_iter().map(Into::into).collect(),
        recipients_next_cursor: next,
    })
}

/// The account's campaigns, newest first, each with its counts.
pub async fn list(
    store: &dyn Store,
    account: &AccountId,
    params: &ListParams,
) -> ServiceResult<CampaignList> {
    let limit = page_size("limit", params.limit, 50, 500)?;
    let before = parse_cursor("cursor", params.cursor.as_deref())?;
    let mut campaigns = store.list_campaigns(account, before, limit + 1).await?;
    let next = if campaigns.len() > limit as usize {
        campaigns.truncate(limit as usize);
        campaigns.last().map(|c| c.seq.to_string())
    } else {
        None
    };
    Ok(CampaignList {
        campaigns: campaigns.into_iter().map(CampaignView::from).collect(),
        next_cursor: next,
    })
}

/// Cancels a draft, scheduled or running campaign; already-sent messages stay as they are.
pub async fn cancel(
    store: &dyn Store,
    account: &AccountId,
    id: &str,
) -> ServiceResult<CampaignView> {
    let id = parse_campaign_id(id)?;
    store
        .cancel_campaign(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    view(store, account, &id).await
}

/// The campaign as the API shows it after a change.
async fn view(
    store: &dyn Store,
    account: &AccountId,
    id: &CampaignId,
) -> ServiceResult<CampaignView> {
    Ok(store
        .get_campaign(account, id)
        .await
        .map_err(ServiceError::from_store("campaign"))?
        .into())
}

/// Launches a draft: now, or at its `scheduled_at` if that is still ahead.
pub async fn launch(
    store: &dyn Store,
    account: &AccountId,
    id: &str,
) -> ServiceResult<CampaignView> {
    let id = parse_campaign_id(id)?;
    store
        .launch_campaign(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    view(store, account, &id).await
}
