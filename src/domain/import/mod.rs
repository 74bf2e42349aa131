//! Recipients from a dashboard paste or CSV upload: phone column, variables, per-row errors.

mod columns;
mod list;
mod table;

use serde_json::{Map, Value};

use crate::domain::phone::{Phone, PhoneError};
use columns::assemble;
use table::{detect_paste_delimiter, lines_as_rows, read_rows};

pub use table::{Table, TableRow, TextEncoding, decode_text, read_table, read_table_capped};

/// One recipient read from the input, with the other columns of its row as template variables.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImportedRecipient {
    /// The recipient's number, canonical E.164.
    pub phone: Phone,
    /// Every variable column of the import (see [`Import::variables`]) with this row's text,
    /// trimmed; `""` where the row has no such cell, so every recipient has the same keys.
    pub variables: Map<String, Value>,
    /// 1-based physical line where the row starts, so staff can find it in their file.
    pub line: usize,
    /// The number as written when it had no country code (no `+` nor `00`) and was read in
    /// the default country, so the preview can show staff every number that was converted.
    pub converted_from: Option<String>,
}

/// A row that could not become a recipient; shown to staff next to the line number.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImportError {
    /// 1-based physical line where the row starts.
    pub line: usize,
    /// The phone cell as written (trimmed, cut to 100 characters).
    pub value: String,
    /// Why it was refused, in words for office staff (a [`PhoneError`] message).
    pub reason: String,
}

/// The outcome of an import: what can be sent, what cannot, and how the input was understood.
///
/// Recipients and errors keep input order; duplicates are kept (the caller reports them).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Import {
    /// Rows (or list entries) whose phone parsed.
    pub recipients: Vec<ImportedRecipient>,
    /// Rows whose phone did not parse.
    pub errors: Vec<ImportError>,
    /// The phone column's header text (trimmed), or `colN` (1-based position) when there is no
    /// header; `None` for a paste in which no phone column could be found.
    pub phone_column: Option<String>,
    /// Variable names in column order, so the dashboard can offer them for `{{name}}` templates.
    pub variables: Vec<String>,
    /// The character encoding the input was read in (see [`decode_text`]), so staff can be told
    /// when it was not UTF-8.
    pub encoding: TextEncoding,
}

/// Why an upload cannot be imported at all (as opposed to single bad rows, see [`ImportError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportFailure {
    /// No non-blank rows.
    #[error("the file is empty: there are no rows to import")]
    Empty,
    /// Marked as UTF-8 or UTF-16 by a byte-order mark but not valid in it (text without a mark
    /// that is not UTF-8 is read as Windows-1252 instead, see [`decode_text`]).
    #[error(
        "the file is not UTF-8 text (the first unreadable character is on line {line}); in Excel, save it as \"CSV UTF-8 (Comma delimited)\""
    )]
    NotUtf8 {
        /// 1-based line of the first byte that is not UTF-8.
        line: usize,
    },
    /// No column is named like a phone column and none holds phone numbers.
    #[error(
        "no phone number column found: name the column \"phone\" (or mobile, number, tel), or make sure it holds numbers with their country code"
    )]
    NoPhoneColumn,
    /// The default country for national numbers is not one we know.
    #[error("unknown default country \"{0}\": use a two-letter ISO code such as GB or US")]
    UnknownRegion(String),
    /// The CSV reader gave up (should not happen for UTF-8 text; kept so nothing panics).
    #[error("the file could not be read as CSV near line {line}")]
    Malformed {
        /// 1-based line where reading failed.
        line: usize,
    },
    /// A NUL character: no field has a use for it and PostgreSQL cannot store it.
    #[error("line {line} contains the NUL character (\\u0000), which Herald does not accept")]
    Nul {
        /// 1-based line of the first NUL.
        line: usize,
    },
    /// More rows (or listed numbers) than one campaign may have (`--max-recipients`); reading
    /// stopped there.
    #[error(
        "the list has more than {limit} rows; at most {limit} recipients are allowed in one campaign (--max-recipients): split it into several campaigns"
    )]
    TooManyRows {
        /// The most rows allowed.
        limit: usize,
    },
}

impl ImportFailure {
    /// Stable snake_case identifier for API clients, like [`PhoneError::code`].
    pub fn code(&self) -> &'static str {
        match self {
            ImportFailure::Empty => "empty",
            ImportFailure::NotUtf8 { .. } => "not_utf8",
            ImportFailure::NoPhoneColumn => "no_phone_column",
            ImportFailure::UnknownRegion(_) => "unknown_region",
            ImportFailure::Malformed { .. } => "malformed",
            ImportFailure::Nul { .. } => "nul",
            ImportFailure::TooManyRows { .. } => "too_many_rows",
        }
    }
}

/// Imports an uploaded CSV file.
///
/// Why: the dashboard's upload path. Reads the table with [`read_table`], then:
/// - Blank rows are skipped; line numbers stay physical (the line where a row starts).
/// - Header and phone column: the first row is a header if none of its cells parses as a
///   phone and either (a) a cell is named like a phone column — phone / mobile / number / tel
///   / telephone / cell / msisdn, case-insensitive, also as words of "Phone Number",
///   "mobile_number", "Tel.", "Contact number" (the strongest name wins: "phone" beats
///   "mobile" beats "tel" beats "cell" beats a bare "number"; "Order number" is no match) —
///   or (b) later rows hold phones in a column where the first row has a non-empty cell with
///   fewer than 3 digits (so a mistyped number in row 1 is reported, not eaten as a header).
///   A named column that holds no phone in the first 200 rows loses to a column that does.
///   Without a header, the phone column is the one whose cells most often parse as phones
///   (leftmost on ties).
/// - Every other column is a variable. Names come from the header: trimmed, inner whitespace
///   runs turned into `_`, `{`/`}` removed ("First name" -> `First_name`), duplicates suffixed
///   `_2`, `_3`; columns without a header name are `colN` by 1-based position (`col1`,
///   `col3`, ...). Unnamed columns that are blank in every row are dropped (Excel's trailing
///   commas). Values are trimmed; every recipient gets every variable (`""` if missing).
/// - Phones are read with [`Phone::parse_with_region`], so national numbers work when
///   `default_region` is given. A row whose phone does not parse becomes an [`ImportError`]
///   with the raw value and the [`PhoneError`] message (or a hint when Excel turned the
///   number into `4.47723E+11`). Duplicates are kept, in order.
/// - A row holding only numbers, in the phone column and columns without a header name, is a
///   list: each number is a recipient or an error line (the list rules of [`parse_paste`]).
///
/// Fails only when the input is unusable: empty, broken UTF-8/UTF-16 after a byte-order mark,
/// unknown default region, or no
/// phone column at all. A header-only file is not a failure: it gives no recipients.
pub fn parse_csv(input: &[u8], default_region: Option<&str>) -> Result<Import, ImportFailure> {
    parse_csv_capped(input, default_region, usize::MAX)
}

/// [`parse_csv`] of at most `max_rows` recipients and error lines together (a header row
/// aside): reading stops at the first row past the limit ([`ImportFailure::TooManyRows`]),
/// so a million-row file costs no more than the allowed rows.
pub fn parse_csv_capped(
    input: &[u8],
    default_region: Option<&str>,
    max_rows: usize,
) -> Result<Import, ImportFailure> {
    Phone::check_region(default_region).map_err(|e| match e {
        PhoneError::UnknownRegion(code) => ImportFailure::UnknownRegion(code),
        _ => ImportFailure::UnknownRegion(String::new()),
    })?;
    let table = read_table_capped(input, max_rows.saturating_add(1)).map_err(|e| match e {
        ImportFailure::TooManyRows { .. } => ImportFailure::TooManyRows { limit: max_rows },
        e => e,
    })?;
    let import = assemble(table.rows, default_region, Source::Csv)?;
    within(
        Import {
            encoding: table.encoding,
            ..import
        },
        max_rows,
    )
}

/// The import, unless its recipients and error lines together exceed `max_rows` (a row
/// holding a list gives one of them per number).
fn within(import: Import, max_rows: usize) -> Result<Import, ImportFailure> {
    if import.recipients.len() + import.errors.len() > max_rows {
        return Err(ImportFailure::TooManyRows { limit: max_rows });
    }
    Ok(import)
}

/// Imports numbers pasted into the dashboard's text box.
///
/// Why: staff "drop in a list separated by commas, tabs, spaces, or newlines". Header, phone
/// column, variable and error rules are those of [`parse_csv`]; in addition:
/// - Each non-empty line is a row (a quoted cell may span lines); blank lines are skipped.
/// - One delimiter is chosen for the whole paste: of tab, `,` and `;`, the one found (outside
///   quotes) on the most lines; ties prefer tab, then `,`. Quotes work as in CSV unless the
///   paste has an odd number of `"`, in which case they are plain text (so one stray quote
///   cannot swallow the rest of the list). With no delimiter, each line is one cell.
/// - Lists (any of `,` `;` tab, spaces and newlines, mixed within a line and across lines): a
///   row whose filled cells are all in the phone column or in columns without a header name,
///   and whose entries (each cell split again on `,` `;` tab) all look like phone numbers
///   (phone characters only, and a `+`/`0` start, a lost `+`, or a number that parses) is a
///   list: each entry is a recipient or an error line with its reason, never a `{{colN}}`
///   variable and never dropped. The same holds for CSV rows.
/// - Spaces inside an entry: one number written in groups ("+44 7723 456 789") is one number;
///   otherwise the entry is read as several numbers when every space-separated piece is one,
///   or by cutting before each `+` ("+44 7723 456789 +1 415 555 2671"), or by the only way
///   to group the pieces into valid numbers ("07723 456789 07723 456780" with GB), pieces
///   left between numbers being error lines. When no reading or more than one fits, the entry
///   is reported whole as one error line (see `list::read_entry` for the exact order).
/// - It never fails: with no phone anywhere, every row is reported as an error and
///   [`Import::phone_column`] is `None`; an unknown default region is reported on every row.
pub fn parse_paste(text: &str, default_region: Option<&str>) -> Import {
    // A paste cannot fail without a cap: every problem is reported per row.
    parse_paste_capped(text, default_region, usize::MAX).unwrap_or_default()
}

/// [`parse_paste`] of at most `max_rows` recipients and error lines together (a header row
/// aside); more is [`ImportFailure::TooManyRows`], found while reading the rows.
pub fn parse_paste_capped(
    text: &str,
    default_region: Option<&str>,
    max_rows: usize,
) -> Result<Import, ImportFailure> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let quoting = text.bytes().filter(|&b| b == b'"').count() % 2 == 0;
    let cap = max_rows.saturating_add(1);
    let too_many = ImportFailure::TooManyRows { limit: max_rows };
    let rows = match detect_paste_delimiter(text, quoting) {
        Some(delimiter) => match read_rows(text, delimiter, quoting, cap) {
            Err(ImportFailure::TooManyRows { .. }) => return Err(too_many),
            Ok(rows) => rows,
            Err(_) => lines_as_rows(text, cap).map_err(|_| too_many)?,
        },
        None => lines_as_rows(text, cap).map_err(|_| too_many)?,
    };
    within(
        assemble(rows, default_region, Source::Paste).unwrap_or_default(),
        max_rows,
    )
}

/// Where the rows came from: decides list handling and whether a missing phone column fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Paste,
    Csv,
}

#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod tests;
