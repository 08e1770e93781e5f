//! The swap bookkeeping: which replica each chain holds, round trips, swap statistics.

use super::scheme::SwapScheme;
use super::stats::SwapStats;
use crate::chain::ChainState;
use ebm_core::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Where a replica is on its way along the ladder, for counting round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trip {
    /// Not yet at the cold end.
    Unknown,
    /// Last seen at the cold end.
    FromCold,
    /// Reached the hot end since it was last at the cold end.
    ReachedHot,
}

/// Everything replica exchange keeps besides the chains.
#[derive(Debug, Clone)]
pub(super) struct SwapBook {
    pub(super) n_ladders: usize,
    pub(super) temperatures: Vec<f64>,
    /// Per chain (temperature-major), the replica it holds.
    pub(super) replica_at: Vec<usize>,
    /// Per ladder and replica (`l * n_temps + r`).
    pub(super) trip: Vec<Trip>,
    pub(super) swap_rngs: Vec<ChaCha8Rng>,
    pub(super) scans: u64,
    /// The counts of the run under way (or the last one).
    pub(super) run: SwapCounts,
    /// The counts of the runs before it.
    pub(super) earlier: SwapCounts,
    pub(super) evals: Vec<u32>,
    /// Per chain during a scan: the first divergence of its exploration steps, and the sum of
    /// their acceptance probabilities.
    pub(super) scan_divergence: Vec<Option<crate::kernels::Divergence>>,
    pub(super) scan_prob_sum: Vec<f64>,
    /// The swap scheme of the last scan.
    pub(super) scheme: Option<SwapScheme>,
}

/// What replica exchange counts over a stretch of scans, for [`SwapStats`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SwapCounts {
    /// The scans counted.
    pub scans: u64,
    /// Per ladder, the round trips completed.
    pub round_trips: Vec<u64>,
    /// Per adjacent pair of temperatures: swaps tried.
    pub attempts: Vec<u64>,
    /// Per adjacent pair: swaps accepted.
    pub accepted: Vec<u64>,
    /// Per adjacent pair: the sum of the swaps' rejection probabilities.
    pub reject_sum: Vec<f64>,
    /// Per temperature: exploration steps taken, over every ladder.
    pub explore_steps_taken: Vec<u64>,
    /// Per temperature: exploration steps whose proposal was accepted.
    pub explore_accepted: Vec<u64>,
}

impl SwapCounts {
    /// Nothing counted yet, for `n_ladders` ladders of `n_temps` temperatures.
    pub(super) fn zero(n_ladders: usize, n_temps: usize) -> Self {
        Self {
            scans: 0,
            round_trips: vec![0; n_ladders],
            attempts: vec![0; n_temps.saturating_sub(1)],
            accepted: vec![0; n_temps.saturating_sub(1)],
            reject_sum: vec![0.0; n_temps.saturating_sub(1)],
            explore_steps_taken: vec![0; n_temps],
            explore_accepted: vec![0; n_temps],
        }
    }

    /// Adds `other`'s counts (of the same shape) to these.
    pub(super) fn add(&mut self, other: &SwapCounts) {
        fn add<T: Copy + std::ops::AddAssign>(a: &mut [T], b: &[T]) {
            a.iter_mut().zip(b).for_each(|(a, &b)| *a += b);
        }
        self.scans += other.scans;
        add(&mut self.round_trips, &other.round_trips);
        add(&mut self.attempts, &other.attempts);
        add(&mut self.accepted, &other.accepted);
        add(&mut self.reject_sum, &other.reject_sum);
        add(&mut self.explore_steps_taken, &other.explore_steps_taken);
        add(&mut self.explore_accepted, &other.explore_accepted);
    }

    /// The names and lengths of the per-pair, per-ladder and per-temperature counts.
    pub(super) fn lengths(&self) -> [(&'static str, usize); 6] {
        [
            ("round_trips", self.round_trips.len()),
            ("attempts", self.attempts.len()),
            ("accepted", self.accepted.len()),
            ("reject_sum", self.reject_sum.len()),
            ("explore_steps_taken", self.explore_steps_taken.len()),
            ("explore_accepted", self.explore_accepted.len()),
        ]
    }
}

impl SwapBook {
    /// Starts a run's counts: the last run's join the earlier ones.
    pub(super) fn start_run(&mut self) {
        let n_l = self.n_ladders;
        let last = std::mem::replace(
            &mut self.run,
            SwapCounts::zero(n_l, self.temperatures.len()),
        );
        self.earlier.add(&last);
    }

    /// The statistics of `counts` on this ladder.
    pub(super) fn stats(&self, counts: &SwapCounts) -> SwapStats {
        let rate = |num: f64, den: u64| if den > 0 { num / den as f64 } else { f64::NAN };
        let c = counts;
        SwapStats {
            temperatures: self.temperatures.clone(),
            acceptance_rate: c
                .accepted
                .iter()
                .zip(&c.attempts)
                .map(|(&a, &n)| rate(a as f64, n))
                .collect(),
            rejection: c
                .reject_sum
                .iter()
                .zip(&c.attempts)
                .map(|(&r, &n)| rate(r, n))
                .collect(),
            round_trips: c.round_trips.clone(),
            scans: c.scans,
            scheme: self.scheme,
            explorer_acceptance: c
                .explore_accepted
                .iter()
                .zip(&c.explore_steps_taken)
                .map(|(&a, &n)| rate(a as f64, n))
                .collect(),
        }
    }

    /// One round of swaps in every ladder.
    pub(super) fn swap<const D: usize, E: Real, Dev: Device<E>>(
        &mut self,
        chains: &mut ChainState<D, E, Dev>,
        scheme: SwapScheme,
    ) {
        let (n_l, n_t) = (self.n_ladders, self.temperatures.len());
        self.scheme = Some(scheme);
        if scheme != SwapScheme::Off {
            let points = &mut chains.points;
            for (l, rng) in self.swap_rngs.iter_mut().enumerate() {
                let parity = match scheme {
                    SwapScheme::NonReversible => (self.scans % 2) as usize,
                    _ => usize::from(rng.gen::<bool>()),
                };
                for i in (parity..n_t - 1).step_by(2) {
                    let (a, b) = (i * n_l + l, (i + 1) * n_l + l);
                    let d_beta = 1.0 / self.temperatures[i] - 1.0 / self.temperatures[i + 1];
                    let log_alpha = d_beta * (points.e[a].as_f64() - points.e[b].as_f64());
                    let u: f64 = rng.gen();
                    let reject = if log_alpha.is_nan() {
                        1.0
                    } else {
                        1.0 - log_alpha.min(0.0).exp()
                    };
                    self.run.attempts[i] += 1;
                    self.run.reject_sum[i] += reject;
                    if u.ln() < log_alpha {
                        self.run.accepted[i] += 1;
                        points.e.swap(a, b);
                        for j in 0..D {
                            points.x.swap(a * D + j, b * D + j);
                            points.g.swap(a * D + j, b * D + j);
                        }
                        self.replica_at.swap(a, b);
                    }
                }
            }
        }
        for l in 0..n_l {
            let hot = self.replica_at[(n_t - 1) * n_l + l];
            if self.trip[l * n_t + hot] == Trip::FromCold {
                self.trip[l * n_t + hot] = Trip::ReachedHot;
            }
            let cold = self.replica_at[l];
            if self.trip[l * n_t + cold] == Trip::ReachedHot {
                self.run.round_trips[l] += 1;
            }
            self.trip[l * n_t + cold] = Trip::FromCold;
        }
        self.scans += 1;
        self.run.scans += 1;
    }
}
