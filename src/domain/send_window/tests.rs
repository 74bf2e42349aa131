//! Unit tests of the send-window arithmetic: zones, summer time, wrapping, multi-zone numbers.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::*;

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

fn window(start: &str, end: &str) -> SendWindow {
    SendWindow::new(
        LocalMinute::parse(start).unwrap(),
        LocalMinute::parse(end).unwrap(),
    )
    .unwrap()
}

fn zones(names: &[&str]) -> Vec<String> {
    names.iter().map(|z| (*z).to_owned()).collect()
}

#[test]
fn times_parse_as_hh_mm_only() {
    assert_eq!(LocalMinute::parse("08:00").unwrap().minutes(), 480);
    assert_eq!(LocalMinute::parse("23:59").unwrap().to_string(), "23:59");
    assert_eq!(LocalMinute::parse("00:00").unwrap().minutes(), 0);
    for bad in [
        "8:00", "24:00", "12:60", "ab:cd", "", "08-00", "08:000", "+8:00",
    ] {
        assert_eq!(LocalMinute::parse(bad), Err(WindowError::BadTime), "{bad}");
    }
    let t = LocalMinute::parse("09:00").unwrap();
    assert_eq!(SendWindow::new(t, t), Err(WindowError::Empty));
    assert_eq!(LocalMinute::from_minutes(1440), None);
    assert_eq!(LocalMinute::from_minutes(75).unwrap().to_string(), "01:15");
}

#[test]
fn a_window_holds_its_start_not_its_end_and_may_wrap_midnight() {
    let day = window("08:00", "21:00");
    assert!(!day.contains(479) && day.contains(480) && day.contains(1259) && !day.contains(1260));
    let night = window("22:00", "06:00");
    assert!(night.contains(1320) && night.contains(0) && night.contains(359));
    assert!(!night.contains(360) && !night.contains(720) && !night.contains(1319));
}

#[test]
fn a_new_york_number_waits_for_eight_in_new_york() {
    let w = window("08:00", "21:00");
    let ny = zones(&["America/New_York"]);
    // 23:00 EDT: held until 08:00 EDT.
    assert_eq!(
        held_until(&w, &ny, at("2027-07-01T03:00:00Z")),
        Some(at("2027-07-01T12:00:00Z"))
    );
    // 21:00 EDT exactly: closed.
    assert_eq!(
        held_until(&w, &ny, at("2027-07-01T01:00:00Z")),
        Some(at("2027-07-01T12:00:00Z"))
    );
    assert_eq!(held_until(&w, &ny, at("2027-07-01T15:00:00Z")), None);
    assert_eq!(held_until(&w, &ny, at("2027-07-01T12:00:00Z")), None);
    // Winter: EST.
    assert_eq!(
        held_until(&w, &ny, at("2027-01-15T12:00:00Z")),
        Some(at("2027-01-15T13:00:00Z"))
    );
}

#[test]
fn dst_changes_move_the_opening_instant() {
    let ny = zones(&["America/New_York"]);
    let w = window("08:00", "21:00");
    // Spring forward (2027-03-14): 08:00 is EDT that morning.
    assert_eq!(
        held_until(&w, &ny, at("2027-03-14T06:00:00Z")),
        Some(at("2027-03-14T12:00:00Z"))
    );
    // The day before, EST.
    assert_eq!(
        held_until(&w, &ny, at("2027-03-13T06:00:00Z")),
        Some(at("2027-03-13T13:00:00Z"))
    );
    // A start inside the gap (02:30 does not exist): opens as the clocks jump, 03:30 EDT.
    let gap = window("02:30", "05:00");
    assert_eq!(
        held_until(&gap, &ny, at("2027-03-14T06:00:00Z")),
        Some(at("2027-03-14T07:30:00Z"))
    );
    // Fall back (2027-11-07): 08:00 is EST.
    assert_eq!(
        held_until(&w, &ny, at("2027-11-07T05:00:00Z")),
        Some(at("2027-11-07T13:00:00Z"))
    );
    // A start that occurs twice (01:30): the first.
    let twice = window("01:30", "05:00");
    assert_eq!(
        held_until(&twice, &ny, at("2027-11-07T04:00:00Z")),
        Some(at("2027-11-07T05:30:00Z"))
    );
}

#[test]
fn a_wrapping_window_opens_in_the_evening() {
    let w = window("22:00", "06:00");
    let london = zones(&["Europe/London"]);
    assert_eq!(held_until(&w, &london, at("2027-01-15T23:00:00Z")), None);
    assert_eq!(held_until(&w, &london, at("2027-01-16T05:59:00Z")), None);
    assert_eq!(
        held_until(&w, &london, at("2027-01-15T12:00:00Z")),
        Some(at("2027-01-15T22:00:00Z"))
    );
    // BST.
    assert_eq!(
        held_until(&w, &london, at("2027-07-01T12:00:00Z")),
        Some(at("2027-07-01T21:00:00Z"))
    );
}

#[test]
fn a_number_in_two_zones_waits_until_open_in_both() {
    let w = window("08:00", "21:00");
    let alaska: Vec<String> = zones_for("+19075550100")
        .iter()
        .map(|z| z.to_string())
        .collect();
    assert_eq!(alaska, ["America/Adak", "America/Anchorage"]);
    // 08:00 in Anchorage (AKDT) is 07:00 in Adak (HDT): wait for Adak.
    assert_eq!(
        held_until(&w, &alaska, at("2027-07-01T16:00:00Z")),
        Some(at("2027-07-01T17:00:00Z"))
    );
    assert_eq!(held_until(&w, &alaska, at("2027-07-01T17:00:00Z")), None);
    // 21:30 in Anchorage: closed there, though Adak is still open; next day Adak's 08:00.
    assert_eq!(
        held_until(&w, &alaska, at("2027-07-02T05:30:00Z")),
        Some(at("2027-07-02T17:00:00Z"))
    );
}

#[test]
fn zones_whose_windows_never_overlap_relax_to_any_of_them() {
    let w = window("08:00", "12:00");
    let far = zones(&["Europe/Moscow", "Asia/Kamchatka"]);
    // Moscow 03:00, Kamchatka 12:00 (closed): Moscow opens first.
    assert_eq!(
        held_until(&w, &far, at("2027-07-01T00:00:00Z")),
        Some(at("2027-07-01T05:00:00Z"))
    );
    assert_eq!(held_until(&w, &far, at("2027-07-01T06:00:00Z")), None);
}

#[test]
fn known_numbers_map_to_their_zones() {
    let z = |p: &str| zones_for(p).to_vec();
    assert_eq!(z("+19075550100"), ["America/Adak", "America/Anchorage"]);
    assert_eq!(z("+12125550100"), ["America/New_York"]);
    assert_eq!(z("+13105550100"), ["America/Los_Angeles"]);
    assert!(z("+442079460000").contains(&"Europe/London"));
    assert!(z("+447700900123").contains(&"Europe/London"));
    assert_eq!(z("+33142685300"), ["Europe/Paris"]);
    let wa = z("+61861234567");
    assert!(
        wa.len() >= 2 && wa.iter().all(|t| t.starts_with("Australia/")),
        "{wa:?}"
    );
    assert!(wa.contains(&"Australia/Perth"));
    assert_eq!(z("+61212345678"), ["Australia/Sydney"]);
    assert!(z("+9995550100").is_empty());
    assert!(z("not a phone").is_empty());
    assert_eq!(recipient_zones("+9995550100", "Asia/Tokyo"), ["Asia/Tokyo"]);
    assert_eq!(
        recipient_zones("+12125550100", "Asia/Tokyo"),
        ["America/New_York"]
    );
}

#[test]
fn every_zone_in_the_data_is_in_the_bundled_iana_database() {
    let names = zones::all_zone_names();
    assert!(names.len() > 250, "{}", names.len());
    for name in names {
        assert!(ZoneName::parse(name).is_ok(), "{name} is not an IANA zone");
    }
}

#[test]
fn zone_names_are_checked() {
    assert_eq!(
        ZoneName::parse("Europe/London").unwrap().as_str(),
        "Europe/London"
    );
    assert_eq!(ZoneName::parse("UTC").unwrap().as_str(), "UTC");
    assert_eq!(ZoneName::parse("Mars/Olympus"), Err(WindowError::BadZone));
    assert_eq!(ZoneName::parse(""), Err(WindowError::BadZone));
    // An unknown name in stored data counts as UTC rather than failing.
    let w = window("08:00", "21:00");
    assert_eq!(
        held_until(&w, &zones(&["Nowhere/City"]), at("2027-07-01T03:00:00Z")),
        Some(at("2027-07-01T08:00:00Z"))
    );
}
