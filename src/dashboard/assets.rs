//! The stylesheet and script, embedded in the binary and served under a content-hash URL
//! (`/static/<hash>/app.css`) with a one-year immutable cache: a new release changes the hash,
//! so browsers never run a stale script against new pages.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The one stylesheet.
const CSS: &str = include_str!("../../static/app.css");
/// The one script (live counts, character counter, local times, drag and drop).
const JS: &str = include_str!("../../static/app.js");
/// The icon shown in browser tabs.
const ICON: &str = include_str!("../../static/icon.svg");

struct Asset {
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.css",
        body: CSS,
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "app.js",
        body: JS,
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "icon.svg",
        body: ICON,
        content_type: "image/svg+xml",
    },
];

/// First 12 hex digits of the SHA-256 of all assets: the version in their URLs.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for a in &ASSETS {
        h.update(a.name.as_bytes());
        h.update(a.body.as_bytes());
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
});

static CSS_URL: LazyLock<String> = LazyLock::new(|| format!("/static/{}/app.css", *VERSION));
static JS_URL: LazyLock<String> = LazyLock::new(|| format!("/static/{}/app.js", *VERSION));
static ICON_URL: LazyLock<String> = LazyLock::new(|| format!("/static/{}/icon.svg", *VERSION));

/// URL of the stylesheet.
pub fn css_url() -> &'static str {
    &CSS_URL
}

/// URL of the script.
pub fn js_url() -> &'static str {
    &JS_URL
}

/// Serves an asset of the current version; other versions are 404 (pages are never cached,
/// so a page always asks for the current one).
pub async fn serve(Path((version, file)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if version != *VERSION {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

/// `/favicon.ico`, which browsers ask for on their own: the SVG icon.
pub async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        ICON,
    )
        .into_response()
}

/// URL of the icon.
pub fn icon_url() -> &'static str {
    &ICON_URL
}
