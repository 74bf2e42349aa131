//! The CSV reading layer: bytes decoded, delimiter detected, rows of cells with their
//! physical line numbers.

use std::borrow::Cow;

use super::ImportFailure;

/// One row of cells exactly as the CSV reader returned them (quotes resolved, nothing trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// 1-based physical line where the row starts (a quoted cell may span several lines).
    pub line: usize,
    /// The cells, untrimmed; rows may have different lengths.
    pub cells: Vec<String>,
}

/// The CSV reading layer on its own (BOM stripped, delimiter detected), so it can be tested
/// against csv-spectrum independently of phone detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The detected delimiter: `b','`, `b';'` or `b'\t'`.
    pub delimiter: u8,
    /// The detected character encoding.
    pub encoding: TextEncoding,
    /// All rows in input order; the first one is the header if the file has one.
    pub rows: Vec<TableRow>,
}

impl Table {
    /// The first row, which is the header when the file has one.
    pub fn header(&self) -> Option<&TableRow> {
        self.rows.first()
    }

    /// The rows after the first.
    pub fn records(&self) -> &[TableRow] {
        self.rows.get(1..).unwrap_or_default()
    }
}

/// Candidate delimiters, in tie-break order for CSV files.
const CSV_DELIMITERS: [u8; 3] = [b',', b';', b'\t'];
/// Candidate delimiters, in tie-break order for pastes (a copy from Excel is tab-separated).
const PASTE_DELIMITERS: [u8; 3] = [b'\t', b',', b';'];
/// How many lines to look at for a delimiter when the first line has none.
const DELIMITER_LOOKAHEAD_LINES: usize = 10;

/// Reads CSV bytes into rows of cells.
///
/// Why separate: this is the part that must agree with other CSV readers (csv-spectrum), while
/// the phone logic above it is Herald policy. Reads the encodings of [`decode_text`] (UTF-8
/// with or without BOM, UTF-16 with a BOM, otherwise Windows-1252); LF, CRLF or CR line ends; RFC 4180 quoting. The
/// delimiter is the one of `,` `;` tab that occurs most often outside quotes in the first line
/// (ties: `,` then `;` then tab); if the first line has none, the first of the next
/// lines that has one decides, and a file with none at all is one column.
///
/// Excel's `sep=;` first line (written by some exports, and honoured by Excel when it opens a
/// file) names the delimiter; that line is not a row, and later rows keep their physical line
/// numbers.
pub fn read_table(input: &[u8]) -> Result<Table, ImportFailure> {
    read_table_capped(input, usize::MAX)
}

/// [`read_table`], refusing ([`ImportFailure::TooManyRows`]) a table of more than `max_rows`
/// non-blank rows as soon as the row after the last allowed one is read, so a huge file costs
/// no more than the allowed rows.
pub fn read_table_capped(input: &[u8], max_rows: usize) -> Result<Table, ImportFailure> {
    let (text, encoding) = decode_text(input)?;
    let (text, declared) = strip_sep_line(&text);
    if text.trim().is_empty() {
        return Err(ImportFailure::Empty);
    }
    let delimiter = declared.unwrap_or_else(|| detect_csv_delimiter(text));
    let rows = read_rows(text, delimiter, true, max_rows)?;
    Ok(Table {
        delimiter,
        encoding,
        rows,
    })
}

/// Finds a `sep=X` first line (X one ASCII punctuation character or a tab); returns the text with
/// that line blanked (its line break kept, so line numbers do not move) and the delimiter.
fn strip_sep_line(text: &str) -> (&str, Option<u8>) {
    let first_end = text.find(['\n', '\r']).unwrap_or(text.len());
    let first = &text[..first_end];
    let line = first.trim_matches(' ').trim_matches('"');
    let declared = line
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("sep="))
        .and_then(|_| match line.as_bytes().get(4..) {
            Some([b]) if *b == b'\t' || (b.is_ascii_punctuation() && *b != b'"') => Some(*b),
            _ => None,
        });
    match declared {
        Some(delimiter) => (&text[first_end..], Some(delimiter)),
        None => (text, None),
    }
}

/// The character encoding an upload was read in, reported so staff can check accents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8", every browser paste).
    #[default]
    #[serde(rename = "UTF-8")]
    Utf8,
    /// UTF-16 little-endian with a byte-order mark (Excel's "Unicode Text" on Windows).
    #[serde(rename = "UTF-16LE")]
    Utf16Le,
    /// UTF-16 big-endian with a byte-order mark.
    #[serde(rename = "UTF-16BE")]
    Utf16Be,
    /// Not UTF-8 and no byte-order mark: Excel's default "CSV (Comma delimited)" on Windows in
    /// Western Europe and the Americas, read as Windows-1252 (a superset of Latin-1).
    #[serde(rename = "windows-1252")]
    Windows1252,
}

impl TextEncoding {
    /// The name shown to API clients and staff (a WHATWG encoding label).
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16Le => "UTF-16LE",
            TextEncoding::Utf16Be => "UTF-16BE",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }
}

/// Decodes an upload or paste to text, detecting the encoding.
///
/// Why these rules: a byte-order mark is decisive (UTF-8, UTF-16 LE or BE); without one, text
/// that is valid UTF-8 is UTF-8 (bytes above 0x7F that form valid UTF-8 sequences are
/// vanishingly rare in Windows-1252 text), and anything else is Windows-1252, which every
/// byte decodes in, so Excel's default CSV with "Zoë" or "José" reads right instead of being
/// refused. Only a file that declares itself UTF-8 or UTF-16 by its mark and then breaks the
/// rules of that encoding fails ([`ImportFailure::NotUtf8`], naming the line).
///
/// Text holding a NUL character is refused ([`ImportFailure::Nul`], naming the line): no
/// field has a use for it, and PostgreSQL cannot store it.
pub fn decode_text(input: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), ImportFailure> {
    let (text, encoding) = decode_any(input)?;
    if let Some(line) = crate::domain::input::nul_line(&text) {
        return Err(ImportFailure::Nul { line });
    }
    Ok((text, encoding))
}

fn decode_any(input: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), ImportFailure> {
    if let Some(rest) = input.strip_prefix(b"\xEF\xBB\xBF") {
        return decode_utf8(rest).map(|t| (t, TextEncoding::Utf8));
    }
    if let Some(rest) = input.strip_prefix(b"\xFF\xFE") {
        return decode_utf16(rest, u16::from_le_bytes)
            .map(|t| (Cow::Owned(t), TextEncoding::Utf16Le));
    }
    if let Some(rest) = input.strip_prefix(b"\xFE\xFF") {
        return decode_utf16(rest, u16::from_be_bytes)
            .map(|t| (Cow::Owned(t), TextEncoding::Utf16Be));
    }
    match decode_utf8(input) {
        Ok(text) => Ok((text, TextEncoding::Utf8)),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(input);
            Ok((text, TextEncoding::Windows1252))
        }
    }
}

/// UTF-8 without copying; on failure reports the line of the first bad byte.
fn decode_utf8(bytes: &[u8]) -> Result<Cow<'_, str>, ImportFailure> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(err) => {
            let good = bytes.get(..err.valid_up_to()).unwrap_or_default();
            let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
            Err(ImportFailure::NotUtf8 { line })
        }
    }
}

/// UTF-16 in the given byte order; on failure reports the line of the first bad unit.
fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, ImportFailure> {
    let units = bytes.chunks(2).map(|pair| match pair {
        [a, b] => Some(unit([*a, *b])),
        _ => None,
    });
    let mut text = String::with_capacity(bytes.len() / 2);
    let mut line = 1;
    let bad = |line| ImportFailure::NotUtf8 { line };
    let units: Option<Vec<u16>> = units.collect();
    let units = units.ok_or_else(|| bad(1 + bytes.iter().filter(|&&b| b == b'\n').count() / 2))?;
    for decoded in char::decode_utf16(units) {
        let c = decoded.map_err(|_| bad(line))?;
        if c == '\n' {
            line += 1;
        }
        text.push(c);
    }
    Ok(text)
}

/// Per logical line (a quoted newline does not end a line), how often each candidate delimiter
/// occurs outside quotes; stops after `max_lines` lines.
fn delimiter_counts(text: &str, quoting: bool, max_lines: usize) -> Vec<[usize; 3]> {
    let mut lines = Vec::new();
    let mut current = [0usize; 3];
    let mut in_quotes = false;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let line_end = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
        match b {
            b'"' if quoting => in_quotes = !in_quotes,
            _ if line_end && !in_quotes => {
                lines.push(current);
                current = [0; 3];
                if lines.len() >= max_lines {
                    return lines;
                }
            }
            _ if !in_quotes => {
                if let Some(i) = CSV_DELIMITERS.iter().position(|&d| d == b) {
                    current[i] += 1;
                }
            }
            _ => {}
        }
    }
    lines.push(current);
    lines
}

/// CSV delimiter: most frequent in the first line that has any; `,` if none has any.
fn detect_csv_delimiter(text: &str) -> u8 {
    let lines = delimiter_counts(text, true, DELIMITER_LOOKAHEAD_LINES);
    let Some(counts) = lines.iter().find(|c| c.iter().any(|&n| n > 0)) else {
        return b',';
    };
    let mut best = 0;
    for i in 1..CSV_DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    CSV_DELIMITERS[best]
}

/// Paste delimiter: the candidate present on the most lines; `None` if no line has any.
pub(super) fn detect_paste_delimiter(text: &str, quoting: bool) -> Option<u8> {
    let lines = delimiter_counts(text, quoting, usize::MAX);
    let lines_with = |d: u8| {
        let i = CSV_DELIMITERS.iter().position(|&c| c == d).unwrap_or(0);
        lines.iter().filter(|counts| counts[i] > 0).count()
    };
    let mut best: Option<(u8, usize)> = None;
    for d in PASTE_DELIMITERS {
        let n = lines_with(d);
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((d, n));
        }
    }
    best.map(|(d, _)| d)
}

/// Runs the csv crate over the text (no header handling, ragged rows allowed); more than
/// `max_rows` non-blank rows is [`ImportFailure::TooManyRows`], found while reading.
pub(super) fn read_rows(
    text: &str,
    delimiter: u8,
    quoting: bool,
    max_rows: usize,
) -> Result<Vec<TableRow>, ImportFailure> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(quoting)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut rows = Vec::new();
    let mut filled = 0usize;
    let mut lines = LineCounter::new(text.as_bytes());
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(rows),
            Ok(true) => {
                if record.iter().any(|c| !c.trim().is_empty()) {
                    filled += 1;
                    if filled > max_rows {
                        return Err(ImportFailure::TooManyRows { limit: max_rows });
                    }
                }
                rows.push(TableRow {
                    line: lines.record_line(record.position()),
                    cells: record.iter().map(str::to_owned).collect(),
                })
            }
            Err(err) => {
                return Err(ImportFailure::Malformed {
                    line: lines.record_line(err.position()),
                });
            }
        }
    }
}

/// Physical line numbers for records.
///
/// Why not `csv::Position::line`: the csv crate records the position before it skips blank
/// lines and before the `\n` of a CRLF, so its line lags behind the row in Excel files and
/// after blank lines. We take its byte offset, skip line breaks, and count breaks ourselves
/// (`\n`, `\r\n`, or a lone `\r`), moving forward only, so the whole file is scanned once.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of the first non-line-break byte at or after the position.
    fn record_line(&mut self, position: Option<&csv::Position>) -> usize {
        let byte = position
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(self.offset)
            .clamp(self.offset, self.text.len());
        let skipped = self.text[byte..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let start = byte + skipped;
        let mut i = self.offset;
        while i < start {
            let b = self.text[i];
            if b == b'\n' || (b == b'\r' && self.text.get(i + 1) != Some(&b'\n')) {
                self.line += 1;
            }
            i += 1;
        }
        self.offset = start;
        self.line
    }
}

/// Paste without any delimiter: every line is a one-cell row (a `"quoted"` line is unquoted);
/// more than `max_rows` non-blank lines is [`ImportFailure::TooManyRows`], found while reading.
pub(super) fn lines_as_rows(text: &str, max_rows: usize) -> Result<Vec<TableRow>, ImportFailure> {
    let mut filled = 0usize;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            if !line.trim().is_empty() {
                filled += 1;
                if filled > max_rows {
                    return Err(ImportFailure::TooManyRows { limit: max_rows });
                }
            }
            let trimmed = line.trim();
            let cell = match trimmed.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(inner) => inner.replace("\"\"", "\""),
                None => line.to_owned(),
            };
            Ok(TableRow {
                line: i + 1,
                cells: vec![cell],
            })
        })
        .collect()
}
