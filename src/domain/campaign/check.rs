//! The per-recipient pass shared by create and preview: each entry's fate, in request order.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::request::RecipientInput;
use super::{Duplicate, MAX_BODY_CHARS, NewRecipient};
use crate::domain::FieldError;
use crate::domain::input;
use crate::domain::phone::Phone;
use crate::domain::segments::{self, Encoding};
use crate::domain::template::Template;

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
    /// The country a phone without a country code is read in (`default_country`); `None`:
    /// phones must be international.
    default_country: Option<&'a str>,
    /// Index of the sendable entry that claimed each phone (by [`Phone::key`], which is
    /// smaller than the phone's text: 100,000 of them are held at once).
    pub(super) seen: HashMap<u64, usize>,
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
            default_country: None,
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

    /// Reads phones without a country code as numbers of `country` (ISO 3166 alpha-2, known
    /// to [`Phone::check_region`]), as recipient import does ([`Phone::parse_with_region`]).
    pub fn with_default_country(mut self, country: Option<&'a str>) -> Self {
        self.default_country = country;
        self
    }

    /// Decides the fate of entry `index`. Checks, in order: variable values (strings, numbers
    /// or booleans, within the sizes of [`input::check_variables`]), the phone (required, E.164), repeats of an earlier sendable phone, then
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
        errors.extend(input::check_variables(
            &format!("recipients[{index}].variables"),
            &vars,
        ));
        let phone = match r.phone() {
            None => {
                errors.push(FieldError::new(
                    format!("recipients[{index}].phone"),
                    "is required",
                ));
                None
            }
            Some(raw) => match self.parse_phone(raw) {
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

    /// A recipient's phone: international, or national in the default country when there is one.
    fn parse_phone(&self, raw: &str) -> Result<Phone, crate::domain::phone::PhoneError> {
        match self.default_country {
            Some(country) => Phone::parse_with_region(raw, Some(country)),
            None => Phone::parse(raw),
        }
    }
}
