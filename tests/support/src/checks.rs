//! What tests read from responses and assert about campaigns and commands.

use std::process::Output;

use herald::domain::ids::{AccountId, CampaignId};
use reqwest::Response;
use serde_json::Value;

use crate::app::TestApp;

/// The body of a response as JSON.
pub async fn json(r: Response) -> Value {
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The field paths named by a validation error.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The campaign (as the API shows it) has ended and nothing is pending.
pub fn finished(c: &Value) -> bool {
    matches!(c["status"].as_str(), Some("done" | "failed" | "cancelled")) && c["pending_count"] == 0
}

/// Counts recomputed from the recipient rows, to compare with the campaign's counts.
fn aggregate(c: &Value) -> (u64, u64, u64, u64) {
    let mut delivered = 0;
    let mut failed = 0;
    let mut pending = 0;
    let mut cancelled = 0;
    for r in c["recipients"].as_array().unwrap() {
        match r["status"].as_str().unwrap() {
            "delivered" => delivered += 1,
            "failed" | "undelivered" | "sent" => failed += 1,
            "pending" | "queued" => pending += 1,
            "cancelled" => cancelled += 1,
            other => panic!("unknown status {other}"),
        }
    }
    (delivered, failed, pending, cancelled)
}

/// The campaign's counts equal those of its recipient rows (fetched with all of them).
pub fn assert_counts_match(c: &Value) {
    let (d, f, p, x) = aggregate(c);
    assert_eq!(c["delivered_count"], d, "{c}");
    assert_eq!(c["failed_count"], f);
    assert_eq!(c["pending_count"], p);
    assert_eq!(c["cancelled_count"], x);
    assert_eq!(c["total_count"], d + f + p + x);
}

/// The cached counts the API shows equal a GROUP BY over the rows.
pub async fn assert_cache_matches(app: &TestApp, id: &str) {
    let account = AccountId::parse(&app.creds.account_id).unwrap();
    let id = CampaignId::parse(id).unwrap();
    let shown = app.store.get_campaign(&account, &id).await.unwrap().counts;
    let aggregated = app.store.aggregate_counts(&account, &id).await.unwrap();
    assert_eq!(shown, aggregated);
}

/// Asserts that a command (`herald …`) succeeded, showing its output when it did not;
/// returns its standard output.
pub fn succeeded(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
