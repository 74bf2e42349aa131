//! A draft's phones as sorted runs of 64-bit keys: what an append checks new phones against,
//! so that no index in phone order over every recipient has to be kept up at insert time.
//!
//! Each append of a draft adds one run (its new phones' [`Phone::key`](super::Phone::key)s,
//! sorted); a lookup is a binary search in each run; past [`MAX_RUNS`] runs the store merges
//! them into one. A run is stored as its keys, eight little-endian bytes each.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Runs a draft keeps before they are merged into one: a lookup searches each.
pub const MAX_RUNS: usize = 8;

/// Keys in one stored piece of a run (64 KiB).
pub const PIECE_KEYS: usize = 8_192;

/// A set of phones: their keys, ascending, none twice, held in their stored form (eight
/// little-endian bytes each), so a run read from the database is searched where it lies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneRun(Vec<u8>);

/// Why stored bytes are not a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Keys are eight bytes each.
    #[error("a run of phones is {0} bytes, not a whole number of 8-byte keys")]
    Length(usize),
    /// Keys ascend strictly.
    #[error("a run of phones does not ascend at key {0}")]
    Order(usize),
    /// A run's pieces follow one another in key order.
    #[error("the pieces of run {0} of a draft's phones overlap")]
    Pieces(i32),
}

impl PhoneRun {
    /// The run of these keys (in any order, repeats allowed).
    pub fn from_keys(mut keys: Vec<u64>) -> PhoneRun {
        keys.sort_unstable();
        keys.dedup();
        PhoneRun(keys.iter().flat_map(|k| k.to_le_bytes()).collect())
    }

    /// One run of every key in `runs` (each ascending already: merged, not sorted again).
    pub fn merge(runs: impl IntoIterator<Item = PhoneRun>) -> PhoneRun {
        let runs: Vec<PhoneRun> = runs.into_iter().collect();
        let mut out = Vec::with_capacity(runs.iter().map(|r| r.0.len()).sum());
        let mut heads: BinaryHeap<Reverse<(u64, usize, usize)>> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.key(0).map(|k| Reverse((k, i, 0))))
            .collect();
        let mut last = None;
        while let Some(Reverse((key, run, at))) = heads.pop() {
            if last != Some(key) {
                out.extend_from_slice(&key.to_le_bytes());
                last = Some(key);
            }
            if let Some(next) = runs[run].key(at + 1) {
                heads.push(Reverse((next, run, at + 1)));
            }
        }
        PhoneRun(out)
    }

    fn keys(&self) -> &[[u8; 8]] {
        self.0.as_chunks::<8>().0
    }

    fn key(&self, at: usize) -> Option<u64> {
        self.keys().get(at).map(|k| u64::from_le_bytes(*k))
    }

    /// The smallest key, if any.
    pub fn first(&self) -> Option<u64> {
        self.key(0)
    }

    /// The greatest key, if any.
    pub fn last(&self) -> Option<u64> {
        self.len().checked_sub(1).and_then(|at| self.key(at))
    }

    /// The stored form in pieces of at most [`PIECE_KEYS`] keys, in order, so that no value
    /// the database or Herald handles is large (a run of a million phones is eight megabytes;
    /// stored as one value, it left the server 17 MB larger after the append that wrote it).
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.0.chunks(PIECE_KEYS * 8)
    }

    /// How many phones.
    pub fn len(&self) -> usize {
        self.keys().len()
    }

    /// No phone at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the phone of this key is in the run.
    pub fn contains(&self, key: u64) -> bool {
        self.keys()
            .binary_search_by(|k| u64::from_le_bytes(*k).cmp(&key))
            .is_ok()
    }

    /// The stored form: each key as eight little-endian bytes, in order.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A run from its stored form, checked (and kept as it is).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<PhoneRun, RunError> {
        let run = PhoneRun(bytes);
        if !run.0.len().is_multiple_of(8) {
            return Err(RunError::Length(run.0.len()));
        }
        if let Some(at) = run
            .keys()
            .windows(2)
            .position(|w| u64::from_le_bytes(w[0]) >= u64::from_le_bytes(w[1]))
        {
            return Err(RunError::Order(at + 1));
        }
        Ok(run)
    }
}

/// All of a draft's runs, each as its pieces in key order: a phone is in the draft when the
/// piece of one run whose range holds its key has it.
#[derive(Debug, Clone, Default)]
pub struct DraftPhones(Vec<Vec<PhoneRun>>);

impl DraftPhones {
    /// The draft's runs from their stored pieces, `(run, piece)` in order of both.
    pub fn from_pieces(pieces: Vec<(i32, PhoneRun)>) -> Result<DraftPhones, RunError> {
        let mut runs: Vec<(i32, Vec<PhoneRun>)> = Vec::new();
        for (run, piece) in pieces {
            if piece.is_empty() {
                continue;
            }
            match runs.last_mut() {
                Some((r, pieces)) if *r == run => {
                    if pieces.last().and_then(PhoneRun::last) >= piece.first() {
                        return Err(RunError::Pieces(run));
                    }
                    pieces.push(piece);
                }
                _ => runs.push((run, vec![piece])),
            }
        }
        Ok(DraftPhones(runs.into_iter().map(|(_, p)| p).collect()))
    }

    /// A draft whose phones are one run, rebuilt whole (its pieces are cut when stored).
    pub fn from_run(run: PhoneRun) -> DraftPhones {
        DraftPhones(vec![vec![run]])
    }

    /// Whether the phone of this key is in the draft.
    pub fn contains(&self, key: u64) -> bool {
        self.0.iter().any(|pieces| {
            let at = pieces.partition_point(|p| p.last().is_some_and(|last| last < key));
            pieces.get(at).is_some_and(|p| p.contains(key))
        })
    }

    /// How many phones the runs hold (each phone is in one run: an append only adds phones
    /// the draft did not have).
    pub fn len(&self) -> usize {
        self.0.iter().flatten().map(PhoneRun::len).sum()
    }

    /// No phone at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many runs.
    pub fn runs(&self) -> usize {
        self.0.len()
    }

    /// Every run merged into one, with `more` added.
    pub fn merged_with(self, more: PhoneRun) -> PhoneRun {
        PhoneRun::merge(self.0.into_iter().flatten().chain([more]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Phone;

    fn key(p: &str) -> u64 {
        Phone::parse(p).unwrap().key().unwrap()
    }

    #[test]
    fn a_run_holds_its_phones_once_in_order() {
        let a = key("+447111000001");
        let b = key("+14155550100");
        let c = key("+447111000002");
        let run = PhoneRun::from_keys(vec![c, a, b, a]);
        assert_eq!(run.len(), 3);
        assert!(run.contains(a) && run.contains(b) && run.contains(c));
        assert!(!run.contains(key("+447111000003")));
        assert!(!PhoneRun::default().contains(a));
    }

    #[test]
    fn a_run_is_stored_as_its_keys_and_read_back_checked() {
        let run = PhoneRun::from_keys(vec![3, 1, 2 << 40]);
        let bytes = run.as_bytes().to_vec();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..8], &1u64.to_le_bytes());
        assert_eq!(PhoneRun::from_bytes(bytes.clone()), Ok(run));
        assert_eq!(PhoneRun::from_bytes(Vec::new()), Ok(PhoneRun::default()));
        assert_eq!(
            PhoneRun::from_bytes(bytes[..23].to_vec()),
            Err(RunError::Length(23))
        );
        let mut twice = 5u64.to_le_bytes().to_vec();
        twice.extend(5u64.to_le_bytes());
        assert_eq!(PhoneRun::from_bytes(twice), Err(RunError::Order(1)));
        let mut down = 6u64.to_le_bytes().to_vec();
        down.extend(5u64.to_le_bytes());
        assert_eq!(PhoneRun::from_bytes(down), Err(RunError::Order(1)));
    }

    #[test]
    fn a_draft_has_a_phone_when_any_run_has_it_and_merges_into_one_run() {
        let first = PhoneRun::from_keys(vec![10, 30]);
        let second = PhoneRun::from_keys(vec![20]);
        let draft = DraftPhones::from_pieces(vec![(0, first), (1, second)]).unwrap();
        assert_eq!((draft.len(), draft.runs()), (3, 2));
        assert!(draft.contains(10) && draft.contains(20) && draft.contains(30));
        assert!(!draft.contains(15));
        assert!(DraftPhones::default().is_empty());
        let whole = DraftPhones::from_run(PhoneRun::from_keys(vec![30, 10]));
        assert_eq!((whole.len(), whole.runs()), (2, 1));
        assert!(whole.contains(10) && whole.contains(30) && !whole.contains(20));
        let merged = draft.merged_with(PhoneRun::from_keys(vec![5, 40]));
        assert_eq!(merged, PhoneRun::from_keys(vec![5, 10, 20, 30, 40]));
        // Runs that share keys merge to each key once; empty runs add nothing.
        let merged = PhoneRun::merge([
            PhoneRun::from_keys(vec![1, 3, 5]),
            PhoneRun::default(),
            PhoneRun::from_keys(vec![3, 4, 1 << 60]),
        ]);
        assert_eq!(merged, PhoneRun::from_keys(vec![1, 3, 4, 5, 1 << 60]));
    }

    #[test]
    fn a_run_is_stored_in_pieces_and_found_in_the_piece_that_spans_its_key() {
        let keys: Vec<u64> = (0..(2 * PIECE_KEYS as u64 + 5)).map(|k| k * 3).collect();
        let run = PhoneRun::from_keys(keys.clone());
        let pieces: Vec<(i32, PhoneRun)> = run
            .pieces()
            .map(|b| (0, PhoneRun::from_bytes(b.to_vec()).unwrap()))
            .collect();
        assert_eq!(
            pieces.iter().map(|(_, p)| p.len()).collect::<Vec<_>>(),
            [PIECE_KEYS, PIECE_KEYS, 5]
        );
        let mut rows = pieces.clone();
        rows.push((3, PhoneRun::from_keys(vec![1, 7])));
        let draft = DraftPhones::from_pieces(rows).unwrap();
        assert_eq!((draft.runs(), draft.len()), (2, keys.len() + 2));
        assert!(keys.iter().all(|&k| draft.contains(k)));
        assert!(draft.contains(1) && draft.contains(7));
        for absent in [
            2,
            4,
            3 * PIECE_KEYS as u64 - 1,
            3 * PIECE_KEYS as u64 + 1,
            u64::MAX,
        ] {
            assert!(!draft.contains(absent), "{absent}");
        }
        assert_eq!(draft.merged_with(PhoneRun::default()).len(), keys.len() + 2);
        // Pieces of one run out of order are refused.
        let mut swapped = pieces;
        swapped.swap(0, 1);
        assert_eq!(
            DraftPhones::from_pieces(swapped).unwrap_err(),
            RunError::Pieces(0)
        );
    }
}
