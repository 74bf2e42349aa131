//! Per-number pacing: the k-th segment a number sends leaves no earlier than `start + k / mps`.
//!
//! One `Pacer` per sending number, shared by every campaign that uses the number (and
//! kept across lane restarts, so a lane that stops and starts again cannot burst).
//! It is plain arithmetic over `tokio::time::Instant`, so tests run it on a paused clock.
//!
//! Spacing alone is exact at the sender but not at the carrier: a request delayed by a few
//! milliseconds on its way can land in the same one-second window as one sent a second after
//! it. So a second rule guards the window as the carrier sees it: a message may leave only if
//! the segments still in flight plus those Twilio acknowledged within the last second leave
//! room for it. A request's arrival lies between its departure and its acknowledgement, so
//! this bound holds whatever the network's jitter.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How long a 429 halves a number's rate.
pub const SLOW_DOWN_FOR: Duration = Duration::from_secs(60);

/// Above this rate the window guard is skipped (its bookkeeping would grow with the rate,
/// and jitter is negligible against such a budget).
const WINDOW_GUARD_MAX_MPS: f64 = 1_000.0;
/// The window the carrier counts its rate over.
const WINDOW: Duration = Duration::from_secs(1);

/// The slot book of one sending number.
#[derive(Debug, Clone)]
pub struct Pacer {
    mps: f64,
    next_free: Option<Instant>,
    slow_until: Option<Instant>,
    paused_until: Option<Instant>,
    /// Segments sent and not yet acknowledged.
    in_flight: u32,
    /// Acknowledged sends of the last second: (acknowledged at, segments), oldest first.
    acknowledged: VecDeque<(Instant, u32)>,
    acknowledged_segments: u32,
}

impl Pacer {
    /// A pacer allowing `mps` segments per second (non-positive or non-finite rates mean 1.0).
    pub fn new(mps: f64) -> Self {
        Self {
            mps: sanitize(mps),
            next_free: None,
            slow_until: None,
            paused_until: None,
            in_flight: 0,
            acknowledged: VecDeque::new(),
            acknowledged_segments: 0,
        }
    }

    /// Changes the rate from the next reservation on (a number's `mps` was edited).
    pub fn set_mps(&mut self, mps: f64) {
        self.mps = sanitize(mps);
    }

    /// The configured rate.
    pub fn mps(&self) -> f64 {
        self.mps
    }

    /// The rate in force at `now` (halved while slowed down after a 429).
    pub fn effective_mps(&self, now: Instant) -> f64 {
        match self.slow_until {
            Some(until) if now < until => self.mps / 2.0,
            _ => self.mps,
        }
    }

    /// Books the next slot for a message of `segments` segments and returns when it may
    /// leave. The message takes `segments` slots: the one after it leaves
    /// `segments / mps` seconds later. An idle number starts again from `now`.
    pub fn reserve(&mut self, segments: u32, now: Instant) -> Instant {
        let mut at = self.next_free.map_or(now, |t| t.max(now));
        if let Some(p) = self.paused_until {
            at = at.max(p);
        }
        let cost = segments.max(1) as f64 / self.effective_mps(at);
        self.next_free = Some(at + Duration::from_secs_f64(cost));
        at
    }

    /// Gives back the slot reserved at `at` for a message that will not be sent after all,
    /// when nothing was booked after it.
    pub fn unreserve(&mut self, at: Instant, segments: u32) {
        let cost = Duration::from_secs_f64(segments.max(1) as f64 / self.effective_mps(at));
        if self.next_free == Some(at + cost) {
            self.next_free = Some(at);
        }
    }

    /// Twilio answered 429 for this number: halve its rate for a while and leave a gap.
    pub fn slow_down(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.slow_until = Some(now + SLOW_DOWN_FOR);
        let gap = retry_after.unwrap_or(Duration::from_secs(1));
        self.next_free = Some(self.next_free.map_or(now, |t| t.max(now)) + gap);
    }

    /// The window guard: `Ok` if a message of `segments` may leave at `now`, else the
    /// earliest time worth asking again.
    pub fn window_ready(&mut self, segments: u32, now: Instant) -> Result<(), Instant> {
        let mps = self.effective_mps(now);
        if mps >= WINDOW_GUARD_MAX_MPS {
            return Ok(());
        }
        while let Some(&(at, s)) = self.acknowledged.front() {
            if at + WINDOW <= now {
                self.acknowledged.pop_front();
                self.acknowledged_segments -= s;
            } else {
                break;
            }
        }
        let used = self.in_flight + self.acknowledged_segments;
        let capacity = (mps.floor() as u32).max(1);
        if used == 0 || used + segments.max(1) <= capacity {
            return Ok(());
        }
        Err(match self.acknowledged.front() {
            Some(&(at, _)) => (at + WINDOW).min(now + Duration::from_millis(5)),
            // Only unacknowledged sends hold the window: look again shortly.
            None => now + Duration::from_millis(2),
        })
    }

    /// A message of `segments` leaves now.
    pub fn depart(&mut self, segments: u32) {
        self.in_flight += segments.max(1);
    }

    /// Twilio answered the request of a message of `segments` at `now`.
    pub fn acknowledge(&mut self, segments: u32, now: Instant) {
        let s = segments.max(1);
        self.in_flight = self.in_flight.saturating_sub(s);
        if self.mps < WINDOW_GUARD_MAX_MPS {
            self.acknowledged.push_back((now, s));
            self.acknowledged_segments += s;
        }
    }

    /// Sends nothing on this number until `until` (configuration errors, Twilio's queue full).
    pub fn pause(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }
}

fn sanitize(mps: f64) -> f64 {
    if mps.is_finite() && mps > 0.0 {
        mps
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` messages of `segments` through `pacer` on tokio's paused clock and
    /// returns each departure time relative to the start.
    async fn run(pacer: &mut Pacer, n: usize, segments: u32) -> Vec<Duration> {
        let start = Instant::now();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = pacer.reserve(segments, Instant::now());
            tokio::time::sleep_until(slot).await;
            while let Err(t) = pacer.window_ready(segments, Instant::now()) {
                tokio::time::sleep_until(t).await;
            }
            pacer.depart(segments);
            out.push(Instant::now() - start);
            pacer.acknowledge(segments, Instant::now());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_messages_at_one_per_second_take_999_seconds() {
        let mut pacer = Pacer::new(1.0);
        let times = run(&mut pacer, 1000, 1).await;
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(*times.last().unwrap(), Duration::from_secs(999));
        for (k, t) in times.iter().enumerate() {
            assert!(
                *t >= Duration::from_secs(k as u64),
                "message {k} left at {t:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ten_numbers_send_in_parallel() {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            tasks.push(tokio::spawn(async {
                let mut pacer = Pacer::new(1.0);
                run(&mut pacer, 100, 1).await
            }));
        }
        for t in tasks {
            let times = t.await.unwrap();
            assert_eq!(*times.last().unwrap(), Duration::from_secs(99));
        }
        // 1,000 messages over ten numbers at 1/s each: 99.9 s ideal (99 s for 100 each).
        assert!(Instant::now() - start <= Duration::from_millis(99_900));
    }

    #[tokio::test(start_paused = true)]
    async fn multi_segment_messages_take_several_slots() {
        let mut pacer = Pacer::new(1.0);
        let times = run(&mut pacer, 3, 2).await;
        assert_eq!(
            times,
            [
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
        // At 10 segments/s a 3-segment message takes 0.3 s of the number's time.
        let mut pacer = Pacer::new(10.0);
        let times = run(&mut pacer, 2, 3).await;
        assert_eq!(times[1], Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_number_restarts_from_now_without_a_burst_of_credit() {
        let mut pacer = Pacer::new(1.0);
        run(&mut pacer, 2, 1).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        let times = run(&mut pacer, 3, 1).await;
        assert_eq!(
            times,
            [
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
        assert!(Instant::now() - start == Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_rate_for_a_while() {
        let mut pacer = Pacer::new(2.0);
        let now = Instant::now();
        pacer.slow_down(now, None);
        let first = pacer.reserve(1, now);
        assert_eq!(first - now, Duration::from_secs(1));
        let second = pacer.reserve(1, now);
        assert_eq!(second - first, Duration::from_secs(1)); // 1/s instead of 2/s
        let later = now + SLOW_DOWN_FOR + Duration::from_secs(1);
        let a = pacer.reserve(1, later);
        let b = pacer.reserve(1, later);
        assert_eq!(b - a, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_and_unreserve() {
        let mut pacer = Pacer::new(1.0);
        let now = Instant::now();
        pacer.pause(now + Duration::from_secs(30));
        let at = pacer.reserve(1, now);
        assert_eq!(at - now, Duration::from_secs(30));
        pacer.unreserve(at, 1);
        assert_eq!(pacer.reserve(1, now), at);
        assert_eq!(Pacer::new(f64::NAN).mps(), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_guard_absorbs_a_late_acknowledgement() {
        let mut pacer = Pacer::new(2.0);
        let t0 = Instant::now();
        // Two sends leave on time; the first is acknowledged late (slow network).
        assert!(pacer.window_ready(1, t0).is_ok());
        pacer.depart(1);
        pacer.acknowledge(1, t0 + Duration::from_millis(300));
        let t1 = t0 + Duration::from_millis(500);
        assert!(pacer.window_ready(1, t1).is_ok());
        pacer.depart(1);
        pacer.acknowledge(1, t1 + Duration::from_millis(1));
        // The third may not leave at t0 + 1 s: the first may have arrived as late as t0 + 0.3 s.
        let t2 = t0 + Duration::from_secs(1);
        let wait = pacer.window_ready(1, t2).unwrap_err();
        assert!(wait <= t0 + Duration::from_millis(1300));
        assert!(
            pacer
                .window_ready(1, t0 + Duration::from_millis(1300))
                .is_ok()
        );
        // Unacknowledged sends hold the window until Twilio answers.
        let mut busy = Pacer::new(1.0);
        busy.depart(1);
        assert!(busy.window_ready(1, t0 + Duration::from_secs(5)).is_err());
        busy.acknowledge(1, t0 + Duration::from_secs(5));
        assert!(busy.window_ready(1, t0 + Duration::from_secs(6)).is_ok());
    }
}
