//! Appending recipients to a draft: checked exactly as at create, stored in one transaction
//! after those it has, idempotent like create.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::campaigns::{CheckedRecipients, parse_campaign_id, recipient_errors};
use super::{App, ServiceError, ServiceResult};
use crate::domain::campaign::{
    self, AppendRequest, AppendTarget, CampaignPlan, RecipientOutcome, Recipients,
};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::status::CampaignStatus;
use crate::store::{Appended, AppendedRows, IdempotencyKey, StoreError};

/// One entry of an append dropped as a duplicate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppendDuplicate {
    /// Index in this call's `recipients` of the dropped entry.
    pub index: usize,
    /// The phone, normalised.
    pub phone: String,
    /// Index of the entry of this call that was kept; null when the phone was in the
    /// campaign before this call.
    pub first_index: Option<usize>,
}

/// The answer to an append.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppendedRecipients {
    /// `smsc_…`
    pub campaign_id: String,
    /// The campaign's status (a draft).
    pub status: CampaignStatus,
    /// Every recipient of the campaign now.
    pub total_count: u64,
    /// Recipients this call added.
    pub added: u64,
    /// Entries of this call dropped as duplicates: of an earlier entry, or of a recipient the
    /// campaign had already.
    pub duplicates_removed: u64,
    /// Those entries.
    pub duplicates: Vec<AppendDuplicate>,
    /// Of the added, recipients that opted out of the account: kept, and failed with
    /// `opted_out` (as at create).
    pub opted_out: u64,
    /// Of the added, recipients without granted consent (`require_consent`): kept, and failed
    /// with `no_consent`.
    pub no_consent: u64,
}

/// An append's `Idempotency-Key`: the key, with a hash of the campaign and the body, so the
/// same key and body sent to another campaign is another request.
pub fn idempotency_key(
    raw: &str,
    campaign_id: &str,
    body_hash: &[u8],
) -> ServiceResult<IdempotencyKey> {
    let mut hash = Sha256::new();
    hash.update(b"append\0");
    hash.update(campaign_id.as_bytes());
    hash.update(b"\0");
    hash.update(body_hash);
    super::campaigns::idempotency_key(raw, hash.finalize().to_vec())
}

/// What an append did: its answer, and whether an earlier identical request made it.
#[derive(Debug)]
pub struct AppendOutcome {
    /// The answer (the first append's, on a replay, with the campaign's counts of now).
    pub appended: AppendedRecipients,
    /// True when the `Idempotency-Key` matched an earlier request.
    pub replayed: bool,
}

/// Adds recipients to a draft; nothing is stored unless every one is valid. 404 when the
/// campaign is not the account's, 409 when it is not a draft, 422 as at create.
pub async fn append<L: Recipients + Sync>(
    app: &App,
    account: &AccountId,
    id: &str,
    body: AppendRequest<L>,
    idempotency: Option<&IdempotencyKey>,
) -> ServiceResult<AppendOutcome> {
    let store = app.store.as_ref();
    let id = parse_campaign_id(id)?;
    let stored = store
        .get_campaign(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    // Without a key nothing can be replayed: a campaign that is not a draft is refused before
    // its recipients are read. (With one, the store decides: a replay, or the same 409.)
    if stored.status != CampaignStatus::Draft && idempotency.is_none() {
        return Err(not_a_draft(stored.status));
    }
    let target = AppendTarget {
        name: stored.name.clone(),
        message_template: stored.message_template.clone(),
        from_numbers: stored.from_numbers.clone(),
        require_consent: stored.require_consent,
    };
    let request = body.as_create(&target);
    let ctx = super::consents::campaign_context(store, account, &request).await?;
    let now = OffsetDateTime::now_utc();
    let plan = campaign::plan(&request, &ctx, &app.settings.limits, now);
    let (Some(list), Some(len), true) = (
        request.recipients.as_ref(),
        plan.recipients,
        plan.errors.is_empty(),
    ) else {
        let mut errors = plan.errors.clone();
        if let (Some(list), Some(_)) = (request.recipients.as_ref(), plan.recipients) {
            errors.extend(recipient_errors(&plan, &ctx, list));
        }
        return Err(ServiceError::Validation(errors));
    };
    let mut recipients = CheckedRecipients::new(plan.checker(&ctx), list.iter(), len);
    let appended = store
        .append_recipients(account, &id, &mut recipients, idempotency, now)
        .await;
    let (rows, replayed) = match appended {
        Ok(Appended::New(rows)) => (rows, false),
        Ok(Appended::Replayed(rows)) => (rows, true),
        Err(StoreError::Refused) => return Err(ServiceError::Validation(recipients.errors)),
        Err(e @ StoreError::IdempotencyMismatch) => {
            let errors = recipient_errors(&plan, &ctx, list);
            return Err(if errors.is_empty() {
                ServiceError::from_store("campaign")(e)
            } else {
                ServiceError::Validation(errors)
            });
        }
        Err(e) => return Err(ServiceError::from_store("campaign")(e)),
    };
    let duplicates = if !replayed && rows.already_in_campaign.is_empty() {
        recipients
            .duplicates
            .iter()
            .map(|d| AppendDuplicate {
                index: d.index,
                phone: d.phone.clone(),
                first_index: Some(d.first_index),
            })
            .collect()
    } else {
        // A replay, or phones the campaign had: the request read again for the indices.
        drop(recipients);
        let errors = recipient_errors(&plan, &ctx, list);
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        duplicates_of(&plan, &ctx, list, &rows)
    };
    let campaign = store
        .get_campaign(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    Ok(AppendOutcome {
        appended: answer(
            &id,
            campaign.status,
            campaign.counts.total_count,
            rows,
            duplicates,
        ),
        replayed,
    })
}

fn not_a_draft(status: CampaignStatus) -> ServiceError {
    ServiceError::Conflict(format!(
        "only a draft takes more recipients; this campaign is {}",
        status.as_str()
    ))
}

fn answer(
    id: &CampaignId,
    status: CampaignStatus,
    total_count: u64,
    rows: AppendedRows,
    duplicates: Vec<AppendDuplicate>,
) -> AppendedRecipients {
    AppendedRecipients {
        campaign_id: id.to_string(),
        status,
        total_count,
        added: rows.added,
        duplicates_removed: duplicates.len() as u64,
        duplicates,
        opted_out: rows.opted_out,
        no_consent: rows.no_consent,
    }
}

/// Every entry of the request dropped as a duplicate, in request order: of an earlier
/// entry, or (named in `rows`) of a recipient the campaign had before.
fn duplicates_of<L: Recipients>(
    plan: &CampaignPlan,
    ctx: &crate::domain::campaign::AccountContext,
    list: &L,
    rows: &AppendedRows,
) -> Vec<AppendDuplicate> {
    let had: std::collections::HashSet<&str> = rows
        .already_in_campaign
        .iter()
        .map(String::as_str)
        .collect();
    let mut checker = plan.checker(ctx);
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        match checker.check(i, &r) {
            RecipientOutcome::Duplicate(d) => out.push(AppendDuplicate {
                index: d.index,
                phone: d.phone,
                first_index: Some(d.first_index),
            }),
            RecipientOutcome::Sendable(s) if had.contains(s.phone.as_str()) => {
                out.push(AppendDuplicate {
                    index: i,
                    phone: s.phone.as_str().to_owned(),
                    first_index: None,
                })
            }
            _ => {}
        }
    }
    out
}
