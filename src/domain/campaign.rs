//! A campaign request, the one analysis pass over it, and the all-or-nothing validation
//! (create) and the report (preview) built from that analysis.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
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

// `L` is how the recipients are held: a `Vec` of `RecipientRequest` (owned, the default) or
// `RecipientsJson` (their JSON text in the request's bytes, read one recipient at a time,
// which create uses so that a 100,000-recipient body is not copied into 100,000 maps). A
// plain comment, not a doc comment: the doc comment is the OpenAPI description.
/// The body of `POST /v1/sms/campaigns` (and of `/preview`), as the spec page shows it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "L: Deserialize<'de>"))]
pub struct CampaignRequest<L = Vec<RecipientRequest>> {
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
    #[schema(value_type = Option<Vec<RecipientRequest>>)]
    pub recipients: Option<L>,
    /// `now` (default), `schedule` or `draft`.
    #[serde(default)]
    pub schedule_type: Option<ScheduleType>,
    /// RFC 3339 time to start, with `schedule` (required) or `draft` (optional).
    #[serde(default)]
    pub scheduled_at: Option<String>,
    /// Send only to numbers whose latest consent record is `granted` (`/v1/consents`); the
    /// others are kept and fail with `error_code: "no_consent"`. Checked at create and again
    /// just before each send. Default false.
    #[serde(default)]
    pub require_consent: Option<bool>,
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

/// One recipient as the per-recipient checks read it, however it is held.
pub trait RecipientInput {
    /// The phone as given.
    fn phone(&self) -> Option<&str>;
    /// The variables as given (`None` when absent); `Err` with a message when they cannot be
    /// read as an object (never, for a value that deserialized).
    fn variables(&self) -> Result<Option<Cow<'_, Map<String, Value>>>, String>;
}

impl RecipientInput for RecipientRequest {
    fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    fn variables(&self) -> Result<Option<Cow<'_, Map<String, Value>>>, String> {
        Ok(self.variables.as_ref().map(Cow::Borrowed))
    }
}

impl<T: RecipientInput + ?Sized> RecipientInput for &T {
    fn phone(&self) -> Option<&str> {
        (**self).phone()
    }

    fn variables(&self) -> Result<Option<Cow<'_, Map<String, Value>>>, String> {
        (**self).variables()
    }
}

/// A request's `recipients`, however they are held: read in order, as often as needed.
pub trait Recipients {
    /// One recipient as the checks read it.
    type Item<'s>: RecipientInput + Send
    where
        Self: 's;
    /// How many there are.
    fn len(&self) -> usize;
    /// True when there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Each recipient in request order.
    fn iter(&self) -> impl Iterator<Item = Self::Item<'_>> + Send;
}

impl Recipients for Vec<RecipientRequest> {
    type Item<'s> = &'s RecipientRequest;

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn iter(&self) -> impl Iterator<Item = &RecipientRequest> + Send {
        self.as_slice().iter()
    }
}

/// A request's `recipients` kept as their JSON text in the request's bytes: checked when
/// deserialized (each entry read as a [`RecipientRequest`] and dropped, so it refuses exactly
/// what a `Vec` of them refuses), then read again as [`RecipientRef`]s one entry at a time,
/// so no per-entry value is held for the whole request.
#[derive(Debug, Clone, Copy)]
pub struct RecipientsJson<'a> {
    raw: &'a RawValue,
    len: usize,
}

impl<'de: 'a, 'a> Deserialize<'de> for RecipientsJson<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> serde::de::Visitor<'de> for Count {
            type Value = usize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<usize, A::Error> {
                let mut n = 0;
                // The owned form, dropped at once: the same checks as a `Vec` of them.
                while seq.next_element::<RecipientRequest>()?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
        }
        let raw = <&'a RawValue>::deserialize(deserializer)?;
        // Any refusal here is reported without the exact serde message and position; the
        // caller re-reads a refused body with the owned types for those.
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let len = serde::Deserializer::deserialize_seq(&mut de, Count)
            .map_err(serde::de::Error::custom)?;
        Ok(RecipientsJson { raw, len })
    }
}

impl<'a> Recipients for RecipientsJson<'a> {
    type Item<'s>
        = JsonEntry<'a>
    where
        Self: 's;

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = JsonEntry<'a>> + Send {
        JsonEntries {
            text: self.raw.get(),
            // Past the `[` (a raw value starts at its first character).
            pos: 1,
            left: self.len,
        }
    }
}

/// One entry read from a [`RecipientsJson`]: the recipient, or why it could not be read
/// again (never, after the check when deserializing; refused as invalid rather than
/// skipped, so nothing is ever partial).
#[derive(Debug, Clone)]
pub enum JsonEntry<'a> {
    /// The recipient.
    Read(RecipientRef<'a>),
    /// The entry could not be read.
    Unreadable(String),
}

impl RecipientInput for JsonEntry<'_> {
    fn phone(&self) -> Option<&str> {
        match self {
            JsonEntry::Read(r) => r.phone(),
            JsonEntry::Unreadable(_) => None,
        }
    }

    fn variables(&self) -> Result<Option<Cow<'_, Map<String, Value>>>, String> {
        match self {
            JsonEntry::Read(r) => r.variables(),
            JsonEntry::Unreadable(e) => Err(e.clone()),
        }
    }
}

/// Reads the entries of a JSON array one at a time.
struct JsonEntries<'a> {
    text: &'a str,
    pos: usize,
    left: usize,
}

impl<'a> Iterator for JsonEntries<'a> {
    type Item = JsonEntry<'a>;

    fn next(&mut self) -> Option<JsonEntry<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let bytes = self.text.as_bytes();
        let skip = |mut pos: usize| {
            while bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
                pos += 1;
            }
            pos
        };
        let mut pos = skip(self.pos);
        if bytes.get(pos) == Some(&b',') {
            pos = skip(pos + 1);
        }
        let rest = self.text.get(pos..).unwrap_or("");
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<RecipientRef<'a>>();
        let entry = match stream.next() {
            Some(Ok(r)) => JsonEntry::Read(r),
            Some(Err(e)) => JsonEntry::Unreadable(e.to_string()),
            None => JsonEntry::Unreadable("missing".into()),
        };
        self.pos = pos + stream.byte_offset();
        Some(entry)
    }
}

/// One recipient of a create request, borrowed from the request's bytes: the phone as a
/// string slice (owned only when it had escapes) and the variables as their JSON text, read
/// into a map only when the recipient is checked. Read only from text that was already read
/// as a [`RecipientRequest`] ([`RecipientsJson`]), so the variables do read as a map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientRef<'a> {
    /// E.164 phone number, as given.
    #[serde(default, borrow)]
    pub phone: Option<BorrowedStr<'a>>,
    /// The variables' JSON text (an object).
    #[serde(default, borrow)]
    pub variables: Option<&'a RawValue>,
}

impl RecipientInput for RecipientRef<'_> {
    fn phone(&self) -> Option<&str> {
        self.phone.as_ref().map(|p| p.0.as_ref())
    }

    fn variables(&self) -> Result<Option<Cow<'_, Map<String, Value>>>, String> {
        self.variables
            .map(|raw| {
                serde_json::from_str(raw.get())
                    .map(Cow::Owned)
                    .map_err(|e| e.to_string())
            })
            .transpose()
    }
}

/// A JSON string borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowedStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BorrowedStr<'de>;
            // The same words as `String`'s visitor, so type errors read the same.
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
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
    /// Numbers whose latest consent record is `granted`; read only for requests with
    /// `require_consent` (empty otherwise).
    pub consented: HashSet<String>,
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
    /// The campaign requires consent and the number has none: kept, never sent, reported as
    /// failed with `no_consent`.
    pub no_consent: bool,
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
    /// Sends only to numbers with granted consent.
    pub require_consent: bool,
}

/// Checks everything about a request at once: either a campaign that can be stored
/// as is, or every problem found, each with its field path. Nothing is partial.
///
/// This is [`analyse`] followed by [`CampaignAnalysis::into_valid`]; the preview endpoint runs
/// the same analysis and reports it instead of refusing.
pub fn validate<L: Recipients>(
    req: &CampaignRequest<L>,
    ctx: &AccountContext,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<ValidCampaign, Vec<FieldError>> {
    analyse(req, ctx, limits, now).into_valid()
}

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

/// What became of one entry of a request's `recipients`.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipientOutcome {
    /// It will be stored: phone parsed, message rendered and measured, sender assigned.
    /// Opted-out numbers are sendable too (kept, never sent; see [`SendableRecipient::opted_out`]).
    Sendable(Box<SendableRecipient>),
    /// It is refused; every problem with its field path (`recipients[3].phone`, ...).
    Invalid(Vec<FieldError>),
    /// Its phone appeared in an earlier sendable entry; dropped, reported, never an error.
    Duplicate(Duplicate),
}

/// A recipient that passed every per-recipient check.
#[derive(Debug, Clone, PartialEq)]
pub struct SendableRecipient {
    /// Where the message goes.
    pub phone: Phone,
    /// The variables exactly as given.
    pub variables: Map<String, Value>,
    /// The rendered message; `None` only when the request has no usable template.
    pub message: Option<RenderedMessage>,
    /// The number that sends it; `None` only when the request names no valid sender.
    pub from_number: Option<Phone>,
    /// The number opted out: kept, never sent, reported as failed with `opted_out`.
    pub opted_out: bool,
    /// The request requires consent and this number has none granted (and did not opt out):
    /// kept, never sent, reported as failed with `no_consent`.
    pub no_consent: bool,
    /// Placeholders of the template this recipient has no (non-null) value for; they render
    /// as empty text, which is allowed but usually a mistake, so previews flag them.
    pub missing_variables: Vec<String>,
}

impl SendableRecipient {
    /// The stored form, when there is a message and a sender (always, for a valid request).
    pub fn into_new_recipient(self) -> Option<NewRecipient> {
        let message = self.message?;
        Some(NewRecipient {
            phone: self.phone,
            variables: self.variables,
            body: message.body,
            segments: message.segments,
            encoding: message.encoding,
            from_number: self.from_number?,
            opted_out: self.opted_out,
            no_consent: self.no_consent,
        })
    }
}

/// One recipient's message as Twilio will get it, measured the way Twilio bills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    /// The rendered text.
    pub body: String,
    /// Segments it takes (pacing and cost count these).
    pub segments: u32,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
}

/// The per-recipient pass shared by create and preview: call [`RecipientChecker::check`] on
/// each entry in request order.
///
/// Why a struct: an entry's fate depends on the entries before it (a repeated phone is a
/// duplicate of the first sendable one; senders of a pool are assigned round-robin over the
/// sendable entries), so the checker carries that state between calls.
pub struct RecipientChecker<'a> {
    template: Option<&'a Template>,
    from_numbers: &'a [Phone],
    opted_out: &'a HashSet<String>,
    consented: Option<&'a HashSet<String>>,
    /// Index of the sendable entry that claimed each phone (by [`Phone::key`], which is
    /// smaller than the phone's text: 100,000 of them are held at once).
    seen: HashMap<u64, usize>,
    /// The same, for phones without a key (none that E.164 allows).
    seen_long: HashMap<String, usize>,
    sendable: usize,
}

impl<'a> RecipientChecker<'a> {
    /// A checker for one request: its template (if usable), its valid senders and the
    /// account's opted-out numbers.
    pub fn new(
        template: Option<&'a Template>,
        from_numbers: &'a [Phone],
        opted_out: &'a HashSet<String>,
    ) -> Self {
        Self {
            template,
            from_numbers,
            opted_out,
            consented: None,
            seen: HashMap::new(),
            seen_long: HashMap::new(),
            sendable: 0,
        }
    }

    /// Requires consent: numbers not in `consented` (and not opted out) are marked
    /// [`SendableRecipient::no_consent`].
    pub fn requiring_consent(mut self, consented: &'a HashSet<String>) -> Self {
        self.consented = Some(consented);
        self
    }

    /// Decides the fate of entry `index`. Checks, in order: variable values (strings, numbers
    /// or booleans), the phone (required, E.164), repeats of an earlier sendable phone, then
    /// the rendered body (not empty, at most [`MAX_BODY_CHARS`]).
    pub fn check<R: RecipientInput + ?Sized>(&mut self, index: usize, r: &R) -> RecipientOutcome {
        let vars = match r.variables() {
            Ok(Some(vars)) => vars,
            Ok(None) => Cow::Owned(Map::new()),
            Err(e) => {
                return RecipientOutcome::Invalid(vec![FieldError::new(
                    format!("recipients[{index}].variables"),
                    e,
                )]);
            }
        };
        let mut errors = Vec::new();
        for (key, value) in vars.iter() {
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                errors.push(FieldError::new(
                    format!("recipients[{index}].variables.{key}"),
                    "must be a string, number or boolean",
                ));
            }
        }
        let phone = match r.phone() {
            None => {
                errors.push(FieldError::new(
                    format!("recipients[{index}].phone"),
                    "is required",
                ));
                None
            }
            Some(raw) => match Phone::parse(raw) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(FieldError::new(
                        format!("recipients[{index}].phone"),
                        e.to_string(),
                    ));
                    None
                }
            },
        };
        let Some(phone) = phone.filter(|_| errors.is_empty()) else {
            return RecipientOutcome::Invalid(errors);
        };
        let key = phone.key();
        let claimed = match key {
            Some(key) => self.seen.get(&key),
            None => self.seen_long.get(phone.as_str()),
        };
        if let Some(&first_index) = claimed {
            return RecipientOutcome::Duplicate(Duplicate {
                index,
                phone: phone.as_str().to_owned(),
                first_index,
            });
        }
        let (message, missing_variables) = match self.template {
            None => (None, Vec::new()),
            Some(template) => {
                let body = template.render(&vars);
                let chars = body.chars().count();
                if chars > MAX_BODY_CHARS {
                    return RecipientOutcome::Invalid(vec![FieldError::new(
                        format!("recipients[{index}]"),
                        format!(
                            "the rendered message has {chars} characters; Twilio allows at most {MAX_BODY_CHARS}"
                        ),
                    )]);
                }
                if body.trim().is_empty() {
                    return RecipientOutcome::Invalid(vec![FieldError::new(
                        format!("recipients[{index}]"),
                        "the rendered message is empty",
                    )]);
                }
                let count = segments::count(&body);
                let missing = template
                    .missing(&vars)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                let message = RenderedMessage {
                    body,
                    segments: count.segments,
                    encoding: count.encoding,
                };
                (Some(message), missing)
            }
        };
        let from_number = match self.from_numbers.len() {
            0 => None,
            n => Some(self.from_numbers[self.sendable % n].clone()),
        };
        match key {
            Some(key) => self.seen.insert(key, index),
            None => self.seen_long.insert(phone.as_str().to_owned(), index),
        };
        self.sendable += 1;
        let opted_out = self.opted_out.contains(phone.as_str());
        let no_consent = !opted_out && self.consented.is_some_and(|c| !c.contains(phone.as_str()));
        RecipientOutcome::Sendable(Box::new(SendableRecipient {
            opted_out,
            no_consent,
            phone,
            variables: vars.into_owned(),
            message,
            from_number,
            missing_variables,
        }))
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
}

impl CampaignPlan {
    /// The per-recipient checker for this request: call it on each entry in request order.
    pub fn checker<'s>(&'s self, ctx: &'s AccountContext) -> RecipientChecker<'s> {
        let mut checker =
            RecipientChecker::new(self.template.as_ref(), &self.from_numbers, &ctx.opted_out);
        if self.require_consent {
            checker = checker.requiring_consent(&ctx.consented);
        }
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
    let require_consent = req.require_consent.unwrap_or(false);

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
    }
}

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
            consented: ["+447111000001".to_owned(), "+447111000009".to_owned()].into(),
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
    fn with_require_consent_numbers_without_consent_are_kept_and_marked() {
        let mut v = spec_request();
        v["recipients"] = json!([
            { "phone": "+447111000001" },
            { "phone": "+447111000002" },
            { "phone": "+447111000009" }
        ]);
        let c = validate(&request(v.clone()), &ctx(), &Limits::default(), now()).unwrap();
        assert!(!c.require_consent);
        assert!(c.recipients.iter().all(|r| !r.no_consent));
        v["require_consent"] = json!(true);
        let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
        assert!(c.require_consent);
        let flags: Vec<(bool, bool)> = c
            .recipients
            .iter()
            .map(|r| (r.opted_out, r.no_consent))
            .collect();
        // Consented; no consent; opted out (which wins over consent).
        assert_eq!(flags, [(false, false), (false, true), (true, false)]);
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

    fn recipient(v: serde_json::Value) -> RecipientRequest {
        serde_json::from_value(v).expect("recipient shape")
    }

    fn sendable(outcome: &RecipientOutcome) -> &SendableRecipient {
        match outcome {
            RecipientOutcome::Sendable(r) => r,
            other => panic!("expected a sendable recipient, got {other:?}"),
        }
    }

    #[test]
    fn the_checker_gives_each_entry_its_fate_in_one_pass() {
        let template = Template::parse("Hi {{first_name}} {{last_name}}");
        let senders = [
            Phone::parse("+447446466847").unwrap(),
            Phone::parse("+447446466848").unwrap(),
        ];
        let opted_out: HashSet<String> = ["+447111000009".to_owned()].into();
        let mut checker = RecipientChecker::new(Some(&template), &senders, &opted_out);
        let outcomes: Vec<RecipientOutcome> = [
            json!({ "phone": "+447111000001", "variables": { "first_name": "Sarah", "last_name": "Lee" } }),
            json!({ "phone": "07111000002" }),
            json!({ "phone": "+44 7111 000001", "variables": { "first_name": "Again" } }),
            json!({ "phone": "+447111000009", "variables": { "first_name": "Opted" } }),
            json!({ "phone": "+447723456789", "variables": { "first_name": "James" } }),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, v)| checker.check(i, &recipient(v)))
        .collect();

        let first = sendable(&outcomes[0]);
        assert_eq!(first.phone.as_str(), "+447111000001");
        let message = first.message.as_ref().unwrap();
        assert_eq!(message.body, "Hi Sarah Lee");
        assert_eq!((message.segments, message.encoding), (1, Encoding::Gsm7));
        assert_eq!(first.from_number.as_ref(), Some(&senders[0]));
        assert!(first.missing_variables.is_empty());
        assert!(!first.opted_out);

        let RecipientOutcome::Invalid(errors) = &outcomes[1] else {
            panic!("{:?}", outcomes[1]);
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "recipients[1].phone");

        assert_eq!(
            outcomes[2],
            RecipientOutcome::Duplicate(Duplicate {
                index: 2,
                phone: "+447111000001".into(),
                first_index: 0
            })
        );

        // Opted out: kept and rendered, with the next sender of the pool.
        let opted = sendable(&outcomes[3]);
        assert!(opted.opted_out);
        assert_eq!(opted.from_number.as_ref(), Some(&senders[1]));
        assert_eq!(opted.missing_variables, ["last_name"]);

        // Invalid and duplicate entries take no turn of the pool.
        let last = sendable(&outcomes[4]);
        assert_eq!(last.from_number.as_ref(), Some(&senders[0]));
        assert_eq!(last.message.as_ref().unwrap().body, "Hi James ");
        assert_eq!(last.missing_variables, ["last_name"]);
    }

    #[test]
    fn the_checker_reports_every_problem_of_an_entry_and_measures_ucs2() {
        let template = Template::parse("{{greeting}} 🎉 {{pad}}");
        let senders = [Phone::parse("+447446466847").unwrap()];
        let none = HashSet::new();
        let mut checker = RecipientChecker::new(Some(&template), &senders, &none);
        let bad = checker.check(0, &recipient(json!({ "variables": { "a": [1], "b": {} } })));
        let RecipientOutcome::Invalid(errors) = bad else {
            panic!("{bad:?}");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "recipients[0].variables.a",
                "recipients[0].variables.b",
                "recipients[0].phone"
            ]
        );
        // 3 + 1 + 2 (emoji) + 1 + 64 = 71 UTF-16 units: two UCS-2 segments.
        let long = checker.check(
            1,
            &recipient(json!({ "phone": "+447111000001", "variables": { "greeting": "Hey", "pad": "x".repeat(64) } })),
        );
        let message = sendable(&long).message.clone().unwrap();
        assert_eq!((message.encoding, message.segments), (Encoding::Ucs2, 2));
    }

    #[test]
    fn a_refused_body_does_not_claim_its_phone() {
        let template = Template::parse("{{text}}");
        let senders = [Phone::parse("+447446466847").unwrap()];
        let none = HashSet::new();
        let mut checker = RecipientChecker::new(Some(&template), &senders, &none);
        let empty = checker.check(0, &recipient(json!({ "phone": "+447111000001" })));
        assert_eq!(
            empty,
            RecipientOutcome::Invalid(vec![FieldError::new(
                "recipients[0]",
                "the rendered message is empty"
            )])
        );
        let later = checker.check(
            1,
            &recipient(json!({ "phone": "+447111000001", "variables": { "text": "Hello" } })),
        );
        assert_eq!(sendable(&later).message.as_ref().unwrap().body, "Hello");
    }

    #[test]
    fn without_template_or_sender_entries_are_still_checked() {
        let none = HashSet::new();
        let mut checker = RecipientChecker::new(None, &[], &none);
        let first = checker.check(0, &recipient(json!({ "phone": "+447111000001" })));
        assert_eq!(sendable(&first).message, None);
        assert_eq!(sendable(&first).from_number, None);
        assert!(matches!(
            checker.check(1, &recipient(json!({ "phone": "+447111000001" }))),
            RecipientOutcome::Duplicate(_)
        ));
    }

    #[test]
    fn the_analysis_keeps_every_finding_and_agrees_with_validate() {
        let mut v = spec_request();
        v.as_object_mut().unwrap().remove("name");
        v["recipients"] = json!([
            { "phone": "+447111000001", "variables": { "first_name": "A" } },
            { "phone": "nope" },
            { "phone": "+447111000001" },
            { "phone": "+447111000009" }
        ]);
        let req = request(v);
        let analysis = analyse(&req, &ctx(), &Limits::default(), now());
        assert!(!analysis.is_valid());
        assert_eq!(analysis.errors, [FieldError::new("name", "is required")]);
        assert_eq!(analysis.recipients.len(), 4);
        assert!(matches!(
            analysis.recipients[0],
            RecipientOutcome::Sendable(_)
        ));
        assert!(matches!(
            analysis.recipients[1],
            RecipientOutcome::Invalid(_)
        ));
        assert!(matches!(
            analysis.recipients[2],
            RecipientOutcome::Duplicate(_)
        ));
        assert!(sendable(&analysis.recipients[3]).opted_out);
        let fields: Vec<String> = analysis.all_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "recipients[1].phone"]);
        let errors = validate(&req, &ctx(), &Limits::default(), now()).unwrap_err();
        assert_eq!(errors, analysis.all_errors());

        let ok = analyse(&request(spec_request()), &ctx(), &Limits::default(), now());
        assert!(ok.is_valid());
        assert_eq!(ok.into_valid().unwrap().recipients.len(), 2);
    }

    fn borrowed(body: &str) -> Result<CampaignRequest<RecipientsJson<'_>>, serde_json::Error> {
        serde_json::from_str(body)
    }

    #[test]
    fn recipients_json_reads_every_entry_as_the_owned_form_does() {
        let body = r#"{ "name": "N", "recipients" : [
            { "phone": "+447111000001", "variables": { "b": 2, "a": "x", "a": "y" } } ,
            {"variables":{"first_name":"S\u00e9b"},"phone":"\u002b447111000002"},
            { "phone": "+447111000003" },{}
          ] , "from_number": "+447446466847" }"#;
        let owned: CampaignRequest = serde_json::from_str(body).unwrap();
        let lazy = borrowed(body).unwrap();
        let list = lazy.recipients.as_ref().unwrap();
        assert_eq!(Recipients::len(list), 4);
        let entries: Vec<JsonEntry<'_>> = list.iter().collect();
        assert_eq!(entries.len(), 4);
        for (entry, want) in entries.iter().zip(owned.recipients.as_ref().unwrap()) {
            assert_eq!(entry.phone(), want.phone.as_deref());
            assert_eq!(
                entry.variables().unwrap().map(Cow::into_owned),
                want.variables.clone()
            );
        }
        // Unescaped text is borrowed from the body, not copied.
        let JsonEntry::Read(first) = &entries[0] else {
            panic!("{:?}", entries[0]);
        };
        assert!(matches!(first.phone, Some(BorrowedStr(Cow::Borrowed(_)))));
        // Reading again gives the same entries.
        assert_eq!(list.iter().count(), 4);
    }

    #[test]
    fn recipients_json_refuses_what_the_owned_form_refuses() {
        for recipients in [
            r#"[{ "phone": 447111000001 }]"#,
            r#"[{ "phone": "+447111000001", "variables": [1] }]"#,
            r#"[{ "phone": "+447111000001", "variables": "x" }]"#,
            r#"[{ "phone": "+447111000001", "variables": { "n": 1e400 } }]"#,
            r#"[{ "phone": "+447111000001", "extra": 1 }]"#,
            r#"[null]"#,
            r#"{}"#,
            r#""x""#,
        ] {
            let body = format!(r#"{{ "recipients": {recipients} }}"#);
            assert!(
                serde_json::from_str::<CampaignRequest>(&body).is_err(),
                "owned form accepts {body}"
            );
            assert!(borrowed(&body).is_err(), "borrowed form accepts {body}");
        }
        let empty = borrowed(r#"{ "recipients": [ ] }"#).unwrap();
        assert_eq!(Recipients::len(empty.recipients.as_ref().unwrap()), 0);
        assert!(
            borrowed(r#"{ "recipients": null }"#)
                .unwrap()
                .recipients
                .is_none()
        );
    }

    #[test]
    fn the_borrowed_and_owned_forms_give_the_same_analysis() {
        let mut v = spec_request();
        v["recipients"] = json!([
            { "phone": "+447111000001", "variables": { "first_name": "A" } },
            { "phone": "nope" },
            { "phone": "+44 7111 000001", "variables": { "first_name": "B" } },
            { "phone": "+447111000009", "variables": { "first_name": ["x"] } },
            { "phone": "+447111000009" }
        ]);
        let body = serde_json::to_string(&v).unwrap();
        let owned = analyse(&request(v), &ctx(), &Limits::default(), now());
        let lazy = analyse(&borrowed(&body).unwrap(), &ctx(), &Limits::default(), now());
        assert_eq!(lazy.recipients, owned.recipients);
        assert_eq!(lazy.all_errors(), owned.all_errors());
        let limited = plan(
            &borrowed(&body).unwrap(),
            &ctx(),
            &Limits { max_recipients: 4 },
            now(),
        );
        assert_eq!(limited.recipients, None);
        assert_eq!(limited.errors[0].field, "recipients");
    }
}
