//! The driver: runs a kernel for a number of steps and tells observers about every step.

use crate::kernel::{Kernel, StepInfo, Target};
use crate::output::{RunStats, SampleOutput, StepDiagnostics, Trace};
use crate::progress::Progress;
use crate::state::ChainState;
use crate::RunOptions;
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
/// The kept trace ([`Trace`]) and the per-step diagnostics ([`StepDiagnostics`]) are observers; so is
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
    /// An error ends the run and is returned by [`Driver::run`].
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

/// Tunes a kernel while the driver runs it (warm-up): the driver takes every step with
/// [`Adaptation::kernel`], shows the step to the observers, then calls [`Adaptation::adapt`], which
/// may change the state's step sizes and the kernel (its mass matrix, say). Compare nuts-rs's
/// `AdaptStrategy` and BlackJAX's adaptation `init`/`update`/`final`.
///
/// [`WarmupAdaptation`](crate::warmup::WarmupAdaptation) is the windowed adaptation of
/// [`Warmup`](crate::warmup::Warmup); [`Driver::adapting`] runs one.
pub trait Adaptation<K, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    /// The kernel to take the next step with.
    fn kernel(&self) -> &K;

    /// Called after step `step` of the run (from 0), once the observers have seen it, with what
    /// the step did to each chain.
    ///
    /// # Returns
    /// Whether the kernel changed (the driver then starts the kernel's workspace afresh).
    ///
    /// # Errors
    /// An error ends the run and is returned by [`Driver::run`].
    fn adapt(
        &mut self,
        step: usize,
        info: &[StepInfo],
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<bool>;
}

/// Runs a [`Kernel`] on a [`ChainState`] and tells observers about every step.
///
/// The trace and per-step diagnostics that [`RunOptions`] asks for, and the progress bar, are
/// observers the driver adds itself, ahead of those [`Driver::observe`] adds; every observer is
/// treated alike: any of them can stop the run ([`Flow::Stop`]), and an observer's error ends it
/// at once. When the state has a step-size jitter ([`ChainState::set_step_size_jitter`]), every
/// step draws its step sizes first. [`Driver::adapting`] runs a kernel that an [`Adaptation`]
/// tunes as it goes.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::prelude::*;
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2, f64> = dev.zeros_like(&(100, Const::<2>));
/// let mala = Mala::new(0.3, 1.0)?;
/// let mut state = mala.init(&model, &x0, 7)?;
/// let mut accepted = 0usize;
/// let mut count = observer_fn(|s: &StepView<'_, 2, f64>| {
///     accepted += s.info.iter().filter(|i| i.accepted).count();
///     Ok(Flow::Continue)
/// });
/// let out = Driver::new(&mala, &model, &mut state)
///     .observe(&mut count)
///     .run(&RunOptions::new(50).trace(1))?;
/// assert_eq!(out.trace.unwrap().shape(), [100, 50, 2]);
/// let rate = out.chain_stats.unwrap().mean_acceptance_rate();
/// assert!((rate - accepted as f64 / 5000.0).abs() < 1e-12);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub struct Driver<'a, K, const D: usize, E, Dev, M>
where
    K: Kernel,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    kernel: Stepper<'a, K, D, E, Dev, M>,
    target: Target<'a, D, E, Dev, M>,
    state: &'a mut ChainState<D, E, Dev>,
    observers: Vec<&'a mut dyn Observer<D, E>>,
}

/// Where a driver's kernel comes from.
enum Stepper<'a, K, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    Fixed(&'a K),
    Adapted(&'a mut dyn Adaptation<K, D, E, Dev, M>),
}

impl<'a, K, const D: usize, E, Dev, M> Driver<'a, K, D, E, Dev, M>
where
    K: Kernel,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    /// A driver that advances `state` with `kernel` on `model`.
    pub fn new(kernel: &'a K, model: &'a M, state: &'a mut ChainState<D, E, Dev>) -> Self {
        let target = Target::new(model, state.device());
        Self {
            kernel: Stepper::Fixed(kernel),
            target,
            state,
            observers: Vec::new(),
        }
    }

    /// A driver that advances `state` on `model` with the kernel `adaptation` tunes as it goes.
    pub fn adapting(
        adaptation: &'a mut dyn Adaptation<K, D, E, Dev, M>,
        model: &'a M,
        state: &'a mut ChainState<D, E, Dev>,
    ) -> Self {
        let target = Target::new(model, state.device());
        Self {
            kernel: Stepper::Adapted(adaptation),
            target,
            state,
            observers: Vec::new(),
        }
    }

    fn kernel(&self) -> &K {
        match &self.kernel {
            Stepper::Fixed(k) => k,
            Stepper::Adapted(a) => a.kernel(),
        }
    }

    /// Adds an observer; observers are told about each step in the order they were added, after
    /// the trace, the diagnostics and the progress bar.
    pub fn observe(mut self, observer: &'a mut dyn Observer<D, E>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Runs `options.n_steps` steps (fewer if an observer stops the run) from the state's current
    /// point and streams, and returns the final particles with what `options` asked to record.
    /// `options.seed` is not used: the state carries its streams.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid options, the kernel's and the model's errors, and
    /// those of the observers. After an error inside a step the state is partly advanced (the
    /// random streams of every kernel; the positions too for unadjusted Langevin, whose chains have
    /// moved before the model is evaluated): do not continue it. An observer's error leaves the
    /// state after a completed step.
    pub fn run(mut self, options: &RunOptions) -> Result<SampleOutput<D, E, Dev>> {
        options.validate()?;
        self.kernel().check_dimension(D)?;
        let n = self.state.n_chains();
        let adjusted = self.kernel().metropolis_adjusted();
        let mut workspace = K::Workspace::<E>::default();
        let mut info = vec![StepInfo::default(); n];
        let mut stats = RunStats::new(n);
        let mut trace = options
            .thin
            .map(|thin| Trace::new(n, options.n_kept(), thin));
        let mut diagnostics = options
            .diagnostics
            .then(|| StepDiagnostics::with_capacity(options.n_steps));
        let mut progress = options.progress.then(Progress::new);
        let start = RunStart {
            n_chains: n,
            n_steps: options.n_steps,
            steps_before: self.state.steps(),
            metropolis_adjusted: adjusted,
        };
        // One list: the built-in observers first, then the caller's.
        let mut observers: Vec<&mut dyn Observer<D, E>> = Vec::new();
        if let Some(t) = trace.as_mut() {
            observers.push(t);
        }
        if let Some(d) = diagnostics.as_mut() {
            observers.push(d);
        }
        if let Some(p) = progress.as_mut() {
            observers.push(p);
        }
        for o in self.observers.iter_mut() {
            observers.push(&mut **o);
        }
        for o in observers.iter_mut() {
            o.start(&start);
        }
        let mut centres = Vec::new();
        let mut taken = 0;
        let mut outcome = Ok(());
        for step in 0..options.n_steps {
            self.state.begin_jitter(&mut centres);
            let kernel = match &self.kernel {
                Stepper::Fixed(k) => *k,
                Stepper::Adapted(a) => a.kernel(),
            };
            kernel.step(&mut self.target, self.state, &mut workspace, &mut info)?;
            self.state.steps += 1;
            taken += 1;
            if adjusted {
                stats.record(&info);
            }
            let kept = options
                .thin
                .filter(|&t| (step + 1) % t == 0)
                .map(|t| (step + 1) / t - 1);
            let view = StepView {
                step,
                total_steps: self.state.steps,
                kept,
                positions: &self.state.points.x,
                energies: &self.state.points.e,
                info: &info,
                step_sizes: &self.state.step_size,
                temperatures: &self.state.temperature,
            };
            let mut flow = Flow::Continue;
            for o in observers.iter_mut() {
                match o.observe(&view) {
                    Ok(Flow::Stop) => flow = Flow::Stop,
                    Ok(Flow::Continue) => {}
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            self.state.end_jitter(&centres);
            if outcome.is_err() {
                break;
            }
            if let Stepper::Adapted(a) = &mut self.kernel {
                if a.adapt(step, &info, &mut self.target, self.state)? {
                    workspace = K::Workspace::<E>::default();
                }
            }
            if flow == Flow::Stop {
                break;
            }
        }
        for o in observers.iter_mut() {
            o.finish(taken);
        }
        outcome?;
        stats.finalize();
        Ok(SampleOutput {
            samples: self.state.to_batch(),
            trace,
            diagnostics,
            chain_stats: adjusted.then_some(stats),
        })
    }
}
