//! The preview page's cost per destination country (Twilio's published prices).

use herald_test_support::spawn_app;

use crate::browser::{Browser, skip_reason};

#[tokio::test]
async fn the_preview_prices_each_destination_country() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let b = Browser::start().await;
    b.sign_in(&app.url(""), &app.creds.user, &app.creds.password)
        .await;

    b.click_text("New campaign").await;
    b.wait_path("/campaigns/new").await;
    b.fill("#name", "Prices").await;
    b.fill("#message_template", "Hello from Acme Dental").await;
    b.paste(
        "#recipients_text",
        "+447111000001\n+447111000002\n+12025550123\n",
    )
    .await;
    b.wait_text("#live-check", "3 recipients found").await;
    b.click_text("Continue to preview").await;
    b.wait_path("/campaigns/drafts/").await;

    let lines = b.all("[data-country-cost]").await;
    let mut texts = Vec::new();
    for l in lines {
        texts.push(l.text().await.unwrap());
    }
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].contains("(GB)")
            && texts[0].contains("2 recipients")
            && texts[0].contains("0.0400 USD")
            && texts[0].contains("0.0800 USD"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("(US)")
            && texts[1].contains("1 recipient,")
            && texts[1].contains("0.0083 USD"),
        "{texts:?}"
    );
    assert_eq!(b.text("[data-total='cost']").await, "0.0883 USD");
    b.screenshot("preview-cost-by-country").await;
    b.close().await;
}
