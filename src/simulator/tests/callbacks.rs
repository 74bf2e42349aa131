//! Status callbacks: signed and ordered, retried until the receiver is up, bounded in concurrency, remote ones skipped.

use super::*;

#[tokio::test]
async fn callbacks_are_signed_and_ordered() {
    let (receiver, url) = Receiver::spawn(0, Duration::ZERO).await;
    let sim = spawn(config()).await;
    let client = client_for(&sim);
    let m = accepted(client.send(&req("+447700900001", "hi", Some(&url))).await);
    eventually("two callbacks", || receiver.seen().len() >= 2).await;
    let seen = receiver.seen();
    assert_eq!(receiver.statuses(&m.sid), ["sent", "delivered"]);
    for s in &seen {
        assert!(s.signature_ok, "bad signature on {s:?}");
        assert_eq!(s.param("AccountSid"), Some(SID));
        assert_eq!(s.param("ApiVersion"), Some("2010-04-01"));
        assert_eq!(s.param("From"), Some(FROM));
        assert_eq!(s.param("To"), Some("+447700900001"));
        assert_eq!(s.param("SmsSid"), Some(m.sid.as_str()));
        assert_eq!(s.param("SmsStatus"), Some(s.status.as_str()));
        assert_eq!(s.param("ErrorCode"), None);
    }
    assert_eq!(seen[0].param("RawDlrDoneDate"), None);
    let done = seen[1].param("RawDlrDoneDate").unwrap();
    assert_eq!(done.len(), 10);
    // The stored status followed the callbacks.
    assert_eq!(client.fetch(&m.sid).await.unwrap().status, "delivered");

    // Undelivered and failed carry an ErrorCode.
    let mut cfg = config();
    cfg.delivered = 0.0;
    cfg.undelivered = 1.0;
    cfg.failed = 1.0;
    cfg.seed = Some(8);
    let sim2 = spawn(cfg).await;
    let client2 = client_for(&sim2);
    let mut sids = Vec::new();
    for _ in 0..20 {
        sids.push(accepted(client2.send(&req("+447700900002", "hi", Some(&url))).await).sid);
    }
    eventually("forty more callbacks", || receiver.seen().len() >= 42).await;
    let finals: Vec<Seen> = receiver
        .seen()
        .into_iter()
        .filter(|s| sids.contains(&s.sid) && s.status != "sent")
        .collect();
    assert_eq!(finals.len(), 20);
    assert!(finals.iter().all(|s| s.signature_ok));
    for s in &finals {
        let code = match s.status.as_str() {
            "undelivered" => "30003",
            "failed" => "30008",
            other => panic!("unexpected {other}"),
        };
        assert_eq!(s.param("ErrorCode"), Some(code));
    }
    assert!(finals.iter().any(|s| s.status == "undelivered"));
    assert!(finals.iter().any(|s| s.status == "failed"));
    // The receiver records a callback before the simulator counts its answer.
    eventually("forty counted deliveries", || {
        sim2.simulator.callback_stats().delivered == 40
    })
    .await;
}

#[tokio::test]
async fn failed_callbacks_are_retried_until_the_receiver_is_up() {
    let (receiver, url) = Receiver::spawn(3, Duration::ZERO).await;
    let mut cfg = config();
    cfg.callback_retries = 5;
    let sim = spawn(cfg).await;
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&url)))
            .await,
    );
    eventually("both statuses", || {
        let s = receiver.statuses(&m.sid);
        s.contains(&"sent".to_owned()) && s.contains(&"delivered".to_owned())
    })
    .await;
    eventually("two counted deliveries", || {
        sim.simulator.callback_stats().delivered == 2
    })
    .await;
    let stats = sim.simulator.callback_stats();
    assert_eq!(stats.failed_attempts, 3);
    assert_eq!(stats.delivered, 2);
    assert_eq!(stats.given_up, 0);

    // A receiver that is not listening at all: connection refused, then given up.
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/status", l.local_addr().unwrap())
    };
    let mut cfg = config();
    cfg.callback_retries = 2;
    let sim = spawn(cfg).await;
    accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some(&dead)))
            .await,
    );
    eventually("gave up", || sim.simulator.callback_stats().given_up == 2).await;
    assert_eq!(sim.simulator.callback_stats().failed_attempts, 6);
}

#[tokio::test]
async fn many_callbacks_stay_within_the_concurrency_bound() {
    let (receiver, url) = Receiver::spawn(0, Duration::from_millis(2)).await;
    let mut cfg = config();
    cfg.callback_concurrency = 8;
    cfg.callback_delay = Duration::from_millis(5);
    let sim = spawn(cfg).await;
    let client = client_for(&sim);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let to = format!("+4477009{t:02}{i:03}");
                accepted(client.send(&req(&to, "hi", Some(&url))).await);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    eventually("1600 callbacks", || receiver.seen().len() >= 1600).await;
    assert!(receiver.max_concurrent.load(Ordering::SeqCst) <= 8);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1600);
    eventually("every callback counted", || {
        let s = sim.simulator.callback_stats();
        s.delivered == 1600 && s.in_flight == 0
    })
    .await;
    let stats = sim.simulator.callback_stats();
    assert_eq!(
        (stats.delivered, stats.queued, stats.in_flight),
        (1600, 0, 0)
    );
    assert!(receiver.seen().iter().all(|s| s.signature_ok));
    assert_eq!(sim.simulator.journal().len(), 800);
}

#[tokio::test]
async fn remote_callbacks_are_skipped_by_default() {
    let sim = spawn(config()).await;
    // TEST-NET-1: never contacted.
    let m = accepted(
        client_for(&sim)
            .send(&req("+447700900001", "hi", Some("http://192.0.2.1/status")))
            .await,
    );
    assert!(m.sid.starts_with("SM"));
    let stats = sim.simulator.callback_stats();
    assert_eq!((stats.skipped_remote, stats.queued), (2, 0));
}
