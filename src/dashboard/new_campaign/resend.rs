//! "Resend to the N who did not get it": a finished campaign's recipients who were not
//! delivered become a new draft, shown in the usual preview before anything is sent.

use crate::dashboard::forms::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};

use super::form::count_countries;
use super::{DraftData, DraftRecipient, FormFields, Parsed};
use crate::dashboard::auth::CsrfForm;
use crate::dashboard::error::PageResult;
use crate::dashboard::flash::{FlashKind, redirect_with};
use crate::dashboard::signed_in::{CurrentUser, check_csrf, urlencode};
use crate::domain::status::{CampaignStatus, RecipientStatus};
use crate::service::resend::{default_name, recipients_to_resend};
use crate::service::{App, ServiceError, drafts};

/// The statuses of those who did not get a campaign: failed at Twilio or before, refused by
/// the carrier, only handed to the carrier (`sent`, counted as failed), or never sent
/// because the campaign was cancelled.
pub const NOT_DELIVERED: [RecipientStatus; 4] = [
    RecipientStatus::Failed,
    RecipientStatus::Undelivered,
    RecipientStatus::Sent,
    RecipientStatus::Cancelled,
];

/// Makes a draft of the campaign's recipients who did not get it and shows its preview.
pub async fn resend(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let back = format!("/campaigns/{}", urlencode(&id));
    let (source, recipients) =
        match recipients_to_resend(&state, &user.account_id, &id, &NOT_DELIVERED).await {
            Ok(found) => found,
            Err(ServiceError::Conflict(m)) => {
                return Ok(redirect_with(
                    &back,
                    FlashKind::Warning,
                    format!("Nothing to resend: {m}."),
                ));
            }
            Err(e) => return Err(e.into()),
        };
    if recipients.is_empty() {
        return Ok(redirect_with(
            &back,
            FlashKind::Warning,
            "Nothing to resend: everyone got this campaign.",
        ));
    }
    let mut variables: Vec<String> = Vec::new();
    let recipients: Vec<DraftRecipient> = recipients
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let vars = r.variables.unwrap_or_default();
            for name in vars.keys() {
                if !variables.contains(name) {
                    variables.push(name.clone());
                }
            }
            DraftRecipient {
                phone: r.phone.unwrap_or_default(),
                variables: vars,
                line: i + 1,
                converted_from: None,
            }
        })
        .collect();
    variables.sort();
    let mut parsed = Parsed {
        recipients,
        variables,
        ..Parsed::default()
    };
    parsed.countries = count_countries(&parsed.recipients).await;
    let data = DraftData {
        form: FormFields {
            name: default_name(&source.name),
            from_numbers: source.from_numbers.clone(),
            agent_id: source.agent_id.clone().unwrap_or_default(),
            message_template: source.message_template.clone(),
            require_consent: source.require_consent,
            ..FormFields::default()
        },
        parsed,
        resend_of: Some(source.campaign_id.clone()),
    };
    let data = serde_json::to_string(&data)
        .map_err(|e| crate::dashboard::error::PageError::Internal(anyhow::Error::new(e)))?;
    let draft = drafts::save(&state, &user, data, None).await?;
    Ok(Redirect::to(&format!("/campaigns/drafts/{draft}")).into_response())
}

/// How many of a campaign's recipients the resend button offers to text again (none unless
/// it finished).
pub fn resend_count(status: CampaignStatus, failed: u64, cancelled: u64) -> u64 {
    if status.is_finished() {
        failed + cancelled
    } else {
        0
    }
}
