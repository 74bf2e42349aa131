//! Authentication and account scoping: every route needs a key, and sees only its own account.

use reqwest::Method;
use serde_json::json;

use herald_test_support::{error_fields, json, spawn_app};

#[tokio::test]
async fn every_api_route_requires_a_valid_key() {
    let app = spawn_app().await;
    let routes = [
        (Method::GET, "/v1/sms/campaigns"),
        (Method::POST, "/v1/sms/campaigns"),
        (Method::GET, "/v1/sms/campaigns/smsc_a1b2c3d4"),
        (Method::DELETE, "/v1/sms/campaigns/smsc_a1b2c3d4"),
        (Method::POST, "/v1/sms/campaigns/smsc_a1b2c3d4/launch"),
        (Method::GET, "/v1/agents"),
        (Method::POST, "/v1/agents"),
        (Method::GET, "/v1/numbers"),
        (Method::POST, "/v1/numbers"),
        (Method::GET, "/v1/api-keys"),
        (Method::POST, "/v1/api-keys"),
    ];
    let (key_id, _) = app.creds.api_key.split_once(':').unwrap();
    let bad_tokens = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer nonsense".to_owned()),
        Some(format!("Bearer {key_id}:wrong-secret")),
        Some("Bearer key_0000000000000000:secret".to_owned()),
        Some(format!("Basic {}", app.creds.api_key)),
    ];
    for (method, path) in routes {
        for token in &bad_tokens {
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(t) = token {
                req = req.header("Authorization", t);
            }
            let r = req
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{method} {path} with {token:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            assert_eq!(json(r).await["error"]["code"], "unauthorized");
        }
    }
}

#[tokio::test]
async fn another_accounts_objects_answer_404() {
    let app = spawn_app().await;
    let from = app.add_number("+447446466847").await;
    let agent = app.add_agent().await;
    let campaign = app.create_campaign(&from, 1, json!({})).await;
    let id = campaign["campaign_id"].as_str().unwrap();
    let other = app.other_account().await;

    let get = |path: String| app.request_as(&other, Method::GET, &path).send();
    for path in [
        format!("/v1/sms/campaigns/{id}"),
        format!("/v1/agents/{agent}"),
        "/v1/numbers/%2B447446466847".to_owned(),
    ] {
        let r = get(path.clone()).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(json(r).await["error"]["code"], "not_found");
    }
    let r = app
        .request_as(&other, Method::DELETE, &format!("/v1/sms/campaigns/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let list = json(get("/v1/sms/campaigns".into()).await.unwrap()).await;
    assert_eq!(list["campaigns"], json!([]));

    // The other account cannot send from this account's number or use its agent.
    let r = app
        .request_as(&other, Method::POST, "/v1/sms/campaigns")
        .json(&json!({
            "agent_id": agent, "from_number": from, "name": "x", "message_template": "Hi",
            "recipients": [{ "phone": "+447111000001" }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert_eq!(error_fields(&body), ["from_number", "agent_id"]);
}

#[tokio::test]
async fn keys_can_be_created_listed_and_revoked() {
    let app = spawn_app().await;
    let r = app
        .post_json("/v1/api-keys", &json!({ "name": "CRM" }))
        .await;
    assert_eq!(r.status(), 201);
    let created = json(r).await;
    let token = created["api_key"].as_str().unwrap().to_owned();
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&format!("{key_id}:")));

    let r = app
        .request_as(&token, Method::GET, "/v1/sms/campaigns")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let list = json(app.get("/v1/api-keys").await).await;
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("api_key").is_none()));
    assert!(!list.to_string().contains(token.split_once(':').unwrap().1));

    let r = app.delete(&format!("/v1/api-keys/{key_id}")).await;
    assert_eq!(r.status(), 200);
    assert!(json(r).await["revoked_at"].is_string());
    let r = app
        .request_as(&token, Method::GET, "/v1/sms/campaigns")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Another account cannot revoke this account's key.
    let other = app.other_account().await;
    let (mine, _) = app.creds.api_key.split_once(':').unwrap();
    let r = app
        .request_as(&other, Method::DELETE, &format!("/v1/api-keys/{mine}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
