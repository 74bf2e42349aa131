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
        .request_as(
            &other,
            Method::POST,
            &format!("/v1/sms/campaigns/{scheduled}/pause"),
        )
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
}

/// `POST /v1/sms/campaigns/{id}/resend` with `body`.
async fn resend(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/v1/sms/campaigns/{id}/resend"), &body)
        .await
}

#[tokio::test]
async fn resend_texts_exactly_those_who_did_not_get_it() {
    let app = spawn_sending_app(|s| {
        s.simulator.delivered = 0.5;
        s.simulator.undelivered = 0.5;
    })
    .await;
    app.add_paced_number(A, 50.0).await;
    let created = app.create_campaign(A, 30, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let original = app
        .wait_for(id, 30, |c| {
            c["status"] == "done"
                && c["recipients"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["status"] == "delivered" || r["status"] == "undelivered")
        })
        .await;
    let missed: Vec<&Value> = original["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "undelivered")
        .collect();
    assert!(missed.len() >= 2 && missed.len() < 30, "{original}");
    // One of them opted out since: kept, never sent, failed with opted_out (as at create).
    let stopped = missed[0]["phone"].as_str().unwrap();
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": stopped }))
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let before = app.journal().await.len();

    let r = resend(
        &app,
        id,
        json!({ "statuses": ["undelivered"], "schedule_type": "now" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let again = json(r).await;
    let again_id = again["campaign_id"].as_str().unwrap();
    assert_ne!(again_id, id);
    assert_eq!(again["resend_of"], id);
    assert_eq!(again["name"], "Test (resend)");
    assert_eq!(again["message_template"], original["message_template"]);
    assert_eq!(again["from_numbers"], original["from_numbers"]);
    assert_eq!(again["total_count"], missed.len() as u64);
    // Until every status is final: a GET reads the counts, then the rows, so a callback that
    // lands between the two would show them a step apart.
    app.wait_for(again_id, 30, |c| {
        c["status"] == "done"
            && c["recipients"].as_array().unwrap().iter().all(|r| {
                ["delivered", "undelivered", "failed"].contains(&r["status"].as_str().unwrap())
            })
    })
    .await;
    let done = app.campaign(again_id).await;
    assert_counts_match(&done);
    // Exactly those recipients, in order, with their variables.
    let rows = done["recipients"].as_array().unwrap();
    assert_eq!(rows.len(), missed.len());
    for (row, was) in rows.iter().zip(&missed) {
        assert_eq!(row["phone"], was["phone"]);
        assert_eq!(row["variables"], was["variables"]);
        assert_eq!(row["body"], was["body"]);
    }
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["error_code"], "opted_out");
    // At the carrier: each of the others once more, nobody else, the opted-out one not.
    let journal = app.journal().await;
    let resent: Vec<&str> = journal[before..].iter().map(|s| s.to.as_str()).collect();
    let expected: Vec<&str> = missed[1..]
        .iter()
        .map(|r| r["phone"].as_str().unwrap())
        .collect();
    let (mut got, mut want) = (resent.clone(), expected.clone());
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // Listed with its origin; the original is unchanged.
    let list = json(app.get("/v1/sms/campaigns").await).await;
    let listed = list["campaigns"].as_array().unwrap();
    assert_eq!(listed[0]["campaign_id"], again_id);
    assert_eq!(listed[0]["resend_of"], id);
    assert_eq!(listed[1]["resend_of"], Value::Null);
}

#[tokio::test]
async fn resend_checks_its_request_and_the_campaigns_status() {
    let app = spawn_app().await;
    app.add_number(A).await;
    let running = app.create_campaign(A, 3, json!({})).await;
    let running = running["campaign_id"].as_str().unwrap();
    let ok = json!({ "statuses": ["cancelled"], "schedule_type": "draft" });
    // Not finished: 409, whatever its status says.
    let r = resend(&app, running, ok.clone()).await;
    assert_eq!(r.status(), 409);
    let e = json(r).await;
    assert_eq!(
        e["error"]["message"],
        "the campaign is running; only a done, failed or cancelled campaign can be resent"
    );
    act(&app, running, "pause", 200).await;
    assert_eq!(resend(&app, running, ok.clone()).await.status(), 409);

    // Cancelled: its cancelled recipients can be sent again.
    assert_eq!(
        app.delete(&format!("/v1/sms/campaigns/{running}"))
            .await
            .status(),
        200
    );
    for (body, fields) in [
        (json!({ "schedule_type": "now" }), vec!["statuses"]),
        (
            json!({ "statuses": [], "schedule_type": "now" }),
            vec!["statuses"],
        ),
        (
            json!({ "statuses": ["bogus"], "schedule_type": "now" }),
            vec!["statuses[0]"],
        ),
        (json!({ "statuses": ["failed"] }), vec!["schedule_type"]),
        (
            json!({ "statuses": ["failed"], "schedule_type": "now" }),
            vec!["statuses"],
        ),
        (
            json!({ "statuses": ["cancelled"], "schedule_type": "schedule" }),
            vec!["scheduled_at"],
        ),
        (
            json!({ "statuses": ["cancelled"], "schedule_type": "now", "name": " " }),
            vec!["name"],
        ),
    ] {
        let r = resend(&app, running, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
        let e = json(r).await;
        let named = error_fields(&e);
        for f in fields {
            assert!(named.contains(&f.to_owned()), "{body}: {e}");
        }
    }
    let r = resend(
        &app,
        running,
        json!({ "statuses": ["cancelled"], "schedule_type": "draft", "name": "Second go" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let again = json(r).await;
    assert_eq!(again["status"], "draft");
    assert_eq!(again["name"], "Second go");
    assert_eq!(again["total_count"], 3);
    let again_id = again["campaign_id"].as_str().unwrap();
    assert_eq!(app.campaign(again_id).await["resend_of"], running);

    // Another account's campaign is 404.
    let other = app.other_account().await;
    let r = app
        .request_as(
            &other,
            Method::POST,
            &format!("/v1/sms/campaigns/{running}/resend"),
        )
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let doc = app.openapi().await;
    assert!(doc["paths"]["/v1/sms/campaigns/{id}/resend"]["post"].is_object());
}

/// The CSV's records (BOM stripped, CRLF line ends checked), read with the `csv` crate.
fn records(body: &str) -> Vec<Vec<String>> {
    let text = body
        .strip_prefix('\u{feff}')
        .expect("a byte order mark first");
    assert!(text.ends_with("\r\n"), "{text}");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn csv_of(app: &TestApp, path: &str) -> (u16, String, String) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

#[tokio::test]
async fn results_download_as_safe_csv_with_every_recipient() {
    let app = spawn_app().await;
    app.add_number(A).await;
    let recipients: Vec<Value> = (0..2_500)
        .map(|i| {
            json!({
                "phone": format!("+4471110{:05}", i + 1),
                "variables": { "first_name": format!("P{i}"), "note": "=HYPERLINK(\"x\")",
                               "ref": "+447700900123", "city": "Leeds, UK" }
            })
        })
        .collect();
    let created = app
        .post_campaign(&json!({
            "from_number": A, "name": "CSV", "message_template": "Hi {{first_name}}",
            "recipients": recipients,
        }))
        .await;
    let id = created["campaign_id"].as_str().unwrap();
    let (status, kind, body) =
        csv_of(&app, &format!("/v1/sms/campaigns/{id}/recipients.csv")).await;
    assert_eq!(status, 200);
    assert_eq!(kind, "text/csv; charset=utf-8");
    let rows = records(&body);
    assert_eq!(
        rows[0],
        [
            "phone",
            "status",
            "error_code",
            "error_message",
            "twilio_sid",
            "from_number",
            "segments",
            "sent_at",
            "delivered_at",
            "updated_at",
            "city",
            "first_name",
            "note",
            "ref"
        ]
    );
    assert_eq!(rows.len(), 2_501, "every recipient, past one page");
    let first = &rows[1];
    assert_eq!(first[0], "+447111000001");
    assert_eq!(first[1], "pending");
    assert_eq!(first[5], A);
    assert_eq!(first[6], "1");
    assert_eq!(first[7], "");
    assert_eq!(first[10], "Leeds, UK");
    assert_eq!(first[11], "P0");
    assert_eq!(first[12], "'=HYPERLINK(\"x\")", "a formula is defused");
    assert_eq!(first[13], "+447700900123", "a phone number is not");
    assert_eq!(rows[2_500][11], "P2499");

    // Filtered as on get.
    let (_, _, body) = csv_of(
        &app,
        &format!("/v1/sms/campaigns/{id}/recipients.csv?status=delivered"),
    )
    .await;
    assert_eq!(records(&body).len(), 1, "the header only");
    let (_, _, body) = csv_of(
        &app,
        &format!("/v1/sms/campaigns/{id}/recipients.csv?status=pending"),
    )
    .await;
    assert_eq!(records(&body).len(), 2_501);
    let r = app
        .get(&format!(
            "/v1/sms/campaigns/{id}/recipients.csv?status=bogus"
        ))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["status"]);
    let other = app.other_account().await;
    let r = app
        .request_as(
            &other,
            Method::GET,
            &format!("/v1/sms/campaigns/{id}/recipients.csv"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let doc = app.openapi().await;
    assert!(doc["paths"]["/v1/sms/campaigns/{id}/recipients.csv"]["get"].is_object());
}

#[tokio::test]
async fn sent_and_delivered_times_show_in_json_and_csv() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number(A, 50.0).await;
    let created = app.create_campaign(A, 3, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app.wait_all_delivered(id, 3, 30).await;
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    for r in c["recipients"].as_array().unwrap() {
        let sent = parse(&r["sent_at"]);
        let delivered = parse(&r["delivered_at"]);
        assert!(sent <= delivered, "{r}");
    }
    let (_, _, body) = csv_of(&app, &format!("/v1/sms/campaigns/{id}/recipients.csv")).await;
    let rows = records(&body);
    assert_eq!(rows.len(), 4);
    for (row, r) in rows[1..].iter().zip(c["recipients"].as_array().unwrap()) {
        assert_eq!(row[1], "delivered");
        assert_eq!(row[4], r["twilio_sid"].as_str().unwrap());
        assert_eq!(parse(&Value::from(row[7].clone())), parse(&r["sent_at"]));
        assert_eq!(
            parse(&Value::from(row[8].clone())),
            parse(&r["delivered_at"])
        );
    }
}

#[tokio::test]
async fn a_test_send_goes_out_once_is_tracked_and_is_no_campaign() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number(A, 5.0).await;
    let r = app
        .post_json(
            "/v1/sms/test",
            &json!({ "from_number": A, "to": "+447111000001",
                     "message_template": "Hi {{name}} 😀", "variables": { "name": "Ann" } }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let sent = json(r).await;
    assert_eq!(sent["body"], "Hi Ann 😀");
    assert_eq!(sent["segments"], 1);
    assert_eq!(sent["encoding"], "UCS-2");
    assert_eq!(sent["to"], "+447111000001");
    assert_eq!(sent["from_number"], A);
    assert!(
        sent["twilio_sid"].as_str().unwrap().starts_with("SM"),
        "{sent}"
    );
    let id = sent["test_id"].as_str().unwrap();
    assert!(id.starts_with("smst_"));
    let mut followed = Value::Null;
    for _ in 0..200 {
        followed = json(app.get(&format!("/v1/sms/test/{id}")).await).await;
        if followed["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(followed["status"], "delivered", "{followed}");
    assert!(followed["delivered_at"].is_string());
    assert_eq!(followed["twilio_sid"], sent["twilio_sid"]);
    let journal = app.journal().await;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].to, "+447111000001");
    assert_eq!(journal[0].body, "Hi Ann 😀");
    // Never a campaign.
    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(list["campaigns"], json!([]));

    // An opted-out number is refused as a campaign refuses it: recorded, never sent.
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": "+447111000002" }))
        .await;
    assert!(r.status().is_success());
    let r = app
        .post_json(
            "/v1/sms/test",
            &json!({ "from_number": A, "to": "+447111000002", "message_template": "Hi" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let refused = json(r).await;
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error_code"], "opted_out");
    assert_eq!(refused["twilio_sid"], Value::Null);
    assert_eq!(app.journal().await.len(), 1);

    // Bad requests name their fields; another account sees nothing.
    for (body, field) in [
        (json!({ "from_number": A, "message_template": "Hi" }), "to"),
        (
            json!({ "from_number": A, "to": "12", "message_template": "Hi" }),
            "to",
        ),
        (
            json!({ "from_number": "+447700900999", "to": "+447111000003", "message_template": "Hi" }),
            "from_number",
        ),
        (
            json!({ "from_number": A, "to": "+447111000003" }),
            "message_template",
        ),
        (
            json!({ "from_number": A, "to": "+447111000003", "message_template": "Hi",
                    "variables": { "x": [1] } }),
            "variables.x",
        ),
    ] {
        let r = app.post_json("/v1/sms/test", &body).await;
        assert_eq!(r.status(), 422, "{body}");
        let e = json(r).await;
        assert!(error_fields(&e).contains(&field.to_owned()), "{body}: {e}");
    }
    let other = app.other_account().await;
    let r = app
        .request_as(&other, Method::GET, &format!("/v1/sms/test/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.get("/v1/sms/test/smst_nothing").await.status(), 404);
    let doc = app.openapi().await;
    assert!(doc["paths"]["/v1/sms/test"]["post"].is_object());
    assert!(doc["paths"]["/v1/sms/test/{id}"]["get"].is_object());
}
