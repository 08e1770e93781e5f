//! What a run returns: final particles, the optional trace of kept draws, per-step diagnostics and
//! per-chain statistics.

use super::observer::{Flow, Observer, RunStart, StepView};
use crate::kernels::{Divergence, StepInfo};
use ebm_core::prelude::*;
use ebm_diagnostics::{DiagnosticsError, Draws, Summary};

/// The result of a run: the final particles and whatever [`RunOptions`](crate::RunOptions) asked to record.
#[derive(Debug, Clone)]
pub struct SampleOutput<const D: usize, E: Real, Dev: Device<E>> {
    /// The particles after the last step, shape `(n_chains, D)`, on the device of the initial particles.
    pub samples: Batch<D, E, Dev>,
    /// The kept draws, when a trace was requested ([`RunOptions::trace`](crate::RunOptions::trace)).
    pub trace: Option<DrawTrace<D, E>>,
    /// Per-step statistics, when diagnostics were requested.
    pub diagnostics: Option<StepDiagnostics<D, E>>,
    /// Per-chain acceptance rates, divergence counts and gradient evaluations of this run, for
    /// samplers with a Metropolis test (always recorded for them; `None` for unadjusted Langevin).
    pub chain_stats: Option<RunStats>,
}

impl<const D: usize, E: Real, Dev: Device<E>> SampleOutput<D, E, Dev> {
    /// The convergence summary of the run, computed from the trace in one pass per dimension
    /// without copying it: per coordinate the mean, sd, MCSE of the mean, bulk- and tail-ESS and R-hat
    /// (see [`ebm_diagnostics::summarize`]), followed, for Metropolis-adjusted samplers, by each chain's
    /// acceptance rate and divergences. `Display` prints it as a table.
    ///
    /// # Errors
    /// [`SummaryError::NoTrace`] when the run kept no trace, and the diagnostics' own errors
    /// (for example fewer than 4 kept states per chain).
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::Harmonic;
    /// use ebm_samplers::prelude::*;
    ///
    /// let x0: Batch<2, f64> = Cpu::default().zeros_like(&(4, Const::<2>));
    /// let out = Mala::new(0.5, 1.0)?.run(&Harmonic::default(), &x0, &RunOptions::new(400).trace(1))?;
    /// let summary = out.summary()?;
    /// println!("{summary}");
    /// assert!(summary.max_r_hat() < 1.1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary(&self) -> Result<Summary, SummaryError> {
        let traj = self.trace.as_ref().ok_or(SummaryError::NoTrace)?;
        let summary = ebm_diagnostics::summarize(&traj.draws()?)?;
        Ok(match &self.chain_stats {
            Some(stats) => summary.with_chain_stats(
                stats
                    .acceptance_rate
                    .iter()
                    .zip(&stats.divergences)
                    .map(|(&a, &d)| ebm_diagnostics::ChainStats {
                        acceptance_rate: Some(a),
                        divergences: d,
                    })
                    .collect(),
            )?,
            None => summary,
        })
    }
}

/// Why [`SampleOutput::summary`] could not summarise a run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// The run kept no trace.
    #[error("the run kept no trace: request one with RunOptions::trace")]
    NoTrace,
    /// The diagnostics rejected the kept draws.
    #[error(transparent)]
    Diagnostics(#[from] DiagnosticsError),
}

/// So that `summary()?` works in a function returning `ebm_core::Result`.
impl From<SummaryError> for Error {
    fn from(e: SummaryError) -> Self {
        Error::other(e)
    }
}

/// Per-chain outcome of a run, derived from every step's [`StepInfo`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunStats {
    /// The mean acceptance per chain ([`StepInfo::acceptance`]: the fraction of proposals
    /// accepted; for NUTS the mean acceptance statistic).
    pub acceptance_rate: Vec<f64>,
    /// Number of divergent transitions of either kind, per chain.
    pub divergences: Vec<usize>,
    /// Of those, proposals with a non-finite energy, gradient, position or ratio (each rejected).
    pub non_finite: Vec<usize>,
    /// Of those, transitions whose energy error exceeded the kernel's threshold.
    pub large_energy_error: Vec<usize>,
    /// Gradient evaluations, per chain.
    pub gradient_evaluations: Vec<u64>,
    /// The number of steps the statistics cover.
    pub steps: usize,
    accepted: Vec<f64>,
}

impl RunStats {
    pub(crate) fn new(n_chains: usize) -> Self {
        Self {
            acceptance_rate: vec![0.0; n_chains],
            divergences: vec![0; n_chains],
            non_finite: vec![0; n_chains],
            large_energy_error: vec![0; n_chains],
            gradient_evaluations: vec![0; n_chains],
            steps: 0,
            accepted: vec![0.0; n_chains],
        }
    }

    /// Adds one step; the rates are brought up to date by [`RunStats::finalize`].
    pub(crate) fn record(&mut self, info: &[StepInfo]) {
        self.steps += 1;
        for (c, i) in info.iter().enumerate() {
            self.accepted[c] += i.acceptance();
            self.gradient_evaluations[c] += u64::from(i.grad_evals);
            if let Some(kind) = i.divergence {
                self.divergences[c] += 1;
                match kind {
                    Divergence::NonFinite => self.non_finite[c] += 1,
                    Divergence::EnergyError => self.large_energy_error[c] += 1,
                }
            }
        }
    }

    /// The statistics of the first `n` chains only.
    pub(crate) fn first_chains(mut self, n: usize) -> Self {
        self.acceptance_rate.truncate(n);
        self.divergences.truncate(n);
        self.non_finite.truncate(n);
        self.large_energy_error.truncate(n);
        self.gradient_evaluations.truncate(n);
        self.accepted.truncate(n);
        self
    }

    /// Computes the rates from the counts so far.
    pub(crate) fn finalize(&mut self) {
        let steps = self.steps.max(1) as f64;
        for c in 0..self.accepted.len() {
            self.acceptance_rate[c] = self.accepted[c] / steps;
        }
    }

    /// The acceptance rate averaged over chains.
    pub fn mean_acceptance_rate(&self) -> f64 {
        self.acceptance_rate.iter().sum::<f64>() / self.acceptance_rate.len().max(1) as f64
    }

    /// The total number of divergences over all chains.
    pub fn total_divergences(&self) -> usize {
        self.divergences.iter().sum()
    }

    /// The total number of gradient evaluations over all chains.
    pub fn total_gradient_evaluations(&self) -> u64 {
        self.gradient_evaluations.iter().sum()
    }
}

/// The index among the kept draws of the state after step `step` of a run (from 0) thinned by
/// `thin`: kept are the states after steps `thin, 2 thin, ...` (counted from 1).
pub(crate) fn kept_index(step: usize, thin: usize) -> Option<usize> {
    ((step + 1) % thin == 0).then(|| (step + 1) / thin - 1)
}

/// The former name of [`DrawTrace`], which clashed with the `Trace` trait of dfdx's prelude
/// (re-exported by `ebm_core::prelude`).
#[deprecated(note = "renamed `DrawTrace`: dfdx's prelude has a trait named `Trace`")]
pub type Trace<const D: usize, E> = DrawTrace<D, E>;

/// The draws kept during a run (its trace), in host memory, laid out `[chain][kept][dim]`.
///
/// With thinning interval `thin`, the state after step `k * thin` of the run is kept for
/// `k = 1 ..= n_steps / thin`; the initial state is not included. Shape: `[n_chains, n_kept, D]`.
/// A run stopped early by an observer keeps the draws made until then.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawTrace<const D: usize, E> {
    data: Vec<E>,
    n_chains: usize,
    n_kept: usize,
    thin: usize,
    recorded: usize,
}

impl<const D: usize, E: Real> DrawTrace<D, E> {
    /// An empty trace for `n_chains` chains with room for `n_kept` draws taken every `thin` steps.
    pub fn new(n_chains: usize, n_kept: usize, thin: usize) -> Self {
        Self {
            data: vec![E::zero(); n_chains * n_kept * D],
            n_chains,
            n_kept,
            thin,
            recorded: 0,
        }
    }

    /// Stores the batch `x` (row-major `(n_chains, D)`) as kept draw `k`.
    fn record(&mut self, k: usize, x: &[E]) {
        if k >= self.n_kept {
            return;
        }
        for (c, row) in x.chunks_exact(D).enumerate() {
            let at = (c * self.n_kept + k) * D;
            self.data[at..at + D].copy_from_slice(row);
        }
        self.recorded = self.recorded.max(k + 1);
    }

    /// Drops the room for draws that were never made.
    fn truncate(&mut self, n_kept: usize) {
        if n_kept >= self.n_kept {
            return;
        }
        let mut data = Vec::with_capacity(self.n_chains * n_kept * D);
        for c in 0..self.n_chains {
            let at = c * self.n_kept * D;
            data.extend_from_slice(&self.data[at..at + n_kept * D]);
        }
        self.data = data;
        self.n_kept = n_kept;
    }

    /// `[n_chains, n_kept, D]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.n_chains, self.n_kept, D]
    }

    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.n_chains
    }

    /// The number of kept states per chain.
    pub fn n_kept(&self) -> usize {
        self.n_kept
    }

    /// The thinning interval: kept state `k` (from 0) is the state after step `(k + 1) * thin`.
    pub fn thin(&self) -> usize {
        self.thin
    }

    /// All kept states, `[chain][kept][dim]` row-major.
    pub fn as_slice(&self) -> &[E] {
        &self.data
    }

    /// The kept states of one chain, `[kept][dim]` row-major, or `None` past the last chain.
    pub fn chain(&self, chain: usize) -> Option<&[E]> {
        let len = self.n_kept * D;
        self.data.get(chain * len..(chain + 1) * len)
    }

    /// Kept state `k` of `chain`, or `None` when either is out of range.
    pub fn point(&self, chain: usize, k: usize) -> Option<&[E; D]> {
        if chain >= self.n_chains || k >= self.n_kept {
            return None;
        }
        let at = (chain * self.n_kept + k) * D;
        self.data[at..at + D].try_into().ok()
    }

    /// Consumes the trace, returning its `[chain][kept][dim]` storage.
    pub fn into_vec(self) -> Vec<E> {
        self.data
    }

    /// A zero-copy view of the kept draws for `ebm-diagnostics` (chains x kept draws x `D`).
    ///
    /// # Errors
    /// The diagnostics' errors: fewer than 4 kept states per chain, or a non-finite state.
    pub fn draws(&self) -> Result<Draws<'_, E>, DiagnosticsError> {
        Draws::new(&self.data, self.n_chains, self.n_kept, D)
    }

    /// The trace as a tensor of shape `(n_chains, n_kept, D)` on `dev`.
    pub fn to_tensor<Dev: Device<E>>(&self, dev: &Dev) -> Tensor<(usize, usize, Const<D>), E, Dev> {
        dev.tensor_from_vec(self.data.clone(), (self.n_chains, self.n_kept, Const::<D>))
    }
}

impl<const D: usize, E: Real> Observer<D, E> for DrawTrace<D, E> {
    fn observe(&mut self, step: &StepView<'_, D, E>) -> Result<Flow> {
        if let Some(k) = step.kept {
            self.record(k, step.positions);
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _steps_taken: usize) {
        self.truncate(self.recorded);
    }
}

/// Statistics across chains recorded after every step.
///
/// Entry `t` describes the particles after step `t + 1` (the initial state is not included):
/// the across-chain mean and variance of each coordinate (the variance divides by `n_chains - 1`,
/// and is 0 for a single chain) and the mean energy. Samplers with a Metropolis test also record the
/// fraction of chains whose proposal was accepted and the mean absolute energy error
/// ([`StepInfo::energy_error`]) of the proposals that were finite.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDiagnostics<const D: usize, E> {
    pub(crate) mean: Vec<[E; D]>,
    pub(crate) variance: Vec<[E; D]>,
    pub(crate) mean_energy: Vec<E>,
    pub(crate) acceptance_rate: Option<Vec<f64>>,
    pub(crate) energy_error: Option<Vec<f64>>,
    pub(crate) adjusted: bool,
}

impl<const D: usize, E: Real> StepDiagnostics<D, E> {
    pub(crate) fn with_capacity(n_steps: usize) -> Self {
        Self {
            mean: Vec::with_capacity(n_steps),
            variance: Vec::with_capacity(n_steps),
            mean_energy: Vec::with_capacity(n_steps),
            acceptance_rate: None,
            energy_error: None,
            adjusted: false,
        }
    }

    pub(crate) fn record_acceptance(&mut self, accepted_fraction: f64, mean_abs_error: f64) {
        self.acceptance_rate
            .get_or_insert_with(Vec::new)
            .push(accepted_fraction);
        self.energy_error
            .get_or_insert_with(Vec::new)
            .push(mean_abs_error);
    }

    /// Appends the mean and variance of the batch `x` (row-major `(n_chains, D)`).
    pub(crate) fn record_moments(&mut self, x: &[E]) {
        let n = x.len() / D.max(1);
        let mut mean = [E::zero(); D];
        for row in x.chunks_exact(D) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        let inv_n = E::one() / E::of(n as f64);
        for m in mean.iter_mut() {
            *m *= inv_n;
        }
        let mut var = [E::zero(); D];
        if n > 1 {
            for row in x.chunks_exact(D) {
                for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
                    *s += (v - m) * (v - m);
                }
            }
            let inv = E::one() / E::of((n - 1) as f64);
            for s in var.iter_mut() {
                *s *= inv;
            }
        }
        self.mean.push(mean);
        self.variance.push(var);
    }

    pub(crate) fn record_energy(&mut self, energies: &[E]) {
        let total: E = energies.iter().copied().sum();
        self.mean_energy
            .push(total / E::of(energies.len().max(1) as f64));
    }

    /// The number of recorded steps.
    pub fn n_steps(&self) -> usize {
        self.mean.len()
    }

    /// Across-chain mean of each coordinate, one entry per step.
    pub fn mean(&self) -> &[[E; D]] {
        &self.mean
    }

    /// Across-chain variance of each coordinate, one entry per step.
    pub fn variance(&self) -> &[[E; D]] {
        &self.variance
    }

    /// Mean energy over chains, one entry per step.
    pub fn mean_energy(&self) -> &[E] {
        &self.mean_energy
    }

    /// Fraction of chains whose proposal was accepted, one entry per step (`None` for samplers
    /// without a Metropolis test).
    pub fn acceptance_rate(&self) -> Option<&[f64]> {
        self.acceptance_rate.as_deref()
    }

    /// The acceptance rate averaged over steps (and so over chains), the guide's
    /// `diagnostics['acceptance_rate'].mean()`.
    pub fn mean_acceptance_rate(&self) -> Option<f64> {
        self.acceptance_rate
            .as_ref()
            .map(|a| a.iter().sum::<f64>() / a.len().max(1) as f64)
    }

    /// Mean `|energy error|` ([`StepInfo::energy_error`]) of the finite proposals, one entry per step
    /// (`NaN` when no proposal of a step was finite; `None` for samplers without a Metropolis test).
    pub fn energy_error(&self) -> Option<&[f64]> {
        self.energy_error.as_deref()
    }
}

impl<const D: usize, E: Real> Observer<D, E> for StepDiagnostics<D, E> {
    fn start(&mut self, run: &RunStart) {
        self.adjusted = run.metropolis_adjusted;
    }

    fn observe(&mut self, step: &StepView<'_, D, E>) -> Result<Flow> {
        self.record_moments(step.positions);
        self.record_energy(step.energies);
        if self.adjusted {
            let (mut accepted, mut finite, mut error_sum) = (0.0f64, 0usize, 0.0f64);
            for i in step.info {
                accepted += i.acceptance();
                if i.divergence != Some(Divergence::NonFinite) {
                    finite += 1;
                    error_sum += i.energy_error.abs();
                }
            }
            let n = step.info.len();
            let mean_error = if finite > 0 {
                error_sum / finite as f64
            } else {
                f64::NAN
            };
            self.record_acceptance(accepted / n as f64, mean_error);
        }
        Ok(Flow::Continue)
    }
}
