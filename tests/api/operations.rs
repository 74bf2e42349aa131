//! Campaign operations through the real server and the simulator: pause and resume (on one
//! node and across two), resend to the recipients who did not get it, and the results as CSV.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use herald_test_support::{
    TestApp, assert_cache_matches, assert_counts_match, error_fields, json, spawn_app,
    spawn_sending_app,
};

const A: &str = "+447446466847";

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.request(Method::POST, path).send().await.unwrap()
}

/// `POST …/{id}/{action}`, asserting the status; returns the body.
async fn act(app: &TestApp, id: &str, action: &str, status: u16) -> Value {
    let r = post(app, &format!("/v1/sms/campaigns/{id}/{action}")).await;
    let got = r.status();
    let body = json(r).await;
    assert_eq!(got, status, "{action}: {body}");
    body
}

/// Waits until everything Herald handed to the simulator is settled: the simulator's journal
/// holds exactly the recipients that left Herald, and no callback is outstanding. Returns
/// the campaign and the journal's length.
async fn settled(app: &TestApp, id: &str) -> (Value, usize) {
    for _ in 0..400 {
        let c = app
            .wait_for(id, 1, |c| {
                c["recipients"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["status"] == "pending" || r["status"] == "delivered")
            })
            .await;
        let delivered = c["delivered_count"].as_u64().unwrap() as usize;
        let journal = app.journal().await.len();
        if journal == delivered {
            return (c, journal);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the campaign never settled");
}

/// Every phone the simulator was asked to text, asserting that none was texted twice.
async fn texted_once(app: &TestApp) -> HashSet<String> {
    let journal = app.journal().await;
    let phones: HashSet<String> = journal.iter().map(|s| s.to.clone()).collect();
    assert_eq!(phones.len(), journal.len(), "someone was texted twice");
    phones
}

/// Pauses `id` once some of it was delivered, checks that nothing more leaves, resumes it
/// through `resumer` and checks that it completes with nobody texted twice.
async fn pause_then_resume(pauser: &TestApp, resumer: &TestApp, watcher: &TestApp, id: &str) {
    watcher
        .wait_for(id, 30, |c| c["delivered_count"].as_u64() >= Some(3))
        .await;
    let paused = act(pauser, id, "pause", 200).await;
    assert_eq!(paused["status"], "paused", "{paused}");

    // What was in flight finishes and is tracked; then, once every node's engine heard of
    // the pause (a tick, 50 ms here), nothing more leaves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (c, sent) = settled(watcher, id).await;
    assert_eq!(c["status"], "paused");
    assert!(c["pending_count"].as_u64().unwrap() > 0, "{c}");
    assert_counts_match(&c);
    // Long enough for several messages at the number's pace.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (c, still) = settled(watcher, id).await;
    assert_eq!(still, sent, "a message left for a paused campaign");
    assert_eq!(c["status"], "paused");

    let resumed = act(resumer, id, "resume", 200).await;
    assert_eq!(resumed["status"], "running", "{resumed}");
    let total = c["total_count"].as_u64().unwrap();
    watcher.wait_all_delivered(id, total, 60).await;
    assert_cache_matches(watcher, id).await;
    assert_eq!(texted_once(watcher).await.len() as u64, total);
}

#[tokio::test]
async fn pause_stops_sending_and_resume_finishes_without_a_duplicate() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number(A, 5.0).await;
    let created = app.create_campaign(A, 30, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    pause_then_resume(&app, &app, &app, id).await;
}

#[tokio::test]
async fn pause_on_one_node_stops_the_node_that_sends() {
    // Several nodes share a PostgreSQL database; SQLite is single-node (one process owns the
    // file with its one writer), so there this is the test above.
    if std::env::var("HERALD_TEST_BACKEND").as_deref() != Ok("postgres") {
        eprintln!("skipped: several nodes need PostgreSQL (HERALD_TEST_BACKEND=postgres)");
        return;
    }
    // A hub without an engine (the API that is asked) and two sending nodes: the pause is
    // heard by no sending node's memory, only through the store's claim.
    let hub = spawn_sending_app(|s| {
        s.run_engine = false;
        s.engine.lease_ttl = Duration::from_millis(1500);
    })
    .await;
    let first = hub.spawn_another_node(|s| s.run_engine = true).await;
    let second = hub.spawn_another_node(|s| s.run_engine = true).await;
    hub.add_paced_number(A, 5.0).await;
    let created = hub.create_campaign(A, 30, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    pause_then_resume(&hub, &second, &first, id).await;
}

#[tokio::test]
async fn pause_and_resume_refuse_what_they_cannot_do() {
    let app = spawn_app().await;
    app.add_number(A).await;
    let draft = app
        .create_campaign(A, 2, json!({ "schedule_type": "draft" }))
        .await;
    let draft = draft["campaign_id"].as_str().unwrap();
    let e = act(&app, draft, "pause", 409).await;
    assert_eq!(
        e["error"]["message"],
        "the campaign is draft; only a running or scheduled campaign can be paused"
    );
    let e = act(&app, draft, "resume", 409).await;
    assert_eq!(
        e["error"]["message"],
        "the campaign is draft; only a paused campaign can be resumed"
    );

    // The engine is off: a `now` campaign stays running.
    let running = app.create_campaign(A, 2, json!({})).await;
    let running = running["campaign_id"].as_str().unwrap();
    act(&app, running, "resume", 409).await;
    assert_eq!(act(&app, running, "pause", 200).await["status"], "paused");
    let e = act(&app, running, "pause", 409).await;
    assert_eq!(e["error"]["message"], "the campaign is already paused");
    // Listed as paused.
    let list = json(app.get("/v1/sms/campaigns").await).await;
    let listed = list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign_id"] == running)
        .unwrap();
    assert_eq!(listed["status"], "paused");
    // Cancel works on a paused campaign, and a cancelled one neither pauses nor resumes.
    let r = app.delete(&format!("/v1/sms/campaigns/{running}")).await;
    assert_eq!(r.status(), 200);
    let cancelled = json(r).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_count"], 2);
    act(&app, running, "pause", 409).await;
    act(&app, running, "resume", 409).await;

    // A scheduled campaign pauses and resumes to `scheduled` while its time is ahead.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let scheduled = app
        .create_campaign(
            A,
            2,
            json!({ "schedule_type": "schedule", "scheduled_at": later }),
        )
        .await;
    let scheduled = scheduled["campaign_id"].as_str().unwrap();
    assert_eq!(act(&app, scheduled, "pause", 200).await["status"], "paused");
    assert_eq!(
        act(&app, scheduled, "resume", 200).await["status"],
        "scheduled"
    );

    // Another account's campaign, and no campaign at all, are 404.
    let other = app.other_account().await;
    let r = app
        .request_as(&other, Method::POST, &format!("/v1/sms/campaigns/{scheduled}/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    act(&app, "smsc_nothing", "pause", 404).await;

    // Documented.
    let doc = app.openapi().await;
    for path in [
        "/v1/sms/campaigns/{id}/pause",
        "/v1/sms/campaigns/{id}/resume",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
    let _ = error_fields;
}
