//! A tempered run through the driver: a scan as a kernel step, observers of the cold chains
//! or of every rung, and what a run returns.

use super::book::SwapBook;
use super::exchange::ReplicaExchange;
use super::ladder::{check_ladder, respace};
use super::scheme::SwapScheme;
use super::state::ReplicaState;
use super::stats::SwapStats;
use crate::chain::{ChainState, Target};
use crate::kernels::{Kernel, StepInfo};
use crate::run::kept_index;
use crate::run::{
    DrawTrace, Driver, Flow, Observer, RunOptions, RunStart, SampleOutput, StepDiagnostics,
    StepView,
};
use ebm_core::prelude::*;
use std::cell::RefCell;

/// A replica-exchange run with observers; [`ReplicaExchange::driver`] makes one.
pub struct ReplicaDriver<'a, K, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    pub(super) exchange: &'a ReplicaExchange<K>,
    pub(super) model: &'a M,
    pub(super) state: &'a mut ReplicaState<D, E, Dev>,
    pub(super) cold: Vec<&'a mut dyn Observer<D, E>>,
    pub(super) all: Vec<&'a mut dyn Observer<D, E>>,
}

impl<'a, K, const D: usize, E, Dev, M> ReplicaDriver<'a, K, D, E, Dev, M>
where
    K: Kernel,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    /// Adds an observer of the cold chains (one per ladder), told about every scan.
    pub fn observe(mut self, observer: &'a mut dyn Observer<D, E>) -> Self {
        self.cold.push(observer);
        self
    }

    /// Adds an observer of every replica (`ladders x temperatures` chains, temperature-major),
    /// told about every scan.
    pub fn observe_all(mut self, observer: &'a mut dyn Observer<D, E>) -> Self {
        self.all.push(observer);
        self
    }

    /// Runs `options.n_steps` scans (fewer if an observer stops the run) and returns the cold
    /// chains' output and the swap statistics of this run.
    ///
    /// # Errors
    /// As [`Driver::run`].
    pub fn run(self, options: &RunOptions) -> Result<ReplicaOutput<D, E, Dev>> {
        options.validate()?;
        let state = self.state;
        let n_cold = state.book.n_ladders;
        state.book.start_run();
        let mut trace = options
            .thin
            .map(|thin| DrawTrace::new(n_cold, options.n_kept(), thin));
        let mut diagnostics = options
            .diagnostics
            .then(|| StepDiagnostics::with_capacity(options.n_steps));
        let inner = RunOptions {
            thin: None,
            diagnostics: false,
            ..*options
        };
        let scan = Scan {
            explorer: &self.exchange.explorer,
            explore_steps: self.exchange.explore_steps,
            scheme: self.exchange.scheme,
            book: RefCell::new(&mut state.book),
        };
        let mut cold: Vec<ColdRows<'_, dyn Observer<D, E> + 'a>> = Vec::new();
        if let Some(t) = trace.as_mut() {
            cold.push(ColdRows::new(n_cold, options.thin, t));
        }
        if let Some(d) = diagnostics.as_mut() {
            cold.push(ColdRows::new(n_cold, None, d));
        }
        for o in self.cold {
            cold.push(ColdRows::new(n_cold, options.thin, o));
        }
        let mut driver = Driver::new(&scan, self.model, &mut state.chains);
        for o in cold.iter_mut() {
            driver = driver.observe(o);
        }
        for o in self.all {
            driver = driver.observe(o);
        }
        let out = driver.run(&inner)?;
        let positions = state.chains.positions()[..n_cold * D].to_vec();
        let samples = state
            .chains
            .device()
            .tensor_from_vec(positions, (n_cold, Const::<D>));
        Ok(ReplicaOutput {
            cold: SampleOutput {
                samples,
                trace,
                diagnostics,
                chain_stats: out.chain_stats.map(|s| s.first_chains(n_cold)),
            },
            swaps: state.book.stats(&state.book.run),
        })
    }
}

/// What a replica-exchange run returns.
#[derive(Debug, Clone)]
pub struct ReplicaOutput<const D: usize, E: Real, Dev: Device<E>> {
    /// The cold chains (one per ladder): final samples, trace, diagnostics and statistics, as a
    /// plain run returns them.
    pub cold: SampleOutput<D, E, Dev>,
    /// The swap statistics of the run.
    pub swaps: SwapStats,
}

/// One scan as a kernel step: `explore_steps` explorer steps, then a round of swaps.
pub(super) struct Scan<'a, K> {
    pub(super) explorer: &'a K,
    pub(super) explore_steps: usize,
    pub(super) scheme: SwapScheme,
    pub(super) book: RefCell<&'a mut SwapBook>,
}

impl<K: Kernel> Kernel for Scan<'_, K> {
    type Workspace<E: Real> = K::Workspace<E>;

    fn initial_step_size(&self) -> f64 {
        self.explorer.initial_step_size()
    }

    fn initial_temperature(&self) -> f64 {
        1.0
    }

    fn metropolis_adjusted(&self) -> bool {
        true
    }

    fn check_dimension(&self, d: usize) -> Result<()> {
        self.explorer.check_dimension(d)
    }

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
        M: Energy<D, E, Dev> + ?Sized,
    {
        let mut book = self.book.borrow_mut();
        let book = &mut **book;
        let n = info.len();
        book.evals.clear();
        book.evals.resize(n, 0);
        book.scan_divergence.clear();
        book.scan_divergence.resize(n, None);
        book.scan_prob_sum.clear();
        book.scan_prob_sum.resize(n, 0.0);
        let n_l = book.n_ladders.max(1);
        for _ in 0..self.explore_steps {
            self.explorer.step(target, state, workspace, info)?;
            for (c, i) in info.iter().enumerate() {
                book.evals[c] = book.evals[c].saturating_add(i.grad_evals);
                book.scan_prob_sum[c] += i.accept_prob();
                if book.scan_divergence[c].is_none() {
                    book.scan_divergence[c] = i.divergence;
                }
                // Chains are temperature-major: chain c explores at temperature c / n_ladders.
                if let Some(k) = book.run.explore_steps_taken.get_mut(c / n_l) {
                    *k += 1;
                }
                if let Some(k) = book.run.explore_accepted.get_mut(c / n_l) {
                    *k += u64::from(i.accepted);
                }
            }
        }
        // A scan reports its exploration per step: the last step's move, the mean acceptance
        // probability of its steps, the first divergence of any step, all the gradients.
        let m = self.explore_steps as f64;
        for (c, i) in info.iter_mut().enumerate() {
            i.grad_evals = book.evals[c];
            if self.explore_steps > 1 {
                i.log_accept_ratio = (book.scan_prob_sum[c] / m).ln();
            }
            i.divergence = book.scan_divergence[c];
        }
        book.swap(state, self.scheme);
        Ok(())
    }
}

/// Shows an observer only the first `rows` chains (the cold ones), with the kept-draw index of
/// `thin`.
pub(super) struct ColdRows<'o, O: ?Sized> {
    pub(super) rows: usize,
    pub(super) thin: Option<usize>,
    pub(super) inner: &'o mut O,
}

impl<'o, O: ?Sized> ColdRows<'o, O> {
    pub(super) fn new(rows: usize, thin: Option<usize>, inner: &'o mut O) -> Self {
        Self { rows, thin, inner }
    }
}

impl<const D: usize, E, O: Observer<D, E> + ?Sized> Observer<D, E> for ColdRows<'_, O> {
    fn start(&mut self, run: &RunStart) {
        self.inner.start(&RunStart {
            n_chains: self.rows,
            ..*run
        });
    }

    fn observe(&mut self, step: &StepView<'_, D, E>) -> Result<Flow> {
        let n = self.rows;
        let kept = self.thin.and_then(|t| kept_index(step.step, t));
        self.inner.observe(&StepView {
            kept,
            positions: &step.positions[..n * D],
            energies: &step.energies[..n],
            info: &step.info[..n],
            step_sizes: &step.step_sizes[..n],
            temperatures: &step.temperatures[..n],
            ..*step
        })
    }

    fn finish(&mut self, steps_taken: usize) {
        self.inner.finish(steps_taken);
    }
}

/// Running a ladder: the methods that take scans.
impl<K: Kernel> ReplicaExchange<K> {
    /// Runs `options.n_steps` scans (exploration, then swaps) from the state and returns the cold
    /// chains' output, as a plain run's (samples, trace and diagnostics as `options` asks), and the
    /// swap statistics of this run. Observers see the cold chains.
    ///
    /// # Errors
    /// As [`Driver::run`](crate::Driver::run).
    pub fn run_from<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        state: &mut ReplicaState<D, E, Dev>,
        options: &RunOptions,
    ) -> Result<ReplicaOutput<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.driver(model, state).run(options)
    }

    /// A run of `state` that observers watch: [`ReplicaDriver::observe`] adds an observer of the
    /// cold chains (one per ladder: what a store of the run keeps), [`ReplicaDriver::observe_all`]
    /// one of every replica (`ladders x temperatures` chains, temperature-major). The progress
    /// bar of [`RunOptions::progress`] counts scans.
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::GaussianMixture;
    /// use ebm_samplers::prelude::*;
    ///
    /// let dev = Cpu::default();
    /// let model = GaussianMixture::<2, f64>::four_modes(&dev);
    /// let pt = ReplicaExchange::geometric(Mala::new(0.1, 1.0)?, 10.0, 4)?;
    /// let mut state = pt.init(&model, &dev.zeros_like(&(8, Const::<2>)), 3)?;
    /// let mut cold_steps = 0;
    /// let mut watch = observer_fn(|s: &StepView<'_, 2, f64>| {
    ///     assert_eq!(s.energies.len(), 8); // the cold chains only
    ///     cold_steps += 1;
    ///     Ok(if cold_steps == 50 { Flow::Stop } else { Flow::Continue })
    /// });
    /// let out = pt.driver(&model, &mut state).observe(&mut watch).run(&RunOptions::new(100))?;
    /// assert_eq!(state.scans(), 50);
    /// assert!(out.swaps.acceptance_rate.iter().all(|a| a.is_finite()));
    /// # Ok::<(), ebm_core::Error>(())
    /// ```
    pub fn driver<'a, const D: usize, E, Dev, M>(
        &'a self,
        model: &'a M,
        state: &'a mut ReplicaState<D, E, Dev>,
    ) -> ReplicaDriver<'a, K, D, E, Dev, M>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        ReplicaDriver {
            exchange: self,
            model,
            state,
            cold: Vec::new(),
            all: Vec::new(),
        }
    }

    /// Starts a state from `x0` (one ladder per row) with `options.seed` and runs it.
    ///
    /// # Errors
    /// As [`ReplicaExchange::init`] and [`ReplicaExchange::run_from`].
    pub fn run<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        options: &RunOptions,
    ) -> Result<ReplicaOutput<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let mut state = self.init(model, x0, options.seed)?;
        self.run_from(model, &mut state, options)
    }

    /// Tunes the state's ladder over `rounds` rounds of 1, 2, 4, ... scans: after each round the
    /// temperatures between `T_0 = 1` and `T_K` (both kept) are re-spaced so that the estimated
    /// communication barrier `Lambda` (the running sum of the swap rejection rates) grows evenly
    /// from one temperature to the next (Syed et al. 2022), and, with
    /// [`ReplicaExchange::with_explorer_tuning`], each temperature's step size moves toward the
    /// target acceptance. Returns the tuned ladder, which the state now uses. The scans also
    /// serve as burn-in.
    ///
    /// # Errors
    /// As [`ReplicaExchange::run_from`].
    pub fn tune_ladder<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        state: &mut ReplicaState<D, E, Dev>,
        rounds: usize,
    ) -> Result<Vec<f64>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        for round in 0..rounds {
            let scans = 1usize << round.min(20);
            let out = self.run_from(model, state, &RunOptions::new(scans).progress(false))?;
            if let Some(target) = self.explorer_target {
                let n_l = state.book.n_ladders;
                let mut eps = state.chains.step_sizes().to_vec();
                for (k, &a) in out.swaps.explorer_acceptance.iter().enumerate() {
                    if a.is_finite() {
                        let factor = (2.0 * (a - target)).exp().clamp(0.5, 2.0);
                        eps[k * n_l..(k + 1) * n_l]
                            .iter_mut()
                            .for_each(|e| *e *= factor);
                    }
                }
                state.chains.set_step_sizes(&eps)?;
            }
            let ladder = respace(&out.swaps.temperatures, &out.swaps.rejection);
            if check_ladder(&ladder).is_ok() {
                state.set_ladder(&ladder)?;
            }
        }
        Ok(state.temperatures().to_vec())
    }
}
