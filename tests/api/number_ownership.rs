//! A number can be added only if the Twilio account lists it with SMS; the simulator lists
//! every number by default, only `--incoming-numbers` when given, and lets a number's
//! `SmsUrl` be pointed at Herald, which the dashboard offers when a number is added.

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

use herald_test_support::dashboard::{set_cookie, signed_in};
use herald_test_support::{TestApp, json, spawn_app, spawn_app_with};

const OWNED: &str = "+447446466847";
const ALSO_OWNED: &str = "+447446466848";
const NOT_OWNED: &str = "+447446466849";

async fn only_owned() -> TestApp {
    spawn_app_with(|s| {
        s.run_engine = false;
        s.simulator.incoming_numbers = Some(vec![OWNED.into(), ALSO_OWNED.into()]);
    })
    .await
}

/// A request to the simulator's Twilio API, as the account.
fn twilio(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    let t = app.settings.twilio.as_ref().unwrap();
    app.client
        .request(
            method,
            format!(
                "{}/2010-04-01/Accounts/{}/{path}",
                app.sim_url.as_ref().unwrap(),
                t.account_sid
            ),
        )
        .basic_auth(&t.account_sid, Some(&t.auth_token))
}

async fn listed(app: &TestApp, phone: Option<&str>) -> Vec<Value> {
    let mut r = twilio(app, Method::GET, "IncomingPhoneNumbers.json");
    if let Some(phone) = phone {
        r = r.query(&[("PhoneNumber", phone)]);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    json(r).await["incoming_phone_numbers"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn only_numbers_the_twilio_account_lists_can_be_added() {
    let app = only_owned().await;
    let r = app
        .post_json("/v1/numbers", &json!({"phone": NOT_OWNED}))
        .await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert_eq!(body["error"]["details"][0]["field"], "phone", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a number of your Twilio account"),
        "{body}"
    );
    app.add_number(OWNED).await;
    // Adding it again, and another account trying: a 409 that says only that.
    let again = app.post_json("/v1/numbers", &json!({"phone": OWNED})).await;
    assert_eq!(again.status(), 409);
    let other = app.other_account().await;
    let r = app
        .request_as(&other, Method::POST, "/v1/numbers")
        .json(&json!({"phone": OWNED}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body = json(r).await;
    assert_eq!(
        body["error"]["message"],
        format!("{OWNED} cannot be added"),
        "{body}"
    );
    let numbers = json(app.get("/v1/numbers").await).await;
    assert_eq!(numbers["numbers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_simulator_lists_every_number_by_default_and_only_the_given_ones_otherwise() {
    let every = spawn_app().await;
    let one = listed(&every, Some(NOT_OWNED)).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["phone_number"], NOT_OWNED);
    assert_eq!(one[0]["capabilities"]["sms"], true);
    assert!(one[0]["sid"].as_str().unwrap().starts_with("PN"));
    every.add_number(NOT_OWNED).await;

    let some = only_owned().await;
    assert!(listed(&some, Some(NOT_OWNED)).await.is_empty());
    let all: Vec<String> = listed(&some, None)
        .await
        .iter()
        .map(|n| n["phone_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all, [OWNED, ALSO_OWNED]);
    // Its SmsUrl can be changed.
    let sid = listed(&some, Some(OWNED)).await[0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = twilio(
        &some,
        Method::POST,
        &format!("IncomingPhoneNumbers/{sid}.json"),
    )
    .form(&[("SmsUrl", "https://elsewhere.example/sms")])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["sms_url"], "https://elsewhere.example/sms");
    assert_eq!(
        listed(&some, Some(OWNED)).await[0]["sms_url"],
        "https://elsewhere.example/sms"
    );
    let r = twilio(&some, Method::POST, "IncomingPhoneNumbers/PNnope.json")
        .form(&[("SmsUrl", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn page(client: &Client, app: &TestApp, session: &str, path: &str) -> String {
    with_flash(client, app, session, path, None).await
}

/// The page, shown with the flash message a redirect carried.
async fn with_flash(
    client: &Client,
    app: &TestApp,
    session: &str,
    path: &str,
    after: Option<&Response>,
) -> String {
    let cookies = match after {
        Some(r) => format!(
            "{session}; {}",
            set_cookie(r, "herald_flash").expect("a flash cookie")
        ),
        None => session.to_owned(),
    };
    let r = client
        .get(app.url(path))
        .header(COOKIE, cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

async fn post_form(
    client: &Client,
    app: &TestApp,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Response {
    client
        .post(app.url(path))
        .header(COOKIE, session)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_dashboard_offers_the_accounts_numbers_and_points_them_at_herald() {
    let app = only_owned().await;
    let inbound = format!("{}/webhooks/twilio/inbound", app.settings.public_base());
    let (client, session, csrf) = signed_in(&app, "/numbers").await;
    let numbers = page(&client, &app, &session, "/numbers").await;
    assert!(
        numbers.contains(&format!("<code>{OWNED}</code>")),
        "{numbers}"
    );
    assert!(numbers.contains(&format!("<code>{ALSO_OWNED}</code>")));
    assert!(!numbers.contains(NOT_OWNED));

    // Not the account's: refused on the form.
    let r = post_form(
        &client,
        &app,
        &session,
        "/numbers",
        &[("csrf", &csrf), ("phone", NOT_OWNED), ("mps", "1")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not a number of your Twilio account")
    );

    // Added with "send its incoming SMS to Herald": Twilio's SmsUrl now points here.
    let r = post_form(
        &client,
        &app,
        &session,
        "/numbers",
        &[
            ("csrf", &csrf),
            ("phone", OWNED),
            ("mps", "1"),
            ("point_webhook", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(listed(&app, Some(OWNED)).await[0]["sms_url"], inbound);
    let numbers = with_flash(&client, &app, &session, "/numbers", Some(&r)).await;
    assert!(
        numbers.contains("now sends its incoming SMS to Herald"),
        "{numbers}"
    );
    assert!(
        !numbers.contains(&format!("<code>{OWNED}</code>")),
        "offered once added"
    );

    // Added without it while Twilio points elsewhere: a warning, and a button to fix it.
    let sid = listed(&app, Some(ALSO_OWNED)).await[0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    twilio(
        &app,
        Method::POST,
        &format!("IncomingPhoneNumbers/{sid}.json"),
    )
    .form(&[("SmsUrl", "https://elsewhere.example/sms")])
    .send()
    .await
    .unwrap();
    let r = post_form(
        &client,
        &app,
        &session,
        "/numbers",
        &[("csrf", &csrf), ("phone", ALSO_OWNED), ("mps", "1")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let numbers = with_flash(&client, &app, &session, "/numbers", Some(&r)).await;
    assert!(
        numbers.contains("https://elsewhere.example/sms"),
        "{numbers}"
    );
    let path = format!("/numbers/{}", ALSO_OWNED.replace('+', "%2B"));
    let detail = page(&client, &app, &session, &path).await;
    assert!(detail.contains("not to Herald"), "{detail}");
    let r = post_form(
        &client,
        &app,
        &session,
        &format!("{path}/webhook"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(listed(&app, Some(ALSO_OWNED)).await[0]["sms_url"], inbound);
    let detail = page(&client, &app, &session, &path).await;
    assert!(detail.contains("incoming SMS to Herald ("), "{detail}");
}
