//! Extractors that turn requests into typed values, answering bad input with the JSON error shape.

use axum::body::HttpBody as _;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::{DeserializeOwned, Error as _, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::domain::ids::AccountId;
use crate::domain::{FieldError, input};
use crate::service::App;
use crate::service::{ServiceError, accounts};

/// A JSON body, with type errors reported at their field path (`recipients[3].phone`).
/// Also keeps the SHA-256 of the raw body, which idempotency keys are checked against.
pub struct ApiJson<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 of the body bytes.
    pub body_hash: Vec<u8>,
}

impl<T: DeserializeOwned> FromRequest<App> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, Self::Rejection> {
        let body = JsonBody::from_request(req, state).await?;
        let parse_started = std::time::Instant::now();
        let value = parse_json(&body.bytes)?;
        tracing::debug!(
            bytes = body.bytes.len(),
            parse_ms = parse_started.elapsed().as_millis() as u64,
            "JSON body parsed"
        );
        Ok(ApiJson {
            value,
            body_hash: body.body_hash,
        })
    }
}

/// A JSON body read but not parsed, for handlers that parse it into values borrowing from
/// it ([`parse_json`] with a borrowing type): a 100,000-recipient create then holds the
/// body once instead of a copy of every string in it. Also the SHA-256 of the body.
pub struct JsonBody {
    /// The body as sent.
    pub bytes: Vec<u8>,
    /// SHA-256 of the body bytes.
    pub body_hash: Vec<u8>,
}

impl FromRequest<App> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.settings.max_body_bytes;
        let bytes = read_body(req, limit)
            .await
            .ok_or(ApiError::PayloadTooLarge(limit))?;
        let body_hash = Sha256::digest(&bytes).to_vec();
        Ok(JsonBody { bytes, body_hash })
    }
}

/// Reads a body of at most `limit` bytes into one buffer sized from `Content-Length`, so a
/// large body is held once (collecting its frames and then joining them held it twice).
/// `None` when it is larger or cannot be read (both answered 413, as before).
async fn read_body(req: Request, limit: usize) -> Option<Vec<u8>> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return None;
    }
    let mut body = req.into_body();
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame.ok()?.into_data() {
            if bytes.len() + data.len() > limit {
                return None;
            }
            bytes.extend_from_slice(&data);
        }
    }
    Some(bytes)
}

/// True when the JSON text escapes a NUL character (`\u0000`) in a string: PostgreSQL cannot
/// store one, and no SMS field has a use for it.
fn escapes_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if *b == b'u'
            && backslashes % 2 == 1
            && bytes.get(i + 1..i + 5).is_some_and(|h| h == b"0000")
        {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// Parses JSON, splitting syntax errors (400) from shape errors (422 with the path). A struct
/// is read only from a JSON object, never from an array (422 on `body`, see [`TopLevel`]).
/// `T` may borrow from `bytes`.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    if escapes_nul(bytes) {
        return Err(ApiError::Service(ServiceError::Validation(vec![
            FieldError::new("body", format!("text {}", input::NUL_MESSAGE)),
        ])));
    }
    // JSON is UTF-8 (RFC 8259). serde_json skips an ignored value's bytes unchecked, so
    // without this a body with bad bytes in an ignored field was read by preview and refused
    // by create (found by fuzzing, fuzz/fuzz_targets/campaign_json.rs).
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ApiError::MalformedJson(format!(
            "the body is not valid JSON: it is not UTF-8 (byte {})",
            e.valid_up_to()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(TopLevel(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                ApiError::Service(ServiceError::Validation(vec![FieldError::new(
                    field,
                    inner.to_string(),
                )]))
            }
            _ => ApiError::MalformedJson(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// The top level of a body: as the inner deserializer, except that a struct (a JSON object)
/// is not read from a JSON array. Why: serde reads a sequence into a struct field by field,
/// so `["arr-agent", "prompt"]` would be an agent and `[null, null]` an empty update.
struct TopLevel<D>(D);

/// Forwards `Deserializer` methods to the inner deserializer.
macro_rules! forward_to_inner {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(
                self,
                $($arg: $ty,)*
                visitor: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for TopLevel<D> {
    type Error = D::Error;

    forward_to_inner! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_struct(name, fields, ObjectOnly(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A struct's visitor that refuses a sequence (see [`TopLevel`]); the same words otherwise.
struct ObjectOnly<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for ObjectOnly<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<V::Value, A::Error> {
        Err(A::Error::invalid_type(Unexpected::Seq, &"a JSON object"))
    }
}

/// Why a body read with [`parse_json_listing`] was not parsed.
pub enum Unparsed<M> {
    /// Refused as is: malformed JSON (400), a NUL character, or a shape error the second
    /// reading had nothing to add to.
    Refused(ApiError),
    /// Read again field by field: every problem, for the caller to report.
    Misshapen(M),
}

/// [`parse_json`], and when the body has the wrong shape (a 422 naming the first bad field),
/// `relist` reads it again for every bad field (`None`: nothing to add, the first error
/// stands). Only the failure path pays for the second reading.
pub fn parse_json_listing<'a, T: Deserialize<'a>, M>(
    bytes: &'a [u8],
    relist: impl FnOnce(&'a [u8]) -> Option<M>,
) -> Result<T, Unparsed<M>> {
    match parse_json(bytes) {
        Ok(value) => Ok(value),
        Err(e @ ApiError::Service(ServiceError::Validation(_))) if !escapes_nul(bytes) => {
            match relist(bytes) {
                Some(m) => Err(Unparsed::Misshapen(m)),
                None => Err(Unparsed::Refused(e)),
            }
        }
        Err(e) => Err(Unparsed::Refused(e)),
    }
}

/// The input rules on every API request's path and query string, before anything reads them:
/// a NUL character (`%00`) in the query string is a 422 naming the parameter; in the path it
/// names no object, so 404 (as any undecodable id, see [`ApiPath`]).
pub async fn input_rules(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if input::path_has_nul(req.uri().path()) {
        return ApiError::RouteNotFound.into_response();
    }
    if let Err(e) = input::check_urlencoded(req.uri().query().unwrap_or("").as_bytes()) {
        return ApiError::from(ServiceError::Validation(vec![e])).into_response();
    }
    next.run(req).await
}

/// A query string, with parse errors as 400 JSON.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(query).map(ApiQuery)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::BadQuery("the query string is malformed".into()))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::BadQuery(e.body_text()))
}

/// The account an API key authenticates (`Authorization: Bearer KEY_ID:KEY_SECRET`).
pub struct Authenticated(pub AccountId);

impl FromRequestParts<App> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or(ServiceError::Unauthorized)?;
        let account = accounts::authenticate(state, token).await?;
        Ok(Authenticated(account))
    }
}

/// A path parameter; undecodable ones (bad percent-encoding, invalid UTF-8) name no object, so 404.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::RouteNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::{ApiError, escapes_nul, parse_json};
    use crate::domain::campaign::{CampaignRequest, RecipientsJson};

    /// Found by fuzzing: bad UTF-8 inside a field create and preview ignore (`converted_from`)
    /// was refused by create's borrowed reading but accepted by preview's owned one. Both
    /// refuse it now, as malformed JSON (400).
    #[test]
    fn a_body_that_is_not_utf8_is_malformed_for_both_readings() {
        let body =
            b"{\"recipients\": [{\"phone\": \"+447700900123\", \"converted_from\": \"07\xff\"}]}";
        let owned = parse_json::<CampaignRequest>(body);
        let borrowed = parse_json::<CampaignRequest<RecipientsJson<'_>>>(body);
        assert!(matches!(owned, Err(ApiError::MalformedJson(_))));
        assert!(matches!(borrowed, Err(ApiError::MalformedJson(_))));
        let fine = br#"{"recipients": [{"phone": "+447700900123", "converted_from": "07"}]}"#;
        assert!(parse_json::<CampaignRequest>(fine).is_ok());
        assert!(parse_json::<CampaignRequest<RecipientsJson<'_>>>(fine).is_ok());
    }

    #[test]
    fn nul_escapes_are_found_but_escaped_backslashes_are_not() {
        assert!(escapes_nul(br#"{"name": "a\u0000b"}"#));
        assert!(escapes_nul(b"{\"name\": \"a\\u0000\"}"));
        assert!(!escapes_nul(b"{\"name\": \"a\\\\u0000\"}"));
        assert!(!escapes_nul(b"{\"name\": \"u0000\"}"));
        assert!(!escapes_nul(b"{\"name\": \"\\u00e9\"}"));
    }
}
