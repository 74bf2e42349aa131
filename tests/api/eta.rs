//! A campaign's `estimated_finish_at` and `send_rate` on create and get (docs/ARCHITECTURE.md
//! §4): its messages still to send on each number, the number's rate, and the other running
//! campaigns taking turns on it. The engine is off, so nothing moves while the test reads.

use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use herald_test_support::{TestApp, json, spawn_app};

const FROM: &str = "+447446466847";
const FROM_2: &str = "+447446466848";

fn recipients(n: usize, offset: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "phone": format!("+4471110{:05}", offset + i + 1) }))
        .collect()
}

async fn create(app: &TestApp, from: &[&str], n: usize, offset: usize, extra: Value) -> Value {
    let mut body = json!({
        "from_numbers": from,
        "name": "ETA",
        "message_template": "Your appointment is tomorrow",
        "recipients": recipients(n, offset),
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    app.post_campaign(&body).await
}

/// `estimated_finish_at` as seconds after `since`, checking its format on the way.
fn finish_after(c: &Value, since: OffsetDateTime) -> f64 {
    let raw = c["estimated_finish_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no estimated_finish_at in {c}"));
    // RFC 3339, UTC, milliseconds.
    assert_eq!(raw.len(), "2026-12-04T14:05:24.185Z".len(), "{raw}");
    assert!(raw.ends_with('Z'), "{raw}");
    let at = OffsetDateTime::parse(raw, &Rfc3339).unwrap();
    (at - since).as_seconds_f64()
}

/// Asserts that `c` finishes `seconds` after a moment between `before` and now.
fn assert_finishes_in(c: &Value, before: OffsetDateTime, seconds: f64) {
    let after = finish_after(c, before);
    let slack = (OffsetDateTime::now_utc() - before).as_seconds_f64() + 0.01;
    assert!(
        after >= seconds - 0.01 && after <= seconds + slack,
        "expected {seconds} s, got {after} s: {c}"
    );
}

#[tokio::test]
async fn a_thousand_messages_at_one_a_second_finish_in_about_17_minutes() {
    let app = spawn_app().await;
    app.add_paced_number(FROM, 1.0).await;
    let before = OffsetDateTime::now_utc();
    let created = create(&app, &[FROM], 1_000, 0, json!({})).await;
    assert_eq!(created["status"], "running");
    assert_finishes_in(&created, before, 1_000.0);
    assert_eq!(created["send_rate"], 1.0);

    let id = created["campaign_id"].as_str().unwrap();
    let before = OffsetDateTime::now_utc();
    let got = app.campaign(id).await;
    assert_finishes_in(&got, before, 1_000.0);
    assert_eq!(got["send_rate"], 1.0);
}

#[tokio::test]
async fn campaigns_on_one_number_take_turns_and_segments_count() {
    let app = spawn_app().await;
    app.add_paced_number(FROM, 2.0).await;
    app.add_paced_number(FROM_2, 1.0).await;
    // 400 one-segment messages on FROM at mps 2: 200 s.
    let first = create(&app, &[FROM], 400, 0, json!({})).await;
    // 100 two-segment messages on FROM: its own 200 segments and 100 of the first's messages
    // go in the same time: 300 segments, 150 s; half the turns, a message in three slots.
    let long = "x".repeat(200);
    let before = OffsetDateTime::now_utc();
    let second = create(
        &app,
        &[FROM],
        100,
        1_000,
        json!({ "message_template": long }),
    )
    .await;
    assert_finishes_in(&second, before, 150.0);
    assert!(
        (second["send_rate"].as_f64().unwrap() - 0.67).abs() < 1e-9,
        "{second}"
    );
    // The first now shares its number: 400 + 100 × 2 segments.
    let before = OffsetDateTime::now_utc();
    let first = app.campaign(first["campaign_id"].as_str().unwrap()).await;
    assert_finishes_in(&first, before, 300.0);
    assert!(
        (first["send_rate"].as_f64().unwrap() - 0.67).abs() < 1e-9,
        "{first}"
    );

    // Two numbers: each sends its share; the slower one decides.
    let before = OffsetDateTime::now_utc();
    let both = create(&app, &[FROM_2, FROM], 20, 2_000, json!({})).await;
    // FROM_2 (mps 1) gets recipients 0, 2, …: 10 messages, 10 s; FROM: 10 of its own and
    // 10 of each other campaign's (1 + 2 + 1 segments a turn) at mps 2, 20 s.
    assert_finishes_in(&both, before, 20.0);
    assert!(
        (both["send_rate"].as_f64().unwrap() - 1.5).abs() < 1e-9,
        "{both}"
    );
}

#[tokio::test]
async fn a_scheduled_campaign_counts_from_its_start_and_others_have_no_estimate() {
    let app = spawn_app().await;
    app.add_paced_number(FROM, 1.0).await;
    create(&app, &[FROM], 100, 0, json!({})).await;
    let start = (OffsetDateTime::now_utc() + Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    let scheduled = create(
        &app,
        &[FROM],
        60,
        1_000,
        json!({ "schedule_type": "schedule", "scheduled_at": start.format(&Rfc3339).unwrap() }),
    )
    .await;
    assert_eq!(scheduled["status"], "scheduled");
    // The running campaign is done sending by then: 60 s from the start.
    assert_eq!(finish_after(&scheduled, start), 60.0);
    assert_eq!(scheduled["send_rate"], Value::Null);

    // A draft, a paused and a cancelled campaign have neither.
    let draft = create(&app, &[FROM], 5, 2_000, json!({ "schedule_type": "draft" })).await;
    assert_eq!(draft["status"], "draft", "{draft}");
    assert_eq!(draft["estimated_finish_at"], Value::Null);
    assert_eq!(draft["send_rate"], Value::Null);
    let running = create(&app, &[FROM], 5, 3_000, json!({})).await;
    let id = running["campaign_id"].as_str().unwrap();
    for (method, action) in [(Method::POST, "/pause"), (Method::DELETE, "")] {
        let r = app
            .request(method, &format!("/v1/sms/campaigns/{id}{action}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
        let c = app.campaign(id).await;
        assert_eq!(c["estimated_finish_at"], Value::Null, "{action}: {c}");
        assert_eq!(c["send_rate"], Value::Null, "{action}: {c}");
    }
}

#[tokio::test]
async fn the_document_describes_both_fields() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let text = doc.to_string();
    for field in ["estimated_finish_at", "send_rate"] {
        assert!(
            text.contains(field),
            "{field} missing from the OpenAPI document"
        );
    }
    let progress = &doc["components"]["schemas"]["Progress"];
    assert_eq!(
        progress["properties"]["estimated_finish_at"]["format"], "date-time",
        "{progress}"
    );
    let _ = json;
}
