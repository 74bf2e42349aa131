//! The status machines of recipients and campaigns, and counts derived from recipients.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where one recipient's message stands. Moves only forward (see [`RecipientStatus::rank`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    /// Stored by Herald, not yet handed to Twilio.
    Pending,
    /// Accepted by Twilio's API, waiting in its queue.
    Queued,
    /// Twilio handed it to the carrier; no delivery confirmation (counted as failed).
    Sent,
    /// The carrier confirmed delivery to the handset.
    Delivered,
    /// The carrier rejected it.
    Undelivered,
    /// Twilio (or Herald, before submission) failed it.
    Failed,
    /// The campaign was cancelled before this recipient was sent.
    Cancelled,
}

impl RecipientStatus {
    /// Every status, in rank order.
    pub const ALL: [RecipientStatus; 7] = [
        Self::Pending,
        Self::Queued,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Maps a Twilio `MessageStatus` onto Herald's statuses (docs/ARCHITECTURE.md §3).
    /// `None` for statuses that say nothing about an outbound message (`receiving`, …).
    pub fn from_twilio(raw: &str) -> Option<Self> {
        Some(match raw {
            "accepted" | "scheduled" | "queued" | "sending" => Self::Queued,
            "sent" => Self::Sent,
            "delivered" | "read" => Self::Delivered,
            "undelivered" => Self::Undelivered,
            "failed" | "canceled" => Self::Failed,
            _ => return None,
        })
    }

    /// Order of progress: a status may only be replaced by one of higher rank,
    /// so late, repeated and reordered callbacks never move a recipient back.
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Queued => 1,
            Self::Sent => 2,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Cancelled => 3,
        }
    }

    /// True when `next` may replace `self`.
    pub fn can_become(self, next: Self) -> bool {
        next.rank() > self.rank()
    }

    /// Nothing more will happen to this recipient.
    pub fn is_terminal(self) -> bool {
        self.rank() == 3
    }
}

/// A campaign's lifecycle (spec page "Campaign status", plus `cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Created but not launched.
    Draft,
    /// Will launch at `scheduled_at`.
    Scheduled,
    /// Currently sending.
    Running,
    /// Paused by the user: nothing more is sent until it is resumed (requests already in
    /// flight finish and are tracked; callbacks keep updating the counts).
    Paused,
    /// No recipient left to submit.
    Done,
    /// Every recipient failed at submission.
    Failed,
    /// Cancelled by the user; unsent recipients became `cancelled`.
    Cancelled,
}

impl CampaignStatus {
    /// Every status.
    pub const ALL: [CampaignStatus; 7] = [
        Self::Draft,
        Self::Scheduled,
        Self::Running,
        Self::Paused,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Cancel (DELETE) applies to campaigns that have not finished.
    pub fn is_cancellable(self) -> bool {
        matches!(
            self,
            Self::Draft | Self::Scheduled | Self::Running | Self::Paused
        )
    }

    /// A resend may be made of a campaign that will send nothing more.
    pub fn may_resend(self) -> Result<(), TransitionRefused> {
        if self.is_finished() {
            Ok(())
        } else {
            Err(TransitionRefused(format!(
                "the campaign is {}; only a done, failed or cancelled campaign can be resent",
                self.as_str()
            )))
        }
    }

    /// The campaign will send nothing more.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// What launching a campaign in this status makes it: only a draft can be launched; it
    /// runs now, or is `scheduled` when its `scheduled_at` is still to come.
    pub fn launch(
        self,
        scheduled_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionRefused> {
        if self != Self::Draft {
            return Err(TransitionRefused(format!(
                "the campaign is {}; only a draft can be launched",
                self.as_str()
            )));
        }
        Ok(match scheduled_at {
            Some(at) if at > now => Self::Scheduled,
            _ => Self::Running,
        })
    }

    /// What cancelling a campaign in this status makes it: `cancelled`, unless it already
    /// finished.
    pub fn cancel(self) -> Result<Self, TransitionRefused> {
        if !self.is_cancellable() {
            return Err(TransitionRefused(format!(
                "the campaign is {} and cannot be cancelled",
                self.as_str()
            )));
        }
        Ok(Self::Cancelled)
    }

    /// What pausing a campaign in this status makes it: only a running or scheduled campaign
    /// can be paused.
    pub fn pause(self) -> Result<Self, TransitionRefused> {
        match self {
            Self::Running | Self::Scheduled => Ok(Self::Paused),
            Self::Paused => Err(TransitionRefused("the campaign is already paused".into())),
            other => Err(TransitionRefused(format!(
                "the campaign is {}; only a running or scheduled campaign can be paused",
                other.as_str()
            ))),
        }
    }

    /// What resuming a campaign in this status makes it: only a paused campaign resumes; it
    /// runs again, or is `scheduled` when its `scheduled_at` is still to come.
    pub fn resume(
        self,
        scheduled_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionRefused> {
        if self != Self::Paused {
            return Err(TransitionRefused(format!(
                "the campaign is {}; only a paused campaign can be resumed",
                self.as_str()
            )));
        }
        Ok(match scheduled_at {
            Some(at) if at > now => Self::Scheduled,
            _ => Self::Running,
        })
    }
}

/// A status change the campaign's lifecycle does not allow; the message says why (the API
/// shows it with 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransitionRefused(pub String);

/// Why a sending number cannot be deleted: an unfinished (draft, scheduled or running)
/// campaign sends from it.
pub fn number_in_use(phone: &str, campaign: &str) -> TransitionRefused {
    TransitionRefused(format!("{phone} sends for unfinished campaign {campaign}"))
}

/// Why a recipient fails without being sent: its code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The error code stored (and shown) for the recipient.
    pub code: &'static str,
    /// Its explanation.
    pub message: &'static str,
}

/// The recipient opted out of the account (checked at create and again at claim).
pub const OPTED_OUT: Refusal = Refusal {
    code: "opted_out",
    message: "the recipient opted out of messages from this account",
};

/// A `require_consent` campaign and a number without granted consent.
pub const NO_CONSENT: Refusal = Refusal {
    code: "no_consent",
    message: "the campaign requires consent and this number has no granted consent record",
};

/// The recipient already got the account's daily cap of campaign messages in the last 24
/// hours (checked at claim: docs/ARCHITECTURE.md §4).
pub const FREQUENCY_CAPPED: Refusal = Refusal {
    code: "frequency_capped",
    message: "the recipient already got the account's maximum of campaign messages for 24 hours",
};

impl Refusal {
    /// Why a new recipient fails at once, if it does: opted out first, then no consent.
    pub fn of_new(opted_out: bool, no_consent: bool) -> Option<Self> {
        if opted_out {
            Some(OPTED_OUT)
        } else if no_consent {
            Some(NO_CONSENT)
        } else {
            None
        }
    }
}

/// Where a campaign was created: the product page's `source` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Created through `POST /v1/sms/campaigns`.
    Api,
    /// Created from the dashboard's form.
    Dashboard,
}

impl Source {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Dashboard => "dashboard",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "api" => Some(Self::Api),
            "dashboard" => Some(Self::Dashboard),
            _ => None,
        }
    }
}

/// A campaign's counts, always computed from its recipients' statuses
/// (spec page "How counts are calculated").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// All recipients.
    pub total_count: u64,
    /// Recipients with status `delivered`.
    pub delivered_count: u64,
    /// Recipients with status `failed`, `undelivered` or `sent`.
    pub failed_count: u64,
    /// Recipients with status `pending` or `queued`.
    pub pending_count: u64,
    /// Recipients never sent because the campaign was cancelled.
    pub cancelled_count: u64,
}

impl Counts {
    /// Adds `n` recipients with status `status`.
    pub fn add(&mut self, status: RecipientStatus, n: u64) {
        self.total_count += n;
        match status {
            RecipientStatus::Delivered => self.delivered_count += n,
            RecipientStatus::Failed | RecipientStatus::Undelivered | RecipientStatus::Sent => {
                self.failed_count += n
            }
            RecipientStatus::Pending | RecipientStatus::Queued => self.pending_count += n,
            RecipientStatus::Cancelled => self.cancelled_count += n,
        }
    }

    /// Counts from (status, number of recipients) pairs, as a GROUP BY returns them.
    pub fn from_groups(groups: impl IntoIterator<Item = (RecipientStatus, u64)>) -> Self {
        let mut counts = Self::default();
        for (status, n) in groups {
            counts.add(status, n);
        }
        counts
    }
}

/// A delivery status reported by Twilio's status callback.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    /// The attempt id from the callback URL, when present.
    pub attempt_id: Option<String>,
    /// Twilio's message sid.
    pub sid: String,
    /// Mapped status.
    pub status: RecipientStatus,
    /// Twilio's error code (failed/undelivered).
    pub error_code: Option<String>,
    /// Twilio's error message, if sent.
    pub error_message: Option<String>,
}

/// A recipient as [`fold_status_events`] reads it: what a status callback may change, and
/// what it is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    /// Row id.
    pub id: i64,
    /// The current attempt.
    pub attempt_id: Option<String>,
    /// Twilio's message sid, once known.
    pub twilio_sid: Option<String>,
    /// Current status.
    pub status: RecipientStatus,
    /// Error code, if any.
    pub error_code: Option<String>,
    /// Error message, if any.
    pub error_message: Option<String>,
}

/// Applies a batch of status callbacks, one after the other in the order given, to the rows
/// they may name (every row whose sid or attempt id some event carries), in memory; returns
/// the rows that moved, with their final values, by id.
///
/// This is the meaning of applying status events for any batch, which both stores write back
/// in one statement: an event finds its row by sid (the lowest id, should two rows carry
/// it), or else by attempt id (a callback can beat the stored answer of the request that
/// created the message); it moves the row only forward (a higher rank), sets the sid if the
/// row had none, and keeps earlier error details unless it brings its own. So an event can
/// find a row by a sid that an earlier event of the same batch gave it, error details of an
/// earlier event survive a later one without any, and a row moved twice is one row moved.
pub fn fold_status_events(rows: Vec<StatusRow>, events: &[StatusEvent]) -> Vec<StatusRow> {
    let mut rows = rows;
    rows.sort_by_key(|r| r.id);
    rows.dedup_by_key(|r| r.id);
    let mut moved = vec![false; rows.len()];
    // Rows by sid (the first, i.e. lowest id, of those carrying it) and by attempt id.
    let mut by_sid: HashMap<String, usize> = HashMap::new();
    let mut by_attempt: HashMap<String, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(sid) = &r.twilio_sid {
            by_sid.entry(sid.clone()).or_insert(i);
        }
        if let Some(attempt) = &r.attempt_id {
            by_attempt.entry(attempt.clone()).or_insert(i);
        }
    }
    for e in events {
        let found = by_sid.get(&e.sid).or_else(|| {
            e.attempt_id
                .as_deref()
                .and_then(|attempt| by_attempt.get(attempt))
        });
        let Some(&i) = found else { continue };
        let row = &mut rows[i];
        if !row.status.can_become(e.status) {
            continue;
        }
        row.status = e.status;
        if row.twilio_sid.is_none() {
            row.twilio_sid = Some(e.sid.clone());
            let first = by_sid.entry(e.sid.clone()).or_insert(i);
            *first = (*first).min(i);
        }
        if e.error_code.is_some() {
            row.error_code.clone_from(&e.error_code);
        }
        if e.error_message.is_some() {
            row.error_message.clone_from(&e.error_message);
        }
        moved[i] = true;
    }
    rows.into_iter()
        .zip(moved)
        .filter_map(|(row, moved)| moved.then_some(row))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecipientStatus::*;

    #[test]
    fn counts_follow_the_spec_table() {
        let c = Counts::from_groups([
            (Pending, 1),
            (Queued, 2),
            (Sent, 4),
            (Delivered, 8),
            (Undelivered, 16),
            (Failed, 32),
            (Cancelled, 64),
        ]);
        assert_eq!(c.total_count, 127);
        assert_eq!(c.delivered_count, 8);
        assert_eq!(c.failed_count, 4 + 16 + 32);
        assert_eq!(c.pending_count, 3);
        assert_eq!(c.cancelled_count, 64);
    }

    #[test]
    fn statuses_only_move_forward() {
        assert!(Pending.can_become(Queued));
        assert!(Queued.can_become(Sent));
        assert!(Sent.can_become(Delivered));
        assert!(Queued.can_become(Delivered));
        assert!(!Delivered.can_become(Sent));
        assert!(!Delivered.can_become(Failed));
        assert!(!Sent.can_become(Queued));
        assert!(!Sent.can_become(Sent));
    }

    #[test]
    fn twilio_statuses_map_as_designed() {
        for s in ["accepted", "scheduled", "queued", "sending"] {
            assert_eq!(RecipientStatus::from_twilio(s), Some(Queued));
        }
        assert_eq!(RecipientStatus::from_twilio("read"), Some(Delivered));
        assert_eq!(RecipientStatus::from_twilio("sent"), Some(Sent));
        assert_eq!(RecipientStatus::from_twilio("receiving"), None);
    }

    #[test]
    fn names_round_trip() {
        for s in RecipientStatus::ALL {
            assert_eq!(RecipientStatus::parse(s.as_str()), Some(s));
        }
        for s in CampaignStatus::ALL {
            assert_eq!(CampaignStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn only_a_draft_launches_and_a_future_time_schedules() {
        let now = time::macros::datetime!(2026-01-01 12:00 UTC);
        let later = now + time::Duration::minutes(1);
        let draft = CampaignStatus::Draft;
        assert_eq!(draft.launch(None, now), Ok(CampaignStatus::Running));
        assert_eq!(draft.launch(Some(now), now), Ok(CampaignStatus::Running));
        assert_eq!(
            draft.launch(Some(later), now),
            Ok(CampaignStatus::Scheduled)
        );
        assert_eq!(
            CampaignStatus::Running.launch(None, now),
            Err(TransitionRefused(
                "the campaign is running; only a draft can be launched".into()
            ))
        );
    }

    #[test]
    fn only_unfinished_campaigns_cancel() {
        for s in [
            CampaignStatus::Draft,
            CampaignStatus::Scheduled,
            CampaignStatus::Running,
        ] {
            assert_eq!(s.cancel(), Ok(CampaignStatus::Cancelled));
        }
        assert_eq!(
            CampaignStatus::Done.cancel(),
            Err(TransitionRefused(
                "the campaign is done and cannot be cancelled".into()
            ))
        );
        assert!(CampaignStatus::Cancelled.cancel().is_err());
        assert_eq!(
            number_in_use("+447700900001", "cmp_1").to_string(),
            "+447700900001 sends for unfinished campaign cmp_1"
        );
    }

    #[test]
    fn running_and_scheduled_campaigns_pause_and_paused_ones_resume() {
        let now = time::macros::datetime!(2026-01-01 12:00 UTC);
        let later = now + time::Duration::minutes(1);
        for s in [CampaignStatus::Running, CampaignStatus::Scheduled] {
            assert_eq!(s.pause(), Ok(CampaignStatus::Paused));
        }
        for s in [
            CampaignStatus::Draft,
            CampaignStatus::Done,
            CampaignStatus::Failed,
            CampaignStatus::Cancelled,
        ] {
            assert_eq!(
                s.pause(),
                Err(TransitionRefused(format!(
                    "the campaign is {}; only a running or scheduled campaign can be paused",
                    s.as_str()
                )))
            );
        }
        assert!(CampaignStatus::Paused.pause().is_err());
        let paused = CampaignStatus::Paused;
        assert_eq!(paused.resume(None, now), Ok(CampaignStatus::Running));
        assert_eq!(paused.resume(Some(now), now), Ok(CampaignStatus::Running));
        assert_eq!(
            paused.resume(Some(later), now),
            Ok(CampaignStatus::Scheduled)
        );
        assert_eq!(
            CampaignStatus::Running.resume(None, now),
            Err(TransitionRefused(
                "the campaign is running; only a paused campaign can be resumed".into()
            ))
        );
        assert_eq!(paused.cancel(), Ok(CampaignStatus::Cancelled));
    }

    #[test]
    fn only_finished_campaigns_are_resent() {
        for s in CampaignStatus::ALL {
            assert_eq!(s.may_resend().is_ok(), s.is_finished(), "{s:?}");
        }
    }

    #[test]
    fn a_new_recipient_fails_for_its_opt_out_first() {
        assert_eq!(Refusal::of_new(true, true), Some(OPTED_OUT));
        assert_eq!(Refusal::of_new(false, true), Some(NO_CONSENT));
        assert_eq!(Refusal::of_new(false, false), None);
    }

    fn row(id: i64, attempt: &str, sid: Option<&str>, status: RecipientStatus) -> StatusRow {
        StatusRow {
            id,
            attempt_id: Some(attempt.into()),
            twilio_sid: sid.map(Into::into),
            status,
            error_code: None,
            error_message: None,
        }
    }

    fn event(sid: &str, attempt: Option<&str>, status: RecipientStatus) -> StatusEvent {
        StatusEvent {
            attempt_id: attempt.map(Into::into),
            sid: sid.into(),
            status,
            error_code: None,
            error_message: None,
        }
    }

    #[test]
    fn status_events_fold_forward_only_and_find_rows_by_sid_then_attempt() {
        let rows = vec![row(1, "a1", None, Pending), row(2, "a2", Some("SM2"), Sent)];
        let mut failed = event("SM1", Some("a1"), Undelivered);
        failed.error_code = Some("30003".into());
        let events = [
            // By attempt id (no sid yet), then by the sid the first event gave it.
            event("SM1", Some("a1"), Queued),
            failed,
            event("SM1", None, Delivered),
            // Backwards: nothing moves.
            event("SM2", None, Queued),
        ];
        let moved = fold_status_events(rows, &events);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].id, 1);
        assert_eq!(moved[0].twilio_sid.as_deref(), Some("SM1"));
        assert_eq!(moved[0].status, Undelivered);
        assert_eq!(moved[0].error_code.as_deref(), Some("30003"));
    }
}
