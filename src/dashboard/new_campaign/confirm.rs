//! The preview's send form: send now, schedule or save the draft as a campaign, exactly as
//! previewed, once.

use crate::dashboard::forms::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::preview::{SendForm, preview_page};
use super::{Problem, load_draft, plural, problem};
use crate::dashboard::error::{PageError, PageResult, html};
use crate::dashboard::flash::{FlashKind, redirect_with};
use crate::dashboard::signed_in::{CurrentUser, check_csrf, urlencode};
use crate::dashboard::views::When;
use crate::domain::campaign::ScheduleType;
use crate::domain::status::CampaignStatus;
use crate::service::App;
use crate::service::drafts::{self};
use crate::service::{ServiceError, campaigns};

/// The preview's send form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    /// now, schedule or draft.
    #[serde(default)]
    when: String,
    /// `YYYY-MM-DDTHH:MM` from the date-time input.
    #[serde(default)]
    scheduled_at: String,
    /// Minutes east of UTC of the reader's time zone at that date (set by the page script).
    #[serde(default)]
    tz_offset: String,
    /// "yes" when the user accepted that rows with problems are left out.
    #[serde(default)]
    skip_invalid: String,
}

/// Reads the date-time input as a moment: local time at the given offset (UTC without one).
fn schedule_time(raw: &str, tz_offset: &str) -> Result<OffsetDateTime, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let fmt_secs =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let raw = raw.trim();
    let local = PrimitiveDateTime::parse(raw, fmt)
        .or_else(|_| PrimitiveDateTime::parse(raw, fmt_secs))
        .map_err(|_| {
            "Enter the date and time to start sending, such as 20 May 2026 09:00.".to_owned()
        })?;
    let minutes: i32 = match tz_offset.trim() {
        "" => 0,
        m => m
            .parse()
            .ok()
            .filter(|m: &i32| m.abs() <= 18 * 60)
            .ok_or_else(|| "The time zone of your browser could not be read.".to_owned())?,
    };
    let offset = UtcOffset::from_whole_seconds(minutes * 60)
        .map_err(|_| "The time zone of your browser could not be read.".to_owned())?;
    Ok(local.assume_offset(offset).to_offset(UtcOffset::UTC))
}

/// Sends, schedules or saves the previewed draft as a campaign, exactly as previewed.
pub async fn confirm(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let (record, data) = load_draft(&state, &user, &id).await?;
    if let Some(campaign) = &record.campaign_id {
        return Ok(redirect_with(
            &format!("/campaigns/{campaign}"),
            FlashKind::Warning,
            "This campaign was already created; it was not sent again.",
        ));
    }
    let mut errors: Vec<Problem> = Vec::new();
    if !data.parsed.errors.is_empty() && form.skip_invalid != "yes" {
        errors.push(Problem {
            anchor: "skip_invalid",
            text: "Some rows of your list have problems: tick the box to confirm they are left out, or change the list.".into(),
        });
    }
    let at = form.scheduled_at.trim();
    let (schedule, scheduled_at) = match form.when.as_str() {
        "now" if at.is_empty() => (ScheduleType::Now, None),
        "now" => {
            errors.push(Problem {
                anchor: "when",
                text: "You entered a time but chose to send now. Choose “Later” to send at that time, or clear the time.".into(),
            });
            (ScheduleType::Now, None)
        }
        "schedule" | "draft" => {
            let kind = if form.when == "draft" {
                ScheduleType::Draft
            } else {
                ScheduleType::Schedule
            };
            if at.is_empty() && kind == ScheduleType::Draft {
                (kind, None)
            } else {
                match schedule_time(at, &form.tz_offset) {
                    Ok(t) => (
                        kind,
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok(),
                    ),
                    Err(m) => {
                        errors.push(Problem {
                            anchor: "scheduled_at",
                            text: m,
                        });
                        (kind, None)
                    }
                }
            }
        }
        _ => {
            errors.push(Problem {
                anchor: "when",
                text: "Choose when to send the campaign.".into(),
            });
            (ScheduleType::Now, None)
        }
    };
    if errors.is_empty() {
        let request = data.request(Some(schedule), scheduled_at.clone());
        // The draft's id is the idempotency key: a second click creates nothing new.
        let mut hash = Sha256::new();
        hash.update(id.as_bytes());
        hash.update(form.when.as_bytes());
        hash.update(scheduled_at.as_deref().unwrap_or("").as_bytes());
        let key = campaigns::idempotency_key(&format!("dashboard-{id}"), hash.finalize().to_vec())?;
        let resend_of = data.resend_of.as_deref();
        match drafts::send(&state, &user.account_id, &id, &request, &key, resend_of).await {
            Ok(outcome) => {
                let c = &outcome.campaign.campaign;
                let sending = c.total_count - c.failed_count;
                let text = match c.status {
                    CampaignStatus::Scheduled => format!(
                        "Campaign scheduled: {} will be sent from {}.",
                        plural(sending, "message", "messages"),
                        c.scheduled_at
                            .map(|t| When::new(t).text)
                            .unwrap_or_default()
                    ),
                    CampaignStatus::Draft => {
                        "Campaign saved as a draft. Launch it from this page when you are ready."
                            .to_owned()
                    }
                    _ => format!(
                        "Sending {}. This page updates as they are delivered.",
                        plural(sending, "message", "messages")
                    ),
                };
                return Ok(redirect_with(
                    &format!("/campaigns/{}", urlencode(&c.campaign_id)),
                    FlashKind::Success,
                    text,
                ));
            }
            Err(ServiceError::Validation(e)) => errors.extend(e.iter().map(problem)),
            Err(ServiceError::Conflict(m)) => errors.push(Problem {
                anchor: "when",
                text: format!("This resend cannot be sent: {m}."),
            }),
            Err(ServiceError::IdempotencyMismatch) => {
                return Err(PageError::Conflict(
                    "This campaign was already created with different settings".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = preview_page(
        &state,
        &user,
        &record,
        &data,
        1,
        SendForm {
            errors,
            when: form.when,
            scheduled_at: form.scheduled_at,
        },
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_times_use_the_browsers_offset() {
        let t = schedule_time("2026-05-20T09:00", "60").unwrap();
        assert_eq!(t, time::macros::datetime!(2026-05-20 08:00 UTC));
        let t = schedule_time("2026-05-20T09:00", "").unwrap();
        assert_eq!(t, time::macros::datetime!(2026-05-20 09:00 UTC));
        let t = schedule_time("2026-05-20T09:00:30", "-300").unwrap();
        assert_eq!(t, time::macros::datetime!(2026-05-20 14:00:30 UTC));
        assert!(schedule_time("", "0").is_err());
        assert!(schedule_time("tomorrow", "0").is_err());
        assert!(schedule_time("2026-05-20T09:00", "99999").is_err());
    }
}
