//! Running a kernel: [`Sampler`] for whole runs, the [`Driver`] for runs with observers.

use super::driver::Driver;
use super::options::RunOptions;
use super::output::SampleOutput;
use crate::chain::ChainState;
use crate::kernels::Kernel;
use ebm_core::prelude::*;

/// A batched MCMC sampler: start chains at a batch of points, or continue a [`ChainState`], and run
/// them through a [`Driver`]. Every [`Kernel`] is one.
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

    /// Continues `state` for `options.n_steps` steps and returns what `options` asked to record.
    /// The state's own streams are used (`options.seed` only seeds fresh states).
    ///
    /// # Errors
    /// As [`Driver::run`].
    fn run_from<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
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

    fn run_from<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
        options: &RunOptions,
    ) -> Result<SampleOutput<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        Driver::new(self, model, state).run(options)
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
