//! The webhooks pages: list and add endpoints (the secret is shown once), one endpoint with
//! its recent deliveries, a test event, disable or enable, and delete.

use super::forms::Form;
use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::auth::CsrfForm;
use super::error::{PageResult, html};
use super::flash::{FlashKind, IncomingFlash, redirect_with};
use super::forms::{ConfirmPage, Errors};
use super::signed_in::{CurrentUser, check_csrf};
use super::views::{Layout, When};
use crate::domain::webhooks::EventType;
use crate::service::App;
use crate::service::sessions::SignedIn;
use crate::service::views::webhooks::{
    WebhookDeliveryView, WebhookEndpointPatch, WebhookEndpointRequest, WebhookEndpointView,
};
use crate::service::webhooks;

/// An endpoint as listed.
struct EndpointRow {
    endpoint: WebhookEndpointView,
    events: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    endpoints: Vec<EndpointRow>,
    all_events: Vec<(&'static str, bool)>,
    url: String,
    description: String,
    errors: Errors,
    /// The endpoint just added and its secret (this page view only).
    created: Option<(String, String)>,
}

async fn webhooks_page(
    state: &App,
    user: &SignedIn,
    url: String,
    description: String,
    chosen: &[String],
    errors: Errors,
) -> PageResult<WebhooksPage> {
    let endpoints = webhooks::list(state, &user.account_id)
        .await?
        .webhook_endpoints
        .into_iter()
        .map(|e| EndpointRow {
            events: e
                .events
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            endpoint: e,
        })
        .collect();
    Ok(WebhooksPage {
        layout: Layout::new("Webhooks", Some(user), "webhooks"),
        endpoints,
        all_events: EventType::ALL
            .iter()
            .map(|t| (t.as_str(), chosen.iter().any(|c| c == t.as_str())))
            .collect(),
        url,
        description,
        errors,
        created: None,
    })
}

/// The account's endpoints, and a form to add one.
pub async fn list(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
) -> PageResult {
    let mut page = webhooks_page(
        &state,
        &user,
        String::new(),
        String::new(),
        &[],
        Errors::default(),
    )
    .await?;
    page.layout = page.layout.with_flash(flash);
    Ok(html(&page))
}

/// Adds an endpoint and shows its secret, once (a page, not a redirect). The form repeats
/// `events` once per ticked box, so it is read as pairs.
pub async fn create(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> PageResult {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    check_csrf(&user, &field("csrf"))?;
    let events: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "events")
        .map(|(_, v)| v.clone())
        .collect();
    let req = WebhookEndpointRequest {
        url: Some(field("url")),
        events: Some(events.clone()),
        description: Some(field("description")),
    };
    match webhooks::create(&state, &user.account_id, &req).await {
        Ok(created) => {
            let mut page = webhooks_page(
                &state,
                &user,
                String::new(),
                String::new(),
                &[],
                Errors::default(),
            )
            .await?;
            page.created = Some((created.endpoint.url, created.secret));
            Ok(html(&page))
        }
        Err(e) => {
            let errors = Errors::from_service(e)?;
            let page = webhooks_page(
                &state,
                &user,
                field("url"),
                field("description"),
                &events,
                errors,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
    }
}

/// A delivery attempt as shown.
struct DeliveryRow {
    d: WebhookDeliveryView,
    at: When,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    layout: Layout,
    endpoint: WebhookEndpointView,
    events: String,
    failing_since: Option<When>,
    deliveries: Vec<DeliveryRow>,
}

/// One endpoint, its recent deliveries and its actions.
pub async fn detail(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Extension(flash): Extension<IncomingFlash>,
    Path(id): Path<String>,
) -> PageResult {
    let endpoint = webhooks::get(&state, &user.account_id, &id).await?;
    let deliveries = webhooks::deliveries(&state, &user.account_id, &id, Some(50))
        .await?
        .deliveries
        .into_iter()
        .map(|d| DeliveryRow {
            at: When::new(d.created_at),
            d,
        })
        .collect();
    Ok(html(&WebhookPage {
        layout: Layout::new(
            format!("Webhook: {}", endpoint.url),
            Some(&user),
            "webhooks",
        )
        .with_flash(flash),
        events: endpoint
            .events
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        failing_since: When::opt(endpoint.failing_since),
        endpoint,
        deliveries,
    }))
}

/// Sends a `webhook.test` event.
pub async fn send_test(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let back = format!("/webhook-endpoints/{id}");
    match webhooks::send_test(&state, &user.account_id, &id).await {
        Ok(_) => Ok(redirect_with(
            &back,
            FlashKind::Success,
            "Test event queued. It appears under Recent deliveries once sent.",
        )),
        Err(crate::service::ServiceError::Conflict(m)) => {
            Ok(redirect_with(&back, FlashKind::Warning, m))
        }
        Err(e) => Err(e.into()),
    }
}

/// Enable form: `enabled=true|false`.
#[derive(Debug, serde::Deserialize)]
pub struct EnabledForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

/// Disables or enables an endpoint.
pub async fn set_enabled(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    let enabled = form.enabled == "true";
    let patch = WebhookEndpointPatch {
        enabled: Some(enabled),
        ..WebhookEndpointPatch::default()
    };
    webhooks::update(&state, &user.account_id, &id, &patch).await?;
    Ok(redirect_with(
        &format!("/webhook-endpoints/{id}"),
        FlashKind::Success,
        if enabled {
            "Endpoint enabled: new events are delivered to it again."
        } else {
            "Endpoint disabled: no events are written or delivered to it."
        },
    ))
}

/// "Are you sure?" before deleting an endpoint.
pub async fn delete_page(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    let e = webhooks::get(&state, &user.account_id, &id).await?;
    Ok(html(&ConfirmPage {
        layout: Layout::new("Delete this webhook endpoint?", Some(&user), "webhooks"),
        message: format!(
            "Herald stops posting events to {}. Its undelivered events and its delivery log \
             are deleted. This cannot be undone.",
            e.url
        ),
        action: format!("/webhook-endpoints/{}/delete", e.endpoint_id),
        button: "Yes, delete this endpoint".into(),
        back: format!("/webhook-endpoints/{}", e.endpoint_id),
    }))
}

/// Deletes an endpoint.
pub async fn delete(
    State(state): State<App>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&user, &form.csrf)?;
    webhooks::delete(&state, &user.account_id, &id).await?;
    Ok(redirect_with(
        "/webhook-endpoints",
        FlashKind::Success,
        "Webhook endpoint deleted.",
    ))
}
