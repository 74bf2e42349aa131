//! The engine's wall clock: the real time, or (in tests) the real time moved by a settable
//! offset, so a test can jump to the hour a send window opens.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// What time the engine thinks it is. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The real clock.
    pub fn real() -> Self {
        Self::default()
    }

    /// Now, by this clock.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// From now on, this clock reads `at` (and runs on from there at the real pace).
    pub fn set(&self, at: OffsetDateTime) {
        let offset = (at - OffsetDateTime::now_utc()).whole_milliseconds();
        self.offset_ms
            .store(i64::try_from(offset).unwrap_or(0), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_set_clock_reads_the_time_set_and_clones_follow() {
        let clock = Clock::real();
        let other = clock.clone();
        let at = time::macros::datetime!(2031-07-01 03:00 UTC);
        clock.set(at);
        let read = other.now();
        assert!((read - at).abs() < time::Duration::seconds(5), "{read}");
    }
}
