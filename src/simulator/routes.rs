//! The simulator's HTTP routes: Twilio's Messages create, fetch and list, the account's numbers
//! (`numbers`), and the `/sim/messages` journal.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngExt as _;
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use super::callbacks::{Job, Stage};
use super::wire::{self, ApiError};
use super::{FinalStatus, Inner, Simulator, State as SimState, StoredMessage, Tuning};

/// Twilio's Body limit, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// Messages per list page unless `PageSize` says otherwise, and the most it may say.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// The API version prefix of every Twilio route.
const API_VERSION: &str = "2010-04-01";

/// All routes, with Twilio-shaped JSON for unknown paths and methods.
pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(create).get(list),
        )
        .route("/2010-04-01/Accounts/{account}/Messages/{file}", get(fetch))
        .route("/sim/messages", get(journal).delete(clear_journal))
        .route("/sim/inbound", post(super::inbound::inbound))
        .merge(super::numbers::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(sim)
}

async fn not_found() -> Response {
    wire::twilio_error(404, 20404, "The requested resource was not found")
}

async fn method_not_allowed() -> Response {
    wire::twilio_error(405, 20004, "Method not allowed")
}

fn unauthorized() -> Response {
    let mut response = wire::twilio_error(401, 20003, "Authenticate");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    response
}

/// HTTP Basic with the account SID as user and the auth token as password (constant time).
fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, credentials)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim()) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user_ok = user.ct_eq(inner.config.account_sid.as_bytes());
    let password_ok = password.ct_eq(inner.config.auth_token.as_bytes());
    (user_ok & password_ok).into()
}

/// Why a request was refused before its route ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denied {
    /// Wrong or missing Basic credentials (401 / 20003).
    Unauthorized,
    /// Not our AccountSid, or an unreadable path (404 / 20404).
    NotFound,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized => unauthorized(),
            Denied::NotFound => {
                wire::twilio_error(404, 20404, "The requested resource was not found")
            }
        }
    }
}

/// Authentication, then the path's AccountSid: the checks every Twilio route starts with.
pub(super) fn check_access(
    inner: &Inner,
    headers: &HeaderMap,
    account: Result<&str, ()>,
) -> Result<(), Denied> {
    if !authorized(inner, headers) {
        return Err(Denied::Unauthorized);
    }
    match account {
        Ok(account) if account == inner.config.account_sid => Ok(()),
        _ => Err(Denied::NotFound),
    }
}

/// The create form fields the simulator reads (others are accepted and ignored).
#[derive(Debug, Default)]
struct CreateForm {
    to: Option<String>,
    from: Option<String>,
    body: Option<String>,
    status_callback: Option<String>,
}

impl CreateForm {
    /// Reads the form; the first occurrence of a repeated field wins.
    fn parse(raw: &[u8]) -> Self {
        let mut form = CreateForm::default();
        for (name, value) in wire::form_pairs(raw) {
            let slot = match name.as_ref() {
                "To" => &mut form.to,
                "From" => &mut form.from,
                "Body" => &mut form.body,
                "StatusCallback" => &mut form.status_callback,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        form
    }
}

/// A create that passed validation: what will be stored.
#[derive(Debug)]
struct ValidCreate {
    to: String,
    from: String,
    body: String,
    segments: u32,
    status_callback: Option<String>,
    /// Whether callbacks for this message may actually be sent (loopback policy).
    callback_allowed: bool,
}

/// `+` (optional) then 7–15 digits, not starting with 0: what Twilio accepts as a number.
fn is_phone(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A phone number, a short code (5–6 digits) or an alphanumeric sender ID (≤ 11 characters of
/// letters, digits and spaces, at least one letter).
fn is_sender(text: &str) -> bool {
    let short_code = (5..=6).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && text.bytes().any(|b| b.is_ascii_alphabetic());
    is_phone(text) || short_code || alphanumeric
}

/// Twilio's validation and magic test numbers, in the order Twilio reports them.
fn validate(inner: &Inner, form: CreateForm) -> Result<ValidCreate, ApiError> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let Some(to) = non_empty(form.to) else {
        return Err(ApiError::bad_request(
            21604,
            "A 'To' phone number is required.",
        ));
    };
    let Some(from) = non_empty(form.from) else {
        return Err(ApiError::bad_request(
            21603,
            "A 'From' phone number is required.",
        ));
    };
    let Some(body) = non_empty(form.body) else {
        return Err(ApiError::bad_request(21602, "Message body is required."));
    };
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::bad_request(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    if !is_phone(&to) {
        return Err(ApiError::bad_request(
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        ));
    }
    if !is_sender(&from) || from == "+15005550001" {
        return Err(ApiError::bad_request(
            21212,
            format!(
                "The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."
            ),
        ));
    }
    match from.as_str() {
        "+15005550007" => {
            return Err(ApiError::bad_request(
                21606,
                "The 'From' phone number provided is not a valid, message-capable Twilio phone number for this destination/account.",
            ));
        }
        "+15005550008" => {
            return Err(ApiError::bad_request(
                21611,
                "This 'From' number has exceeded the maximum number of queued messages.",
            ));
        }
        _ => {}
    }
    let magic = match to.as_str() {
        "+15005550001" => Some((
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        )),
        "+15005550002" => Some((
            21612,
            "The 'To' phone number is not currently reachable via SMS.".to_owned(),
        )),
        "+15005550003" => Some((
            21408,
            format!(
                "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."
            ),
        )),
        "+15005550004" => Some((
            21610,
            "Attempt to send to unsubscribed recipient".to_owned(),
        )),
        "+15005550009" => Some((
            21614,
            format!("'To' number {to} is not a valid mobile number"),
        )),
        _ => None,
    };
    if let Some((code, message)) = magic {
        return Err(ApiError::bad_request(code, message));
    }
    let status_callback = non_empty(form.status_callback);
    let mut callback_allowed = false;
    if let Some(url) = &status_callback {
        match reqwest::Url::parse(url) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() =>
            {
                callback_allowed = inner.dispatcher.may_contact(&parsed);
            }
            _ => {
                return Err(ApiError::bad_request(
                    21609,
                    "The StatusCallback URL is not a valid URL.",
                ));
            }
        }
    }
    let segments = crate::domain::segments::count(&body).segments;
    Ok(ValidCreate {
        to,
        from,
        body,
        segments,
        status_callback,
        callback_allowed,
    })
}

/// A fault drawn for one create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    TooManyRequests,
    ServerErrorBefore,
    ServerErrorAfter,
}

fn draw_fault(state: &mut SimState, tuning: &Tuning) -> Fault {
    if tuning.fail_429 <= 0.0 && tuning.fail_5xx <= 0.0 {
        return Fault::None;
    }
    let roll: f64 = state.rng.random();
    if roll < tuning.fail_429 {
        Fault::TooManyRequests
    } else if roll < tuning.fail_429 + tuning.fail_5xx {
        if state.rng.random::<bool>() {
            Fault::ServerErrorAfter
        } else {
            Fault::ServerErrorBefore
        }
    } else {
        Fault::None
    }
}

fn chance(state: &mut SimState, p: f64) -> bool {
    p > 0.0 && state.rng.random::<f64>() < p
}

/// Stores an accepted message and plans its callbacks (all random draws happen here, under
/// the lock, so a seeded run is reproducible for a given request order).
fn insert(
    state: &mut SimState,
    tuning: &Tuning,
    valid: ValidCreate,
    created_at: OffsetDateTime,
    created: Instant,
    delay: std::time::Duration,
) -> (Arc<StoredMessage>, Vec<(Instant, Stage)>, u32) {
    // SIDs come from the unseeded thread RNG: a seeded simulator that restarts must not hand
    // out SIDs Herald already stored; faults and statuses stay reproducible.
    let key = loop {
        let key: u128 = rand::random();
        if !state.by_sid.contains_key(&key) {
            break key;
        }
    };
    let outcome = if tuning.undelivered + tuning.failed > 0.0 {
        let roll: f64 = state.rng.random();
        if roll < tuning.undelivered {
            FinalStatus::Undelivered
        } else if roll < tuning.undelivered + tuning.failed {
            FinalStatus::Failed
        } else {
            FinalStatus::Delivered
        }
    } else {
        FinalStatus::Delivered
    };
    let mut plan = Vec::new();
    let mut dropped = 0;
    if valid.status_callback.is_some() && valid.callback_allowed {
        let (mut sent_at, mut final_at) = (created + delay, created + delay.saturating_mul(2));
        let mut order = [Stage::Sent, Stage::Final];
        if chance(state, tuning.reorder_callbacks) {
            std::mem::swap(&mut sent_at, &mut final_at);
            // Also queued first, so the final status leads even with a zero delay.
            order.reverse();
        }
        for stage in order {
            let due = match stage {
                Stage::Sent => sent_at,
                Stage::Final => final_at,
            };
            if chance(state, tuning.drop_callbacks) {
                dropped += 1;
                continue;
            }
            plan.push((due, stage));
            if chance(state, tuning.duplicate_callbacks) {
                plan.push((due + delay / 2, stage));
            }
        }
    }
    let message = Arc::new(StoredMessage {
        sid: format!("SM{key:032x}"),
        to: valid.to,
        from: valid.from,
        body: valid.body,
        segments: valid.segments,
        status_callback: valid.status_callback,
        created_at,
        created,
        outcome,
    });
    let index = state.messages.len();
    state.messages.push(Arc::clone(&message));
    state.by_sid.insert(key, index);
    match state.by_to.get_mut(&message.to) {
        Some(indices) => indices.push(index),
        None => {
            state.by_to.insert(message.to.clone(), vec![index]);
        }
    }
    (message, plan, dropped)
}

/// `POST …/Messages.json`: validate, maybe inject a fault, store, schedule callbacks, answer 201.
async fn create(
    State(sim): State<Simulator>,
    account: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let inner = &*sim.inner;
    let account = account.as_ref().map(|Path(a)| a.as_str()).map_err(|_| ());
    if let Err(denied) = check_access(inner, &headers, account) {
        return denied.into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return wire::twilio_error(
                rejection.status().as_u16(),
                20001,
                "Unreadable request body",
            );
        }
    };
    let validated = validate(inner, CreateForm::parse(&body));
    let created_at = OffsetDateTime::now_utc();
    let created = Instant::now();
    let tuning = inner.tuning;
    let delay = inner.config.callback_delay;

    let (reply, slow) = {
        let mut state = sim.lock();
        let fault = draw_fault(&mut state, &tuning);
        let slow = chance(&mut state, tuning.slow);
        let reply = match (fault, validated) {
            (Fault::TooManyRequests, _) => Reply::Error(ApiError {
                status: 429,
                code: 20429,
                message: "Too Many Requests".to_owned(),
            }),
            (Fault::ServerErrorBefore, _) => Reply::ServerError,
            (_, Err(error)) => Reply::Error(error),
            (fault, Ok(valid)) => {
                let (message, plan, dropped) =
                    insert(&mut state, &tuning, valid, created_at, created, delay);
                Reply::Created {
                    message,
                    plan,
                    dropped,
                    server_error: fault == Fault::ServerErrorAfter,
                }
            }
        };
        (reply, slow)
    };

    let response = match reply {
        Reply::Error(error) => error.into_response(),
        Reply::ServerError => wire::twilio_error(500, 20500, "Internal Server Error"),
        Reply::Created {
            message,
            plan,
            dropped,
            server_error,
        } => {
            let dispatcher = &inner.dispatcher;
            for _ in 0..dropped {
                dispatcher.note_dropped();
            }
            if message.status_callback.is_some() && plan.is_empty() && dropped == 0 {
                // Not loopback and not allowed: both callbacks are skipped.
                dispatcher.note_skipped_remote();
                dispatcher.note_skipped_remote();
            }
            if !plan.is_empty() {
                dispatcher.schedule(plan.into_iter().map(|(due, stage)| {
                    (
                        due,
                        Job {
                            message: Arc::clone(&message),
                            stage,
                            attempt: 0,
                        },
                    )
                }));
            }
            if server_error {
                wire::twilio_error(500, 20500, "Internal Server Error")
            } else {
                wire::json(
                    StatusCode::CREATED,
                    &message_json(inner, &message, Instant::now()),
                )
            }
        }
    };
    if slow {
        tokio::time::sleep(inner.config.slow_delay).await;
    }
    response
}

/// What the create handler decided under the lock.
enum Reply {
    Error(ApiError),
    ServerError,
    Created {
        message: Arc<StoredMessage>,
        plan: Vec<(Instant, Stage)>,
        dropped: u32,
        server_error: bool,
    },
}

/// `SM` + 32 lowercase hex digits → the SID index key.
fn sid_key(sid: &str) -> Option<u128> {
    let hex = sid.strip_prefix("SM")?;
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}

/// `GET …/Messages/{Sid}.json`: the message with its current status, whether or not its
/// callbacks were sent (dropped ones too).
async fn fetch(
    State(sim): State<Simulator>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let inner = &*sim.inner;
    let (account, file) = match &path {
        Ok(Path((account, file))) => (Ok(account.as_str()), file.as_str()),
        Err(_) => (Err(()), ""),
    };
    if let Err(denied) = check_access(inner, &headers, account) {
        return denied.into_response();
    }
    let message = file
        .strip_suffix(".json")
        .and_then(sid_key)
        .and_then(|key| {
            let state = sim.lock();
            state
                .by_sid
                .get(&key)
                .and_then(|&index| state.messages.get(index))
                .cloned()
        });
    match message {
        Some(message) => wire::json(
            StatusCode::OK,
            &message_json(inner, &message, Instant::now()),
        ),
        None => wire::twilio_error(404, 20404, "The requested resource was not found"),
    }
}

/// The list query, parsed.
#[derive(Debug, Default)]
struct ListQuery {
    to: Option<String>,
    from: Option<String>,
    date_sent: Option<time::Date>,
    date_sent_after: Option<time::Date>,
    date_sent_before: Option<time::Date>,
    page_size: usize,
    page: usize,
    /// From `PageToken` (`PA{index}`): only messages older than this index.
    cursor: Option<usize>,
}

impl ListQuery {
    fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut query = ListQuery {
            page_size: DEFAULT_PAGE_SIZE,
            ..ListQuery::default()
        };
        let day = |name: &str, value: &str| {
            wire::parse_day(value).ok_or_else(|| {
                ApiError::bad_request(20001, format!("Invalid {name}: expected YYYY-MM-DD"))
            })
        };
        for (name, value) in wire::form_pairs(raw.as_bytes()) {
            let value = value.as_ref();
            match name.as_ref() {
                "To" => query.to = Some(value.to_owned()),
                "From" => query.from = Some(value.to_owned()),
                "DateSent" => query.date_sent = Some(day("DateSent", value)?),
                "DateSent>" => query.date_sent_after = Some(day("DateSent>", value)?),
                "DateSent<" => query.date_sent_before = Some(day("DateSent<", value)?),
                "PageSize" => {
                    let size: usize = value.trim().parse().map_err(|_| {
                        ApiError::bad_request(
                            20001,
                            "Invalid PageSize: expected a positive integer",
                        )
                    })?;
                    if size == 0 {
                        return Err(ApiError::bad_request(
                            20001,
                            "Invalid PageSize: expected a positive integer",
                        ));
                    }
                    query.page_size = size.min(MAX_PAGE_SIZE);
                }
                "Page" => {
                    query.page = value.trim().parse().map_err(|_| {
                        ApiError::bad_request(
                            20001,
                            "Invalid Page: expected a non-negative integer",
                        )
                    })?;
                }
                "PageToken" => {
                    let cursor = value
                        .strip_prefix("PA")
                        .and_then(|n| n.parse::<usize>().ok())
                        .ok_or_else(|| ApiError::bad_request(20001, "Invalid PageToken"))?;
                    query.cursor = Some(cursor);
                }
                _ => {}
            }
        }
        Ok(query)
    }

    fn matches(&self, message: &StoredMessage) -> bool {
        let day = message.created_at.date();
        self.from.as_deref().is_none_or(|f| f == message.from)
            && self.to.as_deref().is_none_or(|t| t == message.to)
            && self.date_sent.is_none_or(|d| day == d)
            && self.date_sent_after.is_none_or(|d| day >= d)
            && self.date_sent_before.is_none_or(|d| day <= d)
    }

    /// The filters as query pairs, for `uri` and `next_page_uri`.
    fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(to) = &self.to {
            pairs.push(("To", to.clone()));
        }
        if let Some(from) = &self.from {
            pairs.push(("From", from.clone()));
        }
        for (name, day) in [
            ("DateSent", self.date_sent),
            ("DateSent>", self.date_sent_after),
            ("DateSent<", self.date_sent_before),
        ] {
            if let Some(day) = day {
                pairs.push((name, wire::format_day(day)));
            }
        }
        pairs.push(("PageSize", self.page_size.to_string()));
        pairs
    }
}

/// One list page as Twilio shapes it.
#[derive(Serialize)]
struct ListPage<'a> {
    messages: Vec<MessageJson<'a>>,
    next_page_uri: Option<String>,
    previous_page_uri: Option<String>,
    first_page_uri: String,
    uri: String,
    page: usize,
    page_size: usize,
    start: usize,
    end: usize,
}

/// `GET …/Messages.json`: newest first, filtered, paged with `PageToken` cursors that stay
/// stable while new messages arrive.
async fn list(
    State(sim): State<Simulator>,
    account: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let inner = &*sim.inner;
    let account = account.as_ref().map(|Path(a)| a.as_str()).map_err(|_| ());
    if let Err(denied) = check_access(inner, &headers, account) {
        return denied.into_response();
    }
    let query = match ListQuery::parse(raw.as_deref().unwrap_or_default()) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };

    let (page, next_cursor) = {
        let state = sim.lock();
        let upper = query
            .cursor
            .unwrap_or(state.messages.len())
            .min(state.messages.len());
        let indices: Box<dyn Iterator<Item = usize> + '_> = match &query.to {
            Some(to) => match state.by_to.get(to) {
                Some(indices) => {
                    let end = indices.partition_point(|&i| i < upper);
                    Box::new(indices[..end].iter().rev().copied())
                }
                None => Box::new(std::iter::empty()),
            },
            None => Box::new((0..upper).rev()),
        };
        let mut skip = if query.cursor.is_some() {
            0
        } else {
            query.page.saturating_mul(query.page_size)
        };
        let mut page: Vec<Arc<StoredMessage>> = Vec::with_capacity(query.page_size.min(256));
        let mut last = None;
        let mut more = false;
        for index in indices {
            let Some(message) = state.messages.get(index) else {
                continue;
            };
            if !query.matches(message) {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if page.len() == query.page_size {
                more = true;
                break;
            }
            page.push(Arc::clone(message));
            last = Some(index);
        }
        (page, last.filter(|_| more))
    };

    let path = format!(
        "/{API_VERSION}/Accounts/{}/Messages.json",
        inner.config.account_sid
    );
    let filters = query.filter_pairs();
    let with = |extra: &[(&'static str, String)]| {
        let pairs: Vec<(&str, &str)> = filters
            .iter()
            .chain(extra)
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        format!("{path}?{}", wire::encode_query(&pairs))
    };
    let first_page_uri = with(&[("Page", "0".to_owned())]);
    let mut current = vec![("Page", query.page.to_string())];
    if let Some(cursor) = query.cursor {
        current.push(("PageToken", format!("PA{cursor}")));
    }
    let uri = with(&current);
    let next_page_uri = next_cursor.map(|cursor| {
        with(&[
            ("Page", (query.page + 1).to_string()),
            ("PageToken", format!("PA{cursor}")),
        ])
    });
    let now = Instant::now();
    let start = query.page.saturating_mul(query.page_size);
    let body = ListPage {
        end: (start + page.len()).saturating_sub(1).max(start),
        messages: page.iter().map(|m| message_json(inner, m, now)).collect(),
        next_page_uri,
        previous_page_uri: None,
        first_page_uri,
        uri,
        page: query.page,
        page_size: query.page_size,
        start,
    };
    wire::json(StatusCode::OK, &body)
}

/// Twilio's `subresource_uris`.
#[derive(Serialize)]
struct SubresourceUris {
    media: String,
}

/// A Message resource exactly as Twilio's 2010 API serialises it (numbers as strings).
#[derive(Serialize)]
struct MessageJson<'a> {
    account_sid: &'a str,
    api_version: &'static str,
    body: &'a str,
    date_created: String,
    date_sent: String,
    date_updated: String,
    direction: &'static str,
    error_code: Option<i64>,
    error_message: Option<&'static str>,
    from: &'a str,
    messaging_service_sid: Option<&'a str>,
    num_media: &'static str,
    num_segments: String,
    price: Option<&'a str>,
    price_unit: &'static str,
    sid: &'a str,
    status: &'static str,
    subresource_uris: SubresourceUris,
    to: &'a str,
    uri: String,
}

fn message_json<'a>(inner: &'a Inner, m: &'a StoredMessage, now: Instant) -> MessageJson<'a> {
    let current = m.status_at(now, inner.config.callback_delay);
    let created = wire::rfc2822(m.created_at);
    let base = format!(
        "/{API_VERSION}/Accounts/{}/Messages/{}",
        inner.config.account_sid, m.sid
    );
    MessageJson {
        account_sid: &inner.config.account_sid,
        api_version: API_VERSION,
        body: &m.body,
        date_sent: created.clone(),
        date_updated: wire::rfc2822(current.since),
        date_created: created,
        direction: "outbound-api",
        error_code: current.error.map(|(code, _)| code),
        error_message: current.error.map(|(_, message)| message),
        from: &m.from,
        messaging_service_sid: None,
        num_media: "0",
        num_segments: m.segments.to_string(),
        price: None,
        price_unit: "USD",
        sid: &m.sid,
        status: current.status,
        subresource_uris: SubresourceUris {
            media: format!("{base}/Media.json"),
        },
        to: &m.to,
        uri: format!("{base}.json"),
    }
}

/// One journal line, serialised straight from the stored message.
#[derive(Serialize)]
struct JournalLine<'a> {
    sid: &'a str,
    to: &'a str,
    from: &'a str,
    body: &'a str,
    segments: u32,
    received_at: String,
}

/// `GET /sim/messages`: every accepted create since the last clear, oldest first.
async fn journal(State(sim): State<Simulator>) -> Response {
    let messages: Vec<Arc<StoredMessage>> = {
        let state = sim.lock();
        state.messages[state.journal_start..].to_vec()
    };
    let lines: Vec<JournalLine<'_>> = messages
        .iter()
        .map(|m| JournalLine {
            sid: &m.sid,
            to: &m.to,
            from: &m.from,
            body: &m.body,
            segments: m.segments,
            received_at: wire::rfc3339_micros(m.created_at),
        })
        .collect();
    wire::json(StatusCode::OK, &lines)
}

/// `DELETE /sim/messages`: empties the journal (messages stay fetchable).
async fn clear_journal(State(sim): State<Simulator>) -> Response {
    sim.clear_journal();
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_and_sender_shapes() {
        for ok in ["+447700900123", "+15005550006", "4477009001"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "+0447700900",
            "+12345",
            "+1234567890123456",
            "+44 7700",
            "abc",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
        for ok in ["+15005550006", "12345", "Herald", "ACME 2"] {
            assert!(is_sender(ok), "{ok}");
        }
        for bad in ["", "123", "TwelveChars1", "é", "+44-77"] {
            assert!(!is_sender(bad), "{bad}");
        }
    }

    #[test]
    fn sid_keys() {
        assert_eq!(sid_key("SM0000000000000000000000000000000a"), Some(10));
        assert_eq!(sid_key("SM0000000000000000000000000000000A"), None);
        assert_eq!(sid_key("MM0000000000000000000000000000000a"), None);
        assert_eq!(sid_key("SM"), None);
        assert_eq!(sid_key("SMé000000000000000000000000000000"), None);
    }

    #[test]
    fn list_query_parses_twilio_names() {
        let q = ListQuery::parse(
            "To=%2B447700900123&DateSent%3E=2026-01-02&DateSent<=2026-01-03&PageSize=5000&Page=2&PageToken=PA17",
        )
        .unwrap();
        assert_eq!(q.to.as_deref(), Some("+447700900123"));
        assert_eq!(q.date_sent_after, Some(time::macros::date!(2026 - 01 - 02)));
        assert_eq!(
            q.date_sent_before,
            Some(time::macros::date!(2026 - 01 - 03))
        );
        assert_eq!(q.page_size, MAX_PAGE_SIZE);
        assert_eq!((q.page, q.cursor), (2, Some(17)));
        for bad in [
            "PageSize=0",
            "PageSize=x",
            "Page=-1",
            "PageToken=zz",
            "DateSent=yesterday",
        ] {
            assert!(ListQuery::parse(bad).is_err(), "{bad}");
        }
    }
}
