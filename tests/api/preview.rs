//! The dashboard's helpers: campaign preview (nothing created, every problem listed) and
//! recipient import (CSV upload or paste).

use std::process::Command;

use herald::domain::ids::AccountId;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use herald_test_support::{
    SPEC_CREATE, TestApp, error_fields, json, spawn_app, spawn_app_with, spec_setup,
};

const PREVIEW: &str = "/v1/sms/campaigns/preview";
const PARSE: &str = "/v1/sms/recipients/parse";

async fn opt_out(app: &TestApp, phone: &str) {
    let account = AccountId::parse(&app.creds.account_id).unwrap();
    app.store
        .add_opt_out(&account, phone, "api", None, OffsetDateTime::now_utc())
        .await
        .unwrap();
}

/// Previews `body`, expecting 200.
async fn preview(app: &TestApp, body: &Value) -> Value {
    let r = app.post_json(PREVIEW, body).await;
    assert_eq!(r.status(), 200);
    json(r).await
}

/// Posts raw bytes with a Content-Type, authenticated.
async fn upload(app: &TestApp, path: &str, content_type: &str, body: &[u8]) -> Response {
    app.request(Method::POST, path)
        .header("Content-Type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn campaign_count(app: &TestApp) -> usize {
    json(app.get("/v1/sms/campaigns").await).await["campaigns"]
        .as_array()
        .unwrap()
        .len()
}

fn fields(list: &Value, field: &str) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].clone())
        .collect()
}

#[tokio::test]
async fn the_spec_example_previews_with_rendered_bodies_and_creates_nothing() {
    let app = spawn_app().await;
    spec_setup(&app).await;
    let r = app
        .request(Method::POST, PREVIEW)
        .header("Content-Type", "application/json")
        .body(SPEC_CREATE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p = json(r).await;
    assert_eq!(p["valid"], true);
    assert_eq!(p["errors"], json!([]));
    assert_eq!(p["invalid"], json!([]));
    assert_eq!(p["duplicates"], json!([]));
    assert_eq!(p["opted_out"], json!([]));
    assert_eq!(p["recipients_next_cursor"], Value::Null);
    let recipients = p["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0]["phone"], "+447111000001");
    assert_eq!(
        recipients[0]["body"],
        "Hi Sarah, Acme Dental offering 20% off cleanings this month. Reply YES to book."
    );
    assert_eq!(
        recipients[1]["body"],
        "Hi James, Acme Dental offering 20% off cleanings this month. Reply YES to book."
    );
    for r in recipients {
        assert_eq!(r["encoding"], "GSM-7");
        assert_eq!(r["segments"], 1);
        assert_eq!(r["from_number"], "+447446466847");
        assert_eq!(r["opted_out"], false);
        assert_eq!(r["missing_variables"], json!([]));
    }
    assert_eq!(recipients[0]["variables"], json!({ "first_name": "Sarah" }));
    let totals = &p["totals"];
    assert_eq!(totals["recipients"], 2);
    assert_eq!(totals["segments"], 2);
    // Two UK segments at Twilio's UK price (data/prices/twilio-sms.csv), not the US one.
    assert_eq!(totals["estimated_cost"], 0.08);
    assert_eq!(totals["currency"], "USD");
    assert_eq!(totals["price_per_segment"], 0.0079);

    assert_eq!(campaign_count(&app).await, 0, "a preview creates nothing");
}

#[tokio::test]
async fn encodings_and_segments_follow_twilio() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let p = preview(
        &app,
        &json!({
            "from_number": from, "name": "Party", "message_template": "Hi {{name}} 🎉 {{pad}}",
            "recipients": [
                { "phone": "+447111000001", "variables": { "name": "Sarah", "pad": "" } },
                // 9 + 2 (emoji) + 1 + 60 = 72 UTF-16 units: over 70, so two UCS-2 segments.
                { "phone": "+447111000002", "variables": { "name": "Sarah", "pad": "x".repeat(60) } },
                // 128 units: still two segments of 67.
                { "phone": "+447111000003", "variables": { "name": "Sarah", "pad": "x".repeat(116) } },
                // 135 units: three.
                { "phone": "+447111000004", "variables": { "name": "Sarah", "pad": "x".repeat(123) } }
            ]
        }),
    )
    .await;
    let recipients = &p["recipients"];
    assert_eq!(
        fields(recipients, "encoding"),
        ["UCS-2", "UCS-2", "UCS-2", "UCS-2"]
    );
    assert_eq!(fields(recipients, "segments"), [1, 2, 2, 3]);
    assert_eq!(p["totals"]["segments"], 8);
    assert_eq!(p["totals"]["estimated_cost"], 0.32);

    // Plain text: 160 GSM-7 characters fit one segment, 161 need two (153 each).
    let p = preview(
        &app,
        &json!({
            "from_number": from, "name": "Long", "message_template": "{{text}}",
            "recipients": [
                { "phone": "+447111000001", "variables": { "text": "a".repeat(160) } },
                { "phone": "+447111000002", "variables": { "text": "a".repeat(161) } }
            ]
        }),
    )
    .await;
    assert_eq!(fields(&p["recipients"], "encoding"), ["GSM-7", "GSM-7"]);
    assert_eq!(fields(&p["recipients"], "segments"), [1, 2]);
}

#[tokio::test]
async fn every_problem_is_reported_in_one_answer() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    opt_out(&app, "+447111000003").await;
    let mut body = json!({
        "from_number": from, "name": "Reminders",
        "message_template": "Hi {{first_name}}, see you on {{day}}.",
        "recipients": [
            { "phone": "+447111000001", "variables": { "first_name": "Sarah", "day": "Tuesday" } },
            { "phone": "07111 000002", "variables": { "first_name": "James", "day": "Monday" } },
            { "phone": "+44 7111 000001", "variables": { "first_name": "Again", "day": "Friday" } },
            { "phone": "+447111000003", "variables": { "first_name": "Olive", "day": "Monday" } },
            { "phone": "+447723456789", "variables": { "first_name": "Mia" } },
            { "variables": { "first_name": "Nobody", "tags": ["x"] } }
        ]
    });
    let p = preview(&app, &body).await;
    assert_eq!(p["valid"], false);
    assert_eq!(p["errors"], json!([]), "the campaign itself is fine");
    assert_eq!(
        p["invalid"],
        json!([
            { "index": 1, "phone": "07111 000002", "field": "recipients[1].phone",
              "reason": "not a valid phone number: must be in E.164 format, starting with + and the country code" },
            { "index": 5, "phone": null, "field": "recipients[5].variables.tags",
              "reason": "must be a string, number or boolean" },
            { "index": 5, "phone": null, "field": "recipients[5].phone", "reason": "is required" }
        ])
    );
    assert_eq!(
        p["duplicates"],
        json!([{ "index": 2, "phone": "+447111000001", "first_index": 0 }])
    );
    assert_eq!(
        p["opted_out"],
        json!([{ "index": 3, "phone": "+447111000003" }])
    );
    let recipients = &p["recipients"];
    assert_eq!(fields(recipients, "index"), [0, 3, 4]);
    assert_eq!(fields(recipients, "opted_out"), [false, true, false]);
    assert_eq!(recipients[2]["missing_variables"], json!(["day"]));
    assert_eq!(recipients[2]["body"], "Hi Mia, see you on .");
    let totals = &p["totals"];
    assert_eq!(totals["recipients"], 3);
    assert_eq!(totals["sendable"], 2);
    assert_eq!(
        totals["segments"], 2,
        "the opted-out recipient costs nothing"
    );
    assert_eq!(totals["invalid"], 2);
    assert_eq!(totals["duplicates"], 1);
    assert_eq!(totals["opted_out"], 1);

    // Create refuses exactly what the preview calls invalid.
    let r = app.post_json("/v1/sms/campaigns", &body).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        [
            "recipients[1].phone",
            "recipients[5].variables.tags",
            "recipients[5].phone"
        ]
    );

    // Without the invalid entries it is valid: duplicates, opt-outs and missing variables
    // are reported but do not stop a create.
    let list = body["recipients"].as_array_mut().unwrap();
    list.remove(5);
    list.remove(1);
    let p = preview(&app, &body).await;
    assert_eq!(p["valid"], true);
    assert_eq!(p["invalid"], json!([]));
    assert_eq!(p["duplicates"][0]["index"], 1);
    assert_eq!(p["opted_out"][0]["index"], 2);
    assert_eq!(p["recipients"][2]["missing_variables"], json!(["day"]));
    assert_eq!(campaign_count(&app).await, 0, "previews create nothing");
    let r = app.post_json("/v1/sms/campaigns", &body).await;
    assert_eq!(r.status(), 201, "valid: true means create succeeds");
    assert_eq!(json(r).await["total_count"], 3);
}

#[tokio::test]
async fn campaign_errors_are_listed_and_recipients_still_previewed() {
    let app = spawn_app().await;
    let p = preview(
        &app,
        &json!({
            "agent_id": "agent_0000000000000000",
            "from_number": "+447446466847",
            "message_template": "Hi {{first_name}}",
            "recipients": [{ "phone": "+447111000001", "variables": { "first_name": "Sarah" } }],
            "schedule_type": "schedule",
            "scheduled_at": "2020-01-01T00:00:00Z"
        }),
    )
    .await;
    assert_eq!(p["valid"], false);
    assert_eq!(
        fields(&p["errors"], "field"),
        ["name", "from_number", "agent_id", "scheduled_at"]
    );
    assert_eq!(p["recipients"][0]["body"], "Hi Sarah");
    assert_eq!(p["recipients"][0]["from_number"], Value::Null);
    assert_eq!(p["totals"]["segments"], 1);

    let p = preview(&app, &json!({})).await;
    assert_eq!(p["valid"], false);
    assert_eq!(
        fields(&p["errors"], "field"),
        ["name", "message_template", "from_number", "recipients"]
    );
    assert_eq!(p["totals"]["recipients"], 0);

    // Shape errors are still 422 (the body cannot be read at all), as for create.
    let r = app
        .post_json(
            PREVIEW,
            &json!({ "recipients": [{ "phone": 447111000001_u64 }] }),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&json(r).await),
        [
            "recipients[0].phone",
            "name",
            "message_template",
            "from_number"
        ]
    );
    assert_eq!(campaign_count(&app).await, 0);
}

#[tokio::test]
async fn preview_recipients_page_and_totals_cover_all() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let recipients: Vec<Value> = (0..250)
        .map(|i| json!({ "phone": format!("+4471110{:05}", i + 1), "variables": { "n": i } }))
        .collect();
    let body = json!({
        "from_number": from, "name": "Big", "message_template": "Number {{n}}",
        "recipients": recipients
    });
    let first = preview(&app, &body).await;
    assert_eq!(
        first["recipients"].as_array().unwrap().len(),
        100,
        "default page"
    );

    let mut phones = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => format!("{PREVIEW}?recipients_limit=120"),
            Some(c) => format!("{PREVIEW}?recipients_limit=120&recipients_cursor={c}"),
        };
        let r = app.post_json(&path, &body).await;
        assert_eq!(r.status(), 200);
        let page = json(r).await;
        pages += 1;
        assert_eq!(page["totals"]["recipients"], 250);
        assert_eq!(page["totals"]["segments"], 250);
        for r in page["recipients"].as_array().unwrap() {
            phones.push(r["phone"].as_str().unwrap().to_owned());
        }
        match page["recipients_next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(phones.len(), 250);
    assert_eq!(phones[0], "+447111000001");
    assert_eq!(phones[249], "+447111000250");

    for (query, field) in [
        ("recipients_limit=0", "recipients_limit"),
        ("recipients_limit=1001", "recipients_limit"),
        ("recipients_cursor=zzz", "recipients_cursor"),
    ] {
        let r = app.post_json(&format!("{PREVIEW}?{query}"), &body).await;
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(error_fields(&json(r).await), [field]);
    }
    let r = app
        .post_json(&format!("{PREVIEW}?recipients_limit=1000"), &body)
        .await;
    assert_eq!(json(r).await["recipients"].as_array().unwrap().len(), 250);
}

#[tokio::test]
async fn the_preview_route_is_not_a_campaign_id_and_needs_a_key() {
    let app = spawn_app().await;
    // Static segments win over {id}; other methods on it are 405, not "campaign not found".
    for method in [Method::GET, Method::DELETE] {
        let r = app.request(method.clone(), PREVIEW).send().await.unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(json(r).await["error"]["code"], "method_not_allowed");
    }
    let r = app
        .request(Method::POST, "/v1/sms/campaigns/preview/launch")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    for (path, content_type, body) in [
        (PREVIEW, "application/json", "{}"),
        (PARSE, "text/plain", "+447111000001"),
    ] {
        for token in [None, Some("Bearer nonsense")] {
            let mut req = app.client.post(app.url(path));
            if let Some(t) = token {
                req = req.header("Authorization", t);
            }
            let r = req
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} {token:?}");
            assert_eq!(json(r).await["error"]["code"], "unauthorized");
        }
    }

    let doc = app.openapi().await;
    for path in [PREVIEW, PARSE] {
        assert!(doc["paths"][path]["post"].is_object(), "{path} documented");
    }
    let parse_body = &doc["paths"][PARSE]["post"]["requestBody"]["content"];
    assert!(parse_body["text/csv"].is_object() && parse_body["text/plain"].is_object());
}

#[tokio::test]
async fn price_and_currency_are_configurable() {
    let app = spawn_app_with(|s| {
        s.price_per_segment = 0.0415;
        s.currency = "GBP".into();
    })
    .await;
    let from = app.add_number("+447446466847").await;
    let p = preview(
        &app,
        &json!({
            "from_number": from, "name": "UK", "message_template": "{{text}}",
            "recipients": [
                { "phone": "+447111000001", "variables": { "text": "short" } },
                { "phone": "+447111000002", "variables": { "text": "b".repeat(200) } }
            ]
        }),
    )
    .await;
    assert_eq!(p["totals"]["segments"], 3);
    assert_eq!(p["totals"]["estimated_cost"], 0.1245);
    assert_eq!(p["totals"]["currency"], "GBP");
}

#[test]
fn price_and_currency_flags_are_checked() {
    let help = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for word in [
        "--price-per-segment",
        "HERALD_PRICE_PER_SEGMENT",
        "0.0079",
        "--currency",
        "HERALD_CURRENCY",
    ] {
        assert!(help.contains(word), "{word} in:\n{help}");
    }
    for args in [
        ["serve", "--price-per-segment=-1"],
        ["serve", "--currency=dollars"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must be refused");
        assert_eq!(out.status.code(), Some(2), "{args:?}: a usage error");
    }
}

#[tokio::test]
async fn a_csv_upload_with_bom_crlf_and_a_named_phone_column() {
    let app = spawn_app().await;
    let csv = "\u{FEFF}First Name,Mobile Number,Day,Notes\r\n\
               Sarah,+447111000001,Tuesday,\r\n\
               James,+44 7111 000002,Wednesday,vip\r\n\
               Bad,12345,Monday,\r\n\
               Sarah again,+447111000001,Friday,\r\n";
    for content_type in [
        "text/csv",
        "text/csv; charset=utf-8",
        "application/csv",
        "application/vnd.ms-excel",
    ] {
        let r = upload(&app, PARSE, content_type, csv.as_bytes()).await;
        assert_eq!(r.status(), 200, "{content_type}");
        let got = json(r).await;
        assert_eq!(got["phone_column"], "Mobile Number");
        assert_eq!(got["variables"], json!(["First_Name", "Day", "Notes"]));
        assert_eq!(
            got["recipients"],
            json!([
                { "phone": "+447111000001", "line": 2,
                  "variables": { "First_Name": "Sarah", "Day": "Tuesday", "Notes": "" } },
                { "phone": "+447111000002", "line": 3,
                  "variables": { "First_Name": "James", "Day": "Wednesday", "Notes": "vip" } }
            ])
        );
        assert_eq!(fields(&got["errors"], "line"), [4]);
        assert_eq!(got["errors"][0]["value"], "12345");
        assert!(
            got["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("not a valid phone number")
        );
        assert_eq!(got["duplicates"], json!([5]));
        assert_eq!(got["count"], 2);
    }
}

#[tokio::test]
async fn a_semicolon_csv_and_national_numbers_with_a_default_country() {
    let app = spawn_app().await;
    let csv = b"phone;first_name\n+447111000001;Sarah\n07723 456789;James\n";
    let got = json(upload(&app, PARSE, "text/csv", csv).await).await;
    assert_eq!(got["phone_column"], "phone");
    assert_eq!(got["variables"], json!(["first_name"]));
    assert_eq!(fields(&got["recipients"], "phone"), ["+447111000001"]);
    assert_eq!(
        got["recipients"][0]["variables"],
        json!({ "first_name": "Sarah" })
    );
    assert_eq!(
        fields(&got["errors"], "line"),
        [3],
        "national without a default country"
    );

    let got = json(
        upload(
            &app,
            &format!("{PARSE}?default_country=GB"),
            "text/csv",
            csv,
        )
        .await,
    )
    .await;
    assert_eq!(
        fields(&got["recipients"], "phone"),
        ["+447111000001", "+447723456789"]
    );
    assert_eq!(got["errors"], json!([]));
    assert_eq!(got["count"], 2);

    let paste = b"07723 456789\n07111 000001\n";
    let got = json(
        upload(
            &app,
            &format!("{PARSE}?default_country=gb"),
            "text/plain",
            paste,
        )
        .await,
    )
    .await;
    assert_eq!(
        fields(&got["recipients"], "phone"),
        ["+447723456789", "+447111000001"]
    );

    let r = upload(
        &app,
        &format!("{PARSE}?default_country=ZZ"),
        "text/plain",
        paste,
    )
    .await;
    assert_eq!(r.status(), 422);
    let e = json(r).await;
    assert_eq!(e["error"]["code"], "validation_failed");
    assert_eq!(error_fields(&e), ["default_country"]);
}

#[tokio::test]
async fn a_paste_with_commas_tabs_and_newlines() {
    let app = spawn_app().await;
    let got = json(
        upload(
            &app,
            PARSE,
            "text/plain; charset=utf-8",
            b"+447111000001, +447111000002\n+447723456789\n\n+447111000003,+447111000001\n",
        )
        .await,
    )
    .await;
    assert_eq!(
        fields(&got["recipients"], "phone"),
        [
            "+447111000001",
            "+447111000002",
            "+447723456789",
            "+447111000003"
        ]
    );
    assert_eq!(fields(&got["recipients"], "line"), [1, 1, 2, 4]);
    assert_eq!(got["duplicates"], json!([4]));
    assert_eq!(got["count"], 4);
    assert_eq!(got["errors"], json!([]));

    // Tabs (a copy from a spreadsheet), with a column that becomes a variable.
    let got = json(
        upload(
            &app,
            PARSE,
            "text/plain",
            b"+447111000001\tSarah\n+447111000002\tJames\nnot a phone\tBob\n",
        )
        .await,
    )
    .await;
    assert_eq!(got["phone_column"], "col1");
    assert_eq!(got["variables"], json!(["col2"]));
    assert_eq!(
        got["recipients"][1]["variables"],
        json!({ "col2": "James" })
    );
    assert_eq!(fields(&got["errors"], "line"), [3]);
}

#[tokio::test]
async fn unreadable_uploads_are_refused_with_the_json_error_shape() {
    let app = spawn_app().await;
    for content_type in [
        "application/json",
        "application/octet-stream",
        "multipart/form-data",
    ] {
        let r = upload(&app, PARSE, content_type, b"+447111000001").await;
        assert_eq!(r.status(), 415, "{content_type}");
        let e = json(r).await;
        assert_eq!(e["error"]["code"], "unsupported_media_type");
        assert!(e["error"]["message"].as_str().unwrap().contains("text/csv"));
    }
    let r = app
        .request(Method::POST, PARSE)
        .body("+447111000001")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "no Content-Type");

    for (content_type, body) in [
        ("text/csv", &b""[..]),
        ("text/plain", b""),
        ("text/plain", b"  \r\n\n"),
        ("text/csv", b"name,city\nSarah,Leeds\n"),
        ("text/csv", b"\xEF\xBB\xBFphone\n+44711100000\xff1\n"),
    ] {
        let r = upload(&app, PARSE, content_type, body).await;
        assert_eq!(r.status(), 422, "{content_type} {body:?}");
        let e = json(r).await;
        assert_eq!(e["error"]["code"], "validation_failed");
        assert_eq!(error_fields(&e), ["body"]);
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }
    let e = json(upload(&app, PARSE, "text/csv", b"").await).await;
    assert_eq!(
        e["error"]["details"][0]["message"],
        "the file is empty: there are no rows to import"
    );
}

/// Parse's recipients preview as they are: the `line` it adds is ignored.
#[tokio::test]
async fn recipients_from_parse_preview_as_they_are() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let parsed =
        json(upload(&app, PARSE, "text/plain", b"+447111000001\n+447111000002").await).await;
    assert_eq!(parsed["recipients"][1]["line"], 2);
    let got = preview(
        &app,
        &json!({
            "from_number": "+447446466847",
            "name": "Pasted",
            "message_template": "Hello",
            "recipients": parsed["recipients"],
        }),
    )
    .await;
    assert_eq!(got["valid"], true, "{got}");
    assert_eq!(got["totals"]["sendable"], 2);
}

/// A preview body of the wrong shape is refused like a create body: every bad field listed.
#[tokio::test]
async fn every_type_error_of_a_preview_body_is_listed() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let r = app
        .post_json(
            PREVIEW,
            &json!({
                "from_number": "+447446466847",
                "name": ["x"],
                "message_template": "Hi",
                "recipients": [{ "phone": "+447111000001" }, { "phone": false }]
            }),
        )
        .await;
    assert_eq!(r.status(), 422);
    let v = json(r).await;
    assert_eq!(error_fields(&v), ["name", "recipients[1].phone"], "{v}");
}

/// Preview reads `default_country` as create does.
#[tokio::test]
async fn preview_reads_national_numbers_with_default_country() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    let mut body = json!({
        "from_number": "+447446466847",
        "name": "National",
        "message_template": "Hello",
        "default_country": "gb",
        "recipients": [{ "phone": "07111 000001" }]
    });
    let got = preview(&app, &body).await;
    assert_eq!(got["valid"], true, "{got}");
    assert_eq!(got["recipients"][0]["phone"], "+447111000001");
    body["default_country"] = json!("ZZ");
    let got = preview(&app, &body).await;
    assert_eq!(got["valid"], false);
    assert_eq!(got["errors"][0]["field"], "default_country", "{got}");
}

#[tokio::test]
async fn a_paste_with_mixed_separators_loses_no_number() {
    let app = spawn_app().await;
    let got = json(
        upload(
            &app,
            PARSE,
            "text/plain",
            b"+447111000501,+447111000502\t+447111000503\n+447111000504 +447111000505\n+44 7111 000506 +44 7111\n",
        )
        .await,
    )
    .await;
    assert_eq!(
        fields(&got["recipients"], "phone"),
        [
            "+447111000501",
            "+447111000502",
            "+447111000503",
            "+447111000504",
            "+447111000505",
            "+447111000506"
        ]
    );
    assert_eq!(fields(&got["recipients"], "line"), [1, 1, 1, 2, 2, 3]);
    assert_eq!(got["count"], 6);
    assert_eq!(got["variables"], json!([]), "no phantom {{col2}}");
    assert_eq!(fields(&got["errors"], "line"), [3]);
    assert_eq!(got["errors"][0]["value"], "+44 7111");
    assert!(!got["errors"][0]["reason"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn the_answer_names_the_encoding_it_read() {
    let app = spawn_app().await;
    // Excel's default "CSV (Comma delimited)" in a semicolon locale: Windows-1252.
    let csv = b"Phone;Name\r\n+447111000001;Zo\xEB\r\n+447111000002;Jos\xE9\r\n";
    let got = json(upload(&app, PARSE, "text/csv", csv).await).await;
    assert_eq!(got["encoding"], "windows-1252");
    assert_eq!(got["count"], 2);
    assert_eq!(
        got["recipients"][0]["variables"],
        json!({ "Name": "Zo\u{eb}" })
    );
    assert_eq!(
        got["recipients"][1]["variables"],
        json!({ "Name": "Jos\u{e9}" })
    );

    // Excel's "Unicode Text": UTF-16LE with a byte-order mark, tab-separated.
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "Phone\tName\r\n+447111000001\tZo\u{eb}\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let got = json(upload(&app, PARSE, "text/csv", &utf16).await).await;
    assert_eq!(got["encoding"], "UTF-16LE");
    assert_eq!(
        got["recipients"][0]["variables"],
        json!({ "Name": "Zo\u{eb}" })
    );

    // UTF-8 with a BOM, and a paste.
    let csv = "\u{feff}phone,name\n+447111000001,Jos\u{e9}\n";
    let got = json(upload(&app, PARSE, "text/csv", csv.as_bytes()).await).await;
    assert_eq!(got["encoding"], "UTF-8");
    assert_eq!(
        got["recipients"][0]["variables"],
        json!({ "name": "Jos\u{e9}" })
    );
    let got = json(upload(&app, PARSE, "text/plain", b"+447111000001").await).await;
    assert_eq!(got["encoding"], "UTF-8");

    let doc = app.openapi().await;
    let schema = &doc["components"]["schemas"]["ParsedRecipients"]["properties"];
    assert!(schema["encoding"].is_object(), "documented");
}

#[tokio::test]
async fn numbers_read_in_the_default_country_say_what_was_written() {
    let app = spawn_app().await;
    let paste = b"07723 456789\n7723456780\n+447111000001\n";
    let got = json(
        upload(
            &app,
            &format!("{PARSE}?default_country=GB"),
            "text/plain",
            paste,
        )
        .await,
    )
    .await;
    assert_eq!(
        got["recipients"],
        json!([
            { "phone": "+447723456789", "line": 1, "variables": {},
              "converted_from": "07723 456789" },
            { "phone": "+447723456780", "line": 2, "variables": {},
              "converted_from": "7723456780" },
            { "phone": "+447111000001", "line": 3, "variables": {} }
        ])
    );
}
