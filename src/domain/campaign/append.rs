//! More recipients for a draft (`POST /v1/sms/campaigns/{id}/recipients`): the body, and the
//! create request it is checked as, so an append validates exactly as a create does.

use serde::Deserialize;

use super::request::{CampaignRequest, RecipientRequest, ScheduleType};

// `L` as in [`CampaignRequest`]: owned recipients, or their JSON text borrowed from the body.
/// The body of `POST /v1/sms/campaigns/{id}/recipients`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "L: Deserialize<'de>"))]
pub struct AppendRequest<L = Vec<RecipientRequest>> {
    /// More recipients, as at create (at most the per-call limit). Phones already in the
    /// campaign, or earlier in this list, are dropped as duplicates.
    #[serde(default)]
    #[schema(value_type = Option<Vec<RecipientRequest>>)]
    pub recipients: Option<L>,
    /// ISO 3166 alpha-2 country in which these recipients' phones without a country code are
    /// read, as at create.
    #[serde(default)]
    #[schema(pattern = r"^\s*(?:[A-Za-z]{2}\s*)?$")]
    pub default_country: Option<String>,
}

/// What an append needs to know of the draft it adds to.
#[derive(Debug, Clone)]
pub struct AppendTarget {
    /// The draft's name.
    pub name: String,
    /// Its template.
    pub message_template: String,
    /// Its sending numbers, in order.
    pub from_numbers: Vec<String>,
    /// Whether it sends only to numbers with granted consent.
    pub require_consent: bool,
}

impl<L> AppendRequest<L> {
    /// The create request these recipients would be checked as, had they come with the draft:
    /// its template, numbers and consent rule; the checks of create then apply unchanged.
    pub fn as_create(self, target: &AppendTarget) -> CampaignRequest<L> {
        CampaignRequest {
            agent_id: None,
            from_number: None,
            from_numbers: Some(target.from_numbers.clone()),
            name: Some(target.name.clone()),
            message_template: Some(target.message_template.clone()),
            recipients: self.recipients,
            schedule_type: Some(ScheduleType::Draft),
            scheduled_at: None,
            require_consent: Some(target.require_consent),
            default_country: self.default_country,
            // The draft keeps its own window setting; appends never change it.
            respect_send_window: None,
            send_window_reason: None,
        }
    }
}
