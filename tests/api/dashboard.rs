//! The dashboard over plain HTTP: sign-in, sessions and CSRF, routing next to the API, and a
//! campaign created through the forms that the API sees exactly as previewed.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use herald_test_support::dashboard::hidden;
use herald_test_support::{TestApp, json, spawn_app, spawn_app_with, spawn_sending_app};

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
struct Visitor<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn keep_cookies(&mut self, r: &Response) {
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            let expired = v.contains("Max-Age=0");
            if !expired {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.app.url(path))
            .header(COOKIE, self.cookie_header());
        if let Some((content_type, bytes)) = body {
            req = req.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let r = req.send().await.expect("request");
        self.keep_cookies(&r);
        r
    }

    async fn get(&mut self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    async fn page(&mut self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            Method::POST,
            path,
            Some((
                "application/x-www-form-urlencoded".into(),
                body.into_bytes(),
            )),
        )
        .await
    }

    async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Response {
        let boundary = "----herald-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (file_name, bytes) = file.unwrap_or(("", b""));
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"recipients_file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            Method::POST,
            path,
            Some((format!("multipart/form-data; boundary={boundary}"), body)),
        )
        .await
    }

    /// Posts the sign-in form with these fields (and no `next`).
    async fn post_login(&mut self, user: &str, password: &str, csrf: &str) -> Response {
        self.post_form(
            "/login",
            &[("username", user), ("password", password), ("csrf", csrf)],
        )
        .await
    }

    /// Signs in as the bootstrap user; returns the session's CSRF token.
    async fn sign_in(&mut self) -> String {
        let (user, password) = (self.app.creds.user.clone(), self.app.creds.password.clone());
        self.sign_in_as(&user, &password).await
    }

    /// Signs in; returns the session's CSRF token.
    async fn sign_in_as(&mut self, user: &str, password: &str) -> String {
        let page = self.page("/login").await;
        let csrf = hidden(&page, "csrf");
        let r = self
            .post_form(
                "/login",
                &[
                    ("username", user),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", "/campaigns"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()[LOCATION], "/campaigns");
        let page = self.page("/campaigns").await;
        hidden(&page, "csrf")
    }
}

fn location(r: &Response) -> String {
    r.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_unknown_paths_still_404() {
    let app = spawn_app().await;
    let mut v = Visitor::new(&app);
    let r = v.get("/").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    let r = v.get("/campaigns/new?x=1").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=/campaigns/new%3Fx%3D1");
    let r = v.get("/campaigns/live").await;
    assert_eq!(r.status(), 401, "the page script gets JSON, not a redirect");

    // Unknown paths: HTML for the dashboard, the API's JSON under /v1 and /webhooks.
    let r = v.get("/no-such-page").await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    for path in ["/v1/nothing-here", "/v1", "/webhooks/nope"] {
        let r = v.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(json(r).await["error"]["code"], "not_found", "{path}");
    }
    let r = app
        .request(Method::POST, "/v1/nothing")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The API's own routes are untouched.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/v1/sms/campaigns").await.status(), 200);

    // Pages carry protective headers; assets are cached for good under a versioned URL.
    let r = v.get("/login").await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    let css = page
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|s| s.starts_with("/static/") && s.ends_with("app.css"))
        .unwrap()
        .to_owned();
    let r = v.get(&css).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(v.get("/static/0000/app.css").await.status(), 404);
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );
}

#[tokio::test]
async fn sign_in_is_protected_and_does_not_reveal_users() {
    let app = spawn_app().await;
    let mut v = Visitor::new(&app);
    let page = v.page("/login").await;
    let csrf = hidden(&page, "csrf");

    // Without the form's token (a cross-site post), nothing happens.
    let mut stranger = Visitor::new(&app);
    let r = stranger
        .post_login(&app.creds.user, &app.creds.password, "x")
        .await;
    assert_eq!(r.status(), 403);
    assert!(stranger.cookies.iter().all(|(n, _)| n != "herald_session"));

    // A wrong password and an unknown user read the same.
    let wrong = v.post_login(&app.creds.user, "nope", &csrf).await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let csrf = hidden(&wrong, "csrf");
    let unknown = v.post_login("nobody", "nope", &csrf).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    let message = "The user name or password is not right";
    assert!(wrong.contains(message) && unknown.contains(message));

    // The session cookie: HttpOnly, SameSite, not readable by scripts; not Secure over http.
    let csrf = hidden(&unknown, "csrf");
    let r = v
        .post_form(
            "/login",
            &[
                ("username", &app.creds.user),
                ("password", &app.creds.password),
                ("csrf", &csrf),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/", "no open redirect");
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("herald_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("herald_session=");
    assert_eq!(token.len(), 43, "256 random bits");

    // Repeated failures for one user are refused for a while, even with the right password.
    let mut attacker = Visitor::new(&app);
    for _ in 0..10 {
        let page = attacker.page("/login").await;
        let csrf = hidden(&page, "csrf");
        attacker.post_login(&app.creds.user, "guess", &csrf).await;
    }
    let page = attacker.page("/login").await;
    let csrf = hidden(&page, "csrf");
    let r = attacker
        .post_login(&app.creds.user, &app.creds.password, &csrf)
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.public_url = Some("https://herald.example.com".into());
    })
    .await;
    let mut v = Visitor::new(&app);
    let r = v.get("/login").await;
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_sign_out_ends_it() {
    let app = spawn_app().await;
    let mut v = Visitor::new(&app);
    let csrf = v.sign_in().await;
    let r = v
        .post_form(
            "/agents",
            &[("csrf", "forged"), ("name", "X"), ("system_prompt", "Y")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = v
        .post_form("/agents", &[("name", "X"), ("system_prompt", "Y")])
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(json(app.get("/v1/agents").await).await["agents"], json!([]));
    let r = v
        .post_form(
            "/agents",
            &[
                ("csrf", &csrf),
                ("name", "Reception"),
                ("system_prompt", "Be kind."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        json(app.get("/v1/agents").await).await["agents"][0]["name"],
        "Reception"
    );

    // Error pages keep the signed-in frame.
    for path in [
        "/campaigns/smsc_0000000000000000",
        "/agents/agent_nope",
        "/no-such-page",
    ] {
        let r = v.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("Page not found") && page.contains("Sign out"),
            "{path}"
        );
    }

    // Sign-out needs the token too, then the cookie no longer works.
    let session = v.cookie_header();
    assert_eq!(
        v.post_form("/logout", &[("csrf", "nope")]).await.status(),
        403
    );
    let r = v.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    let r = v
        .http
        .get(app.url("/campaigns"))
        .header(COOKIE, session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the old cookie is dead");
}

#[tokio::test]
async fn password_change_keeps_this_browser_and_signs_out_the_others() {
    let app = spawn_app().await;
    let mut a = Visitor::new(&app);
    let mut b = Visitor::new(&app);
    let csrf = a.sign_in().await;
    b.sign_in().await;
    let r = a
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "wrong"),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("is not your current password") && page.contains("at least 10 characters")
    );
    let r = a
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", &app.creds.password),
                ("new_password", "correct horse battery staple"),
                ("confirm_password", "correct horse battery staple"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        a.get("/campaigns").await.status(),
        200,
        "this browser stays in"
    );
    assert_eq!(
        b.get("/campaigns").await.status(),
        303,
        "the other is signed out"
    );
}

#[tokio::test]
async fn a_campaign_from_the_forms_is_what_was_previewed() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    app.store
        .add_opt_out(
            &herald::domain::ids::AccountId::from_trusted(app.creds.account_id.clone()),
            "+447111000003",
            "test",
            None,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let mut v = Visitor::new(&app);
    let csrf = v.sign_in().await;

    // Problems the form itself catches: nothing is parsed or stored.
    let r = v
        .post_multipart(
            "/campaigns/new",
            &[("csrf", &csrf), ("name", ""), ("message_template", "")],
            None,
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    for problem in [
        "Enter a name for the campaign.",
        "Choose at least one number to send from.",
        "Write the message.",
        "Paste some phone numbers or choose a CSV file.",
    ] {
        assert!(page.contains(problem), "{problem}");
    }
    // A file without any phone column is refused with the parser's reason.
    let r = v
        .post_multipart(
            "/campaigns/new",
            &[
                ("csrf", &csrf),
                ("name", "X"),
                ("from_numbers", &from),
                ("message_template", "Hi"),
            ],
            Some(("names.csv", b"name,city\nAlice,Leeds\n")),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("No phone number column found")
    );

    // A CSV upload: BOM, CRLF, `;`, a repeat, an opted-out number, a bad row.
    let csv = "\u{FEFF}phone;first_name\r\n+447111000001;Sarah\r\n+44 7111 000002;James\r\n+447111000001;Sarah again\r\n+447111000003;Opted\r\nhello;Bad\r\n";
    let r = v
        .post_multipart(
            "/campaigns/new",
            &[
                ("csrf", &csrf),
                ("name", "March promotion"),
                ("from_numbers", &from),
                ("agent_id", ""),
                ("message_template", "Hi {{first_name}}, 20% off this month."),
                ("default_country", "GB"),
                ("recipients_text", ""),
            ],
            Some(("patients.csv", csv.as_bytes())),
        )
        .await;
    assert_eq!(r.status(), 303);
    let preview_path = location(&r);
    assert!(
        preview_path.starts_with("/campaigns/drafts/drf_"),
        "{preview_path}"
    );
    let page = v.page(&preview_path).await;
    for expected in [
        "Hi Sarah, 20% off this month.",
        "Hi James, 20% off this month.",
        "data-kind=\"invalid\"",
        "data-kind=\"duplicate\"",
        "data-kind=\"opted-out\"",
        "File patients.csv",
    ] {
        assert!(page.contains(expected), "{expected}");
    }
    assert!(page.contains("data-total=\"sendable\">2<"), "two are sent");

    // "Change the campaign" brings the form back as it was, with the file kept.
    let draft_id = preview_path
        .trim_start_matches("/campaigns/drafts/")
        .to_owned();
    let form = v.page(&format!("/campaigns/new?draft={draft_id}")).await;
    assert!(form.contains("value=\"March promotion\""));
    assert!(form.contains("Using patients.csv from before"));
    assert_eq!(hidden(&form, "keep_upload"), draft_id);
    let r = v
        .post_multipart(
            "/campaigns/new",
            &[
                ("csrf", &csrf),
                ("name", "March promotion (2)"),
                ("from_numbers", &from),
                ("message_template", "Hello {{first_name}}"),
                ("default_country", "GB"),
                ("keep_upload", &draft_id),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 303);
    let changed = v.page(&location(&r)).await;
    assert!(changed.contains("Hello James") && changed.contains("File patients.csv"));

    // Sending without accepting that the bad row is left out is refused; nothing is created.
    let r = v
        .post_form(&preview_path, &[("csrf", &csrf), ("when", "now")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("tick the box"));
    assert_eq!(
        json(app.get("/v1/sms/campaigns").await).await["campaigns"],
        json!([])
    );
    // "Now" with a time typed in is a contradiction, caught before sending.
    let r = v
        .post_form(
            &preview_path,
            &[
                ("csrf", &csrf),
                ("when", "now"),
                ("scheduled_at", "2030-01-01T09:00"),
                ("skip_invalid", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);

    let send = [
        ("csrf", csrf.as_str()),
        ("when", "now"),
        ("skip_invalid", "yes"),
    ];
    let r = v.post_form(&preview_path, &send).await;
    assert_eq!(r.status(), 303);
    let campaign_path = location(&r);
    let id = campaign_path.trim_start_matches("/campaigns/").to_owned();
    // A second click on Send: the same campaign, nothing sent twice.
    let again = v.post_form(&preview_path, &send).await;
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), campaign_path);
    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(list["campaigns"].as_array().unwrap().len(), 1);

    let c = app.campaign(&id).await;
    assert_eq!(c["source"], "dashboard");
    assert_eq!(c["name"], "March promotion");
    assert_eq!(c["total_count"], 3, "two to send and the opted-out one");
    assert_eq!(c["failed_count"], 1);
    let phones: Vec<&str> = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phone"].as_str().unwrap())
        .collect();
    assert_eq!(phones, ["+447111000001", "+447111000002", "+447111000003"]);
    assert_eq!(c["recipients"][1]["body"], "Hi James, 20% off this month.");

    // The campaign page shows the API's counts; the live endpoint returns the API's shape.
    let page = v.page(&campaign_path).await;
    assert!(page.contains("data-field=\"total_count\">3<"));
    assert!(page.contains("data-field=\"failed_count\">1<"));
    assert!(page.contains(">dashboard<"));
    let live = json(v.get(&format!("{campaign_path}/live")).await).await;
    for k in [
        "status",
        "total_count",
        "delivered_count",
        "failed_count",
        "pending_count",
        "source",
    ] {
        assert_eq!(live[k], c[k], "{k}");
    }
    let live = json(v.get("/campaigns/live").await).await;
    assert_eq!(live["campaigns"][0]["campaign_id"], c["campaign_id"]);

    // Another account's user sees none of it.
    let other = herald::service::accounts::create_account(app.store.as_ref(), "Other")
        .await
        .unwrap();
    let mut stranger = Visitor::new(&app);
    stranger.sign_in_as(&other.user, &other.password).await;
    assert_eq!(stranger.get(&campaign_path).await.status(), 404);
    assert_eq!(stranger.get(&preview_path).await.status(), 404);
    assert_eq!(
        stranger
            .get(&format!("{campaign_path}/live"))
            .await
            .status(),
        404
    );
    let list = stranger.page("/campaigns").await;
    assert!(!list.contains("March promotion"));
}

const OUR: &str = "+447446466847";
const SARAH: &str = "+447111000001";
const JAMES: &str = "+447111000002";

#[tokio::test]
async fn conversations_show_the_campaign_message_and_the_thread() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_number(OUR).await;
    let campaign = app
        .send_campaign(&json!({
            "from_number": OUR, "name": "March promotion",
            "message_template": "Hi {{first_name}}, 20% off cleanings. Reply YES to book.",
            "recipients": [
                { "phone": SARAH, "variables": { "first_name": "Sarah" } },
                { "phone": JAMES, "variables": { "first_name": "James" } }
            ]
        }))
        .await;
    let campaign_id = campaign["campaign_id"].as_str().unwrap().to_owned();

    // Sarah asks something (no agent: kept, not answered), then James says STOP.
    app.text_in(
        SARAH,
        OUR,
        "Is it valid on Saturday?",
        "SM0000000000000000000000000000d001",
    )
    .await;
    app.text_in(JAMES, OUR, "STOP", "SM0000000000000000000000000000d002")
        .await;

    let mut v = Visitor::new(&app);
    v.sign_in().await;
    let list = v.page("/conversations").await;
    assert!(!list.contains("Coming soon"));
    let james_at = list.find(JAMES).expect("James listed");
    let sarah_at = list.find(SARAH).expect("Sarah listed");
    assert!(james_at < sarah_at, "latest activity first");
    assert!(list.contains("Is it valid on Saturday?"), "last message");
    assert_eq!(list.matches(">Opted out<").count(), 1, "James only");
    assert!(list.contains(OUR));

    let api = json(app.get("/v1/conversations").await).await;
    let id_of = |phone: &str| {
        api["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["phone"] == phone)
            .unwrap()["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sarah = v.page(&format!("/conversations/{}", id_of(SARAH))).await;
    for expected in [
        "Conversation with +447111000001",
        &format!("href=\"/campaigns/{campaign_id}\">March promotion</a>"),
        "Hi Sarah, 20% off cleanings. Reply YES to book.",
        "<code>first_name</code>: Sarah",
        "data-direction=\"inbound\" data-kind=\"message\"",
        "Is it valid on Saturday?",
        "data-reply",
    ] {
        assert!(sarah.contains(expected), "{expected}");
    }
    let james = v.page(&format!("/conversations/{}", id_of(JAMES))).await;
    let stop = james
        .find("data-direction=\"inbound\" data-kind=\"opt_out\"")
        .expect("the STOP");
    let confirmation = james
        .find("data-direction=\"outbound\" data-kind=\"confirmation\"")
        .expect("the confirmation");
    assert!(stop < confirmation, "oldest first");
    assert!(james.contains(">Opt-out<") && james.contains(">Confirmation<"));
    assert!(james.contains("Hi James, 20% off cleanings."));

    // Unknown ids and other accounts' threads are not found.
    assert_eq!(v.get("/conversations/conv_nope").await.status(), 404);
    let other = herald::service::accounts::create_account(app.store.as_ref(), "Other")
        .await
        .unwrap();
    let mut stranger = Visitor::new(&app);
    stranger.sign_in_as(&other.user, &other.password).await;
    assert_eq!(
        stranger
            .get(&format!("/conversations/{}", id_of(SARAH)))
            .await
            .status(),
        404
    );
    assert!(!stranger.page("/conversations").await.contains(SARAH));
}

#[tokio::test]
async fn opting_back_in_needs_a_reason_and_the_sessions_csrf_token() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    let mut v = Visitor::new(&app);
    let csrf = v.sign_in().await;

    // Added here, read as a number of the sending number's country; listed through the service.
    let r = v
        .post_form(
            "/opt-outs",
            &[
                ("csrf", &csrf),
                ("phone", "07111 000001"),
                ("reason", "asked by email"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let api = json(app.get("/v1/opt-outs").await).await;
    assert_eq!(api["opt_outs"][0]["phone"], SARAH);
    let page = v.page("/opt-outs").await;
    assert!(page.contains(SARAH) && page.contains("asked by email"));
    let remove = "/opt-outs/%2B447111000001/remove";
    assert!(page.contains(remove));

    let confirm = v.page(remove).await;
    assert!(confirm.contains("name=\"reason\"") && confirm.contains("required"));
    // Without the session's token: refused, still opted out.
    let r = v
        .post_form(remove, &[("csrf", "nope"), ("reason", "asked again")])
        .await;
    assert_eq!(r.status(), 403);
    // Without a reason: refused with the reason field flagged.
    let r = v
        .post_form(remove, &[("csrf", &csrf), ("reason", "  ")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Reason is required"));
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let r = v
        .post_form(
            remove,
            &[
                ("csrf", &csrf),
                ("reason", "Asked by phone on 3 March to get offers"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/opt-outs");
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"],
        json!([])
    );
    let consent = json(app.get("/v1/consents/%2B447111000001").await).await;
    assert_eq!(consent["status"], "granted", "{consent:#}");
    assert_eq!(consent["opted_out"], false);
    assert_eq!(
        consent["consents"][0]["evidence"],
        "Asked by phone on 3 March to get offers"
    );
    // No longer opted out: nothing to remove.
    assert_eq!(v.get(remove).await.status(), 404);
}

#[tokio::test]
async fn require_consent_from_the_form_flags_and_fails_numbers_without_consent() {
    let app = spawn_app().await;
    let from = app.add_number(OUR).await;
    app.record_consent(SARAH, "granted", "web_form").await;
    let mut v = Visitor::new(&app);
    let csrf = v.sign_in().await;
    let form = v.page("/campaigns/new").await;
    assert!(form.contains("Send only to numbers with recorded consent"));

    let r = v
        .post_multipart(
            "/campaigns/new",
            &[
                ("csrf", &csrf),
                ("name", "Consent only"),
                ("from_numbers", &from),
                ("message_template", "Hi"),
                ("recipients_text", &format!("{SARAH}\n{JAMES}")),
                ("require_consent", "yes"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 303);
    let preview_path = location(&r);
    let page = v.page(&preview_path).await;
    assert!(page.contains("data-total=\"sendable\">1<"), "Sarah only");
    assert!(page.contains("data-total=\"no_consent\">1<"));
    let james_row = page
        .find("data-kind=\"no-consent\"")
        .expect("James flagged");
    assert!(page[james_row..].contains(JAMES));
    assert!(page.contains("No recorded consent"));
    // "Change the campaign" keeps the box ticked.
    let draft = preview_path.trim_start_matches("/campaigns/drafts/");
    let again = v.page(&format!("/campaigns/new?draft={draft}")).await;
    assert!(again.contains(
        "name=\"require_consent\" value=\"yes\" aria-describedby=\"consent-hint\" checked"
    ));

    let r = v
        .post_form(&preview_path, &[("csrf", &csrf), ("when", "now")])
        .await;
    assert_eq!(r.status(), 303);
    let id = location(&r).trim_start_matches("/campaigns/").to_owned();
    let c = app.campaign(&id).await;
    assert_eq!(c["require_consent"], true);
    let outcome: Vec<(&str, &Value)> = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["phone"].as_str().unwrap(), &r["error_code"]))
        .collect();
    assert_eq!(
        outcome,
        [(SARAH, &Value::Null), (JAMES, &json!("no_consent"))]
    );
}

#[tokio::test]
async fn the_preview_counts_every_pasted_number_and_names_a_legacy_encoding() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let mut v = Visitor::new(&app);
    let csrf = v.sign_in().await;
    let fields = |text: &'static str| {
        vec![
            ("name", "Mixed"),
            ("from_numbers", from.as_str()),
            ("agent_id", ""),
            ("message_template", "Hello"),
            ("default_country", "GB"),
            ("recipients_text", text),
        ]
    };

    // Commas, a tab, spaces and newlines mixed: five recipients, no phantom variable.
    let mut form =
        fields("+447111000501,+447111000502\t+447111000503\n+447111000504 +447111000505");
    form.push(("csrf", &csrf));
    let r = v.post_multipart("/campaigns/new", &form, None).await;
    assert_eq!(r.status(), 303);
    let page = v.page(&location(&r)).await;
    assert!(page.contains("data-total=\"sendable\">5<"), "five are sent");
    assert!(!page.contains("col2"), "no phantom variable");
    assert!(!page.contains("not UTF-8"), "a paste is UTF-8");

    // National numbers read in the chosen country are marked with what was written.
    let mut form = fields("07111 000601\n+447111000602");
    form.push(("csrf", &csrf));
    let r = v.post_multipart("/campaigns/new", &form, None).await;
    assert_eq!(r.status(), 303);
    let page = v.page(&location(&r)).await;
    assert_eq!(page.matches("Converted: written").count(), 1);
    assert!(page.contains("Converted: written 07111 000601, without a country code"));

    // Excel's default CSV (Windows-1252): read, and the preview says how.
    let mut form = fields("");
    form.push(("csrf", &csrf));
    form[3] = ("message_template", "Hi {{Name}}");
    let csv = b"Phone;Name\r\n+447111000001;Zo\xEB\r\n+447111000002;Jos\xE9\r\n";
    let r = v
        .post_multipart("/campaigns/new", &form, Some(("legacy.csv", csv)))
        .await;
    assert_eq!(r.status(), 303);
    let page = v.page(&location(&r)).await;
    assert!(page.contains("read as windows-1252 text, not UTF-8"));
    assert!(page.contains("Hi Zo\u{eb}") && page.contains("Hi Jos\u{e9}"));
}

#[tokio::test]
async fn the_settings_page_sets_the_send_window_and_held_recipients_say_so() {
    let clock = herald::engine::clock::Clock::real();
    // 23:00 in New York.
    clock.set(time::macros::datetime!(2031-07-01 03:00 UTC));
    let engine_clock = clock.clone();
    let app = spawn_sending_app(move |s| s.engine.clock = engine_clock).await;
    let from = app.add_number(OUR).await;
    let mut v = Visitor::new(&app);
    let csrf = v.sign_in().await;
    assert!(v.page("/settings").await.contains("Send window"));

    let r = v
        .post_form(
            "/settings",
            &[
                ("csrf", &csrf),
                ("start", "8am"),
                ("end", "21:00"),
                ("time_zone", "UTC"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("From must be a time of day as HH:MM"),
        "{page}"
    );
    assert_eq!(
        json(app.get("/v1/account").await).await["send_window"],
        Value::Null
    );
    let r = v
        .post_form(
            "/settings",
            &[
                ("csrf", &csrf),
                ("start", "08:00"),
                ("end", "21:00"),
                ("time_zone", "Europe/London"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/settings");
    assert!(v.page("/settings").await.contains("value=\"08:00\""));
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(
        account["send_window"],
        json!({ "start": "08:00", "end": "21:00" })
    );
    assert_eq!(account["time_zone"], "Europe/London");

    // A recipient outside the window, on the campaign page.
    let created = app
        .post_campaign(&json!({
            "from_number": OUR,
            "name": "Reminders",
            "message_template": "Hi",
            "recipients": [{ "phone": "+12127365000" }],
        }))
        .await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app.wait_for(id, 20, |c| c["held_count"] == 1).await;
    assert_eq!(c["held_count"], 1, "{c}");
    let page = v.page(&format!("/campaigns/{id}")).await;
    assert!(page.contains("held until 08:00 their time"), "{page}");

    // Ignoring the window from the form needs a reason.
    let form = |reason: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Clinic closed".to_owned()),
            ("from_numbers", from.clone()),
            ("message_template", "The clinic is closed today".to_owned()),
            ("recipients_text", "+12127365000".to_owned()),
            ("ignore_send_window", "yes".to_owned()),
            ("send_window_reason", reason.to_owned()),
        ]
    };
    let fields = form("");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = v.post_multipart("/campaigns/new", &fields, None).await;
    let page = if r.status() == 303 {
        v.page(&location(&r)).await
    } else {
        r.text().await.unwrap()
    };
    assert!(
        page.contains("Reason must say why the send window is ignored"),
        "{page}"
    );
    // The preview of the same message, respecting the window, warns who will wait.
    let mut fields = form("");
    fields.retain(|(k, _)| *k != "ignore_send_window" && *k != "send_window_reason");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = v.post_multipart("/campaigns/new", &fields, None).await;
    assert_eq!(r.status(), 303);
    let page = v.page(&location(&r)).await;
    assert!(
        page.contains("1 recipient is outside the send window now"),
        "{page}"
    );
    let fields = form("Closed at short notice");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = v.post_multipart("/campaigns/new", &fields, None).await;
    assert_eq!(r.status(), 303);
    let r = v
        .post_form(&location(&r), &[("csrf", &csrf), ("when", "now")])
        .await;
    assert_eq!(r.status(), 303);
    let id = location(&r).trim_start_matches("/campaigns/").to_owned();
    let c = app.wait_until_done(&id, 20).await;
    assert_eq!(c["respect_send_window"], false);
    assert_eq!(c["send_window_reason"], "Closed at short notice");
    assert_eq!(c["pending_count"], 0, "{c}");
}
