//! Sign in, paste, preview, send, watch; upload a CSV (also Excel's Windows-1252 one); schedule and cancel; a phone-width
//! screen; the live counter against Twilio's segment calculator cases.

use herald_test_support::{TestApp, json, spawn_sending_app};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{Browser, PHONE, skip_reason};

/// The account's sending number in these tests.
const FROM: &str = "+447446466847";

struct Setup {
    app: TestApp,
    b: Browser,
    base: String,
}

/// Herald with a sending number of `mps` segments per second and an agent, and a signed-in
/// browser; `None` (test skipped) when Chromium is not installed outside CI.
async fn setup(mps: f64) -> Option<Setup> {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return None;
    }
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number(FROM, mps).await;
    app.add_agent_with(
        "You are the receptionist at Acme Dental. We are running a March promotion.",
    )
    .await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;
    Some(Setup { app, b, base })
}

/// The campaign id in a `/campaigns/{id}` path.
fn campaign_id(path: &str) -> String {
    path.trim_start_matches("/campaigns/")
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn paste_preview_send_and_watch_it_finish() {
    // One segment a second: three messages take a few seconds, long enough to watch.
    let Some(Setup { app, b, base }) = setup(1.0).await else {
        return;
    };
    b.screenshot("campaigns-empty").await;

    b.click_text("New campaign").await;
    b.wait_path("/campaigns/new").await;
    b.fill("#name", "March promotion").await;
    b.fill(
        "#message_template",
        "Hi {{first_name}}, Acme Dental is offering 20% off cleanings on {{day}}. Reply YES to book.",
    )
    .await;
    let counter = b.wait_text("#message-counter", "segment").await;
    assert!(counter.contains("GSM-7"), "{counter}");
    // Copied from a spreadsheet: a header row, tabs, one bad row, a national number.
    b.paste(
        "#recipients_text",
        "phone\tfirst_name\tday\n+447111000001\tSarah\tTuesday\n+447111000002\tJames\tWednesday\nnot a number\tBob\tFriday\n07111 000003\tAnn\tMonday\n",
    )
    .await;
    // The quick check parses the list with the server's parser and renders samples.
    let check = b.wait_text("#live-check", "3 recipients found").await;
    assert!(check.contains("Hi Sarah, Acme Dental"), "{check}");
    assert!(check.contains("not a number"), "{check}");
    b.screenshot("new-campaign").await;

    b.click_text("Continue to preview").await;
    let path = b.wait_path("/campaigns/drafts/").await;
    assert!(path.starts_with("/campaigns/drafts/drf_"), "{path}");
    let invalid = b.all("tr[data-kind='invalid']").await;
    assert_eq!(invalid.len(), 1, "exactly one row is flagged");
    let row = invalid[0].text().await.unwrap();
    assert!(
        row.contains("not a number") && row.contains("Will not be sent"),
        "{row}"
    );
    assert_eq!(b.all("tr[data-kind='ok']").await.len(), 3);
    assert_eq!(b.text("[data-total='sendable']").await, "3");
    let national = b.text("tbody tr:last-child").await;
    assert!(
        national.contains("+447111000003") && national.contains("Hi Ann"),
        "{national}"
    );
    b.screenshot("preview").await;

    // Sending needs the explicit "leave out the bad row" tick.
    b.click("#skip_invalid").await;
    let button = b.text("[data-send-button]").await;
    assert_eq!(button, "Send 3 messages now");
    b.click("[data-send-button]").await;
    let path = b.wait_path("/campaigns/smsc_").await;
    let id = campaign_id(&path);
    b.wait_text("[data-flash]", "Sending 3 messages").await;

    // The list: dashboard badge, and counts that move without a reload. (Navigating by URL:
    // the campaign page may be reloading itself at this moment, as its status changes.)
    b.goto(&format!("{base}/campaigns")).await;
    let row_css = format!("tr[data-campaign='{id}']");
    b.find(&row_css).await;
    b.js("window.__herald_no_reload = true; return true;", vec![])
        .await;
    let source = b.text(&format!("{row_css} .source")).await;
    assert_eq!(source, "dashboard");
    b.wait_text(&format!("{row_css} [data-field='status']"), "Done")
        .await;
    b.wait_text(&format!("{row_css} [data-field='delivered_count']"), "3")
        .await;
    let still_same_page = b
        .js("return window.__herald_no_reload === true;", vec![])
        .await;
    assert_eq!(
        still_same_page,
        Value::Bool(true),
        "updated without a reload"
    );
    b.screenshot("campaigns").await;

    // The API says the same: source and counts.
    let c = app.campaign(&id).await;
    assert_eq!(c["source"], "dashboard");
    assert_eq!(c["status"], "done");
    assert_eq!(c["total_count"], 3);
    assert_eq!(c["delivered_count"], 3);
    let bodies: Vec<&str> = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        "Hi Sarah, Acme Dental is offering 20% off cleanings on Tuesday. Reply YES to book."
    );

    // The campaign page: the same counts and every recipient with its Twilio sid.
    b.click(&format!("{row_css} th a")).await;
    b.wait_path(&format!("/campaigns/{id}")).await;
    assert_eq!(b.text("dd[data-field='delivered_count']").await, "3");
    assert_eq!(b.text("dd[data-field='failed_count']").await, "0");
    let table = b.text("table.recipients").await;
    assert!(
        table.contains("+447111000003") && table.contains("SM"),
        "{table}"
    );
    b.screenshot("campaign").await;
    b.close().await;
}

#[tokio::test]
async fn upload_a_csv_save_a_draft_and_launch_it() {
    let Some(Setup { app, b, base }) = setup(50.0).await else {
        return;
    };
    // What Excel writes for "CSV UTF-8" in a semicolon locale: BOM, sep= line, CRLF, quotes.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clinic patients.csv");
    std::fs::write(
        &file,
        "\u{FEFF}sep=;\r\nName;Mobile;Note\r\n\"Smith; Alice\";+44 7111 000011;VIP\r\nBob;447111000012;\r\nCarol;07111 000013;\"said \"\"call me\"\"\"\r\n",
    )
    .unwrap();
    b.goto(&format!("{base}/campaigns/new")).await;
    b.fill("#name", "Recall letters").await;
    b.fill(
        "#message_template",
        "Dear {{Name}}, time for your check-up.",
    )
    .await;
    b.find("#recipients_file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.wait_text("[data-file-name]", "clinic patients.csv").await;
    b.wait_text("#live-check", "3 recipients found").await;
    b.click_text("Continue to preview").await;
    b.wait_path("/campaigns/drafts/").await;
    let details = b.text("dl.details").await;
    assert!(details.contains("File clinic patients.csv"), "{details}");
    assert!(details.contains("column “Mobile”"), "{details}");
    assert!(
        details.contains("{{Name}}") && details.contains("{{Note}}"),
        "{details}"
    );
    let table = b.text("table.preview").await;
    for expected in [
        "Dear Smith; Alice, time for your check-up.",
        "+447111000012",
        "+447111000013",
        "said \"call me\"",
    ] {
        assert!(table.contains(expected), "{expected:?} in {table}");
    }
    assert!(b.all("tr[data-kind='invalid']").await.is_empty());
    b.screenshot("preview-upload").await;

    b.click("#when-draft").await;
    assert_eq!(b.text("[data-send-button]").await, "Save as draft");
    b.click("[data-send-button]").await;
    let path = b.wait_path("/campaigns/smsc_").await;
    let id = campaign_id(&path);
    assert_eq!(b.text(".page-head [data-field='status']").await, "Draft");
    assert_eq!(app.campaign(&id).await["status"], "draft");

    b.click_text("Launch campaign").await;
    b.wait_path(&format!("/campaigns/{id}/launch")).await;
    b.click_text("Yes, launch it").await;
    b.wait_text("[data-flash]", "Campaign launched").await;
    b.wait_text(".page-head [data-field='status']", "Done")
        .await;
    let c = app.campaign(&id).await;
    assert_eq!(c["source"], "dashboard");
    assert_eq!(c["delivered_count"], 3);
    b.close().await;
}

#[tokio::test]
async fn an_excel_csv_in_windows_1252_is_read_and_the_preview_says_so() {
    // `_app` keeps the server running until the end of the test.
    let Some(Setup { app: _app, b, base }) = setup(50.0).await else {
        return;
    };
    // Excel's default "CSV (Comma delimited)" in a semicolon locale: Windows-1252, no BOM.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.csv");
    std::fs::write(
        &file,
        b"Phone;Name\r\n+447111000021;Zo\xEB\r\n+447111000022;Jos\xE9\r\n",
    )
    .unwrap();
    b.goto(&format!("{base}/campaigns/new")).await;
    b.fill("#name", "Accents").await;
    b.fill("#message_template", "Hi {{Name}}").await;
    b.find("#recipients_file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.wait_text("[data-file-name]", "legacy.csv").await;
    b.click_text("Continue to preview").await;
    b.wait_path("/campaigns/drafts/").await;
    let page = b.text("body").await;
    assert!(
        page.contains("Your list was read as windows-1252 text, not UTF-8."),
        "{page}"
    );
    let table = b.text("table.preview").await;
    assert!(
        table.contains("Hi Zo\u{eb}") && table.contains("Hi Jos\u{e9}"),
        "{table}"
    );
    b.screenshot("preview-windows-1252").await;
    b.close().await;
}

#[tokio::test]
async fn schedule_then_cancel_with_confirmation() {
    let Some(Setup { app, b, base }) = setup(1.0).await else {
        return;
    };
    b.goto(&format!("{base}/campaigns/new")).await;
    b.fill("#name", "Flu jabs").await;
    b.fill("#message_template", "Flu jabs are back at Acme Dental.")
        .await;
    b.fill("#recipients_text", "+447111000021, +447111000022")
        .await;
    b.click_text("Continue to preview").await;
    b.wait_path("/campaigns/drafts/").await;
    // Tomorrow at 09:00 local time, typed the way the date-time input holds it.
    let tomorrow = b
        .js(
            "const d = new Date(Date.now() + 86400000); d.setHours(9, 0, 0, 0); \
             const p = n => String(n).padStart(2, '0'); \
             return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T09:00`;",
            vec![],
        )
        .await;
    b.js(
        "const i = document.getElementById('scheduled_at'); i.value = arguments[0]; \
         i.dispatchEvent(new Event('input', {bubbles: true})); return true;",
        vec![tomorrow],
    )
    .await;
    assert_eq!(b.text("[data-send-button]").await, "Schedule 2 messages");
    b.screenshot("schedule").await;
    b.click("[data-send-button]").await;
    let path = b.wait_path("/campaigns/smsc_").await;
    let id = campaign_id(&path);
    b.wait_text("[data-flash]", "Campaign scheduled").await;
    assert_eq!(
        b.text(".page-head [data-field='status']").await,
        "Scheduled"
    );
    assert_eq!(app.campaign(&id).await["status"], "scheduled");

    b.click_text("Cancel campaign").await;
    b.wait_path(&format!("/campaigns/{id}/cancel")).await;
    let lead = b.text("p.lead").await;
    assert!(
        lead.contains("2 of 2 messages have not been sent"),
        "{lead}"
    );
    b.screenshot("cancel").await;
    b.click_text("Yes, cancel the campaign").await;
    b.wait_text(
        "[data-flash]",
        "Campaign cancelled. 2 messages will not be sent",
    )
    .await;
    assert_eq!(
        b.text(".page-head [data-field='status']").await,
        "Cancelled"
    );
    assert!(
        b.all("a[href$='/cancel']").await.is_empty(),
        "no cancel button any more"
    );
    let c = app.campaign(&id).await;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["cancelled_count"], 2);
    b.close().await;
}

#[tokio::test]
async fn phone_width_and_the_other_pages() {
    let Some(Setup { app, b, base }) = setup(50.0).await else {
        return;
    };
    // An API campaign (api badge) beside the pages a phone user sees.
    let campaign = app.create_campaign(FROM, 3, json!({})).await;
    b.size(PHONE).await;
    for (path, shot) in [
        ("/campaigns", "phone-campaigns"),
        ("/campaigns/new", "phone-new-campaign"),
        ("/numbers", "phone-numbers"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.find("h1").await;
        let overflow = b
            .js(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await;
        if overflow.as_i64().unwrap_or(0) > 0 {
            let wide = b
                .js(
                    "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')] \
                     .filter(e => e.getBoundingClientRect().right > w && !e.closest('.table-wrap')) \
                     .map(e => e.tagName + '.' + e.className).slice(0, 10);",
                    vec![],
                )
                .await;
            panic!("{path} is {overflow}px wider than a phone: {wide}");
        }
        b.screenshot(shot).await;
    }
    b.goto(&format!("{base}/campaigns")).await;
    assert_eq!(
        b.text("tbody .source").await,
        "api",
        "the API campaign's badge"
    );
    b.size(crate::browser::DESKTOP).await;

    // Agents: edit the system prompt.
    b.goto(&format!("{base}/agents")).await;
    b.click_text("Reception").await;
    b.wait_path("/agents/agent_").await;
    b.fill(
        "#system_prompt",
        "You are the receptionist at Acme Dental. Flu jabs are back.",
    )
    .await;
    b.click_text("Save agent").await;
    b.wait_text("[data-flash]", "Agent saved").await;
    let agents = json(app.get("/v1/agents").await).await;
    assert_eq!(
        agents["agents"][0]["system_prompt"],
        "You are the receptionist at Acme Dental. Flu jabs are back."
    );
    b.screenshot("agent").await;

    // API keys: the secret is shown once and works.
    b.goto(&format!("{base}/api-keys")).await;
    b.fill("#name", "CRM integration").await;
    b.click_text("Create key").await;
    let key = b
        .find("#new-key")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let r = app
        .request_as(&key, Method::GET, "/v1/sms/campaigns")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    b.screenshot("api-keys").await;
    b.goto(&format!("{base}/api-keys")).await;
    assert!(b.all("#new-key").await.is_empty(), "shown once");

    // Opt-outs: added here, flagged in the next preview.
    b.goto(&format!("{base}/opt-outs")).await;
    b.fill("#phone", "07111 000031").await;
    b.click_text("Add to opt-outs").await;
    b.wait_text("[data-flash]", "+447111000031 will not be sent")
        .await;
    b.goto(&format!("{base}/campaigns/new")).await;
    b.fill("#name", "Check").await;
    b.fill("#message_template", "Hello").await;
    b.fill("#recipients_text", "+447111000031\n+447111000032")
        .await;
    b.click_text("Continue to preview").await;
    b.wait_path("/campaigns/drafts/").await;
    assert_eq!(b.all("tr[data-kind='opted-out']").await.len(), 1);
    assert_eq!(b.text("[data-total='sendable']").await, "1");

    b.goto(&format!("{base}/numbers")).await;
    b.find("h1").await;
    b.screenshot("numbers").await;

    // Conversations: a reply to the API campaign, read in its thread with what was sent.
    let id = campaign["campaign_id"].as_str().unwrap();
    app.wait_for(id, 20, |c| c["status"] == "done" && c["pending_count"] == 0)
        .await;
    app.text_in(
        "+447111000001",
        FROM,
        "Can I come on Tuesday?",
        "SM0000000000000000000000000000b001",
    )
    .await;
    b.goto(&format!("{base}/conversations")).await;
    b.wait_text("h1", "Conversations").await;
    b.click_text("+447111000001").await;
    b.wait_path("/conversations/conv_").await;
    b.wait_text("[data-context-body]", "Hi P0").await;
    assert_eq!(
        b.text("li[data-direction='inbound'] .msg-body").await,
        "Can I come on Tuesday?"
    );
    b.screenshot("conversation").await;

    // Sign out: the session is gone.
    b.click_text("Sign out").await;
    b.wait_path("/login").await;
    b.goto(&format!("{base}/campaigns")).await;
    b.wait_path("/login").await;
    b.screenshot("sign-in").await;
    b.close().await;
}

#[tokio::test]
async fn the_live_counter_counts_segments_like_twilio() {
    let Some(Setup { app: _app, b, base }) = setup(1.0).await else {
        return;
    };
    b.goto(&format!("{base}/campaigns/new")).await;
    b.find("#message_template").await;
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/twilio-segment-cases.json"
        ))
        .expect("the segment oracle"),
    )
    .unwrap();
    let cases = oracle["cases"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        let body = case["body"].as_str().unwrap();
        let got = b
            .js(
                "return window.heraldSegments(arguments[0]);",
                vec![json!(body)],
            )
            .await;
        let expected = &case["expected"];
        for field in ["encoding", "segments", "characters"] {
            if !expected[field].is_null() {
                assert_eq!(
                    got[field], expected[field],
                    "{field} of {}: {body:?}",
                    case["description"]
                );
            }
        }
        // And the same as the Rust counter that the preview and the engine use.
        let rust = herald::domain::segments::count(body);
        assert_eq!(got["segments"].as_u64(), Some(u64::from(rust.segments)));
        assert_eq!(got["encoding"].as_str(), Some(rust.encoding.as_str()));
        checked += 1;
    }
    assert!(checked >= 50, "{checked} cases");
    b.close().await;
}
