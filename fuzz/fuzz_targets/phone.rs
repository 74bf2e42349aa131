//! Phone parsing: never a panic; what parses is canonical E.164 that parses again to itself
//! under both rules, and the strict rule never accepts what the import rule would read
//! differently.
//!
//! Input: a default region, a newline, then the number (no newline: no region).
#![no_main]

use herald::domain::Phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (region, raw) = match text.split_once('\n') {
        Some((region, raw)) => (Some(region), raw),
        None => (None, &*text),
    };

    let strict = Phone::parse(raw);
    let import = Phone::parse_with_region(raw, region);
    let region_ok = Phone::check_region(region).is_ok();
    if let Some(region) = region {
        // Known exactly when a calling code is known (blank means none).
        let code = Phone::calling_code(region);
        if !region.trim().is_empty() {
            assert_eq!(code.is_some(), region_ok, "{region:?}");
        }
    }
    for result in [&strict, &import] {
        match result {
            Ok(phone) => check_canonical(phone),
            Err(e) => {
                let _ = (e.code(), e.to_string());
            }
        }
    }
    // Whatever the strict rule accepts, the import rule reads the same way.
    if let Ok(phone) = &strict {
        if region_ok {
            assert_eq!(import.as_ref().ok(), Some(phone), "{raw:?} with {region:?}");
        }
        assert_eq!(Phone::parse_with_region(raw, None).as_ref(), Ok(phone));
    }
    if !region_ok {
        assert!(import.is_err());
    }
});

/// `+` then at most 15 digits, parsing to itself under every rule, with a key and a JSON form.
fn check_canonical(phone: &Phone) {
    let text = phone.as_str();
    let digits = text.strip_prefix('+').expect("starts with +");
    assert!((1..=15).contains(&digits.len()), "{text}");
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{text}");
    assert_eq!(Phone::parse(text).as_ref(), Ok(phone));
    assert_eq!(text.parse::<Phone>().as_ref(), Ok(phone));
    for region in [None, Some("GB"), Some("US"), Some("BR"), Some("uk")] {
        assert_eq!(Phone::parse_with_region(text, region).as_ref(), Ok(phone));
    }
    assert!(phone.key().is_some());
    let _ = phone.region();
    let json = serde_json::to_string(phone).expect("serialises");
    let back: Phone = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(&back, phone);
}
