//! The status machines of recipients and campaigns, and counts derived from recipients.

use serde::{Deserialize, Serialize};

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
    /// No recipient left to submit.
    Done,
    /// Every recipient failed at submission.
    Failed,
    /// Cancelled by the user; unsent recipients became `cancelled`.
    Cancelled,
}

impl CampaignStatus {
    /// Every status.
    pub const ALL: [CampaignStatus; 6] = [
        Self::Draft,
        Self::Scheduled,
        Self::Running,
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
        matches!(self, Self::Draft | Self::Scheduled | Self::Running)
    }

    /// The campaign will send nothing more.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
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
}
