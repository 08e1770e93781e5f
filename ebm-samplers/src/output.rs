//! What a run returns: final particles, the optional trajectory and per-step diagnostics.

use ebm_core::prelude::*;
use ebm_diagnostics::{DiagnosticsError, Draws, Summary};

/// The result of a run: the final particles and whatever [`RunOptions`](crate::RunOptions) asked to record.
#[derive(Debug, Clone)]
pub struct SampleOutput<const D: usize, E: Real, Dev: Device<E>> {
    /// The particles after the last step, shape `(n_chains, D)`, on the device of the initial particles.
    pub samples: Batch<D, E, Dev>,
    /// The kept states, when a trajectory was requested.
    pub trajectory: Option<Trajectory<D, E>>,
    /// Per-step statistics, when diagnostics were requested.
    pub diagnostics: Option<StepDiagnostics<D, E>>,
    /// Per-chain acceptance rates and divergence counts, for samplers with a Metropolis test
    /// (always recorded for them; `None` for unadjusted Langevin).
    pub chain_stats: Option<ChainStats>,
}

impl<const D: usize, E: Real, Dev: Device<E>> SampleOutput<D, E, Dev> {
    /// The convergence summary of the run, computed from the trajectory in one pass per dimension
    /// without copying it: per coordinate the mean, sd, MCSE of the mean, bulk- and tail-ESS and R-hat
    /// (see [`ebm_diagnostics::summarize`]), followed, for Metropolis-adjusted samplers, by each chain's
    /// acceptance rate and divergences. `Display` prints it as a table.
    ///
    /// # Errors
    /// [`SummaryError::NoTrajectory`] when the run kept no trajectory, and the diagnostics' own errors
    /// (for example fewer than 4 kept states per chain).
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::Harmonic;
    /// use ebm_samplers::prelude::*;
    ///
    /// let x0: Batch<2, f64> = Cpu::default().zeros_like(&(4, Const::<2>));
    /// let out = Mala::new(0.5, 1.0)?.run(&Harmonic::default(), &x0, &RunOptions::new(400).trajectory(1))?;
    /// let summary = out.summary()?;
    /// println!("{summary}");
    /// assert!(summary.max_r_hat() < 1.1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary(&self) -> Result<Summary, SummaryError> {
        let traj = self.trajectory.as_ref().ok_or(SummaryError::NoTrajectory)?;
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
    /// The run kept no trajectory.
    #[error("the run kept no trajectory: request one with RunOptions::trajectory")]
    NoTrajectory,
    /// The diagnostics rejected the kept draws.
    #[error(transparent)]
    Diagnostics(#[from] DiagnosticsError),
}

/// Per-chain outcome of a Metropolis-adjusted run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainStats {
    /// Fraction of steps whose proposal was accepted, per chain.
    pub acceptance_rate: Vec<f64>,
    /// Number of proposals with a non-finite energy, gradient or state, per chain. Each was rejected.
    pub divergences: Vec<usize>,
}

impl ChainStats {
    pub(crate) fn new(n_chains: usize) -> Self {
        Self {
            acceptance_rate: vec![0.0; n_chains],
            divergences: vec![0; n_chains],
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
}

/// The states kept during a run, in host memory, laid out `[chain][kept][dim]`.
///
/// With thinning interval `thin`, the state after step `k * thin` is kept for `k = 1 ..= n_steps / thin`;
/// the initial state is not included. Shape: `[n_chains, n_kept, D]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory<const D: usize, E> {
    data: Vec<E>,
    n_chains: usize,
    n_kept: usize,
    thin: usize,
}

impl<const D: usize, E: Real> Trajectory<D, E> {
    pub(crate) fn new(n_chains: usize, n_kept: usize, thin: usize) -> Self {
        Self {
            data: vec![E::zero(); n_chains * n_kept * D],
            n_chains,
            n_kept,
            thin,
        }
    }

    /// The trajectory a run with `options` keeps, if any.
    pub(crate) fn for_run(n_chains: usize, options: &crate::RunOptions) -> Option<Self> {
        options
            .thin
            .map(|thin| Self::new(n_chains, options.n_kept(), thin))
    }

    /// Keeps the batch `x` (row-major `(n_chains, D)`), the state after step `step` (from 0), when
    /// that step falls on the thinning grid.
    pub(crate) fn after_step(&mut self, step: usize, x: &[E]) {
        if (step + 1) % self.thin == 0 {
            self.record((step + 1) / self.thin - 1, x);
        }
    }

    /// Stores the batch `x` (row-major `(n_chains, D)`) as kept state `k`.
    fn record(&mut self, k: usize, x: &[E]) {
        for (c, row) in x.chunks_exact(D).enumerate() {
            let at = (c * self.n_kept + k) * D;
            self.data[at..at + D].copy_from_slice(row);
        }
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

    /// Consumes the trajectory, returning its `[chain][kept][dim]` storage.
    pub fn into_vec(self) -> Vec<E> {
        self.data
    }

    /// A zero-copy view of the kept states for `ebm-diagnostics` (chains x kept draws x `D`).
    ///
    /// # Errors
    /// The diagnostics' errors: fewer than 4 kept states per chain, or a non-finite state.
    pub fn draws(&self) -> Result<Draws<'_, E>, DiagnosticsError> {
        Draws::new(&self.data, self.n_chains, self.n_kept, D)
    }

    /// The trajectory as a tensor of shape `(n_chains, n_kept, D)` on `dev`.
    pub fn to_tensor<Dev: Device<E>>(&self, dev: &Dev) -> Tensor<(usize, usize, Const<D>), E, Dev> {
        dev.tensor_from_vec(self.data.clone(), (self.n_chains, self.n_kept, Const::<D>))
    }
}

/// Statistics across chains recorded after every step.
///
/// Entry `t` describes the particles after step `t + 1` (the initial state is not included):
/// the across-chain mean and variance of each coordinate (the variance divides by `n_chains - 1`,
/// and is 0 for a single chain) and the mean energy. Samplers with a Metropolis test also record the
/// fraction of chains whose proposal was accepted and the mean absolute log acceptance ratio of the
/// proposals (for HMC, the energy error `|H(proposal) - H(start)|`), over the non-divergent ones.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDiagnostics<const D: usize, E> {
    pub(crate) mean: Vec<[E; D]>,
    pub(crate) variance: Vec<[E; D]>,
    pub(crate) mean_energy: Vec<E>,
    pub(crate) acceptance_rate: Option<Vec<f64>>,
    pub(crate) energy_error: Option<Vec<f64>>,
}

impl<const D: usize, E: Real> StepDiagnostics<D, E> {
    pub(crate) fn with_capacity(n_steps: usize) -> Self {
        Self {
            mean: Vec::with_capacity(n_steps),
            variance: Vec::with_capacity(n_steps),
            mean_energy: Vec::with_capacity(n_steps),
            acceptance_rate: None,
            energy_error: None,
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

    /// Mean `|log acceptance ratio|` of the non-divergent proposals, one entry per step (`NaN` when
    /// every proposal of a step diverged; `None` for samplers without a Metropolis test).
    pub fn energy_error(&self) -> Option<&[f64]> {
        self.energy_error.as_deref()
    }
}
