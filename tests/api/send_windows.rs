//! Send windows (docs/ARCHITECTURE.md §4): the account setting, recipients held until their
//! window opens in their own time zone (the engine's clock moved by the test), and campaigns
//! that ignore the window.

use std::time::Duration;

use herald::engine::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;

use herald_test_support::{TestApp, error_fields, json, spawn_app, spawn_sending_app};

const NEW_YORK: &str = "+12127365000";
const TOKYO: &str = "+81312345678";
const FROM: &str = "+447446466847";

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

#[tokio::test]
async fn the_send_window_is_an_account_setting_checked_field_by_field() {
    let app = spawn_app().await;
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(account["send_window"], Value::Null);
    assert_eq!(account["time_zone"], "UTC");

    let (status, account) = patch_account(
        &app,
        json!({ "send_window": { "start": "08:00", "end": "21:00" }, "time_zone": "Europe/London" }),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(
        account["send_window"],
        json!({ "start": "08:00", "end": "21:00" })
    );
    assert_eq!(account["time_zone"], "Europe/London");
    assert_eq!(
        json(app.get("/v1/account").await).await["send_window"]["end"],
        "21:00"
    );

    // Bad times are named one by one, and nothing is written.
    let (status, body) = patch_account(
        &app,
        json!({ "send_window": { "start": "8am", "end": "24:00" }, "time_zone": "Mars/Olympus", "name": "Changed" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        error_fields(&body),
        ["send_window.start", "send_window.end", "time_zone"]
    );
    let (status, body) = patch_account(
        &app,
        json!({ "send_window": { "start": "09:00", "end": "09:00" } }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_fields(&body), ["send_window"]);
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(
        account["send_window"],
        json!({ "start": "08:00", "end": "21:00" })
    );
    assert_ne!(account["name"], "Changed");

    // A window across midnight, then none.
    let (_, account) = patch_account(
        &app,
        json!({ "send_window": { "start": "22:00", "end": "06:00" } }),
    )
    .await;
    assert_eq!(
        account["send_window"],
        json!({ "start": "22:00", "end": "06:00" })
    );
    let (status, account) = patch_account(&app, json!({ "send_window": null })).await;
    assert_eq!(status, 200);
    assert_eq!(account["send_window"], Value::Null);
    assert_eq!(account["time_zone"], "Europe/London");
}

#[tokio::test]
async fn a_held_recipient_is_sent_when_its_window_opens() {
    let clock = Clock::real();
    // 03:00 UTC: 23:00 the evening before in New York (EDT), noon in Tokyo.
    clock.set(datetime!(2031-07-01 03:00 UTC));
    let engine_clock = clock.clone();
    let app = spawn_sending_app(move |s| s.engine.clock = engine_clock).await;
    app.add_number(FROM).await;
    let (status, _) = patch_account(
        &app,
        json!({ "send_window": { "start": "08:00", "end": "21:00" } }),
    )
    .await;
    assert_eq!(status, 200);

    let created = app
        .post_campaign(&json!({
            "from_number": FROM,
            "name": "Reminders",
            "message_template": "Your appointment is tomorrow",
            "recipients": [{ "phone": NEW_YORK }, { "phone": TOKYO }],
        }))
        .await;
    assert_eq!(created["respect_send_window"], true);
    let id = created["campaign_id"].as_str().unwrap();
    let c = app
        .wait_for(id, 20, |c| {
            c["delivered_count"] == 1 && !recipient(c, NEW_YORK)["held_until"].is_null()
        })
        .await;
    let ny = recipient(&c, NEW_YORK);
    assert_eq!(ny["status"], "pending", "{c}");
    assert_eq!(
        ny["held_until"], "2031-07-01T12:00:00.000Z",
        "08:00 in New York"
    );
    assert_eq!(ny["time_zones"], json!(["America/New_York"]));
    assert_eq!(recipient(&c, TOKYO)["status"], "delivered", "{c}");
    assert_eq!(recipient(&c, TOKYO)["time_zones"], json!(["Asia/Tokyo"]));
    assert_eq!(recipient(&c, TOKYO)["held_until"], Value::Null);
    assert_eq!(c["status"], "running");
    assert_eq!(c["pending_count"], 1);
    assert_eq!(c["held_count"], 1);

    // Held, it is not sent however long the engine runs.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let journal = app.journal().await;
    assert_eq!(journal.iter().filter(|s| s.to == NEW_YORK).count(), 0);
    assert_eq!(app.campaign(id).await["status"], "running");

    // An urgent campaign ignores the window.
    let urgent = app
        .post_campaign(&json!({
            "from_number": FROM,
            "name": "Clinic closed",
            "message_template": "The clinic is closed tomorrow",
            "recipients": [{ "phone": NEW_YORK }],
            "respect_send_window": false,
            "send_window_reason": "Appointment cancelled at short notice",
        }))
        .await;
    assert_eq!(
        urgent["send_window_reason"],
        "Appointment cancelled at short notice"
    );
    app.wait_all_delivered(urgent["campaign_id"].as_str().unwrap(), 1, 20)
        .await;

    // 08:00 in New York: the held recipient goes.
    clock.set(datetime!(2031-07-01 12:00:01 UTC));
    let c = app.wait_all_delivered(id, 2, 20).await;
    assert_eq!(c["held_count"], 0);
    assert_eq!(recipient(&c, NEW_YORK)["held_until"], Value::Null);
    let journal = app.journal().await;
    let to_ny: Vec<_> = journal.iter().filter(|s| s.to == NEW_YORK).collect();
    assert_eq!(
        to_ny.len(),
        2,
        "the urgent message and the reminder, once each"
    );
    assert!(
        to_ny
            .iter()
            .any(|s| s.body == "Your appointment is tomorrow")
    );
}

#[tokio::test]
async fn a_campaign_reason_for_ignoring_the_window_is_bounded() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &json!({
                "from_number": FROM,
                "name": "x",
                "message_template": "x",
                "recipients": [{ "phone": NEW_YORK }],
                "respect_send_window": "no",
                "send_window_reason": "y".repeat(501),
            }),
        )
        .await;
    assert_eq!(r.status(), 422);
    let fields = error_fields(&json(r).await);
    assert!(
        fields.contains(&"respect_send_window".to_owned()),
        "{fields:?}"
    );
}

#[tokio::test]
async fn preview_shows_time_zones_and_who_would_be_held() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    patch_account(
        &app,
        json!({ "send_window": { "start": "08:00", "end": "21:00" } }),
    )
    .await;
    // The next 1 July (summer time in New York and Alaska), always less than a year ahead.
    let today = time::OffsetDateTime::now_utc().date();
    let year = if today.month() < time::Month::July {
        today.year()
    } else {
        today.year() + 1
    };
    let at = |hms: &str| format!("{year}-07-01T{hms}Z");
    let body = |respect: bool| {
        json!({
            "from_number": FROM,
            "name": "Reminders",
            "message_template": "Hello",
            "recipients": [{ "phone": NEW_YORK }, { "phone": TOKYO }, { "phone": "+19075550123" }],
            "schedule_type": "schedule",
            "scheduled_at": at("16:00:00"),
            "respect_send_window": respect,
        })
    };
    let p = json(
        app.post_json("/v1/sms/campaigns/preview", &body(true))
            .await,
    )
    .await;
    assert_eq!(p["valid"], true, "{p}");
    assert_eq!(p["totals"]["held"], 2, "{p}");
    let r = &p["recipients"];
    // 16:00 UTC: noon in New York, 01:00 in Tokyo, 08:00 in Anchorage but 07:00 in Adak.
    assert_eq!(r[0]["time_zones"], json!(["America/New_York"]));
    assert_eq!(r[0]["held_until"], Value::Null);
    assert_eq!(r[1]["time_zones"], json!(["Asia/Tokyo"]));
    assert_eq!(r[1]["held_until"], at("23:00:00.000").as_str());
    assert_eq!(
        r[2]["time_zones"],
        json!(["America/Adak", "America/Anchorage"])
    );
    assert_eq!(
        r[2]["held_until"],
        at("17:00:00.000").as_str(),
        "open in both from 08:00 in Adak"
    );

    let p = json(
        app.post_json("/v1/sms/campaigns/preview", &body(false))
            .await,
    )
    .await;
    assert_eq!(p["totals"]["held"], 0, "{p}");
    assert_eq!(p["recipients"][1]["held_until"], Value::Null);
}

#[tokio::test]
async fn the_openapi_document_describes_every_send_window_field() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    // Flattened views are `allOf` lists: look for the property anywhere in the schema.
    let schema_text = |schema: &str| doc["components"]["schemas"][schema].to_string();
    for (schema, fields) in [
        ("AccountView", &["send_window", "time_zone"][..]),
        ("AccountUpdate", &["send_window", "time_zone"]),
        ("SendWindowBody", &["start", "end"]),
        ("RecipientView", &["time_zones", "held_until"]),
        (
            "CampaignView",
            &["respect_send_window", "send_window_reason"],
        ),
        ("CampaignDetail", &["held_count"]),
        ("PreviewRecipient", &["time_zones", "held_until"]),
        ("PreviewTotals", &["held"]),
        (
            "CampaignRequest",
            &["respect_send_window", "send_window_reason"],
        ),
    ] {
        let text = schema_text(schema);
        for field in fields {
            assert!(
                text.contains(&format!("\"{field}\":")),
                "{schema}.{field} missing from the OpenAPI document: {text}"
            );
        }
    }
}
