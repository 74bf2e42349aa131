//! Test sends: one SMS to check a message before a campaign (`POST /v1/sms/test`), checked as
//! a create checks a recipient, sent now by the engine through the same pacing and opt-out
//! rules, recorded and tracked to its final status, never counted in or listed with
//! campaigns.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{App, ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::campaign::{self, CampaignRequest, RecipientOutcome, RecipientRequest};
use crate::domain::ids::{AccountId, TestSendId};
use crate::domain::segments::{self, Encoding};
use crate::domain::status::RecipientStatus;
use crate::store::{NewTestSend, TestSend};

/// How long a test send's answer waits for Twilio's sid (the engine sends it at the number's
/// next pacing slot); past it, the answer has `twilio_sid: null` and `GET` follows it.
const WAIT_FOR_SID: Duration = Duration::from_secs(10);

/// The body of `POST /v1/sms/test`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendRequest {
    /// The sending number (E.164), one of the account's numbers.
    #[serde(default)]
    #[schema(required = true, nullable = false)]
    pub from_number: Option<String>,
    /// Who gets the test (E.164).
    #[serde(default)]
    #[schema(required = true, nullable = false)]
    pub to: Option<String>,
    /// The message, with `{{variable}}` placeholders.
    #[serde(default)]
    #[schema(required = true, nullable = false)]
    pub message_template: Option<String>,
    /// Values for the placeholders: strings, numbers or booleans.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
}

/// A test send as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestSendView {
    /// `smst_…`
    pub test_id: String,
    /// The sending number.
    pub from_number: String,
    /// The recipient.
    pub to: String,
    /// The message as rendered and sent.
    pub body: String,
    /// SMS segments it takes.
    pub segments: u32,
    /// `GSM-7` or `UCS-2`.
    #[schema(schema_with = super::views::encoding_schema)]
    pub encoding: Encoding,
    /// Where it stands (the recipient statuses of a campaign).
    pub status: RecipientStatus,
    /// Twilio's message sid once Twilio accepted it.
    pub twilio_sid: Option<String>,
    /// Why it failed (Twilio's code, or `opted_out`).
    pub error_code: Option<String>,
    /// The matching explanation.
    pub error_message: Option<String>,
    /// Creation time.
    #[serde(with = "crate::service::views::timestamp")]
    pub created_at: OffsetDateTime,
    /// When Twilio accepted it.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub sent_at: Option<OffsetDateTime>,
    /// When the carrier confirmed delivery.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

impl From<TestSend> for TestSendView {
    fn from(t: TestSend) -> Self {
        let m = t.message;
        Self {
            test_id: t.id.to_string(),
            encoding: segments::count(&m.body).encoding,
            from_number: m.from_number,
            to: m.phone,
            body: m.body,
            segments: m.segments,
            status: m.status,
            twilio_sid: m.twilio_sid,
            error_code: m.error_code,
            error_message: m.error_message,
            created_at: t.created_at,
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
        }
    }
}

/// A create's field path as this request names it.
fn field_of(path: &str) -> String {
    let rest = path.strip_prefix("recipients[0]");
    match rest {
        Some("") => "message_template".into(),
        Some(".phone") => "to".into(),
        Some(r) => r.trim_start_matches('.').to_owned(),
        None => path.to_owned(),
    }
}

/// Sends one test SMS now; answers once Twilio gave its sid (or after a short wait).
pub async fn send(
    app: &App,
    account: &AccountId,
    request: &TestSendRequest,
) -> ServiceResult<TestSendView> {
    let store = app.store.as_ref();
    let mut errors = Vec::new();
    if request.to.is_none() {
        errors.push(FieldError::new("to", "is required"));
    }
    if request.from_number.is_none() {
        errors.push(FieldError::new("from_number", "is required"));
    }
    // Checked exactly as a create checks a one-recipient campaign.
    let create = CampaignRequest {
        from_number: request.from_number.clone(),
        name: Some("Test send".into()),
        message_template: request.message_template.clone(),
        recipients: Some(vec![RecipientRequest {
            phone: Some(request.to.clone().unwrap_or_default()),
            variables: request.variables.clone(),
        }]),
        ..CampaignRequest::default()
    };
    let now = OffsetDateTime::now_utc();
    let ctx = super::consents::campaign_context(store, account, &create).await?;
    let plan = campaign::plan(&create, &ctx, &app.settings.limits, now);
    errors.extend(plan.errors.iter().cloned());
    let mut message = None;
    if let Some(list) = &create.recipients {
        let mut checker = plan.checker(&ctx);
        match checker.check(0, &list[0]) {
            RecipientOutcome::Sendable(r) => message = r.into_new_recipient(),
            RecipientOutcome::Invalid(e) => errors.extend(e),
            RecipientOutcome::Duplicate(_) => {}
        }
    }
    let mut seen = std::collections::HashSet::new();
    let errors: Vec<FieldError> = errors
        .into_iter()
        .map(|e| FieldError::new(field_of(&e.field), e.message))
        .filter(|e| request.to.is_some() || e.field != "to" || e.message == "is required")
        .filter(|e| seen.insert((e.field.clone(), e.message.clone())))
        .collect();
    let message = match message {
        Some(m) if errors.is_empty() => m,
        _ => {
            return Err(ServiceError::Validation(if errors.is_empty() {
                vec![FieldError::new("message_template", "is required")]
            } else {
                errors
            }));
        }
    };
    let id = TestSendId::generate();
    store
        .create_test_send(&NewTestSend {
            id: id.clone(),
            account_id: account.clone(),
            message_template: request.message_template.clone().unwrap_or_default(),
            message,
            created_at: now,
        })
        .await
        .map_err(ServiceError::from_store("test send"))?;
    app.engine.wake();
    let deadline = tokio::time::Instant::now() + WAIT_FOR_SID;
    loop {
        let sent = store
            .get_test_send(account, &id)
            .await
            .map_err(ServiceError::from_store("test send"))?;
        let m = &sent.message;
        if m.twilio_sid.is_some()
            || m.status.is_terminal()
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(sent.into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One test send with its delivery status.
pub async fn get(app: &App, account: &AccountId, id: &str) -> ServiceResult<TestSendView> {
    let id = TestSendId::parse(id).ok_or(ServiceError::NotFound("test send"))?;
    Ok(app
        .store
        .get_test_send(account, &id)
        .await
        .map_err(ServiceError::from_store("test send"))?
        .into())
}
