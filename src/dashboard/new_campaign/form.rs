//! The form: read the multipart submission (pasted numbers or a file), check it, parse the
//! recipients, and store the draft whose preview comes next.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::test_send::{self, TestPanel};
use super::{
    DraftData, DraftRecipient, FormFields, Parsed, Problem, capitalise, load_draft, problem,
};
use crate::dashboard::error::{PageError, PageResult, html};
use crate::dashboard::flash::{FlashKind, IncomingFlash, redirect_with};
use crate::dashboard::signed_in::{CurrentUser, check_csrf};
use crate::dashboard::views::{Country, Layout, countries};
use crate::domain::FieldError;
use crate::domain::input;
use crate::domain::phone::Phone;
use crate::service::App;
use crate::service::drafts::{self, Draft};
use crate::service::recipients::{self, UploadFormat};
use crate::service::sessions::SignedIn;
use crate::service::views::ParsedRecipients;
use crate::service::{ServiceError, agents, numbers, profile};

/// The multipart form as received.
#[derive(Debug, Default)]
pub(super) struct Submitted {
    pub(super) csrf: String,
    pub(super) fields: FormFields,
    file: Option<(String, Vec<u8>)>,
    keep_upload: String,
    /// `test` when "Send me a test" was pressed rather than "Continue to preview".
    intent: String,
}

pub(super) async fn read_form(mut mp: Multipart) -> Result<Submitted, PageError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            PageError::TooLarge
        } else {
            PageError::BadRequest(e.body_text())
        }
    };
    let mut s = Submitted::default();
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "recipients_file" {
            let file_name = field
                .file_name()
                .map(str::to_owned)
                .filter(|n| !n.is_empty());
            if let Some(file_name) = &file_name {
                input::check_text(&name, file_name).map_err(PageError::invalid)?;
            }
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
        input::check_text(&name, &text).map_err(PageError::invalid)?;
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
            "intent" => s.intent = text,
            "require_consent" => f.require_consent = !text.is_empty(),
            "ignore_send_window" => f.ignore_send_window = !text.is_empty(),
            "send_window_reason" => f.send_window_reason = text.trim().to_owned(),
            _ => {}
        }
    }
    Ok(s)
}

/// The recipients input of a submitted form: a new file, the pasted text, or the file of the
/// draft being changed.
pub(super) enum Input {
    File(String, Vec<u8>),
    Paste(String),
}

pub(super) async fn recipients_input(
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

/// The recipients of the input, at most `--max-recipients` rows (more is a problem with the
/// recipients, found while reading).
pub(super) async fn parse_input(
    state: &App,
    input: &Input,
    default_country: &str,
) -> Result<ParsedRecipients, ServiceError> {
    let country = Some(default_country.to_owned()).filter(|c| !c.is_empty());
    let max = state.settings.limits.max_recipients;
    match input {
        Input::File(_, bytes) => {
            recipients::parse(UploadFormat::Csv, bytes.clone(), country, max).await
        }
        Input::Paste(text) => {
            recipients::parse(UploadFormat::Paste, text.clone().into_bytes(), country, max).await
        }
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
    /// Where "Send me a test" sends (none: the form says how to set it).
    profile_phone: Option<String>,
    /// The test just sent from this form, if any.
    test: Option<TestPanel>,
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
    /// A test sent from this draft, to show.
    test: Option<String>,
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
    let profile_phone = profile::phone(state, user).await?;
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
        profile_phone,
        test: None,
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
            let here = format!("/campaigns/new?draft={}", record.id);
            let keep = if record.upload.is_some() {
                record.id
            } else {
                String::new()
            };
            let mut page = form_page(&state, &user, data.form, keep, Vec::new(), false).await?;
            page.test = test_send::panel(&state, &user, q.test.as_deref(), &here).await;
            page
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
        (Some(input), true) => match parse_input(&state, input, &s.fields.default_country).await {
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
        resend_of: None,
    };
    let data_json =
        serde_json::to_string(&data).map_err(|e| PageError::Internal(anyhow::Error::new(e)))?;
    let id = drafts::save(&state, &user, data_json, upload).await?;
    if s.intent != "test" {
        return Ok(Redirect::to(&format!("/campaigns/drafts/{id}")).into_response());
    }
    // "Send me a test": the form comes back, filled in from the draft, with the test.
    let here = format!("/campaigns/new?draft={id}");
    Ok(
        match test_send::send_for_draft(&state, &user, &data).await? {
            Ok(test) => Redirect::to(&test_send::shown_at(&here, Some(&test))).into_response(),
            Err(why) => redirect_with(&test_send::shown_at(&here, None), FlashKind::Warning, why),
        },
    )
}

/// Destination countries, counted on the blocking pool (one phone lookup per recipient).
pub(super) async fn count_countries(recipients: &[DraftRecipient]) -> BTreeMap<String, usize> {
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
