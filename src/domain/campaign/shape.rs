//! A create or preview body that did not deserialize, read again field by field so that its
//! 422 lists every field of the wrong type (and every unknown or repeated one), not the first.

use std::collections::HashSet;

use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::request::{
    CAMPAIGN_FIELDS, CampaignRequest, PARSE_ONLY_FIELDS, RECIPIENT_FIELDS, RecipientRequest,
};
use crate::domain::FieldError;

/// A refused body read field by field: what did read, and every field that did not.
///
/// Why: serde stops at the first error, and a 422 must name every bad field (docs/ARCHITECTURE.md
/// §2). This second reading runs only for a body that already failed, so the streaming create
/// keeps its single pass on success. Each message is serde's own, with its position in the
/// whole body, exactly as a reading of the whole body would have reported it.
#[derive(Debug)]
pub struct MisshapenRequest {
    /// The fields that read, in their types; a field that did not is absent (as are the
    /// recipient fields that did not, each recipient kept in its place).
    pub request: CampaignRequest,
    /// Every field of the wrong type, unknown or repeated, in body order, with its path.
    pub errors: Vec<FieldError>,
}

impl MisshapenRequest {
    /// Reads `body` field by field. `None` when there is nothing to add to serde's first error:
    /// the body is not a JSON object of valid syntax, a value fails for another reason than
    /// its type (a number out of range), or every field reads.
    pub fn read(body: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        let mut reader = Reader {
            text,
            errors: Vec::new(),
            aborted: false,
        };
        let entries = reader.entries(text)?;
        let mut request = CampaignRequest::default();
        let mut seen = HashSet::new();
        for (key, raw) in entries {
            if CAMPAIGN_FIELDS.contains(&key.as_str()) && !seen.insert(key.clone()) {
                reader.key_error(&key, raw, serde_json::Error::duplicate_field(leak(&key)));
                continue;
            }
            match key.as_str() {
                "agent_id" => request.agent_id = reader.value(&key, raw).flatten(),
                "from_number" => request.from_number = reader.value(&key, raw).flatten(),
                "from_numbers" => request.from_numbers = reader.value(&key, raw).flatten(),
                "name" => request.name = reader.value(&key, raw).flatten(),
                "message_template" => request.message_template = reader.value(&key, raw).flatten(),
                "recipients" => request.recipients = reader.recipients(raw),
                "schedule_type" => request.schedule_type = reader.value(&key, raw).flatten(),
                "scheduled_at" => request.scheduled_at = reader.value(&key, raw).flatten(),
                "require_consent" => request.require_consent = reader.value(&key, raw).flatten(),
                "default_country" => request.default_country = reader.value(&key, raw).flatten(),
                "respect_send_window" => {
                    request.respect_send_window = reader.value(&key, raw).flatten()
                }
                "send_window_reason" => {
                    request.send_window_reason = reader.value(&key, raw).flatten()
                }
                _ => reader.key_error(
                    &key,
                    raw,
                    serde_json::Error::unknown_field(&key, CAMPAIGN_FIELDS),
                ),
            }
        }
        (!reader.aborted && !reader.errors.is_empty()).then_some(MisshapenRequest {
            request,
            errors: reader.errors,
        })
    }

    /// The complete refusal: these type errors first, then the problems the checks of create
    /// found in what did read (`value_errors`, in create's order), except those a type error
    /// already explains (`name` is not "required" when it was a number).
    pub fn with_value_errors(&self, value_errors: Vec<FieldError>) -> Vec<FieldError> {
        let mut out = self.errors.clone();
        out.extend(
            value_errors
                .into_iter()
                .filter(|v| !self.errors.iter().any(|t| explains(&t.field, &v.field))),
        );
        out
    }
}

/// The top-level name of a field path (`recipients` for `recipients[3].phone`).
fn root(field: &str) -> &str {
    field.split(['[', '.']).next().unwrap_or(field)
}

/// True when a type error at `typed` explains a value error at `field`: the same field or one
/// inside it; for a field other than a single recipient, anything on the same top-level field
/// or on its partner (`from_number` and `from_numbers`, `schedule_type` and `scheduled_at`).
fn explains(typed: &str, field: &str) -> bool {
    let inside = field == typed
        || field
            .strip_prefix(typed)
            .is_some_and(|rest| rest.starts_with(['.', '[']));
    if inside {
        return true;
    }
    let (t, f) = (root(typed), root(field));
    if t == "recipients" && typed != "recipients" {
        return false;
    }
    t == f
        || matches!(
            (t, f),
            ("from_number", "from_numbers")
                | ("from_numbers", "from_number")
                | ("schedule_type", "scheduled_at")
        )
}

/// serde's `duplicate_field` wants a `&'static str`; only ever called with one of the known
/// field names, which are.
fn leak(key: &str) -> &'static str {
    CAMPAIGN_FIELDS
        .iter()
        .chain(RECIPIENT_FIELDS)
        .find(|f| **f == key)
        .copied()
        .unwrap_or("field")
}

/// Reads the values of one body, collecting errors.
struct Reader<'a> {
    /// The whole body.
    text: &'a str,
    errors: Vec<FieldError>,
    /// A value failed for another reason than its type: the reading is given up.
    aborted: bool,
}

impl<'a> Reader<'a> {
    /// The entries of the JSON object `text` (a slice of the body), in order, repeats kept;
    /// `None` when it is not an object.
    fn entries(&self, text: &'a str) -> Option<Vec<(String, &'a RawValue)>> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Vec<(String, &'de RawValue)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(out)
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let entries = serde::Deserializer::deserialize_map(&mut de, Entries).ok()?;
        de.end().ok()?;
        Some(entries)
    }

    /// Where `raw` starts in the body.
    fn offset(&self, raw: &RawValue) -> usize {
        (raw.get().as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize)
    }

    /// ` at line L column C` for a byte index of the body, as serde_json counts them.
    fn at(&self, index: usize) -> String {
        let before = self.text.as_bytes().get(..index).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let line = 1 + before[..line_start].iter().filter(|b| **b == b'\n').count();
        format!(" at line {line} column {}", index - line_start)
    }

    /// Reads one value into its field's type; `None` (and the error recorded) when it does not.
    fn value<T: DeserializeOwned>(&mut self, path: &str, raw: &RawValue) -> Option<T> {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner_path = e.path().to_string();
                let inner = e.into_inner();
                if inner.classify() != serde_json::error::Category::Data {
                    self.aborted = true;
                    return None;
                }
                let field = match inner_path.as_str() {
                    "." => path.to_owned(),
                    p if p.starts_with('[') => format!("{path}{p}"),
                    p => format!("{path}.{p}"),
                };
                let message = self.relocated(&inner, self.offset(raw));
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// serde's message for an error in a value starting at `start`, its position moved from
    /// the value's text to the whole body's.
    fn relocated(&self, e: &serde_json::Error, start: usize) -> String {
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let Some(bare) = message.strip_suffix(&suffix).filter(|_| e.line() > 0) else {
            return message;
        };
        let value = self.text.get(start..).unwrap_or_default();
        let line_start = match e.line() {
            1 => Some(0),
            n => value.match_indices('\n').nth(n - 2).map(|(i, _)| i + 1),
        };
        match line_start {
            Some(line_start) => format!("{bare}{}", self.at(start + line_start + e.column())),
            None => message,
        }
    }

    /// An error about a key (unknown or repeated), placed where serde places it: just after
    /// the key, which precedes `raw`.
    fn key_error(&mut self, path: &str, raw: &RawValue, e: serde_json::Error) {
        let bytes = self.text.as_bytes();
        let mut i = self.offset(raw);
        let skip_back = |mut i: usize| {
            while i > 0 && bytes[i - 1].is_ascii_whitespace() {
                i -= 1;
            }
            i
        };
        i = skip_back(i);
        if i > 0 && bytes[i - 1] == b':' {
            i = skip_back(i - 1);
        }
        self.errors
            .push(FieldError::new(path, format!("{e}{}", self.at(i))));
    }

    /// The `recipients`: each entry read field by field, kept in its place even when it does
    /// not read (so the indexes of the others stay right).
    fn recipients(&mut self, raw: &'a RawValue) -> Option<Vec<RecipientRequest>> {
        let Ok(list) = serde_json::from_str::<Vec<&'a RawValue>>(raw.get()) else {
            return self
                .value::<Option<Vec<RecipientRequest>>>("recipients", raw)
                .flatten();
        };
        let out = list
            .into_iter()
            .enumerate()
            .map(|(i, entry)| self.recipient(&format!("recipients[{i}]"), entry))
            .collect();
        Some(out)
    }

    fn recipient(&mut self, path: &str, raw: &'a RawValue) -> RecipientRequest {
        let mut out = RecipientRequest {
            phone: None,
            variables: None,
        };
        let Some(entries) = self.entries(raw.get()) else {
            return self.value(path, raw).unwrap_or(out);
        };
        let mut seen = HashSet::new();
        for (key, value) in entries {
            let field = format!("{path}.{key}");
            if RECIPIENT_FIELDS.contains(&key.as_str()) && !seen.insert(key.clone()) {
                self.key_error(
                    &field,
                    value,
                    serde_json::Error::duplicate_field(leak(&key)),
                );
                continue;
            }
            match key.as_str() {
                "phone" => out.phone = self.value(&field, value).flatten(),
                "variables" => out.variables = self.value(&field, value).flatten(),
                k if PARSE_ONLY_FIELDS.contains(&k) => {}
                _ => self.key_error(
                    &field,
                    value,
                    serde_json::Error::unknown_field(&key, RECIPIENT_FIELDS),
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first error of the whole body, read at once, as the API reports it.
    fn first_error(body: &str) -> FieldError {
        let mut de = serde_json::Deserializer::from_str(body);
        let e = serde_path_to_error::deserialize::<_, CampaignRequest>(&mut de).unwrap_err();
        let path = e.path().to_string();
        FieldError::new(path, e.into_inner().to_string())
    }

    fn read(body: &str) -> Vec<FieldError> {
        MisshapenRequest::read(body.as_bytes())
            .expect("read field by field")
            .errors
    }

    #[test]
    fn the_first_error_is_exactly_what_reading_the_whole_body_reports() {
        for body in [
            r#"{"name": 123}"#,
            "{\n  \"name\": \"x\",\n  \"recipients\": \"all\"\n}",
            r#"{"recipients": [{"phone": "+447111000001"}, {"phone": 447111000002}]}"#,
            r#"{"recipients": [{"phone": "+447111000001"}, {"phone": "+447111000002", "variables": [1]}]}"#,
            r#"{"recipients": [{"phone": "+447111000001", "variables": {"a": "x"}, "extra": 1}]}"#,
            "{\"recipients\": [\n  {\"phone\": \"+1\"},\n  {\"phone\": \"+2\",\n   \"extra\": 1}]}",
            r#"{"schedule_at": "2030-01-01T00:00:00Z"}"#,
            r#"{"schedule_type": "later"}"#,
            r#"{"recipients": [null, 3]}"#,
            r#"{"recipients": {}}"#,
            r#"{"from_numbers": ["+447446466847", 5]}"#,
            r#"{"require_consent": "yes"}"#,
            r#"{"recipients": [{"phone": "+1", "variables": {"a": 1}}], "name": {"x": [1, 2]}}"#,
        ] {
            let first = read(body).remove(0);
            assert_eq!(first, first_error(body), "{body}");
        }
        // A repeated field: serde names the object holding it, this reading the field itself.
        for (body, field) in [
            (r#"{"name": "a", "name": "b"}"#, "name"),
            (
                r#"{"recipients": [{"phone": "+1", "phone": "+2"}]}"#,
                "recipients[0].phone",
            ),
        ] {
            let first = read(body).remove(0);
            assert_eq!(first.field, field);
            assert_eq!(first.message, first_error(body).message, "{body}");
        }
    }

    #[test]
    fn every_type_error_is_listed_with_its_path() {
        let errors = read(
            r#"{"name": 123, "recipients": [{"phone": 1}, {"phone": "+447111000002"}, {"phone": "x", "variables": 2, "line": 4, "row": 1}], "require_consent": "no", "nope": 1}"#,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "recipients[0].phone",
                "recipients[2].variables",
                "recipients[2].row",
                "require_consent",
                "nope"
            ]
        );
    }

    #[test]
    fn what_reads_is_kept_in_place() {
        let m = MisshapenRequest::read(
            br#"{"name": 1, "message_template": "Hi", "recipients": [{"phone": 1}, {"phone": "+447111000002"}]}"#,
        )
        .unwrap();
        assert_eq!(m.request.name, None);
        assert_eq!(m.request.message_template.as_deref(), Some("Hi"));
        let recipients = m.request.recipients.unwrap();
        assert_eq!(recipients.len(), 2);
        assert_eq!(recipients[0].phone, None);
        assert_eq!(recipients[1].phone.as_deref(), Some("+447111000002"));
    }

    #[test]
    fn nothing_to_add_gives_none() {
        for body in [
            "[1, 2]",
            r#""text""#,
            r#"{"name": "fine"}"#,
            r#"{"name": 1, "recipients": [{"variables": {"n": 1e400}}]}"#,
        ] {
            assert!(MisshapenRequest::read(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn value_errors_a_type_error_explains_are_dropped() {
        let m = MisshapenRequest {
            request: CampaignRequest::default(),
            errors: vec![
                FieldError::new("name", "invalid type"),
                FieldError::new("from_numbers[1]", "invalid type"),
                FieldError::new("recipients[1].phone", "invalid type"),
            ],
        };
        let all = m.with_value_errors(vec![
            FieldError::new("name", "is required"),
            FieldError::new("message_template", "is required"),
            FieldError::new("from_number", "is required (or give from_numbers)"),
            FieldError::new("recipients[1].phone", "is required"),
            FieldError::new("recipients[2].phone", "not a valid phone number"),
        ]);
        let fields: Vec<&str> = all.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "from_numbers[1]",
                "recipients[1].phone",
                "message_template",
                "recipients[2].phone"
            ]
        );
    }
}
