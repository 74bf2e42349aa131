//! The error contract: one JSON shape for every failure, never a 500 for bad input.

use reqwest::Method;

use herald_test_support::{json, spawn_app};

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    let r = app.get("/v1/nothing-here").await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["error"]["code"], "not_found");
    let r = app
        .request(Method::PUT, "/v1/sms/campaigns")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(json(r).await["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn malformed_bodies_get_4xx_with_the_parsers_message() {
    let app = spawn_app().await;
    let cases: [(&str, &str, u16, &str); 6] = [
        ("application/json", "{\"name\": ", 400, "malformed_json"),
        ("application/json", "not json", 400, "malformed_json"),
        ("application/json", "{} trailing", 400, "malformed_json"),
        ("application/json", "[]", 422, "validation_failed"),
        ("text/plain", "{}", 415, "unsupported_media_type"),
        (
            "application/json",
            "{\"recipients\": {}}",
            422,
            "validation_failed",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let r = app
            .request(Method::POST, "/v1/sms/campaigns")
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
        let b = json(r).await;
        assert_eq!(b["error"]["code"], code, "{body}");
        assert!(!b["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn garbage_ids_are_not_found_not_errors() {
    let app = spawn_app().await;
    for path in [
        "/v1/sms/campaigns/nope",
        "/v1/sms/campaigns/smsc_",
        "/v1/sms/campaigns/smsc_%00%ff",
        "/v1/agents/agent_..%2F..",
        "/v1/numbers/12345",
        "/v1/api-keys/key_zzz",
    ] {
        let method = if path.starts_with("/v1/api-keys") {
            Method::DELETE
        } else {
            Method::GET
        };
        let r = app.request(method, path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn health_readiness_and_openapi() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let doc = app.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/sms/campaigns", "post"),
        ("/v1/sms/campaigns", "get"),
        ("/v1/sms/campaigns/{id}", "get"),
        ("/v1/sms/campaigns/{id}", "delete"),
        ("/v1/sms/campaigns/{id}/launch", "post"),
        ("/v1/agents", "post"),
        ("/v1/agents/{agent_id}", "put"),
        ("/v1/numbers", "post"),
        ("/v1/numbers/{phone}", "patch"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys/{key_id}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(paths[path].get(method).is_some(), "{method} {path} missing");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "CampaignRequest",
        "CreatedCampaign",
        "CampaignDetail",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn a_nul_character_is_refused_with_422_not_stored() {
    let app = spawn_app().await;
    let r = app
        .request(Method::POST, "/v1/agents")
        .header("Content-Type", "application/json")
        .body(r#"{"name": "Reception\u0000", "system_prompt": "Hi"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(json(r).await["error"]["details"][0]["field"], "body");
    let list = json(app.get("/v1/agents").await).await;
    assert_eq!(list["agents"], serde_json::json!([]));
}

/// A body whose top level is not an object is refused (422 on `body`) wherever an object is
/// expected; serde would otherwise read an array into a struct field by field.
#[tokio::test]
async fn a_top_level_array_is_refused_where_an_object_is_expected() {
    let app = spawn_app().await;
    app.add_number("+447446466847").await;
    for (method, path, body) in [
        (Method::PATCH, "/v1/numbers/+447446466847", "[null, null]"),
        (Method::POST, "/v1/agents", r#"["arr-agent", "prompt"]"#),
        (Method::PUT, "/v1/agents/agent_x", r#"["a", "b"]"#),
        (Method::POST, "/v1/numbers", r#"["+447446466848", 1.0]"#),
        (
            Method::POST,
            "/v1/sms/campaigns",
            r#"[null, "+447446466847"]"#,
        ),
        (Method::POST, "/v1/sms/campaigns/preview", "[]"),
        (Method::POST, "/v1/sms/campaigns", r#""text""#),
    ] {
        let r = app
            .request(method.clone(), path)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{method} {path} {body}");
        let v = json(r).await;
        assert_eq!(v["error"]["code"], "validation_failed", "{v}");
        assert_eq!(v["error"]["details"][0]["field"], "body", "{v}");
    }
    let agents = json(app.get("/v1/agents").await).await;
    assert_eq!(agents["agents"], serde_json::json!([]));
    let numbers = json(app.get("/v1/numbers").await).await;
    assert_eq!(numbers["numbers"].as_array().unwrap().len(), 1, "{numbers}");
}

#[tokio::test]
async fn every_operation_of_the_openapi_document_has_its_own_id() {
    let app = herald_test_support::spawn_app().await;
    let doc = app.openapi().await;
    let mut seen = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(id) = op.get("operationId").and_then(|v| v.as_str()) else {
                continue;
            };
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} of {method} {path} is also {other}'s");
            }
        }
    }
    assert!(seen.len() > 30, "{} operations", seen.len());
}
