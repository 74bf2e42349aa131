//! How long a campaign takes, on the dashboard: the preview's estimated duration and the
//! campaign page's time left and sending rate (docs/ARCHITECTURE.md §4). The engine is off, so
//! nothing is sent while the test reads: a thousand messages on a number of one a second take
//! 1,000 s, about 17 minutes.

use herald_test_support::{TestApp, spawn_app};
use serde_json::json;

use crate::browser::{Browser, skip_reason};

/// The account's sending number in these tests (one segment a second).
const FROM: &str = "+447446466847";

/// Herald (engine off) with a sending number of one segment a second, and a signed-in
/// browser; `None` (test skipped) when Chromium is not installed outside CI.
async fn setup() -> Option<(TestApp, Browser, String)> {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return None;
    }
    let app = spawn_app().await;
    app.add_paced_number(FROM, 1.0).await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;
    Some((app, b, base))
}

#[tokio::test]
async fn the_preview_says_how_long_sending_takes() {
    let Some((_app, b, base)) = setup().await else {
        return;
    };
    b.goto(&format!("{base}/campaigns/new")).await;
    b.fill("#name", "Reminders").await;
    b.fill("#message_template", "Your appointment is tomorrow.")
        .await;
    let list: String = (1..=1_000).map(|i| format!("+4471110{i:05}\n")).collect();
    b.paste("#recipients_text", &list).await;
    b.click_text("Continue to preview").await;
    b.wait_path("/campaigns/drafts/").await;
    assert_eq!(b.text("[data-total='sendable']").await, "1000");
    let duration = b.text("[data-field='duration']").await;
    assert!(
        duration.contains("about 17 minutes at 1 message/second on +447446466847"),
        "{duration}"
    );
    b.screenshot("preview-duration").await;
    b.close().await;
}

#[tokio::test]
async fn the_campaign_page_shows_the_time_left_and_the_rate() {
    let Some((app, b, base)) = setup().await else {
        return;
    };
    let created = app.create_campaign(FROM, 1_000, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    b.goto(&format!("{base}/campaigns/{id}")).await;
    let eta = b.text("[data-field='eta']").await;
    assert!(eta.contains("About 17 minutes left"), "{eta}");
    assert!(eta.contains("sending 1 message/second"), "{eta}");
    b.screenshot("campaign-eta").await;

    // A draft has no estimate.
    let draft = app
        .create_campaign(FROM, 3, json!({ "schedule_type": "draft" }))
        .await;
    let id = draft["campaign_id"].as_str().unwrap();
    b.goto(&format!("{base}/campaigns/{id}")).await;
    assert!(b.all("[data-field='eta']").await.is_empty());
    b.close().await;
}
