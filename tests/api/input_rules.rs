//! One input rule on every path (docs/ARCHITECTURE.md §2): a NUL character is a 422 naming the
//! field wherever text enters (JSON, CSV and paste imports, query strings, paths, dashboard
//! forms, multipart), templates and variables are bounded, and the parse endpoint stops
//! reading at `--max-recipients` rows. Runs on PostgreSQL too (`HERALD_TEST_BACKEND=postgres`),
//! where a NUL that got through would be a 500.

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use herald_test_support::dashboard::signed_in;
use herald_test_support::{TestApp, error_fields, json, spawn_app, spawn_app_with};

const FROM: &str = "+447446466847";

async fn refused_on(r: Response, field: &str) -> Value {
    assert_eq!(r.status(), 422, "{field}");
    let body = json(r).await;
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    assert!(
        error_fields(&body).iter().any(|f| f == field),
        "{field} not in {body}"
    );
    body
}

async fn upload(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> Response {
    app.request(Method::POST, path)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn nul_in_imports_queries_and_paths_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/v1/sms/recipients/parse", "text/csv"),
        ("/v1/sms/recipients/parse", "text/plain"),
        ("/v1/consents/import", "text/csv"),
    ] {
        let csv = b"phone,status,source,name\n+447111000123,granted,web,Sa\0rah\n".to_vec();
        let body = refused_on(upload(&app, path, kind, csv).await, "body").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("line 2"),
            "{body}"
        );
    }
    // UTF-16 with a BOM is decoded first, and the NUL found all the same.
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "phone\n+447111000123\u{0}\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    refused_on(
        upload(&app, "/v1/sms/recipients/parse", "text/csv", utf16).await,
        "body",
    )
    .await;
    let consents = json(app.get("/v1/consents").await).await;
    assert_eq!(consents["consents"].as_array().map(Vec::len), Some(0));

    refused_on(app.get("/v1/sms/campaigns?cursor=ab%00c").await, "cursor").await;
    refused_on(app.get("/v1/opt-outs?limit=5&cursor=%00").await, "cursor").await;
    let r = upload(
        &app,
        "/v1/sms/recipients/parse?default_country=G%00B",
        "text/plain",
        b"+447111000123".to_vec(),
    )
    .await;
    refused_on(r, "default_country").await;
    // In a path it names no object.
    assert_eq!(app.get("/v1/agents/agent_%00x").await.status(), 404);
    assert_eq!(app.delete("/v1/numbers/%2B44%00").await.status(), 404);
    assert_eq!(app.get("/v1/sms/campaigns/smsc_%00").await.status(), 404);
    // JSON keeps its rule.
    let r = app
        .post_json(
            "/v1/agents",
            &json!({"name": "a\u{0}", "system_prompt": "p"}),
        )
        .await;
    refused_on(r, "body").await;
}

#[tokio::test]
async fn templates_and_variables_are_bounded() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let create = |template: String, variables: Value| {
        json!({
            "name": "bounded",
            "from_number": FROM,
            "message_template": template,
            "schedule_type": "draft",
            "recipients": [{"phone": "+447111000123", "variables": variables}],
        })
    };
    // At the limits: accepted (a draft, so nothing is sent).
    let ok = create(
        format!("Hi {{{{a}}}}{}xyz", "{{b}}".repeat(817)),
        json!({"a": "y".repeat(1_024)}),
    );
    assert_eq!(app.post_json("/v1/sms/campaigns", &ok).await.status(), 201);

    // A 5 MB template of placeholders is refused before it is parsed or rendered.
    let huge = format!("x{}", "{{z}}".repeat(1_000_000));
    for template in [huge, "x".repeat(4_097)] {
        let body = create(template, json!({}));
        let r = app.post_json("/v1/sms/campaigns", &body).await;
        refused_on(r, "message_template").await;
        // The preview reports what create would refuse.
        let r = app.post_json("/v1/sms/campaigns/preview", &body).await;
        assert_eq!(r.status(), 200);
        let preview = json(r).await;
        assert_eq!(preview["valid"], false);
        assert!(
            preview.to_string().contains("4096 are allowed"),
            "{preview}"
        );
    }
    // One value over 1 KiB, even unused by the template.
    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &create("Hi".into(), json!({"unused": "v".repeat(1_025)})),
        )
        .await;
    refused_on(r, "recipients[0].variables.unused").await;
    // Eleven values of 1,000 characters: over 10 KiB for one recipient.
    let many: serde_json::Map<String, Value> = (0..11)
        .map(|i| (format!("k{i}"), json!("v".repeat(1_000))))
        .collect();
    let r = app
        .post_json(
            "/v1/sms/campaigns",
            &create("Hi".into(), Value::Object(many)),
        )
        .await;
    refused_on(r, "recipients[0].variables").await;
    // Nothing of the refused requests was stored.
    let list = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(
        list["campaigns"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    // The document says so.
    let doc = app.openapi().await;
    let request = &doc["components"]["schemas"]["CampaignRequest"]["properties"];
    assert_eq!(request["message_template"]["maxLength"], 4096, "{request}");
}

#[tokio::test]
async fn the_parse_endpoint_stops_at_max_recipients_rows() {
    let app = spawn_app_with(|s| s.limits.max_recipients = 3).await;
    let rows = |n: usize| {
        let mut csv = String::from("phone\n");
        for i in 0..n {
            csv.push_str(&format!("+4471110{i:05}\n"));
        }
        csv.into_bytes()
    };
    let r = upload(&app, "/v1/sms/recipients/parse", "text/csv", rows(3)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["count"], 3);
    for kind in ["text/csv", "text/plain"] {
        let r = upload(&app, "/v1/sms/recipients/parse", kind, rows(4)).await;
        let body = refused_on(r, "body").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("at most 3 recipients"),
            "{body}"
        );
    }
    // Numbers listed on one line count one each.
    let line = b"+447111000001, +447111000002, +447111000003, +447111000004".to_vec();
    let r = upload(&app, "/v1/sms/recipients/parse", "text/plain", line).await;
    refused_on(r, "body").await;
}

#[tokio::test]
async fn a_million_row_csv_is_refused_at_the_default_limit() {
    let app = spawn_app().await;
    let mut csv = String::with_capacity(16_000_000);
    csv.push_str("phone\n");
    for i in 0..1_000_000u32 {
        csv.push_str(&format!("+4477{i:08}\n"));
    }
    let r = upload(
        &app,
        "/v1/sms/recipients/parse",
        "text/csv",
        csv.into_bytes(),
    )
    .await;
    let body = refused_on(r, "body").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100000"),
        "{body}"
    );
}

#[tokio::test]
async fn the_dashboard_refuses_nul_in_forms_queries_and_uploads() {
    let app = spawn_app().await;
    app.add_number(FROM).await;
    let (client, session, csrf) = signed_in(&app, "/campaigns/new").await;

    // A URL-encoded form.
    let body = format!("csrf={csrf}&name=Bot%00&system_prompt=Be+kind");
    let r = client
        .post(app.url("/agents"))
        .header(COOKIE, &session)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("name: must not contain the NUL"), "{page}");
    let agents = json(app.get("/v1/agents").await).await;
    assert_eq!(
        agents["agents"].as_array().map(Vec::len),
        Some(0),
        "{agents}"
    );

    // A query string.
    let r = client
        .get(app.url("/campaigns?cursor=%00"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("cursor"));

    // Multipart: a text field, and an uploaded file.
    let post = |path: &'static str, name: &'static str, file: &'static [u8]| {
        let boundary = "----herald-input-rules-boundary";
        let mut body = Vec::new();
        for (field, value) in [
            ("csrf", csrf.as_str()),
            ("name", name),
            ("from_numbers", FROM),
            ("message_template", "Hi {{name}}"),
            ("default_country", ""),
            ("recipients_text", ""),
        ] {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"recipients_file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend(file);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        client
            .post(app.url(path))
            .header(COOKIE, &session)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };
    let r = post("/campaigns/new", "Spring\0", b"phone\n+447111000123\n")
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = post(
        "/campaigns/new",
        "Spring",
        b"phone,name\n+447111000123,Sa\0rah\n",
    )
    .await
    .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let page = r.text().await.unwrap();
    assert!(page.contains("NUL character"), "{page}");
    // The page script's check answers JSON.
    let r = post("/campaigns/new/check", "Spring\0", b"").await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(json(r).await["error"]["code"], "validation_failed");
    let drafts = json(app.get("/v1/sms/campaigns").await).await;
    assert_eq!(drafts["campaigns"].as_array().map(Vec::len), Some(0));
}

/// A length limit counts the text as sent, surrounding spaces included: the API document's
/// `maxLength` says so, and a client checking against it must never see a longer text pass.
#[tokio::test]
async fn length_limits_count_the_text_as_sent() {
    let app = spawn_app().await;
    let padded = format!("\u{b}{}", "k".repeat(200));
    refused_on(
        app.post_json("/v1/api-keys", &serde_json::json!({ "name": padded }))
            .await,
        "name",
    )
    .await;
    refused_on(
        app.post_json(
            "/v1/agents",
            &serde_json::json!({ "name": format!(" {} ", "a".repeat(199)), "system_prompt": "Be kind." }),
        )
        .await,
        "name",
    )
    .await;
    // Within the limit as sent: stored trimmed.
    let r = app
        .post_json(
            "/v1/api-keys",
            &serde_json::json!({ "name": format!(" {} ", "k".repeat(198)) }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(json(r).await["name"], "k".repeat(198));
}
