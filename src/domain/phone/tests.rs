//! Unit tests of phone parsing: accepted and refused numbers, the import rule, regions, and agreement with notify-phone's cases.

use super::*;

const NOTIFY_CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/notify-phone-cases.json"
);

fn outcome(result: Result<Phone, PhoneError>) -> Result<String, &'static str> {
    result.map(|p| p.as_str().to_owned()).map_err(|e| e.code())
}

#[test]
fn accepts_the_products_own_and_common_examples() {
    let cases = [
        ("+447111000001", "+447111000001"),
        ("+447111000002", "+447111000002"),
        ("+447446466847", "+447446466847"),
        ("+15005550006", "+15005550006"),
        ("+14155552671", "+14155552671"),
        ("+8613800138000", "+8613800138000"),
        ("+4915123456789", "+4915123456789"),
        ("+5511987654321", "+5511987654321"),
        ("+44 7723-456.789", "+447723456789"),
        ("+44 (0)7723 456 789", "+447723456789"),
        (" +447723456789\n", "+447723456789"),
        ("(+44) 7723 456789", "+447723456789"),
        ("+44 07723 456789", "+447723456789"),
        ("+49 151/23456789", "+4915123456789"),
        ("+49 (0)151 23456789", "+4915123456789"),
        ("+39 06 1234 5678", "+390612345678"),
        ("+39 (0)6 1234 5678", "+390612345678"),
        ("\u{FF0B}\u{FF14}\u{FF14}7723456789", "+447723456789"),
        (
            "+1\u{2011}202\u{2013}555\u{2014}010\u{2212}4",
            "+12025550104",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            outcome(Phone::parse(input)),
            Ok(expected.to_owned()),
            "{input:?}"
        );
        assert_eq!(
            outcome(Phone::parse_with_region(input, Some("GB"))),
            Ok(expected.to_owned()),
            "{input:?}"
        );
    }
}

#[test]
fn rejects_with_specific_errors() {
    let cases = [
        ("07723456789", PhoneError::NotInternational),
        ("0044 7723 456789", PhoneError::NotInternational),
        ("+1 800 FLOWERS", PhoneError::InvalidCharacters),
        ("+44 7723 456789 x12", PhoneError::InvalidCharacters),
        ("+44 7723 456789...", PhoneError::InvalidCharacters),
        ("+44 7723 456789.", PhoneError::InvalidCharacters),
        ("+.447723456789", PhoneError::InvalidCharacters),
        ("+44 .7723 456789", PhoneError::InvalidCharacters),
        ("0+447723456789", PhoneError::InvalidCharacters),
        ("++447723456789", PhoneError::InvalidCharacters),
        ("4.47723E+11", PhoneError::InvalidCharacters),
        ("hello", PhoneError::InvalidCharacters),
        ("+44", PhoneError::TooShort),
        ("+", PhoneError::TooShort),
        ("+4477234567891234", PhoneError::TooLong),
        ("+44 (0)7723 456 789 10", PhoneError::TooLong),
        ("+999123456", PhoneError::InvalidCountryCode),
        ("+0012025550104", PhoneError::InvalidCountryCode),
        ("+447700900123", PhoneError::Invalid),
        ("", PhoneError::Empty),
        (" \t\r\n\u{200B}", PhoneError::Empty),
        ("-", PhoneError::Empty),
    ];
    for (input, expected) in cases {
        assert_eq!(Phone::parse(input), Err(expected), "{input:?}");
    }
}

#[test]
fn import_rule_accepts_national_and_00_formats() {
    let gb = Some("GB");
    let cases = [
        ("07723 456789", gb, "+447723456789"),
        ("07723-456-789", gb, "+447723456789"),
        ("7723456789", gb, "+447723456789"),
        ("447723456789", gb, "+447723456789"),
        ("0044 7723 456789", gb, "+447723456789"),
        ("0044 (0)7723 456789", gb, "+447723456789"),
        ("+00 44 7723 456789", gb, "+447723456789"),
        ("0044 7723 456789", None, "+447723456789"),
        ("0012025550104", None, "+12025550104"),
        ("07723 456789", Some("gb"), "+447723456789"),
        ("07723 456789", Some(" uk "), "+447723456789"),
        ("(202) 555-0104", Some("US"), "+12025550104"),
        ("1 202 555 0104", Some("US"), "+12025550104"),
        ("011 44 7723 456789", Some("US"), "+447723456789"),
        ("0044 7723 456789", Some("US"), "+447723456789"),
        ("+447723456789", Some(""), "+447723456789"),
        ("0151 23456789", Some("DE"), "+4915123456789"),
        ("0021 44 7723 456789", Some("BR"), "+447723456789"),
        ("+44 07723 456789", gb, "+447723456789"),
    ];
    for (input, region, expected) in cases {
        assert_eq!(
            outcome(Phone::parse_with_region(input, region)),
            Ok(expected.to_owned()),
            "{input:?} {region:?}"
        );
    }
}

#[test]
fn import_rule_refuses_guesses() {
    let cases = [
        ("07723 456789", None, PhoneError::NotInternational),
        ("447723456789", None, PhoneError::NotInternational),
        // A foreign country code without '+' or '00' is not guessed (see parse_with_region).
        ("12025550104", Some("GB"), PhoneError::TooLong),
        (
            "+447723456789",
            Some("XX"),
            PhoneError::UnknownRegion("XX".into()),
        ),
        (
            "07723 456789",
            Some("England"),
            PhoneError::UnknownRegion("England".into()),
        ),
        (
            "07723 456789",
            Some("001"),
            PhoneError::UnknownRegion("001".into()),
        ),
    ];
    for (input, region, expected) in cases {
        assert_eq!(
            Phone::parse_with_region(input, region),
            Err(expected),
            "{input:?} {region:?}"
        );
    }
}

#[test]
fn region_of_a_number() {
    let region = |s: &str| Phone::parse(s).ok().and_then(|p| p.region());
    assert_eq!(region("+447111000001").as_deref(), Some("GB"));
    assert_eq!(region("+447797292290").as_deref(), Some("JE"));
    assert_eq!(region("+14155552671").as_deref(), Some("US"));
    assert_eq!(region("+8613800138000").as_deref(), Some("CN"));
    assert_eq!(region("+80012345678"), None);
    assert!(Phone::parse("+80012345678").is_ok());
}

#[test]
fn traits_and_serde() {
    let phone: Phone = "+44 7723 456789".parse().unwrap();
    assert_eq!(phone.to_string(), "+447723456789");
    assert_eq!(phone.as_ref(), "+447723456789");
    assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+447723456789\"");
    let back: Phone = serde_json::from_str("\" +44 (0)7723 456 789 \"").unwrap();
    assert_eq!(back, phone);
    let err = serde_json::from_str::<Phone>("\"07723456789\"").unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&PhoneError::NotInternational.to_string()),
        "{err}"
    );
    assert!(serde_json::from_str::<Phone>("447723456789").is_err());
    assert_eq!("0772".parse::<Phone>(), Err(PhoneError::NotInternational));
}

#[test]
fn messages_are_human_and_codes_unique() {
    let all = [
        PhoneError::Empty,
        PhoneError::NotInternational,
        PhoneError::InvalidCharacters,
        PhoneError::TooShort,
        PhoneError::TooLong,
        PhoneError::InvalidCountryCode,
        PhoneError::Invalid,
        PhoneError::UnknownRegion("XX".into()),
    ];
    let mut codes: Vec<&str> = all.iter().map(PhoneError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
    assert_eq!(
        PhoneError::TooShort.to_string(),
        "not a valid phone number: too short"
    );
    assert_eq!(
        PhoneError::NotInternational.to_string(),
        "not a valid phone number: must be in E.164 format, starting with + and the country code"
    );
    assert!(
        PhoneError::UnknownRegion("XX".into())
            .to_string()
            .contains("\"XX\"")
    );
    let long = Phone::parse_with_region("+447723456789", Some(&"Z".repeat(1000)));
    match long {
        Err(PhoneError::UnknownRegion(echo)) => assert!(echo.len() <= MAX_REGION_ECHO),
        other => panic!("{other:?}"),
    }
}

#[test]
fn never_panics_and_output_is_canonical() {
    let alphabet: Vec<char> =
        "0123456789+++  -.()[]/x#*,;\t\n\u{200B}\u{FEFF}\u{FF10}\u{0661}é☎0044"
            .chars()
            .collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inputs: Vec<String> = vec![
        "9".repeat(100_000),
        "+".repeat(1000),
        "(0)".repeat(100),
        "+44(0)(0)(0)7723456789".into(),
        "+44 (0".into(),
        "+44 (0)".into(),
        ".".into(),
        "1.".into(),
        "\u{0}".into(),
    ];
    for _ in 0..3000 {
        let len = (next() % 24) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        inputs.push(s);
    }
    for input in &inputs {
        for phone in [
            Phone::parse(input),
            Phone::parse_with_region(input, Some("GB")),
            Phone::parse_with_region(input, Some("US")),
            Phone::parse_with_region(input, None),
        ]
        .into_iter()
        .flatten()
        {
            let s = phone.as_str();
            assert!(s.starts_with('+') && s.len() <= 16, "{input:?} -> {s}");
            assert!(
                s[1..].bytes().all(|b| b.is_ascii_digit()),
                "{input:?} -> {s}"
            );
            assert_eq!(Phone::parse(s).as_ref(), Ok(&phone), "{input:?}");
        }
    }
}

/// What GOV.UK Notify expects for one input.
#[derive(Debug, Clone, PartialEq)]
enum Notify {
    /// Accepted; normalised to this E.164 (with '+') when the oracle says.
    Valid(Option<String>),
    /// Rejected, with Notify's error name when the oracle says.
    Rejected(Option<String>),
}

/// Our intentional differences from Notify: input, our outcome (`Ok(e164)` or `Err(code)`), reason.
/// The test pins our outcome and fails if an entry stops differing from Notify or is unused.
#[rustfmt::skip]
const EXCEPTIONS: &[(&str, Result<&str, &str>, &str)] = &[
    // No guessing of a foreign country code written without '+' or '00' (GB default region).
    ("784951234567", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("1-202-555-0104", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("1\u{2011}202\u{2013}555\u{2014}010\u{2212}4", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("230 5 2512345", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("74991231212", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("23052512345", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("20-12-1234-1234", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("1664 491 3789", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("7 499 1231212", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    ("33(0)1 12345678", Err("too_long"), "foreign country code without + or 00 is not guessed"),
    // libphonenumber metadata says these UK numbers exist.
    ("0845 46 46", Ok("+448454646"), "valid 7-digit 0845 number in libphonenumber metadata"),
    ("0900 123 4567", Ok("+449001234567"), "valid premium-rate range in libphonenumber metadata"),
    // Rejected either way; libphonenumber's length verdict differs from Notify's UK-first guess.
    ("+0065951123456", Err("invalid"), "rejected; SG number has an impossible length, not 'too long'"),
    ("0038097123456", Err("too_short"), "rejected; 00 380 97123456 is a too-short Ukrainian number"),
    // Notify repairs malformed UK numbers; we refuse rather than guess.
    ("+07044123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
    ("+01158123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
    ("+01323123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
    ("+03332123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
    ("+04915161123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess the stray 0"),
    ("0+44(0)7779123456", Err("invalid_characters"), "'+' after a digit is malformed; not repaired"),
    ("0+447988123456", Err("invalid_characters"), "'+' after a digit is malformed; not repaired"),
    ("04407379123456", Err("too_long"), "stray 0 before the country code is not repaired"),
    ("0447300123456", Err("too_long"), "stray 0 before the country code is not repaired"),
    ("000007392123456", Err("invalid_country_code"), "run of zeros is not repaired into a UK number"),
    ("0007465123456", Err("invalid_country_code"), "run of zeros is not repaired into a UK number"),
    ("007341123456", Err("too_short"), "'00' means international: +7 341123456 is a too-short Russian number"),
    ("001708123456", Err("too_short"), "'00' means international: +1 708123456 is a too-short US number"),
    // Ofcom's drama range is unallocated; libphonenumber's validity wins.
    ("07700900010", Err("invalid"), "Ofcom TV/drama number 07700 900xxx is not a real number"),
    ("447700900020", Err("invalid"), "Ofcom TV/drama number 07700 900xxx is not a real number"),
    ("+447700900030", Err("invalid"), "Ofcom TV/drama number 07700 900xxx is not a real number"),
    // Herald sends worldwide: Notify's UK-mobile-only rule is not ours.
    ("+14158961600", Ok("+14158961600"), "international numbers are allowed (no UK-mobile rule)"),
    ("+3225484211", Ok("+3225484211"), "international numbers are allowed (no UK-mobile rule)"),
    ("+1 202-483-3000", Ok("+12024833000"), "international numbers are allowed (no UK-mobile rule)"),
    ("+7 495 308-78-41", Ok("+74953087841"), "international numbers are allowed (no UK-mobile rule)"),
    ("+74953087842", Ok("+74953087842"), "international numbers are allowed (no UK-mobile rule)"),
];

fn notify_cases() -> Vec<(String, String, Notify)> {
    let text = std::fs::read_to_string(NOTIFY_CASES).expect("notify oracle readable");
    let json: serde_json::Value = serde_json::from_str(&text).expect("notify oracle is JSON");
    let object = json.as_object().expect("notify oracle is an object");
    let string =
        |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
    let mut cases = Vec::new();
    for (group, value) in object {
        if matches!(group.as_str(), "source" | "license" | "policy_note") {
            continue;
        }
        let items = value
            .as_array()
            .unwrap_or_else(|| panic!("{group} is a list"));
        for item in items {
            let (input, expect) = match group.as_str() {
                "valid_uk_mobile_normalised_447723456789" => (
                    item.as_str().map(str::to_owned),
                    Notify::Valid(Some("+447723456789".into())),
                ),
                "valid_international" | "valid_uk_landlines" => {
                    (item.as_str().map(str::to_owned), Notify::Valid(None))
                }
                "valid_channel_islands" => (
                    item.as_str().map(str::to_owned),
                    Notify::Valid(item.as_str().map(str::to_owned)),
                ),
                "invalid_uk_landlines" => {
                    (item.as_str().map(str::to_owned), Notify::Rejected(None))
                }
                "invalid_uk_mobile"
                | "invalid_international"
                | "normalise_fails"
                | "international_not_uk_mobile" => (
                    string(item, "input"),
                    Notify::Rejected(string(item, "error")),
                ),
                "normalise_international" | "normalise_succeeds" | "tv_numbers_pass" => (
                    string(item, "input"),
                    Notify::Valid(string(item, "normalised").map(|n| format!("+{n}"))),
                ),
                "human_readable" => {
                    // "07723 456789" is UK national; "+20 12 12341234" international.
                    let formatted = string(item, "formatted").unwrap_or_default();
                    let digits: String = formatted.chars().filter(char::is_ascii_digit).collect();
                    let e164 = match digits.strip_prefix('0') {
                        Some(national) => format!("+44{national}"),
                        None => format!("+{digits}"),
                    };
                    (string(item, "input"), Notify::Valid(Some(e164)))
                }
                other => panic!("notify oracle has a group this test does not know: {other}"),
            };
            let input = input.unwrap_or_else(|| panic!("{group}: case without input"));
            cases.push((group.clone(), input, expect));
        }
    }
    cases
}

/// Does our outcome agree with Notify's expectation?
fn agrees(ours: &Result<String, &'static str>, notify: &Notify) -> bool {
    match (ours, notify) {
        (Ok(_), Notify::Valid(None)) => true,
        (Ok(e164), Notify::Valid(Some(expected))) => e164 == expected,
        (Err(_), Notify::Valid(_)) | (Ok(_), Notify::Rejected(_)) => false,
        (Err(_), Notify::Rejected(None)) => true,
        (Err(code), Notify::Rejected(Some(error))) => match error.as_str() {
            "TOO_LONG" => *code == "too_long",
            "UNKNOWN_CHARACTER" => *code == "invalid_characters",
            "INVALID_NUMBER" => matches!(*code, "invalid" | "too_short"),
            _ => false,
        },
    }
}

#[test]
fn notify_oracle_with_gb_default() {
    let cases = notify_cases();
    assert!(cases.len() > 100, "oracle looks truncated: {}", cases.len());
    let mut used = vec![false; EXCEPTIONS.len()];
    let mut failures = Vec::new();
    for (group, input, notify) in &cases {
        let ours = outcome(Phone::parse_with_region(input, Some("GB")));
        match EXCEPTIONS.iter().position(|(i, _, _)| i == input) {
            Some(index) => {
                used[index] = true;
                let (_, pinned, reason) = EXCEPTIONS[index];
                let pinned = pinned.map(str::to_owned);
                if ours != pinned {
                    failures.push(format!(
                        "{group} {input:?}: exception pins {pinned:?}, got {ours:?}"
                    ));
                }
                if agrees(&ours, notify) {
                    failures.push(format!(
                        "{group} {input:?}: listed as exception ({reason}) but agrees with Notify"
                    ));
                }
            }
            None if !agrees(&ours, notify) => {
                failures.push(format!(
                    "{group} {input:?}: Notify {notify:?}, ours {ours:?}"
                ));
            }
            None => {}
        }
    }
    for (index, (input, _, _)) in EXCEPTIONS.iter().enumerate() {
        if !used[index] {
            failures.push(format!("exception {input:?} matches no oracle case"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn notify_international_cases_also_pass_the_strict_rule() {
    for (group, input, notify) in notify_cases() {
        let plus = input.trim_matches(is_blank).starts_with('+') && !input.contains("+0");
        if !plus {
            continue;
        }
        let strict = outcome(Phone::parse(&input));
        let import = outcome(Phone::parse_with_region(&input, Some("GB")));
        assert_eq!(strict, import, "{group} {input:?} ({notify:?})");
    }
}

/// Found by fuzzing (fuzz/fuzz_targets/import.rs): a German national number that
/// libphonenumber's metadata calls valid became `+4964516545152557`, 16 digits, which E.164,
/// Twilio and the strict rule refuse. Every rule now refuses it as too long.
#[test]
fn national_numbers_never_make_more_than_fifteen_digits() {
    for raw in ["64516545152557", "064516545152557", "64516545152 557"] {
        assert_eq!(
            outcome(Phone::parse_with_region(raw, Some("DE"))),
            Err("too_long"),
            "{raw:?}"
        );
    }
    assert_eq!(outcome(Phone::parse("+4964516545152557")), Err("too_long"));
    // Fifteen digits in all is still fine.
    assert_eq!(
        outcome(Phone::parse_with_region("030 12345678", Some("DE"))),
        Ok("+493012345678".to_owned())
    );
}

/// Found by fuzzing (fuzz/fuzz_targets/phone.rs, 2026-12-04): libphonenumber read
/// `0037588104)781607` (`00` then Belarus, +375) as `+3758104781607`, dropping an `8` it took
/// for a national prefix, and that number does not parse back to itself (it is invalid).
/// Every rule now refuses the digits it cannot store faithfully.
#[test]
fn what_parses_reads_back_to_itself() {
    let raw = "0037588104)781607";
    assert_eq!(outcome(Phone::parse_with_region(raw, None)), Err("invalid"));
    assert_eq!(outcome(Phone::parse("+37588104781607")), Err("invalid"));
    assert_eq!(outcome(Phone::parse("+3758104781607")), Err("invalid"));
    for region in [None, Some("GB"), Some("BY"), Some("US")] {
        if let Ok(phone) = Phone::parse_with_region(raw, region) {
            assert_eq!(
                Phone::parse(phone.as_str()).as_ref(),
                Ok(&phone),
                "{region:?}"
            );
        }
    }
    // A national prefix written after the country code is still dropped when the result
    // is stable: `+44 07723 456789` is the UK mobile `+447723456789`.
    assert_eq!(
        outcome(Phone::parse("+44 07723 456789")),
        Ok("+447723456789".to_owned())
    );
}
