//! The send engine end to end: real HTTP to the in-process simulator, real signed callbacks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use herald::domain::ids::AccountId;
use herald::provider::signature;
use serde_json::{Value, json};
use time::OffsetDateTime;

use herald_test_support::{
    Sent, assert_cache_matches, assert_counts_match, finished, json, spawn_sending_app,
};

/// The most segments any number sent within any 1-second window.
pub(crate) fn worst_window(journal: &[Sent]) -> HashMap<String, u32> {
    let mut by_number: HashMap<String, Vec<(OffsetDateTime, u32)>> = HashMap::new();
    for s in journal {
        by_number
            .entry(s.from.clone())
            .or_default()
            .push((s.at(), s.segments));
    }
    by_number
        .into_iter()
        .map(|(number, mut sends)| {
            sends.sort();
            let mut worst = 0;
            for (i, (start, _)) in sends.iter().enumerate() {
                let in_window: u32 = sends[i..]
                    .iter()
                    .take_while(|(t, _)| *t - *start < time::Duration::seconds(1))
                    .map(|(_, s)| s)
                    .sum();
                worst = worst.max(in_window);
            }
            (number, worst)
        })
        .collect()
}

#[tokio::test]
async fn a_campaign_goes_out_paced_and_every_status_comes_back() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number("+447446466847", 25.0).await;
    let created = app.create_campaign("+447446466847", 60, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app.wait_all_delivered(id, 60, 20).await;
    assert_cache_matches(&app, id).await;
    for r in c["recipients"].as_array().unwrap() {
        assert!(r["twilio_sid"].as_str().unwrap().starts_with("SM"));
    }

    let journal = app.journal().await;
    assert_eq!(journal.len(), 60);
    let phones: HashSet<&str> = journal.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(phones.len(), 60, "someone was texted twice");
    assert_eq!(journal[0].body, "Hi P0");
    for (number, worst) in worst_window(&journal) {
        assert!(worst <= 25, "{number} sent {worst} segments in one second");
    }
    // 60 messages at 25/s cannot leave faster than 59/25 s.
    let span = journal.last().unwrap().at() - journal[0].at();
    assert!(
        span >= time::Duration::milliseconds(59 * 1000 / 25 - 50),
        "{span}"
    );
}

#[tokio::test]
async fn faults_resolve_every_recipient_without_sending_twice() {
    let app = spawn_sending_app(|s| {
        s.simulator.fail_429 = 0.2;
        s.simulator.fail_5xx = 0.2;
        s.simulator.duplicate_callbacks = 0.3;
        s.simulator.reorder_callbacks = 0.3;
    })
    .await;
    app.add_paced_number("+447446466847", 100.0).await;
    app.add_paced_number("+447446466848", 100.0).await;
    let created = app
        .create_campaign(
            "+447446466847",
            80,
            json!({ "from_number": null, "from_numbers": ["+447446466847", "+447446466848"] }),
        )
        .await;
    let id = created["campaign_id"].as_str().unwrap();
    app.wait_all_delivered(id, 80, 30).await;
    assert_cache_matches(&app, id).await;

    // Even the 5xx answers that created a message (ambiguous) were reconciled, not resent.
    let journal = app.journal().await;
    let mut per_phone: HashMap<&str, usize> = HashMap::new();
    for s in &journal {
        *per_phone.entry(s.to.as_str()).or_default() += 1;
    }
    assert_eq!(per_phone.len(), 80);
    assert!(
        per_phone.values().all(|n| *n == 1),
        "duplicates: {per_phone:?}"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("herald_submissions_total{outcome=\"retryable\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_submissions_total{outcome=\"ambiguous\"}"));
    assert!(metrics.contains("herald_callbacks_total{status=\"delivered\"}"));
}

#[tokio::test]
async fn cancel_stops_sending_within_a_slot() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number("+447446466847", 10.0).await;
    let created = app.create_campaign("+447446466847", 100, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let r = app.delete(&format!("/v1/sms/campaigns/{id}")).await;
    assert_eq!(r.status(), 200);
    let at_cancel = app.journal().await.len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = app.journal().await.len();
    assert!(
        after <= at_cancel + 2,
        "kept sending: {at_cancel} then {after}"
    );
    assert!((1..100).contains(&after), "{after}");
    let c = app.wait_for(id, 5, |c| c["pending_count"] == 0).await;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(
        c["cancelled_count"].as_u64().unwrap(),
        100 - after as u64,
        "{c}"
    );
    assert_counts_match(&c);
}

#[tokio::test]
async fn a_scheduled_campaign_starts_on_time() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number("+447446466847", 50.0).await;
    let at = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let at_text = at
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let created = app
        .create_campaign(
            "+447446466847",
            3,
            json!({ "schedule_type": "schedule", "scheduled_at": at_text }),
        )
        .await;
    assert_eq!(created["status"], "scheduled");
    let id = created["campaign_id"].as_str().unwrap();
    // Nothing leaves before `scheduled_at`: checked on the carrier's clock below ("sent
    // early"), not by looking at the journal after a sleep, which a slow create could outlast.
    let c = app.wait_for(id, 10, finished).await;
    assert_eq!(c["status"], "done");
    let journal = app.journal().await;
    assert_eq!(journal.len(), 3);
    let start = at.replace_nanosecond(0).unwrap();
    assert!(journal[0].at() >= start, "sent early");
    // The engine promotes within one tick (50 ms here); the bound is loose only so that a
    // heavily loaded test machine cannot make this test flaky.
    assert!(
        journal[0].at() - start < time::Duration::seconds(5),
        "started late"
    );
}

#[tokio::test]
async fn two_campaigns_on_one_number_take_turns() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number("+447446466847", 20.0).await;
    let big = app.create_campaign("+447446466847", 60, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let small = app
        .post_campaign(&json!({
            "from_number": "+447446466847", "name": "Small", "message_template": "Small",
            "recipients": [{ "phone": "+447723456781" }, { "phone": "+447723456782" }]
        }))
        .await;
    let s = app
        .wait_for(small["campaign_id"].as_str().unwrap(), 10, finished)
        .await;
    assert_eq!(s["status"], "done");
    let b = json(
        app.get(&format!(
            "/v1/sms/campaigns/{}",
            big["campaign_id"].as_str().unwrap()
        ))
        .await,
    )
    .await;
    assert_ne!(
        b["status"], "done",
        "the small campaign waited for the big one"
    );
}

#[tokio::test]
async fn opted_out_numbers_and_twilio_21610_are_never_sent() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number("+447446466847", 50.0).await;
    let account = AccountId::parse(&app.creds.account_id).unwrap();
    let created = app
        .post_campaign(&json!({
            "from_number": "+447446466847", "name": "Opt-outs", "message_template": "Hi",
            "schedule_type": "draft",
            "recipients": [
                { "phone": "+447723456781" },
                { "phone": "+447723456782" },
                { "phone": "+15005550004" }
            ]
        }))
        .await;
    let id = created["campaign_id"].as_str().unwrap();
    // Opted out after the campaign was created: checked again before sending.
    app.store
        .add_opt_out(
            &account,
            "+447723456782",
            "api",
            None,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let r = app.launch(id).await;
    assert_eq!(r.status(), 200);
    let c = app.wait_for(id, 10, finished).await;
    assert_eq!(c["status"], "done", "{c}");
    let by_phone: HashMap<&str, &Value> = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["phone"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_phone["+447723456782"]["error_code"], "opted_out");
    assert_eq!(by_phone["+15005550004"]["status"], "failed");
    assert_eq!(by_phone["+15005550004"]["error_code"], "21610");
    let journal = app.journal().await;
    assert_eq!(
        journal.iter().map(|s| s.to.as_str()).collect::<Vec<_>>(),
        ["+447723456781"]
    );
    // Twilio's 21610 recorded an opt-out for the account.
    let opted = app.store.opted_out_phones(&account).await.unwrap();
    assert!(opted.contains("+15005550004"));
}

#[tokio::test]
async fn a_campaign_whose_every_recipient_fails_at_submission_is_failed() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_paced_number("+447446466847", 50.0).await;
    let created = app
        .post_campaign(&json!({
            "from_number": "+447446466847", "name": "Bad", "message_template": "Hi",
            "recipients": [{ "phone": "+15005550001" }, { "phone": "+15005550009" }]
        }))
        .await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let c = app.wait_for(&id, 10, finished).await;
    assert_eq!(c["status"], "failed", "{c}");
    assert_eq!(c["failed_count"], 2);
}

#[tokio::test]
async fn status_callbacks_are_signed_and_never_move_backwards() {
    let app = spawn_sending_app(|s| {
        // Callbacks from the simulator come late, so this test's own callbacks come first.
        s.simulator.callback_delay = Duration::from_secs(30);
    })
    .await;
    app.add_paced_number("+447446466847", 50.0).await;
    let created = app.create_campaign("+447446466847", 1, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app
        .wait_for(id, 10, |c| c["recipients"][0]["twilio_sid"].is_string())
        .await;
    let sid = c["recipients"][0]["twilio_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.settings.twilio.as_ref().unwrap().auth_token.clone();
    let url = app.url("/webhooks/twilio/status");
    let post = |status: &str, sign_with: &str| {
        let params = vec![
            ("MessageSid".to_owned(), sid.clone()),
            ("MessageStatus".to_owned(), status.to_owned()),
            ("To".to_owned(), "+447111000001".to_owned()),
        ];
        let sig = signature::compute(sign_with, &url, &params);
        app.client
            .post(&url)
            .header("X-Twilio-Signature", sig)
            .form(&params)
            .send()
    };
    // Forged: 403 and nothing changes.
    let r = post("delivered", "not-the-token").await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(&url)
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "delivered")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let c = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(c["recipients"][0]["status"], "queued");

    // Out of order: delivered, then a late sent and a duplicate delivered.
    assert_eq!(post("delivered", &token).await.unwrap().status(), 200);
    assert_eq!(post("sent", &token).await.unwrap().status(), 200);
    assert_eq!(post("delivered", &token).await.unwrap().status(), 200);
    assert_eq!(post("undelivered", &token).await.unwrap().status(), 200);
    let c = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(c["recipients"][0]["status"], "delivered");
    assert_eq!(c["delivered_count"], 1);
}

#[tokio::test]
async fn with_every_callback_lost_statuses_are_polled_from_twilio() {
    let app = spawn_sending_app(|s| {
        s.simulator.drop_callbacks = 1.0;
        // `sent` until 150 ms, final after 300 ms: the first poll (200 ms) finds `sent`, a
        // later one the final status.
        s.simulator.callback_delay = Duration::from_millis(150);
        s.engine.status_poll_after = Duration::from_millis(200);
        s.engine.status_poll_rate = 500.0;
    })
    .await;
    app.add_paced_number("+447446466847", 100.0).await;
    let created = app.create_campaign("+447446466847", 40, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app.wait_all_delivered(id, 40, 30).await;
    assert_cache_matches(&app, id).await;
    assert_eq!(c["failed_count"], 0, "{c}");
    assert_eq!(app.journal().await.len(), 40);

    // No callback reached Herald: every status came from a poll.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("herald_callbacks_total{"), "{metrics}");
}

#[tokio::test]
async fn polled_failures_keep_their_error_and_the_counts_follow() {
    let app = spawn_sending_app(|s| {
        s.simulator.drop_callbacks = 1.0;
        s.simulator.delivered = 0.0;
        s.simulator.undelivered = 1.0;
        s.engine.status_poll_after = Duration::from_millis(200);
        s.engine.status_poll_rate = 500.0;
    })
    .await;
    app.add_paced_number("+447446466847", 100.0).await;
    let created = app.create_campaign("+447446466847", 10, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app
        .wait_for(id, 30, |c| finished(c) && c["failed_count"] == 10)
        .await;
    assert_eq!(c["status"], "done", "{c}");
    assert_counts_match(&c);
    assert_cache_matches(&app, id).await;
    for r in c["recipients"].as_array().unwrap() {
        assert_eq!(r["status"], "undelivered", "{r}");
        assert_eq!(r["error_code"], "30003", "{r}");
    }
}
