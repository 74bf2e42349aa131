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
        key_of(&self.0)
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

/// [`Phone::key`] of a number already in E.164 form (`+` and digits), as stored: `None` when
/// the text is not that.
pub fn key_of(e164: &str) -> Option<u64> {
    let digits = e164.strip_prefix('+')?.as_bytes();
    if digits.is_empty() || digits.len() > MAX_E164_DIGITS || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    // Below 10^15 < 2^50; the digit count above it keeps leading zeros apart.
    let value = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(value | ((digits.len() as u64) << 56))
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
    // A national number can be valid in its country's metadata and still make more than
    // E.164's 15 digits with the country code (German numbers of 14 digits after `49`):
    // such a number could not be sent, nor written back in as `+...` (found by fuzzing).
    if e164.len() > MAX_E164_DIGITS + 1 {
        return Err(PhoneError::TooLong);
    }
    // libphonenumber may drop what it reads as a national prefix after the country code
    // (`+375 88104781607` became `+3758104781607`), and the shorter number can then read
    // differently again (`+3758104781607` is invalid): found by fuzzing. A number is accepted
    // only when its E.164 form parses back to itself, so what is stored can be sent, looked up
    // and written back in. Checked only when the digits changed (never for a plain `+` number).
    if *e164 != *text && !reads_back_to_itself(&e164) {
        return Err(PhoneError::Invalid);
    }
    Ok(Phone(e164.into_owned()))
}

/// Whether an E.164 text parses, under the strict rule's reading, to a valid number whose
/// E.164 form is the same text.
fn reads_back_to_itself(e164: &str) -> bool {
    PHONE_NUMBER_UTIL.parse(e164, None).is_ok_and(|number| {
        PHONE_NUMBER_UTIL.is_valid_number(&number)
            && PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164) == e164
    })
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
mod tests;
