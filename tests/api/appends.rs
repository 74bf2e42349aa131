//! Appending recipients to a draft (`POST /v1/sms/campaigns/{id}/recipients`): duplicates
//! against the campaign and the call, create's checks and limits, idempotency, then launch.
//! Run on PostgreSQL with `HERALD_TEST_BACKEND=postgres`.

use reqwest::Method;
use serde_json::{Value, json};

use herald_test_support::{
    RawDb, TestApp, error_fields, json, spawn_app, spawn_app_with, spawn_sending_app,
};

const FROM: &str = "+447446466847";

fn path(id: &str) -> String {
    format!("/v1/sms/campaigns/{id}/recipients")
}

/// A draft of `n` recipients (`+4471110000001`… with `first_name` P0…); its id.
async fn draft(app: &TestApp, n: usize) -> String {
    let d = app
        .create_campaign(FROM, n, json!({ "schedule_type": "draft" }))
        .await;
    assert_eq!(d["status"], "draft");
    d["campaign_id"].as_str().unwrap().to_owned()
}

fn someone(phone: &str, name: &str) -> Value {
    json!({ "phone": phone, "variables": { "first_name": name } })
}

async fn append(app: &TestApp, id: &str, body: &Value) -> reqwest::Response {
    app.post_json(&path(id), body).await
}

/// The phones an append's answer lists as dropped, in order.
fn dropped_phones(answer: &Value) -> Vec<&str> {
    answer["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["phone"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn appends_grow_a_draft_without_duplicates_then_launch_sends_everyone() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_number(FROM).await;
    let id = draft(&app, 2).await;

    let r = append(
        &app,
        &id,
        &json!({
            "default_country": "GB",
            "recipients": [
                someone("+447111000002", "Again"),
                someone("+447111000003", "P2"),
                someone("+447111000004", "P3"),
                someone("07111 000005", "P4"),
                someone("+44 7111 000003", "Twice"),
            ]
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let a = json(r).await;
    assert_eq!(a["campaign_id"], id);
    assert_eq!(a["status"], "draft");
    assert_eq!(a["added"], 3);
    assert_eq!(a["total_count"], 5);
    assert_eq!(a["duplicates_removed"], 2);
    assert_eq!(
        a["duplicates"],
        json!([
            { "index": 0, "phone": "+447111000002", "first_index": null },
            { "index": 4, "phone": "+447111000003", "first_index": 1 },
        ])
    );
    assert_eq!(
        (a["opted_out"].clone(), a["no_consent"].clone()),
        (json!(0), json!(0))
    );

    // A second append continues after the first; the campaign's own count of drops grows.
    let r = append(
        &app,
        &id,
        &json!({ "recipients": [someone("+447111000006", "P5")] }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let a = json(r).await;
    assert_eq!(
        (a["added"].clone(), a["total_count"].clone()),
        (json!(1), json!(6))
    );
    assert_eq!(a["duplicates"], json!([]));

    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(got["total_count"], 6);
    assert_eq!(got["pending_count"], 6);
    assert_eq!(got["duplicates_removed"], 2);
    let phones: Vec<&str> = got["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phone"].as_str().unwrap())
        .collect();
    assert_eq!(
        phones,
        [
            "+447111000001",
            "+447111000002",
            "+447111000003",
            "+447111000004",
            "+447111000005",
            "+447111000006"
        ]
    );
    assert_eq!(got["recipients"][4]["body"], "Hi P4");

    let r = app.launch(&id).await;
    assert_eq!(r.status(), 200);
    app.wait_all_delivered(&id, 6, 60).await;
    let journal = app.journal().await;
    let mut sent: Vec<String> = journal.iter().map(|m| m.to.clone()).collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 6, "each recipient texted once");
    assert_eq!(journal.len(), 6);
}

/// An append longer than one chunk of the store's bulk insert (500 rows on SQLite, 5,000 on
/// PostgreSQL), whose phones the campaign has already come first (a whole chunk of them) and
/// last (across a chunk boundary): those are dropped wherever they fall, the rest stored in
/// order after the draft's own.
#[tokio::test]
async fn a_long_append_drops_the_campaign_s_phones_in_every_chunk() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let id = draft(&app, 1_200).await;
    let had = |i: usize| format!("+447111{:06}", i + 1);
    let new = |i: usize| format!("+447222{:06}", i + 1);
    let mut list: Vec<Value> = (0..600).map(|i| someone(&had(i), "Had")).collect();
    list.extend((0..5_000).map(|i| someone(&new(i), &format!("N{i}"))));
    list.extend((600..1_200).map(|i| someone(&had(i), "Had")));

    let r = append(&app, &id, &json!({ "recipients": list })).await;
    assert_eq!(r.status(), 200);
    let a = json(r).await;
    assert_eq!(
        (a["added"].clone(), a["total_count"].clone()),
        (json!(5_000), json!(6_200))
    );
    assert_eq!(a["duplicates_removed"], 1_200);
    let dropped: Vec<(u64, String)> = a["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["first_index"], Value::Null, "{d}");
            (
                d["index"].as_u64().unwrap(),
                d["phone"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = (0..600)
        .map(|i| (i as u64, had(i)))
        .chain((600..1_200).map(|i| (5_000 + i as u64, had(i))))
        .collect();
    assert_eq!(dropped, expected);

    // Every recipient once, the appended ones after the draft's in the order sent.
    let r = app
        .get(&format!("/v1/sms/campaigns/{id}/recipients.csv"))
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let phones: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let expected: Vec<String> = (0..1_200).map(had).chain((0..5_000).map(new)).collect();
    assert_eq!(phones, expected);
}

/// A draft remembers its phones as runs, one per append, merged into one past eight: through
/// a dozen appends (so the runs are rebuilt from the create's recipients once and merged
/// twice) each phone it has is dropped, whichever append brought it, and a run that no longer
/// matches the recipients (here: deleted beneath the store) is rebuilt from them. A launch or
/// a cancel forgets the runs.
#[tokio::test]
async fn a_draft_finds_its_phones_through_many_appends() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let id = draft(&app, 3).await;
    let phone = |append: usize| format!("+447333{append:06}");
    let db = RawDb::connect(&app.settings.database_url).await;
    for i in 1..=12 {
        let mut list = vec![
            someone(&phone(i), "New"),
            someone("+447111000002", "From the create"),
        ];
        if i > 1 {
            list.push(someone(&phone(1), "From the first append"));
        }
        if i > 2 {
            list.push(someone(&phone(i - 1), "From the last append"));
        }
        if i == 6 {
            db.execute("DELETE FROM draft_phones").await.unwrap();
        }
        let r = append(&app, &id, &json!({ "recipients": list })).await;
        assert_eq!(r.status(), 200);
        let a = json(r).await;
        assert_eq!(a["added"], 1, "append {i}: {a}");
        assert_eq!(a["total_count"], 3 + i, "append {i}");
        let dropped = dropped_phones(&a);
        let mut expected = vec!["+447111000002".to_owned()];
        if i > 1 {
            expected.push(phone(1));
        }
        if i > 2 {
            expected.push(phone(i - 1));
        }
        assert_eq!(dropped, expected, "append {i}");
    }
    let runs = db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM draft_phones")
        .await;
    assert_ne!(runs, ["0"], "the draft keeps runs");
    assert_eq!(app.launch(&id).await.status(), 200);
    let runs = db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM draft_phones")
        .await;
    assert_eq!(runs, ["0"], "a launched campaign keeps no runs");
    // Nor does a cancelled draft.
    let other = draft(&app, 1).await;
    let r = append(
        &app,
        &other,
        &json!({ "recipients": [someone(&phone(99), "New")] }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let count = "SELECT CAST(COUNT(*) AS TEXT) FROM draft_phones";
    assert_eq!(db.strings(count).await, ["1"]);
    let r = app.delete(&format!("/v1/sms/campaigns/{other}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        db.strings(count).await,
        ["0"],
        "a cancelled draft keeps no runs"
    );
    db.close().await;
}

/// A run longer than one stored piece (8,192 phones) is found whole: phones from its first
/// and its last piece are both dropped from the next append.
#[tokio::test]
async fn a_run_of_several_pieces_is_found_whole() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let id = draft(&app, 1).await;
    let phone = |i: usize| format!("+447444{i:06}");
    let list: Vec<Value> = (0..9_000).map(|i| someone(&phone(i), "P")).collect();
    let r = append(&app, &id, &json!({ "recipients": list })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["total_count"], 9_001);
    let again = [
        phone(0),
        phone(4_000),
        phone(8_191),
        phone(8_192),
        phone(8_999),
    ];
    let mut list: Vec<Value> = again.iter().map(|p| someone(p, "Again")).collect();
    list.push(someone(&phone(9_000), "New"));
    let r = append(&app, &id, &json!({ "recipients": list })).await;
    assert_eq!(r.status(), 200);
    let a = json(r).await;
    assert_eq!(
        (a["added"].clone(), a["total_count"].clone()),
        (json!(1), json!(9_002))
    );
    let dropped = dropped_phones(&a);
    assert_eq!(dropped, again);
}

/// What the bulk insert's formats could mangle (COPY's text escapes, its binary framing)
/// comes back byte for byte: tabs, newlines, backslashes, quotes, non-Latin text, emoji.
#[tokio::test]
async fn appended_texts_are_stored_byte_for_byte() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let id = draft(&app, 1).await;
    let name = "Zoë\t\\N \"Ω\"\r\nline 2 \\ 😀";
    let r = append(
        &app,
        &id,
        &json!({ "recipients": [someone("+447111000002", name)] }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    let stored = &got["recipients"][1];
    assert_eq!(stored["variables"]["first_name"], name);
    assert_eq!(stored["body"], format!("Hi {name}"));
}

#[tokio::test]
async fn appends_are_checked_as_creates_and_only_drafts_take_them() {
    let app = spawn_app_with(|s| s.limits.max_recipients = 3).await;
    app.add_number(FROM).await;
    let id = draft(&app, 1).await;

    // Invalid entries: 422 naming each, nothing added.
    let r = append(
        &app,
        &id,
        &json!({ "recipients": [someone("+447111000009", "Ok"), { "phone": "nope" }, {}] }),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        ["recipients[1].phone", "recipients[2].phone"]
    );
    for (body, field) in [
        (json!({}), "recipients"),
        (json!({ "recipients": [] }), "recipients"),
        (
            json!({ "recipients": [someone("+447111000009", "A")], "default_country": "ZZ" }),
            "default_country",
        ),
        (
            json!({ "recipients": (0..4).map(|i| someone(&format!("+4471110001{i:02}"), "L")).collect::<Vec<_>>() }),
            "recipients",
        ),
    ] {
        let r = append(&app, &id, &body).await;
        assert_eq!(r.status(), 422, "{body}");
        assert_eq!(error_fields(&json(r).await), [field], "{body}");
    }
    let r = append(&app, &id, &json!({ "recipients": [], "name": "x" })).await;
    assert_eq!(r.status(), 422);
    let r = app
        .request(Method::POST, &path(&id))
        .header("Content-Type", "application/json")
        .body("{\"recipients\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(got["total_count"], 1);

    // Another account's draft, or none: 404. No key: 401.
    let body = json!({ "recipients": [someone("+447111000009", "A")] });
    let other = app.other_account().await;
    let r = app
        .request_as(&other, Method::POST, &path(&id))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = append(&app, "smsc_nope", &body).await;
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new()
        .post(app.url(&path(&id)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Running, scheduled or cancelled: 409 with the reason.
    let running = app.create_campaign(FROM, 1, json!({})).await;
    let in_a_month = (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let scheduled = app
        .create_campaign(
            FROM,
            1,
            json!({ "schedule_type": "schedule", "scheduled_at": in_a_month }),
        )
        .await;
    let cancelled = draft(&app, 1).await;
    let r = app.delete(&format!("/v1/sms/campaigns/{cancelled}")).await;
    assert_eq!(r.status(), 200);
    for id in [
        running["campaign_id"].as_str().unwrap(),
        scheduled["campaign_id"].as_str().unwrap(),
        &cancelled,
    ] {
        let r = append(&app, id, &body).await;
        assert_eq!(r.status(), 409);
        let e = json(r).await;
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("only a draft takes more recipients"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_retried_append_adds_nothing_and_answers_as_the_first() {
    let app = spawn_sending_app(|_| {}).await;
    app.add_number(FROM).await;
    let id = draft(&app, 1).await;
    let other = draft(&app, 1).await;
    let body =
        json!({ "recipients": [someone("+447111000001", "Dup"), someone("+447111000002", "New")] });
    let send = |id: String, body: Value, key: &'static str| {
        app.request(Method::POST, &path(&id))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(id.clone(), body.clone(), "k-1").await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = json(first).await;
    assert_eq!(
        (first["added"].clone(), first["total_count"].clone()),
        (json!(1), json!(2))
    );

    let again = send(id.clone(), body.clone(), "k-1").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json(again).await, first);

    // The same key with another body: refused, as at create.
    let r = send(
        id.clone(),
        json!({ "recipients": [someone("+447111000003", "X")] }),
        "k-1",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(json(r).await["error"]["code"], "idempotency_key_reused");
    // The same key and body for another campaign is another request.
    let r = send(other.clone(), body.clone(), "k-1").await.unwrap();
    assert_eq!(r.status(), 422);
    let r = send(other.clone(), body.clone(), "k-2").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["added"], 1);

    // Launched since: a retry still replays; a new append is a 409.
    assert_eq!(app.launch(&id).await.status(), 200);
    let again = send(id.clone(), body.clone(), "k-1").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let r = send(id.clone(), body.clone(), "k-3").await.unwrap();
    assert_eq!(r.status(), 409);
    app.wait_all_delivered(&id, 2, 60).await;
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(got["total_count"], 2);
}

#[tokio::test]
async fn opted_out_numbers_are_added_and_fail_as_at_create() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let r = app
        .post_json("/v1/opt-outs", &json!({ "phone": "+447111000005" }))
        .await;
    assert!(r.status().is_success());
    let id = draft(&app, 1).await;
    let r = append(
        &app,
        &id,
        &json!({ "recipients": [someone("+447111000005", "Gone"), someone("+447111000006", "Here")] }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let a = json(r).await;
    assert_eq!(
        (a["added"].clone(), a["opted_out"].clone()),
        (json!(2), json!(1))
    );
    let got = json(app.get(&format!("/v1/sms/campaigns/{id}")).await).await;
    assert_eq!(got["total_count"], 3);
    assert_eq!(got["failed_count"], 1);
    assert_eq!(got["pending_count"], 2);
    assert_eq!(got["recipients"][1]["error_code"], "opted_out");
}

#[tokio::test]
async fn the_openapi_document_describes_the_append() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let op = &doc["paths"]["/v1/sms/campaigns/{id}/recipients"]["post"];
    for status in ["200", "404", "409", "422"] {
        assert!(op["responses"].get(status).is_some(), "{status}: {op}");
    }
    let answer = &doc["components"]["schemas"]["AppendedRecipients"]["properties"];
    for field in [
        "total_count",
        "added",
        "duplicates_removed",
        "duplicates",
        "opted_out",
    ] {
        assert!(answer.get(field).is_some(), "{field}: {answer}");
    }
    let body = &doc["components"]["schemas"]["AppendRequest"]["properties"];
    assert!(body.get("recipients").is_some() && body.get("default_country").is_some());
}
