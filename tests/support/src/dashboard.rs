//! The dashboard over plain HTTP, as the tests drive it: signing in through the login form,
//! and reading the hidden fields and cookies its pages carry.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Response};

use crate::TestApp;

/// The value of the first hidden input named `name` on `page`.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The `name=value` pair of the cookie named `name` that `r` sets, if it sets one.
pub fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// Signs in as the bootstrap user through the login form, as a browser without JavaScript
/// would: a client that follows no redirect, the session cookie (`name=value`), and the
/// session's CSRF token as `page`'s form carries it.
pub async fn signed_in(app: &TestApp, page: &str) -> (Client, String, String) {
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/login")).send().await.unwrap();
    let jar = set_cookie(&r, "herald_login_csrf").expect("the login form's cookie");
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    let r = client
        .post(app.url("/login"))
        .header(COOKIE, jar)
        .form(&[
            ("username", app.creds.user.as_str()),
            ("password", app.creds.password.as_str()),
            ("csrf", csrf.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signing in");
    let session = set_cookie(&r, "herald_session").expect("a session cookie");
    let r = client
        .get(app.url(page))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {page}");
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    (client, session, csrf)
}
