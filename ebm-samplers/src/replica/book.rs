//! The swap bookkeeping: which replica each chain holds, round trips, swap statistics.

#[allow(unused_imports)]
use super::*;

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
    pub(super) round_trips: Vec<u64>,
    pub(super) swap_rngs: Vec<ChaCha8Rng>,
    pub(super) scans: u64,
    pub(super) scans_counted: u64,
    pub(super) attempts: Vec<u64>,
    pub(super) accepted: Vec<u64>,
    pub(super) reject_sum: Vec<f64>,
    pub(super) evals: Vec<u32>,
    /// Per chain during a scan: the first divergence of its exploration steps, and the sum of
    /// their acceptance probabilities.
    pub(super) scan_divergence: Vec<Option<crate::kernels::Divergence>>,
    pub(super) scan_prob_sum: Vec<f64>,
    /// Per temperature: exploration steps taken and accepted.
    pub(super) explore_steps_taken: Vec<u64>,
    pub(super) explore_accepted: Vec<u64>,
    /// The swap scheme of the last scan.
    pub(super) scheme: Option<SwapScheme>,
}

impl SwapBook {
    pub(super) fn reset_counts(&mut self) {
        self.attempts.iter_mut().for_each(|v| *v = 0);
        self.accepted.iter_mut().for_each(|v| *v = 0);
        self.reject_sum.iter_mut().for_each(|v| *v = 0.0);
        self.round_trips.iter_mut().for_each(|v| *v = 0);
        self.explore_steps_taken.iter_mut().for_each(|v| *v = 0);
        self.explore_accepted.iter_mut().for_each(|v| *v = 0);
        self.scans_counted = 0;
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
                    self.attempts[i] += 1;
                    self.reject_sum[i] += reject;
                    if u.ln() < log_alpha {
                        self.accepted[i] += 1;
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
                self.round_trips[l] += 1;
            }
            self.trip[l * n_t + cold] = Trip::FromCold;
        }
        self.scans += 1;
        self.scans_counted += 1;
    }
}
