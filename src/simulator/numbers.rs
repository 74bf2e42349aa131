//! The account's phone numbers as Twilio lists them (`IncomingPhoneNumbers`): every number by
//! default, only the configured ones with `--incoming-numbers`; each number's `SmsUrl` can be
//! changed, as Herald's dashboard does to point a number's incoming SMS at itself.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Simulator;
use super::routes::check_access;
use super::wire;

/// The numbers the simulator has listed or been told about, with their `SmsUrl`.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// E.164 → the number's SmsUrl (empty: none).
    sms_urls: Mutex<BTreeMap<String, String>>,
}

/// One number in Twilio's JSON.
#[derive(Serialize)]
struct IncomingNumber {
    sid: String,
    account_sid: String,
    phone_number: String,
    friendly_name: String,
    sms_url: String,
    sms_method: &'static str,
    capabilities: Capabilities,
    uri: String,
}

#[derive(Serialize)]
struct Capabilities {
    sms: bool,
    mms: bool,
    voice: bool,
    fax: bool,
}

#[derive(Serialize)]
struct Page {
    incoming_phone_numbers: Vec<IncomingNumber>,
    first_page_uri: String,
    next_page_uri: Option<String>,
    previous_page_uri: Option<String>,
    page: u32,
    page_size: usize,
    start: usize,
    end: usize,
    uri: String,
}

/// `PN` + 32 hex digits, the same for a number every time.
fn sid_of(phone: &str) -> String {
    let digest = Sha256::digest(phone.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("PN{hex}")
}

/// A plausible E.164 number: `+` and 8 to 15 digits.
fn is_e164(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

impl Simulator {
    /// Whether the account owns `phone`: every number unless `--incoming-numbers` lists some.
    fn owns(&self, phone: &str) -> bool {
        match &self.inner.config.incoming_numbers {
            None => is_e164(phone),
            Some(list) => list.iter().any(|n| n == phone),
        }
    }

    fn number_json(&self, phone: &str, sms_url: String) -> IncomingNumber {
        let sid = sid_of(phone);
        let account = &self.inner.config.account_sid;
        IncomingNumber {
            uri: format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json"),
            sid,
            account_sid: account.clone(),
            phone_number: phone.to_owned(),
            friendly_name: phone.to_owned(),
            sms_url,
            sms_method: "POST",
            capabilities: Capabilities {
                sms: true,
                mms: false,
                voice: true,
                fax: false,
            },
        }
    }

    /// The account's numbers: the configured list, or (listing every number) those asked
    /// about so far; with `phone`, that number alone if the account owns it.
    fn listed(&self, phone: Option<&str>) -> Vec<IncomingNumber> {
        let mut urls = self.inner.numbers.sms_urls.lock().expect("numbers lock");
        let phones: Vec<String> = match (phone, &self.inner.config.incoming_numbers) {
            (Some(p), _) if self.owns(p) => vec![p.to_owned()],
            (Some(_), _) => Vec::new(),
            (None, Some(list)) => list.clone(),
            (None, None) => urls.keys().cloned().collect(),
        };
        phones
            .into_iter()
            .map(|p| {
                let url = urls.entry(p.clone()).or_default().clone();
                self.number_json(&p, url)
            })
            .collect()
    }
}

/// The routes, for `routes::router` to merge.
pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(list),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            post(update),
        )
}

/// `GET …/IncomingPhoneNumbers.json[?PhoneNumber=+44…]`: one page with every match.
async fn list(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(denied) = check_access(&sim.inner, &headers, Ok(&account)) {
        return denied.into_response();
    }
    let raw = query.unwrap_or_default();
    let phone = wire::form_pairs(raw.as_bytes())
        .find(|(name, _)| name == "PhoneNumber")
        .map(|(_, value)| value.trim().to_owned());
    let numbers = sim.listed(phone.as_deref());
    let uri = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json");
    let page = Page {
        end: numbers.len().saturating_sub(1),
        page_size: numbers.len().max(50),
        incoming_phone_numbers: numbers,
        first_page_uri: uri.clone(),
        next_page_uri: None,
        previous_page_uri: None,
        page: 0,
        start: 0,
        uri,
    };
    wire::json(StatusCode::OK, &page)
}

/// `POST …/IncomingPhoneNumbers/{Sid}.json` with `SmsUrl`: changes where the number's
/// incoming SMS go.
async fn update(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(denied) = check_access(&sim.inner, &headers, Ok(&account)) {
        return denied.into_response();
    }
    let sid = file.strip_suffix(".json").unwrap_or(&file);
    let sms_url = wire::form_pairs(&body)
        .find(|(name, _)| name == "SmsUrl")
        .map(|(_, value)| value.into_owned());
    let phone = {
        let urls = sim.inner.numbers.sms_urls.lock().expect("numbers lock");
        let known = urls.keys().cloned();
        let configured = sim
            .inner
            .config
            .incoming_numbers
            .clone()
            .unwrap_or_default();
        known.chain(configured).find(|p| sid_of(p) == sid)
    };
    let Some(phone) = phone.filter(|p| sim.owns(p)) else {
        return wire::twilio_error(404, 20404, "The requested resource was not found");
    };
    let url = {
        let mut urls = sim.inner.numbers.sms_urls.lock().expect("numbers lock");
        let entry = urls.entry(phone.clone()).or_default();
        if let Some(new) = sms_url {
            *entry = new;
        }
        entry.clone()
    };
    wire::json(StatusCode::OK, &sim.number_json(&phone, url))
}
