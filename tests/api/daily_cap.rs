//! The daily cap per recipient (docs/ARCHITECTURE.md §4): the account setting, a number at the
//! cap failed `frequency_capped` across campaigns, test sends that neither count nor are
//! capped, the preview, and the rolling 24 hours (the engine's clock moved by the test).

use std::time::Duration;

use herald::engine::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use herald_test_support::{TestApp, error_fields, json, spawn_app, spawn_sending_app};

const FROM: &str = "+447446466847";
const ANN: &str = "+447111000001";
const BOB: &str = "+447111000002";
const CAT: &str = "+447111000003";
const FIELD: &str = "max_messages_per_recipient_per_day";

async fn patch_account(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .request(Method::PATCH, "/v1/account")
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), json(r).await)
}

fn recipient<'a>(c: &'a Value, phone: &str) -> &'a Value {
    c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["phone"] == phone)
        .unwrap_or_else(|| panic!("no {phone} in {c}"))
}

fn campaign_to(phones: &[&str]) -> Value {
    json!({
        "from_number": FROM,
        "name": "Offers",
        "message_template": "Today only",
        "recipients": phones.iter().map(|p| json!({ "phone": p })).collect::<Vec<_>>(),
    })
}

/// Sends a campaign and waits until it is finished (`done`, or `failed` when no recipient
/// was sent) with every recipient final.
async fn send(app: &TestApp, phones: &[&str]) -> Value {
    let created = app.post_campaign(&campaign_to(phones)).await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    // Until the counts agree with the rows too (a `sent` recipient counts as failed, and the
    // counts and the rows are read one after the other).
    let c = app
        .wait_for(&id, 20, |c| {
            let rows = c["recipients"].as_array().unwrap();
            let with = |status: &str| rows.iter().filter(|r| r["status"] == status).count();
            (c["status"] == "done" || c["status"] == "failed")
                && with("delivered") + with("failed") == rows.len()
                && c["delivered_count"] == with("delivered")
                && c["failed_count"] == with("failed")
        })
        .await;
    assert_eq!(c["pending_count"], 0, "{c}");
    c
}

/// A test send to `to`, followed until it is delivered.
async fn test_send(app: &TestApp, to: &str) {
    let r = app
        .post_json(
            "/v1/sms/test",
            &json!({ "from_number": FROM, "to": to, "message_template": "Test" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = json(r).await["test_id"].as_str().unwrap().to_owned();
    let mut followed = Value::Null;
    for _ in 0..400 {
        followed = json(app.get(&format!("/v1/sms/test/{id}")).await).await;
        if followed["status"] == "delivered" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("test send not delivered: {followed}");
}

#[tokio::test]
async fn the_daily_cap_is_an_account_setting_checked_by_field() {
    let app = spawn_app().await;
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(account[FIELD], Value::Null, "no cap by default: {account}");

    let (status, account) = patch_account(&app, json!({ FIELD: 3 })).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account[FIELD], 3);
    assert_eq!(json(app.get("/v1/account").await).await[FIELD], 3);

    // Anything but a whole number from 1 to 1000 (or null) is a 422 naming the field, and
    // nothing of the request is written.
    for bad in [
        json!(0),
        json!(-1),
        json!(1001),
        json!(1.5),
        json!("2"),
        json!(true),
        json!(1e30),
        json!([1]),
    ] {
        let (status, body) = patch_account(&app, json!({ FIELD: bad, "name": "Changed" })).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(error_fields(&body), [FIELD], "{bad}: {body}");
    }
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(account[FIELD], 3);
    assert_ne!(account["name"], "Changed");

    // Other settings leave it alone; null removes it.
    let (_, account) = patch_account(&app, json!({ "time_zone": "Europe/London" })).await;
    assert_eq!(account[FIELD], 3);
    let (status, account) = patch_account(&app, json!({ FIELD: 1000 })).await;
    assert_eq!((status, &account[FIELD]), (200, &json!(1000)));
    let (status, account) = patch_account(&app, json!({ FIELD: null })).await;
    assert_eq!(status, 200);
    assert_eq!(account[FIELD], Value::Null);

    // The OpenAPI document has it, on the request and on the answer, with its bounds.
    let doc = app.openapi().await;
    for schema in ["AccountUpdate", "AccountView"] {
        let field = &doc["components"]["schemas"][schema]["properties"][FIELD];
        assert_eq!(field["minimum"], 1, "{schema}: {field}");
        assert_eq!(field["maximum"], 1000, "{schema}: {field}");
    }
    let preview = &doc["components"]["schemas"];
    assert!(preview["PreviewTotals"]["properties"]["frequency_capped"].is_object());
    assert!(preview["PreviewRecipient"]["properties"]["frequency_capped"].is_object());
    assert!(preview["CampaignPreview"]["properties"]["frequency_capped"].is_object());
}

#[tokio::test]
async fn a_recipient_at_the_cap_is_not_sent_by_another_campaign() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_number(FROM).await;
    let (status, _) = patch_account(&app, json!({ FIELD: 1 })).await;
    assert_eq!(status, 200);

    let first = send(&app, &[ANN, BOB]).await;
    assert_eq!(first["delivered_count"], 2, "{first}");

    // The preview already knows: Ann is at the cap, Cat is not.
    let r = app
        .post_json("/v1/sms/campaigns/preview", &campaign_to(&[ANN, CAT]))
        .await;
    assert_eq!(r.status(), 200);
    let preview = json(r).await;
    assert_eq!(preview["totals"]["recipients"], 2, "{preview}");
    assert_eq!(preview["totals"]["sendable"], 1, "{preview}");
    assert_eq!(preview["totals"]["frequency_capped"], 1, "{preview}");
    assert_eq!(preview["totals"]["segments"], 1, "{preview}");
    assert_eq!(
        preview["frequency_capped"],
        json!([{ "index": 0, "phone": ANN }])
    );
    assert_eq!(recipient(&preview, ANN)["frequency_capped"], true);
    assert_eq!(recipient(&preview, CAT)["frequency_capped"], false);

    // The second campaign: Ann fails frequency_capped, Cat is sent.
    let second = send(&app, &[ANN, CAT]).await;
    assert_eq!(second["status"], "done", "{second}");
    let ann = recipient(&second, ANN);
    assert_eq!(ann["status"], "failed", "{second}");
    assert_eq!(ann["error_code"], "frequency_capped");
    assert!(
        ann["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("24 hours")),
        "{ann}"
    );
    assert_eq!(ann["twilio_sid"], Value::Null);
    assert_eq!(recipient(&second, CAT)["status"], "delivered");
    assert_eq!(second["failed_count"], 1, "{second}");
    assert_eq!(second["delivered_count"], 1, "{second}");
    let errors = second["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{second}");
    assert_eq!(errors[0]["error_code"], "frequency_capped");
    assert_eq!(errors[0]["count"], 1);
    assert!(errors[0]["error_message"].is_string());

    // Nothing more reached Ann: one message each for Ann and Bob, one for Cat.
    let journal = app.journal().await;
    let to: Vec<&str> = journal.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to.iter().filter(|p| **p == ANN).count(), 1, "{to:?}");
    assert_eq!(to.len(), 3, "{to:?}");

    // Without a cap, Ann is sent again.
    patch_account(&app, json!({ FIELD: null })).await;
    let third = send(&app, &[ANN]).await;
    assert_eq!(recipient(&third, ANN)["status"], "delivered", "{third}");
}

#[tokio::test]
async fn test_sends_neither_count_nor_are_capped() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_number(FROM).await;
    patch_account(&app, json!({ FIELD: 1 })).await;

    // Two test sends to Ann: the cap does not stop them, and they do not count.
    test_send(&app, ANN).await;
    test_send(&app, ANN).await;
    let c = send(&app, &[ANN]).await;
    assert_eq!(recipient(&c, ANN)["status"], "delivered", "{c}");
    // Now at the cap for campaigns, and still reachable by a test send.
    test_send(&app, ANN).await;
    let c = send(&app, &[ANN]).await;
    assert_eq!(recipient(&c, ANN)["error_code"], "frequency_capped", "{c}");
    assert_eq!(app.journal().await.len(), 4);
}

#[tokio::test]
async fn the_cap_counts_the_last_24_hours_rolling() {
    let clock = Clock::real();
    let engine_clock = clock.clone();
    let app = spawn_sending_app(move |s| s.engine.clock = engine_clock).await;
    app.add_number(FROM).await;
    patch_account(&app, json!({ FIELD: 2 })).await;
    let start = time::OffsetDateTime::now_utc();

    // Two messages today (cap 2): the third campaign finds Ann at the cap.
    for _ in 0..2 {
        let c = send(&app, &[ANN]).await;
        assert_eq!(recipient(&c, ANN)["status"], "delivered", "{c}");
    }
    let c = send(&app, &[ANN]).await;
    assert_eq!(recipient(&c, ANN)["error_code"], "frequency_capped", "{c}");

    // 23 hours later the first two are still within the last 24 hours...
    clock.set(start + time::Duration::hours(23));
    let c = send(&app, &[ANN]).await;
    assert_eq!(recipient(&c, ANN)["error_code"], "frequency_capped", "{c}");
    // ...and just over a day after them they are not (a refused one never counted).
    clock.set(start + time::Duration::hours(24) + time::Duration::minutes(1));
    let c = send(&app, &[ANN]).await;
    assert_eq!(recipient(&c, ANN)["status"], "delivered", "{c}");
    assert_eq!(app.journal().await.len(), 3);
}
