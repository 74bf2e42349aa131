//! The Webhooks page: add an endpoint (its secret shown once), send a test event and see it
//! among the recent deliveries, disable it, delete it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use herald_test_support::spawn_sending_app;
use serde_json::json;

use crate::browser::{Browser, skip_reason};

#[tokio::test]
async fn add_test_disable_and_delete_an_endpoint() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    // A receiver on loopback that records the webhook-id of each post.
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    let rx = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                seen.lock().unwrap().push(id);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, rx).await.unwrap() });

    let app = spawn_sending_app(|s| {
        s.webhooks.allow_private = true;
        s.webhooks.retry_base = Duration::from_millis(100);
    })
    .await;
    let base = app.url("");
    let b = Browser::start().await;
    b.sign_in(&base, &app.creds.user, &app.creds.password).await;

    b.click_text("Webhooks").await;
    b.wait_path("/webhook-endpoints").await;
    b.wait_text("main", "No endpoints yet").await;
    // Without an event type the form is refused and keeps what was typed.
    b.fill("#url", &hook).await;
    b.click_text("Add endpoint").await;
    b.wait_text(".error-summary", "event type").await;
    b.click("input[value='opt_out.created']").await;
    b.click("input[value='campaign.finished']").await;
    b.click_text("Add endpoint").await;
    let secret = b
        .eventually("the secret", || async {
            let v = b
                .js(
                    "const e = document.querySelector('#new-secret'); return e ? e.value : null;",
                    vec![],
                )
                .await;
            v.as_str().map(str::to_owned)
        })
        .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    b.screenshot("webhooks").await;
    let listed = b.text("table").await;
    assert!(
        listed.contains("opt_out.created, campaign.finished")
            || listed.contains("campaign.finished"),
        "{listed}"
    );
    assert!(listed.contains("Enabled"), "{listed}");
    // Reloading never shows the secret again.
    b.goto(&format!("{base}/webhook-endpoints")).await;
    b.wait_text("table", "Enabled").await;
    assert!(b.all("#new-secret").await.is_empty());

    b.click_text(&hook).await;
    let path = b.wait_path("/webhook-endpoints/ep_").await;
    b.click_text("Send a test event").await;
    b.wait_text(".notice", "Test event queued").await;
    for _ in 0..100 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = got
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("the test event arrived");
    // The delivery shows once stored.
    let rows = b
        .eventually("the delivery row", || async {
            b.goto(&format!("{base}{path}")).await;
            let t = b.client_text("#deliveries").await?;
            t.contains(&id).then_some(t)
        })
        .await;
    assert!(
        rows.contains("webhook.test") && rows.contains("Delivered"),
        "{rows}"
    );
    b.screenshot("webhook").await;

    b.click_text("Disable").await;
    b.wait_text("[data-field=state]", "Disabled").await;
    let e = herald_test_support::json(app.get(&format!("/v1{path}")).await).await;
    assert_eq!(e["enabled"], false, "{e}");
    b.click_text("Enable").await;
    b.wait_text("[data-field=state]", "Enabled").await;

    b.click_text("Delete this endpoint").await;
    b.click_text("Yes, delete this endpoint").await;
    b.wait_path("/webhook-endpoints").await;
    b.wait_text("main", "No endpoints yet").await;
    assert_eq!(
        herald_test_support::json(app.get("/v1/webhook-endpoints").await).await,
        json!({ "webhook_endpoints": [] })
    );
    b.close().await;
}
