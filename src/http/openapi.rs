//! Completes the OpenAPI document generated from the handlers with what every route shares, so
//! each route's annotation lists only what is its own: the error answers the extractors and
//! layers give (401, 400, 413, 415, 422, 404), a description on every response, unique
//! operationIds, and every nullable field of an answer required (the server always writes it);
//! and derives preview's body schema from create's.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

/// The error answers an operation can give because of how it is built, whatever its handler
/// says: (status, description, applies?).
fn shared_errors(op: &Map<String, Value>, path: &str) -> Vec<(&'static str, &'static str)> {
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let params = op.get("parameters").and_then(Value::as_array);
    let has_in = |place: &str| {
        params.is_some_and(|ps| {
            ps.iter()
                .any(|p| p.get("in").and_then(Value::as_str) == Some(place))
        })
    };
    let body_types: Vec<&str> = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|c| c.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let json_body = body_types.iter().any(|t| t.ends_with("json"));
    let webhook = path.starts_with("/webhooks/");
    let mut out = Vec::new();
    if secured {
        out.push(("401", "missing or invalid API key"));
    }
    if json_body {
        out.push(("400", "malformed JSON"));
    }
    if !body_types.is_empty() {
        out.push(("413", "body too large"));
        if !webhook {
            out.push(("415", "wrong Content-Type"));
        }
    }
    if has_in("query") {
        out.push(("400", "a query parameter does not parse"));
    }
    if json_body || has_in("query") || !body_types.is_empty() {
        out.push((
            "422",
            "invalid fields (each named in `details`), or a NUL character in a field or query parameter",
        ));
    }
    if has_in("path") {
        out.push(("404", "no such object in this account"));
    }
    out
}

/// The reason phrase of a status, the description of a response that has none.
fn reason(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "created",
        "204" => "done; no content",
        "400" => "bad request",
        "401" => "missing or invalid API key",
        "403" => "forbidden",
        "404" => "not found",
        "409" => "conflict with the object's state",
        "413" => "body too large",
        "415" => "wrong Content-Type",
        "422" => "invalid fields, each named in `details`",
        "429" => "too many requests",
        "503" => "unavailable; try again later",
        _ => "an answer",
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Completes `doc` (the document as JSON): shared error answers with the error body, a
/// description on every response, and operationIds made unique (a repeated one is prefixed
/// with its tag: `campaigns_get`, `agents_list`).
pub fn complete(mut doc: Value) -> Value {
    let error_body =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let mut ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for item in paths.values() {
            for m in METHODS {
                if let Some(id) = item
                    .get(m)
                    .and_then(|op| op.get("operationId"))
                    .and_then(Value::as_str)
                {
                    *ids.entry(id.to_owned()).or_default() += 1;
                }
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        for m in METHODS {
            let Some(op) = item.get_mut(m).and_then(Value::as_object_mut) else {
                continue;
            };
            let shared = shared_errors(op, path);
            // Unique operationIds.
            if let Some(id) = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
                && ids.get(&id).copied().unwrap_or(0) > 1
            {
                let tag = op
                    .get("tags")
                    .and_then(|t| t.get(0))
                    .and_then(Value::as_str)
                    .unwrap_or(m)
                    .replace('-', "_");
                op.insert("operationId".into(), json!(format!("{tag}_{id}")));
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            for (status, description) in shared {
                responses.entry(status.to_owned()).or_insert_with(
                    || json!({"description": description, "content": error_body.clone()}),
                );
            }
            for (status, response) in responses.iter_mut() {
                let Some(response) = response.as_object_mut() else {
                    continue;
                };
                let missing = response
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if missing {
                    response.insert("description".into(), json!(reason(status)));
                }
            }
        }
    }
    require_nullable_answers(&mut doc);
    doc
}

/// Every schema name a value refers to (`$ref` anywhere inside it).
fn refs_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref"
                    && let Some(name) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                }
                refs_in(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

/// The schemas `roots` refer to, directly or through other schemas.
fn reachable(schemas: &Map<String, Value>, roots: Vec<String>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut todo = roots;
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone())
            && let Some(schema) = schemas.get(&name)
        {
            refs_in(schema, &mut todo);
        }
    }
    seen
}

/// The server writes every field of an answer, `null` when it has no value (a field it may
/// leave out is not nullable, and says when it is there). So in the schemas only answers use,
/// every nullable property is required: a generated client then reads it as "a value or
/// null", never "maybe absent".
fn require_nullable_answers(doc: &mut Value) {
    let (mut answers, mut requests) = (Vec::new(), Vec::new());
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for item in paths.values() {
            for m in METHODS {
                let Some(op) = item.get(m) else { continue };
                if let Some(r) = op.get("responses") {
                    refs_in(r, &mut answers);
                }
                for part in ["requestBody", "parameters"] {
                    if let Some(r) = op.get(part) {
                        refs_in(r, &mut requests);
                    }
                }
            }
        }
    }
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let answers = reachable(schemas, answers);
    let requests = reachable(schemas, requests);
    for name in answers.difference(&requests) {
        let Some(schema) = schemas.get_mut(name) else {
            continue;
        };
        require_nullable(schema);
    }
}

/// Adds every nullable property of `schema` (or of the parts of its `allOf`) to `required`.
fn require_nullable(schema: &mut Value) {
    if let Some(all_of) = schema.get_mut("allOf").and_then(Value::as_array_mut) {
        all_of.iter_mut().for_each(require_nullable);
        return;
    }
    let nullable: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| is_nullable(p))
        .map(|(k, _)| k.clone())
        .collect();
    if nullable.is_empty() {
        return;
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(required) = object
        .entry("required")
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        for key in nullable {
            if !required.iter().any(|r| r == key.as_str()) {
                required.push(json!(key));
            }
        }
    }
}

/// True when a property's schema allows null (`"type": [..., "null"]`, or a `oneOf` with a
/// null branch).
fn is_nullable(property: &Value) -> bool {
    let null = json!("null");
    property
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.contains(&null))
        || property
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|b| b.get("type") == Some(&null)))
}

/// Keywords of create's body that bound a value: preview does not refuse what breaks them, it
/// reports it (`valid: false`).
const VALUE_BOUNDS: [&str; 11] = [
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minProperties",
    "maxProperties",
];

/// The schema of preview's body from create's ([`crate::domain::campaign::CampaignRequest`]):
/// the same fields and types (a field of the wrong type, an unknown field or a NUL character is
/// still a 422), none required, every one nullable (absent and null read the same), and
/// without the bounds on values, which preview reports in its answer instead of refusing.
pub fn preview_request(
    create: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut schema = serde_json::to_value(create).expect("a schema serializes");
    if let Some(object) = schema.as_object_mut() {
        object.remove("required");
        object.insert(
            "description".into(),
            json!(
                "The body of `POST /v1/sms/campaigns/preview`: create's fields (`CampaignRequest`) \
                 with the same types, none required and each may be null. What create refuses for \
                 its value (a missing or too long name, an empty template, no recipients, a bad \
                 phone, an unknown sender, ...) is reported in the answer (`valid: false`, \
                 `errors`, `invalid`), not refused; a field of the wrong type, an unknown field or \
                 a NUL character is a 422."
            ),
        );
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            for property in properties.values_mut() {
                nullable(property);
            }
        }
    }
    serde_json::from_value(schema).expect("the preview schema reads back")
}

/// `property` without its value bounds, and accepting null.
fn nullable(property: &mut Value) {
    let Some(p) = property.as_object_mut() else {
        return;
    };
    for keyword in VALUE_BOUNDS {
        p.remove(keyword);
    }
    let is_ref = p.contains_key("$ref");
    match p.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            p.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&json!("null")) => {
            types.push(json!("null"));
        }
        Some(Value::Array(_)) => {}
        _ if is_ref => {
            let description = p.remove("description");
            let reference = std::mem::take(p);
            let mut one_of = Map::new();
            one_of.insert(
                "oneOf".into(),
                json!([Value::Object(reference), {"type": "null"}]),
            );
            if let Some(d) = description {
                one_of.insert("description".into(), d);
            }
            *p = one_of;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_answers_descriptions_and_unique_ids() {
        let doc = json!({"paths": {
            "/v1/a": {"get": {"operationId": "list", "tags": ["a-things"],
                "security": [{"bearer": []}],
                "parameters": [{"name": "limit", "in": "query"}],
                "responses": {"200": {}}}},
            "/v1/b/{id}": {"post": {"operationId": "list", "tags": ["b"],
                "parameters": [{"name": "id", "in": "path"}],
                "requestBody": {"content": {"application/json": {}}},
                "responses": {"201": {"description": "made"}}}},
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {}}}},
        }});
        let doc = complete(doc);
        let a = &doc["paths"]["/v1/a"]["get"];
        assert_eq!(a["operationId"], "a_things_list");
        for s in ["200", "400", "401", "422"] {
            assert!(a["responses"][s]["description"].is_string(), "{s}");
        }
        assert!(a["responses"].get("415").is_none());
        let b = &doc["paths"]["/v1/b/{id}"]["post"];
        assert_eq!(b["operationId"], "b_list");
        for s in ["201", "400", "404", "413", "415", "422"] {
            assert!(b["responses"][s]["description"].is_string(), "{s}");
        }
        assert!(b["responses"].get("401").is_none());
        assert_eq!(b["responses"]["201"]["description"], "made");
        let h = &doc["paths"]["/healthz"]["get"];
        assert_eq!(h["operationId"], "healthz");
        assert_eq!(h["responses"]["200"]["description"], "OK");
    }

    #[test]
    fn preview_takes_creates_fields_and_types_but_requires_and_bounds_nothing() {
        use utoipa::PartialSchema;
        let create = serde_json::to_value(crate::domain::campaign::CampaignRequest::<
            Vec<crate::domain::campaign::RecipientRequest>,
        >::schema())
        .unwrap();
        let preview = serde_json::to_value(crate::http::preview::PreviewRequest::schema()).unwrap();
        assert!(create["required"].as_array().is_some_and(|r| !r.is_empty()));
        assert!(preview.get("required").is_none());
        assert_eq!(preview["additionalProperties"], false);
        let (c, p) = (
            create["properties"].as_object().unwrap(),
            preview["properties"].as_object().unwrap(),
        );
        assert_eq!(
            c.keys().collect::<Vec<_>>(),
            p.keys().collect::<Vec<_>>(),
            "the same fields"
        );
        assert_eq!(create["properties"]["name"]["maxLength"], 200);
        assert_eq!(
            preview["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        assert!(preview["properties"]["name"].get("maxLength").is_none());
        assert!(preview["properties"]["name"].get("pattern").is_none());
        assert_eq!(
            preview["properties"]["recipients"]["type"],
            json!(["array", "null"])
        );
        assert!(
            preview["properties"]["recipients"]
                .get("minItems")
                .is_none()
        );
        assert_eq!(
            preview["properties"]["recipients"]["items"],
            create["properties"]["recipients"]["items"]
        );
        assert_eq!(
            preview["properties"]["schedule_type"], create["properties"]["schedule_type"],
            "already nullable"
        );
    }

    #[test]
    fn nullable_fields_of_answers_are_required_and_requests_are_left_alone() {
        let doc = json!({
            "paths": {"/v1/a": {"post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Req"}}}},
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}}}
            }}},
            "components": {"schemas": {
                "Req": {"type": "object", "properties": {
                    "note": {"type": ["string", "null"]},
                    "shared": {"$ref": "#/components/schemas/Shared"}}},
                "Shared": {"type": "object", "properties": {"x": {"type": ["string", "null"]}}},
                "Answer": {"allOf": [
                    {"$ref": "#/components/schemas/Inner"},
                    {"type": "object", "required": ["id"], "properties": {
                        "id": {"type": "string"},
                        "ended_at": {"type": ["string", "null"]},
                        "kind": {"oneOf": [{"$ref": "#/components/schemas/Kind"}, {"type": "null"}]},
                        "shared": {"$ref": "#/components/schemas/Shared"}}}
                ]},
                "Inner": {"type": "object", "properties": {
                    "maybe": {"type": "string"},
                    "null_or_n": {"type": ["integer", "null"]}}},
                "Kind": {"type": "string", "enum": ["a"]}
            }}
        });
        let doc = complete(doc);
        let s = &doc["components"]["schemas"];
        assert_eq!(
            s["Answer"]["allOf"][1]["required"],
            json!(["id", "ended_at", "kind"])
        );
        assert_eq!(
            s["Inner"]["required"],
            json!(["null_or_n"]),
            "not the omissible one"
        );
        assert!(
            s["Req"].get("required").is_none(),
            "a request's fields stay optional"
        );
        assert!(
            s["Shared"].get("required").is_none(),
            "used by a request too"
        );
    }
}
