//! The document's examples on the main operations, from the product page's walk-through: a
//! create body with a template and variables, and what create and get answer.

use serde_json::{Value, json};

/// Two recipients of the March promotion, with their first names.
fn recipients() -> Value {
    json!([
        {"phone": "+447111000001", "variables": {"first_name": "Sarah"}},
        {"phone": "+447111000002", "variables": {"first_name": "James"}}
    ])
}

const TEMPLATE: &str =
    "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book.";

/// The product page's create body (also a preview body).
pub fn create_body() -> Value {
    json!({
        "agent_id": "agent_5f2c1a9e8b7d6c43",
        "from_number": "+447446466847",
        "name": "March promotion",
        "message_template": TEMPLATE,
        "recipients": recipients(),
        "schedule_type": "now"
    })
}

/// The campaign's fields and counts at a moment.
fn campaign(status: &str, delivered: u64, pending: u64, finished_at: Value) -> Value {
    json!({
        "campaign_id": "smsc_8d3e5b1f0a2c4e67",
        "name": "March promotion",
        "status": status,
        "total_count": 2,
        "delivered_count": delivered,
        "failed_count": 0,
        "pending_count": pending,
        "cancelled_count": 0,
        "source": "api",
        "message_template": TEMPLATE,
        "agent_id": "agent_5f2c1a9e8b7d6c43",
        "from_number": "+447446466847",
        "from_numbers": ["+447446466847"],
        "duplicates_removed": 0,
        "require_consent": false,
        "respect_send_window": true,
        "send_window_reason": null,
        "resend_of": null,
        "scheduled_at": null,
        "created_at": "2026-03-02T09:00:00.000Z",
        "started_at": "2026-03-02T09:00:00.000Z",
        "finished_at": finished_at
    })
}

/// What create answers for [`create_body`].
pub fn created() -> Value {
    let mut c = campaign("running", 0, 2, Value::Null);
    c["duplicates"] = json!([]);
    c
}

/// What get answers once both messages were delivered.
pub fn detail() -> Value {
    let mut c = campaign("done", 2, 0, json!("2026-03-02T09:00:02.412Z"));
    let recipient = |phone: &str, name: &str, sid: &str, at: &str| {
        json!({
            "phone": phone,
            "variables": {"first_name": name},
            "status": "delivered",
            "from_number": "+447446466847",
            "body": TEMPLATE.replace("{{first_name}}", name),
            "segments": 1,
            "twilio_sid": sid,
            "error_code": null,
            "error_message": null,
            "sent_at": at,
            "delivered_at": "2026-03-02T09:00:03.105Z",
            "held_until": null,
            "time_zones": ["Europe/London"],
            "updated_at": "2026-03-02T09:00:03.105Z"
        })
    };
    c["recipients"] = json!([
        recipient(
            "+447111000001",
            "Sarah",
            "SM3f1b2c4d5e6f708192a3b4c5d6e7f809",
            "2026-03-02T09:00:00.318Z"
        ),
        recipient(
            "+447111000002",
            "James",
            "SM9a8b7c6d5e4f30211203f4e5d6c7b8a9",
            "2026-03-02T09:00:01.322Z"
        ),
    ]);
    c["recipients_next_cursor"] = Value::Null;
    c["held_count"] = json!(0);
    c["errors"] = json!([]);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use utoipa::PartialSchema;

    /// The property names of a schema (the parts of an `allOf` included, `$ref`s followed
    /// through `schemas`).
    fn properties(schema: &Value, schemas: &Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            return properties(&schemas[name], schemas);
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            out.extend(properties(part, schemas));
        }
        out.extend(
            schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
        out
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// Every example has exactly the fields of its schema (answers: all of them).
    #[test]
    fn examples_have_the_fields_of_their_schemas() {
        use crate::service::views::{CampaignDetail, CampaignView, CreatedCampaign, RecipientView};
        let schema = |s: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(s).unwrap()
        };
        let schemas = &json!({
            "CampaignView": schema(CampaignView::schema()),
            "CreatedCampaign": schema(CreatedCampaign::schema()),
            "CampaignDetail": schema(CampaignDetail::schema()),
            "RecipientView": schema(RecipientView::schema()),
        });
        let create = schema(crate::domain::campaign::CampaignRequest::<
            Vec<crate::domain::campaign::RecipientRequest>,
        >::schema());
        assert!(keys(&create_body()).is_subset(&properties(&create, schemas)));
        let created = json!({"$ref": "#/components/schemas/CreatedCampaign"});
        assert_eq!(keys(&super::created()), properties(&created, schemas));
        let detail = json!({"$ref": "#/components/schemas/CampaignDetail"});
        assert_eq!(keys(&super::detail()), properties(&detail, schemas));
        let recipient = json!({"$ref": "#/components/schemas/RecipientView"});
        assert_eq!(
            keys(&super::detail()["recipients"][0]),
            properties(&recipient, schemas)
        );
    }
}
