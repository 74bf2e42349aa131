//! The daily cap per recipient (docs/ARCHITECTURE.md §4): how many campaign messages one number
//! may get from an account in any 24 hours, and which of a claim's recipients it refuses.

use std::collections::HashMap;
use std::fmt;

use time::Duration;

/// The rolling period the cap counts over: the 24 hours before the claim.
pub const PERIOD: Duration = Duration::hours(24);

/// The largest cap an account may set (a number texted more often than this in a day is no
/// longer a campaign's recipient, and the count stays a few index entries).
pub const MAX: u32 = 1_000;

/// A valid cap: campaign messages per recipient per 24 hours, `1..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DailyCap(u32);

/// Why a cap was refused (the API's 422 names the field and says this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number from 1 to {MAX}")]
pub struct CapError;

impl DailyCap {
    /// Checks a cap as given.
    pub fn new(n: i64) -> Result<Self, CapError> {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX).contains(n))
            .map(Self)
            .ok_or(CapError)
    }

    /// A cap as stored (checked on the way in; a stored value out of range reads as none).
    pub fn from_stored(n: Option<i64>) -> Option<Self> {
        n.and_then(|n| Self::new(n).ok())
    }

    /// The number of messages.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for DailyCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The recipients of a claim that the cap refuses.
///
/// `claimed` is the claim's recipients, `(row id, phone)`, in the order they were claimed.
/// `counted` is, per phone, the campaign messages of the account that count against the cap
/// (sent in the last [`PERIOD`], or in flight), **including the claimed rows themselves**
/// (they are in flight once claimed). A phone's earliest claimed rows pass while it stays
/// under the cap; the rest are refused. Returns the refused row ids, in claim order.
pub fn refused(cap: DailyCap, claimed: &[(i64, &str)], counted: &HashMap<String, u64>) -> Vec<i64> {
    let mut in_claim: HashMap<&str, u64> = HashMap::new();
    for (_, phone) in claimed {
        *in_claim.entry(phone).or_default() += 1;
    }
    // What each phone may still get: the cap less what it got (or has in flight) elsewhere.
    let mut room: HashMap<&str, u64> = in_claim
        .iter()
        .map(|(phone, mine)| {
            let others = counted
                .get(*phone)
                .copied()
                .unwrap_or(0)
                .saturating_sub(*mine);
            (*phone, u64::from(cap.get()).saturating_sub(others))
        })
        .collect();
    claimed
        .iter()
        .filter_map(|(id, phone)| {
            let left = room.get_mut(phone)?;
            if *left > 0 {
                *left -= 1;
                None
            } else {
                Some(*id)
            }
        })
        .collect()
}

/// Whether a number that got `counted` campaign messages in the last [`PERIOD`] is at the cap
/// (what a preview shows as `frequency_capped`).
pub fn at_cap(cap: Option<DailyCap>, counted: u64) -> bool {
    cap.is_some_and(|cap| counted >= u64::from(cap.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect()
    }

    #[test]
    fn a_cap_is_a_whole_number_from_one_to_the_maximum() {
        assert_eq!(DailyCap::new(1).unwrap().get(), 1);
        assert_eq!(DailyCap::new(i64::from(MAX)).unwrap().get(), MAX);
        for bad in [0, -1, i64::from(MAX) + 1, i64::MAX, i64::MIN] {
            assert_eq!(DailyCap::new(bad), Err(CapError), "{bad}");
        }
        assert_eq!(DailyCap::from_stored(Some(3)), DailyCap::new(3).ok());
        assert_eq!(DailyCap::from_stored(Some(0)), None);
        assert_eq!(DailyCap::from_stored(None), None);
        assert!(CapError.to_string().contains("1 to 1000"));
    }

    #[test]
    fn a_phone_under_the_cap_passes_and_one_at_it_is_refused() {
        let cap = DailyCap::new(1).unwrap();
        // The claim's own row is in `counted`: 1 means nothing else.
        let claimed = [(10, "+441"), (11, "+442")];
        let c = counted(&[("+441", 1), ("+442", 2)]);
        assert_eq!(refused(cap, &claimed, &c), [11]);
    }

    #[test]
    fn several_rows_of_one_phone_in_a_claim_share_its_room_in_order() {
        let cap = DailyCap::new(2).unwrap();
        let claimed = [(1, "+441"), (2, "+441"), (3, "+441"), (4, "+442")];
        // +441: three claimed, nothing else: two pass. +442: one claimed, two elsewhere.
        let c = counted(&[("+441", 3), ("+442", 3)]);
        assert_eq!(refused(cap, &claimed, &c), [3, 4]);
        // One more elsewhere for +441: only its first passes.
        let c = counted(&[("+441", 4), ("+442", 1)]);
        assert_eq!(refused(cap, &claimed, &c), [2, 3]);
    }

    #[test]
    fn a_count_that_misses_the_claims_own_rows_refuses_nothing_wrongly() {
        // A phone the count did not see (e.g. none counted): everything fits under the cap.
        let cap = DailyCap::new(1).unwrap();
        assert!(refused(cap, &[(1, "+441")], &HashMap::new()).is_empty());
        assert!(refused(cap, &[], &counted(&[("+441", 5)])).is_empty());
    }

    #[test]
    fn at_cap_only_with_a_cap() {
        let cap = DailyCap::new(2).ok();
        assert!(!at_cap(None, 100));
        assert!(!at_cap(cap, 1));
        assert!(at_cap(cap, 2));
        assert!(at_cap(cap, 3));
    }
}
