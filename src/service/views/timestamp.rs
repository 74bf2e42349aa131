//! The one timestamp format of Herald's API answers: RFC 3339 in UTC with exactly three
//! fractional digits and `Z` (`2026-12-04T14:05:24.185Z`), for `#[serde(with = …)]`.

use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

const MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `at` in the API's format.
pub fn format(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(MILLIS)
        .unwrap_or_default()
}

/// Serialises a time in the API's format.
pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*at))
}

/// Reads any RFC 3339 time.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let raw = String::deserialize(d)?;
    OffsetDateTime::parse(&raw, &Rfc3339).map_err(serde::de::Error::custom)
}

/// The same for optional times (`null` when absent).
pub mod option {
    use super::*;

    /// Serialises an optional time in the API's format, or `null`.
    pub fn serialize<S: Serializer>(at: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_some(&super::format(*at)),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| OffsetDateTime::parse(&raw, &Rfc3339).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn milliseconds_in_utc_with_z() {
        assert_eq!(
            super::format(datetime!(2026-12-04 14:05:01.464376519 UTC)),
            "2026-12-04T14:05:01.464Z"
        );
        assert_eq!(
            super::format(datetime!(2026-12-04 15:05:57.88 +01:00)),
            "2026-12-04T14:05:57.880Z"
        );
        assert_eq!(
            super::format(datetime!(2026-12-04 14:05:00 UTC)),
            "2026-12-04T14:05:00.000Z"
        );
    }
}
