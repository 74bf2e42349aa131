//! A campaign request as it arrives: its fields and its recipients, owned or read one at a
//! time from the request's bytes.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
/// The body of `POST /v1/sms/campaigns`, as the spec page shows it (preview reads the same
/// fields, none required: its schema is `PreviewRequest`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
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
    /// A name for people to recognise the campaign by (at most 200 characters).
    #[serde(default)]
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Option<String>,
    /// The message, with `{{variable}}` placeholders; at most 4,096 characters.
    #[serde(default)]
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 4096,
        pattern = r"\S"
    )]
    pub message_template: Option<String>,
    /// Who gets it.
    #[serde(default)]
    #[schema(value_type = Vec<RecipientRequest>, required = true, min_items = 1)]
    pub recipients: Option<L>,
    /// `now` (default), `schedule` or `draft`.
    #[serde(default)]
    pub schedule_type: Option<ScheduleType>,
    /// RFC 3339 time to start, with `schedule` (required) or `draft` (optional); at most a
    /// year (366 days) ahead.
    #[serde(default)]
    pub scheduled_at: Option<String>,
    /// Send only to numbers whose latest consent record is `granted` (`/v1/consents`); the
    /// others are kept and fail with `error_code: "no_consent"`. Checked at create and again
    /// just before each send. Default false.
    #[serde(default)]
    pub require_consent: Option<bool>,
    /// ISO 3166 alpha-2 country (`GB`) in which a recipient's phone without a country code is
    /// read, exactly as `POST /v1/sms/recipients/parse` reads it: `07111 000001` with `GB` is
    /// `+447111000001`. Without it, phones must be international (E.164).
    #[serde(default)]
    #[schema(pattern = r"^\s*(?:[A-Za-z]{2}\s*)?$")]
    pub default_country: Option<String>,
    /// `false` sends at any hour, ignoring the account's `send_window` (urgent messages such
    /// as appointment changes). Default true.
    #[serde(default)]
    pub respect_send_window: Option<bool>,
    /// Why the send window is ignored (stored with the campaign; at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub send_window_reason: Option<String>,
}

/// The fields of a create body, in their declared order (the order serde names them in).
pub const CAMPAIGN_FIELDS: &[&str] = &[
    "agent_id",
    "from_number",
    "from_numbers",
    "name",
    "message_template",
    "recipients",
    "schedule_type",
    "scheduled_at",
    "require_consent",
    "default_country",
    "respect_send_window",
    "send_window_reason",
];

// Deserialized by hand (below) so that the fields parse adds are ignored while any other
// unknown field is refused with the message a derived `deny_unknown_fields` gives.
/// One recipient in a create request. The recipients `POST /v1/sms/recipients/parse` returns
/// can be sent as they are: the fields it adds (`line`, `converted_from`) are accepted and ignored. Any other
/// field is refused.
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct RecipientRequest {
    /// E.164 phone number; spaces, dashes, dots and brackets are tolerated (with the request's
    /// `default_country`, also a national number of that country).
    #[serde(default)]
    pub phone: Option<String>,
    /// Values for the template's placeholders: strings, numbers or booleans, each at most
    /// 1,024 characters, names and values together at most 10,240 characters.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
}

/// The fields of a recipient that create reads.
pub const RECIPIENT_FIELDS: &[&str] = &["phone", "variables"];

/// Fields `POST /v1/sms/recipients/parse` adds to each recipient it returns: accepted and
/// ignored by create and preview, so parse's answer can be posted as it is.
pub const PARSE_ONLY_FIELDS: &[&str] = &["line", "converted_from"];

/// A key of a recipient object.
enum RecipientField {
    Phone,
    Variables,
    /// One of [`PARSE_ONLY_FIELDS`].
    Ignored,
}

impl<'de> Deserialize<'de> for RecipientField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RecipientField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RecipientField, E> {
                match v {
                    "phone" => Ok(RecipientField::Phone),
                    "variables" => Ok(RecipientField::Variables),
                    v if PARSE_ONLY_FIELDS.contains(&v) => Ok(RecipientField::Ignored),
                    v => Err(E::unknown_field(v, RECIPIENT_FIELDS)),
                }
            }
        }
        deserializer.deserialize_identifier(Visitor)
    }
}

impl<'de> Deserialize<'de> for RecipientRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RecipientRequest;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("struct RecipientRequest")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RecipientRequest, A::Error> {
                use serde::de::Error;
                let mut phone: Option<Option<String>> = None;
                let mut variables: Option<Option<Map<String, Value>>> = None;
                while let Some(key) = map.next_key::<RecipientField>()? {
                    match key {
                        RecipientField::Phone if phone.is_some() => {
                            return Err(A::Error::duplicate_field("phone"));
                        }
                        RecipientField::Phone => phone = Some(map.next_value()?),
                        RecipientField::Variables if variables.is_some() => {
                            return Err(A::Error::duplicate_field("variables"));
                        }
                        RecipientField::Variables => variables = Some(map.next_value()?),
                        RecipientField::Ignored => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(RecipientRequest {
                    phone: phone.flatten(),
                    variables: variables.flatten(),
                })
            }
        }
        deserializer.deserialize_struct("RecipientRequest", RECIPIENT_FIELDS, Visitor)
    }
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
/// as a [`RecipientRequest`] ([`RecipientsJson`]), so the variables do read as a map and any
/// other field is one of [`PARSE_ONLY_FIELDS`] (skipped).
#[derive(Debug, Clone, Deserialize)]
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
