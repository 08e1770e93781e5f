//! Warm-up's settings and what a warmed-up run returns.

use super::adaptable::MassAdaptation;
use crate::chain::ChainState;
use crate::kernels::{MassMatrix, StepInfo};
use crate::run::kept_index;
use crate::run::{DrawTrace, Flow, Observer, StepView, SummaryError};
use ebm_core::prelude::*;
use ebm_diagnostics::Summary;

/// Everything one call of warm-up and sampling does.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::prelude::*;
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
/// let run = Warmup { n_warmup: 300, n_draws: 300, seed: 1, ..Warmup::default() }
///     .run(&Nuts::default(), &model, &x0)?;
/// println!("step sizes {:?}", run.step_sizes);
/// assert_eq!(run.sampling.trace.shape(), [4, 300, 2]);
/// assert!(run.summary().unwrap().max_r_hat() < 1.05);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Warmup {
    /// Warm-up transitions per chain (default 1000).
    pub n_warmup: usize,
    /// Sampling transitions per chain after warm-up (default 1000; 0 for a warm-up only).
    pub n_draws: usize,
    /// Seed of the chains' streams.
    pub seed: u64,
    /// The global index of the first chain, for a run split into shards (default 0): row `c` of
    /// the starting points is chain `first_chain + c`, with that chain's stream
    /// ([`Kernel::init_shard`](crate::Kernel::init_shard)). The mass matrix is pooled over the chains of the shard, so shards
    /// with warm-up adapt apart and their draws are not those of the single run; with a fixed
    /// kernel (no warm-up) they are.
    pub first_chain: u64,
    /// The acceptance probability to tune to; `None` takes the kernel's default (0.8 for NUTS and
    /// HMC, 0.574 for MALA).
    pub target_accept: Option<f64>,
    /// How the mass matrix is adapted (default [`MassAdaptation::GradientDiagonal`]); ignored by
    /// kernels without one.
    pub mass: MassAdaptation,
    /// Search each chain's initial step size with the heuristic of Hoffman and Gelman (default
    /// on), and again after each mass-matrix update; off starts from the kernel's step size.
    pub find_initial_step_size: bool,
    /// With [`Warmup::find_initial_step_size`], search again after the first transition and
    /// start the step-size adaptation afresh from there (default on).
    ///
    /// Starting points are seldom in the typical set (Stan's default is `U(-2, 2)` per
    /// coordinate), and the first search only sees one leapfrog step from there. Far from the
    /// mode the energy is often nearly linear, where one step is almost exact at any step size:
    /// the search then returns one far too large for the typical set, the first transition
    /// accepts nothing, and dual averaging, fed that zero, drops the step size far below the
    /// right one for several transitions of long trajectories. The first transition moves the
    /// chain toward the mass; a search from there, with dual averaging forgetting the
    /// transition, starts from a better guess. The search costs a few gradient evaluations per
    /// chain (in [`AdaptedRun::search_gradient_evaluations`]).
    ///
    /// It saves a few percent of the warm-up's gradient evaluations, the search's own counted,
    /// on targets started far from their mass, and nothing measurable on those started near it
    /// (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    pub search_after_first_transition: bool,
    /// After warm-up, draw each transition's step size uniformly from `eps (1 +- jitter)` (default
    /// 0.1, nutpie's: a fixed step size can make the trajectory length resonate with the target's
    /// periods, most of all on Gaussians; 0 turns it off).
    pub jitter: f64,
    /// Start the mass adaptation from the scale of the gradient at the starting points (default
    /// on): `m_i` = the root mean square of `dE/dx_i` over the chains (for a Gaussian started
    /// about one standard deviation out, about the inverse variance). Off starts from the kernel's
    /// own mass matrix, as Stan does from the identity. Ignored when the mass is not adapted.
    /// Starting on the right scale keeps the first trajectories short, which on badly scaled
    /// targets saves most of the warm-up's gradient evaluations (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    pub gradient_initial_mass: bool,
    /// Keep every `thin`-th draw in the traces (default 1).
    pub thin: usize,
    /// Keep the warm-up draws too (default true).
    pub keep_warmup: bool,
    /// Show progress bars on terminals (default true).
    pub progress: bool,
    /// The warm-up schedule's initial fast interval, first slow window and final fast interval
    /// (default 75, 25, 150: Stan's first two, and a final interval three times Stan's 50, so
    /// the step size kept is averaged over more transitions with the final mass matrix, as
    /// nutpie's 15% of the warm-up; see [`WindowSchedule`](crate::warmup::WindowSchedule)).
    pub windows: (usize, usize, usize),
}

impl Default for Warmup {
    fn default() -> Self {
        Self {
            n_warmup: 1000,
            n_draws: 1000,
            seed: 0,
            first_chain: 0,
            target_accept: None,
            mass: MassAdaptation::GradientDiagonal,
            find_initial_step_size: true,
            search_after_first_transition: true,
            jitter: 0.1,
            gradient_initial_mass: true,
            thin: 1,
            keep_warmup: true,
            progress: true,
            windows: (75, 25, 150),
        }
    }
}

/// Chainable setters, one per field, as [`RunOptions`](crate::RunOptions) and `ebm_storage::StoreOptions` have:
/// the settings are checked when the run starts ([`Warmup::run`], [`Warmup::adaptation`]).
///
/// ```
/// use ebm_samplers::Warmup;
/// let w = Warmup::default().n_warmup(300).n_draws(200).seed(7).progress(false);
/// assert_eq!((w.n_warmup, w.n_draws, w.seed, w.progress), (300, 200, 7, false));
/// ```
impl Warmup {
    /// Sets [`Warmup::n_warmup`].
    pub fn n_warmup(mut self, steps: usize) -> Self {
        self.n_warmup = steps;
        self
    }

    /// Sets [`Warmup::n_draws`] (0 for a warm-up only).
    pub fn n_draws(mut self, steps: usize) -> Self {
        self.n_draws = steps;
        self
    }

    /// Sets [`Warmup::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`Warmup::first_chain`].
    pub fn first_chain(mut self, first_chain: u64) -> Self {
        self.first_chain = first_chain;
        self
    }

    /// Tunes to acceptance probability `target` ([`Warmup::target_accept`]).
    pub fn target_accept(mut self, target: f64) -> Self {
        self.target_accept = Some(target);
        self
    }

    /// Sets [`Warmup::mass`].
    pub fn mass(mut self, mass: MassAdaptation) -> Self {
        self.mass = mass;
        self
    }

    /// Sets [`Warmup::find_initial_step_size`].
    pub fn find_initial_step_size(mut self, on: bool) -> Self {
        self.find_initial_step_size = on;
        self
    }

    /// Sets [`Warmup::search_after_first_transition`].
    pub fn search_after_first_transition(mut self, on: bool) -> Self {
        self.search_after_first_transition = on;
        self
    }

    /// Sets [`Warmup::jitter`].
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`Warmup::gradient_initial_mass`].
    pub fn gradient_initial_mass(mut self, on: bool) -> Self {
        self.gradient_initial_mass = on;
        self
    }

    /// Sets [`Warmup::thin`].
    pub fn thin(mut self, thin: usize) -> Self {
        self.thin = thin;
        self
    }

    /// Sets [`Warmup::keep_warmup`].
    pub fn keep_warmup(mut self, on: bool) -> Self {
        self.keep_warmup = on;
        self
    }

    /// Sets [`Warmup::progress`].
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Sets [`Warmup::windows`].
    pub fn windows(mut self, windows: (usize, usize, usize)) -> Self {
        self.windows = windows;
        self
    }
}

/// Per-draw statistics of every chain, laid out `[draw][chain]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DrawStats {
    n_chains: usize,
    /// What each transition did.
    pub info: Vec<StepInfo>,
    /// The energy after each transition.
    pub energy: Vec<f64>,
    /// The step size of each transition.
    pub step_size: Vec<f64>,
}

impl DrawStats {
    fn new(n_chains: usize) -> Self {
        Self {
            n_chains,
            ..Self::default()
        }
    }

    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.n_chains
    }

    /// The number of recorded draws per chain.
    pub fn n_draws(&self) -> usize {
        self.info.len() / self.n_chains.max(1)
    }

    /// The acceptance rate over all draws and chains: the mean of [`StepInfo::acceptance`], as
    /// [`RunStats::mean_acceptance_rate`](crate::RunStats::mean_acceptance_rate) reports it.
    pub fn mean_acceptance_rate(&self) -> f64 {
        mean(self.info.iter().map(StepInfo::acceptance))
    }

    /// The Metropolis acceptance probability `min(1, r)` ([`StepInfo::accept_prob`]) averaged
    /// over all draws and chains.
    pub fn mean_accept_prob(&self) -> f64 {
        mean(self.info.iter().map(StepInfo::accept_prob))
    }

    /// The mean tree depth (NUTS; 0 for other kernels).
    pub fn mean_tree_depth(&self) -> f64 {
        mean(self.info.iter().map(|i| f64::from(i.tree_depth)))
    }

    /// The number of divergent transitions over all draws and chains.
    pub fn total_divergences(&self) -> usize {
        self.info.iter().filter(|i| i.divergence.is_some()).count()
    }

    /// The number of transitions that stopped at the maximum tree depth, over all draws and chains.
    pub fn total_max_depth_hits(&self) -> usize {
        self.info.iter().filter(|i| i.hit_max_depth).count()
    }

    /// The gradient evaluations over all draws and chains.
    pub fn total_gradient_evaluations(&self) -> u64 {
        self.info.iter().map(|i| u64::from(i.grad_evals)).sum()
    }

    /// One chain's values of a statistic, in draw order.
    pub fn chain<T>(&self, chain: usize, f: impl Fn(&StepInfo) -> T) -> Vec<T> {
        self.info
            .iter()
            .skip(chain)
            .step_by(self.n_chains.max(1))
            .map(f)
            .collect()
    }

    fn record<const D: usize, E: Real>(&mut self, view: &StepView<'_, D, E>) {
        self.info.extend_from_slice(view.info);
        self.energy.extend(view.energies.iter().map(|e| e.as_f64()));
        self.step_size.extend_from_slice(view.step_sizes);
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// The draws and statistics of one phase (warm-up or sampling).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseDraws<const D: usize, E> {
    /// The kept draws.
    pub trace: DrawTrace<D, E>,
    /// Every transition's statistics (all transitions, whatever the thinning).
    pub stats: DrawStats,
}

impl<const D: usize, E: Real> PhaseDraws<D, E> {
    /// A phase of `steps` steps for `n` chains that keeps every `thin`-th draw, or none.
    pub(super) fn recording(n: usize, steps: usize, thin: usize, keep: bool) -> Self {
        Self {
            trace: DrawTrace::new(n, if keep { steps / thin } else { 0 }, thin),
            stats: DrawStats::new(n),
        }
    }
}

/// Records every transition's statistics and the kept draws (by the trace's own thinning, counted
/// from the phase's first step).
impl<const D: usize, E: Real> Observer<D, E> for PhaseDraws<D, E> {
    fn observe(&mut self, view: &StepView<'_, D, E>) -> Result<Flow> {
        let step = self.stats.n_draws();
        self.stats.record(view);
        let thin = self.trace.thin();
        let kept = kept_index(step, thin);
        self.trace.observe(&StepView { kept, ..*view })
    }

    fn finish(&mut self, steps_taken: usize) {
        Observer::<D, E>::finish(&mut self.trace, steps_taken);
    }
}

/// What [`Warmup::run`] returns.
#[derive(Debug, Clone)]
pub struct AdaptedRun<const D: usize, E: Real, Dev: Device<E>, K> {
    /// The kernel that sampled: the one given to [`Warmup::run`] with the adapted mass matrix
    /// (its own U-turn criterion, not the warm-up variant's; the tuned step sizes are in
    /// [`AdaptedRun::state`] and [`AdaptedRun::step_sizes`]).
    pub kernel: K,
    /// The chains after the last draw, with their tuned step sizes: continue them with
    /// [`Sampler::run_from`](crate::Sampler::run_from).
    pub state: ChainState<D, E, Dev>,
    /// The warm-up draws (empty trace unless [`Warmup::keep_warmup`]).
    pub warmup: PhaseDraws<D, E>,
    /// The sampling draws.
    pub sampling: PhaseDraws<D, E>,
    /// Each chain's tuned step size.
    pub step_sizes: Vec<f64>,
    /// The adapted mass matrix (the kernel's own when it was not adapted or the kernel has none).
    pub mass: Option<MassMatrix>,
    /// Each chain's step size after every warm-up transition, `[draw][chain]`.
    pub warmup_step_sizes: Vec<f64>,
    /// Gradient evaluations (rows of the batch) spent by warm-up outside its transitions: one per
    /// chain at the starting points and those of the step-size searches. With
    /// `warmup.stats.total_gradient_evaluations()` they make the warm-up's whole cost.
    pub search_gradient_evaluations: u64,
    /// Wall time of the warm-up (initialisation included).
    pub warmup_time: std::time::Duration,
    /// Wall time of the sampling.
    pub sampling_time: std::time::Duration,
}

impl<const D: usize, E: Real, Dev: Device<E>, K> AdaptedRun<D, E, Dev, K> {
    /// The convergence summary of the sampling draws: mean, sd, MCSE, bulk- and tail-ESS and
    /// R-hat per coordinate, then each chain's acceptance probability and divergences.
    ///
    /// # Errors
    /// The diagnostics' errors (for example fewer than 4 draws per chain).
    pub fn summary(&self) -> std::result::Result<Summary, SummaryError> {
        let summary = ebm_diagnostics::summarize(&self.sampling.trace.draws()?)?;
        let n = self.sampling.stats.n_chains();
        let stats = (0..n)
            .map(|c| {
                let acceptance = self.sampling.stats.chain(c, StepInfo::acceptance);
                ebm_diagnostics::ChainStats {
                    acceptance_rate: Some(mean(acceptance.into_iter())),
                    divergences: self
                        .sampling
                        .stats
                        .chain(c, |i| i.divergence.is_some())
                        .into_iter()
                        .filter(|&d| d)
                        .count(),
                }
            })
            .collect();
        Ok(summary.with_chain_stats(stats)?)
    }
}
