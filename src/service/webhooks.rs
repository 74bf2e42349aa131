//! Outgoing webhooks: endpoints (add, change, rotate the secret, delete), their recent
//! deliveries, test events, and [`emit`] for events raised in Rust (docs/ARCHITECTURE.md §10).
//! The events that follow a change in the database are written by its triggers, in the
//! change's own transaction; the engine's deliverer posts them.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::views::webhooks::{
    WebhookDeliveryList, WebhookEndpointCreated, WebhookEndpointList, WebhookEndpointPatch,
    WebhookEndpointRequest, WebhookEndpointView, WebhookSecretRotated, WebhookTestQueued,
};
use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::ids::{AccountId, EndpointId};
use crate::domain::webhooks::{EventType, check_url, is_public};
use crate::provider::standard_webhooks::new_secret;
use crate::store::WebhookEndpoint;

/// Most endpoints per account.
pub const MAX_ENDPOINTS: usize = 20;
/// Longest description.
const MAX_DESCRIPTION: usize = 500;
/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The type of a test event (sent whatever the endpoint subscribes to).
pub const TEST_EVENT: &str = "webhook.test";

fn endpoint_id(raw: &str) -> ServiceResult<EndpointId> {
    EndpointId::parse(raw).ok_or(ServiceError::NotFound("webhook endpoint"))
}

/// Checks a URL: its form, then (unless private addresses are allowed) that its host
/// resolves to public addresses only. The deliverer checks again at every connection.
async fn checked_url(app: &App, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let allow_private = app.settings.webhooks.allow_private;
    let url = match check_url(raw, allow_private) {
        Ok(url) => url,
        Err(why) => {
            errors.push(FieldError::new("url", why));
            return None;
        }
    };
    if !allow_private && let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let resolved = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((name, port)),
        )
        .await;
        let addrs: Vec<IpAddr> = match resolved {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => Vec::new(),
        };
        if addrs.is_empty() {
            errors.push(FieldError::new("url", "its host name does not resolve"));
            return None;
        }
        if addrs.iter().any(|ip| !is_public(*ip)) {
            errors.push(FieldError::new("url", "must be a public address"));
            return None;
        }
    }
    Some(url.to_string())
}

fn checked_events(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<EventType> {
    if raw.is_empty() {
        errors.push(FieldError::new(
            "events",
            "must name at least one event type",
        ));
        return Vec::new();
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        match EventType::parse(name.trim()) {
            Some(t) => {
                if seen.insert(t) {
                    out.push(t);
                }
            }
            None => errors.push(FieldError::new(
                format!("events[{i}]"),
                format!(
                    "unknown event type; expected one of {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            )),
        }
    }
    out
}

fn checked_description(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let d = raw.map(str::trim).filter(|d| !d.is_empty())?;
    // Counted as sent (the document's maxLength), stored trimmed.
    if raw.map_or(0, |r| r.chars().count()) > MAX_DESCRIPTION {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
        return None;
    }
    Some(d.to_owned())
}

/// Adds an endpoint; the answer carries its secret, shown this once.
pub async fn create(
    app: &App,
    account: &AccountId,
    req: &WebhookEndpointRequest,
) -> ServiceResult<WebhookEndpointCreated> {
    let mut errors = Vec::new();
    let url = match req.url.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new("url", "is required"));
            None
        }
        Some(raw) => checked_url(app, raw, &mut errors).await,
    };
    let events = match &req.events {
        None => {
            errors.push(FieldError::new("events", "is required"));
            Vec::new()
        }
        Some(raw) => checked_events(raw, &mut errors),
    };
    let description = checked_description(req.description.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let store = app.store.as_ref();
    if store.list_webhook_endpoints(account).await?.len() >= MAX_ENDPOINTS {
        return Err(ServiceError::Conflict(format!(
            "an account has at most {MAX_ENDPOINTS} webhook endpoints"
        )));
    }
    let now = OffsetDateTime::now_utc();
    let secret = new_secret();
    let endpoint = WebhookEndpoint {
        id: EndpointId::generate(),
        url: url.unwrap_or_default(),
        description,
        events,
        secret: secret.clone(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
        pending: 0,
    };
    store.create_webhook_endpoint(account, &endpoint).await?;
    let stored = store.get_webhook_endpoint(account, &endpoint.id).await?;
    Ok(WebhookEndpointCreated {
        endpoint: WebhookEndpointView::of(stored, now),
        secret,
    })
}

/// The account's endpoints.
pub async fn list(app: &App, account: &AccountId) -> ServiceResult<WebhookEndpointList> {
    let now = OffsetDateTime::now_utc();
    Ok(WebhookEndpointList {
        webhook_endpoints: app
            .store
            .list_webhook_endpoints(account)
            .await?
            .into_iter()
            .map(|e| WebhookEndpointView::of(e, now))
            .collect(),
    })
}

/// One endpoint.
pub async fn get(app: &App, account: &AccountId, id: &str) -> ServiceResult<WebhookEndpointView> {
    let id = endpoint_id(id)?;
    let e = app
        .store
        .get_webhook_endpoint(account, &id)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    Ok(WebhookEndpointView::of(e, OffsetDateTime::now_utc()))
}

/// Changes the fields present in `patch`.
pub async fn update(
    app: &App,
    account: &AccountId,
    id: &str,
    patch: &WebhookEndpointPatch,
) -> ServiceResult<WebhookEndpointView> {
    let id = endpoint_id(id)?;
    let store = app.store.as_ref();
    let mut e = store
        .get_webhook_endpoint(account, &id)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    let mut errors = Vec::new();
    if let Some(raw) = &patch.url
        && let Some(url) = checked_url(app, raw.trim(), &mut errors).await
    {
        e.url = url;
    }
    if let Some(raw) = &patch.events {
        e.events = checked_events(raw, &mut errors);
    }
    if let Some(raw) = &patch.description {
        e.description = checked_description(Some(raw), &mut errors);
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    if let Some(enabled) = patch.enabled {
        if enabled && !e.enabled {
            e.disabled_reason = None;
            e.failing_since = None;
        }
        if !enabled {
            e.disabled_reason = None;
        }
        e.enabled = enabled;
    }
    let now = OffsetDateTime::now_utc();
    e.updated_at = now;
    store
        .update_webhook_endpoint(account, &e)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    if e.enabled {
        app.webhooks.wake();
    }
    get(app, account, id.as_str()).await
}

/// Deletes an endpoint with its undelivered messages and its delivery log.
pub async fn delete(app: &App, account: &AccountId, id: &str) -> ServiceResult<()> {
    let id = endpoint_id(id)?;
    app.store
        .delete_webhook_endpoint(account, &id)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))
}

/// Gives the endpoint a new secret (shown once); the old one keeps signing beside it for
/// 24 hours, so receivers can switch without losing a delivery.
pub async fn rotate_secret(
    app: &App,
    account: &AccountId,
    id: &str,
) -> ServiceResult<WebhookSecretRotated> {
    let id = endpoint_id(id)?;
    let store = app.store.as_ref();
    let mut e = store
        .get_webhook_endpoint(account, &id)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    let now = OffsetDateTime::now_utc();
    // At the store's precision (milliseconds), so the answer and later reads agree.
    let until = now + ROTATION_OVERLAP;
    let until = until
        .replace_nanosecond(until.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(until);
    let secret = new_secret();
    e.previous_secret = Some(std::mem::replace(&mut e.secret, secret.clone()));
    e.previous_secret_until = Some(until);
    e.updated_at = now;
    store
        .update_webhook_endpoint(account, &e)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    Ok(WebhookSecretRotated {
        endpoint_id: id.to_string(),
        secret,
        previous_secret_expires_at: until,
    })
}

/// Most attempts one deliveries page lists.
pub const MAX_DELIVERIES: u32 = 200;

/// The endpoint's latest delivery attempts, newest first.
pub async fn deliveries(
    app: &App,
    account: &AccountId,
    id: &str,
    limit: Option<u32>,
) -> ServiceResult<WebhookDeliveryList> {
    let id = endpoint_id(id)?;
    let limit = match limit {
        None => 50,
        Some(n) if (1..=MAX_DELIVERIES).contains(&n) => n,
        Some(_) => {
            return Err(ServiceError::invalid(
                "limit",
                format!("must be between 1 and {MAX_DELIVERIES}"),
            ));
        }
    };
    let attempts = app
        .store
        .webhook_attempts(account, &id, limit)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    Ok(WebhookDeliveryList {
        deliveries: attempts.into_iter().map(Into::into).collect(),
    })
}

/// Sends the endpoint a `webhook.test` event (whatever types it receives).
pub async fn send_test(
    app: &App,
    account: &AccountId,
    id: &str,
) -> ServiceResult<WebhookTestQueued> {
    let id = endpoint_id(id)?;
    let e = app
        .store
        .get_webhook_endpoint(account, &id)
        .await
        .map_err(ServiceError::from_store("webhook endpoint"))?;
    if !e.enabled {
        return Err(ServiceError::Conflict(
            "the endpoint is disabled; enable it first".into(),
        ));
    }
    let data = json!({
        "endpoint_id": id.as_str(),
        "message": "A test event from Herald.",
    });
    let queued = app
        .store
        .enqueue_webhook_event(
            account,
            TEST_EVENT,
            &data,
            Some(&id),
            OffsetDateTime::now_utc(),
        )
        .await?;
    app.webhooks.wake();
    Ok(WebhookTestQueued {
        event_type: TEST_EVENT.into(),
        queued,
    })
}

/// Writes an event raised in Rust (rather than by a database trigger) for every enabled
/// endpoint of the account that receives its type, and wakes the deliverer. The trigger
/// covers every status change of a campaign (`paused` and back included), so a new use case
/// only needs this for an event that no stored change carries.
pub async fn emit(
    app: &App,
    account: &AccountId,
    event: EventType,
    data: &Value,
) -> ServiceResult<u64> {
    let n = app
        .store
        .enqueue_webhook_event(
            account,
            event.as_str(),
            data,
            None,
            OffsetDateTime::now_utc(),
        )
        .await?;
    if n > 0 {
        app.webhooks.wake();
    }
    Ok(n)
}
