//! Recipient import for the dashboard: a CSV upload or a paste in, recipients and per-row
//! errors out, repeated phones reported.

use std::collections::HashMap;

use super::{ServiceError, ServiceResult};
use crate::domain::import::{self, Import, ImportFailure};
use crate::domain::phone::Phone;
use crate::service::views::{ParseRowError, ParsedRecipient, ParsedRecipients};

/// How the uploaded bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFormat {
    /// A CSV file (header detection, `,` `;` or tab delimiters, BOM, UTF-16, Windows-1252).
    Csv,
    /// Text pasted into the dashboard: numbers separated by commas, tabs, spaces or newlines.
    Paste,
}

/// Reads recipients from an upload. Fails (422) only when the input is unusable as a whole:
/// an unknown `default_country` (field `default_country`), or an empty or phone-less file, or
/// one broken after its UTF-8/UTF-16 byte-order mark (field `body`); bad rows are reported in
/// the answer instead. The encoding is detected (UTF-8, UTF-16 with BOM, else Windows-1252).
///
/// More than `max_rows` rows (the `--max-recipients` limit) is a 422 on `body`, found while
/// reading, so a million-row file costs no more than the allowed rows; so is a NUL character.
///
/// Runs on the blocking pool: a 32 MiB file is millions of phone parses.
pub async fn parse(
    format: UploadFormat,
    body: impl AsRef<[u8]> + Send + 'static,
    default_country: Option<String>,
    max_rows: usize,
) -> ServiceResult<ParsedRecipients> {
    tokio::task::spawn_blocking(move || {
        parse_upload_capped(format, body.as_ref(), default_country.as_deref(), max_rows)
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::Error::new(e).context("parsing an upload")))?
}

/// The synchronous core of [`parse`].
pub fn parse_upload(
    format: UploadFormat,
    body: &[u8],
    default_country: Option<&str>,
) -> ServiceResult<ParsedRecipients> {
    parse_upload_capped(format, body, default_country, usize::MAX)
}

/// [`parse_upload`] of at most `max_rows` rows.
pub fn parse_upload_capped(
    format: UploadFormat,
    body: &[u8],
    default_country: Option<&str>,
    max_rows: usize,
) -> ServiceResult<ParsedRecipients> {
    Phone::check_region(default_country)
        .map_err(|e| ServiceError::invalid("default_country", e.to_string()))?;
    let import = match format {
        UploadFormat::Csv => import::parse_csv_capped(body, default_country, max_rows),
        UploadFormat::Paste => paste(body, default_country, max_rows),
    }
    .map_err(|e| ServiceError::invalid("body", e.to_string()))?;
    Ok(answer(import))
}

/// A paste must be text with something in it (a CSV reports the same failures); its encoding
/// is detected as a CSV's is, since a script may post a file's bytes as `text/plain`.
fn paste(
    body: &[u8],
    default_country: Option<&str>,
    max_rows: usize,
) -> Result<Import, ImportFailure> {
    let (text, encoding) = import::decode_text(body)?;
    if text.trim_start_matches('\u{FEFF}').trim().is_empty() {
        return Err(ImportFailure::Empty);
    }
    Ok(Import {
        encoding,
        ..import::parse_paste_capped(&text, default_country, max_rows)?
    })
}

/// Drops repeated phones (the first row is kept, later lines are listed) and shapes the answer.
fn answer(import: Import) -> ParsedRecipients {
    let mut seen: HashMap<Phone, usize> = HashMap::with_capacity(import.recipients.len());
    let mut recipients = Vec::with_capacity(import.recipients.len());
    let mut duplicates = Vec::new();
    for r in import.recipients {
        if seen.contains_key(&r.phone) {
            duplicates.push(r.line);
            continue;
        }
        seen.insert(r.phone.clone(), r.line);
        recipients.push(ParsedRecipient {
            phone: r.phone.as_str().to_owned(),
            variables: r.variables,
            line: r.line,
            converted_from: r.converted_from,
        });
    }
    ParsedRecipients {
        count: recipients.len(),
        recipients,
        errors: import
            .errors
            .into_iter()
            .map(|e| ParseRowError {
                line: e.line,
                value: e.value,
                reason: e.reason,
            })
            .collect(),
        phone_column: import.phone_column,
        variables: import.variables,
        duplicates,
        encoding: import.encoding.label().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: ServiceError) -> String {
        match e {
            ServiceError::Validation(errors) => errors[0].field.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn repeated_phones_keep_the_first_row() {
        let got = parse_upload(
            UploadFormat::Paste,
            b"+447111000001\n+447723456789\n+44 7111 000001\n",
            None,
        )
        .unwrap();
        assert_eq!(got.count, 2);
        assert_eq!(got.recipients[0].line, 1);
        assert_eq!(got.duplicates, [3]);
    }

    #[test]
    fn pastes_are_read_in_their_encoding() {
        let got = parse_upload(UploadFormat::Paste, b"+447111000001\tJos\xe9\n", None).unwrap();
        assert_eq!(got.encoding, "windows-1252");
        assert_eq!(got.recipients[0].variables["col2"], "Jos\u{e9}");
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("+447111000001\n".encode_utf16().flat_map(u16::to_le_bytes));
        let got = parse_upload(UploadFormat::Paste, &utf16, None).unwrap();
        assert_eq!((got.count, got.encoding.as_str()), (1, "UTF-16LE"));
        let got = parse_upload(UploadFormat::Paste, b"+447111000001", None).unwrap();
        assert_eq!(got.encoding, "UTF-8");
    }

    #[test]
    fn unusable_input_is_a_422_on_the_right_field() {
        for (format, body) in [
            (UploadFormat::Csv, &b""[..]),
            (UploadFormat::Paste, b" \n\t\n"),
            (UploadFormat::Paste, b"\xEF\xBB\xBF"),
            (UploadFormat::Paste, b"\xEF\xBB\xBF+447111000001\n\xff"),
            (UploadFormat::Csv, b"name\nSarah\n"),
        ] {
            let e = parse_upload(format, body, None).unwrap_err();
            assert_eq!(field(e), "body", "{body:?}");
        }
        let e = parse_upload(UploadFormat::Paste, b"+447111000001", Some("XX")).unwrap_err();
        assert_eq!(field(e), "default_country");
    }

    #[test]
    fn nul_and_too_many_rows_are_a_422_on_body() {
        for format in [UploadFormat::Csv, UploadFormat::Paste] {
            let e = parse_upload(format, b"phone,name\n+447111000001,A\0b\n", None).unwrap_err();
            assert_eq!(field(e), "body");
            let three = b"phone\n+447111000001\n+447111000002\n+447111000003\n";
            assert!(parse_upload_capped(format, three, None, 3).is_ok());
            let e = parse_upload_capped(format, three, None, 2).unwrap_err();
            assert_eq!(field(e), "body");
            // A list on one line counts each number.
            let e = parse_upload_capped(
                format,
                b"+447111000001 +447111000002 +447111000003",
                None,
                2,
            )
            .unwrap_err();
            assert_eq!(field(e), "body");
        }
    }
}
