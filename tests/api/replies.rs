//! Replies and compliance end to end: signed inbound webhooks, keywords, opt-outs, consents,
//! and the agent answering through a fake OpenAI-compatible model on loopback.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use herald::config::TwilioSettings;
use herald::provider::llm::LlmConfig;
use herald::provider::signature;
use reqwest::Method;
use serde_json::{Value, json};

use herald_test_support::{
    RawDb, TestApp, error_fields, json, spawn_app, spawn_app_with, spawn_sending_app,
};

const OUR: &str = "+447446466847";
const SARAH: &str = "+447111000001";
const JAMES: &str = "+447111000002";
const MODEL_KEY: &str = "sk-test-0123456789";
const DENTAL_PROMPT: &str = "You are the receptionist at Acme Dental. We are running a March promotion: 20% off cleanings, valid weekdays 9am-5pm next week. If a customer replies YES, confirm the offer and ask which day suits them.";
const TEMPLATE: &str =
    "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book.";

/// How the fake model answers.
#[derive(Clone)]
enum Behaviour {
    /// 200 with these answers, in turn (the last one repeats).
    Answers(Vec<String>),
    /// This HTTP status with an error body.
    Fails(u16),
    /// Answers only after this long.
    Slow(Duration),
    /// Answers `answer N` to the N-th request, each only once the test adds a permit.
    Gated(Arc<tokio::sync::Semaphore>),
}

/// One request the fake model received: its Authorization header and JSON body.
type Seen = (Option<String>, Value);

#[derive(Clone)]
struct FakeState {
    behaviour: Behaviour,
    requests: Arc<Mutex<Vec<Seen>>>,
}

/// A small OpenAI-compatible `/v1/chat/completions` server on loopback that records every
/// request (its Authorization header and JSON body).
struct FakeModel {
    url: String,
    state: FakeState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeModel {
    async fn start(behaviour: Behaviour) -> FakeModel {
        let state = FakeState {
            behaviour,
            requests: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        FakeModel {
            url: format!("http://{addr}"),
            state,
            _stop: stop,
        }
    }

    fn config(&self, timeout: Duration) -> LlmConfig {
        LlmConfig {
            base_url: self.url.clone(),
            model: "herald-test-model".into(),
            api_key: Some(MODEL_KEY.into()),
            timeout,
        }
    }

    fn requests(&self) -> Vec<Seen> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn complete(
    State(state): State<FakeState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let n = {
        let mut requests = state.requests.lock().unwrap();
        requests.push((auth, body.clone()));
        requests.len()
    };
    let answer = match &state.behaviour {
        Behaviour::Answers(list) => list[(n - 1).min(list.len() - 1)].clone(),
        Behaviour::Fails(status) => {
            return (
                StatusCode::from_u16(*status).unwrap(),
                Json(json!({ "error": { "message": "the model is overloaded" } })),
            )
                .into_response();
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(*delay).await;
            "too late".to_owned()
        }
        Behaviour::Gated(gate) => {
            gate.acquire().await.unwrap().forget();
            format!("answer {n}")
        }
    };
    Json(json!({
        "id": format!("chatcmpl-{n}"),
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }]
    }))
    .into_response()
}

/// Polls `probe` until it gives a value, failing after `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What Herald answered to an inbound webhook.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// Posts a signed incoming-message webhook, as Twilio does.
async fn text_in(app: &TestApp, from: &str, body: &str, sid: &str) -> Answer {
    text_in_with(app, from, OUR, body, sid, &[]).await
}

async fn text_in_with(
    app: &TestApp,
    from: &str,
    to: &str,
    body: &str,
    sid: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let r = app.post_inbound(from, to, body, sid, extra).await;
    Answer {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: r.text().await.unwrap(),
    }
}

const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// The text of the one `<Message>` of a TwiML answer, unescaped.
fn twiml_message(body: &str) -> Option<String> {
    let start = body.find("<Message>")? + "<Message>".len();
    let end = body.find("</Message>")?;
    assert_eq!(body.matches("<Message>").count(), 1, "one message: {body}");
    Some(
        body[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Herald sending to the simulator, its agent answering through `model` (giving up after
/// `timeout`), with our number (20 segments a second) and the dental receptionist agent;
/// returns the agent's id too.
async fn app_with_agent(model: &FakeModel, timeout: Duration) -> (TestApp, String) {
    let app = spawn_sending_app(|s| s.llm = Some(model.config(timeout))).await;
    app.add_paced_number(OUR, 20.0).await;
    let agent = app.add_agent_with(DENTAL_PROMPT).await;
    (app, agent)
}

/// The spec page's March promotion, sent and finished.
async fn march_promotion(app: &TestApp, agent: &str, recipients: Value) -> Value {
    app.send_campaign(&json!({
        "agent_id": agent, "from_number": OUR, "name": "March promotion",
        "message_template": TEMPLATE, "recipients": recipients
    }))
    .await
}

async fn conversations(app: &TestApp) -> Vec<Value> {
    let r = app.get("/v1/conversations").await;
    assert_eq!(r.status(), 200);
    json(r).await["conversations"].as_array().unwrap().clone()
}

async fn conversation_with(app: &TestApp, phone: &str) -> Option<Value> {
    let list = conversations(app).await;
    let id = list.iter().find(|c| c["phone"] == phone)?["conversation_id"]
        .as_str()?
        .to_owned();
    Some(json(app.get(&format!("/v1/conversations/{id}")).await).await)
}

#[tokio::test]
async fn a_reply_reaches_the_agent_with_its_campaign_context_and_the_answer_goes_out_as_sms() {
    let model = FakeModel::start(Behaviour::Answers(vec![
        "Great news, Sarah! Your 20% off is confirmed. Which weekday suits you?".into(),
        "Tuesday at 10am is booked. See you then!".into(),
    ]))
    .await;
    let (app, agent) = app_with_agent(&model, Duration::from_secs(10)).await;
    let campaign = march_promotion(
        &app,
        &agent,
        json!([
            { "phone": SARAH, "variables": { "first_name": "Sarah" } },
            { "phone": JAMES, "variables": { "first_name": "James" } }
        ]),
    )
    .await;
    let campaign_id = campaign["campaign_id"].as_str().unwrap().to_owned();

    // Sarah answers YES: not opted out, so YES is a message for the agent.
    let answer = text_in(&app, SARAH, "YES", "SM00000000000000000000000000000a01").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("text/xml"),
        "{}",
        answer.content_type
    );
    assert_eq!(answer.body, EMPTY_TWIML);

    let (auth, request) = eventually(10, "the model to be asked", || async {
        model.requests().into_iter().next()
    })
    .await;
    eprintln!("the fake model received:\n{request:#}");
    assert_eq!(
        auth.as_deref(),
        Some(format!("Bearer {MODEL_KEY}").as_str())
    );
    assert_eq!(request["model"], "herald-test-model");
    let messages = request["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{request:#}");
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.starts_with(DENTAL_PROMPT), "{system}");
    assert!(system.contains("\"March promotion\""), "{system}");
    assert!(
        system.contains(
            "<<<\nHi Sarah, Acme Dental offering 20% off cleanings this month. Reply YES to book.\n>>>"
        ),
        "{system}"
    );
    assert!(
        system.contains(r#"Their variables: {"first_name":"Sarah"}"#),
        "{system}"
    );
    assert_eq!(messages[1], json!({ "role": "user", "content": "YES" }));

    // The answer reaches the simulator as an SMS to Sarah, from the campaign's number.
    let sent = eventually(10, "the answer to be sent", || async {
        app.journal()
            .await
            .into_iter()
            .find(|s| s.to == SARAH && s.body.starts_with("Great news"))
    })
    .await;
    eprintln!("the simulator received: {sent:?}");
    assert_eq!(sent.from, OUR);
    assert_eq!(
        sent.body,
        "Great news, Sarah! Your 20% off is confirmed. Which weekday suits you?"
    );

    // The thread shows both messages; the answer's delivery status comes from the engine.
    let thread = eventually(10, "the answer to be delivered", || async {
        let c = conversation_with(&app, SARAH).await?;
        (c["messages"][1]["status"] == "delivered").then_some(c)
    })
    .await;
    assert_eq!(thread["number"], OUR);
    assert_eq!(thread["agent_id"], agent.as_str());
    assert_eq!(thread["campaign_id"], campaign_id.as_str());
    assert_eq!(thread["opted_out"], false);
    assert_eq!(thread["context"]["name"], "March promotion");
    assert_eq!(
        thread["context"]["variables"],
        json!({ "first_name": "Sarah" })
    );
    let m = thread["messages"].as_array().unwrap();
    assert_eq!(m.len(), 2, "{thread:#}");
    assert_eq!(
        (
            &m[0]["direction"],
            &m[0]["kind"],
            &m[0]["body"],
            &m[0]["reply_status"]
        ),
        (
            &json!("inbound"),
            &json!("message"),
            &json!("YES"),
            &json!("answered")
        )
    );
    assert_eq!(m[0]["twilio_sid"], "SM00000000000000000000000000000a01");
    assert_eq!(
        (&m[1]["direction"], &m[1]["kind"]),
        (&json!("outbound"), &json!("agent"))
    );
    assert!(m[1]["twilio_sid"].as_str().unwrap().starts_with("SM"));

    // Twilio delivering the same webhook twice changes nothing.
    let again = text_in(&app, SARAH, "YES", "SM00000000000000000000000000000a01").await;
    assert_eq!((again.status, again.body.as_str()), (200, EMPTY_TWIML));

    // The next message carries the conversation so far.
    text_in(
        &app,
        SARAH,
        "Tuesday at 10 please",
        "SM00000000000000000000000000000a02",
    )
    .await;
    let (_, second) = eventually(10, "the second request", || async {
        model.requests().get(1).cloned()
    })
    .await;
    let roles: Vec<(&str, &str)> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("user", "YES"),
            (
                "assistant",
                "Great news, Sarah! Your 20% off is confirmed. Which weekday suits you?"
            ),
            ("user", "Tuesday at 10 please"),
        ]
    );
    eventually(10, "the second answer to be sent", || async {
        app.journal()
            .await
            .into_iter()
            .find(|s| s.to == SARAH && s.body.starts_with("Tuesday at 10am"))
    })
    .await;
    assert_eq!(
        model.requests().len(),
        2,
        "the repeated webhook asked the model again"
    );

    // Replies travel as hidden one-recipient campaigns: never listed, never readable.
    let list = json(app.get("/v1/sms/campaigns").await).await;
    let ids: Vec<&str> = list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["campaign_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [campaign_id.as_str()]);
    let db = RawDb::connect(&app.settings.database_url).await;
    let reply_ids = db
        .strings("SELECT id FROM campaigns WHERE kind = 'reply'")
        .await;
    assert_eq!(reply_ids.len(), 2);
    for id in &reply_ids {
        let r = app.get(&format!("/v1/sms/campaigns/{id}")).await;
        assert_eq!(r.status(), 404);
        let r = app.delete(&format!("/v1/sms/campaigns/{id}")).await;
        assert_eq!(r.status(), 404);
        assert_eq!(app.launch(id).await.status(), 404);
    }
    db.close().await;

    // "STOP please" is not a keyword: James's message goes to the agent too.
    text_in(
        &app,
        JAMES,
        "STOP please",
        "SM00000000000000000000000000000a03",
    )
    .await;
    let (_, third) = eventually(10, "the third request", || async {
        model.requests().get(2).cloned()
    })
    .await;
    let last = third["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last, json!({ "role": "user", "content": "STOP please" }));
    let r = json(app.get("/v1/opt-outs").await).await;
    assert_eq!(r["opt_outs"], json!([]));
}

#[tokio::test]
async fn stop_is_honoured_at_once_and_forever() {
    let model = FakeModel::start(Behaviour::Answers(vec!["Hello!".into()])).await;
    let (app, agent) = app_with_agent(&model, Duration::from_secs(10)).await;
    march_promotion(
        &app,
        &agent,
        json!([
            { "phone": SARAH, "variables": { "first_name": "Sarah" } },
            { "phone": JAMES, "variables": { "first_name": "James" } }
        ]),
    )
    .await;
    let sent_before = app.journal().await.len();
    assert_eq!(sent_before, 2);

    // STOP, in any case with spaces: opted out at once, confirmed once in the TwiML answer.
    let stop = text_in(&app, SARAH, " Stop ", "SM00000000000000000000000000000b01").await;
    assert_eq!(stop.status, 200);
    let confirmation = twiml_message(&stop.body).expect("a confirmation");
    assert!(confirmation.contains("unsubscribed"), "{confirmation}");
    assert!(confirmation.contains("START"), "{confirmation}");

    let opt_outs = json(app.get("/v1/opt-outs").await).await;
    assert_eq!(opt_outs["opt_outs"][0]["phone"], SARAH);
    assert_eq!(opt_outs["opt_outs"][0]["source"], "keyword");
    let consent = json(
        app.get(&format!("/v1/consents/{}", SARAH.replace('+', "%2B")))
            .await,
    )
    .await;
    assert_eq!(consent["status"], "revoked");
    assert_eq!(consent["opted_out"], true);
    assert_eq!(consent["consents"][0]["source"], "keyword");
    assert!(
        consent["consents"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("SM00000000000000000000000000000b01")
    );

    // A second STOP is recorded but not confirmed again; other messages never reach the agent.
    let again = text_in(&app, SARAH, "STOP", "SM00000000000000000000000000000b02").await;
    assert_eq!(again.body, EMPTY_TWIML);
    let chat = text_in(
        &app,
        SARAH,
        "why did you text me?",
        "SM00000000000000000000000000000b03",
    )
    .await;
    assert_eq!(chat.body, EMPTY_TWIML);
    let thread = conversation_with(&app, SARAH).await.unwrap();
    let kinds: Vec<(&str, &str)> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("inbound", "opt_out"),
            ("outbound", "confirmation"),
            ("inbound", "opt_out"),
            ("inbound", "message")
        ]
    );
    assert_eq!(thread["messages"][3]["reply_status"], "opted_out");
    assert_eq!(thread["opted_out"], true);
    assert!(
        model.requests().is_empty(),
        "an opted-out number reached the agent"
    );
    let consents = json(
        app.get(&format!("/v1/consents?phone={}", SARAH.replace('+', "%2B")))
            .await,
    )
    .await;
    assert_eq!(
        consents["consents"].as_array().unwrap().len(),
        1,
        "{consents:#}"
    );

    // The next campaign does not reach her; James still gets it.
    let c = app
        .send_campaign(&json!({
            "agent_id": agent, "from_number": OUR, "name": "April promotion",
            "message_template": "Hi {{first_name}}, April news.",
            "recipients": [
                { "phone": SARAH, "variables": { "first_name": "Sarah" } },
                { "phone": JAMES, "variables": { "first_name": "James" } }
            ]
        }))
        .await;
    let sarah = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["phone"] == SARAH)
        .unwrap()
        .clone();
    assert_eq!(
        (&sarah["status"], &sarah["error_code"]),
        (&json!("failed"), &json!("opted_out"))
    );
    let journal = app.journal().await;
    let after: Vec<&str> = journal[sent_before..]
        .iter()
        .map(|s| s.to.as_str())
        .collect();
    assert_eq!(after, [JAMES], "only James was texted after Sarah's STOP");

    // START opts her back in, with a confirmation and a granted record.
    let start = text_in(&app, SARAH, "start", "SM00000000000000000000000000000b04").await;
    let confirmation = twiml_message(&start.body).expect("a confirmation");
    assert!(confirmation.contains("subscribed again"), "{confirmation}");
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"],
        json!([])
    );
    let consent = json(
        app.get(&format!("/v1/consents/{}", SARAH.replace('+', "%2B")))
            .await,
    )
    .await;
    assert_eq!(
        (&consent["status"], &consent["opted_out"]),
        (&json!("granted"), &json!(false))
    );
    assert_eq!(consent["consents"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn yes_from_an_opted_out_number_opts_it_back_in_and_twilio_opt_out_type_is_honoured() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    // OptOutType from a Messaging Service with Advanced Opt-Out: a custom keyword.
    let stop = text_in_with(
        &app,
        SARAH,
        OUR,
        "ARRET",
        "SM00000000000000000000000000000c01",
        &[("OptOutType", "STOP")],
    )
    .await;
    assert!(twiml_message(&stop.body).unwrap().contains("unsubscribed"));
    let listed = json(app.get("/v1/opt-outs").await).await;
    assert_eq!(listed["opt_outs"][0]["source"], "twilio_opt_out");
    let yes = text_in(&app, SARAH, "yes", "SM00000000000000000000000000000c02").await;
    assert!(
        twiml_message(&yes.body)
            .unwrap()
            .contains("subscribed again")
    );
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"],
        json!([])
    );
    // Subscribed now: YES is a message (no model here, so stored and not answered).
    let yes = text_in(&app, SARAH, "YES", "SM00000000000000000000000000000c03").await;
    assert_eq!(yes.body, EMPTY_TWIML);
    let thread = conversation_with(&app, SARAH).await.unwrap();
    let last = thread["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["kind"], &last["reply_status"]),
        (&json!("message"), &json!("no_model"))
    );
}

#[tokio::test]
async fn help_answers_with_the_accounts_text_and_keyword_replies_can_be_turned_off() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    let account = json(app.get("/v1/account").await).await;
    assert_eq!(account["keyword_replies"], true);
    assert_eq!(account["help_text_is_default"], true);
    let help = text_in(&app, SARAH, "help", "SM00000000000000000000000000000d01").await;
    assert_eq!(
        twiml_message(&help.body).unwrap(),
        account["help_text"].as_str().unwrap()
    );

    let r = app
        .request(Method::PATCH, "/v1/account")
        .json(&json!({ "help_text": "Acme Dental: call 020 7946 0000 & ask for <Sue>. Reply STOP to opt out." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info = text_in(&app, SARAH, "INFO", "SM00000000000000000000000000000d02").await;
    assert!(
        info.body
            .contains("call 020 7946 0000 &amp; ask for &lt;Sue&gt;."),
        "{}",
        info.body
    );

    // Off (Twilio's own opt-out handling answers): no TwiML message, but STOP still counts.
    let r = app
        .request(Method::PATCH, "/v1/account")
        .json(&json!({ "keyword_replies": false, "help_text": null }))
        .send()
        .await
        .unwrap();
    let settings = json(r).await;
    assert_eq!(
        (
            &settings["keyword_replies"],
            &settings["help_text_is_default"]
        ),
        (&json!(false), &json!(true))
    );
    let stop = text_in(&app, SARAH, "STOP", "SM00000000000000000000000000000d03").await;
    assert_eq!(stop.body, EMPTY_TWIML);
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"][0]["phone"],
        SARAH
    );

    let r = app
        .request(Method::PATCH, "/v1/account")
        .json(&json!({ "help_text": "  ", "name": "", "colour": "red" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .request(Method::PATCH, "/v1/account")
        .json(&json!({ "help_text": "x".repeat(1601), "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["name", "help_text"]);
}

#[tokio::test]
async fn without_a_model_replies_are_stored_and_shown_not_answered() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    let answer = text_in(
        &app,
        SARAH,
        "Are you open on Sunday?",
        "SM00000000000000000000000000000e01",
    )
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, EMPTY_TWIML));
    // A number Herald does not know: answered, nothing stored.
    let stray = text_in_with(
        &app,
        SARAH,
        "+447446466000",
        "Hello?",
        "SM00000000000000000000000000000e02",
        &[],
    )
    .await;
    assert_eq!((stray.status, stray.body.as_str()), (200, EMPTY_TWIML));
    let list = conversations(&app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["last_message"]["body"], "Are you open on Sunday?");
    assert_eq!(list[0]["last_message"]["reply_status"], "no_model");
    assert_eq!(list[0]["agent_id"], Value::Null);
}

#[tokio::test]
async fn model_errors_and_timeouts_leave_the_inbound_stored_and_unanswered() {
    for (behaviour, expect) in [
        (Behaviour::Fails(503), "HTTP 503"),
        (
            Behaviour::Slow(Duration::from_secs(5)),
            "did not answer within",
        ),
    ] {
        let model = FakeModel::start(behaviour).await;
        let (app, agent) = app_with_agent(&model, Duration::from_millis(700)).await;
        app.assign_agent(OUR, &agent).await;
        text_in(&app, SARAH, "Hello?", "SM00000000000000000000000000000f01").await;
        let message = eventually(10, "the failure to be recorded", || async {
            let c = conversation_with(&app, SARAH).await?;
            let m = c["messages"][0].clone();
            (m["reply_status"] == "failed").then_some(m)
        })
        .await;
        let error = message["reply_error"].as_str().unwrap();
        assert!(error.contains(expect), "{error}");
        assert!(!error.contains(MODEL_KEY));
        assert_eq!(model.requests().len(), 1);
        assert!(app.journal().await.is_empty(), "something was sent");
    }
}

#[tokio::test]
async fn inbound_signatures_follow_twilios_oracle() {
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/twilio-signatures.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let vector = oracle["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "gen-inbound-utf8-body")
        .unwrap()
        .clone();
    let token = vector["auth_token"].as_str().unwrap().to_owned();
    let url = vector["url"].as_str().unwrap();
    let public = url.trim_end_matches("/webhooks/twilio/inbound").to_owned();
    let app = spawn_app_with(|s| {
        s.run_engine = false;
        s.public_url = Some(public);
        s.twilio = Some(TwilioSettings {
            base_url: "http://127.0.0.1:9".into(),
            account_sid: "AC00000000000000000000000000000000".into(),
            auth_token: token,
            api_key: None,
            timeout: Duration::from_secs(1),
        });
    })
    .await;
    let params: Vec<(String, String)> = vector["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    // Twilio is unreachable here (only its signatures matter), so the number is stored
    // directly rather than added through the API, which asks Twilio whether the account owns it.
    let now = time::OffsetDateTime::now_utc();
    app.store
        .create_number(
            &herald::domain::ids::AccountId::parse(&app.creds.account_id).unwrap(),
            &herald::store::Number {
                phone: params.iter().find(|(k, _)| k == "To").unwrap().1.clone(),
                mps: 1.0,
                agent_id: None,
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .unwrap();
    let post = |params: Vec<(String, String)>, signature: Option<String>| {
        let mut r = app
            .client
            .post(app.url("/webhooks/twilio/inbound"))
            .form(&params);
        if let Some(s) = signature {
            r = r.header(signature::HEADER, s);
        }
        r.send()
    };
    let good = vector["signature"].as_str().unwrap().to_owned();

    // Forged, tampered or unsigned: 403 and nothing stored.
    let r = post(
        params.clone(),
        Some("NOTRSOYDt4T1cUTdK1PDd93/VVr8B8=".into()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["error"]["code"], "forbidden");
    let mut tampered = params.clone();
    tampered.iter_mut().find(|(k, _)| k == "Body").unwrap().1 = "STOP".into();
    assert_eq!(
        post(tampered, Some(good.clone())).await.unwrap().status(),
        403
    );
    assert_eq!(post(params.clone(), None).await.unwrap().status(), 403);
    assert!(conversations(&app).await.is_empty());

    // Twilio's own signature: accepted and stored, the UTF-8 body intact (and no keyword).
    let r = post(params.clone(), Some(good)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), EMPTY_TWIML);
    let list = conversations(&app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["last_message"]["body"], vector["params"]["Body"]);
    assert_eq!(list[0]["last_message"]["kind"], "message");
}

#[tokio::test]
async fn require_consent_sends_only_to_numbers_with_granted_consent() {
    let app = spawn_sending_app(|_| {}).await;
    app.post_json("/v1/numbers", &json!({ "phone": OUR, "mps": 50.0 }))
        .await;
    let r = app
        .post_json(
            "/v1/consents",
            &json!({ "phone": SARAH, "status": "granted", "source": "web_form", "evidence": "signup form #17" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let record = json(r).await;
    assert!(record["consent_id"].as_str().unwrap().starts_with("cons_"));
    assert_eq!(
        (&record["status"], &record["source"]),
        (&json!("granted"), &json!("web_form"))
    );
    let csv = "Phone,Status,Source,Evidence,Timestamp\n\
               +447111000002,granted,paper,filed in binder 3,2026-01-15\n\
               +447111000003,granted,,,\n\
               +447111000003,revoked,,unsubscribed on the website,\n";
    let r = app
        .request(Method::POST, "/v1/consents/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        json(r).await,
        json!({ "imported": 3, "granted": 2, "revoked": 1 })
    );

    // A bad row refuses the whole file.
    let r = app
        .request(Method::POST, "/v1/consents/import")
        .header("content-type", "text/csv")
        .body("phone,status\n+447111000004,granted\nnot a phone,maybe\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        ["lines[3].phone", "lines[3].status"]
    );
    let all = json(app.get("/v1/consents").await).await;
    assert_eq!(all["consents"].as_array().unwrap().len(), 4);

    let body = |schedule: &str| {
        json!({
            "from_number": OUR, "name": "Consent only", "message_template": "Hi",
            "require_consent": true, "schedule_type": schedule,
            "recipients": [
                { "phone": "+447111000001" }, { "phone": "+447111000002" },
                { "phone": "+447111000003" }, { "phone": "+447111000004" }
            ]
        })
    };
    let preview = json(
        app.post_json("/v1/sms/campaigns/preview", &body("now"))
            .await,
    )
    .await;
    assert_eq!(preview["totals"]["no_consent"], 2, "{preview:#}");
    assert_eq!(preview["totals"]["sendable"], 2);

    // At create: no granted consent → failed / no_consent, never sent.
    let created = app.post_campaign(&body("now")).await;
    assert_eq!(created["require_consent"], true);
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let c = app.wait_until_done(&id, 20).await;
    let outcome: Vec<(String, Value)> = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["phone"].as_str().unwrap().to_owned(),
                r["error_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        [
            ("+447111000001".to_owned(), Value::Null),
            ("+447111000002".to_owned(), Value::Null),
            ("+447111000003".to_owned(), json!("no_consent")),
            ("+447111000004".to_owned(), json!("no_consent")),
        ]
    );

    // Before each send: consent withdrawn after a draft was created is honoured at launch.
    let draft = json(app.post_json("/v1/sms/campaigns", &body("draft")).await).await;
    let draft_id = draft["campaign_id"].as_str().unwrap().to_owned();
    app.record_consent(JAMES, "revoked", "verbal").await;
    assert_eq!(app.launch(&draft_id).await.status(), 200);
    let c = app.wait_until_done(&draft_id, 20).await;
    let james = c["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["phone"] == JAMES)
        .unwrap()
        .clone();
    assert_eq!(james["error_code"], "no_consent", "{c:#}");
    let journal = app.journal().await;
    let to: Vec<&str> = journal.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(to.iter().filter(|p| **p == JAMES).count(), 1, "{to:?}");
    assert_eq!(to.iter().filter(|p| **p == SARAH).count(), 2, "{to:?}");
    assert!(!to.contains(&"+447111000003") && !to.contains(&"+447111000004"));
    // Revoking consent is not an opt-out: campaigns without require_consent still reach James.
    assert_eq!(
        json(app.get("/v1/opt-outs").await).await["opt_outs"],
        json!([])
    );

    let r = app
        .post_json(
            "/v1/consents",
            &json!({ "phone": "07111000001", "status": "maybe", "timestamp": "2099-01-01" }),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        ["phone", "status", "timestamp"]
    );
    // Consent records are append-only: no route changes or deletes one, nor does the database.
    let some_id = all["consents"][0]["consent_id"].as_str().unwrap();
    let r = app.delete(&format!("/v1/consents/{some_id}")).await;
    assert_eq!(r.status(), 405);
    let db = RawDb::connect(&app.settings.database_url).await;
    for sql in [
        "UPDATE consents SET status = 'granted'",
        "DELETE FROM consents",
    ] {
        let e = db.execute(sql).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    db.close().await;
}

#[tokio::test]
async fn opt_outs_can_be_added_and_removed_with_a_reason_and_21610_records_one() {
    let app = spawn_sending_app(|_| {}).await;
    app.post_json("/v1/numbers", &json!({ "phone": OUR, "mps": 50.0 }))
        .await;
    let r = app
        .post_json(
            "/v1/opt-outs",
            &json!({ "phone": "+44 7111 000005", "reason": "asked on the phone" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let added = json(r).await;
    assert_eq!(
        (&added["phone"], &added["source"]),
        (&json!("+447111000005"), &json!("api"))
    );
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": "+447111000005" }))
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": "nope" }))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["phone"]);

    // Twilio's 21610 opts the number out, with its consent record.
    let created = app
        .post_campaign(
            &json!({ "from_number": OUR, "name": "t", "message_template": "Hi",
                                "recipients": [{ "phone": "+15005550004" }] }),
        )
        .await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    app.wait_for(&id, 20, |c| c["pending_count"] == 0).await;
    let consent = json(app.get("/v1/consents/%2B15005550004").await).await;
    assert_eq!(consent["status"], "revoked");
    assert_eq!(consent["consents"][0]["source"], "twilio_21610");
    let list = json(app.get("/v1/opt-outs?limit=1").await).await;
    assert_eq!(list["opt_outs"].as_array().unwrap().len(), 1);
    let cursor = list["next_cursor"].as_str().unwrap().to_owned();
    let rest = json(
        app.get(&format!("/v1/opt-outs?limit=1&cursor={cursor}"))
            .await,
    )
    .await;
    let phones = [&list["opt_outs"][0]["phone"], &rest["opt_outs"][0]["phone"]];
    assert!(phones.contains(&&json!("+15005550004")) && phones.contains(&&json!("+447111000005")));
    assert_eq!(rest["next_cursor"], Value::Null);

    // Removal needs a reason, which becomes the evidence of a granted record.
    let r = app.delete("/v1/opt-outs/%2B447111000005").await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["reason"]);
    let r = app
        .request(Method::DELETE, "/v1/opt-outs/%2B447111000005")
        .json(&json!({ "reason": "re-subscribed in the shop, paper form 88" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let record = json(r).await;
    assert_eq!(
        (&record["status"], &record["source"]),
        (&json!("granted"), &json!("api"))
    );
    assert_eq!(
        record["evidence"],
        "re-subscribed in the shop, paper form 88"
    );
    let r = app
        .delete("/v1/opt-outs/%2B447111000005?reason=again")
        .await;
    assert_eq!(r.status(), 404);
    let history = json(app.get("/v1/consents?phone=%2B447111000005").await).await;
    let statuses: Vec<&str> = history["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["granted", "revoked"]);
}

#[tokio::test]
async fn replies_and_compliance_are_scoped_to_the_account() {
    let app = spawn_app().await;
    app.add_number(OUR).await;
    text_in(&app, SARAH, "Hello", "SM00000000000000000000000000000g01").await;
    text_in(&app, JAMES, "STOP", "SM00000000000000000000000000000g02").await;
    app.post_json(
        "/v1/consents",
        &json!({ "phone": SARAH, "status": "granted" }),
    )
    .await;
    let id = conversations(&app).await[0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let other = app.other_account().await;
    let as_other = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&other)
    };
    let r = as_other(Method::GET, &format!("/v1/conversations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = as_other(Method::GET, "/v1/conversations")
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["conversations"], json!([]));
    let r = as_other(Method::GET, "/v1/opt-outs").send().await.unwrap();
    assert_eq!(json(r).await["opt_outs"], json!([]));
    let r = as_other(Method::DELETE, "/v1/opt-outs/%2B447111000002?reason=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = as_other(Method::GET, "/v1/consents").send().await.unwrap();
    assert_eq!(json(r).await["consents"], json!([]));
    let r = as_other(Method::GET, "/v1/consents/%2B447111000001")
        .send()
        .await
        .unwrap();
    let seen = json(r).await;
    assert_eq!(
        (&seen["status"], &seen["consents"]),
        (&Value::Null, &json!([]))
    );

    // Unauthenticated requests are refused on every new route.
    for (method, path) in [
        (Method::GET, "/v1/conversations"),
        (Method::GET, "/v1/opt-outs"),
        (Method::GET, "/v1/consents"),
        (Method::GET, "/v1/account"),
        (Method::GET, "/v1/consents/%2B447111000001"),
    ] {
        let r = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = app.get("/v1/conversations/conv_nope").await;
    assert_eq!(r.status(), 404);
    let r = app.get("/v1/conversations?cursor=garbage").await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["cursor"]);

    // The new routes are in the OpenAPI document.
    let doc = app.openapi().await;
    for path in [
        "/webhooks/twilio/inbound",
        "/v1/conversations",
        "/v1/conversations/{conversation_id}",
        "/v1/opt-outs",
        "/v1/opt-outs/{phone}",
        "/v1/consents",
        "/v1/consents/import",
        "/v1/consents/{phone}",
        "/v1/account",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn a_burst_of_messages_is_answered_in_order_without_answering_twice() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let model = FakeModel::start(Behaviour::Gated(gate.clone())).await;
    let (app, agent) = app_with_agent(&model, Duration::from_secs(20)).await;
    app.assign_agent(OUR, &agent).await;

    // The first message is with the model while two more arrive.
    text_in(&app, SARAH, "Hi", "SM00000000000000000000000000000h01").await;
    eventually(10, "the first request", || async {
        (!model.requests().is_empty()).then_some(())
    })
    .await;
    text_in(
        &app,
        SARAH,
        "Do you have",
        "SM00000000000000000000000000000h02",
    )
    .await;
    text_in(
        &app,
        SARAH,
        "anything on Tuesday?",
        "SM00000000000000000000000000000h03",
    )
    .await;
    gate.add_permits(3);

    // The second waits its turn, sees the third and leaves it to answer both.
    let thread = eventually(10, "two answers to be delivered", || async {
        let c = conversation_with(&app, SARAH).await?;
        let delivered = c["messages"]
            .as_array()?
            .iter()
            .filter(|m| m["kind"] == "agent" && m["status"] == "delivered")
            .count();
        (delivered == 2).then_some(c)
    })
    .await;
    let requests = model.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let turns: Vec<(&str, &str)> = requests[1].1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        [
            ("user", "Hi"),
            ("assistant", "answer 1"),
            ("user", "Do you have\nanything on Tuesday?"),
        ]
    );
    let summary: Vec<(&str, &str, &str)> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["body"].as_str().unwrap(),
                m["kind"].as_str().unwrap(),
                m["reply_status"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Hi", "message", "answered"),
            ("Do you have", "message", "superseded"),
            ("anything on Tuesday?", "message", "answered"),
            ("answer 1", "agent", "-"),
            ("answer 2", "agent", "-"),
        ]
    );
    let sent: Vec<String> = app.journal().await.into_iter().map(|s| s.body).collect();
    assert_eq!(sent, ["answer 1", "answer 2"]);
}
