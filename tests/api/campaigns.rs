//! Campaigns: the spec page's examples, validation, idempotency, paging, cancel and launch.

use herald::domain::ids::AccountId;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;

use herald_test_support::{
    SPEC_CREATE, TestApp, error_fields, json, spawn_app, spawn_app_with, spec_setup,
};

async fn post_raw(app: &TestApp, body: &str) -> reqwest::Response {
    app.request(Method::POST, "/v1/sms/campaigns")
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Posts a campaign that must be refused as invalid; the fields the refusal names.
async fn refused(app: &TestApp, body: &Value) -> Vec<String> {
    let r = app.post_json("/v1/sms/campaigns", body).await;
    assert_eq!(r.status(), 422);
    error_fields(&json(r).await)
}

#[tokio::test]
async fn the_spec_walkthrough_create_get_list_cancel() {
    let app = spawn_app().await;
    spec_setup(&app).await;

    // Create: 201 with the spec's response shape.
    let r = post_raw(&app, SPEC_CREATE).await;
    assert_eq!(r.status(), 201);
    let created = json(r).await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("smsc_"));
    assert_eq!(created["status"], "running");
    assert_eq!(created["total_count"], 2);
    assert_eq!(created["delivered_count"], 0);
    assert_eq!(created["failed_count"], 0);
    assert_eq!(created["pending_count"], 2);
    assert_eq!(created["source"], "api");

    // Get: the spec's tracking shape, recipients with phone/variables/status/twilio_sid.
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(got["campaign_id"], id);
    assert_eq!(got["name"], "March promotion");
    assert_eq!(got["source"], "api");
    assert_eq!(got["total_count"], 2);
    let recipients = got["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0]["phone"], "+447111000001");
    assert_eq!(recipients[0]["variables"], json!({ "first_name": "Sarah" }));
    assert_eq!(recipients[0]["status"], "pending");
    assert!(recipients[0].get("twilio_sid").is_some());
    assert_eq!(
        recipients[1]["body"],
        "Hi James, Acme Dental offering 20% off cleanings this month. Reply YES to book."
    );
    assert_eq!(got["recipients_next_cursor"], Value::Null);

    // List: newest first, with counts.
    let second = app.create_campaign("+447446466847", 1, json!({})).await;
    let list = json(app.get("/v1/sms/campaigns").await).await;
    let campaigns = list["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 2);
    assert_eq!(campaigns[0]["campaign_id"], second["campaign_id"]);
    assert_eq!(campaigns[1]["campaign_id"], id);
    assert_eq!(campaigns[1]["pending_count"], 2);
    assert_eq!(list["next_cursor"], Value::Null);

    // Cancel: unsent recipients become cancelled; a second cancel is 409.
    let r = app.delete(&format!("/v1/sms/campaigns/{id}")).await;
    assert_eq!(r.status(), 200);
    let cancelled = json(r).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_count"], 2);
    assert_eq!(cancelled["pending_count"], 0);
    let r = app.delete(&format!("/v1/sms/campaigns/{id}")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["error"]["code"], "conflict");
}

#[tokio::test]
async fn validation_is_all_or_nothing_and_names_every_field() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &json!({
                "agent_id": "agent_doesnotexist",
                "from_number": "+447700900123",
                "name": "",
                "message_template": "Hi {{first_name}}",
                "recipients": [
                    { "phone": "+447111000001" },
                    { "phone": "07111 000002" },
                    { "phone": "+447111000003" },
                    { "phone": "not a number" }
                ]
            }),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(
        error_fields(&body),
        [
            "name",
            "from_number",
            "agent_id",
            "recipients[1].phone",
            "recipients[3].phone"
        ]
    );
    // Nothing was stored.
    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(list["campaigns"], json!([]));
}

#[tokio::test]
async fn shape_errors_carry_their_path_and_unknown_fields_are_refused() {
    let app = spawn_app().await;
    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &json!({ "recipients": [{ "phone": "+447111000001" }, { "phone": 447111000002u64 }] }),
        )
        .await;
    assert_eq!(r.status(), 422);
    // The type error first, then what is missing besides.
    assert_eq!(
        error_fields(&json(r).await),
        [
            "recipients[1].phone",
            "name",
            "message_template",
            "from_number"
        ]
    );

    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &json!({ "schedule_at": "2030-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert_eq!(error_fields(&body)[0], "schedule_at", "{body}");
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown field `schedule_at`, expected one of"),
        "{body}"
    );

    let r = app
        .post_json("/v1/sms/campaigns", &json!({ "schedule_type": "later" }))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        [
            "schedule_type",
            "name",
            "message_template",
            "from_number",
            "recipients"
        ]
    );
}

#[tokio::test]
async fn phones_are_normalised_and_duplicates_collapse_to_the_first() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &json!({
                "from_number": from,
                "name": "Dupes",
                "message_template": "Hello {{ name }}",
                "recipients": [
                    { "phone": "+44 7111-000.001", "variables": { "name": "first" } },
                    { "phone": "+44 (0)7111 000001", "variables": { "name": "second" } },
                    { "phone": "+447111000002", "variables": { "name": 42 } }
                ]
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created = json(r).await;
    assert_eq!(created["total_count"], 2);
    assert_eq!(created["duplicates_removed"], 1);
    assert_eq!(created["duplicates"][0]["index"], 1);
    let id = created["campaign_id"].as_str().unwrap();
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(got["recipients"][0]["phone"], "+447111000001");
    assert_eq!(got["recipients"][0]["body"], "Hello first");
    assert_eq!(got["recipients"][1]["body"], "Hello 42");
    assert_eq!(got["recipients"][1]["variables"]["name"], 42);
}

#[tokio::test]
async fn opted_out_recipients_are_kept_and_failed() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let account = AccountId::parse(&app.creds.account_id).unwrap();
    app.store
        .add_opt_out(
            &account,
            "+447111000002",
            "api",
            None,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let created = app.create_campaign(&from, 3, json!({})).await;
    assert_eq!(created["total_count"], 3);
    assert_eq!(created["failed_count"], 1);
    assert_eq!(created["pending_count"], 2);
    let id = created["campaign_id"].as_str().unwrap();
    let failed = json(
        app.get(&format!("/v1/sms/campaigns/{id}?recipient_status=failed"))
            .await,
    )
    .await;
    let recipients = failed["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1);
    assert_eq!(recipients[0]["phone"], "+447111000002");
    assert_eq!(recipients[0]["error_code"], "opted_out");
}

#[tokio::test]
async fn idempotency_key_returns_the_first_campaign() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let body = json!({
        "from_number": from, "name": "Once", "message_template": "Hi",
        "recipients": [{ "phone": "+447111000001" }]
    });
    let send = |body: Value, key: &'static str| {
        app.request(Method::POST, "/v1/sms/campaigns")
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(body.clone(), "abc-123").await.unwrap();
    assert_eq!(first.status(), 201);
    let first = json(first).await;
    let again = send(body.clone(), "abc-123").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json(again).await["campaign_id"], first["campaign_id"]);

    let mut changed = body.clone();
    changed["name"] = json!("Twice");
    let r = send(changed, "abc-123").await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(json(r).await["error"]["code"], "idempotency_key_reused");

    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(list["campaigns"].as_array().unwrap().len(), 1);

    // Concurrent retries still make exactly one campaign.
    let (a, b) = tokio::join!(send(body.clone(), "race"), send(body.clone(), "race"));
    let (a, b) = (json(a.unwrap()).await, json(b.unwrap()).await);
    assert_eq!(a["campaign_id"], b["campaign_id"]);
    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(list["campaigns"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn limits_on_recipients_and_body_size() {
    let app = spawn_app_with(|s| {
        s.limits.max_recipients = 3;
        s.max_body_bytes = 4096;
    })
    .await;
    let from = app.add_number("+447446466847").await;
    let recipients: Vec<Value> = (1..=4)
        .map(|i| json!({ "phone": format!("+44711100000{i}") }))
        .collect();
    let fields = refused(
        &app,
        &json!({ "from_number": from, "name": "Big", "message_template": "Hi", "recipients": recipients }),
    )
    .await;
    assert_eq!(fields, ["recipients"]);

    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &json!({ "from_number": from, "name": "x".repeat(5000), "message_template": "Hi", "recipients": [] }),
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(json(r).await["error"]["code"], "payload_too_large");

    let fields = refused(
        &app,
        &json!({ "from_number": from, "name": "Empty", "message_template": "Hi", "recipients": [] }),
    )
    .await;
    assert_eq!(fields, ["recipients"]);
}

#[tokio::test]
async fn a_rendered_body_over_1600_characters_is_refused() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let fields = refused(
        &app,
        &json!({
            "from_number": from, "name": "Long", "message_template": "{{text}}{{more}}",
            "recipients": [
                { "phone": "+447111000001", "variables": { "text": "ok" } },
                // Each value within 1,024 characters; the message over 1,600.
                { "phone": "+447111000002", "variables": { "text": "é".repeat(801), "more": "é".repeat(800) } }
            ]
        }),
    )
    .await;
    assert_eq!(fields, ["recipients[1]"]);
}

#[tokio::test]
async fn schedules_drafts_and_launch() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;

    let fields = refused(
        &app,
        &json!({
            "from_number": from, "name": "Past", "message_template": "Hi",
            "recipients": [{ "phone": "+447111000001" }],
            "schedule_type": "schedule", "scheduled_at": "2020-05-20T09:00:00Z"
        }),
    )
    .await;
    assert_eq!(fields, ["scheduled_at"]);

    // At most a year ahead; answered in the API's one format (milliseconds, Z).
    let day = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).date();
    let scheduled = app
        .create_campaign(
            &from,
            1,
            json!({ "schedule_type": "schedule", "scheduled_at": format!("{day}T09:00:00Z") }),
        )
        .await;
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(scheduled["scheduled_at"], format!("{day}T09:00:00.000Z"));

    let draft = app
        .create_campaign(&from, 2, json!({ "schedule_type": "draft" }))
        .await;
    assert_eq!(draft["status"], "draft");
    let id = draft["campaign_id"].as_str().unwrap();
    let r = app.launch(id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["status"], "running");
    let r = app.launch(id).await;
    assert_eq!(r.status(), 409);

    // A scheduled campaign can be cancelled before it starts.
    let sid = scheduled["campaign_id"].as_str().unwrap();
    let r = app.delete(&format!("/v1/sms/campaigns/{sid}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["status"], "cancelled");
}

#[tokio::test]
async fn lists_and_recipients_page_with_cursors() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            app.create_campaign(&from, 1, json!({})).await["campaign_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/sms/campaigns?limit=2".to_owned(),
            Some(c) => format!("/v1/sms/campaigns?limit=2&cursor={c}"),
        };
        let page = json(app.get(&path).await).await;
        for c in page["campaigns"].as_array().unwrap() {
            seen.push(c["campaign_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let big = app.create_campaign(&from, 250, json!({})).await;
    let id = big["campaign_id"].as_str().unwrap();
    let mut phones = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/sms/campaigns/{id}?recipients_limit=100"),
            Some(c) => format!("/v1/sms/campaigns/{id}?recipients_limit=100&recipients_cursor={c}"),
        };
        let page = json(app.get(&path).await).await;
        assert_eq!(page["total_count"], 250);
        for r in page["recipients"].as_array().unwrap() {
            phones.push(r["phone"].as_str().unwrap().to_owned());
        }
        match page["recipients_next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(phones.len(), 250);
    assert_eq!(phones[0], "+447111000001");
    assert_eq!(phones[249], "+447111000250");

    for bad in [
        "/v1/sms/campaigns?limit=0",
        "/v1/sms/campaigns?limit=501",
        "/v1/sms/campaigns?cursor=zzz",
    ] {
        assert_eq!(app.get(bad).await.status(), 422, "{bad}");
    }
    let r = app
        .get(&format!("/v1/sms/campaigns/{id}?recipient_status=lost"))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["recipient_status"]);
}

#[tokio::test]
async fn sender_pools_spread_recipients() {
    let app = spawn_app().await;
    let a = app.add_number("+447446466847").await;
    let b = app.add_number("+447446466848").await;
    let created = app
        .create_campaign(
            &a,
            4,
            json!({ "from_number": null, "from_numbers": [a, b] }),
        )
        .await;
    assert_eq!(created["from_numbers"], json!([a, b]));
    let id = created["campaign_id"].as_str().unwrap();
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    let froms: Vec<&str> = got["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["from_number"].as_str().unwrap())
        .collect();
    assert_eq!(froms, [a.as_str(), b.as_str(), a.as_str(), b.as_str()]);
}

/// Create checks and stores the recipients a chunk at a time: problems far into a large
/// request still refuse all of it (every problem listed, nothing stored, the idempotency key
/// left unused), and duplicates are counted across chunks.
#[tokio::test]
async fn large_creates_are_all_or_nothing_across_chunks() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let recipients = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({ "phone": format!("+4471110{:05}", i + 1), "variables": { "first_name": format!("P{i}") } }))
            .collect()
    };
    let mut list = recipients(1_500);
    list[1_200] = json!({ "phone": "07111000000" });
    list[1_400] = json!({ "phone": "+447111099999", "variables": { "first_name": { "x": 1 } } });
    let body = json!({
        "from_number": from, "name": "Big", "message_template": "Hi {{first_name}}",
        "recipients": list,
    });
    let send = |body: &Value, key: &'static str| {
        app.request(Method::POST, "/v1/sms/campaigns")
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    let r = send(&body, "big-1").await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        [
            "recipients[1200].phone",
            "recipients[1400].variables.first_name"
        ]
    );
    let listed = json(app.get("/v1/sms/campaigns").await).await;
    assert!(
        listed["campaigns"].as_array().unwrap().is_empty(),
        "{listed}"
    );

    // The key was not used up; duplicates far apart collapse to the first.
    let mut list = recipients(1_500);
    list[1_300] = json!({ "phone": "+44 7111 000002", "variables": { "first_name": "Again" } });
    let good = json!({
        "from_number": from, "name": "Big", "message_template": "Hi {{first_name}}",
        "recipients": list,
    });
    let r = send(&good, "big-1").await.unwrap();
    assert_eq!(r.status(), 201);
    let created = json(r).await;
    assert_eq!(created["total_count"], 1_499);
    assert_eq!(created["duplicates_removed"], 1);
    assert_eq!(created["duplicates"][0]["index"], 1_300);
    assert_eq!(created["duplicates"][0]["first_index"], 1);
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let page = json(
        app.get(&format!(
            "/v1/sms/campaigns/{id}?recipients_limit=1000&recipients_cursor=1299"
        ))
        .await,
    )
    .await;
    // Position 1300 is the entry after the dropped one.
    let r = &page["recipients"][0];
    assert_eq!(r["phone"], "+447111001302");
    assert_eq!(r["body"], "Hi P1301");
    assert_eq!(page["recipients"].as_array().unwrap().len(), 199);

    // The same key with another, invalid body: the problems, as when nothing was stored.
    let r = send(&body, "big-1").await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        [
            "recipients[1200].phone",
            "recipients[1400].variables.first_name"
        ]
    );
    let listed = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(listed["campaigns"].as_array().unwrap().len(), 1);
}

/// The recipients are read borrowing from the body; a body that reading refuses is answered
/// with the message and position serde gives for the whole body, as before.
#[tokio::test]
async fn shape_errors_inside_recipients_keep_their_exact_message() {
    let app = spawn_app().await;
    for (body, field, message) in [
        (
            r#"{"recipients": [{"phone": "+447111000001"}, {"phone": "+447111000002", "variables": [1]}]}"#,
            "recipients[1].variables",
            "invalid type: sequence, expected a map at line 1 column 84",
        ),
        (
            r#"{"recipients": [{"phone": "+447111000001", "variables": {"a": "x"}, "extra": 1}]}"#,
            "recipients[0].extra",
            "unknown field `extra`, expected `phone` or `variables` at line 1 column 75",
        ),
    ] {
        let r = post_raw(&app, body).await;
        assert_eq!(r.status(), 422, "{body}");
        let v = json(r).await;
        // First, before what is missing besides (name, message_template, from_number).
        assert_eq!(error_fields(&v)[0], field, "{v}");
        assert_eq!(v["error"]["details"][0]["message"], message, "{v}");
    }
    let r = post_raw(
        &app,
        r#"{"recipients": [{"phone": "+447111000001", "variables": {"n": 1e400}}]}"#,
    )
    .await;
    assert_eq!(r.status(), 400);
}

/// The recipients `POST /v1/sms/recipients/parse` returns are a create body's recipients as
/// they are: the `line` it adds is ignored; any other unknown field is still refused.
#[tokio::test]
async fn recipients_from_parse_are_accepted_as_they_are() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let parsed = app
        .request(Method::POST, "/v1/sms/recipients/parse")
        .header("Content-Type", "text/csv")
        .body("phone,first_name\n+447111000001,Sarah\n+447111000002,James\n")
        .send()
        .await
        .unwrap();
    assert_eq!(parsed.status(), 200);
    let parsed = json(parsed).await;
    assert_eq!(parsed["recipients"][0]["line"], 2);
    let mut body = json!({
        "from_number": "+447446466847",
        "name": "From a CSV",
        "message_template": "Hi {{first_name}}",
        "recipients": parsed["recipients"],
    });
    let r = app.post_json("/v1/sms/campaigns", &body).await;
    assert_eq!(r.status(), 201);
    let id = json(r).await["campaign_id"].as_str().unwrap().to_owned();
    let got = app.campaign(&id).await;
    assert_eq!(got["recipients"][1]["body"], "Hi James");
    assert_eq!(
        got["recipients"][1]["variables"],
        json!({ "first_name": "James" })
    );

    body["recipients"][1]["row"] = json!(3);
    let r = app.post_json("/v1/sms/campaigns", &body).await;
    assert_eq!(r.status(), 422);
    let v = json(r).await;
    assert_eq!(error_fields(&v), ["recipients[1].row"]);
    assert!(
        v["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown field `row`, expected `phone` or `variables`"),
        "{v}"
    );
}

/// A number parse read in the default country carries `converted_from`; create takes it as
/// it is, like `line`.
#[tokio::test]
async fn converted_numbers_from_parse_are_accepted_as_they_are() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let parsed = app
        .request(Method::POST, "/v1/sms/recipients/parse?default_country=GB")
        .header("Content-Type", "text/plain")
        .body("07111 000001\n+447111000002\n")
        .send()
        .await
        .unwrap();
    assert_eq!(parsed.status(), 200);
    let parsed = json(parsed).await;
    assert_eq!(
        parsed["recipients"][0]["phone"], "+447111000001",
        "{parsed}"
    );
    assert!(
        parsed["recipients"][0]["converted_from"].is_string(),
        "{parsed}"
    );
    let body = json!({
        "from_number": "+447446466847",
        "name": "Converted",
        "message_template": "Hi",
        "recipients": parsed["recipients"],
    });
    let r = app.post_json("/v1/sms/campaigns", &body).await;
    assert_eq!(r.status(), 201, "{}", json(r).await);
}

/// A 422 lists every field of the wrong type and every missing one, each with its path, not
/// only the first serde meets; value errors of the fields that did read come with them.
#[tokio::test]
async fn every_type_error_and_missing_field_is_listed() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let r = post_raw(
        &app,
        r#"{"name": 123, "recipients": "all", "schedule_type": "now"}"#,
    )
    .await;
    assert_eq!(r.status(), 422);
    let v = json(r).await;
    assert_eq!(v["error"]["code"], "validation_failed");
    assert_eq!(
        error_fields(&v),
        ["name", "recipients", "message_template", "from_number"],
        "{v}"
    );
    assert_eq!(
        v["error"]["details"][1]["message"],
        "invalid type: string \"all\", expected a sequence at line 1 column 33"
    );

    let body = json!({
        "from_number": "+447446466847",
        "name": "Typed",
        "message_template": "Hi {{n}}",
        "require_consent": "yes",
        "recipients": [
            { "phone": "+447111000001" },
            { "phone": 447111000002u64 },
            { "phone": "+447111000003", "variables": "n" },
            { "phone": 7 },
            { "phone": "not a number" },
            ["+447111000006"]
        ]
    });
    assert_eq!(
        refused(&app, &body).await,
        // Type errors in body order (`json!` sorts the keys), then the value errors.
        [
            "recipients[1].phone",
            "recipients[2].variables",
            "recipients[3].phone",
            "recipients[5]",
            "require_consent",
            "recipients[4].phone"
        ]
    );
    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(list["campaigns"], json!([]));
}

/// `default_country` reads phones without a country code as parse reads them.
#[tokio::test]
async fn default_country_reads_national_numbers() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let mut body = json!({
        "from_number": "+447446466847",
        "name": "National",
        "message_template": "Hello",
        "recipients": [{ "phone": "07111 000001" }, { "phone": "+447111000002" }]
    });
    // Without it, a national number is refused as before.
    assert_eq!(refused(&app, &body).await, ["recipients[0].phone"]);
    for bad in ["XX", "Britain"] {
        body["default_country"] = json!(bad);
        assert_eq!(
            refused(&app, &body).await,
            ["default_country", "recipients[0].phone"],
            "{bad}"
        );
    }
    body["default_country"] = json!(3);
    assert_eq!(refused(&app, &body).await[0], "default_country");
    body["default_country"] = json!("GB");
    let r = app.post_json("/v1/sms/campaigns", &body).await;
    assert_eq!(r.status(), 201);
    let id = json(r).await["campaign_id"].as_str().unwrap().to_owned();
    let got = app.campaign(&id).await;
    assert_eq!(got["recipients"][0]["phone"], "+447111000001");
    assert_eq!(got["recipients"][1]["phone"], "+447111000002");
    let doc = app.openapi().await;
    assert!(
        doc["components"]["schemas"]["CampaignRequest"]["properties"]["default_country"]
            .is_object()
    );
}
