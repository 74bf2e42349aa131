//! The opt-out pages: numbers never texted again, added by STOP or by hand, and taken off
//! with a reason.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::forms::Form;
use serde::Deserialize;

use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::Errors;
use super::signed_in::{CurrentUser, check_csrf, urlencode};
use super::views::{Layout, When, phone_path};
use crate::domain::phone::Phone;
use crate::service::App;
use crate::service::sessions::SignedIn;
use crate::service::views::replies::{OptOutParams, OptOutRequest};
use crate::service::{numbers, optouts};

/// An opt-out as listed.
struct OptOutRow {
    phone: String,
    path: String,
    source: String,
    reason: Option<String>,
    at: When,
}

#[derive(Template)]
#[template(path = "opt_outs.html")]
struct OptOutsPage {
    layout: Layout,
    rows: Vec<OptOutRow>,
    first_page: bool,
    next_cursor: Option<String>,
    phone: String,
    reason: String,
    errors: Errors,
}

/// `?cursor=` of the opt-out list.
#[derive(Debug, Default, Deserialize)]
pub struct OptOutQuery {
    cursor: Option<String>,
}

async fn opt_outs_page(
    state: &App,
    user: &SignedIn,
    cursor: Option<String>,
    phone: String,
    reason: String,
    errors: Errors,
) -> PageResult<OptOutsPage> {
    let params = OptOutParams {
        limit: Some(OPT_OUT_PAGE),
        cursor: cursor.clone(),
    };
    let list = optouts::list(state, &user.account_id, &params).await?;
    Ok(OptOutsPage {
        layout: Layout::new("Opt-outs", Some(user), "opt-outs"),
        rows: list
            .opt_outs
            .into_iter()
            .map(|o| OptOutRow {
                path: phone_path(&o.phone),
                phone: o.phone,
                source: o.source,
                reason: o.reason,
                at: When::new(o.created_at),
            })
            .collect(),
        first_page: cursor.is_none(),
        next_cursor: list.next_cursor.map(|c| urlencode(&c)),
        phone,
        reason,
        errors,
    })
}

/// Opt-outs per page.
const OPT_OUT_PAGE: u32 = 100;

/// Numbers that asked not to be texted (by STOP, or added here), newest first.
pub async fn opt_outs(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Query(q): Query<OptOutQuery>,
) -> PageResult {
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let mut page = opt_outs_page(
        &state,
        &user,
        cursor,
        String::new(),
        String::new(),
        Errors::default(),
    )
    .await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// Opt-out form fields.
#[derive(Debug, Deserialize)]
pub struct OptOutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    reason: String,
}

/// Adds a number to the opt-outs (someone asked by phone or email): never texted again.
/// The same use case as `POST /v1/opt-outs`.
pub async fn add_opt_out(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<OptOutForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    // National numbers are read as numbers of the account's first sending number's country.
    let region = numbers::list(&state, &user.account_id)
        .await?
        .numbers
        .first()
        .and_then(|n| Phone::parse(&n.phone).ok())
        .and_then(|p| p.region());
    let phone = Phone::parse_with_region(&form.phone, region.as_deref())
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|_| form.phone.clone());
    let req = OptOutRequest {
        phone: Some(phone),
        reason: Some(form.reason.clone()),
    };
    match optouts::add(&state, &user.account_id, &req).await {
        Ok((view, created)) => Ok(redirect_with(
            "/opt-outs",
            FlashKind::Success,
            if created {
                format!("{} will not be sent any more messages.", view.phone)
            } else {
                format!("{} was already opted out.", view.phone)
            },
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = opt_outs_page(&state, &user, None, form.phone, form.reason, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "opt_out_remove.html")]
struct RemoveOptOutPage {
    layout: Layout,
    entry: OptOutRow,
    reason: String,
    errors: Errors,
}

/// The opt-out of `phone` (as written in the path), or 404.
async fn find_opt_out(state: &App, user: &SignedIn, phone: &str) -> PageResult<OptOutRow> {
    let o = optouts::get(state, &user.account_id, phone).await?;
    Ok(OptOutRow {
        path: phone_path(&o.phone),
        phone: o.phone,
        source: o.source,
        reason: o.reason,
        at: When::new(o.created_at),
    })
}

fn remove_page(
    user: &SignedIn,
    entry: OptOutRow,
    reason: String,
    errors: Errors,
) -> RemoveOptOutPage {
    RemoveOptOutPage {
        layout: Layout::new(
            format!("Opt {} back in?", entry.phone),
            Some(user),
            "opt-outs",
        ),
        entry,
        reason,
        errors,
    }
}

/// "Are you sure?" before taking a number off the opt-outs, with the reason to give.
pub async fn remove_opt_out_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
) -> PageResult {
    let entry = find_opt_out(&state, &user, &phone).await?;
    Ok(html(&remove_page(
        &user,
        entry,
        String::new(),
        Errors::default(),
    )))
}

/// Takes a number off the opt-outs (it may be sent campaigns again). The reason is required
/// and kept as the evidence of the consent record written: the same use case as
/// `DELETE /v1/opt-outs/{phone}`.
pub async fn remove_opt_out(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(phone): Path<String>,
    Form(form): Form<OptOutForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let entry = find_opt_out(&state, &user, &phone).await?;
    match optouts::remove(&state, &user.account_id, &entry.phone, Some(&form.reason)).await {
        Ok(_) => Ok(redirect_with(
            "/opt-outs",
            FlashKind::Success,
            format!(
                "{} is opted back in: campaigns can be sent to it again.",
                entry.phone
            ),
        )),
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = remove_page(&user, entry, form.reason, errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}
