//! The OpenAPI document says what the server does: the request schemas of operations whose
//! server reads differ (create and preview), and what the answers always hold.

use serde_json::{Value, json};

use herald_test_support::{error_fields, json, spawn_app};

const PREVIEW: &str = "/v1/sms/campaigns/preview";

/// The schema a `$ref` names.
fn schema<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let name = reference
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("not a schema reference: {reference}"));
    &doc["components"]["schemas"][name]
}

/// The schema of an operation's JSON body.
fn body_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let reference =
        &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    schema(doc, reference)
}

#[tokio::test]
async fn preview_documents_its_own_body_and_answers_200_for_what_create_refuses() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let create = body_schema(&doc, "/v1/sms/campaigns", "post");
    let preview = body_schema(&doc, PREVIEW, "post");
    assert_eq!(
        create["required"],
        json!(["name", "message_template", "recipients"])
    );
    assert!(preview.get("required").is_none(), "{preview}");
    assert_eq!(preview["additionalProperties"], false);
    assert_eq!(
        create["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        preview["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );

    // What the preview schema allows and create's refuses is a 200 that says why.
    for body in [
        json!({}),
        json!({"name": null, "message_template": null, "recipients": null}),
        json!({"name": "", "message_template": "", "recipients": []}),
        json!({"name": "x".repeat(201), "recipients": [{"phone": null, "variables": null}]}),
    ] {
        let r = app.post_json(PREVIEW, &body).await;
        assert_eq!(r.status(), 200, "{body}");
        let p = json(r).await;
        assert_eq!(p["valid"], false, "{body}: {p}");
        assert!(!p["errors"].as_array().unwrap().is_empty(), "{body}: {p}");
        // Create refuses the same body.
        let r = app.post_json("/v1/sms/campaigns", &body).await;
        assert_eq!(r.status(), 422, "{body}");
    }

    // What the preview schema does not allow is refused as create refuses it.
    for (body, field) in [
        (json!({"name": 5}), "name"),
        (json!({"recipients": "+447700900123"}), "recipients"),
        (json!({"schedule_type": "later"}), "schedule_type"),
        (json!({"colour": "blue"}), "colour"),
    ] {
        let r = app.post_json(PREVIEW, &body).await;
        assert_eq!(r.status(), 422, "{body}");
        let fields = error_fields(&json(r).await);
        assert!(fields.iter().any(|f| f == field), "{body}: {fields:?}");
    }
}

#[tokio::test]
async fn every_field_an_answer_always_holds_is_required_even_when_null() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let schemas = &doc["components"]["schemas"];
    // Every field of a campaign is in every answer (null when it has no value); schemathesis
    // and the generated client (scripts/) check real answers against it.
    let view = &schemas["CampaignView"];
    let required: Vec<&str> = view["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for field in view["properties"].as_object().unwrap().keys() {
        assert!(
            required.contains(&field.as_str()),
            "{field} is written in every answer"
        );
    }
    // The fields an answer may leave out are not nullable.
    let parsed = &schemas["ParsedRecipient"];
    assert_eq!(parsed["properties"]["converted_from"]["type"], "string");
    assert!(
        !parsed["required"]
            .as_array()
            .unwrap()
            .contains(&json!("converted_from"))
    );
    // A request's optional fields stay optional.
    let create = body_schema(&doc, "/v1/sms/campaigns", "post");
    assert!(
        !create["required"]
            .as_array()
            .unwrap()
            .contains(&json!("agent_id"))
    );
    // Parameters: the Idempotency-Key header is a string (never null), bounded as the
    // server checks it.
    let header = &doc["paths"]["/v1/sms/campaigns"]["post"]["parameters"][0];
    assert_eq!(header["name"], "Idempotency-Key");
    assert_eq!(header["schema"]["type"], "string");
    assert_eq!(header["schema"]["maxLength"], 255);
    let r = app
        .request(reqwest::Method::POST, "/v1/sms/campaigns")
        .header("Idempotency-Key", "x".repeat(256))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn the_main_operations_show_the_product_pages_examples() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let media = |path: &str, method: &str, part: &str| {
        let op = &doc["paths"][path][method];
        let content = if part == "body" {
            &op["requestBody"]["content"]
        } else {
            &op["responses"][part]["content"]
        };
        content["application/json"]["example"].clone()
    };
    let create = media("/v1/sms/campaigns", "post", "body");
    assert_eq!(create["recipients"][0]["variables"]["first_name"], "Sarah");
    assert!(
        create["message_template"]
            .as_str()
            .unwrap()
            .contains("{{first_name}}")
    );
    assert_eq!(media("/v1/sms/campaigns/preview", "post", "body"), create);
    assert_eq!(
        media("/v1/sms/campaigns", "post", "201")["status"],
        "running"
    );
    let detail = media("/v1/sms/campaigns/{id}", "get", "200");
    assert_eq!(detail["delivered_count"], 2);
    assert_eq!(
        detail["recipients"][1]["body"].as_str().unwrap().get(..9),
        Some("Hi James,")
    );
}
