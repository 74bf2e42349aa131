//! How long a campaign has left: its messages still to send on each sending number, that
//! number's rate and the other campaigns waiting on it, taking turns (docs/ARCHITECTURE.md §4).
//!
//! The model follows the engine. A number sends `mps` segments a second, whichever campaign
//! they belong to; the running campaigns on a number take turns one message each. So while
//! a campaign still has `M` messages on a number, another campaign with `m` messages there
//! sends `min(m, M)` of them in the same time (those with fewer finish first and leave the
//! turns), and the campaign's last message on the number leaves after its own segments plus
//! those others' have gone. A campaign finishes when its slowest number does. A campaign that
//! starts later (scheduled) lets the others send meanwhile, in turns, before it joins them.
//! Held recipients (outside their send window) are left out here; the caller adds them from
//! the time their hold ends.

/// Messages waiting on a number for one campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queue {
    /// Messages still to send.
    pub messages: u64,
    /// Their segments.
    pub segments: u64,
}

impl Queue {
    /// Segments per message (1 when empty).
    fn average(&self) -> f64 {
        if self.messages == 0 {
            1.0
        } else {
            self.segments as f64 / self.messages as f64
        }
    }
}

/// One sending number of a campaign, as the estimate sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lane {
    /// The number's rate, segments per second.
    pub mps: f64,
    /// The campaign's own messages on it.
    pub own: Queue,
    /// Every other running campaign's messages on it.
    pub others: Vec<Queue>,
}

/// A campaign's estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Seconds from now until its last message (not held) leaves.
    pub seconds: f64,
    /// Messages per second it is given now, summed over its numbers (what each number's rate
    /// gives it in the turns with the others).
    pub rate: f64,
}

/// A rate the arithmetic can use: a non-positive or non-finite `mps` counts as 1, as the
/// pacer reads it.
fn rate(mps: f64) -> f64 {
    if mps.is_finite() && mps > 0.0 {
        mps
    } else {
        1.0
    }
}

/// What is left of `others` after the number sent `budget` segments of theirs in turns of one
/// message each (the queues with fewest messages empty first).
pub fn drain(others: &[Queue], budget: f64) -> Vec<Queue> {
    let mut order: Vec<Queue> = others.iter().copied().filter(|q| q.messages > 0).collect();
    order.sort_by_key(|q| q.messages);
    // Raise a level `level` (messages sent per queue) until the budget is spent.
    let mut left = budget.max(0.0);
    let mut level = 0.0f64;
    for (i, q) in order.iter().enumerate() {
        let per_round: f64 = order[i..].iter().map(Queue::average).sum();
        let step = q.messages as f64 - level;
        if step * per_round <= left {
            left -= step * per_round;
            level = q.messages as f64;
        } else {
            level += left / per_round;
            break;
        }
    }
    let level = level.floor() as u64;
    order
        .into_iter()
        .filter(|q| q.messages > level)
        .map(|q| {
            let messages = q.messages - level;
            Queue {
                messages,
                segments: (messages as f64 * q.average()).round() as u64,
            }
        })
        .collect()
}

/// Seconds for `lane`'s own messages to go, starting `delay` seconds from now (the others
/// send alone meanwhile), and the messages per second the campaign gets there now.
pub fn lane(lane: &Lane, delay: f64) -> (f64, f64) {
    let mps = rate(lane.mps);
    let own = lane.own;
    if own.messages == 0 {
        return (0.0, 0.0);
    }
    let delay = delay.max(0.0);
    let others = if delay > 0.0 {
        drain(&lane.others, delay * mps)
    } else {
        lane.others
            .iter()
            .copied()
            .filter(|q| q.messages > 0)
            .collect()
    };
    let shared: f64 = others
        .iter()
        .map(|q| q.messages.min(own.messages) as f64 * q.average())
        .sum();
    let seconds = delay + (own.segments as f64 + shared) / mps;
    // One round of turns: a message of each campaign with work.
    let round: f64 = own.average() + others.iter().map(Queue::average).sum::<f64>();
    (seconds, mps / round)
}

/// A campaign's estimate over its numbers, starting `delay` seconds from now (0 when it is
/// running; until `scheduled_at` when it is scheduled). `None` when nothing is left to send.
pub fn estimate(lanes: &[Lane], delay: f64) -> Option<Estimate> {
    let busy: Vec<&Lane> = lanes.iter().filter(|l| l.own.messages > 0).collect();
    if busy.is_empty() {
        return None;
    }
    let mut seconds = 0.0f64;
    let mut total_rate = 0.0;
    for l in busy {
        let (s, r) = lane(l, delay);
        seconds = seconds.max(s);
        total_rate += r;
    }
    Some(Estimate {
        seconds,
        rate: total_rate,
    })
}

/// Seconds for `held` messages on a number of rate `mps` once their hold ends (they go at
/// the number's full rate, one segment each).
pub fn held(held: u64, mps: f64) -> f64 {
    held as f64 / rate(mps)
}

/// A new campaign sent alone: `messages` of `segments` in all, spread in turn over numbers of
/// rates `rates` (the first number takes the first message, as create assigns them). `None`
/// without messages or numbers.
pub fn alone(messages: u64, segments: u64, rates: &[f64]) -> Option<Estimate> {
    if messages == 0 || rates.is_empty() {
        return None;
    }
    let n = rates.len() as u64;
    let average = segments as f64 / messages as f64;
    let lanes: Vec<Lane> = rates
        .iter()
        .enumerate()
        .map(|(k, &mps)| {
            let share = messages / n + u64::from((k as u64) < messages % n);
            Lane {
                mps,
                own: Queue {
                    messages: share,
                    segments: (share as f64 * average).round() as u64,
                },
                others: Vec::new(),
            }
        })
        .collect();
    estimate(&lanes, 0.0)
}

/// "1 message/second", "0.5 messages/second", "12 messages/second".
pub fn rate_in_words(rate: f64) -> String {
    let rounded = if rate >= 10.0 {
        rate.round()
    } else {
        (rate * 100.0).round() / 100.0
    };
    let unit = if rounded == 1.0 {
        "message"
    } else {
        "messages"
    };
    format!("{rounded} {unit}/second")
}

/// "about 17 minutes", "about 2 hours", "under a minute": a duration as people say it.
pub fn in_words(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as u64;
    if seconds < 60.0 {
        return "under a minute".into();
    }
    if minutes < 90 {
        let unit = if minutes == 1 { "minute" } else { "minutes" };
        return format!("about {minutes} {unit}");
    }
    let hours = (seconds / 3_600.0 * 2.0).round() / 2.0;
    if hours < 48.0 {
        let text = if hours.fract() == 0.0 {
            format!("{hours:.0}")
        } else {
            format!("{hours:.1}")
        };
        return format!("about {text} hours");
    }
    format!("about {:.0} days", (seconds / 86_400.0).round())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(messages: u64, segments: u64) -> Queue {
        Queue { messages, segments }
    }

    #[test]
    fn a_thousand_messages_at_one_a_second_take_about_17_minutes() {
        let lanes = [Lane {
            mps: 1.0,
            own: q(1_000, 1_000),
            others: vec![],
        }];
        let e = estimate(&lanes, 0.0).unwrap();
        assert_eq!(e.seconds, 1_000.0);
        assert_eq!(e.rate, 1.0);
        assert_eq!(in_words(e.seconds), "about 17 minutes");
    }

    #[test]
    fn segments_take_slots_and_numbers_share_the_work() {
        // 2 segments each on mps 4: 100 messages take 50 s; the slowest number counts.
        let lanes = [
            Lane {
                mps: 4.0,
                own: q(100, 200),
                others: vec![],
            },
            Lane {
                mps: 1.0,
                own: q(30, 30),
                others: vec![],
            },
        ];
        let e = estimate(&lanes, 0.0).unwrap();
        assert_eq!(e.seconds, 50.0);
        assert_eq!(e.rate, 2.0 + 1.0);
    }

    #[test]
    fn other_campaigns_take_turns_on_the_number() {
        // Own 100 messages; another has 10 (all go before ours end), a third 500 (100 of
        // them go in the same time).
        let l = Lane {
            mps: 1.0,
            own: q(100, 100),
            others: vec![q(10, 10), q(500, 500)],
        };
        let (seconds, r) = lane(&l, 0.0);
        assert_eq!(seconds, 210.0);
        assert!((r - 1.0 / 3.0).abs() < 1e-9, "{r}");
        // Their segments count, not just their messages.
        let l = Lane {
            mps: 1.0,
            own: q(10, 10),
            others: vec![q(10, 30)],
        };
        assert_eq!(lane(&l, 0.0).0, 40.0);
    }

    #[test]
    fn a_later_start_lets_the_others_send_first() {
        // 100 s before we start, at mps 1: the queue of 50 is gone, the 200 one is at 150.
        let others = drain(&[q(50, 50), q(200, 200)], 100.0);
        assert_eq!(others, [q(150, 150)]);
        let l = Lane {
            mps: 1.0,
            own: q(10, 10),
            others: vec![q(50, 50), q(200, 200)],
        };
        assert_eq!(lane(&l, 100.0).0, 100.0 + 20.0);
        // A start far ahead: nothing of the others is left by then.
        assert_eq!(lane(&l, 1_000.0).0, 1_010.0);
        // Draining in turns: two queues of 100 after 50 segments each lost 25.
        assert_eq!(
            drain(&[q(100, 100), q(100, 100)], 50.0),
            [q(75, 75), q(75, 75)]
        );
        assert!(drain(&[], 10.0).is_empty());
    }

    #[test]
    fn nothing_left_has_no_estimate_and_bad_rates_count_as_one() {
        assert_eq!(estimate(&[], 0.0), None);
        let idle = Lane {
            mps: 1.0,
            own: q(0, 0),
            others: vec![q(5, 5)],
        };
        assert_eq!(estimate(&[idle], 0.0), None);
        let l = Lane {
            mps: 0.0,
            own: q(5, 5),
            others: vec![],
        };
        assert_eq!(estimate(&[l], 0.0).unwrap().seconds, 5.0);
        assert_eq!(held(60, f64::NAN), 60.0);
        assert_eq!(held(60, 2.0), 30.0);
    }

    #[test]
    fn a_campaign_alone_spreads_over_its_numbers() {
        let e = alone(1_000, 1_000, &[1.0]).unwrap();
        assert_eq!((e.seconds, e.rate), (1_000.0, 1.0));
        // 5 messages over two numbers: 3 and 2; the slower number decides.
        let e = alone(5, 10, &[1.0, 0.5]).unwrap();
        assert_eq!(e.seconds, 8.0);
        assert_eq!(e.rate, 0.75);
        assert_eq!(alone(0, 0, &[1.0]), None);
        assert_eq!(alone(3, 3, &[]), None);
    }

    #[test]
    fn rates_in_words() {
        assert_eq!(rate_in_words(1.0), "1 message/second");
        assert_eq!(rate_in_words(0.5), "0.5 messages/second");
        assert_eq!(rate_in_words(2.0 / 3.0), "0.67 messages/second");
        assert_eq!(rate_in_words(12.4), "12 messages/second");
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(in_words(12.0), "under a minute");
        assert_eq!(in_words(60.0), "about 1 minute");
        assert_eq!(in_words(1_200.0), "about 20 minutes");
        assert_eq!(in_words(2.0 * 3_600.0), "about 2 hours");
        assert_eq!(in_words(9_000.0), "about 2.5 hours");
        assert_eq!(in_words(5.0 * 86_400.0), "about 5 days");
    }
}
