//! Consent records: the append-only evidence that a person agreed (or stopped agreeing) to
//! receive messages, checked on input and read in bulk from a CSV file.
//!
//! Why: UK rules require opt-in and "records of consent"; a campaign with `require_consent`
//! sends only to numbers whose latest record is `granted`. The record's fields are checked here
//! so the JSON endpoint and the CSV import accept exactly the same things.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::FieldError;
use super::ids::ConsentId;
use super::import::read_table;
use super::keywords::Keyword;
use super::phone::Phone;

/// Longest evidence text.
pub const MAX_EVIDENCE_CHARS: usize = 2_000;
/// Longest source name.
pub const MAX_SOURCE_CHARS: usize = 40;
/// Most records in one import.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Most row problems listed when an import is refused.
pub const MAX_IMPORT_ERRORS: usize = 1_000;
/// How far in the future a record's timestamp may be (clock skew between systems).
const FUTURE_SKEW: time::Duration = time::Duration::minutes(5);

/// Whether a person agrees to receive messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsentStatus {
    /// They agreed.
    Granted,
    /// They withdrew their agreement.
    Revoked,
}

impl ConsentStatus {
    /// The storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Revoked => "revoked",
        }
    }

    /// Parses the name, in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("granted") {
            Some(ConsentStatus::Granted)
        } else if raw.eq_ignore_ascii_case("revoked") {
            Some(ConsentStatus::Revoked)
        } else {
            None
        }
    }
}

/// Sources Herald itself writes (users may use any other name too).
pub mod sources {
    /// A keyword SMS (STOP, START, …).
    pub const KEYWORD: &str = "keyword";
    /// Twilio's Advanced Opt-Out classified the message (`OptOutType`).
    pub const TWILIO_OPT_OUT: &str = "twilio_opt_out";
    /// Twilio refused a send with error 21610 (the number replied STOP to Twilio).
    pub const TWILIO_21610: &str = "twilio_21610";
    /// The `/v1/opt-outs` or `/v1/consents` API.
    pub const API: &str = "api";
    /// A CSV import.
    pub const IMPORT: &str = "import";
}

/// A consent record that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentInput {
    /// The person's number.
    pub phone: Phone,
    /// Granted or revoked.
    pub status: ConsentStatus,
    /// How it was obtained: `web_form`, `paper`, `verbal`, `keyword`, `import`, …
    pub source: String,
    /// What proves it (form id, text of the message, where the paper is kept).
    pub evidence: Option<String>,
    /// When it was given or withdrawn (`None`: now).
    pub occurred_at: Option<OffsetDateTime>,
}

/// Checks a source name: lowercase letters, digits and `_`, starting with a letter.
pub fn check_source(raw: &str) -> Result<String, String> {
    let source = raw.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    let ok = !source.is_empty()
        && source.len() <= MAX_SOURCE_CHARS
        && source.starts_with(|c: char| c.is_ascii_lowercase())
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(source)
    } else {
        Err(format!(
            "must be a name of 1 to {MAX_SOURCE_CHARS} letters, digits and underscores, such as web_form, paper or import"
        ))
    }
}

/// Checks evidence text (optional; blank counts as none).
pub fn check_evidence(raw: Option<&str>) -> Result<Option<String>, String> {
    // Counted as sent (the API document's maxLength), kept trimmed.
    let chars = raw.map_or(0, |r| r.chars().count());
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(_) if chars > MAX_EVIDENCE_CHARS => {
            Err(format!("must be at most {MAX_EVIDENCE_CHARS} characters"))
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// Reads a timestamp: RFC 3339, or a plain date (`2026-03-01`, midnight UTC). Not in the future.
pub fn check_timestamp(raw: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let raw = raw.trim();
    let parsed = OffsetDateTime::parse(raw, &Rfc3339).ok().or_else(|| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(raw, &format)
            .ok()
            .map(|d| d.midnight().assume_utc())
    });
    match parsed {
        None => Err(
            "must be an RFC 3339 date-time (2026-03-01T09:30:00Z) or a date (2026-03-01)".into(),
        ),
        Some(t) if t > now + FUTURE_SKEW => Err("must not be in the future".into()),
        Some(t) => Ok(t),
    }
}

/// The body of `POST /v1/consents`: one record.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The person's number (E.164).
    #[schema(required = true, nullable = false, min_length = 1, pattern = r"\S")]
    pub phone: Option<String>,
    /// `granted` or `revoked`.
    #[schema(required = true, nullable = false, pattern = r"^(granted|revoked)$")]
    pub status: Option<String>,
    /// How it was obtained: `web_form`, `paper`, `verbal`, `import`, … (default `api`).
    pub source: Option<String>,
    /// What proves it: a form submission id, the wording agreed to, where the paper is filed.
    pub evidence: Option<String>,
    /// When it was given or withdrawn (RFC 3339 or a date; default now). Not in the future.
    pub timestamp: Option<String>,
}

/// Checks a JSON consent request; every problem is reported with its field.
pub fn check_request(
    req: &ConsentRequest,
    now: OffsetDateTime,
) -> Result<ConsentInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    let phone = match req.phone.as_deref() {
        None => {
            errors.push(FieldError::new("phone", "is required"));
            None
        }
        Some(raw) => Phone::parse(raw)
            .map_err(|e| errors.push(FieldError::new("phone", e.to_string())))
            .ok(),
    };
    let status = match req.status.as_deref() {
        None => {
            errors.push(FieldError::new(
                "status",
                "is required (granted or revoked)",
            ));
            None
        }
        Some(raw) => ConsentStatus::parse(raw).or_else(|| {
            errors.push(FieldError::new("status", "must be granted or revoked"));
            None
        }),
    };
    let source = check_source(req.source.as_deref().unwrap_or(sources::API))
        .map_err(|m| errors.push(FieldError::new("source", m)))
        .ok();
    let evidence = check_evidence(req.evidence.as_deref())
        .map_err(|m| errors.push(FieldError::new("evidence", m)))
        .ok()
        .flatten();
    let occurred_at = match req.timestamp.as_deref() {
        None => None,
        Some(raw) => check_timestamp(raw, now)
            .map_err(|m| errors.push(FieldError::new("timestamp", m)))
            .ok(),
    };
    match (phone, status, source) {
        (Some(phone), Some(status), Some(source)) if errors.is_empty() => Ok(ConsentInput {
            phone,
            status,
            source,
            evidence,
            occurred_at,
        }),
        _ => Err(errors),
    }
}

/// Header names of each column an import reads (compared lowercased, spaces and dashes as `_`).
const PHONE_HEADERS: [&str; 9] = [
    "phone",
    "phone_number",
    "mobile",
    "mobile_number",
    "number",
    "tel",
    "telephone",
    "msisdn",
    "cell",
];
const STATUS_HEADERS: [&str; 2] = ["status", "consent"];
const SOURCE_HEADERS: [&str; 1] = ["source"];
const EVIDENCE_HEADERS: [&str; 4] = ["evidence", "note", "notes", "proof"];
const TIMESTAMP_HEADERS: [&str; 6] = [
    "timestamp",
    "consented_at",
    "occurred_at",
    "date",
    "created_at",
    "time",
];

/// Reads a CSV file of consent records, all or nothing.
///
/// The first row is a header naming the columns: a phone column (`phone`, `mobile`,
/// `number`, `tel`, …) is required; `status` (`granted`/`revoked`, default `granted`),
/// `source` (default `import`), `evidence` and `timestamp` (RFC 3339 or a date; default the
/// time of the import) are optional; other columns are ignored. Phones without a country code
/// are read in `default_region` when one is given.
///
/// Why all or nothing: records are append-only, so a half-imported file could not simply be
/// fixed and imported again without recording the good rows twice. Problems name the
/// physical line of the file: `lines[7].phone`.
pub fn parse_import(
    input: &[u8],
    default_region: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<ConsentInput>, Vec<FieldError>> {
    let body_error = |m: String| vec![FieldError::new("body", m)];
    Phone::check_region(default_region)
        .map_err(|e| vec![FieldError::new("default_country", e.to_string())])?;
    let table = read_table(input).map_err(|e| body_error(e.to_string()))?;
    let header = table
        .header()
        .ok_or_else(|| body_error("the file is empty".into()))?;
    let names: Vec<String> = header
        .cells
        .iter()
        .map(|c| {
            c.trim()
                .trim_start_matches('\u{FEFF}')
                .to_ascii_lowercase()
                .replace([' ', '-'], "_")
        })
        .collect();
    let find = |candidates: &[&str]| {
        candidates
            .iter()
            .find_map(|want| names.iter().position(|n| n == want))
    };
    let Some(phone_col) = find(&PHONE_HEADERS) else {
        return Err(body_error(
            "the first row must be a header with a phone column (phone, mobile, number, tel, …); status, source, evidence and timestamp columns are optional".into(),
        ));
    };
    let columns: HashMap<&str, Option<usize>> = [
        ("status", find(&STATUS_HEADERS)),
        ("source", find(&SOURCE_HEADERS)),
        ("evidence", find(&EVIDENCE_HEADERS)),
        ("timestamp", find(&TIMESTAMP_HEADERS)),
    ]
    .into();
    let records: Vec<_> = table
        .records()
        .iter()
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()))
        .collect();
    if records.is_empty() {
        return Err(body_error("the file has a header but no records".into()));
    }
    if records.len() > MAX_IMPORT_ROWS {
        return Err(body_error(format!(
            "the file has {} records; at most {MAX_IMPORT_ROWS} are allowed in one import",
            records.len()
        )));
    }
    let mut out = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for row in records {
        let cell = |name: &str| {
            columns[name]
                .and_then(|i| row.cells.get(i))
                .map(|c| c.trim())
                .filter(|c| !c.is_empty())
        };
        let field = |name: &str| format!("lines[{}].{name}", row.line);
        let before = errors.len();
        let raw_phone = row.cells.get(phone_col).map(|c| c.trim()).unwrap_or("");
        let phone = Phone::parse_with_region(raw_phone, default_region)
            .map_err(|e| errors.push(FieldError::new(field("phone"), e.to_string())))
            .ok();
        let status = match cell("status") {
            None => Some(ConsentStatus::Granted),
            Some(raw) => ConsentStatus::parse(raw).or_else(|| {
                errors.push(FieldError::new(
                    field("status"),
                    "must be granted or revoked",
                ));
                None
            }),
        };
        let source = check_source(cell("source").unwrap_or(sources::IMPORT))
            .map_err(|m| errors.push(FieldError::new(field("source"), m)))
            .ok();
        let evidence = check_evidence(cell("evidence"))
            .map_err(|m| errors.push(FieldError::new(field("evidence"), m)))
            .ok()
            .flatten();
        let occurred_at = cell("timestamp").and_then(|raw| {
            check_timestamp(raw, now)
                .map_err(|m| errors.push(FieldError::new(field("timestamp"), m)))
                .ok()
        });
        if errors.len() > before {
            if errors.len() >= MAX_IMPORT_ERRORS {
                break;
            }
            continue;
        }
        if let (Some(phone), Some(status), Some(source)) = (phone, status, source) {
            out.push(ConsentInput {
                phone,
                status,
                source,
                evidence,
                occurred_at,
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.truncate(MAX_IMPORT_ERRORS);
        Err(errors)
    }
}

/// Why an opt-out or opt-in happened, for its consent record.
#[derive(Debug, Clone)]
pub struct ConsentEvent {
    /// Who (E.164).
    pub phone: String,
    /// `keyword`, `api`, `twilio_21610`, …
    pub source: String,
    /// What proves it (the message and its sid, the reason given, …).
    pub evidence: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// A consent record to store.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// Its id.
    pub id: ConsentId,
    /// The person.
    pub phone: String,
    /// Granted or revoked.
    pub status: ConsentStatus,
    /// How it was obtained.
    pub source: String,
    /// What proves it.
    pub evidence: Option<String>,
    /// When it was given or withdrawn.
    pub occurred_at: OffsetDateTime,
}

impl ConsentEvent {
    /// The consent record an opt-out (`Revoked`) or opt-in (`Granted`) writes: the event's
    /// source, evidence and time, under a new id.
    pub fn record(&self, status: ConsentStatus) -> NewConsent {
        NewConsent {
            id: ConsentId::generate(),
            phone: self.phone.clone(),
            status,
            source: self.source.clone(),
            evidence: self.evidence.clone(),
            occurred_at: self.at,
        }
    }
}

/// Whether an opt-out (`target` = `Revoked`) or opt-in (`Granted`) writes a consent record:
/// when it changed the opt-out list, or the number's current consent is not `target` already.
/// So repeating one writes nothing, and the history says every change.
pub fn record_needed(
    list_changed: bool,
    current: Option<ConsentStatus>,
    target: ConsentStatus,
) -> bool {
    list_changed || current != Some(target)
}

/// Whether a keyword's confirmation is sent: always, except STOP's, which is sent only when
/// it changed something (a repeated STOP is not answered again).
pub fn confirms(keyword: Option<Keyword>, opt_out_changed: bool) -> bool {
    keyword != Some(Keyword::OptOut) || opt_out_changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-05-01 12:00 UTC)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_json_record_is_checked_field_by_field() {
        let ok = check_request(
            &ConsentRequest {
                phone: Some("+44 7111 000001".into()),
                status: Some("Granted".into()),
                source: Some("Web Form".into()),
                evidence: Some("  form #1234, box ticked  ".into()),
                timestamp: Some("2026-03-01".into()),
            },
            now(),
        )
        .unwrap();
        assert_eq!(ok.phone.as_str(), "+447111000001");
        assert_eq!(ok.status, ConsentStatus::Granted);
        assert_eq!(ok.source, "web_form");
        assert_eq!(ok.evidence.as_deref(), Some("form #1234, box ticked"));
        assert_eq!(
            ok.occurred_at,
            Some(time::macros::datetime!(2026-03-01 0:00 UTC))
        );

        let defaults = check_request(
            &ConsentRequest {
                phone: Some("+447111000001".into()),
                status: Some("revoked".into()),
                ..ConsentRequest::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(
            (
                defaults.source.as_str(),
                defaults.evidence,
                defaults.occurred_at
            ),
            ("api", None, None)
        );

        let errors = check_request(
            &ConsentRequest {
                phone: Some("07111000001".into()),
                status: Some("yes".into()),
                source: Some("1st".into()),
                evidence: Some("x".repeat(MAX_EVIDENCE_CHARS + 1)),
                timestamp: Some("2027-01-01T00:00:00Z".into()),
            },
            now(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["phone", "status", "source", "evidence", "timestamp"]
        );
        let missing = check_request(&ConsentRequest::default(), now()).unwrap_err();
        assert_eq!(fields(&missing), ["phone", "status"]);
    }

    #[test]
    fn an_import_reads_named_columns_with_defaults() {
        let csv = "Name,Mobile Number,Status,Source,Evidence,Consented At\n\
                   Sarah,+447111000001,granted,web_form,signup #1,2026-02-01T10:00:00Z\n\
                   \n\
                   James,07111000002,REVOKED,,,\n\
                   Ann,+447111000003,,,,\n";
        let rows = parse_import(csv.as_bytes(), Some("GB"), now()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].phone.as_str(), "+447111000001");
        assert_eq!(rows[0].source, "web_form");
        assert_eq!(rows[0].evidence.as_deref(), Some("signup #1"));
        assert_eq!(
            rows[0].occurred_at,
            Some(time::macros::datetime!(2026-02-01 10:00 UTC))
        );
        assert_eq!(
            (rows[1].phone.as_str(), rows[1].status),
            ("+447111000002", ConsentStatus::Revoked)
        );
        assert_eq!(
            (rows[2].status, rows[2].source.as_str()),
            (ConsentStatus::Granted, "import")
        );
    }

    #[test]
    fn an_import_with_any_bad_row_is_refused_naming_each_line() {
        let csv = "phone,status,timestamp\n+447111000001,granted,\nnope,maybe,\n+447111000003,granted,2099-01-01\n";
        let errors = parse_import(csv.as_bytes(), None, now()).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["lines[3].phone", "lines[3].status", "lines[4].timestamp"]
        );
        let no_phone = parse_import(b"name,status\nSarah,granted\n", None, now()).unwrap_err();
        assert_eq!(fields(&no_phone), ["body"]);
        let header_only = parse_import(b"phone\n", None, now()).unwrap_err();
        assert_eq!(fields(&header_only), ["body"]);
        let region = parse_import(b"phone\n+447111000001\n", Some("XX"), now()).unwrap_err();
        assert_eq!(fields(&region), ["default_country"]);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [ConsentStatus::Granted, ConsentStatus::Revoked] {
            assert_eq!(ConsentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConsentStatus::parse("maybe"), None);
    }

    #[test]
    fn a_consent_record_is_written_only_when_something_changes() {
        use ConsentStatus::*;
        assert!(record_needed(true, Some(Revoked), Revoked));
        assert!(record_needed(false, None, Revoked));
        assert!(record_needed(false, Some(Granted), Revoked));
        assert!(!record_needed(false, Some(Revoked), Revoked));
        assert!(!record_needed(false, Some(Granted), Granted));
    }

    #[test]
    fn stop_is_confirmed_only_if_it_changed_something() {
        assert!(confirms(Some(Keyword::OptOut), true));
        assert!(!confirms(Some(Keyword::OptOut), false));
        assert!(confirms(Some(Keyword::OptIn), false));
        assert!(confirms(None, false));
    }

    #[test]
    fn an_event_makes_its_record() {
        let at = time::macros::datetime!(2026-01-01 12:00 UTC);
        let event = ConsentEvent {
            phone: "+447700900001".into(),
            source: "keyword".into(),
            evidence: Some("STOP".into()),
            at,
        };
        let record = event.record(ConsentStatus::Revoked);
        assert_eq!(record.phone, event.phone);
        assert_eq!(record.status, ConsentStatus::Revoked);
        assert_eq!(record.source, "keyword");
        assert_eq!(record.evidence.as_deref(), Some("STOP"));
        assert_eq!(record.occurred_at, at);
    }
}
