//! The preview's cost per destination country: Twilio's published prices as defaults, a
//! price file overriding them, `--price-per-segment` for countries in neither.

use std::path::PathBuf;
use std::process::Command;

use herald::config::Settings;
use herald::startup::Application;
use serde_json::{Value, json};

use herald_test_support::{TestApp, json, spawn_app, spawn_app_with};

const PREVIEW: &str = "/v1/sms/campaigns/preview";
const HEADER: &str = "country,price_per_segment,currency,source\n";

/// Previews one short message from a UK number to `phones`, expecting 200.
async fn preview(app: &TestApp, phones: &[&str]) -> Value {
    app.add_number("+447446466847").await;
    let recipients: Vec<Value> = phones.iter().map(|p| json!({ "phone": p })).collect();
    let r = app
        .post_json(
            PREVIEW,
            &json!({
                "from_number": "+447446466847", "name": "Prices",
                "message_template": "Hello", "recipients": recipients
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    json(r).await
}

/// `by_country` as (country, recipients, segments, price, cost).
fn lines(p: &Value) -> Vec<(String, u64, u64, f64, f64)> {
    p["totals"]["by_country"]
        .as_array()
        .expect("by_country is a list")
        .iter()
        .map(|l| {
            (
                l["country"].as_str().unwrap_or("?").to_owned(),
                l["recipients"].as_u64().unwrap(),
                l["segments"].as_u64().unwrap(),
                l["price_per_segment"].as_f64().unwrap(),
                l["estimated_cost"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn line(country: &str, n: u64, price: f64, cost: f64) -> (String, u64, u64, f64, f64) {
    (country.to_owned(), n, n, price, cost)
}

/// A price file in a temporary directory (kept alive by the returned guard).
fn price_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[tokio::test]
async fn uk_and_us_recipients_are_priced_by_their_country() {
    let app = spawn_app().await;
    let p = preview(
        &app,
        &[
            "+447111000001",
            "+447111000002",
            "+12025550123",
            // Greece is not in the built-in table: the --price-per-segment fallback.
            "+306912345678",
        ],
    )
    .await;
    // Twilio's published prices from data/prices/twilio-sms.csv.
    assert_eq!(
        lines(&p),
        [
            line("GB", 2, 0.04, 0.08),
            line("GR", 1, 0.0079, 0.0079),
            line("US", 1, 0.0083, 0.0083),
        ]
    );
    let totals = &p["totals"];
    assert_eq!(totals["estimated_cost"], 0.0962, "the sum of the lines");
    assert_eq!(totals["segments"], 4);
    assert_eq!(
        totals["price_per_segment"], 0.0079,
        "the fallback, as before"
    );
    assert_eq!(totals["currency"], "USD");

    let doc = app.openapi().await;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["PreviewTotals"]["properties"]["by_country"].is_object());
    let cost = &schemas["CountryCost"]["properties"];
    for field in [
        "country",
        "recipients",
        "segments",
        "price_per_segment",
        "estimated_cost",
    ] {
        assert!(cost[field].is_object(), "CountryCost.{field} documented");
    }
}

#[tokio::test]
async fn a_price_file_overrides_and_adds_countries() {
    let (_dir, path) = price_file(&format!(
        "# negotiated\n{HEADER}GB,0.0415,USD,our contract\nGR,0.05,usd,\n"
    ));
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.price_file = Some(path);
    })
    .await;
    let p = preview(&app, &["+447111000001", "+12025550123", "+306912345678"]).await;
    assert_eq!(
        lines(&p),
        [
            line("GB", 1, 0.0415, 0.0415),
            line("GR", 1, 0.05, 0.05),
            // Not in the file: still Twilio's built-in price.
            line("US", 1, 0.0083, 0.0083),
        ]
    );
    assert_eq!(p["totals"]["estimated_cost"], 0.0998);
}

#[tokio::test]
async fn another_currency_prices_from_its_own_file_and_the_fallback() {
    let (_dir, path) = price_file(&format!("{HEADER}DE,0.07,EUR,\n"));
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.currency = "EUR".into();
        s.price_per_segment = 0.05;
        s.price_file = Some(path);
    })
    .await;
    let p = preview(&app, &["+4915112345678", "+447111000001"]).await;
    // The built-in prices are in USD: a EUR server uses only its file and its fallback.
    assert_eq!(
        lines(&p),
        [line("DE", 1, 0.07, 0.07), line("GB", 1, 0.05, 0.05)]
    );
    assert_eq!(p["totals"]["currency"], "EUR");
}

#[tokio::test]
async fn a_broken_price_file_refuses_to_start_naming_the_line() {
    for (text, line, word) in [
        (
            format!("{HEADER}GB,0.04,USD,\nFR,free,USD,\n"),
            3,
            "price_per_segment",
        ),
        (format!("{HEADER}GB,0.04,EUR,\n"), 2, "currency EUR"),
        ("country;price\nGB;0.04\n".to_owned(), 1, "header"),
    ] {
        let (_dir, path) = price_file(&text);
        let mut settings = Settings::new("sqlite::memory:");
        settings.bind = "127.0.0.1:0".into();
        settings.price_file = Some(path.clone());
        let err = match Application::build(settings).await {
            Ok(_) => panic!("{text:?} must refuse to start"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(&format!("line {line}: ")), "{err}");
        assert!(err.contains(word), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
    // A file that is not there.
    let mut settings = Settings::new("sqlite::memory:");
    settings.price_file = Some("/nonexistent/prices.csv".into());
    let err = Application::build(settings).await.err().expect("refused");
    assert!(format!("{err:#}").contains("/nonexistent/prices.csv"));
}

#[test]
fn serve_takes_the_price_file_flag_and_refuses_a_bad_one() {
    let help = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for word in ["--price-file", "HERALD_PRICE_FILE"] {
        assert!(help.contains(word), "{word} in:\n{help}");
    }
    let (dir, path) = price_file(&format!("{HEADER}GB,0.04,USD,\n\nFR,-0.1,USD,\n"));
    for env in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("HERALD_BIND", "127.0.0.1:0")
            .env(
                "HERALD_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display()),
            );
        if env {
            cmd.env("HERALD_PRICE_FILE", &path);
        } else {
            cmd.arg("--price-file").arg(&path);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a bad price file must stop serve");
        assert!(stderr.contains("line 4: price_per_segment"), "{stderr}");
    }
}
