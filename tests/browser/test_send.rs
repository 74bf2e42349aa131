//! "Send me a test": the phone saved on the profile, the test sent from the preview and from
//! the new-campaign form with the first recipient's variables, followed to `delivered`, and
//! the refusals shown on the page.

use std::time::Duration;

use herald_test_support::spawn_sending_app;
use serde_json::{Value, json};

use crate::browser::{Browser, skip_reason};

/// The account's sending number in these tests.
const FROM: &str = "+447446466847";
/// The office manager's own mobile.
const MINE: &str = "+447723456789";

/// Posts a form from the signed-in page (its session and token) and returns the status.
async fn post_form(b: &Browser, path: &str, body: &str) -> Value {
    b.js(
        "const x = new XMLHttpRequest(); x.open('POST', arguments[0], false); \
         x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded'); \
         x.send(arguments[1]); return x.status;",
        vec![json!(path), json!(body)],
    )
    .await
}

#[tokio::test]
async fn send_me_a_test_from_the_preview_and_the_form() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    // The carrier reports `sent`, then `delivered`, 5 s apart: the page shows the test on its
    // way and its script follows it to the end.
    let app = spawn_sending_app(|s| s.simulator.callback_delay = Duration::from_secs(5)).await;
    app.add_paced_number(FROM, 10.0).await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;

    // No phone on the profile yet: the form says where to set one.
    b.goto(&format!("{base}/campaigns/new")).await;
    let hint = b.text("[data-no-test-phone]").await;
    assert!(hint.contains("save your mobile number"), "{hint}");
    assert!(b.all("[data-test-button]").await.is_empty());

    // The profile: a number that is not one is refused beside the field.
    b.click("[data-no-test-phone] a").await;
    b.wait_path("/account/profile").await;
    b.fill("#phone", "0207 946 0000").await;
    b.click_text("Save").await;
    let e = b.wait_text("#phone-error", "E.164").await;
    assert!(e.contains("not a valid phone number"), "{e}");
    // A NUL in the field, or a form without the session's token: refused, nothing saved.
    let csrf = b
        .js(
            "return document.querySelector('input[name=csrf]').value;",
            vec![],
        )
        .await;
    let csrf = csrf.as_str().unwrap().to_owned();
    let status = post_form(
        &b,
        "/account/profile",
        &format!("csrf={csrf}&phone=%2B447723456789%00"),
    )
    .await;
    assert_eq!(status, 422);
    let status = post_form(&b, "/account/profile", "csrf=forged&phone=%2B447723456789").await;
    assert_eq!(status, 403);
    b.fill("#phone", "+44 7723 456789").await;
    b.click_text("Save").await;
    b.wait_text("[data-flash]", &format!("Tests will be sent to {MINE}"))
        .await;
    assert_eq!(
        b.js("return document.getElementById('phone').value;", vec![])
            .await,
        json!(MINE)
    );
    b.screenshot("profile").await;

    // A campaign to preview; "Send me a test" there.
    b.goto(&format!("{base}/campaigns/new")).await;
    b.fill("#name", "Test first").await;
    b.fill(
        "#message_template",
        "Hi {{first_name}}, see you on {{day}}.",
    )
    .await;
    b.paste(
        "#recipients_text",
        "phone\tfirst_name\tday\n+447111000001\tSarah\tTuesday\n+447111000002\tJames\tWednesday\n",
    )
    .await;
    b.click_text("Continue to preview").await;
    let preview = b.wait_path("/campaigns/drafts/").await;
    let hint = b.text("#test-send").await;
    assert!(hint.contains(MINE), "{hint}");
    b.click_text("Send me a test").await;
    let path = b.wait_path(&format!("{preview}?test=smst_")).await;
    let test_id = path.split("test=").nth(1).unwrap().to_owned();
    assert_eq!(
        b.text("[data-test-body]").await,
        "Hi Sarah, see you on Tuesday."
    );
    assert_eq!(b.text("[data-test-segments]").await, "1 (GSM-7)");
    // The simulator delivers it; the page's script follows it there.
    b.wait_text("[data-test-status]", "Delivered").await;
    assert!(
        !b.all("[data-test-live][data-updated]").await.is_empty(),
        "the status was not updated by the page's script"
    );
    b.screenshot("preview-test-delivered").await;
    // What the page's script polls: the test's state, for this session only.
    let live = b
        .js(
            "const x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
             return [x.status, JSON.parse(x.responseText)];",
            vec![json!(format!("/test-sends/{test_id}/live"))],
        )
        .await;
    assert_eq!(live[0], 200);
    assert_eq!(live[1]["status"], "delivered", "{live}");
    assert_eq!(live[1]["terminal"], true, "{live}");
    let r = app
        .client
        .get(app.url(&format!("/test-sends/{test_id}/live")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The API sees the same test; it is no campaign, and the carrier got exactly it.
    let t = app.get(&format!("/v1/sms/test/{test_id}")).await;
    assert_eq!(t.status(), 200);
    let t: Value = t.json().await.unwrap();
    assert_eq!(t["to"], MINE, "{t}");
    assert_eq!(t["from_number"], FROM, "{t}");
    assert_eq!(t["status"], "delivered", "{t}");
    let list: Value = app.get("/v1/sms/campaigns").await.json().await.unwrap();
    assert_eq!(list["campaigns"], json!([]));
    let journal = app.journal().await;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].to, MINE);
    assert_eq!(journal[0].body, "Hi Sarah, see you on Tuesday.");

    // From the form: change the campaign, send a test of the changed message.
    b.click_text("Change the campaign or the list").await;
    b.wait_path("/campaigns/new?draft=").await;
    b.fill("#message_template", "Bye {{first_name}}").await;
    b.click_text("Send me a test").await;
    b.wait_path("/campaigns/new?draft=").await;
    b.wait_text("[data-test-body]", "Bye Sarah").await;
    b.wait_text("[data-test-status]", "Delivered").await;
    b.screenshot("new-campaign-test").await;
    assert_eq!(
        b.js(
            "return document.getElementById('message_template').value;",
            vec![]
        )
        .await,
        json!("Bye {{first_name}}")
    );

    // A message that renders to nothing: refused, said on the page.
    b.fill("#message_template", "{{nobody}}").await;
    b.click_text("Send me a test").await;
    b.wait_text("[data-flash]", "The test was not sent").await;
    let flash = b.text("[data-flash]").await;
    assert!(flash.contains("rendered message is empty"), "{flash}");
    assert_eq!(app.journal().await.len(), 2);

    // Opted out since: recorded, never sent, shown failed with the reason.
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": MINE }))
        .await;
    assert!(r.status().is_success());
    b.goto(&format!("{base}{preview}")).await;
    b.click_text("Send me a test").await;
    b.wait_path(&format!("{preview}?test=smst_")).await;
    let status = b.text("[data-test-status]").await;
    assert_eq!(status, "Failed");
    let why = b.text("[data-test-error]").await;
    assert!(!why.is_empty());
    assert_eq!(app.journal().await.len(), 2);
    b.close().await;
}
