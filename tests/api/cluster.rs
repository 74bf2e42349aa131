//! Several Herald nodes on one database (docs/ARCHITECTURE.md §4): each sending number is paced by one
//! node at a time, the nodes share the numbers fairly, and a node that leaves hands its
//! numbers over without a recipient texted twice or a carrier window over the rate.
//! (SIGKILLed nodes are the chaos bench's business: `tests/api/chaos.rs`.)

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use herald_test_support::{TestApp, assert_cache_matches, spawn_sending_app};

use crate::engine::worst_window;

const A: &str = "+447446466847";
const B: &str = "+447446466848";

/// Waits until the node counts `n` live nodes (its keeper refreshes every third of a lease).
async fn wait_for_nodes(app: &TestApp, n: u32) {
    let want = format!("herald_nodes {n}\n");
    for _ in 0..200 {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains(&want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node never saw {n} live nodes");
}

/// A hub (API and the in-process simulator, no engine: it outlives the others) and two
/// sending nodes on its database, with leases of 1.5 s (so counts refresh twice a second).
async fn two_nodes() -> (TestApp, TestApp, TestApp) {
    let hub = spawn_sending_app(|s| {
        s.run_engine = false;
        s.engine.lease_ttl = Duration::from_millis(1500);
    })
    .await;
    let first = hub.spawn_another_node(|s| s.run_engine = true).await;
    let second = hub.spawn_another_node(|s| s.run_engine = true).await;
    wait_for_nodes(&first, 2).await;
    wait_for_nodes(&second, 2).await;
    (hub, first, second)
}

#[tokio::test]
async fn two_nodes_share_the_numbers_and_each_number_keeps_its_pace() {
    let (_hub, first, second) = two_nodes().await;
    assert_ne!(
        first.settings.engine.node, second.settings.engine.node,
        "each node has its own name"
    );
    first.add_paced_number(A, 10.0).await;
    first.add_paced_number(B, 10.0).await;
    let created = second
        .create_campaign(
            A,
            60,
            json!({ "from_number": null, "from_numbers": [A, B] }),
        )
        .await;
    let id = created["campaign_id"].as_str().unwrap();
    first.wait_all_delivered(id, 60, 60).await;
    assert_cache_matches(&first, id).await;

    let journal = first.journal().await;
    assert_eq!(journal.len(), 60);
    let phones: HashSet<&str> = journal.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(phones.len(), 60, "someone was texted twice");
    for (number, worst) in worst_window(&journal) {
        assert!(worst <= 10, "{number} sent {worst} segments in one second");
    }
    // A fair share is one number each: both nodes sent, each from its own number.
    let leases = first.store.leases().await.unwrap();
    let holders: HashSet<&str> = leases.iter().map(|l| l.node_id.as_str()).collect();
    assert_eq!(leases.len(), 2, "{leases:?}");
    assert_eq!(holders.len(), 2, "{leases:?}");
}

#[tokio::test]
async fn a_node_that_leaves_hands_its_number_over_at_the_same_pace() {
    let (hub, first, second) = two_nodes().await;
    first.add_paced_number(A, 10.0).await;
    let created = first.create_campaign(A, 60, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    // Let the holder send a part, then stop it gracefully.
    first
        .wait_for(id, 30, |c| c["delivered_count"].as_u64() >= Some(15))
        .await;
    let holder = first.store.leases().await.unwrap()[0].node_id.clone();
    let (leaving, staying) = if holder == first.settings.engine.node.as_str() {
        (first, second)
    } else {
        (second, first)
    };
    let TestApp { stop, .. } = leaving;
    drop(stop);

    staying.wait_all_delivered(id, 60, 60).await;
    let journal = hub.journal().await;
    let phones: HashSet<&str> = journal.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(
        (journal.len(), phones.len()),
        (60, 60),
        "nobody twice, nobody missed"
    );
    for (number, worst) in worst_window(&journal) {
        assert!(worst <= 10, "{number} sent {worst} segments in one second");
    }
    let leases = staying.store.leases().await.unwrap();
    assert_eq!(
        leases[0].node_id,
        staying.settings.engine.node.as_str(),
        "the staying node took the number over"
    );
}
