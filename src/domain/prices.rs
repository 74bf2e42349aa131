//! Per-country SMS prices: the table behind a preview's cost estimate, read from CSV.
//!
//! Herald ships Twilio's published outbound prices for the common destinations
//! (`data/prices/twilio-sms.csv`, built into the binary); a price file in the same shape
//! (`--price-file`) overrides rows at start. Countries in neither fall back to the
//! `--price-per-segment` setting (docs/ARCHITECTURE.md §2).

use std::collections::BTreeMap;

/// The built-in table: Twilio's outbound SMS prices per segment, in USD.
const TWILIO_SMS: &str = include_str!("../../data/prices/twilio-sms.csv");

/// A price file's columns, in order (`source` may be left out).
const COLUMNS: [&str; 4] = ["country", "price_per_segment", "currency", "source"];

/// Why a price file was refused: the line (1-based, comments counted) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PriceFileError {
    /// The line of the file the problem is on.
    pub line: u64,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl PriceFileError {
    fn new(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

/// Prices of one SMS segment by destination country (ISO 3166-1 alpha-2), all in one
/// currency (ISO 4217).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    /// The rows' currency; `None` while the table is empty.
    currency: Option<String>,
    prices: BTreeMap<String, f64>,
}

impl PriceTable {
    /// Twilio's published prices, as shipped in `data/prices/twilio-sms.csv` (USD).
    pub fn twilio_defaults() -> Self {
        Self::parse(TWILIO_SMS, "USD").expect("the built-in price table parses (unit-tested)")
    }

    /// Reads a price file whose rows must all be in `currency`: a header
    /// (`country,price_per_segment,currency[,source]`), then one row per country; lines
    /// starting with `#` and blank lines are skipped. The first problem is returned with
    /// its line.
    pub fn parse(text: &str, currency: &str) -> Result<Self, PriceFileError> {
        // A spreadsheet's "CSV UTF-8" starts with a byte order mark.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut table = Self::default();
        let mut header_seen = false;
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(1, |p| line_at(text, p.byte()));
                PriceFileError::new(line, format!("not readable as CSV: {e}"))
            })?;
            // The csv crate's own line count skips blank lines: count from the byte offset.
            let line = record.position().map_or(1, |p| line_at(text, p.byte()));
            if !header_seen {
                check_header(&record, line)?;
                header_seen = true;
                continue;
            }
            let (country, price, row_currency) = parse_row(&record, line)?;
            if row_currency != currency {
                return Err(PriceFileError::new(
                    line,
                    format!(
                        "currency {row_currency} differs from the server's currency {currency} (--currency / HERALD_CURRENCY): every price must be in it"
                    ),
                ));
            }
            if table.prices.insert(country.clone(), price).is_some() {
                return Err(PriceFileError::new(
                    line,
                    format!("country {country} is listed twice"),
                ));
            }
            table.currency = Some(row_currency);
        }
        if !header_seen {
            return Err(PriceFileError::new(
                1,
                format!(
                    "no header: the file starts with the line `{}`",
                    COLUMNS.join(",")
                ),
            ));
        }
        Ok(table)
    }

    /// The table a server pricing in `currency` uses: this one's rows when they are in that
    /// currency (none otherwise: a table in another currency cannot price it), with every
    /// row of `overrides` replacing or adding to them.
    pub fn for_currency(&self, currency: &str, overrides: Option<&PriceTable>) -> PriceTable {
        let mut out = if self.currency.as_deref() == Some(currency) {
            self.clone()
        } else {
            PriceTable::default()
        };
        if let Some(o) = overrides.filter(|o| o.currency.as_deref() == Some(currency)) {
            out.prices
                .extend(o.prices.iter().map(|(c, p)| (c.clone(), *p)));
            out.currency = Some(currency.to_owned());
        }
        out
    }

    /// The price of one segment to `country` (ISO alpha-2), when the table has it.
    pub fn price(&self, country: &str) -> Option<f64> {
        self.prices.get(country).copied()
    }

    /// The countries priced, in code order.
    pub fn countries(&self) -> impl Iterator<Item = (&str, f64)> {
        self.prices.iter().map(|(c, p)| (c.as_str(), *p))
    }

    /// Number of countries priced.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// True when no country is priced.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

/// The 1-based line of the record starting at byte `offset` of `text` (a record's position
/// can point at blank lines before it).
fn line_at(text: &str, offset: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
        end += 1;
    }
    1 + bytes[..end].iter().filter(|b| **b == b'\n').count() as u64
}

fn check_header(record: &csv::StringRecord, line: u64) -> Result<(), PriceFileError> {
    let names: Vec<String> = record.iter().map(str::to_ascii_lowercase).collect();
    let ok =
        (names.len() == 3 || names.len() == 4) && names.iter().zip(COLUMNS).all(|(n, c)| n == c);
    if ok {
        Ok(())
    } else {
        Err(PriceFileError::new(
            line,
            format!(
                "the header must be `{}` (source may be left out), not `{}`",
                COLUMNS.join(","),
                names.join(",")
            ),
        ))
    }
}

fn parse_row(
    record: &csv::StringRecord,
    line: u64,
) -> Result<(String, f64, String), PriceFileError> {
    let field = |i: usize| record.get(i).unwrap_or("");
    let country = field(0);
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(PriceFileError::new(
            line,
            format!("country {country:?} is not an ISO 3166 alpha-2 code such as GB"),
        ));
    }
    let raw_price = field(1);
    let price = match raw_price.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => p,
        _ => {
            return Err(PriceFileError::new(
                line,
                format!(
                    "price_per_segment {raw_price:?} is not a price: give a non-negative number such as 0.0079"
                ),
            ));
        }
    };
    let currency = field(2);
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(PriceFileError::new(
            line,
            format!("currency {currency:?} is not a three-letter ISO 4217 code such as USD"),
        ));
    }
    Ok((
        country.to_ascii_uppercase(),
        price,
        currency.to_ascii_uppercase(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "country,price_per_segment,currency,source\n";

    #[test]
    fn the_built_in_table_covers_the_common_destinations() {
        let t = PriceTable::twilio_defaults();
        for c in [
            "US", "CA", "GB", "IE", "AU", "NZ", "DE", "FR", "ES", "IT", "NL", "BE", "SE", "NO",
            "DK", "FI", "PL", "PT", "AT", "CH", "IN", "BR", "MX", "ZA", "SG", "JP",
        ] {
            assert!(t.price(c).is_some_and(|p| p > 0.0), "{c} priced");
        }
        assert_eq!(t.price("US"), Some(0.0083));
        assert!(t.price("GB").unwrap() > t.price("US").unwrap());
        assert_eq!(t.price("XX"), None);
    }

    #[test]
    fn rows_parse_with_comments_blank_lines_quotes_and_lower_case() {
        let text = format!(
            "# my prices\n\n{HEADER}gb, 0.0415 ,usd,\"ours, negotiated\"\n# more\nUS,0.0079,USD,\n"
        );
        let t = PriceTable::parse(&text, "USD").unwrap();
        assert_eq!(t.price("GB"), Some(0.0415));
        assert_eq!(t.price("US"), Some(0.0079));
        assert_eq!(t.len(), 2);
        // Excel's "CSV UTF-8": a byte order mark and CRLF line ends.
        let e = PriceTable::parse(
            "\u{FEFF}Country,Price_per_segment,Currency,Source\r\nIE,0.08,USD,x\r\n\r\nFR,bad,USD,y\r\n",
            "USD",
        )
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        // The source column may be left out.
        let t =
            PriceTable::parse("country,price_per_segment,currency\nFR,0.07,USD\n", "USD").unwrap();
        assert_eq!(t.price("FR"), Some(0.07));
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let cases = [
            (
                format!("# c\n{HEADER}GB,abc,USD,x\n"),
                3,
                "price_per_segment",
            ),
            (format!("{HEADER}GB,-1,USD,x\n"), 2, "price_per_segment"),
            (format!("{HEADER}GB,NaN,USD,x\n"), 2, "price_per_segment"),
            (format!("{HEADER}GBR,0.04,USD,x\n"), 2, "country"),
            (format!("{HEADER}GB,0.04,dollars,x\n"), 2, "currency"),
            (format!("{HEADER}GB,0.04,EUR,x\n"), 2, "differs"),
            (
                format!("{HEADER}GB,0.04,USD,x\n\nGB,0.05,USD,y\n"),
                4,
                "twice",
            ),
            (format!("{HEADER}GB,0.04\n"), 2, "CSV"),
            ("phone,price\nGB,0.04\n".to_owned(), 1, "header"),
            ("# only comments\n".to_owned(), 1, "header"),
        ];
        for (text, line, word) in cases {
            let e = PriceTable::parse(&text, "USD").unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
            assert!(e.message.contains(word), "{text:?}: {e}");
        }
    }

    #[test]
    fn overrides_replace_and_add_rows_in_the_servers_currency() {
        let defaults = PriceTable::twilio_defaults();
        let file =
            PriceTable::parse(&format!("{HEADER}GB,0.0415,USD,\nXK,0.2,USD,\n"), "USD").unwrap();
        let t = defaults.for_currency("USD", Some(&file));
        assert_eq!(t.price("GB"), Some(0.0415));
        assert_eq!(t.price("XK"), Some(0.2));
        assert_eq!(t.price("US"), Some(0.0083));
        assert_eq!(t.len(), defaults.len() + 1);
        // A server pricing in another currency cannot use the USD defaults: only its own
        // file's rows count.
        assert!(defaults.for_currency("EUR", None).is_empty());
        let eur = PriceTable::parse(&format!("{HEADER}DE,0.08,EUR,\n"), "EUR").unwrap();
        let t = defaults.for_currency("EUR", Some(&eur));
        assert_eq!(t.countries().collect::<Vec<_>>(), [("DE", 0.08)]);
        // An empty file changes nothing.
        let empty = PriceTable::parse(HEADER, "USD").unwrap();
        assert_eq!(defaults.for_currency("USD", Some(&empty)), defaults);
    }
}
