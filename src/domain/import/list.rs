//! Lists of numbers inside a row: cells split on every separator, and numbers written with
//! spaces inside told apart from numbers separated by spaces.

use super::columns::{echo, looks_like_scientific_notation, lost_plus, reason};
use crate::domain::phone::{Phone, PhoneError};

/// Separators of a list inside a cell; the row's own delimiter has already split the cells, so
/// a paste may mix them ("a,b<TAB>c").
const SEPARATORS: [char; 3] = [',', ';', '\t'];
/// Fewest digits for a bare token to count as a number someone meant to send to.
const MIN_DIGITS: usize = 6;
/// Most space-separated pieces one number is written in ("+1 (415) 555 2671" is four).
const MAX_PIECES_PER_NUMBER: usize = 6;

/// One entry of a list that could not become a recipient: the text as written and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refused {
    /// The entry, trimmed and cut for echoing.
    pub value: String,
    /// The staff-facing reason.
    pub reason: String,
}

/// One entry of a list: a recipient (with the text as written when it had no country code, see
/// [`converted_from`]), or a refused entry that is reported, never dropped.
pub(super) type Entry = Result<(Phone, Option<String>), Refused>;

/// The number as written when it carried no country code (no `+` nor `00`), so it was read in
/// the default country; `None` when the text said the country itself.
pub(super) fn converted_from(written: &str) -> Option<String> {
    let written = written.trim();
    (!written.starts_with('+') && !written.starts_with("00")).then(|| written.to_owned())
}

/// The non-empty entries of some cells, split on every list separator and trimmed.
pub(super) fn tokens<'a>(cells: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    cells
        .into_iter()
        .flat_map(|cell| cell.split(SEPARATORS))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether a token is meant as a phone number (possibly a broken one) rather than a name, an
/// amount or an id: only phone characters, and a `+`/`0` start, a spreadsheet's lost `+`, Excel's
/// rounded rendering, or a number that parses. Decides whether a row is a list of numbers.
pub(super) fn looks_like_phone(token: &str, region: Option<&str>) -> bool {
    let token = token.trim();
    if looks_like_scientific_notation(token) {
        return true;
    }
    let mut digits = 0;
    for c in token.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if !(c.is_whitespace() || matches!(c, '+' | '-' | '(' | ')' | '.' | '/')) {
            return false;
        }
    }
    if token.starts_with('+') {
        return digits > 0;
    }
    digits >= MIN_DIGITS
        && (token.starts_with('0')
            || lost_plus(token).is_some()
            || Phone::parse_with_region(token, region).is_ok())
}

/// Reads one list entry, which may hold several numbers separated by spaces.
///
/// Why this order: spaces both separate numbers and group digits inside one, so a reading is
/// taken only when it is the sole one; otherwise the entry is reported whole. In order:
/// 1. the whole entry is one number ("+44 7723 456789");
/// 2. every space-separated piece is a number ("+447723456789 +14155552671");
/// 3. split before each `+` that follows a space: each part is a number or an error
///    ("+44 7723 456789 +1 415 555 2671", "+447723456789 +4477");
/// 4. the only way to group consecutive pieces into valid numbers ("07723 456789 07723 456780"
///    with GB); two or more ways is an error naming the ambiguity;
/// 5. pieces of at least six digits each stand alone: each is a number or an error;
/// 6. otherwise the whole entry is one error with the reason it does not parse.
pub(super) fn read_entry(entry: &str, region: Option<&str>) -> Vec<Entry> {
    let entry = entry.trim();
    let whole = match Phone::parse_with_region(entry, region) {
        Ok(phone) => return vec![Ok((phone, converted_from(entry)))],
        Err(err) => err,
    };
    let refuse = |value: &str, err: &PhoneError| Refused {
        value: echo(value),
        reason: reason(value, err),
    };
    let read = |value: &str| {
        Phone::parse_with_region(value, region)
            .map(|phone| (phone, converted_from(value)))
            .map_err(|e| refuse(value, &e))
    };
    let pieces: Vec<&str> = entry.split_whitespace().collect();
    if pieces.len() < 2 {
        return vec![Err(refuse(entry, &whole))];
    }
    let each: Vec<Entry> = pieces.iter().map(|p| read(p)).collect();
    if each.iter().all(Result::is_ok) {
        return each;
    }
    let parts = split_before_plus(entry);
    if parts.len() >= 2 {
        return parts.into_iter().map(read).collect();
    }
    match group(&pieces, region) {
        Grouping::One(phones) => return phones.into_iter().map(Ok).collect(),
        Grouping::Several => {
            return vec![Err(Refused {
                value: echo(entry),
                reason: "these digits can be read as more than one list of numbers: separate the numbers with commas or new lines".to_owned(),
            })];
        }
        Grouping::None => {}
    }
    let digits = |p: &&str| p.chars().filter(char::is_ascii_digit).count();
    if pieces.iter().all(|p| digits(p) >= MIN_DIGITS) {
        return each;
    }
    vec![Err(refuse(entry, &whole))]
}

/// The entry cut before each `+` that follows whitespace.
fn split_before_plus(entry: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut prev_blank = true;
    for (i, c) in entry.char_indices() {
        if c == '+' && prev_blank && !entry[start..i].trim().is_empty() {
            parts.push(entry[start..i].trim());
            start = i;
        }
        prev_blank = c.is_whitespace();
    }
    parts.push(entry[start..].trim());
    parts
}

/// How many ways space-separated pieces group into valid numbers.
enum Grouping {
    None,
    One(Vec<(Phone, Option<String>)>),
    Several,
}

/// Groups consecutive pieces into valid numbers; a reading counts only when it is the only one.
fn group(pieces: &[&str], region: Option<&str>) -> Grouping {
    let n = pieces.len();
    // ways[i]: readings of pieces[i..], capped at 2; next[i]: the end of the first number.
    let mut ways = vec![0u8; n + 1];
    let mut next: Vec<Option<(usize, Phone, String)>> = vec![None; n + 1];
    ways[n] = 1;
    for i in (0..n).rev() {
        for j in (i + 1)..=(i + MAX_PIECES_PER_NUMBER).min(n) {
            if ways[j] == 0 {
                continue;
            }
            let text = pieces[i..j].join(" ");
            if let Ok(phone) = Phone::parse_with_region(&text, region) {
                ways[i] = (ways[i] + ways[j]).min(2);
                next[i] = Some((j, phone, text));
            }
        }
    }
    match ways[0] {
        0 => Grouping::None,
        1 => {
            let mut phones = Vec::new();
            let mut i = 0;
            while let Some((j, phone, text)) = next[i].take() {
                let written = converted_from(&text);
                phones.push((phone, written));
                i = j;
            }
            Grouping::One(phones)
        }
        _ => Grouping::Several,
    }
}
