//! Campaign use cases: create (validated, idempotent), read with counts, list, cancel, launch,
//! pause and resume.

use time::OffsetDateTime;

use super::page::{Page, page_size, parse_cursor, rows_to_read};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::campaign::{
    self, AccountContext, CampaignPlan, CampaignRequest, Duplicate, MisshapenRequest, NewRecipient,
    RecipientChecker, RecipientInput, RecipientOutcome, Recipients, Schedule,
};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::status::{CampaignStatus, RecipientStatus, Source};
use crate::service::views::{
    CampaignDetail, CampaignList, CampaignView, CreatedCampaign, ListParams, RecipientParams,
};
use crate::store::{
    Created, IdempotencyKey, NewCampaign, RecipientQuery, RecipientSource, Store, StoreError,
    StoreResult,
};

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
///
/// How, for a large request: the campaign-wide checks run first ([`campaign::plan`]); then
/// the store reads the recipients chunk by chunk inside its transaction, each chunk checked
/// and rendered as it is asked for ([`CheckedRecipients`]). The first invalid recipient
/// stops the writing: every remaining recipient is still checked, so the 422 lists every
/// problem, exactly as a check of the whole request would, and the transaction rolls back.
/// So the peak memory is the request plus one chunk, not the request plus every rendered
/// recipient.
pub async fn create<L: Recipients + Sync>(
    app: &App,
    account: &AccountId,
    request: &CampaignRequest<L>,
    source: Source,
    idempotency: Option<&IdempotencyKey>,
) -> ServiceResult<CreateOutcome> {
    create_with(app, account, request, source, idempotency, None).await
}

/// [`create`], recording that the campaign resends `resend_of` (which must be the account's
/// and finished: 404 or 409 otherwise).
pub async fn create_with<L: Recipients + Sync>(
    app: &App,
    account: &AccountId,
    request: &CampaignRequest<L>,
    source: Source,
    idempotency: Option<&IdempotencyKey>,
    resend_of: Option<&CampaignId>,
) -> ServiceResult<CreateOutcome> {
    if let Some(original) = resend_of {
        app.store
            .get_campaign(account, original)
            .await
            .map_err(ServiceError::from_store("campaign"))?
            .status
            .may_resend()
            .map_err(|e| ServiceError::Conflict(e.0))?;
    }
    let store = app.store.as_ref();
    let limits = &app.settings.limits;
    let now = OffsetDateTime::now_utc();
    let started = std::time::Instant::now();
    let ctx = super::consents::campaign_context(store, account, request).await?;
    let plan = campaign::plan(request, &ctx, limits, now);
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
    let (status, scheduled_at) = match plan.schedule {
        Schedule::Now => (CampaignStatus::Running, None),
        Schedule::At(t) => (CampaignStatus::Scheduled, Some(t)),
        Schedule::Draft(t) => (CampaignStatus::Draft, t),
    };
    let new = NewCampaign {
        id: CampaignId::generate(),
        account_id: account.clone(),
        name: plan.name.clone(),
        message_template: plan.message_template.clone().unwrap_or_default(),
        agent_id: plan.agent_id.clone(),
        from_numbers: plan
            .from_numbers
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        status,
        source,
        scheduled_at,
        require_consent: plan.require_consent,
        respect_send_window: plan.respect_send_window,
        send_window_reason: plan.send_window_reason.clone(),
        created_at: now,
        resend_of: resend_of.cloned(),
    };
    let mut recipients = CheckedRecipients::new(plan.checker(&ctx), list.iter(), len);
    let created = store
        .create_campaign(&new, &mut recipients, idempotency)
        .await;
    let created = match created {
        Ok(created) => created,
        Err(StoreError::Refused) => return Err(ServiceError::Validation(recipients.errors)),
        // A key used before: as when every check ran before storing, an invalid request is a
        // 422 even then (the store read none of the recipients).
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
    tracing::debug!(
        recipients = len,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "campaign created"
    );
    let (id, replayed, duplicates) = match created {
        Created::New(id) => (id, false, recipients.duplicates),
        Created::Replayed(id) => {
            let errors = recipient_errors(&plan, &ctx, list);
            if !errors.is_empty() {
                return Err(ServiceError::Validation(errors));
            }
            (id, true, Vec::new())
        }
    };
    let stored = store
        .get_campaign(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    if !replayed {
        // A `now` campaign starts within a tick instead of at the next one.
        app.engine.wake();
    }
    let tallies = store
        .campaign_tallies(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    let progress =
        super::eta::progress(store, account, &stored, &tallies, OffsetDateTime::now_utc()).await?;
    Ok(CreateOutcome {
        campaign: CreatedCampaign {
            campaign: stored.into(),
            duplicates,
            progress,
        },
        replayed,
    })
}

/// The refusal of a create (or preview) body that did not read ([`MisshapenRequest`]): every
/// field of the wrong type, then every problem create finds in the fields that did read (a
/// missing name, an unknown sender, a bad phone, ...), except those a type error explains.
/// Nothing is stored. Why: one 422 names every bad field, never only the first.
pub async fn refuse_misshapen(
    app: &App,
    account: &AccountId,
    body: &MisshapenRequest,
) -> ServiceError {
    let store = app.store.as_ref();
    let ctx = match super::consents::campaign_context(store, account, &body.request).await {
        Ok(ctx) => ctx,
        Err(e) => return e,
    };
    let plan = campaign::plan(
        &body.request,
        &ctx,
        &app.settings.limits,
        OffsetDateTime::now_utc(),
    );
    let mut errors = plan.errors.clone();
    if let (Some(list), Some(_)) = (body.request.recipients.as_ref(), plan.recipients) {
        errors.extend(recipient_errors(&plan, &ctx, list));
    }
    ServiceError::Validation(body.with_value_errors(errors))
}

/// Every problem of the recipients, in request order (none when all are fine).
pub(super) fn recipient_errors<L: Recipients>(
    plan: &CampaignPlan,
    ctx: &AccountContext,
    list: &L,
) -> Vec<FieldError> {
    let mut checker = plan.checker(ctx);
    let mut errors = Vec::new();
    for (i, r) in list.iter().enumerate() {
        if let RecipientOutcome::Invalid(e) = checker.check(i, &r) {
            errors.extend(e);
        }
    }
    errors
}

/// A create request's recipients as a [`RecipientSource`]: each chunk is checked and
/// rendered when the store asks for it. On the first invalid recipient it checks the rest
/// (for the complete list of problems, in `errors`) and refuses.
pub(super) struct CheckedRecipients<'a, I> {
    checker: RecipientChecker<'a>,
    list: I,
    /// Index of the next entry.
    next: usize,
    /// How many entries the request lists.
    len: usize,
    chunk: Vec<NewRecipient>,
    pub(super) duplicates: Vec<Duplicate>,
    pub(super) errors: Vec<FieldError>,
}

impl<'a, I: Iterator<Item: RecipientInput>> CheckedRecipients<'a, I> {
    pub(super) fn new(checker: RecipientChecker<'a>, list: I, len: usize) -> Self {
        Self {
            checker,
            list,
            next: 0,
            len,
            chunk: Vec::new(),
            duplicates: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Checks every entry not checked yet, keeping only their problems.
    fn refuse(&mut self) -> StoreError {
        self.chunk = Vec::new();
        for r in self.list.by_ref() {
            if let RecipientOutcome::Invalid(e) = self.checker.check(self.next, &r) {
                self.errors.extend(e);
            }
            self.next += 1;
        }
        StoreError::Refused
    }
}

impl<I: Iterator<Item: RecipientInput> + Send> RecipientSource for CheckedRecipients<'_, I> {
    fn next_chunk(&mut self, max: usize) -> StoreResult<&[NewRecipient]> {
        self.chunk.clear();
        while self.chunk.len() < max {
            let Some(r) = self.list.next() else {
                if self.next != self.len {
                    // The list ended early: never, but refused rather than stored short.
                    self.errors.push(FieldError::new(
                        format!("recipients[{}]", self.next),
                        "could not be read",
                    ));
                    return Err(self.refuse());
                }
                break;
            };
            let index = self.next;
            self.next += 1;
            match self.checker.check(index, &r) {
                RecipientOutcome::Sendable(r) => match r.into_new_recipient() {
                    Some(new) => self.chunk.push(new),
                    // Unreachable: the plan has a template and a sender. Refused rather than
                    // dropped, so nothing is ever partial.
                    None => {
                        self.errors.push(FieldError::new(
                            format!("recipients[{index}]"),
                            "could not be prepared for sending",
                        ));
                        return Err(self.refuse());
                    }
                },
                RecipientOutcome::Duplicate(d) => self.duplicates.push(d),
                RecipientOutcome::Invalid(e) => {
                    self.errors.extend(e);
                    return Err(self.refuse());
                }
            }
        }
        Ok(&self.chunk)
    }

    fn take_chunk(&mut self, max: usize) -> StoreResult<Vec<NewRecipient>> {
        self.next_chunk(max)?;
        Ok(std::mem::take(&mut self.chunk))
    }

    fn duplicates_removed(&self) -> u64 {
        self.duplicates.len() as u64
    }
}

pub(super) fn parse_campaign_id(raw: &str) -> ServiceResult<CampaignId> {
    CampaignId::parse(raw).ok_or(ServiceError::NotFound("campaign"))
}

/// One campaign with counts and a page of recipients.
pub async fn get(
    app: &App,
    account: &AccountId,
    id: &str,
    params: &RecipientParams,
) -> ServiceResult<CampaignDetail> {
    let store = app.store.as_ref();
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
    let recipients = store
        .list_recipients(
            account,
            &id,
            &RecipientQuery {
                status,
                after,
                limit: rows_to_read(limit),
            },
        )
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    let page = Page::from_rows(recipients, limit, |r| r.position.to_string());
    // The held count, errors and queues come from the database's caches (migrations/*/0015):
    // a few rows whatever the campaign's size.
    let tallies = store
        .campaign_tallies(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    let progress = super::eta::progress(
        store,
        account,
        &campaign,
        &tallies,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let errors = tallies.errors;
    Ok(CampaignDetail {
        held_count: tallies.held,
        progress,
        campaign: campaign.into(),
        recipients: page.rows.into_iter().map(Into::into).collect(),
        recipients_next_cursor: page.next_cursor,
        errors: errors.into_iter().map(Into::into).collect(),
    })
}

/// The account's campaigns, newest first, each with its counts.
pub async fn list(
    app: &App,
    account: &AccountId,
    params: &ListParams,
) -> ServiceResult<CampaignList> {
    let store = app.store.as_ref();
    let limit = page_size("limit", params.limit, 50, 500)?;
    let before = parse_cursor("cursor", params.cursor.as_deref())?;
    let campaigns = store
        .list_campaigns(account, before, rows_to_read(limit))
        .await?;
    let page = Page::from_rows(campaigns, limit, |c| c.seq.to_string());
    Ok(CampaignList {
        campaigns: page.rows.into_iter().map(CampaignView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Cancels a draft, scheduled, running or paused campaign; already-sent messages stay as they
/// are.
pub async fn cancel(app: &App, account: &AccountId, id: &str) -> ServiceResult<CampaignView> {
    let store = app.store.as_ref();
    let id = parse_campaign_id(id)?;
    store
        .cancel_campaign(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    // Lanes drop the campaign's queued messages at once rather than at their next claim.
    app.engine.campaign_cancelled(id.as_str());
    view(store, account, &id).await
}

/// Pauses a running or scheduled campaign: nothing more is claimed for it on any node; what
/// is in flight finishes and is tracked (docs/ARCHITECTURE.md §3).
pub async fn pause(app: &App, account: &AccountId, id: &str) -> ServiceResult<CampaignView> {
    let store = app.store.as_ref();
    let id = parse_campaign_id(id)?;
    store
        .pause_campaign(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    // This node's lanes give back what they claimed at once (the others at their refresh).
    app.engine.campaign_paused(id.as_str());
    view(store, account, &id).await
}

/// Resumes a paused campaign where it stopped: `running`, or `scheduled` if its time has not
/// come. Only recipients never sent are claimed again, so nobody is texted twice.
pub async fn resume(app: &App, account: &AccountId, id: &str) -> ServiceResult<CampaignView> {
    let store = app.store.as_ref();
    let id = parse_campaign_id(id)?;
    store
        .resume_campaign(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    app.engine.campaign_resumed(id.as_str());
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
pub async fn launch(app: &App, account: &AccountId, id: &str) -> ServiceResult<CampaignView> {
    let store = app.store.as_ref();
    let id = parse_campaign_id(id)?;
    store
        .launch_campaign(account, &id, OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    app.engine.wake();
    view(store, account, &id).await
}
