//! # ebm-samplers
//!
//! Batched MCMC samplers for any [`ebm_core::Energy`]: every row of the initial batch is an
//! independent chain, moved in lock-step. A run returns the final particles and, on request, the
//! trace of kept draws (thinned) and per-step diagnostics.
//!
//! - [`LangevinDynamics`]: unadjusted Langevin dynamics, `x <- x - h grad E + s sqrt(2h) xi`;
//! - [`Mala`]: the same proposal with a Metropolis-Hastings correction, exact at any step size;
//! - [`HamiltonianMonteCarlo`]: leapfrog trajectories with a Metropolis test and a mass matrix.
//!
//! The Metropolis-adjusted samplers reject proposals with a non-finite energy or gradient and count
//! them as divergences ([`RunStats`]); the chain keeps its last finite state.
//!
//! Each sampler is a [`Kernel`]: one transition of a batch of chains. A [`ChainState`] (positions,
//! energies, gradients, per-chain random streams, step sizes and temperatures) outlives a run and
//! can be continued; a [`Driver`] runs a kernel on it and tells [`Observer`]s about every step
//! (the [`Trace`], the [`StepDiagnostics`], a [`Progress`] bar, your own).
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_models::GaussianModel;
//! use ebm_samplers::prelude::*;
//!
//! let dev = Cpu::default();
//! let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
//! let sampler = LangevinDynamics::new(0.1, 0.1)?;
//! let x0: Batch<2> = dev.sample_normal_like(&(1000, Const::<2>));
//! let samples = sampler.sample(&model, &x0, 100, 42)?;
//! assert_eq!(samples.shape().0, 1000);
//! # Ok::<(), ebm_core::Error>(())
//! ```

#![warn(missing_docs)]

mod blocks;
mod chains;
mod driver;
mod hmc;
mod kernel;
mod langevin;
mod mala;
mod mass;
mod nuts;
mod options;
mod output;
mod progress;
mod replica;
mod snapshot;
mod state;
pub mod warmup;

pub use driver::{observer_fn, Adaptation, Driver, Flow, FnObserver, Observer, RunStart, StepView};
pub use hmc::{HamiltonianMonteCarlo, HmcWorkspace};
pub use kernel::{
    metropolis_accept, Divergence, Kernel, StepInfo, Target, DEFAULT_MAX_ENERGY_ERROR,
};
pub use langevin::{LangevinDynamics, LangevinWorkspace};
pub use mala::{Mala, MalaWorkspace};
pub use mass::MassMatrix;
pub use nuts::{Nuts, NutsWorkspace, UTurn};
pub use options::RunOptions;
pub use output::{RunStats, SampleOutput, StepDiagnostics, SummaryError, Trace};
pub use progress::Progress;
pub use replica::{
    ReplicaDriver, ReplicaExchange, ReplicaOutput, ReplicaSnapshot, ReplicaState, SwapScheme,
    SwapStats,
};
pub use snapshot::StateSnapshot;
pub use state::{ChainState, Points, StateParts};
pub use warmup::{
    Adaptable, AdaptedRun, DrawStats, DualAveraging, MassAdaptation, PhaseDraws, Tuned, Warmup,
    WarmupAdaptation, WarmupSnapshot,
};

/// Everything a kernel author needs in one place: the [`Kernel`] trait and what its `step`
/// sees ([`Target`], [`ChainState`], [`Points`], [`StateParts`], [`StepInfo`], [`Divergence`]),
/// the Metropolis test ([`metropolis_accept`]), the warm-up hooks ([`Adaptable`]) and the
/// driver's ([`Adaptation`], [`Driver`], [`Observer`], [`StepView`], [`Flow`], [`RunOptions`]).
///
/// ```
/// use ebm_samplers::kernel_prelude::*;
/// fn takes_a_kernel<K: Kernel>(_: &K) {}
/// takes_a_kernel(&ebm_samplers::Mala::new(0.1, 1.0).unwrap());
/// ```
pub mod kernel_prelude {
    pub use crate::{
        metropolis_accept, Adaptable, Adaptation, ChainState, Divergence, Driver, Flow, Kernel,
        Observer, Points, RunOptions, StateParts, StepInfo, StepView, Target,
        DEFAULT_MAX_ENERGY_ERROR,
    };
}

/// The convergence diagnostics crate, re-exported for [`SampleOutput::summary`] and [`Trace::draws`].
pub use ebm_diagnostics as diagnostics;

use ebm_core::prelude::*;

/// A batched MCMC sampler: start chains at a batch of points and run them. Every [`Kernel`] is one.
pub trait Sampler {
    /// Runs `options.n_steps` steps from the initial particles `x0` (one chain per row), with fresh
    /// streams from `options.seed`.
    ///
    /// # Errors
    /// - [`Error::EmptyBatch`] when `x0` has no rows;
    /// - [`Error::NonFiniteState`] when an initial coordinate is NaN or infinite (naming the chain);
    /// - [`Error::NonFiniteInitialEnergy`] when a Metropolis-adjusted sampler starts a chain where the
    ///   energy or its gradient is not finite;
    /// - [`Error::LengthMismatch`] when an HMC mass matrix does not match the model's dimension;
    /// - [`Error::InvalidParameter`] for invalid options;
    /// - [`Error::Diverged`] when a chain of an unadjusted sampler leaves the finite range;
    /// - [`Error::ModelShape`] when the model returns a result for the wrong number of chains.
    fn run<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        options: &RunOptions,
    ) -> Result<SampleOutput<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized;

    /// Runs `n_steps` steps from `x0` with `seed` and returns only the final particles.
    ///
    /// # Errors
    /// As [`Sampler::run`].
    fn sample<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        n_steps: usize,
        seed: u64,
    ) -> Result<Batch<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        Ok(self
            .run(model, x0, &RunOptions::new(n_steps).seed(seed))?
            .samples)
    }
}

impl<K: Kernel> Sampler for K {
    fn run<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        options: &RunOptions,
    ) -> Result<SampleOutput<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        options.validate()?;
        let mut state = self.init(model, x0, options.seed)?;
        self.run_from(model, &mut state, options)
    }

    fn sample<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        n_steps: usize,
        seed: u64,
    ) -> Result<Batch<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.final_positions(model, x0, n_steps, seed)
    }
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The user guide's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/sampling.md")]
pub struct GuideDoctests;

/// The sampler names most programs need. [`Trace`] is left out: dfdx's prelude, which
/// `ebm_core::prelude` re-exports, has a trait of that name; write `ebm_samplers::Trace`.
pub mod prelude {
    pub use crate::{
        observer_fn, Adaptable, Adaptation, AdaptedRun, ChainState, Divergence, Driver, Flow,
        HamiltonianMonteCarlo, Kernel, LangevinDynamics, Mala, MassAdaptation, MassMatrix, Nuts,
        Observer, ReplicaExchange, RunOptions, RunStats, SampleOutput, Sampler, StepDiagnostics,
        StepInfo, StepView, SwapScheme, UTurn, Warmup,
    };
}

/// This crate's README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctest;
