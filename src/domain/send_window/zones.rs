//! The time zones of a phone number: libphonenumber's `PhoneNumberToTimeZonesMapper` data
//! (data/timezones/map_data.txt, built into the binary), matched on the longest prefix of the
//! E.164 digits.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The map as shipped: `PREFIX|Zone1&Zone2` lines, `#` comments.
const MAP_DATA: &str = include_str!("../../../data/timezones/map_data.txt");

/// The longest prefix in the data (libphonenumber's `TIMEZONE_LONGEST_PREFIX` is 9; the
/// loader measures it).
struct Map {
    zones: HashMap<&'static str, Vec<&'static str>>,
    longest: usize,
}

fn map() -> &'static Map {
    static MAP: OnceLock<Map> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut zones = HashMap::new();
        let mut longest = 0;
        for line in MAP_DATA.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((prefix, names)) = line.split_once('|') else {
                continue;
            };
            longest = longest.max(prefix.len());
            zones.insert(prefix, names.split('&').collect());
        }
        Map { zones, longest }
    })
}

/// The IANA zones of an E.164 number (`+` optional): those of the longest prefix of its digits
/// in the data. A number that is not in the data at all (not even its country code) has
/// none; the caller falls back to the account's zone.
pub fn zones_for(phone: &str) -> &'static [&'static str] {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return &[];
    }
    let map = map();
    (1..=digits.len().min(map.longest))
        .rev()
        .find_map(|n| map.zones.get(&digits[..n]))
        .map_or(&[], Vec::as_slice)
}

/// Every zone name the data uses (checked against the IANA database in the tests).
#[cfg(test)]
pub(super) fn all_zone_names() -> std::collections::BTreeSet<&'static str> {
    map().zones.values().flatten().copied().collect()
}
