//! The zero-configuration sandbox: the built-in simulator delivers everything by default,
//! listens where it is told, and `POST /sim/inbound` lets a newcomer text Herald as Twilio
//! would (signed webhook), seeing the TwiML Herald answers.

use std::time::Duration;

use herald::simulator::SimulatorMix;
use herald_test_support::dashboard::signed_in;
use herald_test_support::{json, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const OUR: &str = "+447446466847";
const THEM: &str = "+15551230001";

async fn sim_inbound(sim: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{sim}/sim/inbound"))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_test_stop_through_the_simulator_opts_out_and_a_reply_lands_in_a_conversation() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    let sim = app.sim_url.clone().expect("the built-in simulator runs");

    let r = sim_inbound(&sim, &json!({ "from": THEM, "to": OUR, "body": "STOP" })).await;
    assert_eq!(r.status(), 200);
    let answer = json(r).await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert!(answer["message_sid"].as_str().unwrap().starts_with("SM"));
    let twiml = answer["twiml"].as_str().unwrap();
    assert!(twiml.contains("<Message>"), "{twiml}");
    assert!(
        twiml.contains("unsubscribed") || twiml.contains("STOP") || twiml.contains("START"),
        "{twiml}"
    );
    let opt_outs = json(app.get("/v1/opt-outs").await).await;
    assert_eq!(opt_outs["opt_outs"][0]["phone"], THEM, "{opt_outs}");

    // Any other text is stored in a conversation (no model here: not answered) and the
    // webhook's TwiML is empty.
    let r = sim_inbound(
        &sim,
        &json!({ "from": "+15551230002", "to": OUR, "body": "Is Tuesday ok?" }),
    )
    .await;
    let answer = json(r).await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert!(
        !answer["twiml"].as_str().unwrap().contains("<Message>"),
        "{answer}"
    );
    let list = json(app.get("/v1/conversations").await).await;
    let convo = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["phone"] == "+15551230002")
        .expect("a conversation with the sender");
    assert_eq!(convo["last_message"]["body"], "Is Tuesday ok?", "{convo}");
}

#[tokio::test]
async fn sim_inbound_refuses_bad_input_and_a_number_nobody_owns_is_ignored() {
    let app = spawn_app().await;
    let sim = app.sim_url.clone().unwrap();
    for bad in [
        json!({ "to": OUR, "body": "hi" }),
        json!({ "from": "hello", "to": OUR, "body": "hi" }),
        json!({ "from": THEM, "to": "", "body": "hi" }),
        json!({ "from": THEM, "to": OUR, "body": "x".repeat(1601) }),
    ] {
        let r = sim_inbound(&sim, &bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        let e = json(r).await;
        assert!(e["message"].as_str().is_some(), "{e}");
    }
    let r = reqwest::Client::new()
        .post(format!("{sim}/sim/inbound"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Not one of our numbers: Herald takes the webhook (200) and ignores it.
    let answer = json(
        sim_inbound(
            &sim,
            &json!({ "from": THEM, "to": "+447000000001", "body": "STOP" }),
        )
        .await,
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"],
        json!([])
    );
}

#[tokio::test]
async fn the_default_simulator_delivers_every_message_and_listens_where_told() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_app_with(|s| {
        assert_eq!(
            (
                s.simulator.delivered,
                s.simulator.undelivered,
                s.simulator.failed
            ),
            (1.0, 0.0, 0.0),
            "the sandbox delivers everything unless told otherwise"
        );
        s.simulator_bind = format!("127.0.0.1:{port}");
        s.simulator.callback_delay = Duration::from_millis(20);
        s.engine.tick = Duration::from_millis(50);
    })
    .await;
    assert_eq!(
        app.sim_url.as_deref(),
        Some(format!("http://127.0.0.1:{port}").as_str())
    );
    app.add_paced_number(OUR, 100.0).await;
    let c = app.create_campaign(OUR, 60, json!({})).await;
    let id = c["campaign_id"].as_str().unwrap();
    let done = app.wait_all_delivered(id, 60, 30).await;
    assert_eq!(done["failed_count"], 0, "{done}");
}

#[test]
fn the_realistic_mix_is_the_old_one() {
    let mut s = herald::config::Settings::new("sqlite://unused.db");
    SimulatorMix::Realistic.apply(&mut s.simulator);
    assert_eq!(
        (
            s.simulator.delivered,
            s.simulator.undelivered,
            s.simulator.failed
        ),
        (0.94, 0.04, 0.02)
    );
}

/// The address a `herald simulator` prints; its stdout keeps being read (a closed pipe would
/// kill it at its next line).
fn simulator_address(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("Simulator listening on ") {
                let _ = tx.send(base.to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the simulator prints its address")
}

#[tokio::test]
async fn a_standalone_simulator_delivers_test_inbound_to_inbound_url() {
    use std::process::{Command, Stdio};

    let app = spawn_app().await;
    app.add_number(OUR).await;
    let twilio = app.settings.twilio.clone().unwrap();
    let inbound_url = format!("{}/webhooks/twilio/inbound", app.settings.public_base());
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "simulator",
            "--bind",
            "127.0.0.1:0",
            "--inbound-url",
            &inbound_url,
        ])
        .args(["--account-sid", &twilio.account_sid])
        .env("HERALD_AUTH_TOKEN", &twilio.auth_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = simulator_address(&mut child);
    let answer =
        json(sim_inbound(&base, &json!({ "from": THEM, "to": OUR, "body": "STOP" })).await).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answer["status"], 200, "{answer}");
    assert!(
        answer["twiml"].as_str().unwrap().contains("<Message>"),
        "{answer}"
    );
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"][0]["phone"],
        THEM
    );

    // Without --inbound-url the route says what is missing.
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["simulator", "--bind", "127.0.0.1:0"])
        .env_remove("HERALD_INBOUND_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = simulator_address(&mut child);
    let r = sim_inbound(&base, &json!({ "from": THEM, "to": OUR, "body": "STOP" })).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.status(), 409);
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("--inbound-url")
    );
}

#[tokio::test]
async fn serve_prints_the_simulator_address_and_the_mix_flag_is_checked() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (port, sim_port) = (free(), free());
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .current_dir(dir.path())
        .env("HERALD_BIND", format!("127.0.0.1:{port}"))
        .env("HERALD_SIMULATOR_BIND", format!("127.0.0.1:{sim_port}"))
        .env("HERALD_SIMULATOR_MIX", "realistic")
        .env_remove("HERALD_DATABASE_URL")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("herald.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.contains("Herald is listening");
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("simulator at http://127.0.0.1:{sim_port}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("http://127.0.0.1:{sim_port}/sim/inbound")),
        "{text}"
    );
    // The log went to a file, not a terminal: plain text, no colour codes.
    let log = std::fs::read_to_string(dir.path().join("herald.log")).unwrap();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\x1b'), "{log}");

    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--simulator-mix", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("realistic"));
}

/// The dashboard page at `path`, as the signed-in user.
async fn page(app: &herald_test_support::TestApp, path: &str) -> String {
    let (client, session, _) = signed_in(app, "/campaigns").await;
    let r = client
        .get(app.url(path))
        .header(reqwest::header::COOKIE, session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn error_codes_have_words_in_the_api_and_a_breakdown_on_get_and_the_campaign_page() {
    let app = herald_test_support::spawn_sending_app(|s| {
        s.simulator.delivered = 0.0;
        s.simulator.undelivered = 1.0;
    })
    .await;
    app.add_paced_number(OUR, 100.0).await;
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": "+447111000003" }))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let c = app.create_campaign(OUR, 4, json!({})).await;
    let id = c["campaign_id"].as_str().unwrap();
    let done = app
        .wait_for(id, 30, |c| {
            // Every status final: a `done` campaign counts a `sent` one as failed before its
            // callback arrives.
            c["failed_count"] == 4
                && c["pending_count"] == 0
                && c["recipients"].as_array().is_some_and(|rs| {
                    rs.iter()
                        .all(|r| r["status"] == "failed" || r["status"] == "undelivered")
                })
        })
        .await;
    for r in done["recipients"].as_array().unwrap() {
        let message = r["error_message"].as_str().unwrap_or_default();
        if r["phone"] == "+447111000003" {
            assert_eq!(r["error_code"], "opted_out", "{r}");
            assert!(!message.is_empty(), "{r}");
        } else {
            assert_eq!(r["error_code"], "30003", "{r}");
            assert!(message.starts_with("The phone could not be reached"), "{r}");
        }
    }
    let errors = done["errors"].as_array().expect("errors on get");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["error_code"], "30003");
    assert_eq!(errors[0]["count"], 3);
    assert!(
        errors[0]["error_message"]
            .as_str()
            .unwrap()
            .contains("Try again later")
    );
    assert_eq!(errors[1]["error_code"], "opted_out");
    assert_eq!(errors[1]["count"], 1);

    let html = page(&app, &format!("/campaigns/{id}")).await;
    assert!(html.contains("Why messages failed"), "{html}");
    assert!(html.contains("data-error=\"30003\""), "{html}");
    assert!(html.contains("The phone could not be reached"), "{html}");

    // The OpenAPI document describes the breakdown.
    let spec = app.openapi().await;
    let schemas = &spec["components"]["schemas"];
    assert!(
        schemas["ErrorCount"]["properties"]["count"].is_object(),
        "{}",
        schemas["ErrorCount"]
    );
    assert!(
        schemas["CampaignDetail"]["properties"]["errors"].is_object()
            || schemas["CampaignDetail"].to_string().contains("errors")
    );
}

#[tokio::test]
async fn the_first_account_is_named_on_first_start_listed_renamed_and_its_password_reset() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("accounts.db").display());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .env("HERALD_BIND", format!("127.0.0.1:{port}"))
        .env("HERALD_DATABASE_URL", &db)
        .env("HERALD_ACCOUNT_NAME", "Acme Dental")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("Herald is listening");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    let key = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("API key:"))
        .map(|k| k.trim().to_owned())
        .expect("an API key");
    let account = json(
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/v1/account"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains("first account, \"Acme Dental\""), "{text}");
    assert!(text.contains("herald accounts rename acct_"), "{text}");
    assert_eq!(account["name"], "Acme Dental", "{account}");

    let herald = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_DATABASE_URL", &db)
            .output()
            .unwrap()
    };
    let out = herald(&["accounts", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "Acme Dental");
    let id = list[0]["account_id"].as_str().unwrap().to_owned();
    let user = list[0]["users"][0].as_str().unwrap().to_owned();
    let plain = String::from_utf8(herald(&["accounts", "list"]).stdout).unwrap();
    assert!(plain.contains(&id) && plain.contains(&user), "{plain}");

    let out = herald(&["accounts", "rename", &id, "Bright Smiles"]);
    assert!(out.status.success(), "{out:?}");
    let list: Value =
        serde_json::from_slice(&herald(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["name"], "Bright Smiles");
    let out = herald(&["accounts", "rename", &id, "  "]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("name"),
        "{out:?}"
    );
    let out = herald(&["accounts", "rename", "acct_nope", "X"]);
    assert!(!out.status.success());

    let out = herald(&["users", "reset-password", &user, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let password = v["password"].as_str().unwrap();
    assert!(password.len() >= 12, "{v}");
    let store = herald::store::connect(&db, &herald::store::DbOptions::default())
        .await
        .unwrap();
    let stored = store.find_user(&user).await.unwrap().unwrap();
    assert!(herald::service::credentials::password_matches(
        password,
        &stored.password_hash
    ));
    let out = herald(&["users", "reset-password", "nobody-here"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such user"),
        "{out:?}"
    );
}

#[tokio::test]
async fn accounts_are_listed_renamed_and_passwords_reset_on_this_backend() {
    use herald::service::accounts;
    let app = spawn_app().await;
    app.other_account().await;
    let store = app.store.as_ref();
    let list = accounts::list(store).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].account_id, app.creds.account_id, "oldest first");
    assert_eq!(list[0].users, vec![app.creds.user.clone()]);
    assert_eq!(list[1].name, "Other");
    let renamed = accounts::rename(store, &app.creds.account_id, " Acme Dental ")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Acme Dental");
    assert_eq!(
        json(app.get("/v1/account").await).await["name"],
        "Acme Dental"
    );
    let password = accounts::reset_password(store, &app.creds.user)
        .await
        .unwrap();
    assert_ne!(password, app.creds.password);
    assert!(accounts::reset_password(store, "nobody").await.is_err());
}

/// Every string in `v` that looks like a timestamp, with its path.
fn timestamps(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s)
            if s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' =>
        {
            out.push((path.to_owned(), s.clone()));
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| timestamps(x, &format!("{path}[{i}]"), out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| timestamps(x, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

#[tokio::test]
async fn one_timestamp_format_a_year_ahead_at_most_cancelled_column_and_agent_names() {
    let app = herald_test_support::spawn_sending_app(|_| {}).await;
    app.add_paced_number(OUR, 100.0).await;
    let agent = app.add_agent().await;
    app.assign_agent(OUR, &agent).await;
    let c = app
        .create_campaign(OUR, 2, json!({ "agent_id": agent }))
        .await;
    let id = c["campaign_id"].as_str().unwrap().to_owned();
    app.wait_all_delivered(&id, 2, 30).await;
    app.text_in(
        "+447111000001",
        OUR,
        "Is Tuesday ok?",
        "SM00000000000000000000000000000001",
    )
    .await;
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": "+447111000009" }))
        .await;
    assert_eq!(r.status(), 201);
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let scheduled = app
        .create_campaign(
            OUR,
            1,
            json!({ "schedule_type": "schedule", "scheduled_at": later }),
        )
        .await;
    let convos = json(app.get("/v1/conversations").await).await;
    let convo_id = convos["conversations"][0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut seen = Vec::new();
    for path in [
        format!("/v1/sms/campaigns/{id}"),
        "/v1/sms/campaigns".to_owned(),
        format!(
            "/v1/sms/campaigns/{}",
            scheduled["campaign_id"].as_str().unwrap()
        ),
        "/v1/conversations".to_owned(),
        format!("/v1/conversations/{convo_id}"),
        "/v1/opt-outs".to_owned(),
        "/v1/account".to_owned(),
        "/v1/agents".to_owned(),
        "/v1/api-keys".to_owned(),
    ] {
        let v = json(app.get(&path).await).await;
        timestamps(&v, &path, &mut seen);
    }
    assert!(seen.len() > 10, "{seen:?}");
    for (path, t) in &seen {
        let b = t.as_bytes();
        let ok = t.len() == 24
            && t.ends_with('Z')
            && b[19] == b'.'
            && b[20..23].iter().all(u8::is_ascii_digit)
            && time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .is_ok();
        assert!(ok, "{path}: {t} is not RFC 3339 UTC with milliseconds");
    }

    // scheduled_at: at most a year ahead.
    let far = (time::OffsetDateTime::now_utc() + time::Duration::days(400))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for body in [
        json!({ "schedule_type": "schedule", "scheduled_at": far }),
        json!({ "schedule_type": "schedule", "scheduled_at": "9999-01-01T00:00:00Z" }),
        json!({ "schedule_type": "draft", "scheduled_at": far }),
    ] {
        let mut req = json!({
            "from_number": OUR, "name": "Far", "message_template": "Hi",
            "recipients": [{ "phone": "+447111000001" }],
        });
        for (k, v) in body.as_object().unwrap() {
            req[k] = v.clone();
        }
        let r = app.post_json("/v1/sms/campaigns", &req).await;
        assert_eq!(r.status(), 422, "{req}");
        let e = json(r).await;
        assert!(
            herald_test_support::error_fields(&e).contains(&"scheduled_at".to_owned()),
            "{e}"
        );
    }

    // The campaign list has a Cancelled column; the conversation page names the agent.
    let r = app
        .delete(&format!(
            "/v1/sms/campaigns/{}",
            scheduled["campaign_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let list = page(&app, "/campaigns").await;
    assert!(list.contains(">Cancelled</th>"), "{list}");
    assert!(list.contains("data-field=\"cancelled_count\">1<"), "{list}");
    let thread = page(&app, &format!("/conversations/{convo_id}")).await;
    assert!(
        thread.contains(&format!("data-agent=\"{agent}\">Reception<")),
        "{thread}"
    );
}

#[tokio::test]
async fn the_preview_says_what_us_recipients_need() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    let preview = |phones: &[&str]| {
        let recipients: Vec<Value> = phones.iter().map(|p| json!({ "phone": p })).collect();
        let body = json!({
            "from_number": OUR, "name": "Notice", "message_template": "Hi",
            "recipients": recipients,
        });
        let app = &app;
        async move {
            let r = app.post_json("/v1/sms/campaigns/preview", &body).await;
            assert_eq!(r.status(), 200);
            json(r).await
        }
    };
    let uk = preview(&["+447111000001"]).await;
    assert_eq!(uk["notices"], json!([]), "{uk}");
    let us = preview(&["+447111000001", "+12025550143"]).await;
    let notices = us["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{us}");
    let text = notices[0].as_str().unwrap();
    assert!(
        text.contains("A2P 10DLC") && text.contains("toll-free"),
        "{text}"
    );
    // Canada is +1 too, but not the US.
    let ca = preview(&["+14165550143"]).await;
    assert_eq!(ca["notices"], json!([]), "{ca}");
}
