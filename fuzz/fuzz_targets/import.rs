//! The CSV upload and paste importers: any bytes are read or refused as a whole, never a
//! panic; every recipient is canonical E.164 with every variable of the import, line numbers
//! are real lines in input order, and echoed values are cut to 100 characters.
//!
//! Input: one byte choosing the default country, then the file (or pasted text).
#![no_main]

use herald::domain::Phone;
use herald::domain::import::{Import, decode_text, parse_csv, parse_paste};
use libfuzzer_sys::fuzz_target;

/// Default countries tried: none, common ones, lower case, `UK`, blank and unknown.
const REGIONS: [Option<&str>; 8] = [
    None,
    Some("GB"),
    Some("US"),
    Some("de"),
    Some("UK"),
    Some("BR"),
    Some(" "),
    Some("ZZ"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, input)) = data.split_first() else {
        return;
    };
    let region = REGIONS[usize::from(choice) % REGIONS.len()];

    if let Ok(import) = parse_csv(input, region) {
        let (text, encoding) = decode_text(input).expect("a file that imported decodes");
        assert_eq!(import.encoding, encoding);
        check(&import, &text);
        assert!(Phone::check_region(region).is_ok());
    }

    let text = String::from_utf8_lossy(input);
    let import = parse_paste(&text, region);
    check(&import, &text);
});

fn check(import: &Import, text: &str) {
    // A quoted cell may span lines, and CR, LF and CRLF all end one.
    let lines = text.split(['\n', '\r']).count().max(1);
    let mut last = 0;
    for r in &import.recipients {
        let phone = r.phone.as_str();
        assert_eq!(Phone::parse(phone).as_ref(), Ok(&r.phone), "{phone}");
        assert!((1..=lines).contains(&r.line), "line {} of {lines}", r.line);
        assert!(r.line >= last, "recipients out of order");
        last = r.line;
        let mut keys: Vec<&str> = r.variables.keys().map(String::as_str).collect();
        let mut names: Vec<&str> = import.variables.iter().map(String::as_str).collect();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names, "line {}", r.line);
        assert!(r.variables.values().all(|v| v.is_string()));
        if let Some(written) = &r.converted_from {
            assert!(
                !written.starts_with('+') && !written.starts_with("00"),
                "{written:?}"
            );
        }
    }
    let mut last = 0;
    for e in &import.errors {
        assert!((1..=lines).contains(&e.line), "line {} of {lines}", e.line);
        assert!(e.line >= last, "errors out of order");
        last = e.line;
        assert!(e.value.chars().count() <= 101, "{:?}", e.value);
        assert!(!e.reason.is_empty());
    }
    // Variable names are distinct and usable in a template.
    for (i, name) in import.variables.iter().enumerate() {
        assert!(!name.is_empty());
        assert!(!import.variables[..i].contains(name), "{name:?} twice");
        assert!(!name.contains(['{', '}']), "{name:?}");
    }
    let _ = serde_json::to_string(import).expect("serialises");
}
