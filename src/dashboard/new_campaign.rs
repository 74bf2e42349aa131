//! New campaign: the form (paste or upload recipients), the preview of exactly what will be
//! sent with every problem flagged, and the confirmation that sends, schedules or saves it.
//!
//! The form's recipients go through the same parser as `POST /v1/sms/recipients/parse`, the
//! preview through the same analysis as `POST /v1/sms/campaigns/preview`, and the send through
//! the same create as `POST /v1/sms/campaigns` (with `source: "dashboard"`). Between preview and
//! send the parsed recipients wait in a server-side draft, so the campaign created is the one
//! that was previewed; its id doubles as the create's idempotency key, so a double click on
//! Send makes one campaign.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::error::{PageError, PageResult, html, live_error};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::signed_in::{CurrentUser, LiveUser, check_csrf, urlencode};
use super::views::{Country, Layout, When, countries, country_name};
use crate::domain::FieldError;
use crate::domain::campaign::{CampaignRequest, RecipientRequest, ScheduleType};
use crate::domain::phone::Phone;
use crate::domain::status::CampaignStatus;
use crate::domain::template::Template as MessageTemplate;
use crate::service::App;
use crate::service::drafts::{self, Draft};
use crate::service::preview;
use crate::service::recipients::{self, UploadFormat};
use crate::service::sessions::SignedIn;
use crate::service::views::{CampaignPreview, ParsedRecipients, PreviewParams};
use crate::service::{ServiceError, agents, campaigns, numbers};

/// Recipients per page of the preview table.
const PREVIEW_PAGE: usize = 500;
/// Recipients rendered as samples while the form is being filled in.
const SAMPLES: usize = 3;
/// Parse problems listed while the form is being filled in (the preview lists them all).
const CHECK_ERRORS: usize = 5;

/// What the form holds, as typed (kept in the draft so "Change" brings it back).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FormFields {
    name: String,
    from_numbers: Vec<String>,
    agent_id: String,
    message_template: String,
    default_country: String,
    recipients_text: String,
    /// File name of the CSV, when the recipients came from one.
    upload_name: Option<String>,
    /// Send only to numbers whose latest consent record is `granted` (`require_consent`).
    #[serde(default)]
    require_consent: bool,
}

/// One parsed recipient.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DraftRecipient {
    phone: String,
    variables: Map<String, Value>,
    line: usize,
}

/// One row the parser refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RowProblem {
    line: usize,
    value: String,
    reason: String,
}

/// What the recipients input was parsed into.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Parsed {
    recipients: Vec<DraftRecipient>,
    errors: Vec<RowProblem>,
    duplicates: Vec<usize>,
    phone_column: Option<String>,
    variables: Vec<String>,
    /// Recipients per destination country (ISO code, or "other").
    countries: BTreeMap<String, usize>,
}

impl From<ParsedRecipients> for Parsed {
    fn from(p: ParsedRecipients) -> Self {
        Self {
            recipients: p
                .recipients
                .into_iter()
                .map(|r| DraftRecipient {
                    phone: r.phone,
                    variables: r.variables,
                    line: r.line,
                })
                .collect(),
            errors: p
                .errors
                .into_iter()
                .map(|e| RowProblem {
                    line: e.line,
                    value: e.value,
                    reason: e.reason,
                })
                .collect(),
            duplicates: p.duplicates,
            phone_column: p.phone_column,
            variables: p.variables,
            countries: BTreeMap::new(),
        }
    }
}

/// A draft's JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DraftData {
    form: FormFields,
    parsed: Parsed,
}

impl DraftData {
    /// The create body this draft stands for, with the given schedule.
    fn request(&self, schedule: Option<ScheduleType>, at: Option<String>) -> CampaignRequest {
        let f = &self.form;
        let (from_number, from_numbers) = match f.from_numbers.as_slice() {
            [] => (None, None),
            [one] => (Some(one.clone()), None),
            many => (None, Some(many.to_vec())),
        };
        CampaignRequest {
            agent_id: Some(f.agent_id.clone()).filter(|a| !a.is_empty()),
            from_number,
            from_numbers,
            name: Some(f.name.clone()),
            message_template: Some(f.message_template.clone()),
            recipients: Some(
                self.parsed
                    .recipients
                    .iter()
                    .map(|r| RecipientRequest {
                        phone: Some(r.phone.clone()),
                        variables: Some(r.variables.clone()),
                    })
                    .collect(),
            ),
            schedule_type: schedule,
            scheduled_at: at,
            require_consent: f.require_consent.then_some(true),
        }
    }
}

/// The multipart form as received.
#[derive(Debug, Default)]
struct Submitted {
    csrf: String,
    fields: FormFields,
    file: Option<(String, Vec<u8>)>,
    keep_upload: String,
}

async fn read_form(mut mp: Multipart) -> Result<Submitted, PageError> {
    let bad = |e: axum::extract::multipart::MultipartError| PageError::BadRequest(e.body_text());
    let mut s = Submitted::default();
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "recipients_file" {
            let file_name = field
                .file_name()
                .map(str::to_owned)
                .filter(|n| !n.is_empty());
            let bytes = field.bytes().await.map_err(bad)?;
            if file_name.is_some() || !bytes.is_empty() {
                s.file = Some((
                    file_name.unwrap_or_else(|| "upload.csv".into()),
                    bytes.to_vec(),
                ));
            }
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        let f = &mut s.fields;
        match name.as_str() {
            "csrf" => s.csrf = text,
            "name" => f.name = text.trim().to_owned(),
            "from_numbers" => f.from_numbers.push(text),
            "agent_id" => f.agent_id = text,
            "message_template" => f.message_template = text.replace("\r\n", "\n"),
            "default_country" => f.default_country = text.trim().to_ascii_uppercase(),
            "recipients_text" => f.recipients_text = text,
            "keep_upload" => s.keep_upload = text,
            "require_consent" => f.require_consent = !text.is_empty(),
            _ => {}
        }
    }
    Ok(s)
}

/// The recipients input of a submitted form: a new file, the pasted text, or the file of the
/// draft being changed.
enum Input {
    File(String, Vec<u8>),
    Paste(String),
}

async fn recipients_input(
    state: &App,
    user: &SignedIn,
    s: &mut Submitted,
) -> Result<Option<Input>, Vec<FieldError>> {
    let pasted = !s.fields.recipients_text.trim().is_empty();
    match s.file.take() {
        Some((_, bytes)) if pasted && !bytes.is_empty() => Err(vec![FieldError::new(
            "recipients",
            "You pasted numbers and chose a file: use one or the other. Clear the pasted numbers, or remove the file.",
        )]),
        Some((name, bytes)) if !bytes.is_empty() => Ok(Some(Input::File(name, bytes))),
        Some((name, _)) if !pasted => Err(vec![FieldError::new(
            "recipients",
            format!("The file {name} is empty."),
        )]),
        _ if pasted => Ok(Some(Input::Paste(s.fields.recipients_text.clone()))),
        _ if !s.keep_upload.is_empty() => {
            match drafts::get(state, &user.account_id, &s.keep_upload).await {
                Ok(Draft {
                    upload: Some(bytes),
                    data,
                    ..
                }) => {
                    let name = serde_json::from_str::<DraftData>(&data)
                        .ok()
                        .and_then(|d| d.form.upload_name)
                        .unwrap_or_else(|| "upload.csv".into());
                    Ok(Some(Input::File(name, bytes)))
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

async fn parse_input(
    input: &Input,
    default_country: &str,
) -> Result<ParsedRecipients, ServiceError> {
    let country = Some(default_country.to_owned()).filter(|c| !c.is_empty());
    match input {
        Input::File(_, bytes) => recipients::parse(UploadFormat::Csv, bytes.clone(), country).await,
        Input::Paste(text) => {
            recipients::parse(UploadFormat::Paste, text.clone().into_bytes(), country).await
        }
    }
}

/// Human name of a request field, for problems shown above the form or preview.
fn field_label(field: &str) -> &'static str {
    let base = field.split(['[', '.']).next().unwrap_or(field);
    match base {
        "name" => "Campaign name",
        "from_number" | "from_numbers" => "Send from",
        "agent_id" => "Agent",
        "message_template" => "Message",
        "recipients" | "body" => "Recipients",
        "default_country" => "Country",
        "scheduled_at" | "schedule_type" => "Send time",
        _ => "Campaign",
    }
}

/// Anchor of the form field a problem is about.
fn field_anchor(field: &str) -> &'static str {
    match field_label(field) {
        "Campaign name" => "name",
        "Send from" => "from-numbers",
        "Agent" => "agent_id",
        "Message" => "message_template",
        "Country" => "default_country",
        "Send time" => "when",
        _ => "recipients_text",
    }
}

/// A problem shown in the "There is a problem" box, linked to its field.
#[derive(Debug, Clone)]
struct Problem {
    anchor: &'static str,
    text: String,
}

fn problem(e: &FieldError) -> Problem {
    let label = field_label(&e.field);
    // Messages written as sentences for people stand alone; API-style ones get the field name.
    let text = if e.message.starts_with(char::is_uppercase) {
        e.message.clone()
    } else {
        format!("{label} {}", e.message)
    };
    Problem {
        anchor: field_anchor(&e.field),
        text,
    }
}

/// A sending number as a choice of the form.
struct NumberChoice {
    phone: String,
    label: String,
    checked: bool,
}

/// An agent as a choice of the form.
struct AgentChoice {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "new_campaign.html")]
struct FormPage {
    layout: Layout,
    f: FormFields,
    numbers: Vec<NumberChoice>,
    agents: Vec<AgentChoice>,
    countries: Vec<Country>,
    keep_upload: String,
    problems: Vec<Problem>,
}

impl FormPage {
    fn error(&self, anchor: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.anchor == anchor)
            .map(|p| p.text.as_str())
    }
}

/// `?draft=` to change a previewed draft.
#[derive(Debug, Deserialize, Default)]
pub struct FormQuery {
    draft: Option<String>,
}

async fn form_page(
    state: &App,
    user: &SignedIn,
    mut f: FormFields,
    keep_upload: String,
    problems: Vec<Problem>,
    fresh: bool,
) -> PageResult<FormPage> {
    let numbers = numbers::list(state, &user.account_id).await?.numbers;
    let agents = agents::list(state, &user.account_id).await?.agents;
    if fresh {
        // A new form: the first number is checked, and national numbers are read as numbers
        // of that number's country.
        if let Some(first) = numbers.first() {
            f.from_numbers = vec![first.phone.clone()];
            // Replies need an agent: the number's own, or else the account's first one.
            if first.agent_id.is_none()
                && let Some(agent) = agents.first()
            {
                f.agent_id = agent.agent_id.clone();
            }
            f.default_country = Phone::parse(&first.phone)
                .ok()
                .and_then(|p| p.region())
                .unwrap_or_else(|| "GB".into());
        } else {
            f.default_country = "GB".into();
        }
    }
    Ok(FormPage {
        layout: Layout::new("New SMS campaign", Some(user), "campaigns"),
        numbers: numbers
            .iter()
            .map(|n| NumberChoice {
                checked: f.from_numbers.contains(&n.phone),
                label: format!(
                    "{} ({} segment{} a second)",
                    n.phone,
                    n.mps,
                    if (n.mps - 1.0).abs() < f64::EPSILON {
                        ""
                    } else {
                        "s"
                    }
                ),
                phone: n.phone.clone(),
            })
            .collect(),
        agents: agents
            .iter()
            .map(|a| AgentChoice {
                selected: a.agent_id == f.agent_id,
                id: a.agent_id.clone(),
                name: a.name.clone(),
            })
            .collect(),
        countries: countries(),
        f,
        keep_upload,
        problems,
    })
}

/// The new-campaign form (empty, or filled in from a draft being changed).
pub async fn form(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Query(q): Query<FormQuery>,
) -> PageResult {
    let draft = match q.draft.as_deref().filter(|d| !d.is_empty()) {
        Some(id) => Some(load_draft(&state, &user, id).await?),
        None => None,
    };
    let mut page = match draft {
        Some((record, data)) => {
            let keep = if record.upload.is_some() {
                record.id
            } else {
                String::new()
            };
            form_page(&state, &user, data.form, keep, Vec::new(), false).await?
        }
        None => {
            form_page(
                &state,
                &user,
                FormFields::default(),
                String::new(),
                Vec::new(),
                true,
            )
            .await?
        }
    };
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// Form-level checks before parsing: the things a person forgets.
fn check_form(f: &FormFields, has_input: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if f.name.is_empty() {
        errors.push(FieldError::new("name", "Enter a name for the campaign."));
    }
    if f.from_numbers.is_empty() {
        errors.push(FieldError::new(
            "from_number",
            "Choose at least one number to send from.",
        ));
    }
    if f.message_template.trim().is_empty() {
        errors.push(FieldError::new("message_template", "Write the message."));
    }
    if !has_input {
        errors.push(FieldError::new(
            "recipients",
            "Paste some phone numbers or choose a CSV file.",
        ));
    }
    errors
}

/// Reads the form, parses the recipients, stores a draft and shows its preview.
pub async fn submit(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    mp: Multipart,
) -> PageResult {
    let mut s = read_form(mp).await?;
    check_csrf(&user, &s.csrf)?;
    let input = recipients_input(&state, &user, &mut s).await;
    let mut errors = check_form(&s.fields, matches!(input, Ok(Some(_))));
    let input = match input {
        Ok(i) => i,
        Err(e) => {
            errors.retain(|e| e.field != "recipients");
            errors.extend(e);
            None
        }
    };
    let parsed = match (&input, errors.is_empty()) {
        (Some(input), true) => match parse_input(input, &s.fields.default_country).await {
            Ok(p) => Some(p),
            Err(ServiceError::Validation(e)) => {
                errors.extend(e.into_iter().map(|e| {
                    let field = if e.field == "body" {
                        "recipients".into()
                    } else {
                        e.field
                    };
                    FieldError::new(field, capitalise(&e.message))
                }));
                None
            }
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    let (Some(input), Some(parsed)) = (input, parsed) else {
        let keep = s.keep_upload.clone();
        let problems = errors.iter().map(problem).collect();
        let page = form_page(&state, &user, s.fields, keep, problems, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response());
    };

    let (upload, upload_name) = match input {
        Input::File(name, bytes) => (Some(bytes), Some(name)),
        Input::Paste(_) => (None, None),
    };
    let mut fields = s.fields;
    fields.upload_name = upload_name;
    if upload.is_some() {
        fields.recipients_text.clear();
    }
    let mut parsed = Parsed::from(parsed);
    parsed.countries = count_countries(&parsed.recipients).await;
    let data = DraftData {
        form: fields,
        parsed,
    };
    let data =
        serde_json::to_string(&data).map_err(|e| PageError::Internal(anyhow::Error::new(e)))?;
    let id = drafts::save(&state, &user, data, upload).await?;
    Ok(Redirect::to(&format!("/campaigns/drafts/{id}")).into_response())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Destination countries, counted on the blocking pool (one phone lookup per recipient).
async fn count_countries(recipients: &[DraftRecipient]) -> BTreeMap<String, usize> {
    let phones: Vec<String> = recipients.iter().map(|r| r.phone.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let mut out = BTreeMap::new();
        for p in phones {
            let region = Phone::parse(&p)
                .ok()
                .and_then(|p| p.region())
                .unwrap_or_else(|| "other".into());
            *out.entry(region).or_insert(0) += 1;
        }
        out
    })
    .await
    .unwrap_or_default()
}

async fn load_draft(
    state: &App,
    user: &SignedIn,
    id: &str,
) -> Result<(Draft, DraftData), PageError> {
    let record = drafts::get(state, &user.account_id, id).await?;
    let data: DraftData = serde_json::from_str(&record.data)
        .map_err(|e| PageError::Internal(anyhow::Error::new(e).context("reading a draft")))?;
    Ok((record, data))
}

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

impl PreviewPage {
    fn send_error(&self, anchor: &str) -> bool {
        self.send_errors.iter().any(|p| p.anchor == anchor)
    }
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
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
}

/// `?page=` of the preview table.
#[derive(Debug, Deserialize, Default)]
pub struct PreviewQuery {
    page: Option<usize>,
}

fn money(amount: f64, currency: &str) -> String {
    if amount == 0.0 || amount >= 1.0 {
        format!("{amount:.2} {currency}")
    } else {
        format!("{amount:.4} {currency}")
    }
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
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
struct SendForm {
    errors: Vec<Problem>,
    when: String,
    scheduled_at: String,
}

/// Builds the preview page of a draft (page `page` of its recipients).
async fn preview_page(
    state: &App,
    user: &SignedIn,
    record: &Draft,
    data: &DraftData,
    page: usize,
    send: SendForm,
) -> PageResult<PreviewPage> {
    let parsed = &data.parsed;
    let request = data.request(None, None);
    let pages = parsed.recipients.len().div_ceil(PREVIEW_PAGE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PREVIEW_PAGE;
    let params = PreviewParams {
        recipients_limit: Some(PREVIEW_PAGE as u32),
        recipients_cursor: (start > 0).then(|| (start - 1).to_string()),
    };
    let preview: CampaignPreview =
        preview::preview(state, &user.account_id, &request, &params).await?;

    // Lines this page covers: the parser's problems are placed among the recipients by line.
    let line_of = |i: usize| parsed.recipients.get(i).map_or(usize::MAX, |r| r.line);
    let first_line = if page == 1 { 0 } else { line_of(start) };
    let end_line = if page == pages {
        usize::MAX
    } else {
        line_of(start + PREVIEW_PAGE)
    };
    let in_page = |line: usize| line >= first_line && line < end_line;

    let mut rows: Vec<PreviewRow> = Vec::new();
    for r in &preview.recipients {
        let line = line_of(r.index);
        let mut notes = Vec::new();
        if r.opted_out {
            notes.push("Opted out: kept in the campaign, never sent".to_owned());
        } else if r.no_consent {
            notes.push(
                "No recorded consent: kept in the campaign, never sent (fails with no_consent)"
                    .to_owned(),
            );
        }
        for m in &r.missing_variables {
            notes.push(format!("No value for {{{{{m}}}}}: it will be left blank"));
        }
        rows.push(PreviewRow {
            line,
            kind: if r.opted_out {
                "opted-out"
            } else if r.no_consent {
                "no-consent"
            } else if r.missing_variables.is_empty() {
                "ok"
            } else {
                "warning"
            },
            phone: r.phone.clone(),
            values: parsed
                .variables
                .iter()
                .map(|v| r.variables.get(v).map(value_text).unwrap_or_default())
                .collect(),
            body: r.body.clone(),
            segments: r.segments,
            encoding: r.encoding.as_str(),
            notes,
        });
    }
    let mut invalid_by_index: HashMap<usize, Vec<String>> = HashMap::new();
    for inv in &preview.invalid {
        invalid_by_index
            .entry(inv.index)
            .or_default()
            .push(capitalise(&inv.reason));
    }
    let page_end = start + PREVIEW_PAGE;
    for (index, reasons) in &invalid_by_index {
        if (start..page_end).contains(index)
            && let Some(r) = parsed.recipients.get(*index)
        {
            rows.push(PreviewRow {
                line: r.line,
                kind: "invalid",
                phone: r.phone.clone(),
                values: parsed
                    .variables
                    .iter()
                    .map(|v| r.variables.get(v).map(value_text).unwrap_or_default())
                    .collect(),
                body: String::new(),
                segments: 0,
                encoding: "",
                notes: reasons.clone(),
            });
        }
    }
    for e in parsed.errors.iter().filter(|e| in_page(e.line)) {
        rows.push(PreviewRow {
            line: e.line,
            kind: "invalid",
            phone: e.value.clone(),
            values: Vec::new(),
            body: String::new(),
            segments: 0,
            encoding: "",
            notes: vec![format!("Will not be sent: {}", e.reason)],
        });
    }
    for line in parsed.duplicates.iter().copied().filter(|l| in_page(*l)) {
        rows.push(PreviewRow {
            line,
            kind: "duplicate",
            phone: String::new(),
            values: Vec::new(),
            body: String::new(),
            segments: 0,
            encoding: "",
            notes: vec!["Repeats a number on an earlier line: it is sent once".to_owned()],
        });
    }
    rows.sort_by_key(|r| r.line);

    // Template placeholders nobody has a value for, over every recipient (not just this page).
    let template = MessageTemplate::parse(&data.form.message_template);
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    for r in &parsed.recipients {
        for m in template.missing(&r.variables) {
            *missing.entry(m.to_owned()).or_insert(0) += 1;
        }
    }

    let mut blocking: Vec<Problem> = preview.errors.iter().map(problem).collect();
    let invalid_count = invalid_by_index.len();
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
    let mut warnings = Vec::new();
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
    for (name, n) in missing {
        warnings.push(Problem {
            anchor: "message_template",
            text: format!(
                "{} no value for {{{{{name}}}}}: it will be left blank in their message.",
                plural(n as u64, "recipient has", "recipients have")
            ),
        });
    }

    let page_url = |p: usize| format!("/campaigns/drafts/{}?page={p}#recipients-table", record.id);
    let number_agent = match data.form.from_numbers.first() {
        Some(phone) if data.form.agent_id.is_empty() => {
            numbers::get(state, &user.account_id, phone)
                .await
                .ok()
                .and_then(|n| n.agent_id)
        }
        _ => None,
    };
    let agent_label = match (data.form.agent_id.as_str(), number_agent) {
        ("", None) => "None: replies are kept but not answered".to_owned(),
        ("", Some(id)) => match agents::get(state, &user.account_id, &id).await {
            Ok(a) => format!("{} (the sending number’s agent)", a.name),
            Err(_) => id,
        },
        (id, _) => agents::get(state, &user.account_id, id)
            .await
            .map(|a| a.name)
            .unwrap_or_else(|_| id.to_owned()),
    };
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
        destinations: parsed
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
            .collect(),
        recipients: preview.totals.recipients,
        sendable: preview.totals.sendable,
        segments: preview.totals.segments,
        cost: money(preview.totals.estimated_cost, &preview.totals.currency),
        price: money(preview.totals.price_per_segment, &preview.totals.currency),
        invalid_rows: parsed.errors.len() + invalid_count,
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
    })
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
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

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
        match drafts::send(&state, &user.account_id, &id, &request, &key).await {
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

/// What the form's live check shows: recipients found, problems, and sample messages.
#[derive(Debug, Serialize)]
pub struct CheckAnswer {
    /// Recipients found (unique).
    count: usize,
    /// Rows refused.
    error_count: usize,
    /// The first refused rows.
    errors: Vec<RowProblem>,
    /// Repeated numbers dropped.
    duplicates: usize,
    /// The detected phone column.
    phone_column: Option<String>,
    /// Variable names for placeholders.
    variables: Vec<String>,
    /// The message for the first recipients.
    samples: Vec<Sample>,
    /// Why the recipients could not be read at all.
    problem: Option<String>,
}

/// A rendered sample message.
#[derive(Debug, Serialize)]
pub struct Sample {
    phone: String,
    body: String,
    segments: u32,
    encoding: &'static str,
    missing: Vec<String>,
}

/// The form's live check (page script): parses the recipients and renders the first few
/// messages with the same code as the preview, without storing anything.
pub async fn check(
    State(state): State<App>,
    LiveUser(user): LiveUser,
    mp: Multipart,
) -> Result<Json<CheckAnswer>, Response> {
    let fail = |e: PageError| {
        let (status, message) = match e {
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "this page is out of date: reload it".to_owned(),
            ),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            _ => (
                StatusCode::BAD_REQUEST,
                "the form could not be read".to_owned(),
            ),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    };
    let mut s = read_form(mp).await.map_err(fail)?;
    check_csrf(&user, &s.csrf).map_err(fail)?;
    let mut answer = CheckAnswer {
        count: 0,
        error_count: 0,
        errors: Vec::new(),
        duplicates: 0,
        phone_column: None,
        variables: Vec::new(),
        samples: Vec::new(),
        problem: None,
    };
    let input = match recipients_input(&state, &user, &mut s).await {
        Ok(Some(i)) => i,
        Ok(None) => return Ok(Json(answer)),
        Err(e) => {
            answer.problem = e.first().map(|e| e.message.clone());
            return Ok(Json(answer));
        }
    };
    let parsed = match parse_input(&input, &s.fields.default_country).await {
        Ok(p) => p,
        Err(ServiceError::Validation(e)) => {
            answer.problem = e.first().map(|e| capitalise(&e.message));
            return Ok(Json(answer));
        }
        Err(e) => return Err(live_error(e)),
    };
    let parsed = Parsed::from(parsed);
    answer.count = parsed.recipients.len();
    answer.error_count = parsed.errors.len();
    answer.errors = parsed.errors.iter().take(CHECK_ERRORS).cloned().collect();
    answer.duplicates = parsed.duplicates.len();
    answer.phone_column = parsed.phone_column.clone();
    answer.variables = parsed.variables.clone();
    if !s.fields.message_template.trim().is_empty() && !parsed.recipients.is_empty() {
        let mut sample = DraftData {
            form: s.fields,
            parsed,
        };
        sample.parsed.recipients.truncate(SAMPLES);
        let request = sample.request(None, None);
        let preview = preview::preview(
            &state,
            &user.account_id,
            &request,
            &PreviewParams::default(),
        )
        .await
        .map_err(live_error)?;
        answer.samples = preview
            .recipients
            .into_iter()
            .map(|r| Sample {
                phone: r.phone,
                body: r.body,
                segments: r.segments,
                encoding: r.encoding.as_str(),
                missing: r.missing_variables,
            })
            .collect();
    }
    Ok(Json(answer))
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

    #[test]
    fn problems_read_as_sentences() {
        let p = problem(&FieldError::new("name", "is required"));
        assert_eq!(p.text, "Campaign name is required");
        assert_eq!(p.anchor, "name");
        let p = problem(&FieldError::new("recipients", "Paste some numbers."));
        assert_eq!(p.text, "Paste some numbers.");
        assert_eq!(p.anchor, "recipients_text");
        assert_eq!(field_anchor("recipients[3].phone"), "recipients_text");
        assert_eq!(field_anchor("from_numbers[1]"), "from-numbers");
    }

    #[test]
    fn costs_are_readable() {
        assert_eq!(money(0.0237, "USD"), "0.0237 USD");
        assert_eq!(money(4.7, "GBP"), "4.70 GBP");
        assert_eq!(money(0.0, "USD"), "0.00 USD");
    }

    #[test]
    fn drafts_become_the_create_body() {
        let data = DraftData {
            form: FormFields {
                name: "March".into(),
                from_numbers: vec!["+447446466847".into(), "+447446466848".into()],
                agent_id: String::new(),
                message_template: "Hi {{name}}".into(),
                ..FormFields::default()
            },
            parsed: Parsed {
                recipients: vec![DraftRecipient {
                    phone: "+447723456789".into(),
                    variables: serde_json::json!({"name": "Sarah"})
                        .as_object()
                        .cloned()
                        .unwrap(),
                    line: 2,
                }],
                ..Parsed::default()
            },
        };
        let r = data.request(Some(ScheduleType::Draft), None);
        assert_eq!(r.from_number, None);
        assert_eq!(r.from_numbers.as_ref().map(Vec::len), Some(2));
        assert_eq!(r.agent_id, None);
        assert_eq!(
            r.recipients.as_ref().unwrap()[0].phone.as_deref(),
            Some("+447723456789")
        );
        assert_eq!(r.schedule_type, Some(ScheduleType::Draft));
    }
}
