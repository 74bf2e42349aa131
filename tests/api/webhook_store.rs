//! The webhook outbox at the store, on both backends (as the conformance suite runs): events
//! written by the database in the transaction of their change, only for endpoints that want
//! them, claimed once, retried with one id, and an endpoint's failing streak and disable.

use std::collections::HashSet;

use herald::domain::ids::{AccountId, EndpointId, KeyId};
use herald::domain::webhooks::EventType;
use herald::store::{
    ConsentEvent, NewAccount, NewApiKey, Store, WebhookAttemptResult, WebhookEndpoint, WebhookNext,
};
use herald_test_support::TestDb;
use time::{Duration, OffsetDateTime};

on_every_backend!(
    an_opt_out_writes_its_event_which_is_claimed_once_and_retried_with_its_id,
    only_enabled_endpoints_that_ask_for_a_type_get_it_and_a_day_of_failures_disables,
    racing_nodes_claim_each_message_once,
);

async fn account(s: &dyn Store, name: &str) -> AccountId {
    let id = AccountId::generate();
    s.create_account(&NewAccount {
        id: id.clone(),
        name: name.into(),
        username: format!("{name}-{}", &id.as_str()[5..11]),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        key: NewApiKey {
            id: KeyId::generate(),
            name: "default".into(),
            secret_hash: vec![1; 32],
        },
        created_at: OffsetDateTime::now_utc(),
    })
    .await
    .unwrap();
    id
}

async fn endpoint(s: &dyn Store, a: &AccountId, events: &[EventType]) -> WebhookEndpoint {
    let now = OffsetDateTime::now_utc();
    let e = WebhookEndpoint {
        id: EndpointId::generate(),
        url: "https://hooks.example.com/x".into(),
        description: None,
        events: events.to_vec(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
        pending: 0,
    };
    s.create_webhook_endpoint(a, &e).await.unwrap();
    e
}

fn opt_out(phone: &str) -> ConsentEvent {
    ConsentEvent {
        phone: phone.into(),
        source: "api".into(),
        evidence: None,
        at: OffsetDateTime::now_utc(),
    }
}

fn later() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::seconds(1)
}

async fn an_opt_out_writes_its_event_which_is_claimed_once_and_retried_with_its_id(db: &TestDb) {
    let s = db.store().await;
    let a = account(&*s, "hooks").await;
    let e = endpoint(
        &*s,
        &a,
        &[EventType::OptOutCreated, EventType::OptOutRemoved],
    )
    .await;
    assert!(
        s.claim_webhooks(later(), later(), 10, &[])
            .await
            .unwrap()
            .is_empty()
    );

    s.opt_out(&a, &opt_out("+447723100001"), Some("asked"))
        .await
        .unwrap();
    let hold = later() + Duration::minutes(5);
    let due = s.claim_webhooks(later(), hold, 10, &[]).await.unwrap();
    assert_eq!(due.len(), 1);
    let m = &due[0];
    assert_eq!(m.event_type, "opt_out.created");
    assert_eq!(m.data["phone"], "+447723100001");
    assert_eq!(m.data["reason"], "asked");
    assert_eq!(m.attempts, 0);
    assert_eq!(m.secrets, vec![e.secret.clone()]);
    assert!(m.webhook_id.starts_with("whmsg_"), "{}", m.webhook_id);
    // Held: nobody claims it again before the hold ends, unless its endpoint is busy-listed.
    assert!(
        s.claim_webhooks(later(), hold, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let got = s.get_webhook_endpoint(&a, &e.id).await.unwrap();
    assert_eq!(got.pending, 1);

    // A failed attempt: due again at its retry time, with the same id.
    let retry_at = later();
    s.record_webhook_attempt(&WebhookAttemptResult {
        message_id: m.id,
        endpoint_seq: m.endpoint_seq,
        attempt: 1,
        status_code: Some(500),
        error: Some("HTTP 500".into()),
        at: OffsetDateTime::now_utc(),
        next: WebhookNext::RetryAt(retry_at),
        disable: None,
    })
    .await
    .unwrap();
    let failing = s.get_webhook_endpoint(&a, &e.id).await.unwrap();
    assert!(failing.failing_since.is_some());
    let again = s
        .claim_webhooks(retry_at + Duration::milliseconds(1), hold, 10, &[])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].webhook_id, m.webhook_id);
    assert_eq!(again[0].attempts, 1);
    s.record_webhook_attempt(&WebhookAttemptResult {
        message_id: m.id,
        endpoint_seq: m.endpoint_seq,
        attempt: 2,
        status_code: Some(204),
        error: None,
        at: OffsetDateTime::now_utc(),
        next: WebhookNext::Delivered,
        disable: None,
    })
    .await
    .unwrap();
    let healthy = s.get_webhook_endpoint(&a, &e.id).await.unwrap();
    assert_eq!(healthy.failing_since, None);
    assert_eq!(healthy.pending, 0);
    let attempts = s.webhook_attempts(&a, &e.id, 10).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|x| (x.attempt, x.status_code))
            .collect::<Vec<_>>(),
        [(2, Some(204)), (1, Some(500))]
    );
    assert!(attempts.iter().all(|x| x.webhook_id == m.webhook_id));
    // A stale outcome (the message is no longer pending) changes nothing.
    s.record_webhook_attempt(&WebhookAttemptResult {
        message_id: m.id,
        endpoint_seq: m.endpoint_seq,
        attempt: 3,
        status_code: Some(500),
        error: Some("late".into()),
        at: OffsetDateTime::now_utc(),
        next: WebhookNext::RetryAt(later()),
        disable: None,
    })
    .await
    .unwrap();
    assert_eq!(s.webhook_attempts(&a, &e.id, 10).await.unwrap().len(), 2);

    // Taking the number off the list is the other event.
    s.remove_opt_out(&a, &opt_out("+447723100001"))
        .await
        .unwrap();
    let removed = s.claim_webhooks(later(), hold, 10, &[]).await.unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].event_type, "opt_out.removed");
    // Another account's endpoint sees none of it.
    let other = account(&*s, "other").await;
    let theirs = endpoint(&*s, &other, &[EventType::OptOutCreated]).await;
    assert!(s.webhook_attempts(&other, &e.id, 10).await.is_err());
    assert_eq!(
        s.get_webhook_endpoint(&other, &theirs.id)
            .await
            .unwrap()
            .pending,
        0
    );
    // Deleting the endpoint takes its messages and attempts with it.
    s.delete_webhook_endpoint(&a, &e.id).await.unwrap();
    assert!(s.get_webhook_endpoint(&a, &e.id).await.is_err());
}

async fn only_enabled_endpoints_that_ask_for_a_type_get_it_and_a_day_of_failures_disables(
    db: &TestDb,
) {
    let s = db.store().await;
    let a = account(&*s, "picky").await;
    let campaigns_only = endpoint(&*s, &a, &[EventType::CampaignStarted]).await;
    let mut off = endpoint(&*s, &a, &[EventType::OptOutCreated]).await;
    off.enabled = false;
    s.update_webhook_endpoint(&a, &off).await.unwrap();
    let wants = endpoint(&*s, &a, &[EventType::OptOutCreated]).await;
    s.opt_out(&a, &opt_out("+447723100002"), None)
        .await
        .unwrap();
    let hold = later() + Duration::minutes(5);
    let due = s.claim_webhooks(later(), hold, 10, &[]).await.unwrap();
    assert_eq!(due.len(), 1, "only the enabled endpoint that asked");
    assert_eq!(
        s.get_webhook_endpoint(&a, &wants.id).await.unwrap().pending,
        1
    );
    assert_eq!(
        s.get_webhook_endpoint(&a, &campaigns_only.id)
            .await
            .unwrap()
            .pending,
        0
    );
    assert_eq!(
        s.get_webhook_endpoint(&a, &off.id).await.unwrap().pending,
        0
    );

    // A test event goes to the one endpoint named, whatever it asked for.
    let n = s
        .enqueue_webhook_event(
            &a,
            "webhook.test",
            &serde_json::json!({"hello": 1}),
            Some(&campaigns_only.id),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    // A Rust-raised event goes to those that asked for its type.
    let n = s
        .enqueue_webhook_event(
            &a,
            "opt_out.created",
            &serde_json::json!({"phone": "+447723100003"}),
            None,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);

    // The failure that ends a day of failures disables the endpoint, with a reason.
    s.record_webhook_attempt(&WebhookAttemptResult {
        message_id: due[0].id,
        endpoint_seq: due[0].endpoint_seq,
        attempt: 1,
        status_code: None,
        error: Some("timed out".into()),
        at: OffsetDateTime::now_utc(),
        next: WebhookNext::GiveUp,
        disable: Some("every delivery failed for 24 hours".into()),
    })
    .await
    .unwrap();
    let disabled = s.get_webhook_endpoint(&a, &wants.id).await.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("every delivery failed for 24 hours")
    );
    // A disabled endpoint's messages are not claimed.
    let rest = s.claim_webhooks(later(), hold, 10, &[]).await.unwrap();
    assert!(rest.iter().all(|m| m.endpoint_seq != due[0].endpoint_seq));
    assert_eq!(rest.len(), 1, "the test event");
}

async fn racing_nodes_claim_each_message_once(db: &TestDb) {
    let s = db.store().await;
    let a = account(&*s, "racer").await;
    endpoint(&*s, &a, &[EventType::OptOutCreated]).await;
    for i in 0..60 {
        s.opt_out(&a, &opt_out(&format!("+4477231{:05}", i)), None)
            .await
            .unwrap();
    }
    let nodes = [s.clone(), db.store().await, db.store().await];
    let hold = later() + Duration::minutes(5);
    let mut tasks = Vec::new();
    for node in nodes {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = node.claim_webhooks(later(), hold, 7, &[]).await.unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|m| m.webhook_id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 60, "each message claimed");
    assert_eq!(distinct.len(), 60, "and only once");
}
