//! A campaign request, and the all-or-nothing validation that turns it into something sendable.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::FieldError;
use super::phone::Phone;
use super::segments::{self, Encoding};
use super::template::Template;

/// Twilio's limit on a message body, in characters.
pub const MAX_BODY_CHARS: usize = 1_600;
/// Longest campaign name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// When a campaign starts sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleType {
    /// Start sending at once.
    #[default]
    Now,
    /// Start at `scheduled_at`.
    Schedule,
    /// Store it; launch later with `POST /v1/sms/campaigns/{id}/launch`.
    Draft,
}

/// The body of `POST /v1/sms/campaigns` (and of `/preview`), as the spec page shows it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// The agent that answers replies (`agent_…`); defaults to the sending number's agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The sending number (E.164), one of the account's numbers.
    #[serde(default)]
    pub from_number: Option<String>,
    /// A pool of sending numbers; recipients are spread over them, each paced on its own.
    #[serde(default)]
    pub from_numbers: Option<Vec<String>>,
    /// A name for people to recognise the campaign by.
    #[serde(default)]
    pub name: Option<String>,
    /// The message, with `{{variable}}` placeholders.
    #[serde(default)]
    pub message_template: Option<String>,
    /// Who gets it.
    #[serde(default)]
    pub recipients: Option<Vec<RecipientRequest>>,
    /// `now` (default), `schedule` or `draft`.
    #[serde(default)]
    pub schedule_type: Option<ScheduleType>,
    /// RFC 3339 time to start, with `schedule` (required) or `draft` (optional).
    #[serde(default)]
    pub scheduled_at: Option<String>,
}

/// One recipient in a create request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientRequest {
    /// E.164 phone number; spaces, dashes, dots and brackets are tolerated.
    #[serde(default)]
    pub phone: Option<String>,
    /// Values for the template's placeholders: strings, numbers or booleans.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
}

/// What validation needs to know about the account, gathered by the caller.
#[derive(Debug, Default)]
pub struct AccountContext {
    /// Ids of the account's agents.
    pub agents: HashSet<String>,
    /// The account's sending numbers (E.164) and each one's default agent.
    pub numbers: HashMap<String, Option<String>>,
    /// Numbers that opted out of the account.
    pub opted_out: HashSet<String>,
}

/// Limits that protect the service; configurable per deployment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most recipients in one call.
    pub max_recipients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_recipients: 100_000,
        }
    }
}

/// When the validated campaign starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Running from now.
    Now,
    /// Scheduled for a future time.
    At(OffsetDateTime),
    /// A draft, optionally with the time it will start when launched.
    Draft(Option<OffsetDateTime>),
}

/// A recipient ready to store: number parsed, message rendered and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecipient {
    /// Where the message goes.
    pub phone: Phone,
    /// The variables exactly as given.
    pub variables: Map<String, Value>,
    /// The rendered message.
    pub body: String,
    /// Twilio segments the body takes (pacing and cost count these).
    pub segments: u32,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// The number that sends it.
    pub from_number: Phone,
    /// The number opted out: kept, never sent, reported as failed with `opted_out`.
    pub opted_out: bool,
}

/// A duplicate phone dropped from a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Duplicate {
    /// Index in the request's `recipients` of the dropped entry.
    pub index: usize,
    /// The phone, normalised.
    pub phone: String,
    /// Index of the entry that was kept.
    pub first_index: usize,
}

/// A campaign request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidCampaign {
    /// Campaign name.
    pub name: String,
    /// The template as given.
    pub message_template: String,
    /// The agent answering replies.
    pub agent_id: Option<String>,
    /// The sending numbers, in the order given.
    pub from_numbers: Vec<Phone>,
    /// When it starts.
    pub schedule: Schedule,
    /// Recipients after de-duplication, in request order.
    pub recipients: Vec<NewRecipient>,
    /// Entries dropped because their phone appeared earlier.
    pub duplicates: Vec<Duplicate>,
}

/// Checks everything about a request at once: either a campaign that can be stored
/// as is, or every problem found, each with its field path. Nothing is partial.
pub fn validate(
    req: &CampaignRequest,
    ctx: &AccountContext,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<ValidCampaign, Vec<FieldError>> {
    let mut errors = Vec::new();

    let name = match req.name.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new("name", "is required"));
            String::new()
        }
        Some(n) if n.chars().count() > MAX_NAME_CHARS => {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
            String::new()
        }
        Some(n) => n.to_owned(),
    };

    let template_src = match req.message_template.as_deref() {
        None => {
            errors.push(FieldError::new("message_template", "is required"));
            None
        }
        Some(t) if t.trim().is_empty() => {
            errors.push(FieldError::new("message_template", "must not be empty"));
            None
        }
        Some(t) => Some(t),
    };
    let template = template_src.map(Template::parse);

    let from_numbers = validate_senders(req, ctx, &mut errors);

    let agent_id = match req.agent_id.as_deref() {
        Some(id) if ctx.agents.contains(id) => Some(id.to_owned()),
        Some(id) => {
            errors.push(FieldError::new(
                "agent_id",
                format!("no agent {id:?} in this account"),
            ));
            None
        }
        None => from_numbers
            .first()
            .and_then(|n| ctx.numbers.get(n.as_str()).cloned().flatten()),
    };

    let schedule = validate_schedule(req, now, &mut errors);

    let (recipients, duplicates) = match req.recipients.as_deref() {
        None => {
            errors.push(FieldError::new("recipients", "is required"));
            (Vec::new(), Vec::new())
        }
        Some([]) => {
            errors.push(FieldError::new(
                "recipients",
                "must list at least one recipient",
            ));
            (Vec::new(), Vec::new())
        }
        Some(list) if list.len() > limits.max_recipients => {
            errors.push(FieldError::new(
                "recipients",
                format!(
                    "has {} recipients; at most {} are allowed in one call",
                    list.len(),
                    limits.max_recipients
                ),
            ));
            (Vec::new(), Vec::new())
        }
        Some(list) => validate_recipients(
            list,
            template.as_ref(),
            &from_numbers,
            &ctx.opted_out,
            &mut errors,
        ),
    };

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidCampaign {
        name,
        message_template: template_src.unwrap_or_default().to_owned(),
        agent_id,
        from_numbers,
        schedule,
        recipients,
        duplicates,
    })
}

fn validate_senders(
    req: &CampaignRequest,
    ctx: &AccountContext,
    errors: &mut Vec<FieldError>,
) -> Vec<Phone> {
    let mut raw: Vec<(String, &str)> = Vec::new();
    if let Some(n) = req.from_number.as_deref() {
        raw.push(("from_number".to_owned(), n));
    }
    if let Some(list) = req.from_numbers.as_deref() {
        if list.is_empty() && req.from_number.is_none() {
            errors.push(FieldError::new(
                "from_numbers",
                "must list at least one number",
            ));
        }
        for (i, n) in list.iter().enumerate() {
            raw.push((format!("from_numbers[{i}]"), n));
        }
    }
    if req.from_number.is_none() && req.from_numbers.is_none() {
        errors.push(FieldError::new(
            "from_number",
            "is required (or give from_numbers)",
        ));
    }
    let mut out: Vec<Phone> = Vec::new();
    for (field, value) in raw {
        match Phone::parse(value) {
            Err(e) => errors.push(FieldError::new(field, e.to_string())),
            Ok(p) if !ctx.numbers.contains_key(p.as_str()) => errors.push(FieldError::new(
                field,
                format!("{p} is not a sending number of this account"),
            )),
            Ok(p) => {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn validate_schedule(
    req: &CampaignRequest,
    now: OffsetDateTime,
    errors: &mut Vec<FieldError>,
) -> Schedule {
    let kind = req.schedule_type.unwrap_or_default();
    let at = match req.scheduled_at.as_deref() {
        None => None,
        Some(raw) => {
            match OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
                Ok(t) => Some(t),
                Err(_) => {
                    errors.push(FieldError::new(
                        "scheduled_at",
                        "must be an RFC 3339 date-time such as 2026-05-20T09:00:00Z",
                    ));
                    return Schedule::Now;
                }
            }
        }
    };
    match (kind, at) {
        (ScheduleType::Now, None) => Schedule::Now,
        (ScheduleType::Now, Some(_)) => {
            errors.push(FieldError::new(
                "scheduled_at",
                "is only allowed with schedule_type \"schedule\" or \"draft\"",
            ));
            Schedule::Now
        }
        (ScheduleType::Schedule, None) => {
            errors.push(FieldError::new(
                "scheduled_at",
                "is required when schedule_type is \"schedule\"",
            ));
            Schedule::Now
        }
        (ScheduleType::Schedule, Some(t)) if t <= now => {
            errors.push(FieldError::new("scheduled_at", "must be in the future"));
            Schedule::Now
        }
        (ScheduleType::Schedule, Some(t)) => Schedule::At(t),
        (ScheduleType::Draft, at) => Schedule::Draft(at),
    }
}

fn validate_recipients(
    list: &[RecipientRequest],
    template: Option<&Template>,
    from_numbers: &[Phone],
    opted_out: &HashSet<String>,
    errors: &mut Vec<FieldError>,
) -> (Vec<NewRecipient>, Vec<Duplicate>) {
    let mut seen: HashMap<Phone, usize> = HashMap::with_capacity(list.len());
    let mut recipients = Vec::with_capacity(list.len());
    let mut duplicates = Vec::new();
    let empty = Map::new();
    for (i, r) in list.iter().enumerate() {
        let vars = r.variables.as_ref().unwrap_or(&empty);
        let mut ok = true;
        for (key, value) in vars {
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                errors.push(FieldError::new(
                    format!("recipients[{i}].variables.{key}"),
                    "must be a string, number or boolean",
                ));
                ok = false;
            }
        }
        let phone = match r.phone.as_deref() {
            None => {
                errors.push(FieldError::new(
                    format!("recipients[{i}].phone"),
                    "is required",
                ));
                None
            }
            Some(raw) => match Phone::parse(raw) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(FieldError::new(
                        format!("recipients[{i}].phone"),
                        e.to_string(),
                    ));
                    None
                }
            },
        };
        let (Some(phone), Some(template), true) = (phone, template, ok) else {
            continue;
        };
        if let Some(&first_index) = seen.get(&phone) {
            duplicates.push(Duplicate {
                index: i,
                phone: phone.as_str().to_owned(),
                first_index,
            });
            continue;
        }
        let body = template.render(vars);
        let chars = body.chars().count();
        if chars > MAX_BODY_CHARS {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                format!(
                    "the rendered message has {chars} characters; Twilio allows at most {MAX_BODY_CHARS}"
                ),
            ));
            continue;
        }
        if body.trim().is_empty() {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "the rendered message is empty",
            ));
            continue;
        }
        let count = segments::count(&body);
        let from_number = match from_numbers.len() {
            0 => continue,
            n => from_numbers[recipients.len() % n].clone(),
        };
        seen.insert(phone.clone(), i);
        recipients.push(NewRecipient {
            opted_out: opted_out.contains(phone.as_str()),
            phone,
            variables: vars.clone(),
            body,
            segments: count.segments,
            encoding: count.encoding,
            from_number,
        });
    }
    (recipients, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> AccountContext {
        AccountContext {
            agents: ["agent_125207e452f8714a".to_owned()].into(),
            numbers: [
                ("+447446466847".to_owned(), None),
                (
                    "+447446466848".to_owned(),
                    Some("agent_125207e452f8714a".to_owned()),
                ),
            ]
            .into(),
            opted_out: ["+447111000009".to_owned()].into(),
        }
    }

    fn request(v: serde_json::Value) -> CampaignRequest {
        serde_json::from_value(v).expect("request shape")
    }

    fn spec_request() -> serde_json::Value {
        json!({
            "agent_id": "agent_125207e452f8714a",
            "from_number": "+447446466847",
            "name": "March promotion",
            "message_template": "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book.",
            "recipients": [
                { "phone": "+447111000001", "variables": { "first_name": "Sarah" } },
                { "phone": "+447111000002", "variables": { "first_name": "James" } }
            ],
            "schedule_type": "now"
        })
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-05-01 12:00 UTC)
    }

    #[test]
    fn the_spec_example_validates_and_renders() {
        let c = validate(&request(spec_request()), &ctx(), &Limits::default(), now()).unwrap();
        assert_eq!(c.name, "March promotion");
        assert_eq!(c.schedule, Schedule::Now);
        assert_eq!(c.recipients.len(), 2);
        assert_eq!(
            c.recipients[0].body,
            "Hi Sarah, Acme Dental offering 20% off cleanings this month. Reply YES to book."
        );
        assert_eq!(c.recipients[1].phone.as_str(), "+447111000002");
        assert_eq!(c.recipients[0].segments, 1);
        assert!(!c.recipients[0].opted_out);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let req = request(json!({
            "agent_id": "agent_nope",
            "from_number": "+447700900999",
            "message_template": "Hi",
            "recipients": [
                { "phone": "+447111000001" },
                { "phone": "07111000002" },
                { "variables": {} },
                { "phone": "+447111000003", "variables": { "x": [1] } }
            ],
            "schedule_type": "schedule",
            "scheduled_at": "2020-01-01T00:00:00Z"
        }));
        let errors = validate(&req, &ctx(), &Limits::default(), now()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "from_number",
                "agent_id",
                "scheduled_at",
                "recipients[1].phone",
                "recipients[2].phone",
                "recipients[3].variables.x"
            ]
        );
    }

    #[test]
    fn duplicates_collapse_to_the_first_and_opt_outs_are_kept() {
        let mut v = spec_request();
        v["recipients"] = json!([
            { "phone": "+447111000001", "variables": { "first_name": "A" } },
            { "phone": "+44 7111 000001", "variables": { "first_name": "B" } },
            { "phone": "+447111000009" }
        ]);
        let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
        assert_eq!(c.recipients.len(), 2);
        assert!(c.recipients[0].body.starts_with("Hi A,"));
        assert_eq!(
            c.duplicates,
            [Duplicate {
                index: 1,
                phone: "+447111000001".into(),
                first_index: 0
            }]
        );
        assert!(c.recipients[1].opted_out);
    }

    #[test]
    fn too_many_recipients_and_too_long_bodies_are_refused() {
        let mut v = spec_request();
        v["recipients"] = json!([{ "phone": "+447111000001" }, { "phone": "+447111000002" }]);
        let errors = validate(
            &request(v.clone()),
            &ctx(),
            &Limits { max_recipients: 1 },
            now(),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "recipients");

        v["message_template"] = json!("{{long}}");
        v["recipients"] =
            json!([{ "phone": "+447111000001", "variables": { "long": "x".repeat(1601) } }]);
        let errors = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap_err();
        assert_eq!(errors[0].field, "recipients[0]");
    }

    #[test]
    fn a_pool_spreads_recipients_and_the_number_supplies_the_agent() {
        let mut v = spec_request();
        v.as_object_mut().unwrap().remove("agent_id");
        v.as_object_mut().unwrap().remove("from_number");
        v["from_numbers"] = json!(["+447446466848", "+447446466847"]);
        let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
        assert_eq!(c.agent_id.as_deref(), Some("agent_125207e452f8714a"));
        assert_eq!(c.recipients[0].from_number.as_str(), "+447446466848");
        assert_eq!(c.recipients[1].from_number.as_str(), "+447446466847");
    }

    #[test]
    fn schedules_parse() {
        let mut v = spec_request();
        v["schedule_type"] = json!("schedule");
        v["scheduled_at"] = json!("2026-05-20T09:00:00Z");
        let c = validate(&request(v.clone()), &ctx(), &Limits::default(), now()).unwrap();
        assert_eq!(
            c.schedule,
            Schedule::At(time::macros::datetime!(2026-05-20 09:00 UTC))
        );
        v["schedule_type"] = json!("draft");
        v.as_object_mut().unwrap().remove("scheduled_at");
        let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
        assert_eq!(c.schedule, Schedule::Draft(None));
    }
}
