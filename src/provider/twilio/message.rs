//! The Messages resource as Herald sends and reads it: the create request, the Message
//! Twilio returns, list filters and pages, and the lenient number fields.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

#[cfg(doc)]
use super::{TwilioClient, TwilioError};

/// One outbound SMS to create; `status_callback` overrides any service-level callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRequest<'a> {
    /// Recipient, E.164 (`+4477…`) or a channel address.
    pub to: &'a str,
    /// Sender: a Twilio number, short code or alphanumeric ID owned by the account.
    pub from: &'a str,
    /// Text, at most 1,600 characters.
    pub body: &'a str,
    /// Where Twilio posts status changes for this message.
    pub status_callback: Option<&'a str>,
}

/// A Message resource as Twilio returns it (create, fetch, list); every field but `sid` and
/// `status` may be null, and numbers Twilio sends as strings are parsed leniently.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// `SM…`/`MM…`, the key status callbacks refer to.
    pub sid: String,
    /// `queued`, `sent`, `delivered`, `failed`, … (kept as text: Twilio adds values).
    pub status: String,
    /// Recipient.
    #[serde(default)]
    pub to: Option<String>,
    /// Sender (null with a Messaging Service until a sender is chosen).
    #[serde(default)]
    pub from: Option<String>,
    /// Text as Twilio stored it.
    #[serde(default)]
    pub body: Option<String>,
    /// Segments billed; Twilio sends a string (`"1"`), `"0"` before a service picks a sender.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Media attachments; a string on the wire.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_media: Option<u32>,
    /// Set on failed/undelivered messages (30003, 30007, …).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub error_code: Option<i64>,
    /// Twilio's text for `error_code`.
    #[serde(default)]
    pub error_message: Option<String>,
    /// RFC 2822 text, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`; see [`Message::date_created_at`].
    #[serde(default)]
    pub date_created: Option<String>,
    /// RFC 2822 text; see [`Message::date_sent_at`].
    #[serde(default)]
    pub date_sent: Option<String>,
    /// RFC 2822 text.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// `outbound-api`, `inbound`, …; reconciliation only wants `outbound-api`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The account that owns the message.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// The Messaging Service used, if any.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Cost as a decimal string (negative), often null at create.
    #[serde(default)]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// The resource's own path.
    #[serde(default)]
    pub uri: Option<String>,
}

impl Message {
    /// `date_created` parsed, for matching a message to a send attempt when reconciling.
    pub fn date_created_at(&self) -> Option<OffsetDateTime> {
        parse_rfc2822(self.date_created.as_deref())
    }

    /// `date_sent` parsed.
    pub fn date_sent_at(&self) -> Option<OffsetDateTime> {
        parse_rfc2822(self.date_sent.as_deref())
    }
}

fn parse_rfc2822(text: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text?.trim(), &Rfc2822).ok()
}

/// Filters for [`TwilioClient::list`] (Twilio's `To`, `From`, `DateSent`, `DateSent>`,
/// `DateSent<` query parameters; dates are UTC days, the bounds inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter<'a> {
    /// Only messages to this number.
    pub to: Option<&'a str>,
    /// Only messages from this sender.
    pub from: Option<&'a str>,
    /// Only messages sent on this UTC day (`DateSent`).
    pub date_sent: Option<time::Date>,
    /// Only messages sent on or after this UTC day (`DateSent>`).
    pub date_sent_after: Option<time::Date>,
    /// Only messages sent on or before this UTC day (`DateSent<`).
    pub date_sent_before: Option<time::Date>,
    /// Messages per page, 1–1000 (Twilio's default is 50).
    pub page_size: u32,
    /// Pages to follow at most; more matching pages yield [`TwilioError::PageLimit`].
    pub max_pages: u32,
}

impl Default for ListFilter<'_> {
    fn default() -> Self {
        Self {
            to: None,
            from: None,
            date_sent: None,
            date_sent_after: None,
            date_sent_before: None,
            page_size: 100,
            max_pages: 20,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct MessagePage {
    #[serde(default)]
    pub(super) messages: Vec<Message>,
    #[serde(default)]
    pub(super) next_page_uri: Option<String>,
}

pub(super) fn value_to_i64(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Accepts a number, a numeric string or null; anything else becomes `None` rather than failing
/// the whole Message, because Twilio documents these fields as strings and may change them.
pub(super) fn lenient_i64<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(de)?;
    Ok(value.as_ref().and_then(value_to_i64))
}

pub(super) fn lenient_u32<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_i64(de)?.and_then(|n| u32::try_from(n).ok()))
}

pub(super) fn lenient_u16<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u16>, D::Error> {
    Ok(lenient_i64(de)?.and_then(|n| u16::try_from(n).ok()))
}
