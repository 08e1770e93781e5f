//! What a tempered run reports about its swaps.

use super::scheme::SwapScheme;

/// Swap statistics of a replica-exchange run.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapStats {
    /// The ladder.
    pub temperatures: Vec<f64>,
    /// Per adjacent pair `(T_i, T_{i+1})`, the fraction of attempted swaps that were accepted.
    pub acceptance_rate: Vec<f64>,
    /// Per adjacent pair, the mean swap rejection probability `r_i = 1 - E[min(1, alpha)]`.
    pub rejection: Vec<f64>,
    /// Per ladder, the round trips completed: a replica going from the cold end to the hot end and
    /// back.
    pub round_trips: Vec<u64>,
    /// The scans the statistics cover.
    pub scans: u64,
    /// The swap scheme of the last scan (`None` before any).
    pub scheme: Option<SwapScheme>,
    /// Per temperature (cold first), the fraction of exploration steps whose proposal was
    /// accepted, over every ladder and every exploration step of the scans counted.
    pub explorer_acceptance: Vec<f64>,
}

impl SwapStats {
    /// The estimated global communication barrier `Lambda = sum_i r_i`.
    pub fn barrier(&self) -> f64 {
        self.rejection.iter().sum()
    }

    /// Round trips per ladder and scan.
    pub fn round_trip_rate(&self) -> f64 {
        let total: u64 = self.round_trips.iter().sum();
        total as f64 / (self.round_trips.len().max(1) as f64 * self.scans.max(1) as f64)
    }

    /// The round-trip rate of the non-reversible scheme predicted from the rejection rates,
    /// `(2 + 2 sum_i r_i / (1 - r_i))^-1` (Syed et al. 2022); it tends to `1 / (2 + 2 Lambda)` for
    /// fine ladders. `None` unless the scans ran that scheme: reversible swaps make round trips
    /// diffusively, far more slowly, and no swaps make none.
    pub fn theoretical_round_trip_rate(&self) -> Option<f64> {
        if self.scheme != Some(SwapScheme::NonReversible) {
            return None;
        }
        let s: f64 = self.rejection.iter().map(|r| r / (1.0 - r)).sum();
        Some(1.0 / (2.0 + 2.0 * s))
    }
}
