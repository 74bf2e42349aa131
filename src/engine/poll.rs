//! Asks Twilio for the status of accepted messages whose final status callback never came.
//!
//! Twilio does not resend a status callback it could not deliver, so without this a recipient
//! whose callback was lost would stay `queued` or `sent` (counted as pending or failed) after
//! the carrier delivered it. A message with a sid and no final status is fetched
//! `status_poll_after` after Twilio accepted it, then again with a doubling wait (at most
//! [`MAX_WAIT`]) until it is final or Twilio's horizon ([`HORIZON`], 72 hours after
//! acceptance) has passed; what Twilio answers goes through the same forward-only fold as a
//! callback (`apply_status_events`). Fetches are paced (`status_poll_rate` a second per node),
//! and each due poll is claimed in the store before it is made, so on a cluster one node polls
//! each message (docs/ARCHITECTURE.md §4).

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Shared;
use crate::domain::status::RecipientStatus;
use crate::store::{DuePoll, StatusEvent};

/// Twilio's horizon: after this long since acceptance a message's status is taken as it is.
pub const HORIZON: Duration = Duration::from_secs(72 * 3600);
/// The longest wait between two polls of one message.
pub const MAX_WAIT: Duration = Duration::from_secs(6 * 3600);
/// A poll found this late past the horizon (the poller was behind, or the message was
/// accepted before polling existed) is dropped without a request.
const LATE: Duration = Duration::from_secs(3600);
/// How long a claimed poll is held from other nodes: far longer than a batch of fetches takes.
const HOLD: Duration = Duration::from_secs(120);
/// How often the store is asked for due polls when none were due.
const IDLE: Duration = Duration::from_secs(1);

/// When to ask again about a message accepted at `accepted_at` that was not final at `now`:
/// after a wait as long as the message's age (so polls come `after`, 2×, 4×, … after
/// acceptance), at least `after` and at most [`MAX_WAIT`], and never later than the
/// [`HORIZON`]; `None` once the horizon is reached (the status stays as it is).
pub fn next_poll(
    accepted_at: OffsetDateTime,
    now: OffsetDateTime,
    after: Duration,
) -> Option<OffsetDateTime> {
    let horizon = accepted_at + HORIZON;
    if now >= horizon {
        return None;
    }
    let age: Duration = (now - accepted_at).try_into().unwrap_or(Duration::ZERO);
    let wait = age.max(after).min(MAX_WAIT).max(Duration::from_millis(1));
    Some((now + wait).min(horizon))
}

/// Whether a due poll is still worth a request: not long past the horizon.
fn worth_asking(accepted_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now <= accepted_at + HORIZON + LATE
}

/// The poller: claims due polls, fetches each at its pacing slot, stores what Twilio says and
/// when to ask next. Stops when the engine shuts down.
pub(super) async fn run(shared: Arc<Shared>) {
    let after = shared.config.status_poll_after;
    let rate = shared.config.status_poll_rate.max(0.01);
    let spacing = Duration::from_secs_f64(1.0 / rate);
    // One second's worth of fetches per claim (at least one).
    let batch = rate.ceil().clamp(1.0, 1000.0) as u32;
    let mut next_slot = Instant::now();
    loop {
        if shared.shutdown.is_cancelled() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let claimed = shared
            .store
            .claim_due_polls(now, now - after, now + HOLD, batch)
            .await;
        let polls = match claimed {
            Ok(polls) => polls,
            Err(e) => {
                tracing::error!(error = ?e, "claiming status polls failed");
                Vec::new()
            }
        };
        if polls.is_empty() {
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep(IDLE) => continue,
            }
        }
        // Polls long past the horizon (written before polling existed, or a poller far
        // behind) end without a request, and take no pacing slot.
        let (polls, stale): (Vec<DuePoll>, Vec<DuePoll>) = polls
            .into_iter()
            .partition(|p| worth_asking(p.accepted_at, now));
        let mut events = Vec::new();
        let mut schedule: Vec<(i64, Option<OffsetDateTime>)> =
            stale.iter().map(|p| (p.id, None)).collect();
        let mut fetches = JoinSet::new();
        for poll in polls {
            let slot = next_slot.max(Instant::now());
            next_slot = slot + spacing;
            let shared = shared.clone();
            fetches.spawn(async move {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return None,
                    _ = tokio::time::sleep_until(slot) => {},
                }
                Some(poll_one(&shared, poll, after).await)
            });
        }
        loop {
            let done = tokio::select! {
                // Stopping: requests in flight are dropped; their polls come due again after
                // the hold.
                _ = shared.shutdown.cancelled() => return,
                done = fetches.join_next() => done,
            };
            match done {
                None => break,
                Some(Ok(Some((event, next)))) => {
                    events.extend(event);
                    schedule.push(next);
                }
                Some(_) => {}
            }
        }
        store(&shared, &events, &schedule).await;
    }
}

/// Asks Twilio about one message: the status event to apply, if any, and when to ask next.
async fn poll_one(
    shared: &Shared,
    poll: DuePoll,
    after: Duration,
) -> (Option<StatusEvent>, (i64, Option<OffsetDateTime>)) {
    let now = OffsetDateTime::now_utc();
    let next = next_poll(poll.accepted_at, now, after);
    shared.metrics.status_polls.inc();
    let message = match shared.client.fetch(&poll.sid).await {
        Ok(message) => message,
        Err(e) => {
            shared.metrics.status_poll_errors.inc();
            tracing::warn!(recipient = poll.id, sid = %poll.sid, error = %e, "status poll failed; will ask again later");
            return (None, (poll.id, next));
        }
    };
    let Some(status) = RecipientStatus::from_twilio(&message.status) else {
        return (None, (poll.id, next));
    };
    if status.is_terminal() {
        tracing::info!(recipient = poll.id, sid = %poll.sid, status = status.as_str(), "status poll found a final status whose callback never came");
    }
    let event = StatusEvent {
        attempt_id: poll.attempt_id,
        sid: poll.sid,
        status,
        error_code: message.error_code.map(|c| c.to_string()),
        error_message: message.error_message,
    };
    let next = if status.is_terminal() { None } else { next };
    (Some(event), (poll.id, next))
}

/// Stores a batch of polls: the statuses through the callbacks' forward-only fold, then the
/// next poll times. A failure leaves the polls claimed: they come due again after [`HOLD`].
async fn store(
    shared: &Shared,
    events: &[StatusEvent],
    schedule: &[(i64, Option<OffsetDateTime>)],
) {
    let now = OffsetDateTime::now_utc();
    match shared.store.apply_status_events(events, now).await {
        Ok(moved) => {
            shared.metrics.status_poll_changes.inc_by(moved);
        }
        Err(e) => {
            tracing::error!(error = ?e, polls = events.len(), "storing polled statuses failed; they will be asked again");
            return;
        }
    }
    if let Err(e) = shared.store.schedule_polls(schedule).await {
        tracing::error!(error = ?e, polls = schedule.len(), "storing the next status polls failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);
    const MIN: Duration = Duration::from_secs(60);

    fn mins(n: u64) -> time::Duration {
        time::Duration::minutes(n as i64)
    }

    #[test]
    fn the_wait_doubles_with_the_age_then_holds_at_six_hours() {
        let after = 10 * MIN;
        // First poll at 10 min, then 20, 40, 80, 160, 320 min after acceptance...
        let mut now = T + mins(10);
        let mut times = Vec::new();
        for _ in 0..6 {
            now = next_poll(T, now, after).unwrap();
            times.push((now - T).whole_minutes());
        }
        assert_eq!(times, [20, 40, 80, 160, 320, 640]);
        // ...then every six hours.
        assert_eq!(next_poll(T, T + mins(640), after), Some(T + mins(1000)));
    }

    #[test]
    fn the_wait_is_never_shorter_than_the_first_delay() {
        // Polled early (the poller ran a claim ahead of time): still `after` from now.
        assert_eq!(next_poll(T, T + mins(1), 10 * MIN), Some(T + mins(11)));
        assert_eq!(next_poll(T, T, 10 * MIN), Some(T + mins(10)));
        // An acceptance time in the future (clock skew) counts as age zero.
        assert_eq!(next_poll(T, T - mins(5), 10 * MIN), Some(T + mins(5)));
    }

    #[test]
    fn polls_stop_at_twilios_horizon() {
        let after = 10 * MIN;
        let horizon = T + time::Duration::hours(72);
        // The last wait is cut to end at the horizon...
        assert_eq!(
            next_poll(T, horizon - time::Duration::hours(1), after),
            Some(horizon)
        );
        // ...and there nothing more is asked.
        assert_eq!(next_poll(T, horizon, after), None);
        assert_eq!(next_poll(T, horizon + mins(1), after), None);
        // Every poll of a message never final, from the first to the horizon: a bounded
        // number of requests.
        let mut now = T + mins(10);
        let mut polls = 1;
        while let Some(next) = next_poll(T, now, after) {
            now = next;
            polls += 1;
        }
        assert_eq!(now, horizon);
        assert_eq!(polls, 18);
        assert!(worth_asking(T, horizon));
        assert!(!worth_asking(T, horizon + time::Duration::hours(2)));
    }
}
