//! Phone numbers as canonical E.164 strings, parsed from what people type, checked by libphonenumber.

use std::fmt;
use std::str::FromStr;

use rlibphonenumber::enums::Region;
use rlibphonenumber::{
    PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat, ValidationError,
};

/// A phone number in canonical E.164 form (`+` then up to 15 digits), e.g. `+447111000001`.
///
/// Why a newtype: every number that reaches the database or Twilio went through [`Phone::parse`]
/// or [`Phone::parse_with_region`], so it is always a number that libphonenumber's metadata
/// considers valid, and two spellings of one number compare, hash and sort equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// Why a piece of text is not a phone number we accept.
///
/// The `Display` text is shown as is to office staff (import reports, form errors); [`PhoneError::code`]
/// is the stable machine-readable form for API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but whitespace (or separators) was given.
    #[error("no phone number given")]
    Empty,
    /// A national number with no country code, where no default country applies.
    #[error(
        "not a valid phone number: must be in E.164 format, starting with + and the country code"
    )]
    NotInternational,
    /// Letters (vanity numbers, extensions) or symbols other than the tolerated separators.
    #[error(
        "not a valid phone number: only digits, spaces, dashes, dots and brackets are allowed (no letters or other symbols)"
    )]
    InvalidCharacters,
    /// Fewer digits than any number in that country.
    #[error("not a valid phone number: too short")]
    TooShort,
    /// More digits than any number in that country (or than E.164's 15).
    #[error("not a valid phone number: too long")]
    TooLong,
    /// The digits after `+` (or `00`) start with no country calling code in use.
    #[error("not a valid phone number: unknown country code")]
    InvalidCountryCode,
    /// Right shape, but not in any number range allocated in that country.
    #[error("not a valid phone number: no such number range exists in that country")]
    Invalid,
    /// The default country given for national numbers is not an ISO 3166 alpha-2 code we know.
    #[error("unknown default country \"{0}\": use a two-letter ISO code such as GB or US")]
    UnknownRegion(String),
}

impl PhoneError {
    /// Stable snake_case identifier, so API clients and tests do not depend on the English text.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "empty",
            PhoneError::NotInternational => "not_international",
            PhoneError::InvalidCharacters => "invalid_characters",
            PhoneError::TooShort => "too_short",
            PhoneError::TooLong => "too_long",
            PhoneError::InvalidCountryCode => "invalid_country_code",
            PhoneError::Invalid => "invalid",
            PhoneError::UnknownRegion(_) => "unknown_region",
        }
    }
}

/// Longest digit run we hand to libphonenumber: E.164's 15 digits plus a `00` prefix and a trunk
/// `0` fit with room to spare; anything longer is rejected as too long without further work.
const MAX_DIGITS: usize = 20;
/// E.164 allows at most 15 digits after the `+`.
const MAX_E164_DIGITS: usize = 15;
/// Longest region text echoed back in [`PhoneError::UnknownRegion`].
const MAX_REGION_ECHO: usize = 16;

/// Which rule set to apply: the strict API rule or the lenient dashboard-import rule.
#[derive(Clone, Copy)]
enum Mode {
    /// International only (`+` required).
    Strict,
    /// `+`, `00`, `+00`, and national numbers when a default region is known.
    Import(Option<Region>),
}

impl Phone {
    /// Parses a number under the API rule: it must be international.
    ///
    /// Why strict: API clients send numbers without any notion of "our country", so a national
    /// number is ambiguous and is refused with [`PhoneError::NotInternational`].
    ///
    /// Accepted: surrounding whitespace (also zero-width spaces and BOMs); `+` as the first
    /// significant character; spaces, dashes (also Unicode dashes), slashes, brackets and
    /// dots between digits; the trunk-prefix notation `(0)` as in `+44 (0)7723 456 789`.
    /// Refused: letters (`+1 800 FLOWERS`, `x123` extensions), any other symbol, a `+` anywhere
    /// but at the start, and anything libphonenumber's metadata says is not a valid number.
    pub fn parse(raw: &str) -> Result<Phone, PhoneError> {
        parse_inner(raw, Mode::Strict)
    }

    /// Parses a number under the import rule (dashboard paste and CSV upload).
    ///
    /// Why more lenient: spreadsheets lose the `+`, and office staff type numbers the way they
    /// dial them. Policy, in order:
    /// 1. `+...` is parsed as in [`Phone::parse`]; additionally `+00...` (a `+` typed before the
    ///    `00` prefix) is read as `+...`.
    /// 2. `00...`: with a default region, the region's own dialling rules are tried first (this
    ///    covers regions whose international prefix is not `00`, e.g. Brazil's `0021`); if that
    ///    gives no valid number, or there is no region, `00` is read as `+`.
    /// 3. Other digits need a default region (ISO 3166 alpha-2, case-insensitive, `UK` is taken
    ///    as `GB`; a blank region counts as none) and are parsed as a national number of that
    ///    region: `07723 456789` with `GB` gives `+447723456789`. libphonenumber also accepts the
    ///    region's own country code without `+` (`447723456789` with `GB`) but only when the
    ///    digits are not valid as a national number. We do NOT guess a foreign country code
    ///    without `+`/`00` (`12025550104` with `GB` is refused): a mistyped national number could
    ///    otherwise silently become a valid number in another country.
    ///
    /// An unknown region is an error ([`PhoneError::UnknownRegion`]) even for `+` numbers, so a
    /// misconfigured default surfaces at once.
    pub fn parse_with_region(raw: &str, default_region: Option<&str>) -> Result<Phone, PhoneError> {
        let region = match default_region {
            Some(code) if !code.trim().is_empty() => Some(resolve_region(code)?),
            _ => None,
        };
        parse_inner(raw, Mode::Import(region))
    }

    /// Checks a default region on its own, so an importer can refuse a bad default country once
    /// up front instead of failing every row with the same [`PhoneError::UnknownRegion`].
    /// Same rules as [`Phone::parse_with_region`]: blank or `None` is fine, `UK` means `GB`.
    pub fn check_region(default_region: Option<&str>) -> Result<(), PhoneError> {
        match default_region {
            Some(code) if !code.trim().is_empty() => resolve_region(code).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The country calling code of a region (`GB` → 44), or `None` for a region we do not
    /// know; lets the dashboard label its default-country choices "United Kingdom (+44)".
    pub fn calling_code(region: &str) -> Option<u16> {
        let region = resolve_region(region).ok()?;
        PHONE_NUMBER_UTIL
            .get_country_code_for_region(region)
            .and_then(|c| u16::try_from(c).ok())
    }

    /// The canonical E.164 text, e.g. `+447111000001`; what Twilio and the database expect.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A number that identifies this phone: two phones with keys have the same key exactly
    /// when they are equal. Eight bytes instead of a string, for sets of many numbers. `None`
    /// only for a number of more than 15 digits, which E.164 does not allow.
    pub fn key(&self) -> Option<u64> {
        let digits = self.0.as_bytes().get(1..)?;
        if digits.len() > MAX_E164_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Below 10^15 < 2^50; the digit count above it keeps leading zeros apart.
        let value = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        Some(value | ((digits.len() as u64) << 56))
    }

    /// ISO region of the number ("GB", "JE", "US"), if libphonenumber can tell; used for
    /// per-country reporting and pricing. `None` for non-geographic numbers (+800, +882...).
    pub fn region(&self) -> Option<String> {
        let number = PHONE_NUMBER_UTIL.parse(self.0.as_str(), None).ok()?;
        let region = PHONE_NUMBER_UTIL
            .get_region_for_number(&number)
            .filter(|r| *r != Region::World)?;
        Some(region.as_region_str().as_str().to_owned())
    }
}

impl fmt::Display for Phone {
    /// Shows the E.164 form, so formatting a `Phone` never leaks a non-canonical spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Phone {
    type Err = PhoneError;

    /// Same as [`Phone::parse`] (the strict API rule), so `"...".parse::<Phone>()` is never lenient by accident.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phone::parse(s)
    }
}

impl AsRef<str> for Phone {
    /// Lets a `Phone` go wherever a `&str` is expected (SQL binds, HTTP form fields).
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Phone {
    /// Serialises as the plain E.164 string, the wire format of the API.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Phone {
    /// Deserialises through [`Phone::parse`], so JSON bodies get the strict API rule and the
    /// error message is [`PhoneError`]'s `Display` text.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PhoneVisitor;

        impl serde::de::Visitor<'_> for PhoneVisitor {
            type Value = Phone;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a phone number in E.164 format, e.g. \"+447700900123\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Phone, E> {
                Phone::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(PhoneVisitor)
    }
}

/// Turns a default-region text into libphonenumber's `Region`, refusing codes it has no metadata for.
fn resolve_region(code: &str) -> Result<Region, PhoneError> {
    let code = code.trim();
    let unknown = || PhoneError::UnknownRegion(code.chars().take(MAX_REGION_ECHO).collect());
    let region = if code.eq_ignore_ascii_case("UK") {
        Region::GB
    } else {
        Region::from_code(code).map_err(|_| unknown())?
    };
    if region == Region::World
        || PHONE_NUMBER_UTIL
            .get_country_code_for_region(region)
            .is_none()
    {
        return Err(unknown());
    }
    Ok(region)
}

/// Characters that are invisible in spreadsheets and web forms and carry no meaning in a number.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{200B}'
            | '\u{200C}'
            | '\u{200D}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

/// Whitespace or invisible: what may surround a number and separate its groups.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || is_invisible(c)
}

/// Value of a decimal digit as typed on common keyboards (ASCII, full-width, Arabic-Indic).
fn digit_value(c: char) -> Option<u8> {
    let (base, c) = match c {
        '0'..='9' => ('0', c),
        '\u{FF10}'..='\u{FF19}' => ('\u{FF10}', c),
        '\u{0660}'..='\u{0669}' => ('\u{0660}', c),
        '\u{06F0}'..='\u{06F9}' => ('\u{06F0}', c),
        _ => return None,
    };
    u8::try_from(u32::from(c) - u32::from(base)).ok()
}

/// Separators tolerated between digit groups (besides whitespace, brackets and dots).
fn is_dash_or_slash(c: char) -> bool {
    matches!(
        c,
        '-' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
    )
}

/// The digits of an input, held on the stack: no allocation on the hot path.
struct Digits {
    buf: [u8; MAX_DIGITS],
    len: usize,
    /// The input started with `+`.
    plus: bool,
    /// Index in `buf` of the `0` written as `(0)` after the first digits (trunk-prefix notation).
    trunk_zero: Option<usize>,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, digit: u8) -> Result<(), PhoneError> {
        let slot = self.buf.get_mut(self.len).ok_or(PhoneError::TooLong)?;
        *slot = b'0' + digit;
        self.len += 1;
        Ok(())
    }
}

/// If `rest` (just after a `(`) reads `0)` with optional spaces, returns the text after the `)`.
fn strip_trunk_zero(rest: &str) -> Option<&str> {
    let rest = rest.trim_start_matches(is_blank).strip_prefix('0')?;
    rest.trim_start_matches(is_blank).strip_prefix(')')
}

/// Checks the characters and collects the digits; the only place where the input text is read.
fn scan(s: &str) -> Result<Digits, PhoneError> {
    let mut digits = Digits {
        buf: [0; MAX_DIGITS],
        len: 0,
        plus: false,
        trunk_zero: None,
    };
    let mut prev_was_digit = false;
    let mut dot_pending = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if let Some(d) = digit_value(c) {
            digits.push(d)?;
            prev_was_digit = true;
            dot_pending = false;
            continue;
        }
        if dot_pending {
            // A dot must sit between two digits ("456.789"), not trail ("456789...").
            return Err(PhoneError::InvalidCharacters);
        }
        match c {
            '+' | '\u{FF0B}' if digits.len == 0 && !digits.plus => digits.plus = true,
            '.' if prev_was_digit => dot_pending = true,
            '(' if digits.len > 0 && digits.trunk_zero.is_none() => {
                if let Some(after) = strip_trunk_zero(rest) {
                    digits.trunk_zero = Some(digits.len);
                    digits.push(0)?;
                    rest = after;
                }
            }
            '(' | ')' | '[' | ']' => {}
            c if is_blank(c) || is_dash_or_slash(c) => {}
            _ => return Err(PhoneError::InvalidCharacters),
        }
        prev_was_digit = false;
    }
    if dot_pending {
        return Err(PhoneError::InvalidCharacters);
    }
    Ok(digits)
}

/// Writes `[+]digits[skip..]` (leaving out index `omit`) into `out` and returns it as text.
fn compose<'a>(
    out: &'a mut [u8; MAX_DIGITS + 1],
    plus: bool,
    digits: &[u8],
    omit: Option<usize>,
) -> &'a str {
    let mut len = 0;
    if plus {
        out[0] = b'+';
        len = 1;
    }
    for (i, &d) in digits.iter().enumerate() {
        if Some(i) == omit {
            continue;
        }
        if let Some(slot) = out.get_mut(len) {
            *slot = d;
            len += 1;
        }
    }
    // Only ASCII digits and '+' were written, so this cannot fail; fall back to "" regardless.
    std::str::from_utf8(&out[..len]).unwrap_or_default()
}

/// Maps libphonenumber's parse errors onto ours.
fn map_parse_error(err: &ParseError, digit_count: usize) -> PhoneError {
    match err {
        ParseError::InvalidCountryCode => PhoneError::InvalidCountryCode,
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => PhoneError::TooShort,
        ParseError::TooLongNsn => PhoneError::TooLong,
        ParseError::NotANumber(_) if digit_count <= 3 => PhoneError::TooShort,
        ParseError::NotANumber(_) => PhoneError::Invalid,
    }
}

/// Explains why libphonenumber parsed a number but does not consider it valid.
fn invalid_reason(number: &PhoneNumber) -> PhoneError {
    if PHONE_NUMBER_UTIL
        .get_region_for_country_code(number.country_code)
        .is_none()
    {
        return PhoneError::InvalidCountryCode;
    }
    match PHONE_NUMBER_UTIL.is_possible_number_with_reason(number) {
        Err(ValidationError::TooShort) => PhoneError::TooShort,
        Err(ValidationError::TooLong) => PhoneError::TooLong,
        Err(ValidationError::InvalidCountryCode) => PhoneError::InvalidCountryCode,
        Err(ValidationError::InvalidLength) | Ok(_) => PhoneError::Invalid,
    }
}

/// One libphonenumber attempt on digits already cleaned up: parse, validate, format as E.164.
fn attempt(
    digits: &[u8],
    omit: Option<usize>,
    international: bool,
    region: Option<Region>,
) -> Result<Phone, PhoneError> {
    let count = digits.len() - usize::from(omit.is_some());
    if international && count > MAX_E164_DIGITS {
        return Err(PhoneError::TooLong);
    }
    if count < 3 {
        return Err(PhoneError::TooShort);
    }
    let mut out = [0u8; MAX_DIGITS + 1];
    let text = compose(&mut out, international, digits, omit);
    let number = PHONE_NUMBER_UTIL
        .parse(text, if international { None } else { region })
        .map_err(|e| map_parse_error(&e, count))?;
    if !PHONE_NUMBER_UTIL.is_valid_number(&number) {
        return Err(invalid_reason(&number));
    }
    let e164 = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164);
    Ok(Phone(e164.into_owned()))
}

/// Tries the `(0)`-dropped reading first (what the notation means), then the digits as written
/// (for numbers such as Italy's where the `0` belongs to the number); reports the first error.
fn attempt_both(
    digits: &Digits,
    skip: usize,
    international: bool,
    region: Option<Region>,
) -> Result<Phone, PhoneError> {
    let bytes = digits.as_bytes().get(skip..).unwrap_or_default();
    match digits.trunk_zero.and_then(|i| i.checked_sub(skip)) {
        Some(zero) => attempt(bytes, Some(zero), international, region)
            .or_else(|first| attempt(bytes, None, international, region).map_err(|_| first)),
        None => attempt(bytes, None, international, region),
    }
}

/// Shared parse: trims, scans, then applies the strict or import policy.
fn parse_inner(raw: &str, mode: Mode) -> Result<Phone, PhoneError> {
    let s = raw.trim_matches(is_blank);
    if s.is_empty() {
        return Err(PhoneError::Empty);
    }
    let digits = scan(s)?;
    if digits.len == 0 {
        return Err(if digits.plus {
            PhoneError::TooShort
        } else {
            PhoneError::Empty
        });
    }
    let starts_00 = digits.as_bytes().starts_with(b"00");
    match mode {
        Mode::Strict if digits.plus => attempt_both(&digits, 0, true, None),
        Mode::Strict => Err(PhoneError::NotInternational),
        Mode::Import(_) if digits.plus => {
            attempt_both(&digits, if starts_00 { 2 } else { 0 }, true, None)
        }
        Mode::Import(Some(region)) if starts_00 => attempt_both(&digits, 0, false, Some(region))
            .or_else(|_| attempt_both(&digits, 2, true, None)),
        Mode::Import(None) if starts_00 => attempt_both(&digits, 2, true, None),
        Mode::Import(Some(region)) => attempt_both(&digits, 0, false, Some(region)),
        Mode::Import(None) => Err(PhoneError::NotInternational),
    }
}

#[cfg(test)]
mod key_tests {
    use super::Phone;

    #[test]
    fn keys_tell_phones_apart_exactly() {
        let a = Phone::parse("+447111000001").unwrap();
        let b = Phone::parse("+44 7111 000001").unwrap();
        let c = Phone::parse("+447111000002").unwrap();
        let d = Phone::parse("+12025550104").unwrap();
        assert_eq!(a.key(), b.key());
        assert!(a.key().is_some());
        assert_ne!(a.key(), c.key());
        assert_ne!(a.key(), d.key());
        // Same value, different digit count.
        assert_ne!(Phone("+0123".into()).key(), Phone("+123".into()).key());
        assert_eq!(Phone("+1234567890123456".into()).key(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFY_CASES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/notify-phone-cases.json"
    );

    fn outcome(result: Result<Phone, PhoneError>) -> Result<String, &'static str> {
        result.map(|p| p.as_str().to_owned()).map_err(|e| e.code())
    }

    #[test]
    fn accepts_the_products_own_and_common_examples() {
        let cases = [
            ("+447111000001", "+447111000001"),
            ("+447111000002", "+447111000002"),
            ("+447446466847", "+447446466847"),
            ("+15005550006", "+15005550006"),
            ("+14155552671", "+14155552671"),
            ("+8613800138000", "+8613800138000"),
            ("+4915123456789", "+4915123456789"),
            ("+5511987654321", "+5511987654321"),
            ("+44 7723-456.789", "+447723456789"),
            ("+44 (0)7723 456 789", "+447723456789"),
            (" +447723456789\n", "+447723456789"),
            ("(+44) 7723 456789", "+447723456789"),
            ("+44 07723 456789", "+447723456789"),
            ("+49 151/23456789", "+4915123456789"),
            ("+49 (0)151 23456789", "+4915123456789"),
            ("+39 06 1234 5678", "+390612345678"),
            ("+39 (0)6 1234 5678", "+390612345678"),
            ("\u{FF0B}\u{FF14}\u{FF14}7723456789", "+447723456789"),
            (
                "+1\u{2011}202\u{2013}555\u{2014}010\u{2212}4",
                "+12025550104",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                outcome(Phone::parse(input)),
                Ok(expected.to_owned()),
                "{input:?}"
            );
            assert_eq!(
                outcome(Phone::parse_with_region(input, Some("GB"))),
                Ok(expected.to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_with_specific_errors() {
        let cases = [
            ("07723456789", PhoneError::NotInternational),
            ("0044 7723 456789", PhoneError::NotInternational),
            ("+1 800 FLOWERS", PhoneError::InvalidCharacters),
            ("+44 7723 456789 x12", PhoneError::InvalidCharacters),
            ("+44 7723 456789...", PhoneError::InvalidCharacters),
            ("+44 7723 456789.", PhoneError::InvalidCharacters),
            ("+.447723456789", PhoneError::InvalidCharacters),
            ("+44 .7723 456789", PhoneError::InvalidCharacters),
            ("0+447723456789", PhoneError::InvalidCharacters),
            ("++447723456789", PhoneError::InvalidCharacters),
            ("4.47723E+11", PhoneError::InvalidCharacters),
            ("hello", PhoneError::InvalidCharacters),
            ("+44", PhoneError::TooShort),
            ("+", PhoneError::TooShort),
            ("+4477234567891234", PhoneError::TooLong),
            ("+44 (0)7723 456 789 10", PhoneError::TooLong),
            ("+999123456", PhoneError::InvalidCountryCode),
            ("+0012025550104", PhoneError::InvalidCountryCode),
            ("+447700900123", PhoneError::Invalid),
            ("", PhoneError::Empty),
            (" \t\r\n\u{200B}", PhoneError::Empty),
            ("-", PhoneError::Empty),
        ];
        for (input, expected) in cases {
            assert_eq!(Phone::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn import_rule_accepts_national_and_00_formats() {
        let gb = Some("GB");
        let cases = [
            ("07723 456789", gb, "+447723456789"),
            ("07723-456-789", gb, "+447723456789"),
            ("7723456789", gb, "+447723456789"),
            ("447723456789", gb, "+447723456789"),
            ("0044 7723 456789", gb, "+447723456789"),
            ("0044 (0)7723 456789", gb, "+447723456789"),
            ("+00 44 7723 456789", gb, "+447723456789"),
            ("0044 7723 456789", None, "+447723456789"),
            ("0012025550104", None, "+12025550104"),
            ("07723 456789", Some("gb"), "+447723456789"),
            ("07723 456789", Some(" uk "), "+447723456789"),
            ("(202) 555-0104", Some("US"), "+12025550104"),
            ("1 202 555 0104", Some("US"), "+12025550104"),
            ("011 44 7723 456789", Some("US"), "+447723456789"),
            ("0044 7723 456789", Some("US"), "+447723456789"),
            ("+447723456789", Some(""), "+447723456789"),
            ("0151 23456789", Some("DE"), "+4915123456789"),
            ("0021 44 7723 456789", Some("BR"), "+447723456789"),
            ("+44 07723 456789", gb, "+447723456789"),
        ];
        for (input, region, expected) in cases {
            assert_eq!(
                outcome(Phone::parse_with_region(input, region)),
                Ok(expected.to_owned()),
                "{input:?} {region:?}"
            );
        }
    }

    #[test]
    fn import_rule_refuses_guesses() {
        let cases = [
            ("07723 456789", None, PhoneError::NotInternational),
            ("447723456789", None, PhoneError::NotInternational),
            // A foreign country code without '+' or '00' is not guessed (see parse_with_region).
            ("12025550104", Some("GB"), PhoneError::TooLong),
            (
                "+447723456789",
                Some("XX"),
                PhoneError::UnknownRegion("XX".into()),
            ),
            (
                "07723 456789",
                Some("England"),
                PhoneError::UnknownRegion("England".into()),
            ),
            (
                "07723 456789",
                Some("001"),
                PhoneError::UnknownRegion("001".into()),
            ),
        ];
        for (input, region, expected) in cases {
            assert_eq!(
                Phone::parse_with_region(input, region),
                Err(expected),
                "{input:?} {region:?}"
            );
        }
    }

    #[test]
    fn region_of_a_number() {
        let region = |s: &str| Phone::parse(s).ok().and_then(|p| p.region());
        assert_eq!(region("+447111000001").as_deref(), Some("GB"));
        assert_eq!(region("+447797292290").as_deref(), Some("JE"));
        assert_eq!(region("+14155552671").as_deref(), Some("US"));
        assert_eq!(region("+8613800138000").as_deref(), Some("CN"));
        assert_eq!(region("+80012345678"), None);
        assert!(Phone::parse("+80012345678").is_ok());
    }

    #[test]
    fn traits_and_serde() {
        let phone: Phone = "+44 7723 456789".parse().unwrap();
        assert_eq!(phone.to_string(), "+447723456789");
        assert_eq!(phone.as_ref(), "+447723456789");
        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+447723456789\"");
        let back: Phone = serde_json::from_str("\" +44 (0)7723 456 789 \"").unwrap();
        assert_eq!(back, phone);
        let err = serde_json::from_str::<Phone>("\"07723456789\"").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&PhoneError::NotInternational.to_string()),
            "{err}"
        );
        assert!(serde_json::from_str::<Phone>("447723456789").is_err());
        assert_eq!("0772".parse::<Phone>(), Err(PhoneError::NotInternational));
    }

    #[test]
    fn messages_are_human_and_codes_unique() {
        let all = [
            PhoneError::Empty,
            PhoneError::NotInternational,
            PhoneError::InvalidCharacters,
            PhoneError::TooShort,
            PhoneError::TooLong,
            PhoneError::InvalidCountryCode,
            PhoneError::Invalid,
            PhoneError::UnknownRegion("XX".into()),
        ];
        let mut codes: Vec<&str> = all.iter().map(PhoneError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(
            PhoneError::TooShort.to_string(),
            "not a valid phone number: too short"
        );
        assert_eq!(
            PhoneError::NotInternational.to_string(),
            "not a valid phone number: must be in E.164 format, starting with + and the country code"
        );
        assert!(
            PhoneError::UnknownRegion("XX".into())
                .to_string()
                .contains("\"XX\"")
        );
        let long = Phone::parse_with_region("+447723456789", Some(&"Z".repeat(1000)));
        match long {
            Err(PhoneError::UnknownRegion(echo)) => assert!(echo.len() <= MAX_REGION_ECHO),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_panics_and_output_is_canonical() {
        let alphabet: Vec<char> =
            "0123456789+++  -.()[]/x#*,;\t\n\u{200B}\u{FEFF}\u{FF10}\u{0661}é☎0044"
                .chars()
                .collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut inputs: Vec<String> = vec![
            "9".repeat(100_000),
            "+".repeat(1000),
            "(0)".repeat(100),
            "+44(0)(0)(0)7723456789".into(),
            "+44 (0".into(),
            "+44 (0)".into(),
            ".".into(),
            "1.".into(),
            "\u{0}".into(),
        ];
        for _ in 0..3000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            inputs.push(s);
        }
        for input in &inputs {
            for phone in [
                Phone::parse(input),
                Phone::parse_with_region(input, Some("GB")),
                Phone::parse_with_region(input, Some("US")),
                Phone::parse_with_region(input, None),
            ]
            .into_iter()
            .flatten()
            {
                let s = phone.as_str();
                assert!(s.starts_with('+') && s.len() <= 16, "{input:?} -> {s}");
                assert!(
                    s[1..].bytes().all(|b| b.is_ascii_digit()),
                    "{input:?} -> {s}"
                );
                assert_eq!(Phone::parse(s).as_ref(), Ok(&phone), "{input:?}");
            }
        }
    }

    /// What GOV.UK Notify expects for one input.
    #[derive(Debug, Clone, PartialEq)]
    enum Notify {
        /// Accepted; normalised to this E.164 (with '+') when the oracle says.
        Valid(Option<String>),
        /// Rejected, with Notify's error name when the oracle says.
        Rejected(Option<String>),
    }

    /// Our intentional differences from Notify: input, our outcome (`Ok(e164)` or `Err(code)`), reason.
    /// The test pins our outcome and fails if an entry stops differing from Notify or is unused.
    #[rustfmt::skip]
    const EXCEPTIONS: &[(&str, Result<&str, &str>, &str)] = &[
        // No guessing of a foreign country code written without '+' or '00' (GB default region).
        ("784951234567", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("1-202-555-0104", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("1\u{2011}202\u{2013}555\u{2014}010\u{2212}4", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("230 5 2512345", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("74991231212", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("23052512345", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("20-12-1234-1234", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("1664 491 3789", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("7 499 1231212", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        ("33(0)1 12345678", Err("too_long"), "foreign country code without + or 00 is not guessed"),
        // libphonenumber metadata says these UK numbers exist.
        ("0845 46 46", Ok("+448454646"), "valid 7-digit 0845 number in libphonenumber metadata"),
        ("0900 123 4567", Ok("+449001234567"), "valid premium-rate range in libphonenumber metadata"),
        // Rejected either way; libphonenumber's length verdict differs from Notify's UK-first guess.
        ("+0065951123456", Err("invalid"), "rejected; SG number has an impossible length, not 'too long'"),
        ("0038097123456", Err("too_short"), "rejected; 00 380 97123456 is a too-short Ukrainian number"),
        // Notify repairs malformed UK numbers; we refuse rather than guess.
        ("+07044123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
        ("+01158123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
        ("+01323123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
        ("+03332123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess a UK trunk 0"),
        ("+04915161123456", Err("invalid_country_code"), "'+0' is no country code; we don't guess the stray 0"),
        ("0+44(0)7779123456", Err("invalid_characters"), "'+' after a digit is malformed; not repaired"),
        ("0+447988123456", Err("invalid_characters"), "'+' after a digit is malformed; not repaired"),
        ("04407379123456", Err("too_long"), "stray 0 before the country code is not repaired"),
        ("0447300123456", Err("too_long"), "stray 0 before the country code is not repaired"),
        ("000007392123456", Err("invalid_country_code"), "run of zeros is not repaired into a UK number"),
        ("0007465123456", Err("invalid_country_code"), "run of zeros is not repaired into a UK number"),
        ("007341123456", Err("too_short"), "'00' means international: +7 341123456 is a too-short Russian number"),
        ("001708123456", Err("too_short"), "'00' means international: +1 708123456 is a too-short US number"),
        // Ofcom's drama range is unallocated; libphonenumber's validity wins.
        ("07700900010", Err("invalid"), "Ofcom TV/drama number 07700 900xxx is not a real number"),
        ("447700900020", Err("invalid"), "Ofcom TV/drama number 07700 900xxx is not a real number"),
        ("+447700900030", Err("invalid"), "Ofcom TV/drama number 07700 900xxx is not a real number"),
        // Herald sends worldwide: Notify's UK-mobile-only rule is not ours.
        ("+14158961600", Ok("+14158961600"), "international numbers are allowed (no UK-mobile rule)"),
        ("+3225484211", Ok("+3225484211"), "international numbers are allowed (no UK-mobile rule)"),
        ("+1 202-483-3000", Ok("+12024833000"), "international numbers are allowed (no UK-mobile rule)"),
        ("+7 495 308-78-41", Ok("+74953087841"), "international numbers are allowed (no UK-mobile rule)"),
        ("+74953087842", Ok("+74953087842"), "international numbers are allowed (no UK-mobile rule)"),
    ];

    fn notify_cases() -> Vec<(String, String, Notify)> {
        let text = std::fs::read_to_string(NOTIFY_CASES).expect("notify oracle readable");
        let json: serde_json::Value = serde_json::from_str(&text).expect("notify oracle is JSON");
        let object = json.as_object().expect("notify oracle is an object");
        let string = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|x| x.as_str()).map(str::to_owned)
        };
        let mut cases = Vec::new();
        for (group, value) in object {
            if matches!(group.as_str(), "source" | "license" | "policy_note") {
                continue;
            }
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{group} is a list"));
            for item in items {
                let (input, expect) = match group.as_str() {
                    "valid_uk_mobile_normalised_447723456789" => (
                        item.as_str().map(str::to_owned),
                        Notify::Valid(Some("+447723456789".into())),
                    ),
                    "valid_international" | "valid_uk_landlines" => {
                        (item.as_str().map(str::to_owned), Notify::Valid(None))
                    }
                    "valid_channel_islands" => (
                        item.as_str().map(str::to_owned),
                        Notify::Valid(item.as_str().map(str::to_owned)),
                    ),
                    "invalid_uk_landlines" => {
                        (item.as_str().map(str::to_owned), Notify::Rejected(None))
                    }
                    "invalid_uk_mobile"
                    | "invalid_international"
                    | "normalise_fails"
                    | "international_not_uk_mobile" => (
                        string(item, "input"),
                        Notify::Rejected(string(item, "error")),
                    ),
                    "normalise_international" | "normalise_succeeds" | "tv_numbers_pass" => (
                        string(item, "input"),
                        Notify::Valid(string(item, "normalised").map(|n| format!("+{n}"))),
                    ),
                    "human_readable" => {
                        // "07723 456789" is UK national; "+20 12 12341234" international.
                        let formatted = string(item, "formatted").unwrap_or_default();
                        let digits: String =
                            formatted.chars().filter(char::is_ascii_digit).collect();
                        let e164 = match digits.strip_prefix('0') {
                            Some(national) => format!("+44{national}"),
                            None => format!("+{digits}"),
                        };
                        (string(item, "input"), Notify::Valid(Some(e164)))
                    }
                    other => panic!("notify oracle has a group this test does not know: {other}"),
                };
                let input = input.unwrap_or_else(|| panic!("{group}: case without input"));
                cases.push((group.clone(), input, expect));
            }
        }
        cases
    }

    /// Does our outcome agree with Notify's expectation?
    fn agrees(ours: &Result<String, &'static str>, notify: &Notify) -> bool {
        match (ours, notify) {
            (Ok(_), Notify::Valid(None)) => true,
            (Ok(e164), Notify::Valid(Some(expected))) => e164 == expected,
            (Err(_), Notify::Valid(_)) | (Ok(_), Notify::Rejected(_)) => false,
            (Err(_), Notify::Rejected(None)) => true,
            (Err(code), Notify::Rejected(Some(error))) => match error.as_str() {
                "TOO_LONG" => *code == "too_long",
                "UNKNOWN_CHARACTER" => *code == "invalid_characters",
                "INVALID_NUMBER" => matches!(*code, "invalid" | "too_short"),
                _ => false,
            },
        }
    }

    #[test]
    fn notify_oracle_with_gb_default() {
        let cases = notify_cases();
        assert!(cases.len() > 100, "oracle looks truncated: {}", cases.len());
        let mut used = vec![false; EXCEPTIONS.len()];
        let mut failures = Vec::new();
        for (group, input, notify) in &cases {
            let ours = outcome(Phone::parse_with_region(input, Some("GB")));
            match EXCEPTIONS.iter().position(|(i, _, _)| i == input) {
                Some(index) => {
                    used[index] = true;
                    let (_, pinned, reason) = EXCEPTIONS[index];
                    let pinned = pinned.map(str::to_owned);
                    if ours != pinned {
                        failures.push(format!(
                            "{group} {input:?}: exception pins {pinned:?}, got {ours:?}"
                        ));
                    }
                    if agrees(&ours, notify) {
                        failures.push(format!(
                            "{group} {input:?}: listed as exception ({reason}) but agrees with Notify"
                        ));
                    }
                }
                None if !agrees(&ours, notify) => {
                    failures.push(format!(
                        "{group} {input:?}: Notify {notify:?}, ours {ours:?}"
                    ));
                }
                None => {}
            }
        }
        for (index, (input, _, _)) in EXCEPTIONS.iter().enumerate() {
            if !used[index] {
                failures.push(format!("exception {input:?} matches no oracle case"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn notify_international_cases_also_pass_the_strict_rule() {
        for (group, input, notify) in notify_cases() {
            let plus = input.trim_matches(is_blank).starts_with('+') && !input.contains("+0");
            if !plus {
                continue;
            }
            let strict = outcome(Phone::parse(&input));
            let import = outcome(Phone::parse_with_region(&input, Some("GB")));
            assert_eq!(strict, import, "{group} {input:?} ({notify:?})");
        }
    }
}
