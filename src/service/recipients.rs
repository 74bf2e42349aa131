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
    /// A CSV file (header detection, `,` `;` or tab delimiters, BOM, UTF-16).
    Csv,
    /// Text pasted into the dashboard: numbers separated by commas, tabs, spaces or newlines.
    Paste,
}

/// Reads recipients from an upload. Fails (422) only when the input is unusable as a whole:
/// an unknown `default_country` (field `default_country`), or an empty, non-UTF-8 or
/// phone-less file (field `body`); bad rows are reported in the answer instead.
///
/// Runs on the blocking pool: a 32 MiB file is millions of phone parses.
pub async fn parse(
    format: UploadFormat,
    body: impl AsRef<[u8]> + Send + 'static,
    default_country: Option<String>,
) -> ServiceResult<ParsedRecipients> {
    tokio::task::spawn_blocking(move || {
        parse_upload(format, body.as_ref(), default_country.as_deref())
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
    Phone::check_region(default_country)
        .map_err(|e| ServiceError::invalid("default_country", e.to_string()))?;
    let import = match format {
        UploadFormat::Csv => import::parse_csv(body, default_country),
        UploadFormat::Paste => paste(body, default_country),
    }
    .map_err(|e| ServiceError::invalid("body", e.to_string()))?;
    Ok(answer(import))
}

/// A paste must be UTF-8 text with something in it (a CSV reports the same failures).
fn paste(body: &[u8], default_country: Option<&str>) -> Result<Import, ImportFailure> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let good = body.get(..e.valid_up_to()).unwrap_or_default();
        ImportFailure::NotUtf8 {
            line: 1 + good.iter().filter(|&&b| b == b'\n').count(),
        }
    })?;
    if text.trim_start_matches('\u{FEFF}').trim().is_empty() {
        return Err(ImportFailure::Empty);
    }
    Ok(import::parse_paste(text, default_country))
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
    fn unusable_input_is_a_422_on_the_right_field() {
        for (format, body) in [
            (UploadFormat::Csv, &b""[..]),
            (UploadFormat::Paste, b" \n\t\n"),
            (UploadFormat::Paste, b"\xEF\xBB\xBF"),
            (UploadFormat::Paste, b"+447111000001\n\xff"),
            (UploadFormat::Csv, b"name\nSarah\n"),
        ] {
            let e = parse_upload(format, body, None).unwrap_err();
            assert_eq!(field(e), "body", "{body:?}");
        }
        let e = parse_upload(UploadFormat::Paste, b"+447111000001", Some("XX")).unwrap_err();
        assert_eq!(field(e), "default_country");
    }
}
