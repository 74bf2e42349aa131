//! Injected faults: 429s, 5xx with half the messages created, slow creates, and duplicated, reordered or dropped callbacks.

use super::*;

#[tokio::test]
async fn injected_429_is_retryable_and_not_processed() {
    let mut cfg = config();
    cfg.fail_429 = 1.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    for _ in 0..5 {
        match client.send(&req("+447700900001", "hi", None)).await {
            SendOutcome::Retryable {
                http_status, error, ..
            } => {
                assert_eq!(http_status, Some(429));
                assert_eq!(error.and_then(|e| e.code), Some(20429));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(sim.simulator.journal().is_empty());
}

async fn count_created_under_5xx(seed: u64) -> usize {
    let mut cfg = config();
    cfg.fail_5xx = 1.0;
    cfg.seed = Some(seed);
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    for _ in 0..200 {
        match client.send(&req("+447700900001", "hi", None)).await {
            SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, Some(500)),
            other => panic!("{other:?}"),
        }
    }
    let journal = sim.simulator.journal();
    // What was created is really there: a reconciler can find it by listing.
    let listed = client
        .list(&ListFilter {
            to: Some("+447700900001"),
            page_size: 1000,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), journal.len());
    journal.len()
}

#[tokio::test]
async fn injected_5xx_is_ambiguous_and_half_are_created() {
    let created = count_created_under_5xx(11).await;
    assert!((70..=130).contains(&created), "{created} of 200 created");
    // Seeded: the same run gives the same split.
    assert_eq!(count_created_under_5xx(11).await, created);
}

#[tokio::test]
async fn slow_creates_time_out_but_exist() {
    let mut cfg = config();
    cfg.slow = 1.0;
    cfg.slow_delay = Duration::from_secs(3);
    let sim = spawn(cfg).await;
    let mut tc = TwilioConfig::new(SID, TOKEN);
    tc.base_url = sim.base_url.clone();
    tc.timeout = Duration::from_millis(200);
    let client = TwilioClient::new(tc).unwrap();
    match client.send(&req("+447700900001", "hi", None)).await {
        SendOutcome::Ambiguous { http_status, .. } => assert_eq!(http_status, None),
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.simulator.journal().len(), 1);
}

#[tokio::test]
async fn duplicate_callbacks_arrive_twice() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.duplicate_callbacks = 1.0;
    let sim = spawn(cfg).await;
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&url)))
            .await,
    );
    eventually("four callbacks", || receiver.seen().len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.statuses(&m.sid),
        ["sent", "sent", "delivered", "delivered"]
    );
    assert!(receiver.seen().iter().all(|s| s.signature_ok));
}

#[tokio::test]
async fn reordered_callbacks_send_final_first() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.reorder_callbacks = 1.0;
    let sim = spawn(cfg).await;
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&url)))
            .await,
    );
    eventually("two callbacks", || receiver.seen().len() >= 2).await;
    assert_eq!(receiver.statuses(&m.sid), ["delivered", "sent"]);
}

#[tokio::test]
async fn dropped_callbacks_never_arrive() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.drop_callbacks = 1.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let m = accepted(client.send(&req("+447700900001", "hi", Some(&url))).await);
    eventually("two dropped callbacks", || {
        sim.simulator.callback_stats().dropped == 2
    })
    .await;
    assert!(receiver.seen().is_empty());
    // The message still reaches its final status, as at Twilio.
    let mut status = String::new();
    for _ in 0..500 {
        status = client.fetch(&m.sid).await.unwrap().status;
        if status == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, "delivered");
}

#[tokio::test]
async fn a_failure_whose_callbacks_were_dropped_is_still_fetched_and_listed() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let mut cfg = config();
    cfg.drop_callbacks = 1.0;
    cfg.delivered = 0.0;
    cfg.undelivered = 1.0;
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let m = accepted(client.send(&req("+447700900002", "hi", Some(&url))).await);
    let mut fetched = client.fetch(&m.sid).await.unwrap();
    for _ in 0..500 {
        if fetched.status == "undelivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        fetched = client.fetch(&m.sid).await.unwrap();
    }
    assert_eq!(fetched.status, "undelivered");
    assert_eq!(fetched.error_code, Some(30003));
    let listed = client
        .list(&ListFilter {
            to: Some("+447700900002"),
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, "undelivered");
    assert!(receiver.seen().is_empty());
    assert_eq!(sim.simulator.callback_stats().dropped, 2);
}
