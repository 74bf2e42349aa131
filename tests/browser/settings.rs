//! The Settings page: set a send window and the daily cap per recipient, save, see them shown
//! back (and in the API); a cap that is no whole number from 1 to 1000 is refused beside its
//! field, and nothing is saved.

use herald_test_support::{json, spawn_app};
use serde_json::{Value, json};

use crate::browser::{Browser, skip_reason};

/// The current value of the input with this id.
async fn value(b: &Browser, id: &str) -> String {
    b.js(
        "return document.getElementById(arguments[0]).value;",
        vec![json!(id)],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[tokio::test]
async fn set_the_send_window_and_the_daily_cap() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let app = spawn_app().await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;

    b.click_text("Settings").await;
    b.wait_path("/settings").await;
    b.wait_text("main", "Daily cap per recipient").await;
    assert_eq!(value(&b, "daily_cap").await, "", "no cap at first");

    b.fill("[id='send_window.start']", "08:00").await;
    b.fill("[id='send_window.end']", "21:00").await;
    b.fill("#daily_cap", "3").await;
    b.click_text("Save settings").await;
    b.wait_text(".notice", "Settings saved.").await;
    // Shown back on the page, and the API agrees.
    b.goto(&format!("{base}/settings")).await;
    b.wait_text("main", "Daily cap per recipient").await;
    assert_eq!(value(&b, "send_window.start").await, "08:00");
    assert_eq!(value(&b, "send_window.end").await, "21:00");
    assert_eq!(value(&b, "daily_cap").await, "3");
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(
        account["send_window"],
        json!({ "start": "08:00", "end": "21:00" })
    );
    assert_eq!(account["max_messages_per_recipient_per_day"], 3);

    // Out of range, or not a number: the error beside the field and in the summary, what was
    // typed kept, nothing saved.
    for bad in ["0", "1001", "two"] {
        b.fill("#daily_cap", bad).await;
        b.click_text("Save settings").await;
        let summary = b.wait_text(".error-summary", "Daily cap").await;
        assert!(summary.contains("whole number from 1 to 1000"), "{summary}");
        let beside = b
            .text("#max_messages_per_recipient_per_day .error-message")
            .await;
        assert!(beside.starts_with("Daily cap must be"), "{beside}");
        assert_eq!(value(&b, "daily_cap").await, bad);
        let account = json(app.get("/v1/account").await).await;
        assert_eq!(account["max_messages_per_recipient_per_day"], 3, "{bad}");
    }
    b.screenshot("settings-daily-cap-error").await;

    // Emptied: no cap; the window stays.
    b.fill("#daily_cap", "").await;
    b.click_text("Save settings").await;
    b.wait_text(".notice", "Settings saved.").await;
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(account["max_messages_per_recipient_per_day"], Value::Null);
    assert_eq!(account["send_window"]["start"], "08:00");
    b.close().await;
}
