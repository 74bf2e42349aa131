//! Template parsing and rendering: any text parses, renders without panicking, and every
//! value is inserted verbatim, once per placeholder, never interpolated again.
//!
//! Input: the template, then optionally a NUL byte and a JSON object of variables.
#![no_main]

use herald::domain::template::Template;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

/// Most names checked one by one (each costs a render).
const MAX_NAMES: usize = 16;

fuzz_target!(|data: &[u8]| {
    let (source, vars) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let source = String::from_utf8_lossy(source);
    let vars: Map<String, Value> = serde_json::from_slice(vars).unwrap_or_default();

    let template = Template::parse(&source);
    let rendered = template.render(&vars);
    let names: Vec<String> = template
        .placeholders()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let _ = template.missing(&vars);

    // Without "{{" there is no placeholder and the text is copied unchanged.
    if !source.contains("{{") {
        assert!(names.is_empty());
        assert_eq!(rendered, source);
    }
    // Every name is a valid one, written in the source, listed once.
    for (i, name) in names.iter().enumerate() {
        assert!(!name.is_empty());
        assert!(name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        }));
        assert!(source.contains(name.as_str()));
        assert!(!names[..i].contains(name));
    }

    // Missing, null and "" all render as nothing; with no variables every name is missing.
    let empty = Map::new();
    let bare = template.render(&empty);
    assert!(bare.len() <= source.len());
    assert_eq!(template.missing(&empty), template.placeholders());
    let nulls: Map<String, Value> = names.iter().map(|n| (n.clone(), Value::Null)).collect();
    assert_eq!(template.render(&nulls), bare);
    let blanks: Map<String, Value> = names.iter().map(|n| (n.clone(), json!(""))).collect();
    assert_eq!(template.render(&blanks), bare);
    assert!(template.missing(&blanks).is_empty());

    // Each name's occurrences, counted by rendering it alone as one byte.
    let checked = &names[..names.len().min(MAX_NAMES)];
    let mut counts = Vec::with_capacity(checked.len());
    for name in checked {
        let one: Map<String, Value> = [(name.clone(), json!("Z"))].into_iter().collect();
        let count = template.render(&one).len() - bare.len();
        assert!(count >= 1, "{name:?} is listed but never rendered");
        counts.push(count);
    }
    // Values are inserted verbatim, never interpolated again: a value that is itself a
    // template ("{{name}}") adds exactly its own length at each occurrence.
    let tricky: Map<String, Value> = checked
        .iter()
        .map(|n| (n.clone(), json!(format!("{{{{{n}}}}}"))))
        .collect();
    let expected: usize = checked
        .iter()
        .zip(&counts)
        .map(|(n, c)| c * (n.len() + 4))
        .sum();
    if checked.len() == names.len() {
        assert_eq!(template.render(&tricky).len(), bare.len() + expected);
    }
    // A dotted name reads the same from a flat key and from nested objects.
    for name in checked.iter().filter(|n| n.contains('.')) {
        let flat: Map<String, Value> = [(name.clone(), json!("V"))].into_iter().collect();
        let mut nested = json!("V");
        for part in name.rsplit('.') {
            nested = json!({ part: nested });
        }
        let Value::Object(nested) = nested else {
            unreachable!()
        };
        assert_eq!(template.render(&flat), template.render(&nested), "{name:?}");
    }
});
