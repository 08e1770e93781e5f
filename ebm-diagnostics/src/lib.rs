//! MCMC convergence diagnostics: effective sample size (ESS), R-hat and
//! Monte Carlo standard errors (MCSE), as defined by Vehtari, Gelman, Simpson,
//! Carpenter and Bürkner (2021), "Rank-normalization, folding, and
//! localization: an improved R-hat for assessing convergence of MCMC",
//! computed the way ArviZ 0.23 computes them.
//!
//! # Input
//!
//! * The free functions ([`ess_bulk`], [`ess_tail`], [`ess_mean`], [`rhat`],
//!   [`mcse_mean`], ...) take one dimension's draws as `&[&[f64]]`: the outer
//!   slice holds the chains, each inner slice the draws of one chain.
//! * [`Draws`] views a sampler's trajectory stored contiguously as
//!   `[chain][draw][dim]` in `f32` or `f64` without copying it; [`summarize`]
//!   turns it into a [`Summary`] table.
//!
//! Every chain must hold the same number of draws, at least 4, and every draw
//! must be finite; otherwise a [`DiagnosticsError`] names the offending
//! chain, draw and value. Diagnostics never panic on caller input.
//!
//! # Definitions
//!
//! * **Split chains.** Each chain of `N` draws becomes two chains of
//!   `floor(N / 2)` draws; for odd `N` the middle draw is dropped. `M` chains
//!   give `2M` split chains and `S = 2M floor(N / 2)` values.
//! * **Rank normalisation.** Ranks are pooled over the `S` split values, ties
//!   get their average rank, and `z = Phi^-1((r - 3/8) / (S + 1/4))`.
//! * **ESS.** Autocovariances of each split chain by FFT (biased, divided by
//!   the chain length), averaged over chains and combined with the between-chain
//!   variance into `rho_t`; Geyer's initial positive sequence over pairs
//!   `rho_{2k} + rho_{2k+1}`, then the initial monotone sequence; the
//!   integrated autocorrelation time `tau` is floored at `1 / log10(S)` and
//!   `ESS = S / tau`.
//!   * bulk-ESS ([`ess_bulk`]): ESS of the rank-normalised split chains;
//!   * tail-ESS ([`ess_tail`]): the smaller ESS of the indicators
//!     `x <= q05` and `x <= q95`, with quantiles of all draws by linear
//!     interpolation (type 7, numpy's default);
//!   * ESS of the mean ([`ess_mean`]): ESS of the raw split chains.
//! * **R-hat** ([`rhat`]): the larger of the split R-hat of the normal scores
//!   of `x` and of `|x - median(x)|` (median of the split values).
//! * **MCSE of the mean** ([`mcse_mean`]): `sd / sqrt(ess_mean)`, with the
//!   sample standard deviation (ddof 1) of all draws.
//!
//! # Degenerate input
//!
//! * One chain: R-hat is NaN ([`rhat`], [`rhat_split`] and the summary), as in
//!   ArviZ; [`rhat_unguarded`] compares the two halves of the single chain
//!   instead. ESS is defined for one chain.
//! * All draws equal: every ESS equals the number of split values `S` (the
//!   number of draws for even `N`), R-hat is NaN and the MCSE is 0. The test
//!   for "equal" is relative (the spread is within a few ulps of the
//!   magnitude), where ArviZ uses the absolute test `spread < 1e-15`; they
//!   agree for the rank-normalised and indicator inputs of bulk- and tail-ESS
//!   and differ only for raw draws whose whole spread is below `1e-15`.
//! * Every chain constant but at different values: R-hat is `+inf`.
//!
//! # Where results can differ from ArviZ in the last digits
//!
//! The reference values shipped with the tests are reproduced to about
//! `1e-15` relative. Beyond the relative test for constant input above, three
//! deliberate choices can make a difference on other input:
//!
//! * Distances `|x - median|` are compared exactly. ArviZ subtracts a rounded
//!   median, which can split the tie between the two middle draws (always
//!   equally far from their midpoint) and other exact ties; the folded R-hat
//!   then moves by about `1e-5` relative at `S = 8000`, and more for short
//!   chains. Exact comparison keeps R-hat invariant under increasing affine
//!   maps of the draws.
//! * Quantiles for tail-ESS interpolate at position `(MN - 1) p` as numpy
//!   does, so that an integer position gives the order statistic exactly;
//!   ArviZ's `mquantiles` formula can land one ulp below it in that case.
//! * [`ess_bulk_relative`] of constant input is 1, where ArviZ returns `S`.
//!
//! # Example
//!
//! ```
//! use ebm_diagnostics::{ess_bulk, rhat, summarize, ChainStats, Draws};
//!
//! // Two chains of a deterministic, well mixed sequence.
//! let chain = |seed: u64| -> Vec<f64> {
//!     let mut s = seed;
//!     (0..500)
//!         .map(|_| {
//!             s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!             (s >> 11) as f64 / (1u64 << 53) as f64
//!         })
//!         .collect()
//! };
//! let (a, b) = (chain(1), chain(2));
//! let chains: [&[f64]; 2] = [&a, &b];
//!
//! let r = rhat(&chains)?;
//! assert!(r < 1.01);
//! let ess = ess_bulk(&chains)?;
//! assert!(ess > 500.0 && ess < 1500.0);
//!
//! // The same draws as a contiguous [chain][draw][dim] buffer with one dimension.
//! let flat: Vec<f32> = a.iter().chain(&b).map(|&x| x as f32).collect();
//! let draws = Draws::new(&flat, 2, 500, 1)?;
//! let summary = summarize(&draws)?.with_chain_stats(vec![
//!     ChainStats { acceptance_rate: Some(0.91), divergences: 0 },
//!     ChainStats { acceptance_rate: Some(0.88), divergences: 1 },
//! ])?;
//! println!("{summary}");
//! assert!((summary.rows[0].mean - 0.5).abs() < 0.05);
//! # Ok::<(), ebm_diagnostics::DiagnosticsError>(())
//! ```
#![warn(missing_docs)]

mod autocov;
mod draws;
mod engine;
mod error;
mod summary;

pub use draws::{Draws, MIN_DRAWS};
pub use error::DiagnosticsError;
pub use summary::{summarize, ChainStats, DimSummary, Summary};

use engine::Engine;

fn load(chains: &[&[f64]]) -> Result<Engine, DiagnosticsError> {
    let mut engine = Engine::default();
    engine.load_chains(chains)?;
    Ok(engine)
}

/// Bulk effective sample size: the ESS of the rank-normalised split chains.
///
/// # Errors
///
/// [`DiagnosticsError`] for empty, ragged, too short (< 4 draws) or
/// non-finite input.
pub fn ess_bulk(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    let mut e = load(chains)?;
    Ok(e.bulk_tau().ess(e.split_len()))
}

/// Bulk-ESS divided by the number of split values `S` (`1 / tau`).
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn ess_bulk_relative(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    Ok(load(chains)?.bulk_tau().relative())
}

/// Tail effective sample size: the smaller of the ESS of the indicators
/// `x <= q05` and `x <= q95` over the split chains, where `q05` and `q95` are
/// the 5 % and 95 % quantiles of all draws (linear interpolation).
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn ess_tail(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    Ok(load(chains)?.ess_tail())
}

/// ESS for the quantile at probability `prob`: the ESS of the indicator
/// `x <= q` over the split chains, `q` being the `prob` quantile of all draws
/// (linear interpolation).
///
/// # Errors
///
/// [`DiagnosticsError::InvalidProbability`] unless `0 <= prob <= 1`, and as
/// [`ess_bulk`].
pub fn ess_quantile(chains: &[&[f64]], prob: f64) -> Result<f64, DiagnosticsError> {
    if !(0.0..=1.0).contains(&prob) {
        return Err(DiagnosticsError::InvalidProbability { prob });
    }
    let mut e = load(chains)?;
    Ok(e.quantile_tau(prob).ess(e.split_len()))
}

/// Effective sample size for the mean: the ESS of the raw (not rank
/// normalised) split chains.
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn ess_mean(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    let mut e = load(chains)?;
    Ok(e.mean_tau().ess(e.split_len()))
}

/// Rank-normalised split R-hat: the larger of the split R-hat of the normal
/// scores of `x` and of `|x - median|`. NaN with fewer than two chains or
/// when all draws are equal.
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn rhat(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    Ok(load(chains)?.rhat_rank(true))
}

/// [`rhat`] without the two-chain requirement: a single chain is compared
/// with itself through its two halves. Equal to [`rhat`] for two or more
/// chains.
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn rhat_unguarded(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    Ok(load(chains)?.rhat_rank(false))
}

/// Classic split R-hat of the raw draws (Gelman et al., BDA3), without rank
/// normalisation or folding. NaN with fewer than two chains.
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn rhat_split(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    Ok(load(chains)?.rhat_split())
}

/// Monte Carlo standard error of the mean: the standard deviation (ddof 1) of
/// all draws divided by `sqrt(ess_mean)`.
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn mcse_mean(chains: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    let mut e = load(chains)?;
    let (_, sd) = e.mean_sd();
    Ok(sd / e.mean_tau().ess(e.split_len()).sqrt())
}

/// Bulk-ESS, tail-ESS and R-hat of one dimension, from [`rank_diagnostics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankDiagnostics {
    /// As [`ess_bulk`].
    pub ess_bulk: f64,
    /// As [`ess_tail`].
    pub ess_tail: f64,
    /// As [`rhat`].
    pub r_hat: f64,
}

/// Bulk-ESS, tail-ESS and R-hat together, sharing one sort of the draws and
/// one set of normal scores (cheaper than the three separate calls).
///
/// # Errors
///
/// As [`ess_bulk`].
pub fn rank_diagnostics(chains: &[&[f64]]) -> Result<RankDiagnostics, DiagnosticsError> {
    let mut e = load(chains)?;
    let ess_bulk = e.bulk_tau().ess(e.split_len());
    let ess_tail = e.ess_tail();
    let r_hat = e.rhat_rank(true);
    Ok(RankDiagnostics {
        ess_bulk,
        ess_tail,
        r_hat,
    })
}
