//! The Metropolis-Hastings test of the adjusted kernels and their divergence threshold.

use super::kernel::{Divergence, StepInfo};
use crate::chain::{ChainState, Points};
use ebm_core::prelude::*;
use rand::Rng;

/// The energy error above which a transition is flagged as divergent unless a kernel is told
/// otherwise: 1000, as in Stan.
pub const DEFAULT_MAX_ENERGY_ERROR: f64 = 1000.0;

/// Checks a divergence threshold: greater than 0 (infinity turns the check off).
pub(crate) fn check_threshold(threshold: f64) -> Result<f64> {
    if threshold > 0.0 {
        Ok(threshold)
    } else {
        Err(Error::invalid(
            "divergence_threshold",
            threshold,
            "must be greater than 0 (infinity turns the check off)",
        ))
    }
}

/// The Metropolis-Hastings test shared by the adjusted kernels, for every chain: draws one uniform
/// from the chain's stream, then moves the chain to its proposal with probability
/// `min(1, exp(log_ratio[c]))`.
///
/// A proposal with a non-finite energy, gradient, position or ratio is rejected and flagged
/// [`Divergence::NonFinite`]; one whose energy error `-log_ratio` exceeds `max_energy_error` is
/// flagged [`Divergence::EnergyError`] and tested as usual. Sets every field of `info[c]` except
/// `grad_evals`. A NaN ratio counts as non-finite.
pub fn metropolis_accept<const D: usize, E: Real, Dev: Device<E>>(
    state: &mut ChainState<D, E, Dev>,
    proposal: &Points<E>,
    log_ratio: &[f64],
    max_energy_error: f64,
    info: &mut [StepInfo],
) {
    let (cur, rngs) = state.points_and_rngs_mut();
    for (c, (rng, info)) in rngs.iter_mut().zip(info.iter_mut()).enumerate() {
        let finite = proposal.row_finite(c, D);
        if metropolis_test(rng, log_ratio[c], finite, max_energy_error, info) {
            cur.copy_row_from(proposal, c, D);
        }
    }
}

/// The test of [`metropolis_accept`] for one chain whose proposal is `finite` or not: draws the
/// uniform, fills `info` (all but `grad_evals`) and returns whether the chain moves.
pub(crate) fn metropolis_test(
    rng: &mut rand_chacha::ChaCha8Rng,
    ratio: f64,
    finite: bool,
    max_energy_error: f64,
    info: &mut StepInfo,
) -> bool {
    let u: f64 = rng.gen();
    if !(finite && ratio.is_finite()) {
        info.log_accept_ratio = f64::NEG_INFINITY;
        info.accepted = false;
        info.energy_error = f64::NAN;
        info.divergence = Some(Divergence::NonFinite);
        return false;
    }
    info.energy_error = -ratio;
    info.divergence = (-ratio > max_energy_error).then_some(Divergence::EnergyError);
    info.log_accept_ratio = ratio;
    info.accepted = u.ln() < ratio;
    info.accepted
}
