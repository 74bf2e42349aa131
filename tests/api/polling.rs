//! Status polling's bound and metrics: `--status-poll-rps` paces the fetches, and
//! `/metrics` counts the polls, the statuses they moved and the polls that failed.

use std::process::Command;
use std::time::Duration;

use herald::config::TwilioSettings;
use herald::simulator::{DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Simulator, SimulatorConfig};
use serde_json::json;

use herald_test_support::{TestApp, spawn_sending_app};

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of counter `name` (`herald_…_total`) in a Prometheus text exposition.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or_else(|| panic!("{name} not in:\n{text}"), |v| v as u64)
}

#[tokio::test]
async fn with_every_callback_lost_the_bounded_poller_finishes_and_counts() {
    let app = spawn_sending_app(|s| {
        s.simulator.drop_callbacks = 1.0;
        s.simulator.callback_delay = Duration::from_millis(50);
        s.engine.status_poll_after = Duration::from_millis(200);
        // A tight bound still gets every status in (it only spaces the fetches).
        s.engine.status_poll_rate = 40.0;
    })
    .await;
    let before = metrics(&app).await;
    for name in [
        "herald_status_polls_total",
        "herald_status_poll_changes_total",
        "herald_status_poll_errors_total",
    ] {
        assert_eq!(counter(&before, name), 0, "{name} starts at 0");
    }
    app.add_paced_number("+447446466847", 100.0).await;
    let created = app.create_campaign("+447446466847", 20, json!({})).await;
    let id = created["campaign_id"].as_str().unwrap();
    let c = app.wait_all_delivered(id, 20, 60).await;
    assert_eq!(c["failed_count"], 0, "{c}");

    let after = metrics(&app).await;
    assert!(
        !after.contains("herald_callbacks_total{"),
        "no callback arrived"
    );
    // Every recipient's final status came from a poll: at least one fetch each, and each
    // of them moved once or more (sent, then delivered).
    assert!(
        counter(&after, "herald_status_polls_total") >= 20,
        "{after}"
    );
    assert!(
        counter(&after, "herald_status_poll_changes_total") >= 20,
        "{after}"
    );
    assert_eq!(counter(&after, "herald_status_poll_errors_total"), 0);
}

/// Waits (up to 30 s) until counter `name` reaches `at_least`.
async fn wait_counter(app: &TestApp, name: &str, at_least: u64) {
    for _ in 0..300 {
        if counter(&metrics(app).await, name) >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never reached {at_least}:\n{}", metrics(app).await);
}

#[tokio::test]
async fn polls_that_fail_are_counted() {
    // A carrier of its own, so the test can take it away: it accepts the messages, never
    // calls back, and keeps them unfinished for a minute.
    let sim = Simulator::spawn(
        SimulatorConfig {
            callback_delay: Duration::from_secs(30),
            drop_callbacks: 1.0,
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let base_url = sim.base_url.clone();
    let app = spawn_sending_app(|s| {
        s.twilio = Some(TwilioSettings {
            base_url,
            account_sid: DEFAULT_ACCOUNT_SID.into(),
            auth_token: DEFAULT_AUTH_TOKEN.into(),
            api_key: None,
            timeout: Duration::from_secs(2),
        });
        s.engine.status_poll_after = Duration::from_millis(200);
        s.engine.status_poll_rate = 100.0;
    })
    .await;
    app.add_paced_number("+447446466847", 100.0).await;
    app.create_campaign("+447446466847", 3, json!({})).await;
    // Polled while the carrier answers: no errors.
    wait_counter(&app, "herald_status_polls_total", 3).await;
    assert_eq!(
        counter(&metrics(&app).await, "herald_status_poll_errors_total"),
        0
    );
    // The carrier goes away: the next polls fail, are counted, and will be asked again.
    sim.shutdown().await;
    wait_counter(&app, "herald_status_poll_errors_total", 1).await;
}

#[test]
fn the_poll_rate_flag_is_documented_and_checked() {
    let help = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for word in [
        "--status-poll-rps",
        "HERALD_STATUS_POLL_RPS",
        "[default: 10]",
    ] {
        assert!(help.contains(word), "{word} in:\n{help}");
    }
    for bad in ["0", "-1", "abc", "5000", "NaN"] {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", &format!("--status-poll-rps={bad}")])
            .env("HERALD_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: a usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--status-poll-rps"), "{stderr}");
    }
}
