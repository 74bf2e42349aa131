//! The input rules every edge applies to text from outside: no NUL anywhere, and the sizes of
//! templates and variables (docs/ARCHITECTURE.md §2).

use serde_json::{Map, Value};

use super::FieldError;

/// Longest message template accepted, in characters, checked before it is parsed or rendered.
/// A rendered message is at most 1,600 characters, so a template needs little more.
pub const MAX_TEMPLATE_CHARS: usize = 4_096;
/// Longest value of one template variable, in characters (numbers and booleans by their JSON
/// text).
pub const MAX_VARIABLE_CHARS: usize = 1_024;
/// Most characters of one recipient's variables together: every name and every value.
pub const MAX_VARIABLES_CHARS: usize = 10_240;

/// What a field holding a NUL character is told. PostgreSQL cannot store one, and no SMS
/// field has a use for it.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (\\u0000)";

/// `field` when `value` holds a NUL character.
pub fn check_text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.contains('\0') {
        Err(FieldError::new(field, NUL_MESSAGE))
    } else {
        Ok(())
    }
}

/// The 1-based line of the first NUL character of `text`, if any.
pub fn nul_line(text: &str) -> Option<usize> {
    let at = text.find('\0')?;
    Some(text[..at].bytes().filter(|&b| b == b'\n').count() + 1)
}

/// Checks an `application/x-www-form-urlencoded` text (a query string or a form body): the
/// first pair whose name or value holds a NUL (raw or `%00`) is refused, named by its name
/// (`query` when the name itself is unreadable).
pub fn check_urlencoded(encoded: &[u8]) -> Result<(), FieldError> {
    if !encoded.contains(&0) && !contains_escaped_nul(encoded) {
        return Ok(());
    }
    for pair in encoded.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let has_nul = |s: &[u8]| s.contains(&0) || contains_escaped_nul(s);
        if has_nul(name) || has_nul(value) {
            let name = String::from_utf8_lossy(&percent_decode(name)).replace('\0', "");
            let field = if name.is_empty() {
                "query".into()
            } else {
                name
            };
            return Err(FieldError::new(field, NUL_MESSAGE));
        }
    }
    Ok(())
}

/// True when a percent-encoded path holds an encoded NUL (`%00`).
pub fn path_has_nul(path: &str) -> bool {
    path.contains('\0') || contains_escaped_nul(path.as_bytes())
}

fn contains_escaped_nul(s: &[u8]) -> bool {
    s.windows(3).any(|w| w == b"%00")
}

/// Decodes `+` and `%XX` (invalid escapes are kept as written).
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// A template's size (at most [`MAX_TEMPLATE_CHARS`]), before anything parses it.
pub fn check_template(field: &str, template: &str) -> Result<(), FieldError> {
    check_text(field, template)?;
    let chars = template.chars().count();
    if chars > MAX_TEMPLATE_CHARS {
        return Err(FieldError::new(
            field,
            format!("has {chars} characters; at most {MAX_TEMPLATE_CHARS} are allowed"),
        ));
    }
    Ok(())
}

/// One recipient's variables: each value at most [`MAX_VARIABLE_CHARS`], all names and values
/// together at most [`MAX_VARIABLES_CHARS`], no NUL. `field` is the path of the variables
/// object (`recipients[3].variables`); a value's problem is named by its own path.
pub fn check_variables(field: &str, variables: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut total = 0usize;
    for (name, value) in variables {
        let path = format!("{field}.{name}");
        if name.contains('\0') {
            errors.push(FieldError::new(field, format!("a name {NUL_MESSAGE}")));
        }
        let chars = match value {
            Value::String(s) => {
                if s.contains('\0') {
                    errors.push(FieldError::new(&path, NUL_MESSAGE));
                }
                s.chars().count()
            }
            Value::Number(n) => n.to_string().len(),
            Value::Bool(b) => b.to_string().len(),
            _ => 0,
        };
        if chars > MAX_VARIABLE_CHARS {
            errors.push(FieldError::new(
                &path,
                format!("has {chars} characters; a variable may have at most {MAX_VARIABLE_CHARS}"),
            ));
        }
        total += name.chars().count() + chars;
    }
    if total > MAX_VARIABLES_CHARS {
        errors.push(FieldError::new(
            field,
            format!(
                "names and values have {total} characters together; at most {MAX_VARIABLES_CHARS} are allowed per recipient"
            ),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_in_text_lines_and_forms() {
        assert!(check_text("name", "a\0b").is_err());
        assert!(check_text("name", "ab").is_ok());
        assert_eq!(nul_line("a\nb\nc\0"), Some(3));
        assert_eq!(nul_line("abc"), None);
        assert!(check_urlencoded(b"limit=10&cursor=abc").is_ok());
        assert!(check_urlencoded(b"a=%0").is_ok());
        let e = check_urlencoded(b"limit=10&cursor=ab%00c").unwrap_err();
        assert_eq!(e.field, "cursor");
        let e = check_urlencoded(b"first+name=x\0").unwrap_err();
        assert_eq!(e.field, "first name");
        let e = check_urlencoded(b"%00=x").unwrap_err();
        assert_eq!(e.field, "query");
        assert!(path_has_nul("/v1/numbers/%00"));
        assert!(!path_has_nul("/v1/numbers/%2B44"));
    }

    #[test]
    fn templates_and_variables_are_bounded() {
        assert!(check_template("t", &"x".repeat(MAX_TEMPLATE_CHARS)).is_ok());
        assert!(check_template("t", &"é".repeat(MAX_TEMPLATE_CHARS + 1)).is_err());
        let mut vars = Map::new();
        vars.insert("a".into(), Value::String("y".repeat(MAX_VARIABLE_CHARS)));
        assert!(check_variables("v", &vars).is_empty());
        vars.insert(
            "b".into(),
            Value::String("y".repeat(MAX_VARIABLE_CHARS + 1)),
        );
        let errors = check_variables("v", &vars);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "v.b");
        let mut many = Map::new();
        for i in 0..11 {
            many.insert(format!("k{i}"), Value::String("y".repeat(1000)));
        }
        let errors = check_variables("v", &many);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "v");
        let mut nul = Map::new();
        nul.insert("a".into(), Value::String("\0".into()));
        assert_eq!(check_variables("v", &nul)[0].field, "v.a");
    }
}
