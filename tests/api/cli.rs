//! The command-line contract (docs/ARCHITECTURE.md §7), run as a user runs it.

use std::process::Command;

use herald_test_support::{TestDb, succeeded};

#[test]
fn accounts_create_prints_one_json_line_and_the_key_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["accounts", "create", "Acme Dental", "--json"])
        .env("HERALD_DATABASE_URL", &db)
        .output()
        .unwrap();
    succeeded(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for field in ["account_id", "api_key", "user", "password"] {
        assert!(v[field].as_str().is_some_and(|s| !s.is_empty()), "{field}");
    }
    assert!(v["api_key"].as_str().unwrap().contains(':'));

    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["migrate", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[tokio::test]
async fn serve_starts_with_zero_configuration_and_prints_the_first_key_once() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .current_dir(dir.path())
            .env("HERALD_BIND", format!("127.0.0.1:{port}"))
            .env_remove("HERALD_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let read_until_listening = |child: &mut std::process::Child| {
        let mut lines = Vec::new();
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("listening");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    };
    let mut child = start();
    let lines = read_until_listening(&mut child);
    let key = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("API key:"))
        .map(|k| k.trim().to_owned())
        .expect("the first start prints an API key");
    assert!(dir.path().join("herald.db").exists());
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/sms/campaigns"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // Second start on the same database: no new secrets printed.
    let mut child = start();
    let lines = read_until_listening(&mut child);
    assert!(lines.iter().all(|l| !l.contains("API key")), "{lines:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn database_flags_and_a_postgres_url() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.args(args).env_remove("HERALD_DATABASE_URL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("flags.db").display());
    let out = run(
        &[
            "migrate",
            "--database",
            &db,
            "--db-max-connections",
            "2",
            "--db-statement-timeout-ms",
            "5000",
        ],
        &[],
    );
    succeeded(&out);
    let out = run(
        &["migrate", "--database", &db],
        &[("HERALD_DB_MAX_CONNECTIONS", "0")],
    );
    assert!(!out.status.success(), "a pool of no connections is refused");
    let out = run(&["migrate", "--database", "mysql://localhost/herald"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));

    // The same commands against PostgreSQL, when the run has one.
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let out = run(
        &["migrate"],
        &[
            ("HERALD_DATABASE_URL", &pg.url),
            ("HERALD_DB_STATEMENT_TIMEOUT_MS", "5000"),
        ],
    );
    succeeded(&out);
    let out = run(
        &[
            "accounts",
            "create",
            "Acme Dental",
            "--json",
            "--database",
            &pg.url,
        ],
        &[],
    );
    succeeded(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["api_key"].as_str().unwrap().contains(':'));
}
