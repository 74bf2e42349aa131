//! Send windows: the hours of the day, in each recipient's own time, when a campaign may reach
//! them (docs/ARCHITECTURE.md §4). The zones come from the number ([`zones`]); the IANA rules
//! from `jiff`'s bundled time-zone database (no reliance on the host's zoneinfo).

pub mod zones;

#[cfg(test)]
mod tests;

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use time::OffsetDateTime;

pub use zones::zones_for;

/// Minutes in a day.
const DAY_MINUTES: u16 = 24 * 60;

/// Why a window or a zone is refused (the message names what is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a 24-hour `HH:MM` time.
    #[error("must be a time of day as HH:MM (00:00 to 23:59)")]
    BadTime,
    /// Start and end are the same minute.
    #[error("start and end must differ (send null for no window)")]
    Empty,
    /// Not an IANA time-zone name.
    #[error("must be an IANA time-zone name such as Europe/London")]
    BadZone,
}

/// A time of day to the minute, `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalMinute(u16);

impl LocalMinute {
    /// Parses `HH:MM` (24-hour, two digits each).
    pub fn parse(s: &str) -> Result<Self, WindowError> {
        let b = s.as_bytes();
        if b.len() != 5
            || b[2] != b':'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 2 || c.is_ascii_digit())
        {
            return Err(WindowError::BadTime);
        }
        let h = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
        let m = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
        if h > 23 || m > 59 {
            return Err(WindowError::BadTime);
        }
        Ok(Self(h * 60 + m))
    }

    /// From minutes after midnight (as stored).
    pub fn from_minutes(m: i64) -> Option<Self> {
        u16::try_from(m).ok().filter(|m| *m < DAY_MINUTES).map(Self)
    }

    /// Minutes after midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }

    fn time(self) -> Time {
        Time::constant((self.0 / 60) as i8, (self.0 % 60) as i8, 0, 0)
    }
}

impl fmt::Display for LocalMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// The local hours when sending is allowed: from `start` (included) to `end` (excluded); a
/// window whose end is before its start wraps midnight (`22:00`–`06:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    /// Opens.
    pub start: LocalMinute,
    /// Closes.
    pub end: LocalMinute,
}

impl SendWindow {
    /// A window; start and end must differ.
    pub fn new(start: LocalMinute, end: LocalMinute) -> Result<Self, WindowError> {
        if start == end {
            return Err(WindowError::Empty);
        }
        Ok(Self { start, end })
    }

    /// Whether a local time of day (minutes after midnight) is inside the window.
    pub fn contains(&self, minute: u16) -> bool {
        let (s, e) = (self.start.0, self.end.0);
        if s < e {
            s <= minute && minute < e
        } else {
            minute >= s || minute < e
        }
    }

    /// Whether the window is open at `at` in `tz`.
    fn open_in(&self, tz: &TimeZone, at: Timestamp) -> bool {
        let t = tz.to_datetime(at).time();
        self.contains(t.hour() as u16 * 60 + t.minute() as u16)
    }

    /// When the window opens in `tz` on each local date around `at` (a start that falls in a
    /// spring-forward gap opens at the first instant after it; one that occurs twice, at the
    /// first).
    fn openings(&self, tz: &TimeZone, at: Timestamp) -> Vec<Timestamp> {
        let today: Date = tz.to_datetime(at).date();
        (-1..=2)
            .filter_map(|d| today.checked_add(jiff::Span::new().days(d)).ok())
            .filter_map(|date| tz.to_timestamp(date.to_datetime(self.start.time())).ok())
            .collect()
    }
}

/// A time-zone name checked against the IANA database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneName(String);

impl ZoneName {
    /// Checks a name (`Europe/London`, `UTC`).
    pub fn parse(name: &str) -> Result<Self, WindowError> {
        match jiff::tz::db().get(name) {
            Ok(_) if !name.is_empty() => Ok(Self(name.to_owned())),
            _ => Err(WindowError::BadZone),
        }
    }

    /// UTC, the default.
    pub fn utc() -> Self {
        Self("UTC".into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The zones that count for a number: its own from the data; with none, the fallback
/// (the account's zone).
pub fn recipient_zones(phone: &str, fallback: &str) -> Vec<String> {
    let zones = zones_for(phone);
    if zones.is_empty() {
        vec![fallback.to_owned()]
    } else {
        zones.iter().map(|z| (*z).to_owned()).collect()
    }
}

/// When the window next opens for a number whose zones are `zones`, or `None` if it is open
/// at `now`. A number in several zones counts as the most restrictive: the window must be open
/// in all of them. Where their windows never overlap (a country spanning more hours than the
/// window leaves open, e.g. +7 with a 13-hour window), the rule relaxes to open in at least one
/// of them, or the number would never be sent. Unknown zone names count as UTC.
pub fn held_until(
    window: &SendWindow,
    zones: &[String],
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let tzs: Vec<TimeZone> = zones
        .iter()
        .map(|z| jiff::tz::db().get(z).unwrap_or(TimeZone::UTC))
        .collect();
    let tzs = if tzs.is_empty() {
        vec![TimeZone::UTC]
    } else {
        tzs
    };
    let now_ts = to_jiff(now);
    let all = |t: Timestamp| tzs.iter().all(|tz| window.open_in(tz, t));
    let any = |t: Timestamp| tzs.iter().any(|tz| window.open_in(tz, t));
    // The window opens for all zones at once at one zone's opening (or is open now): try
    // those instants in order.
    let mut candidates: Vec<Timestamp> = tzs
        .iter()
        .flat_map(|tz| window.openings(tz, now_ts))
        .filter(|t| *t > now_ts)
        .collect();
    candidates.sort();
    candidates.dedup();
    let overlap = tzs.len() == 1 || candidates.iter().any(|t| all(*t));
    let open: &dyn Fn(Timestamp) -> bool = if overlap { &all } else { &any };
    if open(now_ts) {
        return None;
    }
    candidates.into_iter().find(|t| open(*t)).map(from_jiff)
}

fn to_jiff(t: OffsetDateTime) -> Timestamp {
    let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn from_jiff(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millisecond()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
