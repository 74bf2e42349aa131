//! A campaign's estimated finish and send rate (docs/ARCHITECTURE.md §4): the store's caches
//! of what waits on each sending number, in `domain::eta`'s arithmetic.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::ServiceResult;
use crate::domain::eta::{self, Lane, Queue};
use crate::domain::ids::AccountId;
use crate::domain::status::CampaignStatus;
use crate::store::{Campaign, CampaignTallies, Store};

/// How far a running or scheduled campaign has to go.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Progress {
    /// When its last message is expected to leave (RFC 3339, UTC, milliseconds): from its
    /// messages still to send on each sending number, the number's rate and the other running
    /// campaigns taking turns on it; a held recipient counts from when its hold ends. Null
    /// unless the campaign is running or scheduled.
    #[serde(with = "crate::service::views::timestamp::option")]
    pub estimated_finish_at: Option<OffsetDateTime>,
    /// Messages per second the campaign is given now: each sending number's rate, shared in
    /// turns with the other running campaigns on it, in messages of this campaign's length
    /// (the pacing the engine applies, not a measurement). Null unless it is running.
    pub send_rate: Option<f64>,
}

/// The progress of the account's `campaign` (with its `tallies`) at `now`.
pub async fn progress(
    store: &dyn Store,
    account: &AccountId,
    campaign: &Campaign,
    tallies: &CampaignTallies,
    now: OffsetDateTime,
) -> ServiceResult<Progress> {
    let start = match campaign.status {
        CampaignStatus::Running => now,
        CampaignStatus::Scheduled => campaign.scheduled_at.unwrap_or(now).max(now),
        _ => return Ok(Progress::default()),
    };
    let loads = store.number_loads(account, &campaign.from_numbers).await?;
    let lanes: Vec<Lane> = loads
        .iter()
        .map(|load| {
            let own = tallies
                .queues
                .iter()
                .find(|q| q.from_number == load.phone)
                .map(|q| Queue {
                    messages: q.pending,
                    segments: q.segments,
                })
                .unwrap_or_default();
            Lane {
                mps: load.mps,
                own,
                others: load
                    .campaigns
                    .iter()
                    .filter(|c| c.seq != campaign.seq)
                    .map(|c| Queue {
                        messages: c.pending,
                        segments: c.segments,
                    })
                    .collect(),
            }
        })
        .collect();
    let delay = (start - now).as_seconds_f64();
    let estimate = eta::estimate(&lanes, delay);
    let mut seconds = estimate.map_or(delay, |e| e.seconds);
    // Held recipients go when the last hold ends, at their number's full rate.
    if let Some(ends) = tallies.last_hold_ends {
        let from = (ends - now).as_seconds_f64().max(delay);
        for q in tallies.queues.iter().filter(|q| q.held > 0) {
            let mps = loads
                .iter()
                .find(|l| l.phone == q.from_number)
                .map_or(1.0, |l| l.mps);
            seconds = seconds.max(from + eta::held(q.held, mps));
        }
    }
    let send_rate = (campaign.status == CampaignStatus::Running)
        .then(|| estimate.map_or(0.0, |e| (e.rate * 100.0).round() / 100.0));
    Ok(Progress {
        estimated_finish_at: Some(now + Duration::milliseconds((seconds * 1_000.0).ceil() as i64)),
        send_rate,
    })
}

/// How long a new campaign of `messages` (`segments` in all) would take sent alone from
/// `from_numbers` (the account's rates; 1 for a number it does not have), and its rate:
/// what the preview says before anything is stored.
pub async fn alone(
    app: &super::App,
    account: &AccountId,
    from_numbers: &[String],
    messages: u64,
    segments: u64,
) -> ServiceResult<Option<eta::Estimate>> {
    if messages == 0 || from_numbers.is_empty() {
        return Ok(None);
    }
    let loads = app.store.number_loads(account, from_numbers).await?;
    let rates: Vec<f64> = loads.iter().map(|l| l.mps).collect();
    Ok(eta::alone(messages, segments, &rates))
}
