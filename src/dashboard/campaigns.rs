//! Outbound → SMS Campaigns: the list, one campaign with its recipients, cancel, launch, pause
//! and resume,
//! and the small JSON answers the page script polls for live counts.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};

use super::forms::Form;
use serde::Deserialize;

use super::auth::CsrfForm;
use super::error::{PageError, PageResult, html, live_error};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::signed_in::{CurrentUser, LiveUser, check_csrf};
use super::views::{CampaignRow, Layout, When, recipient_status_class, recipient_status_label};
use crate::domain::status::RecipientStatus;
use crate::service::App;
use crate::service::views::{
    CampaignList, CampaignView, ListParams, RecipientParams, RecipientView,
};
use crate::service::{ServiceError, account_settings, agents, campaigns, export, numbers};
use axum::http::{HeaderValue, header};

/// Campaigns per page of the list.
const PAGE: u32 = 50;
/// Recipients per page of a campaign.
const RECIPIENT_PAGE: u32 = 100;

/// `?cursor=` of the list.
#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<CampaignRow>,
    next_cursor: Option<String>,
    first_page: bool,
    live_url: String,
    has_numbers: bool,
}

impl ListPage {
    fn any_live(&self) -> bool {
        self.rows.iter().any(CampaignRow::live)
    }
}

fn list_params(q: &ListQuery) -> ListParams {
    ListParams {
        limit: Some(PAGE),
        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
    }
}

/// All campaigns, newest first, with status and source badges, counts and progress.
pub async fn list(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let page = campaigns::list(&state, &user.account_id, &list_params(&q))
        .await
        .map_err(|e| match e {
            ServiceError::Validation(_) => PageError::NotFound,
            e => e.into(),
        })?;
    let has_numbers = !numbers::list(&state, &user.account_id)
        .await?
        .numbers
        .is_empty();
    let live_url = match &q.cursor {
        Some(c) if !c.is_empty() => {
            format!("/campaigns/live?cursor={}", super::signed_in::urlencode(c))
        }
        _ => "/campaigns/live".to_owned(),
    };
    Ok(html(&ListPage {
        layout: Layout::new("SMS campaigns", Some(&user), "campaigns").with_flash(flash),
        rows: page.campaigns.into_iter().map(CampaignRow::new).collect(),
        next_cursor: page.next_cursor,
        first_page: q.cursor.as_deref().unwrap_or("").is_empty(),
        live_url,
        has_numbers,
    }))
}

/// The list page's campaigns as the API shows them, for the live update script.
pub async fn list_live(
    State(state): State<App>,
    LiveUser(user): LiveUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<CampaignList>, Response> {
    campaigns::list(&state, &user.account_id, &list_params(&q))
        .await
        .map(Json)
        .map_err(live_error)
}

/// `?status=&after=` of a campaign page.
#[derive(Debug, Deserialize, Default)]
pub struct DetailQuery {
    status: Option<String>,
    after: Option<String>,
}

/// One recipient row.
struct RecipientRow {
    r: RecipientView,
    label: &'static str,
    /// Twilio's status where the label says something else (queued, sent, undelivered).
    detail: Option<&'static str>,
    class: &'static str,
    updated: When,
    /// Held outside the send window: until when, and the window's local opening time.
    held: Option<(When, String)>,
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct DetailPage {
    layout: Layout,
    row: CampaignRow,
    agent_name: Option<String>,
    recipients: Vec<RecipientRow>,
    statuses: Vec<(&'static str, bool)>,
    filter: String,
    next_url: Option<String>,
    paged: bool,
    /// How many "Resend to the N who did not get it" offers (0: no button).
    resend: u64,
    /// Failed and undelivered recipients by error code, with what to do.
    errors: Vec<crate::service::views::ErrorCount>,
    /// When a running or scheduled campaign should finish, and how fast it sends.
    eta: Option<EtaLine>,
}

/// "About 17 minutes left (finishes 4 Dec 2026, 14:22 UTC), sending 1 message/second".
struct EtaLine {
    /// The estimated finish.
    at: When,
    /// "about 17 minutes".
    left: String,
    /// "1 message/second" while running.
    rate: Option<String>,
}

impl EtaLine {
    /// The line for a campaign's progress, if it has an estimate.
    fn new(progress: &crate::service::eta::Progress) -> Option<Self> {
        let at = progress.estimated_finish_at?;
        let seconds = (at - time::OffsetDateTime::now_utc())
            .as_seconds_f64()
            .max(0.0);
        Some(Self {
            at: When::new(at),
            left: crate::domain::eta::in_words(seconds),
            rate: progress.send_rate.map(crate::domain::eta::rate_in_words),
        })
    }
}

/// A campaign: counts (exactly the API's), details, actions, and its recipients page by page.
pub async fn detail(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> PageResult {
    let filter = q
        .status
        .as_deref()
        .and_then(RecipientStatus::parse)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let params = RecipientParams {
        recipients_limit: Some(RECIPIENT_PAGE),
        recipients_cursor: q.after.clone().filter(|a| !a.is_empty()),
        recipient_status: (!filter.is_empty()).then(|| filter.clone()),
    };
    let detail = campaigns::get(&state, &user.account_id, &id, &params)
        .await
        .map_err(|e| match e {
            ServiceError::Validation(_) => PageError::NotFound,
            e => e.into(),
        })?;
    let agent_name = match &detail.campaign.agent_id {
        Some(a) => agents::get(&state, &user.account_id, a)
            .await
            .ok()
            .map(|a| a.name),
        None => None,
    };
    let next_url = detail.recipients_next_cursor.as_ref().map(|c| {
        let mut url = format!("/campaigns/{}?after={c}", detail.campaign.campaign_id);
        if !filter.is_empty() {
            url.push_str(&format!("&status={filter}"));
        }
        url
    });
    let statuses = RecipientStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.as_str() == filter))
        .collect();
    let opens = account_settings::get(&state, &user.account_id)
        .await?
        .send_window
        .map(|w| w.start);
    let eta = EtaLine::new(&detail.progress);
    let row = CampaignRow::new(detail.campaign);
    let resend =
        super::new_campaign::resend_count(row.c.status, row.c.failed_count, row.c.cancelled_count);
    let errors = detail.errors;
    let page = DetailPage {
        eta,
        resend,
        errors,
        layout: Layout::new(row.c.name.clone(), Some(&user), "campaigns").with_flash(flash),
        row,
        agent_name,
        recipients: detail
            .recipients
            .into_iter()
            .map(|r| RecipientRow {
                label: recipient_status_label(r.status),
                detail: status_detail(r.status),
                class: recipient_status_class(r.status),
                updated: When::new(r.updated_at),
                held: r.held_until.map(|t| {
                    (
                        When::new(t),
                        opens.clone().unwrap_or_else(|| "the window opens".into()),
                    )
                }),
                r,
            })
            .collect(),
        statuses,
        filter,
        next_url,
        paged: q.after.as_deref().is_some_and(|a| !a.is_empty()),
    };
    Ok(html(&page))
}

/// What Twilio's status adds to the label shown (the product page shows sent as failed).
fn status_detail(s: RecipientStatus) -> Option<&'static str> {
    match s {
        RecipientStatus::Queued => Some("queued at Twilio"),
        RecipientStatus::Sent => Some("sent: no delivery report from the carrier"),
        RecipientStatus::Undelivered => Some("undelivered: the carrier refused it"),
        _ => None,
    }
}

/// One campaign's counts as the API shows them, for the live update script.
pub async fn detail_live(
    State(state): State<App>,
    LiveUser(user): LiveUser,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, Response> {
    let params = RecipientParams {
        recipients_limit: Some(1),
        ..RecipientParams::default()
    };
    campaigns::get(&state, &user.account_id, &id, &params)
        .await
        .map(|d| Json(d.campaign))
        .map_err(live_error)
}

#[derive(Template)]
#[template(path = "confirm_campaign.html")]
struct ConfirmPage {
    layout: Layout,
    row: CampaignRow,
    action: &'static str,
}

async fn confirm_page(
    state: &App,
    user: &crate::service::sessions::SignedIn,
    id: &str,
    action: &'static str,
) -> PageResult {
    let params = RecipientParams {
        recipients_limit: Some(1),
        ..RecipientParams::default()
    };
    let detail = campaigns::get(state, &user.account_id, id, &params).await?;
    let row = CampaignRow::new(detail.campaign);
    let title = match action {
        "cancel" => format!("Cancel “{}”?", row.c.name),
        _ => format!("Launch “{}”?", row.c.name),
    };
    Ok(html(&ConfirmPage {
        layout: Layout::new(title, Some(user), "campaigns"),
        row,
        action,
    }))
}

/// "Are you sure?" before cancelling.
pub async fn cancel_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    confirm_page(&state, &user, &id, "cancel").await
}

/// Cancels: unsent recipients become cancelled; sent messages are not recalled.
pub async fn cancel(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let back = format!("/campaigns/{}", super::signed_in::urlencode(&id));
    match campaigns::cancel(&state, &user.account_id, &id).await {
        Ok(view) => {
            let n = view.cancelled_count;
            Ok(redirect_with(
                &back,
                FlashKind::Success,
                format!(
                    "Campaign cancelled. {n} message{} will not be sent.",
                    if n == 1 { "" } else { "s" }
                ),
            ))
        }
        Err(ServiceError::Conflict(m)) => Ok(redirect_with(
            &back,
            FlashKind::Warning,
            format!("The campaign was not cancelled: {m}."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// "Are you sure?" before launching a draft.
pub async fn launch_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    confirm_page(&state, &user, &id, "launch").await
}

/// Launches a draft: now, or at its scheduled time.
pub async fn launch(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let result = campaigns::launch(&state, &user.account_id, &id).await;
    acted(&id, "launched", result, |view| match view.scheduled_at {
        Some(t) if view.status == crate::domain::status::CampaignStatus::Scheduled => {
            format!("Campaign scheduled for {}.", When::new(t).text)
        }
        _ => format!("Campaign launched: sending to {} people.", view.total_count),
    })
}

/// Back to the campaign's page after an action: its success text, or, when the campaign's
/// state refused it, "The campaign was not {done}: {why}." as a warning.
fn acted<T>(
    id: &str,
    done: &str,
    result: Result<T, ServiceError>,
    success: impl FnOnce(T) -> String,
) -> PageResult {
    let back = format!("/campaigns/{}", super::signed_in::urlencode(id));
    match result {
        Ok(value) => Ok(redirect_with(&back, FlashKind::Success, success(value))),
        Err(ServiceError::Conflict(m)) => Ok(redirect_with(
            &back,
            FlashKind::Warning,
            format!("The campaign was not {done}: {m}."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Pauses a running or scheduled campaign (no confirmation: resuming undoes it).
pub async fn pause(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let result = campaigns::pause(&state, &user.account_id, &id).await;
    acted(&id, "paused", result, |_| {
        "Campaign paused. Nothing more will be sent until you resume it.".to_owned()
    })
}

/// Resumes a paused campaign where it stopped.
pub async fn resume(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let result = campaigns::resume(&state, &user.account_id, &id).await;
    acted(&id, "resumed", result, |view| match view.scheduled_at {
        Some(t) if view.status == crate::domain::status::CampaignStatus::Scheduled => {
            format!("Campaign resumed: it starts at {}.", When::new(t).text)
        }
        _ => format!(
            "Campaign resumed: sending to the {} people still pending.",
            view.pending_count
        ),
    })
}

/// `?status=` of the download (as the recipients filter).
#[derive(Debug, Deserialize, Default)]
pub struct CsvQuery {
    status: Option<String>,
}

/// "Download CSV": every recipient (or those of the filtered status), streamed as the API's
/// `GET /v1/sms/campaigns/{id}/recipients.csv` answers it.
pub async fn recipients_csv(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<CsvQuery>,
) -> PageResult {
    let params = export::CsvParams {
        status: q.status.filter(|s| !s.is_empty()),
    };
    let csv = export::recipients_csv(&state, &user.account_id, &id, &params)
        .await
        .map_err(|e| match e {
            ServiceError::Validation(_) => PageError::NotFound,
            e => e.into(),
        })?;
    let mut response = Response::new(axum::body::Body::from_stream(csv.into_stream()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        export::file_name(&id)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
