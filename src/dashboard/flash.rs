//! One-shot "flash" messages carried across a redirect in the `herald_flash` cookie.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::signed_in::Dashboard;

/// A message for the next page shown (after a redirect).
const FLASH_COOKIE: &str = "herald_flash";

/// How a flash message is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    /// Something was done.
    Success,
    /// Something needs attention.
    Warning,
}

/// A one-shot message shown at the top of the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    /// Success or warning.
    pub kind: FlashKind,
    /// The message.
    pub text: String,
}

/// The flash message that arrived with this request, if any.
#[derive(Debug, Clone, Default)]
pub struct IncomingFlash(pub Option<Flash>);

/// A response extension: set this flash for the next page.
#[derive(Debug, Clone)]
struct SetFlash(Flash);

/// `response` with a message for the next page shown.
pub fn with_flash(
    response: impl IntoResponse,
    kind: FlashKind,
    text: impl Into<String>,
) -> Response {
    let mut r = response.into_response();
    r.extensions_mut().insert(SetFlash(Flash {
        kind,
        text: text.into(),
    }));
    r
}

/// A 303 redirect to `to` with a message for the page there.
pub fn redirect_with(to: &str, kind: FlashKind, text: impl Into<String>) -> Response {
    with_flash(Redirect::to(to), kind, text)
}

fn encode_flash(f: &Flash) -> String {
    let kind = match f.kind {
        FlashKind::Success => 's',
        FlashKind::Warning => 'w',
    };
    let text: String = f.text.chars().take(500).collect();
    format!("{kind}{}", URL_SAFE_NO_PAD.encode(text))
}

fn decode_flash(raw: &str) -> Option<Flash> {
    let kind = match raw.chars().next()? {
        's' => FlashKind::Success,
        'w' => FlashKind::Warning,
        _ => return None,
    };
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&raw[1..]).ok()?).ok()?;
    Some(Flash { kind, text })
}

/// Moves flash messages through their cookie: read into the request, set from a response
/// extension, and cleared once an HTML page has shown it.
pub async fn flash_layer(
    State(dashboard): State<Arc<Dashboard>>,
    mut req: Request,
    next: Next,
) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let incoming = jar.get(FLASH_COOKIE).and_then(|c| decode_flash(c.value()));
    let had_flash = incoming.is_some();
    req.extensions_mut().insert(IncomingFlash(incoming));
    let mut res = next.run(req).await;
    let set = res.extensions_mut().remove::<SetFlash>();
    let cookie = match set {
        Some(SetFlash(flash)) => Some(dashboard.cookie(
            FLASH_COOKIE,
            encode_flash(&flash),
            Some(time::Duration::minutes(5)),
        )),
        None if had_flash && res.status().is_success() && is_html(&res) => {
            Some(dashboard.removal(FLASH_COOKIE))
        }
        None => None,
    };
    if let Some(cookie) = cookie
        && let Ok(v) = HeaderValue::from_str(&cookie.to_string())
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn is_html(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_round_trips() {
        let f = Flash {
            kind: FlashKind::Warning,
            text: "Campaign «March» cancelled; 3 not sent".into(),
        };
        let back = decode_flash(&encode_flash(&f)).unwrap();
        assert_eq!(back.kind, FlashKind::Warning);
        assert_eq!(back.text, f.text);
        assert!(decode_flash("xAAA").is_none());
        assert!(decode_flash("").is_none());
    }
}
