//! Lists of numbers inside a row: every separator, and spaces inside or between numbers.

use super::columns::{echo, looks_like_scientific_notation, lost_plus, reason};
use crate::domain::phone::{Phone, PhoneError};

/// Separators of a list inside a cell; the row's own delimiter has already split the cells, so
/// a paste may mix them ("a,b<TAB>c").
const SEPARATORS: [char; 3] = [',', ';', '\t'];
/// Fewest digits for a bare token to count as a number someone meant to send to.
const MIN_DIGITS: usize = 6;
/// Most space-separated pieces one number is written in ("+1 (415) 555 2671" is four).
const MAX_PIECES_PER_NUMBER: usize = 6;
/// Most pieces in one entry that are grouped into numbers (bounds the work on a huge line).
const MAX_GROUPED_PIECES: usize = 20_000;

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
/// 4. the only best way to group consecutive pieces into valid numbers, covering as many
///    pieces as possible ("07723 456789 07723 456780" with GB); pieces left over between them
///    are error lines, one per piece when each has six digits or more ("07723 456789 0772
///    07723 456780" gives two numbers and `0772`); two or
///    more equally good ways is one error naming the ambiguity;
/// 5. no piece belongs to a number, but each has at least six digits: each stands alone as
///    an error line with its own reason;
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
        Grouping::One(entries) => return entries,
        Grouping::Several => {
            return vec![Err(Refused {
                value: echo(entry),
                reason: "these digits can be read as more than one list of numbers: separate the numbers with commas or new lines".to_owned(),
            })];
        }
        Grouping::None => {}
    }
    if pieces.iter().all(|p| digit_count(p) >= MIN_DIGITS) {
        return each;
    }
    vec![Err(refuse(entry, &whole))]
}

/// Digits in a piece: six or more look like a whole number rather than a group of one.
fn digit_count(piece: &str) -> usize {
    piece.chars().filter(char::is_ascii_digit).count()
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

/// How space-separated pieces group into valid numbers.
enum Grouping {
    /// No piece belongs to a valid number.
    None,
    /// The one best reading: numbers, and the leftover pieces between them as errors.
    One(Vec<Entry>),
    /// Two or more readings are equally good.
    Several,
}

/// One step of a reading: a number made of pieces `i..end`, or piece `i` left over.
#[derive(Clone)]
enum Step {
    Number(usize, Phone, String),
    Leftover,
}

/// Groups consecutive pieces into valid numbers, covering as many pieces as possible; the
/// pieces left over between numbers are errors. A reading counts only when it is the only
/// best one, so nothing is guessed.
fn group(pieces: &[&str], region: Option<&str>) -> Grouping {
    let n = pieces.len();
    if n > MAX_GROUPED_PIECES {
        return Grouping::None;
    }
    // best[i]: most pieces of pieces[i..] inside numbers; ways[i]: best readings, capped at 2.
    let mut best = vec![0usize; n + 1];
    let mut ways = vec![0u8; n + 1];
    let mut step: Vec<Step> = vec![Step::Leftover; n + 1];
    ways[n] = 1;
    for i in (0..n).rev() {
        best[i] = best[i + 1];
        ways[i] = ways[i + 1];
        for j in (i + 1)..=(i + MAX_PIECES_PER_NUMBER).min(n) {
            let text = pieces[i..j].join(" ");
            let Ok(phone) = Phone::parse_with_region(&text, region) else {
                continue;
            };
            let covered = (j - i) + best[j];
            if covered > best[i] {
                best[i] = covered;
                ways[i] = ways[j];
                step[i] = Step::Number(j, phone, text);
            } else if covered == best[i] {
                ways[i] = (ways[i] + ways[j]).min(2);
            }
        }
    }
    if best[0] == 0 {
        return Grouping::None;
    }
    if ways[0] > 1 {
        return Grouping::Several;
    }
    let mut entries = Vec::new();
    let mut leftover: Vec<&str> = Vec::new();
    let flush = |leftover: &mut Vec<&str>, entries: &mut Vec<Entry>| {
        if leftover.is_empty() {
            return;
        }
        // Leftovers that each look like a whole number are reported one by one.
        let texts = if leftover.iter().all(|p| digit_count(p) >= MIN_DIGITS) {
            leftover.iter().map(|p| (*p).to_owned()).collect()
        } else {
            vec![leftover.join(" ")]
        };
        leftover.clear();
        for text in texts {
            let err = Phone::parse_with_region(&text, region)
                .err()
                .unwrap_or(PhoneError::Empty);
            entries.push(Err(Refused {
                value: echo(&text),
                reason: reason(&text, &err),
            }));
        }
    };
    let mut i = 0;
    while i < n {
        match std::mem::replace(&mut step[i], Step::Leftover) {
            Step::Number(j, phone, text) => {
                flush(&mut leftover, &mut entries);
                entries.push(Ok((phone, converted_from(&text))));
                i = j;
            }
            Step::Leftover => {
                leftover.push(pieces[i]);
                i += 1;
            }
        }
    }
    flush(&mut leftover, &mut entries);
    Grouping::One(entries)
}
