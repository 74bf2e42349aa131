//! New campaign: the form (paste or upload recipients), the preview of exactly what will be
//! sent with every problem flagged, and the confirmation that sends, schedules or saves it.
//!
//! The form's recipients go through the same parser as `POST /v1/sms/recipients/parse`, the
//! preview through the same analysis as `POST /v1/sms/campaigns/preview`, and the send through
//! the same create as `POST /v1/sms/campaigns` (with `source: "dashboard"`). Between preview and
//! send the parsed recipients wait in a server-side draft, so the campaign created is the one
//! that was previewed; its id doubles as the create's idempotency key, so a double click on
//! Send makes one campaign.

mod check;
mod confirm;
mod form;
mod preview;
mod resend;
mod test_send;

pub use check::check;
pub use confirm::confirm;
pub use form::{form, submit};
pub use preview::preview;
pub use resend::{resend, resend_count};
pub use test_send::{send_test, test_live};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::PageError;
use crate::domain::FieldError;
use crate::domain::campaign::{CampaignRequest, RecipientRequest, ScheduleType};
use crate::service::App;
use crate::service::drafts::{self, Draft};
use crate::service::sessions::SignedIn;
use crate::service::views::ParsedRecipients;

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
    /// Send at any hour, ignoring the account's send window (`respect_send_window: false`).
    #[serde(default)]
    ignore_send_window: bool,
    /// Why (asked for when the window is ignored).
    #[serde(default)]
    send_window_reason: String,
}

/// One parsed recipient.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DraftRecipient {
    phone: String,
    variables: Map<String, Value>,
    line: usize,
    /// The number as written when it was read in the chosen country (marked in the preview).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    converted_from: Option<String>,
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
    /// The encoding the input was read in (`""` in drafts saved before it was recorded).
    #[serde(default)]
    encoding: String,
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
                    converted_from: r.converted_from,
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
            encoding: p.encoding,
        }
    }
}

/// A draft's JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DraftData {
    form: FormFields,
    parsed: Parsed,
    /// The campaign this draft resends to ("Resend to the N who did not get it").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resend_of: Option<String>,
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
            // The parsed phones are E.164 already.
            default_country: None,
            respect_send_window: f.ignore_send_window.then_some(false),
            send_window_reason: f.ignore_send_window.then(|| f.send_window_reason.clone()),
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
        "send_window_reason" | "respect_send_window" => "Reason",
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
        "Reason" => "send_window_reason",
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

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `n` and the noun in its number: "1 message", "3 messages".
fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
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

#[cfg(test)]
mod tests {
    use super::*;

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
                    converted_from: None,
                }],
                ..Parsed::default()
            },
            resend_of: None,
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
