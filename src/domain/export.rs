//! Recipients as CSV: the columns of the results file and cells that are safe to open in a
//! spreadsheet.

use serde_json::Value;

/// The fixed columns of a campaign's results file, before one column per variable.
pub const RECIPIENT_COLUMNS: [&str; 10] = [
    "phone",
    "status",
    "error_code",
    "error_message",
    "twilio_sid",
    "from_number",
    "segments",
    "sent_at",
    "delivered_at",
    "updated_at",
];

/// The byte order mark that starts the file, so that Excel reads it as UTF-8.
pub const BOM: &str = "\u{feff}";

/// True for a phone number as written in E.164 or close to it (`+447700900123`,
/// `+44 7700 900123`): a leading `+` there is the number's, not a formula's.
fn is_phone(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('+') else {
        return false;
    };
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    (6..=15).contains(&digits) && rest.chars().all(|c| c.is_ascii_digit() || c == ' ')
}

/// Appends one cell to `line`, made safe for spreadsheets:
/// - a cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
///   carriage return) gets a leading `'`, unless it is a phone number (OWASP's advice on CSV
///   injection);
/// - a cell with a comma, a quote or a line break is quoted, quotes doubled (RFC 4180).
pub fn push_cell(line: &mut String, text: &str) {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_phone(text);
    let prefix = if risky { "'" } else { "" };
    if text.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(prefix);
        line.push_str(&text.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(prefix);
        line.push_str(text);
    }
}

/// Appends a row of cells and its line ending (CRLF, as RFC 4180 and Excel expect).
pub fn push_row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// A template variable's value as a cell: strings as they are, numbers and booleans as
/// written in JSON, nothing for null or a missing variable.
pub fn variable_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str) -> String {
        let mut out = String::new();
        push_cell(&mut out, text);
        out
    }

    #[test]
    fn formulas_are_defused_and_phone_numbers_are_not() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1+2"), "'+1+2");
        assert_eq!(cell("-5"), "'-5");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("+447700900123"), "+447700900123");
        assert_eq!(cell("+44 7700 900123"), "+44 7700 900123");
        assert_eq!(cell("Ann"), "Ann");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn cells_with_separators_are_quoted() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        let mut row = String::new();
        push_row(&mut row, ["a", "b,c", ""]);
        assert_eq!(row, "a,\"b,c\",\r\n");
    }

    #[test]
    fn variables_read_as_text() {
        assert_eq!(variable_text(None), "");
        assert_eq!(variable_text(Some(&Value::Null)), "");
        assert_eq!(variable_text(Some(&Value::from("Ann"))), "Ann");
        assert_eq!(variable_text(Some(&Value::from(3))), "3");
        assert_eq!(variable_text(Some(&Value::from(true))), "true");
    }
}
