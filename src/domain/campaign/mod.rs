//! A campaign request, the one analysis pass over it, and the all-or-nothing validation
//! (create) and the report (preview) built from that analysis.

mod analysis;
mod append;
mod check;
mod request;
mod shape;

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::FieldError;
use super::phone::Phone;
use super::segments::Encoding;

pub use analysis::{CampaignAnalysis, CampaignPlan, analyse, plan};
pub use append::{AppendRequest, AppendTarget};
pub use check::{RecipientChecker, RecipientOutcome, RenderedMessage, SendableRecipient};
pub use request::{
    BorrowedStr, CAMPAIGN_FIELDS, CampaignRequest, JsonEntry, PARSE_ONLY_FIELDS, RECIPIENT_FIELDS,
    RecipientInput, RecipientRef, RecipientRequest, Recipients, RecipientsJson, ScheduleType,
};
pub use shape::MisshapenRequest;

/// Twilio's limit on a message body, in characters.
pub const MAX_BODY_CHARS: usize = 1_600;
/// Longest campaign name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// What validation needs to know about the account, gathered by the caller.
#[derive(Debug, Default)]
pub struct AccountContext {
    /// Ids of the account's agents.
    pub agents: HashSet<String>,
    /// The account's sending numbers (E.164) and each one's default agent.
    pub numbers: HashMap<String, Option<String>>,
    /// Numbers that opted out of the account.
    pub opted_out: HashSet<String>,
    /// Numbers whose latest consent record is `granted`; read only for requests with
    /// `require_consent` (empty otherwise).
    pub consented: HashSet<String>,
}

/// Limits that protect the service; configurable per deployment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most recipients in one call.
    pub max_recipients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_recipients: 100_000,
        }
    }
}

/// When the validated campaign starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Running from now.
    Now,
    /// Scheduled for a future time.
    At(OffsetDateTime),
    /// A draft, optionally with the time it will start when launched.
    Draft(Option<OffsetDateTime>),
}

/// A recipient ready to store: number parsed, message rendered and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecipient {
    /// Where the message goes.
    pub phone: Phone,
    /// The variables exactly as given.
    pub variables: Map<String, Value>,
    /// The rendered message.
    pub body: String,
    /// Twilio segments the body takes (pacing and cost count these).
    pub segments: u32,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// The number that sends it.
    pub from_number: Phone,
    /// The number opted out: kept, never sent, reported as failed with `opted_out`.
    pub opted_out: bool,
    /// The campaign requires consent and the number has none: kept, never sent, reported as
    /// failed with `no_consent`.
    pub no_consent: bool,
}

/// A duplicate phone dropped from a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Duplicate {
    /// Index in the request's `recipients` of the dropped entry.
    pub index: usize,
    /// The phone, normalised.
    pub phone: String,
    /// Index of the entry that was kept.
    pub first_index: usize,
}

/// A campaign request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidCampaign {
    /// Campaign name.
    pub name: String,
    /// The template as given.
    pub message_template: String,
    /// The agent answering replies.
    pub agent_id: Option<String>,
    /// The sending numbers, in the order given.
    pub from_numbers: Vec<Phone>,
    /// When it starts.
    pub schedule: Schedule,
    /// Recipients after de-duplication, in request order.
    pub recipients: Vec<NewRecipient>,
    /// Entries dropped because their phone appeared earlier.
    pub duplicates: Vec<Duplicate>,
    /// Sends only to numbers with granted consent.
    pub require_consent: bool,
}

/// Checks everything about a request at once: either a campaign that can be stored
/// as is, or every problem found, each with its field path. Nothing is partial.
///
/// This is [`analyse`] followed by [`CampaignAnalysis::into_valid`]; the preview endpoint runs
/// the same analysis and reports it instead of refusing.
pub fn validate<L: Recipients>(
    req: &CampaignRequest<L>,
    ctx: &AccountContext,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<ValidCampaign, Vec<FieldError>> {
    analyse(req, ctx, limits, now).into_valid()
}

#[cfg(test)]
mod tests;
