//! From rows of cells to recipients: header and phone-column detection, variable names,
//! per-row phones and the staff-facing reasons for rows that fail.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::list::{Entry, converted_from, looks_like_phone, read_entry, tokens};
use super::table::TableRow;
use super::{Import, ImportError, ImportFailure, ImportedRecipient, Source};
use crate::domain::phone::{Phone, PhoneError};

/// How many data rows to parse when looking for the phone column.
const DETECTION_SAMPLE_ROWS: usize = 200;
/// Longest cell text echoed back in an [`ImportError`].
pub(super) const MAX_ECHO_CHARS: usize = 100;

/// How a header cell names a phone column: higher is a stronger match, 0 is no match.
///
/// Tokens are the cell's alphanumeric runs, lowercased. The strongest keyword sets the score
/// (phone 6, mobile/msisdn 5, telephone/tel 4, cell 3, number 1), an exact one-word header adds
/// a bonus, and each unrelated word costs a point ("Home phone" still matches). "number" counts
/// only on its own or with filler words ("Contact number"), so "Order number" is not a phone.
pub(super) fn header_score(cell: &str) -> i32 {
    let lower = cell.trim().to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let rank = |t: &str| match t {
        "phone" | "phones" | "phonenumber" | "phonenumbers" | "phoneno" => 6,
        "mobile" | "mobiles" | "mobilenumber" | "mobilephone" | "mobileno" | "msisdn" => 5,
        "telephone" | "tel" | "telephonenumber" | "telefon" | "telefono" | "teléfono"
        | "téléphone" => 4,
        "cell" | "cellphone" | "cellular" | "celular" | "handy" | "móvil" | "movil" => 3,
        "number" | "numbers" => 1,
        _ => 0,
    };
    let filler = |t: &str| {
        matches!(
            t,
            "no" | "nr" | "num" | "number" | "numbers" | "contact" | "sms" | "recipient" | "to"
        )
    };
    let best = tokens.iter().map(|t| rank(t)).max().unwrap_or(0);
    if best == 0 {
        return 0;
    }
    let unrelated = tokens.iter().filter(|t| rank(t) == 0 && !filler(t)).count();
    if best == 1 && unrelated > 0 {
        return 0;
    }
    let exact = if tokens.len() == 1 { 5 } else { 0 };
    let unrelated = i32::try_from(unrelated.min(5)).unwrap_or(5);
    best * 10 + exact - unrelated
}

/// The best phone-like header cell (leftmost on ties), if any.
fn keyword_column(cells: &[String]) -> Option<usize> {
    let mut best: Option<(usize, i32)> = None;
    for (i, cell) in cells.iter().enumerate() {
        let score = header_score(cell);
        if score > 0 && best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

/// Leftmost column with the highest non-zero count.
fn argmax(counts: &[usize]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((i, n));
        }
    }
    best.map(|(i, _)| i)
}

/// Turns header text into a template-friendly variable name.
pub(super) fn variable_name(header: &str) -> String {
    let mut name = String::with_capacity(header.len());
    for word in header.split_whitespace() {
        if !name.is_empty() {
            name.push('_');
        }
        name.extend(word.chars().filter(|c| !matches!(c, '{' | '}')));
    }
    name
}

/// A cell trimmed and cut for echoing back to staff.
pub(super) fn echo(value: &str) -> String {
    let value = value.trim();
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// Cell `i` of a row, trimmed; `""` when the row is shorter.
pub(super) fn cell(row: &TableRow, i: usize) -> &str {
    row.cells.get(i).map_or("", |c| c.trim())
}

/// Digits in a cell (a header has few, a mistyped phone many).
fn digit_count(cell: &str) -> usize {
    cell.chars().filter(char::is_ascii_digit).count()
}

/// "4.47723E+11": Excel's rendering of a long number stored as a number, which lost digits.
pub(super) fn looks_like_scientific_notation(value: &str) -> bool {
    let value = value.trim();
    let Some((mantissa, exponent)) = value.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let mantissa_ok = !mantissa.is_empty()
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && mantissa.starts_with(|c: char| c.is_ascii_digit());
    mantissa_ok && !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
}

/// The staff-facing reason for a phone that did not parse.
pub(super) fn reason(value: &str, err: &PhoneError) -> String {
    if *err == PhoneError::InvalidCharacters && looks_like_scientific_notation(value) {
        return format!(
            "not a valid phone number: Excel turned it into a rounded number ({}); format the phone column as Text and export again",
            value.trim()
        );
    }
    if let Some(plus) = lost_plus(value) {
        return format!(
            "{err}; if a spreadsheet dropped its leading +, it is {plus}: add the + (or the right default country) and check it"
        );
    }
    err.to_string()
}

/// A value of bare digits that would be a valid number with a `+` in front: what a spreadsheet
/// leaves of `+447723456789` when it stores the column as numbers. Reported, never guessed:
/// the same digits may be a mistyped national number.
pub(super) fn lost_plus(value: &str) -> Option<Phone> {
    let value = value.trim();
    if value.is_empty()
        || value.starts_with(['+', '0'])
        || !value.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    Phone::parse(&format!("+{value}")).ok()
}

/// How one data row turns into recipients.
enum RowKind {
    /// A row of the table: phone in the phone column, other columns are variables.
    Table,
    /// A row holding numbers and nothing else: each entry a recipient or a reported error.
    List(Vec<Entry>),
    /// A paste line whose only non-empty cell (at this index) is not a phone: reported.
    Single(usize),
}

/// Everything after reading: header and phone-column detection, then recipients and errors.
pub(super) fn assemble(
    rows: Vec<TableRow>,
    region: Option<&str>,
    source: Source,
) -> Result<Import, ImportFailure> {
    let rows: Vec<TableRow> = rows
        .into_iter()
        .filter(|row| row.cells.iter().any(|c| !c.trim().is_empty()))
        .collect();
    let Some(first) = rows.first() else {
        return match source {
            Source::Csv => Err(ImportFailure::Empty),
            Source::Paste => Ok(Import::default()),
        };
    };
    // In a paste, a cell holding a list ("+44...,+1... +33...") counts as a phone cell too.
    let is_phone = |cell: &str| {
        Phone::parse_with_region(cell, region).is_ok()
            || (source == Source::Paste && is_list_cell(cell, region))
    };
    let first_has_phone = first.cells.iter().any(|cell| is_phone(cell));

    // Phones per column in a sample of the later rows.
    let sample_end = rows.len().min(1 + DETECTION_SAMPLE_ROWS);
    let width = rows[..sample_end]
        .iter()
        .map(|r| r.cells.len())
        .max()
        .unwrap_or(0);
    let mut counts = vec![0usize; width];
    for row in &rows[1..sample_end] {
        for (count, cell) in counts.iter_mut().zip(&row.cells) {
            if is_phone(cell) {
                *count += 1;
            }
        }
    }

    let keyword = keyword_column(&first.cells);
    let by_content = argmax(&counts);
    let (has_header, phone_col) = match (keyword, by_content) {
        (Some(k), content) if !first_has_phone => {
            // A named column that holds no phones loses to one that does.
            let col = if counts.get(k).copied().unwrap_or(0) == 0 {
                content.unwrap_or(k)
            } else {
                k
            };
            (true, Some(col))
        }
        (_, Some(c))
            if !first_has_phone
                && !cell(first, c).is_empty()
                && digit_count(cell(first, c)) < 3 =>
        {
            (true, Some(c))
        }
        _ => {
            for (count, c) in counts.iter_mut().zip(&first.cells) {
                if is_phone(c) {
                    *count += 1;
                }
            }
            (false, argmax(&counts))
        }
    };
    let detected = phone_col.is_some();
    let phone_col = match (phone_col, source) {
        (Some(c), _) => c,
        (None, Source::Paste) => 0,
        (None, Source::Csv) => return Err(ImportFailure::NoPhoneColumn),
    };

    let header: &[String] = if has_header { &first.cells } else { &[] };
    let data = if has_header { &rows[1..] } else { &rows[..] };

    // Classify rows first: list rows of a paste carry no variables.
    let kinds: Vec<RowKind> = data
        .iter()
        .map(|row| classify(row, phone_col, header, region, source))
        .collect();

    // Variable columns: every named header column, plus unnamed columns used by a table row.
    let width = data
        .iter()
        .zip(&kinds)
        .filter(|(_, kind)| matches!(kind, RowKind::Table))
        .map(|(row, _)| row.cells.len())
        .chain(std::iter::once(header.len()))
        .max()
        .unwrap_or(0);
    let mut used = vec![false; width];
    for (row, kind) in data.iter().zip(&kinds) {
        if matches!(kind, RowKind::Table) {
            for (flag, text) in used.iter_mut().zip(&row.cells) {
                *flag |= !text.trim().is_empty();
            }
        }
    }
    let mut names: Vec<(usize, String)> = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut next_suffix: HashMap<String, usize> = HashMap::new();
    for col in (0..width).filter(|&c| c != phone_col) {
        let named = header
            .get(col)
            .map(|h| variable_name(h))
            .filter(|n| !n.is_empty());
        let base = match named {
            Some(name) => name,
            None if used[col] => format!("col{}", col + 1),
            None => continue,
        };
        let mut name = base.clone();
        if taken.contains(&name) {
            let n = next_suffix.entry(base.clone()).or_insert(2);
            loop {
                name = format!("{base}_{n}");
                *n += 1;
                if !taken.contains(&name) {
                    break;
                }
            }
        }
        taken.insert(name.clone());
        names.push((col, name));
    }

    let phone_column = match (detected, has_header) {
        (false, _) => None,
        (true, true) => Some(cell(first, phone_col))
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .or_else(|| Some(format!("col{}", phone_col + 1))),
        (true, false) => Some(format!("col{}", phone_col + 1)),
    };

    let mut import = Import {
        recipients: Vec::with_capacity(data.len()),
        errors: Vec::new(),
        phone_column,
        variables: names.iter().map(|(_, name)| name.clone()).collect(),
        encoding: Default::default(),
    };
    let empty_variables = || -> Map<String, Value> {
        names
            .iter()
            .map(|(_, name)| (name.clone(), Value::String(String::new())))
            .collect()
    };
    for (row, kind) in data.iter().zip(kinds) {
        let value_col = match kind {
            RowKind::List(entries) => {
                for entry in entries {
                    match entry {
                        Ok((phone, converted_from)) => import.recipients.push(ImportedRecipient {
                            phone,
                            variables: empty_variables(),
                            line: row.line,
                            converted_from,
                        }),
                        Err(refused) => import.errors.push(ImportError {
                            line: row.line,
                            value: refused.value,
                            reason: refused.reason,
                        }),
                    }
                }
                continue;
            }
            RowKind::Single(col) => col,
            RowKind::Table => phone_col,
        };
        let value = cell(row, value_col);
        match Phone::parse_with_region(value, region) {
            Ok(phone) => {
                let variables = names
                    .iter()
                    .map(|(col, name)| {
                        let text = if *col == value_col {
                            ""
                        } else {
                            cell(row, *col)
                        };
                        (name.clone(), Value::String(text.to_owned()))
                    })
                    .collect();
                import.recipients.push(ImportedRecipient {
                    phone,
                    variables,
                    line: row.line,
                    converted_from: converted_from(value),
                });
            }
            Err(err) => import.errors.push(ImportError {
                line: row.line,
                value: echo(value),
                reason: reason(value, &err),
            }),
        }
    }
    Ok(import)
}

/// A cell that is a list of numbers: every entry looks like one and at least one parses.
fn is_list_cell(cell: &str, region: Option<&str>) -> bool {
    let entries = tokens([cell]);
    !entries.is_empty()
        && entries.iter().all(|e| looks_like_phone(e, region))
        && entries
            .iter()
            .any(|e| read_entry(e, region).iter().any(Result::is_ok))
}

/// Decides how a data row becomes recipients (see [`super::parse_paste`] for the paste rules).
///
/// A row is a list when every filled cell is the phone column or a column without a header
/// name, and every entry in them (split on `,` `;` tab too, whatever the row's delimiter)
/// looks like a phone number: each entry is then a recipient or a reported error, so no
/// number becomes a `{{colN}}` variable or is lost. Rows with named or non-phone cells are
/// table rows, as before.
fn classify(
    row: &TableRow,
    phone_col: usize,
    header: &[String],
    region: Option<&str>,
    source: Source,
) -> RowKind {
    let filled: Vec<usize> = (0..row.cells.len())
        .filter(|&i| !row.cells[i].trim().is_empty())
        .collect();
    let unnamed = |i: usize| header.get(i).is_none_or(|h| variable_name(h).is_empty());
    if filled.iter().all(|&i| i == phone_col || unnamed(i)) {
        let entries = tokens(filled.iter().map(|&i| row.cells[i].as_str()));
        if !entries.is_empty() && entries.iter().all(|e| looks_like_phone(e, region)) {
            return RowKind::List(entries.iter().flat_map(|e| read_entry(e, region)).collect());
        }
    }
    if source == Source::Csv {
        return RowKind::Table;
    }
    if let [only] = filled[..] {
        let value = row.cells[only].trim();
        if let Ok(phone) = Phone::parse_with_region(value, region) {
            return RowKind::List(vec![Ok((phone, converted_from(value)))]);
        }
        // With a header, a lone non-phone cell outside the phone column is a row missing its phone.
        return if !header.is_empty() && only != phone_col {
            RowKind::Table
        } else {
            RowKind::Single(only)
        };
    }
    RowKind::Table
}
