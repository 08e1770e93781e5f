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

mod chain;
mod kernels;
mod replica;
mod run;
pub mod warmup;

pub use chain::{ChainState, Points, StateParts, StateSnapshot, Target};
pub use kernels::{
    metropolis_accept, Divergence, HamiltonianMonteCarlo, HmcWorkspace, Kernel, LangevinDynamics,
    LangevinWorkspace, Mala, MalaWorkspace, MassMatrix, Nuts, NutsWorkspace, StepInfo, UTurn,
    DEFAULT_MAX_ENERGY_ERROR,
};
pub use replica::{
    ReplicaDriver, ReplicaExchange, ReplicaOutput, ReplicaSnapshot, ReplicaState, SwapScheme,
    SwapStats,
};
pub use run::{
    observer_fn, Adaptation, Driver, Flow, FnObserver, Observer, Progress, RunOptions, RunStart,
    RunStats, SampleOutput, Sampler, StepDiagnostics, StepView, SummaryError, Trace,
};
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
        Observer, Points, RunOptions, Sampler, StateParts, StepInfo, StepView, Target,
        DEFAULT_MAX_ENERGY_ERROR,
    };
}

/// The convergence diagnostics crate, re-exported for [`SampleOutput::summary`] and [`Trace::draws`].
pub use ebm_diagnostics as diagnostics;

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
