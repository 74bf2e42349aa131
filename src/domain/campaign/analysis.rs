//! The campaign-wide checks of a request and the analysis that joins them to the
//! per-recipient outcomes.

use time::OffsetDateTime;

use super::check::{RecipientChecker, RecipientOutcome};
use super::request::{CampaignRequest, Recipients, ScheduleType};
use super::{AccountContext, Limits, MAX_NAME_CHARS, Schedule, ValidCampaign};
use crate::domain::FieldError;
use crate::domain::input;
use crate::domain::phone::Phone;
use crate::domain::template::Template;

/// Everything one pass over a request found out, good and bad, before deciding anything.
///
/// Why: create needs all-or-nothing ([`CampaignAnalysis::into_valid`]), while the dashboard's
/// preview needs every row's fate even when some rows are wrong. Both read this one analysis,
/// so a preview can never disagree with what create would do.
#[derive(Debug, Clone)]
pub struct CampaignAnalysis {
    /// Campaign name, trimmed (empty when invalid).
    pub name: String,
    /// The template as given, when it is usable.
    pub message_template: Option<String>,
    /// The agent answering replies (given, or the first sender's default agent).
    pub agent_id: Option<String>,
    /// The valid sending numbers, in the order given, without repeats.
    pub from_numbers: Vec<Phone>,
    /// When it starts (`Now` when the schedule is invalid).
    pub schedule: Schedule,
    /// Problems with the campaign as a whole (`name`, `from_number`, `agent_id`,
    /// `scheduled_at`, the `recipients` list itself, ...), in the order create reports them.
    /// Problems of single recipients are in their [`RecipientOutcome::Invalid`].
    pub errors: Vec<FieldError>,
    /// One outcome per entry of the request's `recipients`, in request order; empty when the
    /// list is missing, empty or longer than the limit (see `errors`).
    pub recipients: Vec<RecipientOutcome>,
    /// Sends only to numbers with granted consent (`require_consent`).
    pub require_consent: bool,
}

impl CampaignAnalysis {
    /// True when create would accept the request: no campaign error and no invalid recipient.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
            && !self
                .recipients
                .iter()
                .any(|r| matches!(r, RecipientOutcome::Invalid(_)))
    }

    /// Every problem, as create reports them: campaign errors first, then each invalid
    /// recipient's errors in request order.
    pub fn all_errors(&self) -> Vec<FieldError> {
        let mut errors = self.errors.clone();
        for outcome in &self.recipients {
            if let RecipientOutcome::Invalid(e) = outcome {
                errors.extend(e.iter().cloned());
            }
        }
        errors
    }

    /// The all-or-nothing decision of create: the campaign to store, or every problem.
    pub fn into_valid(self) -> Result<ValidCampaign, Vec<FieldError>> {
        if !self.is_valid() {
            return Err(self.all_errors());
        }
        let mut recipients = Vec::with_capacity(self.recipients.len());
        let mut duplicates = Vec::new();
        for (index, outcome) in self.recipients.into_iter().enumerate() {
            match outcome {
                RecipientOutcome::Sendable(r) => match r.into_new_recipient() {
                    Some(new) => recipients.push(new),
                    // Unreachable while `errors` is empty (a template and a sender exist);
                    // refused rather than silently dropped, so nothing is ever partial.
                    None => {
                        return Err(vec![FieldError::new(
                            format!("recipients[{index}]"),
                            "could not be prepared for sending",
                        )]);
                    }
                },
                RecipientOutcome::Duplicate(d) => duplicates.push(d),
                RecipientOutcome::Invalid(_) => {}
            }
        }
        Ok(ValidCampaign {
            name: self.name,
            message_template: self.message_template.unwrap_or_default(),
            agent_id: self.agent_id,
            from_numbers: self.from_numbers,
            schedule: self.schedule,
            recipients,
            duplicates,
            require_consent: self.require_consent,
        })
    }
}

/// The campaign-wide half of the analysis: everything but the per-recipient outcomes.
///
/// Why apart: create checks the recipients one chunk at a time while it stores them
/// ([`CampaignPlan::checker`]), instead of holding every outcome at once as
/// [`CampaignAnalysis`] does.
#[derive(Debug, Clone)]
pub struct CampaignPlan {
    /// Campaign name, trimmed (empty when invalid).
    pub name: String,
    /// The template as given, when it is usable.
    pub message_template: Option<String>,
    /// The parsed template, when it is usable.
    pub template: Option<Template>,
    /// The agent answering replies (given, or the first sender's default agent).
    pub agent_id: Option<String>,
    /// The valid sending numbers, in the order given, without repeats.
    pub from_numbers: Vec<Phone>,
    /// When it starts (`Now` when the schedule is invalid).
    pub schedule: Schedule,
    /// Problems with the campaign as a whole, in the order create reports them.
    pub errors: Vec<FieldError>,
    /// Sends only to numbers with granted consent (`require_consent`).
    pub require_consent: bool,
    /// How many recipients the request lists, when the list is there, not empty and within
    /// the limit (otherwise `errors` says what is wrong with it).
    pub recipients: Option<usize>,
    /// The country phones without a country code are read in, when given and known.
    pub default_country: Option<String>,
    /// Whether the account's send window applies (docs/ARCHITECTURE.md §4).
    pub respect_send_window: bool,
    /// Why not, when it does not.
    pub send_window_reason: Option<String>,
}

impl CampaignPlan {
    /// The per-recipient checker for this request: call it on each entry in request order.
    pub fn checker<'s>(&'s self, ctx: &'s AccountContext) -> RecipientChecker<'s> {
        let mut checker =
            RecipientChecker::new(self.template.as_ref(), &self.from_numbers, &ctx.opted_out);
        if self.require_consent {
            checker = checker.requiring_consent(&ctx.consented);
        }
        checker = checker.with_default_country(self.default_country.as_deref());
        checker.seen.reserve(self.recipients.unwrap_or(0));
        checker
    }
}

/// Runs the campaign-wide checks of a request (see [`CampaignPlan`]).
pub fn plan<L: Recipients>(
    req: &CampaignRequest<L>,
    ctx: &AccountContext,
    limits: &Limits,
    now: OffsetDateTime,
) -> CampaignPlan {
    let mut errors = Vec::new();

    // Lengths are counted as sent (the API document's maxLength); texts are kept trimmed.
    let name_chars = req.name.as_deref().map_or(0, |n| n.chars().count());
    let name = match req.name.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new("name", "is required"));
            String::new()
        }
        Some(_) if name_chars > MAX_NAME_CHARS => {
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
        Some(t) => match input::check_template("message_template", t) {
            Ok(()) => Some(t),
            Err(e) => {
                errors.push(e);
                None
            }
        },
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
    let require_consent = req.require_consent.unwrap_or(false);
    let respect_send_window = req.respect_send_window.unwrap_or(true);
    let reason_chars = req
        .send_window_reason
        .as_deref()
        .map_or(0, |r| r.chars().count());
    let send_window_reason = match req.send_window_reason.as_deref().map(str::trim) {
        None => None,
        // Given but blank (the dashboard always passes what was typed): say why.
        Some("") if !respect_send_window => {
            errors.push(FieldError::new(
                "send_window_reason",
                "must say why the send window is ignored",
            ));
            None
        }
        Some("") => None,
        Some(_) if reason_chars > MAX_WINDOW_REASON_CHARS => {
            errors.push(FieldError::new(
                "send_window_reason",
                format!("must be at most {MAX_WINDOW_REASON_CHARS} characters"),
            ));
            None
        }
        Some(r) => Some(r.to_owned()),
    };

    let default_country = match req.default_country.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(country) => match Phone::check_region(Some(country)) {
            Ok(()) => Some(country.to_owned()),
            Err(e) => {
                errors.push(FieldError::new("default_country", e.to_string()));
                None
            }
        },
    };

    let recipients = match req.recipients.as_ref().map(Recipients::len) {
        None => {
            errors.push(FieldError::new("recipients", "is required"));
            None
        }
        Some(0) => {
            errors.push(FieldError::new(
                "recipients",
                "must list at least one recipient",
            ));
            None
        }
        Some(len) if len > limits.max_recipients => {
            errors.push(FieldError::new(
                "recipients",
                format!(
                    "has {len} recipients; at most {} are allowed in one call",
                    limits.max_recipients
                ),
            ));
            None
        }
        Some(len) => Some(len),
    };

    CampaignPlan {
        name,
        message_template: template_src.map(str::to_owned),
        template,
        agent_id,
        from_numbers,
        schedule,
        errors,
        require_consent,
        recipients,
        default_country,
        respect_send_window,
        send_window_reason,
    }
}

/// Longest reason for ignoring the send window.
pub const MAX_WINDOW_REASON_CHARS: usize = 500;

/// Runs every check on a request and keeps every finding (see [`CampaignAnalysis`]).
pub fn analyse<L: Recipients>(
    req: &CampaignRequest<L>,
    ctx: &AccountContext,
    limits: &Limits,
    now: OffsetDateTime,
) -> CampaignAnalysis {
    let plan = plan(req, ctx, limits, now);
    let recipients = match (plan.recipients, req.recipients.as_ref()) {
        (Some(_), Some(list)) => {
            let mut checker = plan.checker(ctx);
            list.iter()
                .enumerate()
                .map(|(i, r)| checker.check(i, &r))
                .collect()
        }
        _ => Vec::new(),
    };
    CampaignAnalysis {
        name: plan.name,
        message_template: plan.message_template,
        agent_id: plan.agent_id,
        from_numbers: plan.from_numbers,
        schedule: plan.schedule,
        errors: plan.errors,
        recipients,
        require_consent: plan.require_consent,
    }
}

fn validate_senders<L>(
    req: &CampaignRequest<L>,
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

/// How far ahead a campaign may be scheduled: a year, leap day included.
pub const MAX_SCHEDULE_AHEAD: time::Duration = time::Duration::days(366);

fn validate_schedule<L>(
    req: &CampaignRequest<L>,
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
    if let Some(t) = at
        && t > now + MAX_SCHEDULE_AHEAD
    {
        errors.push(FieldError::new(
            "scheduled_at",
            "must be at most a year (366 days) ahead",
        ));
        return Schedule::Now;
    }
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
