//! What watches a run: the [`Observer`] trait, what an observer is told ([`RunStart`],
//! [`StepView`]) and what it answers ([`Flow`]).

use crate::kernels::StepInfo;
use ebm_core::prelude::*;

/// Whether a run goes on after an observer has seen a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Take the next step.
    Continue,
    /// End the run after this step. The state is valid and can be continued.
    Stop,
}

/// How a run starts, as its observers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStart {
    /// The number of chains.
    pub n_chains: usize,
    /// The number of steps the run will take unless an observer stops it.
    pub n_steps: usize,
    /// Steps the state had taken before this run.
    pub steps_before: u64,
    /// Whether the kernel has a Metropolis test (acceptance statistics are meaningful).
    pub metropolis_adjusted: bool,
}

/// The chains right after one step, as observers see them.
///
/// Positions are draw-major: the whole batch at this step, one chain per row, so a kept draw can be
/// appended to a store as it is produced.
#[derive(Debug, Clone, Copy)]
pub struct StepView<'a, const D: usize, E> {
    /// The index of this step within the run, from 0.
    pub step: usize,
    /// The number of steps the state has taken, this one included, over all runs.
    pub total_steps: u64,
    /// When this step's state is kept by the run's thinning, its index among the kept draws.
    pub kept: Option<usize>,
    /// The positions after the step, row-major `(n_chains, D)`.
    pub positions: &'a [E],
    /// The energy of every chain after the step.
    pub energies: &'a [E],
    /// What the step did to each chain.
    pub info: &'a [StepInfo],
    /// Every chain's step size during the step.
    pub step_sizes: &'a [f64],
    /// Every chain's temperature during the step.
    pub temperatures: &'a [f64],
}

/// Something that watches a run: told when it starts, after every step, and when it ends.
///
/// The kept trace ([`DrawTrace`](crate::DrawTrace)) and the per-step diagnostics ([`StepDiagnostics`](crate::StepDiagnostics)) are observers; so is
/// the progress bar. Write one to stream draws somewhere, to watch a statistic, or to stop a run
/// early ([`observer_fn`] wraps a closure).
pub trait Observer<const D: usize, E> {
    /// Called once before the first step.
    fn start(&mut self, run: &RunStart) {
        let _ = run;
    }

    /// Called after every step.
    ///
    /// # Errors
    /// An error ends the run and is returned by [`Driver::run`](crate::Driver::run).
    fn observe(&mut self, step: &StepView<'_, D, E>) -> Result<Flow>;

    /// Called once after the last step, with the number of steps taken.
    fn finish(&mut self, steps_taken: usize) {
        let _ = steps_taken;
    }
}

/// An [`Observer`] from a closure called after every step.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
///
/// let model = Harmonic::<f64>::default();
/// let x0: Batch<1, f64> = Cpu::default().zeros_like(&(8, Const::<1>));
/// let hmc = HamiltonianMonteCarlo::new(0.5, 4)?;
/// let mut state = hmc.init(&model, &x0, 1)?;
/// // Stop as soon as some chain has wandered beyond 2.
/// let mut watch = observer_fn(|s: &StepView<'_, 1, f64>| {
///     Ok(if s.positions.iter().any(|x| x.abs() > 2.0) { Flow::Stop } else { Flow::Continue })
/// });
/// Driver::new(&hmc, &model, &mut state).observe(&mut watch).run(&RunOptions::new(10_000))?;
/// assert!(state.steps() < 10_000);
/// assert!(state.positions().iter().any(|x| x.abs() > 2.0));
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn observer_fn<const D: usize, E, F>(f: F) -> FnObserver<F>
where
    F: FnMut(&StepView<'_, D, E>) -> Result<Flow>,
{
    FnObserver(f)
}

/// A closure as an [`Observer`]; see [`observer_fn`].
pub struct FnObserver<F>(F);

impl<const D: usize, E, F> Observer<D, E> for FnObserver<F>
where
    F: FnMut(&StepView<'_, D, E>) -> Result<Flow>,
{
    fn observe(&mut self, step: &StepView<'_, D, E>) -> Result<Flow> {
        (self.0)(step)
    }
}
