//! Message templates: `{{name}}` placeholders filled from each recipient's variables.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A campaign's message template, parsed once and rendered once per recipient (100,000 times for
/// a large campaign), so rendering is a walk over pre-split parts into one pre-sized `String`.
///
/// Rules (docs/ARCHITECTURE.md §2):
///
/// - `{{name}}` and `{{ name }}` are the same placeholder: whitespace inside the braces is
///   trimmed. `{{{name}}}` and `{{&name}}` (Mustache's unescaped forms) mean the same thing, since
///   nothing is ever escaped.
/// - A name is one or more dot-separated parts made of letters, digits (Unicode ones included, so
///   a CSV column such as `prénom` works), `_` and `-`. Anything else between the braces (spaces
///   inside the name, an empty name, `{{.}}`, `{{a..b}}`, another brace) makes the braces literal
///   text, as is a lone `{{` or `}}`. Parsing never fails: the template is taken as written.
/// - When braces could be read several ways, the leftmost tag that is valid wins and surplus
///   braces stay literal: `{{{{x}}}}` renders as `{` + x + `}`, `{{{x}}` as `{` + x.
/// - A missing variable, or one that is JSON `null`, renders as the empty string. Strings render
///   as they are (no HTML escaping: it is an SMS), numbers as JSON writes them (`85`, `1.21`),
///   booleans as `true` / `false`. Arrays and objects render as the empty string (the API layer
///   rejects them before they get here).
/// - A dotted name such as `{{address.city}}` is first looked up as the whole key
///   `"address.city"` (a flat CSV column name); only if that key is absent is it followed through
///   nested objects (`{"address": {"city": ...}}`). If the whole key is present it decides, even
///   when its value is `null`.
/// - The output is never interpolated again: a variable whose value contains `{{x}}` is sent as
///   that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Literal text and placeholders in source order; no two literals are adjacent.
    parts: Vec<Part>,
    /// Distinct placeholder names in order of first appearance; `Part::Placeholder` indexes this.
    names: Vec<Name>,
    /// Bytes of literal text, the floor of every rendered length.
    literal_len: usize,
    /// Number of placeholder parts (repeats included), for sizing the output.
    placeholder_parts: usize,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text copied to the output as it is.
    Literal(Box<str>),
    /// Index into `Template::names`.
    Placeholder(usize),
}

/// A placeholder name with what lookup needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Name {
    text: Box<str>,
    dotted: bool,
}

/// Bytes reserved per placeholder when sizing the rendered string: enough for a first name, a
/// date or a short link, so the usual render allocates exactly once.
const PLACEHOLDER_RESERVE: usize = 32;

impl Template {
    /// Parse once; never fails.
    ///
    /// Any text is a valid template: what does not form a valid tag is literal text (see the
    /// rules on [`Template`]). Parsing is linear in the length of `source`.
    pub fn parse(source: &str) -> Template {
        let mut builder = Builder::default();
        // `rest` is the text not yet turned into parts; `scan` is where in `rest` to look for the
        // next "{{" (past openings that turned out not to be tags).
        let mut rest = source;
        let mut scan = 0;
        while let Some(found) = rest.get(scan..).and_then(|tail| tail.find("{{")) {
            let open = scan + found;
            let Some((before, tail)) = rest.split_at_checked(open) else {
                break;
            };
            match read_tag(tail) {
                Some((name, after)) => {
                    builder.literal(before);
                    builder.placeholder(name);
                    rest = after;
                    scan = 0;
                }
                // Not a tag here: keep the first brace as text and retry one byte later (after
                // an ASCII '{', so still a character boundary), which finds `{{{x}}}` inside
                // `{{{{x}}}}`.
                None => scan = open + 1,
            }
        }
        builder.literal(rest);
        builder.finish()
    }

    /// Render against one recipient's variables.
    ///
    /// Missing and `null` variables render as the empty string; see [`Template`] for how values
    /// are written. Allocates the output once in the usual case.
    pub fn render(&self, vars: &Map<String, Value>) -> String {
        let capacity = self
            .literal_len
            .saturating_add(self.placeholder_parts.saturating_mul(PLACEHOLDER_RESERVE));
        let mut out = String::with_capacity(capacity);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(index) => {
                    if let Some(value) = self.names.get(*index).and_then(|name| lookup(vars, name))
                    {
                        push_value(&mut out, value);
                    }
                }
            }
        }
        out
    }

    /// Distinct placeholder names in order of first appearance (for "missing variable" warnings
    /// in previews).
    ///
    /// Names are as written minus the braces, padding and `&`: `{{ first_name }}` gives
    /// `first_name`.
    pub fn placeholders(&self) -> Vec<&str> {
        self.names.iter().map(|name| &*name.text).collect()
    }

    /// Names of placeholders that this recipient's vars lack (missing or null), in order of first
    /// appearance, so a preview can warn before a campaign sends "Hi ," to someone.
    ///
    /// A dotted name counts as present when either the whole key or the nested path resolves to a
    /// non-null value (the same lookup [`Template::render`] uses).
    pub fn missing<'a>(&'a self, vars: &Map<String, Value>) -> Vec<&'a str> {
        self.names
            .iter()
            .filter(|name| lookup(vars, name).is_none_or(Value::is_null))
            .map(|name| &*name.text)
            .collect()
    }
}

/// Collects parts while parsing, interning placeholder names.
#[derive(Default)]
struct Builder<'s> {
    parts: Vec<Part>,
    names: Vec<Name>,
    index: HashMap<&'s str, usize>,
    literal_len: usize,
    placeholder_parts: usize,
}

impl<'s> Builder<'s> {
    fn literal(&mut self, text: &str) {
        if !text.is_empty() {
            self.literal_len += text.len();
            self.parts.push(Part::Literal(text.into()));
        }
    }

    fn placeholder(&mut self, name: &'s str) {
        let next = self.names.len();
        let index = *self.index.entry(name).or_insert(next);
        if index == next {
            self.names.push(Name {
                text: name.into(),
                dotted: name.contains('.'),
            });
        }
        self.placeholder_parts += 1;
        self.parts.push(Part::Placeholder(index));
    }

    fn finish(self) -> Template {
        Template {
            parts: self.parts,
            names: self.names,
            literal_len: self.literal_len,
            placeholder_parts: self.placeholder_parts,
        }
    }
}

/// Reads the tag at the start of `text` (which starts with `{{`): returns the placeholder name and
/// the text after the tag, or `None` when these braces do not open a valid tag.
fn read_tag(text: &str) -> Option<(&str, &str)> {
    if let Some(inner) = text.strip_prefix("{{{")
        && let Some(found) = read_tag_body(inner, "}}}", false)
    {
        return Some(found);
    }
    read_tag_body(text.strip_prefix("{{")?, "}}", true)
}

/// Reads a tag's body up to its closing delimiter. Stops at the first character that cannot be
/// part of a tag, so a failed tag costs no more than the name-like run after it.
fn read_tag_body<'t>(
    inner: &'t str,
    close: &str,
    allow_ampersand: bool,
) -> Option<(&'t str, &'t str)> {
    let end = inner
        .find(|c: char| !(is_name_char(c) || c.is_whitespace() || c == '&'))
        .unwrap_or(inner.len());
    let (content, after) = inner.split_at_checked(end)?;
    let after = after.strip_prefix(close)?;
    let mut name = content.trim();
    if allow_ampersand && let Some(unescaped) = name.strip_prefix('&') {
        name = unescaped.trim_start();
    }
    is_valid_name(name).then_some((name, after))
}

/// Characters a name is made of (dots separate its parts).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// A name is one or more non-empty dot-separated parts of letters, digits, `_` and `-`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        })
}

/// Finds a placeholder's value: the whole key first, then (for dotted names whose whole key is
/// absent) the path through nested objects.
fn lookup<'v>(vars: &'v Map<String, Value>, name: &Name) -> Option<&'v Value> {
    if let Some(value) = vars.get(&*name.text) {
        return Some(value);
    }
    if !name.dotted {
        return None;
    }
    let mut parts = name.text.split('.');
    let mut value = vars.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Writes a variable's value as SMS text.
fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text),
        // Writing to a String cannot fail.
        Value::Number(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Null | Value::Array(_) | Value::Object(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/templates.json");

    /// "optional" oracle cases this engine does not pass, and why.
    ///
    /// Both contradict Herald's rule that a dotted name is first looked up as the whole key (so a
    /// flat CSV column called `a.b` can be used as `{{a.b}}`); the Mustache spec forbids that.
    /// Every other optional case (triple mustache, ampersand, dotted traversal) is supported and
    /// must pass.
    const SKIPPED: &[(&str, &str)] = &[
        (
            "Dotted Names are never single keys",
            "Herald looks up the whole key \"a.b\" first, so this renders \"c\"",
        ),
        (
            "Dotted Names - No Masking",
            "Herald looks up the whole key \"a.b\" first, so this renders \"c\", not \"d\"",
        ),
    ];

    fn vars(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("variables must be an object, got {other}"),
        }
    }

    fn render(template: &str, data: Value) -> String {
        Template::parse(template).render(&vars(data))
    }

    #[test]
    fn mustache_interpolation_oracle() {
        let text = std::fs::read_to_string(ORACLE).expect("read oracle");
        let oracle: Value = serde_json::from_str(&text).expect("parse oracle");
        let cases = oracle["cases"].as_array().expect("cases");
        let mut failures = Vec::new();
        let mut ran = HashMap::new();
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let applicable = case["applicable"].as_str().unwrap();
            if applicable == "no" {
                continue;
            }
            let data = case["data"].as_object().expect("object data");
            let got = Template::parse(case["template"].as_str().unwrap()).render(data);
            if let Some((_, reason)) = SKIPPED.iter().find(|(skipped, _)| *skipped == name) {
                assert_eq!(applicable, "optional", "{name} must not be skipped");
                assert_eq!(got, "c", "{name}: {reason}");
                continue;
            }
            *ran.entry(applicable).or_insert(0) += 1;
            if got != case["expected"].as_str().unwrap() {
                failures.push(format!("{name}: got {got:?}, want {}", case["expected"]));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        // Guard against the oracle file shrinking or relabelling under us.
        assert_eq!(ran.get("yes"), Some(&10));
        assert_eq!(ran.get("adapted"), Some(&1));
        assert_eq!(ran.get("optional"), Some(&19));
    }

    #[test]
    fn spec_example() {
        let got = render(
            "Hi {{first_name}}, your appointment is on {{day}} at {{time}}.",
            json!({"first_name": "Sarah", "day": "Tuesday", "time": "2pm"}),
        );
        assert_eq!(got, "Hi Sarah, your appointment is on Tuesday at 2pm.");
    }

    #[test]
    fn padding_inside_braces_is_ignored() {
        let data = json!({"name": "Sarah"});
        for template in [
            "{{name}}",
            "{{ name }}",
            "{{   name}}",
            "{{\tname\n}}",
            "{{& name }}",
        ] {
            assert_eq!(render(template, data.clone()), "Sarah", "{template:?}");
        }
        assert_eq!(
            Template::parse("{{ name }} {{name}}").placeholders(),
            vec!["name"]
        );
    }

    #[test]
    fn lone_and_empty_braces_are_literal() {
        let data = json!({"x": "X", "a": "A"});
        for literal in [
            "{{", "}}", "{{}}", "{{ }}", "{{x", "x}}", "{{x}", "{x}}", "}}x{{", "{{a b}}", "{{.}}",
            "{{a..b}}", "{{.a}}", "{{a.}}", "{{&}}", "{{a&b}}", "{{{}}}", "{{!x}}",
        ] {
            assert_eq!(render(literal, data.clone()), literal, "{literal:?}");
            assert!(
                Template::parse(literal).placeholders().is_empty(),
                "{literal:?}"
            );
        }
        assert_eq!(render("{{ {{x}} }}", data.clone()), "{{ X }}");
        assert_eq!(render("a {{ b {{x}}", data.clone()), "a {{ b X");
        assert_eq!(render("}}{{x}}{{", data), "}}X{{");
    }

    #[test]
    fn surplus_braces_stay_literal() {
        let data = json!({"x": "X"});
        assert_eq!(render("{{{{x}}}}", data.clone()), "{X}");
        assert_eq!(render("{{{x}}", data.clone()), "{X");
        assert_eq!(render("{{x}}}", data.clone()), "X}");
        assert_eq!(render("{{{x}}}", data.clone()), "X");
        assert_eq!(render("{{{ x }}}", data.clone()), "X");
        assert_eq!(render("{{{&x}}}", data.clone()), "{X}");
        assert_eq!(render("{{{{{{x}}}}}}", data), "{{{X}}}");
    }

    #[test]
    fn missing_and_null_render_empty() {
        assert_eq!(render("[{{a}}][{{b}}]", json!({"b": null})), "[][]");
        let template = Template::parse("{{a}} {{b}} {{c}} {{a}} {{d.e}}");
        let data = vars(json!({"b": null, "c": "", "d": {"e": 1}}));
        assert_eq!(template.missing(&data), vec!["a", "b"]);
        assert_eq!(template.placeholders(), vec!["a", "b", "c", "d.e"]);
    }

    #[test]
    fn values_render_as_json_writes_them() {
        let data = json!({
            "int": 85, "neg": -3, "dec": 1.21, "float": 2.0, "big": 18446744073709551615_u64,
            "yes": true, "no": false, "list": [1, 2], "obj": {"k": "v"}, "html": "<b>&amp;</b>"
        });
        let got = render(
            "{{int}}|{{neg}}|{{dec}}|{{float}}|{{big}}|{{yes}}|{{no}}|{{list}}|{{obj}}|{{html}}",
            data,
        );
        assert_eq!(
            got,
            "85|-3|1.21|2.0|18446744073709551615|true|false|||<b>&amp;</b>"
        );
    }

    #[test]
    fn output_is_never_reinterpolated() {
        let data = json!({"a": "{{b}}", "b": "B"});
        assert_eq!(render("{{a}} {{b}}", data), "{{b}} B");
    }

    #[test]
    fn unicode_around_and_inside_placeholders() {
        let data = json!({"prénom": "Zoë", "名前": "太郎", "x": "🎉"});
        assert_eq!(
            render("🎉{{prénom}}🎉 こんにちは{{ 名前 }}さん{{x}}", data),
            "🎉Zoë🎉 こんにちは太郎さん🎉"
        );
        let data = json!({"x": "X"});
        assert_eq!(render("é{{x}}é{{", data.clone()), "éXé{{");
        assert_eq!(render("{{\u{301}x}}", data.clone()), "{{\u{301}x}}");
        assert_eq!(render("{{x\u{200D}}}", data), "{{x\u{200D}}}");
    }

    #[test]
    fn dotted_names() {
        // The whole key wins when present, even when null.
        let flat = json!({"address.city": "Leeds", "address": {"city": "York"}});
        assert_eq!(render("{{address.city}}", flat), "Leeds");
        let null = json!({"a.b": null, "a": {"b": "nested"}});
        assert_eq!(render("{{a.b}}", null), "");
        // Otherwise the path is followed through objects only.
        let nested = json!({"address": {"city": "York"}, "s": "text", "n": 1});
        assert_eq!(render("{{address.city}}", nested.clone()), "York");
        assert_eq!(render("{{address.zip}}|{{s.len}}|{{n.x}}", nested), "||");
        let template = Template::parse("{{address.city}}{{address.zip}}");
        let data = vars(json!({"address": {"city": "York", "zip": null}}));
        assert_eq!(template.missing(&data), vec!["address.zip"]);
    }

    #[test]
    fn names_allow_letters_digits_underscore_dash_dot() {
        let data = json!({"first_name": "a", "order-id": "b", "v2": "c", "_": "d", "-": "e"});
        assert_eq!(
            render("{{first_name}}{{order-id}}{{v2}}{{_}}{{-}}", data),
            "abcde"
        );
    }

    #[test]
    fn render_is_repeatable_and_templates_compare() {
        let template = Template::parse("Hi {{name}}!");
        let copy = template.clone();
        assert_eq!(template, copy);
        for name in ["Ann", "Bob", ""] {
            assert_eq!(
                copy.render(&vars(json!({"name": name}))),
                format!("Hi {name}!")
            );
        }
        assert_eq!(Template::parse("").render(&Map::new()), "");
        assert!(Template::parse("no tags").placeholders().is_empty());
    }

    /// Deterministic pseudo-random templates built from the characters the parser cares about:
    /// no panic, and text without "{{" is copied unchanged.
    #[test]
    fn random_templates_never_panic() {
        const PIECES: &[&str] = &[
            "{", "}", "{{", "}}", "x", "a.b", ".", "&", " ", "\n", "é", "😀", "\u{301}", "-", "_",
        ];
        let data = vars(json!({"x": "X", "a.b": 1, "a": {"b": true}}));
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        for _ in 0..5_000 {
            let len = next() % 40;
            let source: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
            let template = Template::parse(&source);
            let rendered = template.render(&data);
            let _ = template.placeholders();
            let _ = template.missing(&data);
            if !source.contains("{{") {
                assert_eq!(rendered, source);
            }
            // With no variables, every placeholder disappears and all other text survives.
            let bare = template.render(&Map::new());
            assert!(bare.len() <= source.len());
        }
    }
}
