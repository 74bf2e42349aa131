//! The preview of a draft: every recipient with the message they will get, totals, cost,
//! and every problem, blocking or not.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::Value;

use super::test_send::{self, TestPanel};
use super::{DraftData, FormFields, Parsed, Problem, capitalise, load_draft, plural, problem};
use crate::dashboard::error::{PageResult, html};
use crate::dashboard::flash::IncomingFlash;
use crate::dashboard::signed_in::CurrentUser;
use crate::dashboard::views::{Layout, country_name};
use crate::domain::template::Template as MessageTemplate;
use crate::service::App;
use crate::service::drafts::Draft;
use crate::service::preview;
use crate::service::sessions::SignedIn;
use crate::service::views::{CampaignPreview, PreviewParams};
use crate::service::{agents, numbers, profile};

/// Recipients per page of the preview table.
const PREVIEW_PAGE: usize = 500;

/// One row of the preview table.
struct PreviewRow {
    line: usize,
    /// ok, invalid, duplicate, opted-out, no-consent, warning
    kind: &'static str,
    phone: String,
    values: Vec<String>,
    body: String,
    segments: u32,
    encoding: &'static str,
    notes: Vec<String>,
}

/// One destination country's line of the cost estimate.
struct CostLine {
    country: String,
    recipients: u64,
    segments: u64,
    price: String,
    cost: String,
}

/// The preview's cost per destination, as the page shows it.
fn cost_lines(preview: &CampaignPreview) -> Vec<CostLine> {
    let currency = &preview.totals.currency;
    preview
        .totals
        .by_country
        .iter()
        .map(|l| CostLine {
            country: match &l.country {
                Some(c) => format!("{} ({c})", country_name(c)),
                None => "Other (country unknown)".to_owned(),
            },
            recipients: l.recipients,
            segments: l.segments,
            price: money(l.price_per_segment, currency),
            cost: money(l.estimated_cost, currency),
        })
        .collect()
}

impl PreviewPage {
    fn send_error(&self, anchor: &str) -> bool {
        self.send_errors.iter().any(|p| p.anchor == anchor)
    }
}

#[derive(Template)]
#[template(path = "preview.html")]
pub(super) struct PreviewPage {
    layout: Layout,
    draft_id: String,
    f: FormFields,
    agent_label: String,
    country_label: String,
    phone_column: Option<String>,
    variables: Vec<String>,
    destinations: Vec<(String, usize)>,
    recipients: u64,
    sendable: u64,
    segments: u64,
    cost: String,
    price: String,
    cost_by_country: Vec<CostLine>,
    invalid_rows: usize,
    duplicates: usize,
    opted_out: u64,
    no_consent: u64,
    blocking: Vec<Problem>,
    warnings: Vec<Problem>,
    rows: Vec<PreviewRow>,
    page: usize,
    pages: usize,
    prev_url: Option<String>,
    next_url: Option<String>,
    can_send: bool,
    send_errors: Vec<Problem>,
    when: String,
    scheduled_at: String,
    /// Where "Send me a test" sends (none: the page says how to set it).
    profile_phone: Option<String>,
    /// The test just sent from this draft, if any.
    test: Option<TestPanel>,
    /// How long sending takes ("about 17 minutes at 1 message/second on +44…"), if anything
    /// is to be sent.
    duration: Option<String>,
}

/// `?page=` of the preview table, and `?test=`, a test sent from the draft to show.
#[derive(Debug, Deserialize, Default)]
pub struct PreviewQuery {
    page: Option<usize>,
    test: Option<String>,
}

fn money(amount: f64, currency: &str) -> String {
    if amount == 0.0 || amount >= 1.0 {
        format!("{amount:.2} {currency}")
    } else {
        format!("{amount:.4} {currency}")
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The send form's state when the preview is shown again after a failed send.
#[derive(Debug, Default)]
pub(super) struct SendForm {
    pub(super) errors: Vec<Problem>,
    pub(super) when: String,
    pub(super) scheduled_at: String,
}

/// Which slice of a draft's recipients one page of the preview table shows.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// This page (1-based, clamped to the pages there are).
    page: usize,
    /// Pages in all (at least one).
    pages: usize,
    /// Index of the page's first recipient.
    start: usize,
    /// First source line the page covers (rows the parser refused are placed by line).
    first_line: usize,
    /// First source line after the page.
    end_line: usize,
}

impl Window {
    /// Page `page` of `parsed`'s recipients.
    fn new(parsed: &Parsed, page: usize) -> Self {
        let pages = parsed.recipients.len().div_ceil(PREVIEW_PAGE).max(1);
        let page = page.clamp(1, pages);
        let start = (page - 1) * PREVIEW_PAGE;
        let line_of = |i: usize| parsed.recipients.get(i).map_or(usize::MAX, |r| r.line);
        Self {
            page,
            pages,
            start,
            first_line: if page == 1 { 0 } else { line_of(start) },
            end_line: if page == pages {
                usize::MAX
            } else {
                line_of(start + PREVIEW_PAGE)
            },
        }
    }

    /// Whether a source line falls on this page.
    fn has_line(&self, line: usize) -> bool {
        line >= self.first_line && line < self.end_line
    }

    /// Whether a recipient (by index) falls on this page.
    fn has_index(&self, index: usize) -> bool {
        (self.start..self.start + PREVIEW_PAGE).contains(&index)
    }

    /// The preview's paging parameters for this page.
    fn params(&self) -> PreviewParams {
        PreviewParams {
            recipients_limit: Some(PREVIEW_PAGE as u32),
            recipients_cursor: (self.start > 0).then(|| (self.start - 1).to_string()),
        }
    }
}

/// A recipient's values, in the order of the table's variable columns.
fn values_of(parsed: &Parsed, variables: &serde_json::Map<String, Value>) -> Vec<String> {
    parsed
        .variables
        .iter()
        .map(|v| variables.get(v).map(value_text).unwrap_or_default())
        .collect()
}

/// A row with no message: a refused row, a repeat, a recipient that cannot be sent.
fn unsent_row(line: usize, phone: String, values: Vec<String>, notes: Vec<String>) -> PreviewRow {
    PreviewRow {
        line,
        kind: "invalid",
        phone,
        values,
        body: String::new(),
        segments: 0,
        encoding: "",
        notes,
    }
}

/// The rows of the recipients the preview rendered, with what will happen to each.
fn message_rows(parsed: &Parsed, preview: &CampaignPreview) -> Vec<PreviewRow> {
    let line_of = |i: usize| parsed.recipients.get(i).map_or(usize::MAX, |r| r.line);
    preview
        .recipients
        .iter()
        .map(|r| {
            let mut notes = Vec::new();
            let written = parsed.recipients.get(r.index);
            if let Some(w) = written.and_then(|d| d.converted_from.as_deref()) {
                notes.push(format!(
                    "Converted: written {w}, without a country code, and read in the country you chose"
                ));
            }
            if r.opted_out {
                notes.push("Opted out: kept in the campaign, never sent".to_owned());
            } else if r.no_consent {
                notes.push(
                    "No recorded consent: kept in the campaign, never sent (fails with no_consent)"
                        .to_owned(),
                );
            } else if r.frequency_capped {
                notes.push(
                    "At the daily cap: already got the most campaign messages allowed in 24 hours (fails with frequency_capped)"
                        .to_owned(),
                );
            }
            for m in &r.missing_variables {
                notes.push(format!("No value for {{{{{m}}}}}: it will be left blank"));
            }
            PreviewRow {
                line: line_of(r.index),
                kind: if r.opted_out {
                    "opted-out"
                } else if r.no_consent {
                    "no-consent"
                } else if r.frequency_capped {
                    "capped"
                } else if r.missing_variables.is_empty() {
                    "ok"
                } else {
                    "warning"
                },
                phone: r.phone.clone(),
                values: values_of(parsed, &r.variables),
                body: r.body.clone(),
                segments: r.segments,
                encoding: r.encoding.as_str(),
                notes,
            }
        })
        .collect()
}

/// Why each recipient that cannot be sent as written is refused, by recipient index.
fn invalid_reasons(preview: &CampaignPreview) -> HashMap<usize, Vec<String>> {
    let mut by_index: HashMap<usize, Vec<String>> = HashMap::new();
    for inv in &preview.invalid {
        by_index
            .entry(inv.index)
            .or_default()
            .push(capitalise(&inv.reason));
    }
    by_index
}

/// The page's table: rendered messages, recipients refused as written, rows the parser
/// refused and repeated numbers, in the order of the list.
fn table_rows(
    parsed: &Parsed,
    preview: &CampaignPreview,
    invalid: &HashMap<usize, Vec<String>>,
    window: Window,
) -> Vec<PreviewRow> {
    let mut rows = message_rows(parsed, preview);
    for (index, reasons) in invalid {
        if window.has_index(*index)
            && let Some(r) = parsed.recipients.get(*index)
        {
            rows.push(unsent_row(
                r.line,
                r.phone.clone(),
                values_of(parsed, &r.variables),
                reasons.clone(),
            ));
        }
    }
    for e in parsed.errors.iter().filter(|e| window.has_line(e.line)) {
        rows.push(unsent_row(
            e.line,
            e.value.clone(),
            Vec::new(),
            vec![format!("Will not be sent: {}", e.reason)],
        ));
    }
    for line in parsed
        .duplicates
        .iter()
        .copied()
        .filter(|l| window.has_line(*l))
    {
        rows.push(PreviewRow {
            kind: "duplicate",
            ..unsent_row(
                line,
                String::new(),
                Vec::new(),
                vec!["Repeats a number on an earlier line: it is sent once".to_owned()],
            )
        });
    }
    rows.sort_by_key(|r| r.line);
    rows
}

/// Problems that stop the send: the campaign's own, and recipients that cannot be sent as
/// written (`invalid_count` of them).
fn blocking_problems(preview: &CampaignPreview, invalid_count: usize) -> Vec<Problem> {
    let mut blocking: Vec<Problem> = preview.errors.iter().map(problem).collect();
    if invalid_count > 0 {
        let first = preview.invalid.first();
        // A problem with the phone is fixed in the list; anything else (the rendered body) in
        // the message.
        let anchor = match first {
            Some(i) if i.field.ends_with(".phone") => "recipients_text",
            _ => "message_template",
        };
        let first = first.map(|i| i.reason.clone());
        blocking.push(Problem {
            anchor,
            text: format!(
                "{} cannot be sent as written{}",
                plural(invalid_count as u64, "message", "messages"),
                first.map(|r| format!(": {r}")).unwrap_or_default()
            ),
        });
    }
    blocking
}

/// Template placeholders nobody has a value for, with how many recipients lack each, over
/// every recipient (not just this page).
fn missing_variables(data: &DraftData) -> BTreeMap<String, usize> {
    let template = MessageTemplate::parse(&data.form.message_template);
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    for r in &data.parsed.recipients {
        for m in template.missing(&r.variables) {
            *missing.entry(m.to_owned()).or_insert(0) += 1;
        }
    }
    missing
}

/// Things to know that do not stop the send: a list not in UTF-8, refused rows, repeats,
/// opted-out and unconsented recipients, and placeholders left blank.
fn warnings(data: &DraftData, preview: &CampaignPreview) -> Vec<Problem> {
    let parsed = &data.parsed;
    let mut warnings: Vec<Problem> = preview
        .notices
        .iter()
        .map(|n| Problem {
            anchor: "recipients-table",
            text: n.clone(),
        })
        .collect();
    if !parsed.encoding.is_empty() && parsed.encoding != "UTF-8" {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "Your list was read as {} text, not UTF-8. Check that names with accents look right below; if not, save the file as \"CSV UTF-8\" and upload it again.",
                parsed.encoding
            ),
        });
    }
    if !parsed.errors.is_empty() {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "{} in your list {} not a phone number we can send to. {} will not be sent unless you change the list.",
                plural(parsed.errors.len() as u64, "row", "rows"),
                if parsed.errors.len() == 1 { "is" } else { "are" },
                if parsed.errors.len() == 1 { "It" } else { "They" }
            ),
        });
    }
    if !parsed.duplicates.is_empty() {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "{} {} a number that appears earlier in the list. Each number is sent one message.",
                plural(parsed.duplicates.len() as u64, "row", "rows"),
                if parsed.duplicates.len() == 1 {
                    "repeats"
                } else {
                    "repeat"
                }
            ),
        });
    }
    if preview.totals.opted_out > 0 {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "{} opted out of your messages: kept in the campaign, never sent anything.",
                plural(preview.totals.opted_out, "recipient has", "recipients have"),
            ),
        });
    }
    if preview.totals.no_consent > 0 {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "{} no recorded consent: kept in the campaign, never sent anything (failed with no_consent).",
                plural(preview.totals.no_consent, "recipient has", "recipients have"),
            ),
        });
    }
    if preview.totals.frequency_capped > 0 {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "{} already got the account's daily maximum of campaign messages: not sent while at the cap (failed with frequency_capped).",
                plural(preview.totals.frequency_capped, "recipient has", "recipients have"),
            ),
        });
    }
    if preview.totals.held > 0 {
        warnings.push(Problem {
            anchor: "recipients-table",
            text: format!(
                "{} outside the send window now: held until it opens in their time zone, then sent.",
                plural(preview.totals.held, "recipient is", "recipients are"),
            ),
        });
    }
    for (name, n) in missing_variables(data) {
        warnings.push(Problem {
            anchor: "message_template",
            text: format!(
                "{} no value for {{{{{name}}}}}: it will be left blank in their message.",
                plural(n as u64, "recipient has", "recipients have")
            ),
        });
    }
    warnings
}

/// Who answers replies: the chosen agent, else the first sending number's own, else nobody.
async fn agent_label(state: &App, user: &SignedIn, form: &FormFields) -> String {
    let number_agent = match form.from_numbers.first() {
        Some(phone) if form.agent_id.is_empty() => numbers::get(state, &user.account_id, phone)
            .await
            .ok()
            .and_then(|n| n.agent_id),
        _ => None,
    };
    match (form.agent_id.as_str(), number_agent) {
        ("", None) => "None: replies are kept but not answered".to_owned(),
        ("", Some(id)) => match agents::get(state, &user.account_id, &id).await {
            Ok(a) => format!("{} (the sending number’s agent)", a.name),
            Err(_) => id,
        },
        (id, _) => agents::get(state, &user.account_id, id)
            .await
            .map(|a| a.name)
            .unwrap_or_else(|_| id.to_owned()),
    }
}

/// Recipients per destination country, by country name.
fn destinations(parsed: &Parsed) -> Vec<(String, usize)> {
    parsed
        .countries
        .iter()
        .map(|(c, n)| {
            let name = if c == "other" {
                "International services".to_owned()
            } else {
                country_name(c)
            };
            (name, *n)
        })
        .collect()
}

/// Builds the preview page of a draft (page `page` of its recipients): the service's preview
/// of the draft's create body for this page, laid out as the table, the problems that stop
/// the send, the warnings, and the totals.
pub(super) async fn preview_page(
    state: &App,
    user: &SignedIn,
    record: &Draft,
    data: &DraftData,
    page: usize,
    send: SendForm,
) -> PageResult<PreviewPage> {
    let parsed = &data.parsed;
    let window = Window::new(parsed, page);
    let preview: CampaignPreview = preview::preview(
        state,
        &user.account_id,
        &data.request(None, None),
        &window.params(),
    )
    .await?;
    let invalid = invalid_reasons(&preview);
    let rows = table_rows(parsed, &preview, &invalid, window);
    let blocking = blocking_problems(&preview, invalid.len());
    let warnings = warnings(data, &preview);
    let agent_label = agent_label(state, user, &data.form).await;
    let profile_phone = profile::phone(state, user).await?;
    let duration = duration(state, user, &data.form, &preview).await?;
    let Window { page, pages, .. } = window;
    let page_url = |p: usize| format!("/campaigns/drafts/{}?page={p}#recipients-table", record.id);
    Ok(PreviewPage {
        layout: Layout::new(
            format!("Check your campaign: {}", data.form.name),
            Some(user),
            "campaigns",
        ),
        draft_id: record.id.clone(),
        f: data.form.clone(),
        agent_label,
        country_label: match data.form.default_country.as_str() {
            "" => "None (every number has its country code)".to_owned(),
            c => country_name(c),
        },
        phone_column: parsed.phone_column.clone(),
        variables: parsed.variables.clone(),
        destinations: destinations(parsed),
        recipients: preview.totals.recipients,
        sendable: preview.totals.sendable,
        segments: preview.totals.segments,
        cost: money(preview.totals.estimated_cost, &preview.totals.currency),
        price: money(preview.totals.price_per_segment, &preview.totals.currency),
        cost_by_country: cost_lines(&preview),
        invalid_rows: parsed.errors.len() + invalid.len(),
        duplicates: parsed.duplicates.len(),
        opted_out: preview.totals.opted_out,
        no_consent: preview.totals.no_consent,
        can_send: preview.valid && preview.totals.sendable > 0,
        blocking,
        warnings,
        rows,
        page,
        pages,
        prev_url: (page > 1).then(|| page_url(page - 1)),
        next_url: (page < pages).then(|| page_url(page + 1)),
        send_errors: send.errors,
        when: if send.when.is_empty() {
            "now".into()
        } else {
            send.when
        },
        scheduled_at: send.scheduled_at,
        profile_phone,
        test: None,
        duration,
    })
}

/// "about 17 minutes at 1 message/second on +44…": the campaign sent alone from its numbers
/// (docs/ARCHITECTURE.md §4), or `None` with nothing to send.
async fn duration(
    state: &App,
    user: &SignedIn,
    form: &FormFields,
    preview: &CampaignPreview,
) -> PageResult<Option<String>> {
    let estimate = crate::service::eta::alone(
        state,
        &user.account_id,
        &form.from_numbers,
        preview.totals.sendable,
        preview.totals.segments,
    )
    .await?;
    Ok(estimate.map(|e| {
        let on = match form.from_numbers.as_slice() {
            [one] => one.clone(),
            many => format!("{} numbers", many.len()),
        };
        format!(
            "{} at {} on {on}",
            crate::domain::eta::in_words(e.seconds),
            crate::domain::eta::rate_in_words(e.rate)
        )
    }))
}

/// The preview of a draft: every recipient with the message they will get, and every problem.
pub async fn preview(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> PageResult {
    let (record, data) = load_draft(&state, &user, &id).await?;
    if let Some(campaign) = &record.campaign_id {
        return Ok(Redirect::to(&format!("/campaigns/{campaign}")).into_response());
    }
    let mut page = preview_page(
        &state,
        &user,
        &record,
        &data,
        q.page.unwrap_or(1),
        SendForm::default(),
    )
    .await?;
    let here = format!("/campaigns/drafts/{}", record.id);
    page.test = test_send::panel(&state, &user, q.test.as_deref(), &here).await;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_readable() {
        assert_eq!(money(0.0237, "USD"), "0.0237 USD");
        assert_eq!(money(4.7, "GBP"), "4.70 GBP");
        assert_eq!(money(0.0, "USD"), "0.00 USD");
    }
}
