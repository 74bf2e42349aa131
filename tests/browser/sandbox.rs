//! The sandbox in the dashboard: with the built-in simulator, the conversations page sends a
//! pretend SMS (signed and delivered as Twilio would) and shows what Herald answered.

use herald_test_support::{json, spawn_sending_app};

use crate::browser::{Browser, skip_reason};

const FROM: &str = "+447446466847";

#[tokio::test]
async fn the_conversations_page_sends_a_test_stop_and_a_test_reply() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let app = spawn_sending_app(|_| {}).await;
    app.add_number(FROM).await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;

    b.goto(&format!("{base}/conversations")).await;
    b.find("#test-inbound").await;
    b.fill("#from", "+15551230009").await;
    b.fill("#body", "STOP").await;
    b.click("#test-inbound button[type=submit]").await;
    let flash = b.wait_text("[data-flash]", "Herald answered").await;
    assert!(flash.contains("STOP"), "{flash}");
    let opt_outs = json(app.get("/v1/opt-outs").await).await;
    assert_eq!(
        opt_outs["opt_outs"][0]["phone"], "+15551230009",
        "{opt_outs}"
    );
    // The thread shows up in the list.
    b.wait_text("table.conversations", "+15551230009").await;

    // Any other text goes to the conversation, for the agent.
    b.fill("#from", "+15551230010").await;
    b.fill("#body", "Is Tuesday ok?").await;
    b.click("#test-inbound button[type=submit]").await;
    b.wait_text("[data-flash]", "for the agent").await;
    b.wait_text("table.conversations", "Is Tuesday ok?").await;

    // A bad sender is refused beside the field.
    b.fill("#from", "hello").await;
    b.click("#test-inbound button[type=submit]").await;
    b.wait_text(".error-summary", "phone number").await;
    b.close().await;
}
