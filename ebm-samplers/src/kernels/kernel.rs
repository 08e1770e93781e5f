//! The step-level interface: a [`Kernel`] advances every chain of a [`ChainState`] by one transition
//! and reports per chain what happened in a [`StepInfo`].

use crate::chain::{ChainState, Points, Target};
use ebm_core::prelude::*;

/// Why a transition was flagged as divergent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Divergence {
    /// The proposal's energy, gradient, position or acceptance ratio was NaN or infinite. The
    /// proposal was rejected.
    NonFinite,
    /// The energy error exceeded the kernel's threshold (1000 by default, as in Stan): the integrator
    /// has left the region where it tracks the energy. The Metropolis test still decides, and all
    /// but always rejects.
    EnergyError,
}

/// What one transition did to one chain.
///
/// Kernels fill one per chain at every step. The per-step diagnostics, the per-chain
/// [`RunStats`](crate::RunStats) and the progress bar are derived from them; observers see them as
/// they come.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct StepInfo {
    /// The log acceptance ratio `log alpha` of the proposal (`-inf` for a non-finite one, 0 for a
    /// kernel without a Metropolis test); [`StepInfo::accept_prob`] is `min(1, exp(log alpha))`.
    pub log_accept_ratio: f64,
    /// Whether the chain moved to the proposal.
    pub accepted: bool,
    /// The energy error `-log alpha`: the change of the Hamiltonian over the proposal, in units of
    /// the chain's temperature (MALA is HMC with one leapfrog step, and its `-log alpha` is exactly
    /// that step's energy error). `NaN` for a kernel without a Metropolis test or a non-finite
    /// proposal. For NUTS, which has no single proposal, it is the energy error of the point drawn,
    /// and `log_accept_ratio` is the log of the mean acceptance probability over the trajectory
    /// (Stan's `accept_stat__`).
    pub energy_error: f64,
    /// Gradient evaluations this transition cost the chain.
    pub grad_evals: u32,
    /// Set when the transition diverged.
    pub divergence: Option<Divergence>,
    /// The depth of the No-U-Turn tree (0 for other kernels): the trajectory doubled this many
    /// times.
    pub tree_depth: u32,
    /// Whether the No-U-Turn tree stopped at its maximum depth rather than by a U-turn.
    pub hit_max_depth: bool,
    /// For a kernel with a trajectory (NUTS), the mean over its points of the symmetric
    /// acceptance statistic `2 min(1, r) / (1 + r)`, `r` the Metropolis ratio of the point; `None`
    /// for single-proposal kernels, whose statistic follows from `log_accept_ratio`
    /// ([`StepInfo::symmetric_accept_prob`]).
    pub trajectory_symmetric_accept: Option<f64>,
}

impl Default for StepInfo {
    /// Not accepted, probability 0, no energy error, no gradient, no divergence.
    fn default() -> Self {
        Self {
            log_accept_ratio: f64::NEG_INFINITY,
            accepted: false,
            energy_error: f64::NAN,
            grad_evals: 0,
            divergence: None,
            tree_depth: 0,
            hit_max_depth: false,
            trajectory_symmetric_accept: None,
        }
    }
}

impl StepInfo {
    /// The transition's acceptance, in the one meaning the library reports (run statistics,
    /// summaries, diagnostics, the progress bar, stores) and the guide's targets use: for a
    /// kernel with one proposal (MALA, HMC), 1 when it was accepted and 0 when not, so its mean is
    /// the fraction of proposals accepted; for NUTS, which has no single proposal, the mean
    /// acceptance probability over the trajectory (Stan's `accept_stat__`), whose mean warm-up
    /// tunes to 0.8. 1 for a kernel without a Metropolis test.
    pub fn acceptance(&self) -> f64 {
        if self.trajectory_symmetric_accept.is_some() {
            self.accept_prob()
        } else {
            f64::from(u8::from(self.accepted))
        }
    }

    /// The acceptance probability `min(1, exp(log alpha))` of the proposal: 0 for a non-finite one,
    /// 1 for a kernel without a Metropolis test. Step-size adaptation works from it.
    pub fn accept_prob(&self) -> f64 {
        if self.log_accept_ratio >= 0.0 {
            1.0
        } else {
            self.log_accept_ratio.exp()
        }
    }

    /// A move that is always taken (a kernel without a Metropolis test) costing `grad_evals`.
    pub fn unadjusted(grad_evals: u32) -> Self {
        Self {
            log_accept_ratio: 0.0,
            accepted: true,
            energy_error: f64::NAN,
            grad_evals,
            divergence: None,
            tree_depth: 0,
            hit_max_depth: false,
            trajectory_symmetric_accept: None,
        }
    }

    /// The symmetric acceptance statistic `2 min(1, r) / (1 + r)` with `r = exp(log alpha)` (for
    /// NUTS its mean over the trajectory). Unlike `min(1, r)` it also falls below 1 when the energy
    /// error is negative, by as much as when it is positive, so it measures the size of the
    /// energy errors whatever their sign; warm-up tunes NUTS's step size with it, as nutpie does.
    /// 0 for a non-finite proposal, 1 for a kernel without a Metropolis test.
    pub fn symmetric_accept_prob(&self) -> f64 {
        if let Some(s) = self.trajectory_symmetric_accept {
            return s;
        }
        let l = self.log_accept_ratio;
        if l.is_nan() || l == f64::NEG_INFINITY {
            0.0
        } else if l == 0.0 {
            1.0
        } else {
            // 2 min(1, r) / (1 + r) = 2 / (1 + e^|l|) for either sign of l.
            2.0 / (1.0 + l.abs().exp())
        }
    }
}

/// One transition of a batch of chains: the step-level interface every sampler of the crate
/// implements, and the one to implement for a sampler of your own.
///
/// A kernel holds settings only. Everything that changes from step to step lives in the
/// [`ChainState`] (positions, energies, gradients, random streams, per-chain step size and
/// temperature) or in the kernel's [`Kernel::Workspace`] (buffers reused between steps). A kernel
/// draws randomness for chain `c` only from chain `c`'s stream, so results do not depend on how
/// chains are spread over threads or on which other chains share the batch.
///
/// [`Kernel::init`] builds a state, [`Sampler::run_from`](crate::Sampler::run_from) (or a
/// [`Driver`](crate::Driver) with observers) runs it for a number of steps, and every kernel is a
/// [`Sampler`](crate::Sampler), so
/// `kernel.run(model, x0, options)` does both.
///
/// `cargo run --release --example custom_kernel` implements random-walk Metropolis against this
/// trait.
pub trait Kernel {
    /// Buffers reused from step to step (proposals, momenta); sized by the kernel at its first step.
    type Workspace<E: Real>: Default + Send;

    /// The step size a new state gives every chain.
    fn initial_step_size(&self) -> f64;

    /// The temperature a new state gives every chain.
    fn initial_temperature(&self) -> f64;

    /// Whether the kernel has a Metropolis test. Such kernels need a finite energy and gradient at
    /// every starting point, and their runs report acceptance statistics.
    fn metropolis_adjusted(&self) -> bool;

    /// Checks the kernel's settings against the model's dimension `d` (for example a mass matrix).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] or [`Error::InvalidParameter`] naming the setting.
    fn check_dimension(&self, d: usize) -> Result<()> {
        let _ = d;
        Ok(())
    }

    /// Advances every chain of `state` by one transition and writes what happened into `info` (one
    /// entry per chain). Afterwards the state's energies and gradients are those at its positions.
    ///
    /// # Errors
    /// The model's errors through `target`; kernels without a Metropolis test return
    /// [`Error::Diverged`] when a chain leaves the finite range.
    fn step<const D: usize, E, Dev, M>(
        &self,
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
        workspace: &mut Self::Workspace<E>,
        info: &mut [StepInfo],
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized;

    /// A state at the points `x0` (one chain per row), with chain `c` drawing from ChaCha8
    /// `seed_from_u64(seed)`, stream `c`, the energies and gradients evaluated, and every chain at
    /// the kernel's step size and temperature.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`], [`Error::NonFiniteState`] for a non-finite starting coordinate,
    /// [`Error::NonFiniteInitialEnergy`] when a Metropolis-adjusted kernel starts a chain where the
    /// energy or gradient is not finite, the errors of [`Kernel::check_dimension`], and the model's.
    fn init<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        seed: u64,
    ) -> Result<ChainState<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.init_shard(model, x0, seed, 0)
    }

    /// As [`Kernel::init`] for chains `first_chain ..` of a larger run split into shards: row `c`
    /// of `x0` is chain `first_chain + c`, with that chain's random stream, so each shard gives
    /// exactly the draws its chains have in the single run (see [`ChainState::new_shard`]).
    ///
    /// # Errors
    /// As [`Kernel::init`], and [`Error::InvalidParameter`] naming `first_chain` when the chains'
    /// indices would pass `u64::MAX`.
    fn init_shard<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        seed: u64,
        first_chain: u64,
    ) -> Result<ChainState<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.check_dimension(D)?;
        let mut state = ChainState::new_shard(
            x0,
            seed,
            first_chain,
            self.initial_step_size(),
            self.initial_temperature(),
        )?;
        let mut target = Target::new(model, x0.device());
        state.evaluate(&mut target)?;
        if self.metropolis_adjusted() {
            check_initial_points::<D, E>(&state.points)?;
        }
        Ok(state)
    }

    /// Moves every chain of `state` `n_steps` transitions on, recording nothing: the transitions
    /// of [`Sampler::run_from`](crate::Sampler::run_from) with neither trace, statistics, observers nor progress bar, to the
    /// same draws. A kernel may run them faster: [`LangevinDynamics`](crate::LangevinDynamics) runs
    /// all the steps of a block of chains on one thread for models with a
    /// [`RowEnergy`](ebm_core::energy::RowEnergy).
    ///
    /// # Errors
    /// As [`Driver::run`](crate::Driver::run).
    fn advance<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
        n_steps: usize,
    ) -> Result<()>
    where
        Self: Sized,
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        plain_steps(self, model, state, n_steps)
    }

    /// The positions after `n_steps` transitions from `x0` with the streams of `seed`: the
    /// `samples` of [`Sampler::run`](crate::Sampler::run) with those settings, bit for bit, which
    /// [`Sampler::sample`](crate::Sampler::sample) returns. A kernel may skip work that only the
    /// state needs (the evaluation after the last unadjusted Langevin step).
    ///
    /// # Errors
    /// As [`Kernel::init`] and [`Kernel::advance`].
    fn final_positions<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        n_steps: usize,
        seed: u64,
    ) -> Result<Batch<D, E, Dev>>
    where
        Self: Sized,
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let mut state = self.init(model, x0, seed)?;
        self.advance(model, &mut state, n_steps)?;
        Ok(state.to_batch())
    }
}

/// Checks that every chain starts with a finite energy and gradient.
fn check_initial_points<const D: usize, E: Real>(p: &Points<E>) -> Result<()> {
    for c in 0..p.n_chains() {
        if !p.e[c].is_finite() {
            return Err(Error::NonFiniteInitialEnergy {
                chain: c,
                what: "energy".into(),
                value: p.e[c].as_f64(),
            });
        }
        if let Some(v) = p.g[c * D..(c + 1) * D].iter().find(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInitialEnergy {
                chain: c,
                what: "gradient".into(),
                value: v.as_f64(),
            });
        }
    }
    Ok(())
}

/// `n_steps` transitions of `kernel` on `state` with nothing recorded: the steps a
/// [`Driver`](crate::Driver) takes, without observers.
pub(crate) fn plain_steps<K, const D: usize, E, Dev, M>(
    kernel: &K,
    model: &M,
    state: &mut ChainState<D, E, Dev>,
    n_steps: usize,
) -> Result<()>
where
    K: Kernel,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    kernel.check_dimension(D)?;
    let mut target = Target::new(model, state.device());
    let mut workspace = K::Workspace::<E>::default();
    let mut info = vec![StepInfo::default(); state.n_chains()];
    let mut centres = Vec::new();
    for _ in 0..n_steps {
        state.begin_jitter(&mut centres);
        kernel.step(&mut target, state, &mut workspace, &mut info)?;
        state.steps += 1;
        state.end_jitter(&centres);
    }
    Ok(())
}
