//! Resend: a new campaign of the recipients of a finished campaign who are in the statuses
//! asked for (those who did not get it), with their variables, the same template and numbers.

use serde::Deserialize;

use super::campaigns::{self, CreateOutcome};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::campaign::{CampaignRequest, RecipientRequest, ScheduleType};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::status::{RecipientStatus, Source};
use crate::service::views::CampaignView;
use crate::store::RecipientQuery;

/// Recipients read from the store per page.
const PAGE: u32 = 1_000;

/// The body of `POST /v1/sms/campaigns/{id}/resend`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// The recipient statuses to send to again, e.g. `["failed", "undelivered", "sent"]`.
    #[serde(default)]
    #[schema(required = true, nullable = false, min_items = 1)]
    pub statuses: Option<Vec<RecipientStatus>>,
    /// `now`, `schedule` (with `scheduled_at`) or `draft`, as on create.
    #[serde(default)]
    #[schema(required = true, nullable = false)]
    pub schedule_type: Option<ScheduleType>,
    /// RFC 3339 time to start, with `schedule` (required) or `draft` (optional).
    #[serde(default)]
    pub scheduled_at: Option<String>,
    /// The new campaign's name; by default the original's followed by " (resend)".
    #[serde(default)]
    pub name: Option<String>,
}

/// The campaign to resend (it must be done, failed or cancelled) and its recipients in
/// `statuses`, in their original order, as a create reads them.
pub async fn recipients_to_resend(
    app: &App,
    account: &AccountId,
    id: &str,
    statuses: &[RecipientStatus],
) -> ServiceResult<(CampaignView, Vec<RecipientRequest>)> {
    let store = app.store.as_ref();
    let id = CampaignId::parse(id).ok_or(ServiceError::NotFound("campaign"))?;
    let campaign = store
        .get_campaign(account, &id)
        .await
        .map_err(ServiceError::from_store("campaign"))?;
    campaign
        .status
        .may_resend()
        .map_err(|e| ServiceError::Conflict(e.0))?;
    let mut recipients = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_recipients(
                account,
                &id,
                &RecipientQuery {
                    status: None,
                    after,
                    limit: PAGE,
                },
            )
            .await
            .map_err(ServiceError::from_store("campaign"))?;
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        recipients.extend(
            page.into_iter()
                .filter(|r| statuses.contains(&r.status))
                .map(|r| RecipientRequest {
                    phone: Some(r.phone),
                    variables: Some(r.variables),
                }),
        );
    }
    Ok((campaign.into(), recipients))
}

/// The create request of a resend of `source` to `recipients`.
pub fn resend_request(
    source: &CampaignView,
    recipients: Vec<RecipientRequest>,
    schedule_type: ScheduleType,
    scheduled_at: Option<String>,
    name: Option<String>,
) -> CampaignRequest {
    let (from_number, from_numbers) = match source.from_numbers.as_slice() {
        [one] => (Some(one.clone()), None),
        many => (None, Some(many.to_vec())),
    };
    CampaignRequest {
        agent_id: source.agent_id.clone(),
        from_number,
        from_numbers,
        name: Some(name.unwrap_or_else(|| default_name(&source.name))),
        message_template: Some(source.message_template.clone()),
        recipients: Some(recipients),
        schedule_type: Some(schedule_type),
        scheduled_at,
        require_consent: Some(source.require_consent),
        default_country: None,
        respect_send_window: Some(source.respect_send_window),
        send_window_reason: source.send_window_reason.clone(),
    }
}

/// The name of a resend when none is given.
pub fn default_name(original: &str) -> String {
    let name = format!("{original} (resend)");
    if name.chars().count() <= crate::domain::campaign::MAX_NAME_CHARS {
        name
    } else {
        original.to_owned()
    }
}

/// Creates the resend (201 with the new campaign, `resend_of` set). Only of a done, failed or
/// cancelled campaign (409 otherwise); people who opted out since are handled as at create
/// (kept, never sent, `failed` with `opted_out`). Validation errors name the request's field.
pub async fn resend(
    app: &App,
    account: &AccountId,
    id: &str,
    request: &ResendRequest,
) -> ServiceResult<CreateOutcome> {
    let mut errors = Vec::new();
    let statuses = match request.statuses.as_deref() {
        None => {
            errors.push(FieldError::new("statuses", "is required"));
            Vec::new()
        }
        Some([]) => {
            errors.push(FieldError::new(
                "statuses",
                "must list at least one recipient status",
            ));
            Vec::new()
        }
        Some(s) => s.to_vec(),
    };
    if request.schedule_type.is_none() {
        errors.push(FieldError::new(
            "schedule_type",
            "is required: now, schedule or draft",
        ));
    }
    if let Some(name) = &request.name
        && name.trim().is_empty()
    {
        errors.push(FieldError::new("name", "must not be empty"));
    }
    // A missing campaign is 404 before anything else; a bad body is 422 before a 409.
    let (source, recipients) = match recipients_to_resend(app, account, id, &statuses).await {
        Err(ServiceError::Conflict(m)) if errors.is_empty() => {
            return Err(ServiceError::Conflict(m));
        }
        Err(ServiceError::Conflict(_)) => return Err(ServiceError::Validation(errors)),
        Err(e) => return Err(e),
        Ok(found) => found,
    };
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    if recipients.is_empty() {
        return Err(ServiceError::invalid(
            "statuses",
            "no recipient of the campaign has these statuses",
        ));
    }
    let create = resend_request(
        &source,
        recipients,
        request.schedule_type.unwrap_or_default(),
        request.scheduled_at.clone(),
        request.name.clone(),
    );
    let from = CampaignId::parse(&source.campaign_id).ok_or(ServiceError::NotFound("campaign"))?;
    campaigns::create_with(app, account, &create, Source::Api, None, Some(&from)).await
}
