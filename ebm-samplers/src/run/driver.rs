//! The driver: runs a kernel for a number of steps and tells observers about every step.

use super::observer::{Flow, Observer, RunStart, StepView};
use super::options::RunOptions;
use super::output::{kept_index, DrawTrace, RunStats, SampleOutput, StepDiagnostics};
use super::progress::Progress;
use crate::chain::{ChainState, Target};
use crate::kernels::{Kernel, StepInfo};
use ebm_core::prelude::*;

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
            .map(|thin| DrawTrace::new(n, options.n_kept(), thin));
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
            let kept = options.thin.and_then(|t| kept_index(step, t));
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
