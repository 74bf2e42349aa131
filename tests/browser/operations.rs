//! Campaign operations on the dashboard: pause and resume, resend to those who did not get
//! it (through the usual preview), and the results as a CSV download.

use herald_test_support::{TestApp, spawn_sending_app};
use serde_json::{Value, json};

use crate::browser::{Browser, skip_reason};

/// The account's sending number in these tests.
const FROM: &str = "+447446466847";

/// Herald with a sending number of one segment a second and a signed-in browser; `None`
/// (test skipped) when Chromium is not installed outside CI.
async fn setup() -> Option<(TestApp, Browser, String)> {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return None;
    }
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number(FROM, 1.0).await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;
    Some((app, b, base))
}

#[tokio::test]
async fn pause_and_resume_from_the_campaign_page() {
    let Some((app, b, base)) = setup().await else {
        return;
    };
    let created = app.create_campaign(FROM, 20, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    b.goto(&format!("{base}/campaigns/{id}")).await;
    b.js("window.__herald_no_reload = true; return true;", vec![])
        .await;
    b.click_text("Pause sending").await;
    b.wait_text("[data-flash]", "Campaign paused").await;
    assert_eq!(b.text(".page-head [data-field='status']").await, "Paused");
    assert_eq!(app.campaign(&id).await["status"], "paused");
    assert!(b.all("form[action$='/pause']").await.is_empty());
    b.screenshot("paused").await;

    // The list shows it paused.
    b.goto(&format!("{base}/campaigns")).await;
    b.wait_text(
        &format!("tr[data-campaign='{id}'] [data-field='status']"),
        "Paused",
    )
    .await;

    b.goto(&format!("{base}/campaigns/{id}")).await;
    b.click_text("Resume sending").await;
    b.wait_text("[data-flash]", "Campaign resumed").await;
    assert_eq!(app.campaign(&id).await["status"], "running");
    assert!(b.all("form[action$='/resume']").await.is_empty());

    // A form posted from elsewhere (no session, no token) changes nothing.
    app.client
        .post(app.url(&format!("/campaigns/{id}/pause")))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(app.campaign(&id).await["status"], "running");
    let r = app.delete(&format!("/v1/sms/campaigns/{id}")).await;
    assert_eq!(r.status(), 200);
    b.close().await;
}

#[tokio::test]
async fn resend_through_the_preview_and_download_the_results() {
    let Some((app, b, base)) = setup().await else {
        return;
    };
    // A slow campaign cancelled at once: most of it never went out.
    let created = app.create_campaign(FROM, 6, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let r = app.delete(&format!("/v1/sms/campaigns/{id}")).await;
    assert_eq!(r.status(), 200);
    let original = app
        .wait_for(&id, 30, |c| {
            c["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "delivered" || r["status"] == "cancelled")
        })
        .await;
    let missed = original["cancelled_count"].as_u64().unwrap();
    assert!(missed > 0, "{original}");

    b.goto(&format!("{base}/campaigns/{id}")).await;
    let label = format!("Resend to the {missed} who did not get it");
    b.click_text(&label).await;
    b.wait_path("/campaigns/drafts/").await;
    b.screenshot("resend-preview").await;
    b.click("[data-send-button]").await;
    let path = b.wait_path("/campaigns/smsc_").await;
    let again = path
        .trim_start_matches("/campaigns/")
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(again, id);
    let c = app.campaign(&again).await;
    assert_eq!(c["resend_of"], Value::from(id.clone()));
    assert_eq!(c["total_count"], missed);
    assert_eq!(c["source"], "dashboard");
    assert_eq!(c["message_template"], original["message_template"]);

    // "Download CSV" on the original: the browser's session fetches the file.
    b.goto(&format!("{base}/campaigns/{id}")).await;
    let href = b
        .js(
            "return document.querySelector('a[download]').getAttribute('href');",
            vec![],
        )
        .await;
    assert_eq!(href, Value::from(format!("/campaigns/{id}/recipients.csv")));
    let got = b
        .js(
            "const x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
             return [x.status, x.getResponseHeader('content-type'), x.responseText];",
            vec![href],
        )
        .await;
    assert_eq!(got[0], 200);
    assert_eq!(got[1], "text/csv; charset=utf-8");
    let text = got[2].as_str().unwrap();
    // (The browser's decoder takes the byte order mark off; the API tests check it.)
    assert!(
        text.trim_start_matches('\u{feff}')
            .starts_with("phone,status,"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 7, "{text}");
    // Signed out, the file is not there.
    let r = app
        .client
        .get(app.url(&format!("/campaigns/{id}/recipients.csv")))
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains("phone,status"));
    b.close().await;
}
