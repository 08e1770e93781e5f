//! The chains of every ladder with their bookkeeping, and its snapshot.

use super::book::SwapBook;
use super::book::SwapCounts;
use super::book::Trip;
use super::ladder::check_ladder;
use super::scheme::SwapScheme;
use super::stats::SwapStats;
use crate::chain::{ChainState, StateSnapshot};
use ebm_core::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The chains of every ladder with the replica-exchange bookkeeping; outlives a run like
/// [`ChainState`].
#[derive(Debug, Clone)]
pub struct ReplicaState<const D: usize, E: Real = f32, Dev: Device<E> = Cpu> {
    pub(super) chains: ChainState<D, E, Dev>,
    pub(super) book: SwapBook,
}

impl<const D: usize, E: Real, Dev: Device<E>> ReplicaState<D, E, Dev> {
    /// All `ladders x temperatures` chains; chain `k * n_ladders + l` is temperature `k` of ladder
    /// `l`, so the cold chains come first.
    pub fn chains(&self) -> &ChainState<D, E, Dev> {
        &self.chains
    }

    /// The number of independent ladders.
    pub fn n_ladders(&self) -> usize {
        self.book.n_ladders
    }

    /// The ladder's temperatures.
    pub fn temperatures(&self) -> &[f64] {
        &self.book.temperatures
    }

    /// The scans (exploration and swaps) taken since the state was created.
    pub fn scans(&self) -> u64 {
        self.book.scans
    }

    /// The positions of the replicas at temperature `k` (one per ladder, row-major), or `None`
    /// past the hottest.
    pub fn positions_at(&self, k: usize) -> Option<&[E]> {
        let n = self.book.n_ladders * D;
        self.chains.positions().get(k * n..(k + 1) * n)
    }

    /// Moves the ladder to `temperatures` (same length): the replicas keep their positions.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for another number of temperatures, and the ladder errors of
    /// [`ReplicaExchange::new`](crate::ReplicaExchange::new).
    pub fn set_ladder(&mut self, temperatures: &[f64]) -> Result<()> {
        if temperatures.len() != self.book.temperatures.len() {
            return Err(Error::LengthMismatch {
                name: "temperatures".into(),
                expected: self.book.temperatures.len(),
                actual: temperatures.len(),
                reason: "one temperature per replica of a ladder".into(),
            });
        }
        check_ladder(temperatures)?;
        let n_l = self.book.n_ladders;
        let per_chain: Vec<f64> = temperatures
            .iter()
            .flat_map(|&t| std::iter::repeat_n(t, n_l))
            .collect();
        self.chains.set_temperatures(&per_chain)?;
        self.book.temperatures = temperatures.to_vec();
        Ok(())
    }

    /// The swap statistics of every scan since the state was created, over all its runs (a
    /// store's segments and resumed runs included). [`ReplicaOutput::swaps`](crate::ReplicaOutput::swaps) has one run's.
    pub fn swap_stats(&self) -> SwapStats {
        let mut all = self.book.earlier.clone();
        all.add(&self.book.run);
        self.book.stats(&all)
    }
}

/// Everything a [`ReplicaState`] holds, as plain data, to save it (with a store's checkpoint)
/// and rebuild it bit for bit ([`ReplicaState::from_snapshot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSnapshot<E> {
    /// Every replica's chain, `ladders x temperatures` rows, temperature-major.
    pub chains: StateSnapshot<E>,
    /// The number of ladders.
    pub n_ladders: u64,
    /// The ladder.
    pub temperatures: Vec<f64>,
    /// Per chain, the replica it holds.
    pub replica_at: Vec<u64>,
    /// Per ladder and replica, where it is on its round trip: 0 not yet at the cold end, 1 last
    /// seen at the cold end, 2 reached the hot end since.
    pub trips: Vec<u8>,
    /// Per ladder, the swap stream's ChaCha8 seed, stream and word position.
    pub swap_rngs: Vec<([u8; 32], u64, u128)>,
    /// Scans since the state was created.
    pub scans: u64,
    /// The counts of the last run.
    pub run: SwapCounts,
    /// The counts of the runs before it.
    pub earlier: SwapCounts,
    /// The swap scheme of the last scan.
    pub scheme: Option<SwapScheme>,
}

impl<const D: usize, E: Real, Dev: Device<E>> ReplicaState<D, E, Dev> {
    /// The state as plain data; [`ReplicaState::from_snapshot`] rebuilds it.
    pub fn snapshot(&self) -> ReplicaSnapshot<E> {
        let b = &self.book;
        ReplicaSnapshot {
            chains: self.chains.snapshot(),
            n_ladders: b.n_ladders as u64,
            temperatures: b.temperatures.clone(),
            replica_at: b.replica_at.iter().map(|&r| r as u64).collect(),
            trips: b
                .trip
                .iter()
                .map(|t| match t {
                    Trip::Unknown => 0,
                    Trip::FromCold => 1,
                    Trip::ReachedHot => 2,
                })
                .collect(),
            swap_rngs: b
                .swap_rngs
                .iter()
                .map(|r| (r.get_seed(), r.get_stream(), r.get_word_pos()))
                .collect(),
            scans: b.scans,
            run: b.run.clone(),
            earlier: b.earlier.clone(),
            scheme: b.scheme,
        }
    }

    /// Rebuilds a state from a snapshot, on `dev`.
    ///
    /// # Errors
    /// The errors of [`ChainState::from_snapshot`], the ladder errors of
    /// [`ReplicaExchange::new`](crate::ReplicaExchange::new), and [`Error::LengthMismatch`] or [`Error::InvalidParameter`]
    /// naming the first field that does not fit the ladders and temperatures.
    pub fn from_snapshot(snapshot: &ReplicaSnapshot<E>, dev: &Dev) -> Result<Self> {
        let s = snapshot;
        check_ladder(&s.temperatures)?;
        let n_t = s.temperatures.len();
        let n_l = usize::try_from(s.n_ladders)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::invalid("n_ladders", s.n_ladders, "must be at least 1"))?;
        let n = n_l
            .checked_mul(n_t)
            .ok_or_else(|| Error::invalid("n_ladders", n_l, "too many chains"))?;
        let mut lengths = vec![
            ("replica_at", s.replica_at.len(), n),
            ("trips", s.trips.len(), n),
            ("swap_rngs", s.swap_rngs.len(), n_l),
            ("chains", s.chains.n_chains(), n),
        ];
        let expected = SwapCounts::zero(n_l, n_t).lengths();
        for counts in [&s.run, &s.earlier] {
            for ((name, actual), (_, want)) in counts.lengths().into_iter().zip(expected) {
                lengths.push((name, actual, want));
            }
        }
        for (name, actual, expected) in lengths {
            if actual != expected {
                return Err(Error::LengthMismatch {
                    name: name.into(),
                    expected,
                    actual,
                    reason: format!("{n_l} ladders of {n_t} temperatures"),
                });
            }
        }
        if let Some(i) = s.replica_at.iter().position(|&r| r >= n_t as u64) {
            return Err(Error::invalid(
                format!("replica_at[{i}]"),
                s.replica_at[i],
                format!("a ladder has {n_t} replicas"),
            ));
        }
        let mut trip = Vec::with_capacity(n);
        for (i, &t) in s.trips.iter().enumerate() {
            trip.push(match t {
                0 => Trip::Unknown,
                1 => Trip::FromCold,
                2 => Trip::ReachedHot,
                other => return Err(Error::invalid(format!("trips[{i}]"), other, "0, 1 or 2")),
            });
        }
        let chains = ChainState::from_snapshot(&s.chains, dev)?;
        let swap_rngs = s
            .swap_rngs
            .iter()
            .map(|&(seed, stream, pos)| {
                let mut rng = <ChaCha8Rng as SeedableRng>::from_seed(seed);
                rng.set_stream(stream);
                rng.set_word_pos(pos);
                rng
            })
            .collect();
        Ok(Self {
            chains,
            book: SwapBook {
                n_ladders: n_l,
                temperatures: s.temperatures.clone(),
                replica_at: s.replica_at.iter().map(|&r| r as usize).collect(),
                trip,
                swap_rngs,
                scans: s.scans,
                run: s.run.clone(),
                earlier: s.earlier.clone(),
                evals: Vec::new(),
                scan_divergence: Vec::new(),
                scan_prob_sum: Vec::new(),
                scheme: s.scheme,
            },
        })
    }
}
