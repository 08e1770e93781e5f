//! # ebm-samplers
//!
//! Batched MCMC samplers for any [`ebm_core::Energy`]: every row of the initial batch is an
//! independent chain, moved in lock-step. A run returns the final particles and, on request, the
//! trace of kept draws (thinned) and per-step diagnostics.
//!
//! ## Samplers
//!
//! - [`LangevinDynamics`]: unadjusted Langevin dynamics, `x <- x - h grad E + s sqrt(2h) xi`;
//! - [`Mala`]: the same proposal with a Metropolis-Hastings correction, exact at any step size;
//! - [`HamiltonianMonteCarlo`]: leapfrog trajectories with a Metropolis test and a mass matrix;
//! - [`Nuts`]: the No-U-Turn Sampler, usually run after a [`Warmup`] that tunes its step size and
//!   mass matrix;
//! - [`ReplicaExchange`]: any of them at a ladder of temperatures with swaps between neighbours,
//!   for targets with separated modes;
//! - your own: implement [`Kernel`] (what it needs is in [`kernel_prelude`]).
//!
//! The Metropolis-adjusted samplers reject proposals with a non-finite energy or gradient and count
//! them as divergences ([`RunStats`]); the chain keeps its last finite state.
//!
//! ## How the crate is built
//!
//! The modules follow the architecture, each depending only on those before it:
//! - the **chains**: a [`ChainState`] (positions, energies, gradients, per-chain random streams,
//!   step sizes and temperatures) outlives a run and can be continued or saved
//!   ([`StateSnapshot`]); [`Target`] is the model as the chains see it;
//! - the **kernels**: a [`Kernel`] is one transition of a batch of chains, reporting a
//!   [`StepInfo`] per chain; the built-in samplers are kernels;
//! - **running**: a [`Driver`] runs a kernel on a state and tells [`Observer`]s about every step
//!   (the [`DrawTrace`], the [`StepDiagnostics`], a [`Progress`] bar, a store, your own);
//!   [`Sampler`] gives every kernel `run`, `run_from` and `sample` on top of it;
//! - **adapting**: [`Warmup`] tunes a kernel's step size and mass matrix, as an [`Adaptation`]
//!   the driver calls after each step ([`warmup`]);
//! - **tempering**: [`ReplicaExchange`] runs a kernel at several temperatures through the same
//!   driver.
//!
//! ## Conventions
//!
//! - **Settings.** Kernels validate in their constructors and return `Result`. Their `with_*`
//!   methods return `Result` when the value can be invalid (a number: `with_max_depth`,
//!   `with_divergence_threshold`, `with_mass`) and `Self` when every value is valid (an enum:
//!   `with_uturn`, `with_scheme`). Every kernel has a `Default`. Run settings ([`RunOptions`],
//!   [`Warmup`], `ebm_storage::StoreOptions`) are structs with public fields, a `Default` and a
//!   chainable setter per field, checked when the run starts.
//! - **Acceptance.** The *acceptance rate* is the mean of [`StepInfo::acceptance`] everywhere
//!   ([`RunStats`], [`StepDiagnostics`], [`DrawStats::mean_acceptance_rate`], summaries, the
//!   stores' `acceptance_rate`): the fraction of proposals accepted for MALA and HMC, and the mean
//!   acceptance statistic of the trajectory for NUTS, as Stan and ArviZ report it. The *accept
//!   probability* ([`StepInfo::accept_prob`]) is the Metropolis probability `min(1, r)`.
//! - **Statistics.** `total_*` sums over chains (and draws), `mean_*` averages.
//!
//! ## Examples
//!
//! `cargo run --release -p ebm-samplers --example NAME`: `langevin_basic`, `langevin_trajectory`,
//! `hmc_basic`, `nuts_basic` (warm-up, then NUTS), `replica_exchange` (four wells),
//! `custom_kernel` (random-walk Metropolis written against [`Kernel`], tuned by [`Warmup`]) and
//! `device_check` (the CUDA path). `ebm-storage` has `long_run` (warm-up and NUTS streamed to a
//! store, resumable) and `shards` (a run split into shards and merged); `ebm-train` has
//! `train_ring8`.
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
    ReplicaDriver, ReplicaExchange, ReplicaOutput, ReplicaSnapshot, ReplicaState, SwapCounts,
    SwapScheme, SwapStats,
};
#[allow(deprecated)]
pub use run::Trace;
pub use run::{
    observer_fn, Adaptation, DrawTrace, Driver, Flow, FnObserver, Observer, Progress, RunOptions,
    RunStart, RunStats, SampleOutput, Sampler, StepDiagnostics, StepView, SummaryError,
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

/// The convergence diagnostics crate, re-exported for [`SampleOutput::summary`] and [`DrawTrace::draws`].
pub use ebm_diagnostics as diagnostics;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The user guide's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/sampling.md")]
pub struct GuideDoctests;

/// The sampler names most programs need.
pub mod prelude {
    pub use crate::{
        observer_fn, Adaptable, Adaptation, AdaptedRun, ChainState, Divergence, DrawTrace, Driver,
        Flow, HamiltonianMonteCarlo, Kernel, LangevinDynamics, Mala, MassAdaptation, MassMatrix,
        Nuts, Observer, ReplicaExchange, RunOptions, RunStats, SampleOutput, Sampler,
        StepDiagnostics, StepInfo, StepView, SwapScheme, UTurn, Warmup,
    };
}

/// This crate's README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctest;
