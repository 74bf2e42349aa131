//! Agents and sending numbers: the objects campaigns refer to.

use reqwest::Method;
use serde_json::json;

use herald_test_support::{error_fields, json, spawn_app};

#[tokio::test]
async fn agents_crud() {
    let app = spawn_app().await;
    let r = app.post_json("/v1/agents", &json!({ "name": "" })).await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["name", "system_prompt"]);

    let id = app.add_agent().await;
    assert!(id.starts_with("agent_"));
    let got = json(app.get(&format!("/v1/agents/{id}")).await).await;
    assert_eq!(got["name"], "Reception");

    let r = app
        .request(Method::PUT, &format!("/v1/agents/{id}"))
        .json(&json!({ "name": "Front desk", "system_prompt": "March promotion: 20% off." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["system_prompt"], "March promotion: 20% off.");
    let list = json(app.get("/v1/agents").await).await;
    assert_eq!(list["agents"].as_array().unwrap().len(), 1);

    // An agent a number uses cannot be deleted.
    let r = app
        .post_json(
            "/v1/numbers",
            &json!({ "phone": "+447446466847", "agent_id": id }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.delete(&format!("/v1/agents/{id}")).await.status(), 409);
    let r = app
        .request(Method::PATCH, "/v1/numbers/%2B447446466847")
        .json(&json!({ "agent_id": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.delete(&format!("/v1/agents/{id}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v1/agents/{id}")).await.status(), 404);
}

#[tokio::test]
async fn numbers_crud() {
    let app = spawn_app().await;
    let r = app
        .post_json("/v1/numbers", &json!({ "phone": "+44 7446 466847" }))
        .await;
    assert_eq!(r.status(), 201);
    let n = json(r).await;
    assert_eq!(n["phone"], "+447446466847");
    assert_eq!(n["mps"], 1.0);

    let r = app
        .post_json("/v1/numbers", &json!({ "phone": "+447446466847" }))
        .await;
    assert_eq!(r.status(), 409);

    let r = app
        .post_json(
            "/v1/numbers",
            &json!({ "phone": "07446466847", "mps": 0, "agent_id": "agent_nope" }),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&json(r).await), ["phone", "mps", "agent_id"]);

    let r = app
        .request(Method::PATCH, "/v1/numbers/+447446466847")
        .json(&json!({ "mps": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["mps"], 10.0);

    // A number an unfinished campaign sends from cannot be removed.
    let campaign = app.create_campaign("+447446466847", 1, json!({})).await;
    let r = app.delete("/v1/numbers/%2B447446466847").await;
    assert_eq!(r.status(), 409);
    let id = campaign["campaign_id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/sms/campaigns/{id}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.delete("/v1/numbers/%2B447446466847").await.status(),
        204
    );
    let list = json(app.get("/v1/numbers").await).await;
    assert_eq!(list["numbers"], json!([]));
}
