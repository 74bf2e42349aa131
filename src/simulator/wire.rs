//! Wire details of the simulated Twilio API: form and query codecs, date formats, error bodies.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;

/// RFC 3339 in UTC with exactly six fractional digits, as the journal promises.
const RFC3339_MICROS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Twilio's `RawDlrDoneDate`: the carrier's done date, `YYMMDDhhmm`, no zone.
const RAW_DLR_DONE_DATE: &[BorrowedFormatItem<'static>] =
    format_description!("[year repr:last_two][month][day][hour][minute]");

/// A calendar day as the list filters spell it (`2026-11-27`).
const ISO_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// `received_at` of the journal: RFC 3339, UTC, microseconds, `Z`.
pub(crate) fn rfc3339_micros(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(RFC3339_MICROS)
        .unwrap_or_default()
}

/// Twilio's date fields (`Thu, 24 Aug 2023 05:01:45 +0000`).
pub(crate) fn rfc2822(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc2822)
        .unwrap_or_default()
}

/// `RawDlrDoneDate` for a final status callback.
pub(crate) fn raw_dlr_done_date(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(RAW_DLR_DONE_DATE)
        .unwrap_or_default()
}

/// Parses a `DateSent` filter value (`YYYY-MM-DD`; a longer ISO timestamp is cut to its day).
pub(crate) fn parse_day(text: &str) -> Option<time::Date> {
    let text = text.trim();
    let day = text.get(..10).unwrap_or(text);
    time::Date::parse(day, ISO_DATE).ok()
}

/// Formats a day the way it is parsed.
pub(crate) fn format_day(day: time::Date) -> String {
    day.format(ISO_DATE).unwrap_or_default()
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte,
/// a malformed escape is kept literally, and invalid UTF-8 becomes U+FFFD (never a panic).
pub(crate) fn decode_component(raw: &[u8]) -> Cow<'_, str> {
    if !raw.iter().any(|b| matches!(b, b'+' | b'%')) {
        return String::from_utf8_lossy(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|b| hex_value(*b)),
                raw.get(i + 2).and_then(|b| hex_value(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits a form body or query string into decoded `(name, value)` pairs, in order, keeping
/// repeats.
pub(crate) fn form_pairs(raw: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    raw.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            (decode_component(name), decode_component(value))
        })
}

/// Percent-encodes a query component: everything but RFC 3986 unreserved characters.
pub(crate) fn encode_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Builds `name=value&…` with every part percent-encoded.
pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(name, &mut out);
        out.push('=');
        encode_component(value, &mut out);
    }
    out
}

/// A serialised JSON body with the given status and `Content-Type: application/json`.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Serialises `value` as a JSON response (a serialisation failure becomes a Twilio 500).
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, body),
        Err(_) => twilio_error(500, 20500, "Internal Server Error"),
    }
}

/// Twilio's 2010 error body: `{"code", "message", "more_info", "status"}`.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    code: i64,
    message: &'a str,
    more_info: String,
    status: u16,
}

/// An error answered exactly the way Twilio's 2010 API shapes it.
pub(crate) fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let http = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        code,
        message,
        more_info: format!("https://www.twilio.com/docs/errors/{code}"),
        status: http.as_u16(),
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => json_bytes(http, bytes),
        Err(_) => (http, "").into_response(),
    }
}

/// A create/list rejection before anything was stored: status, Twilio code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub(crate) status: u16,
    /// Twilio error code.
    pub(crate) code: i64,
    /// Twilio's wording.
    pub(crate) message: String,
}

impl ApiError {
    /// A 400 with the given Twilio code.
    pub(crate) fn bad_request(code: i64, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        twilio_error(self.status, self.code, &self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_leniently() {
        let pairs: Vec<(String, String)> =
            form_pairs(b"To=%2B4477&Body=a+b%20c&x&=v&%zz=%4&Bad=%ff%fe&&")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        assert_eq!(pairs[0], ("To".into(), "+4477".into()));
        assert_eq!(pairs[1], ("Body".into(), "a b c".into()));
        assert_eq!(pairs[2], ("x".into(), String::new()));
        assert_eq!(pairs[3], (String::new(), "v".into()));
        assert_eq!(pairs[4], ("%zz".into(), "%4".into()));
        assert_eq!(pairs[5].1, "\u{fffd}\u{fffd}");
        assert_eq!(pairs.len(), 6);
    }

    #[test]
    fn encodes_queries_round_trip() {
        let q = encode_query(&[("DateSent>", "2026-01-02"), ("To", "+44 7é")]);
        assert_eq!(q, "DateSent%3E=2026-01-02&To=%2B44%207%C3%A9");
        let back: Vec<_> = form_pairs(q.as_bytes()).collect();
        assert_eq!(back[0].0, "DateSent>");
        assert_eq!(back[1].1, "+44 7é");
    }

    #[test]
    fn formats_dates() {
        let at = time::macros::datetime!(2026-11-27 05:05:00.123456789 UTC);
        assert_eq!(rfc3339_micros(at), "2026-11-27T05:05:00.123456Z");
        assert_eq!(rfc2822(at), "Fri, 27 Nov 2026 05:05:00 +0000");
        assert_eq!(raw_dlr_done_date(at), "2611270505");
        assert_eq!(
            parse_day("2026-11-27"),
            Some(time::macros::date!(2026 - 11 - 27))
        );
        assert_eq!(
            parse_day("2026-11-27T00:00:00Z"),
            Some(time::macros::date!(2026 - 11 - 27))
        );
        assert_eq!(parse_day("27/11/2026"), None);
        assert_eq!(parse_day("é"), None);
        assert_eq!(
            format_day(time::macros::date!(2026 - 01 - 02)),
            "2026-01-02"
        );
    }
}
