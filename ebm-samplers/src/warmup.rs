//! Warm-up that tunes itself: per-chain dual-averaging step sizes and windowed mass-matrix
//! estimation, then sampling with the tuned kernel, in one call.

use crate::driver::{Adaptation, Driver, Flow, Observer, StepView};
use crate::hmc::{leapfrog_host, Step};
use crate::kernel::{Kernel, StepInfo, Target};
use crate::mass::MassMatrix;
use crate::options::RunOptions;
use crate::output::{SummaryError, Trace};
use crate::state::{ChainState, Points};
use crate::{HamiltonianMonteCarlo, Mala, Nuts};
use ebm_core::prelude::*;
use ebm_core::{check, linalg};
use ebm_diagnostics::Summary;

/// Dual-averaging step-size adaptation for one chain (Hoffman and Gelman 2014, section 3.2), with
/// Stan's constants: `gamma = 0.05`, `t0 = 10`, `kappa = 0.75`, `mu = log(10 eps0)`.
///
/// After a mass-matrix update, [`DualAveraging::recentre`] moves the centre `mu` to a new step size
/// and keeps the running error, so that the iterates stay as steady as before; the average that
/// becomes the final step size starts again there.
#[derive(Debug, Clone, PartialEq)]
pub struct DualAveraging {
    target: f64,
    mu: f64,
    log_eps: f64,
    log_eps_bar: f64,
    h_bar: f64,
    /// Updates so far (the iterate's clock).
    t: f64,
    /// Updates since the last centre (the average's clock).
    s: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    /// Starts at step size `eps0`, aiming at acceptance probability `target`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `step_size` unless `eps0` is finite and greater than 0,
    /// or `target_accept` unless `target` lies strictly between 0 and 1.
    pub fn new(eps0: f64, target: f64) -> Result<Self> {
        check::positive("step_size", eps0)?;
        check_target(target)?;
        Ok(Self {
            target,
            mu: (10.0 * eps0).ln(),
            log_eps: eps0.ln(),
            log_eps_bar: 0.0,
            h_bar: 0.0,
            t: 0.0,
            s: 0.0,
        })
    }

    /// Feeds one transition's acceptance probability; returns the next step size to use.
    pub fn update(&mut self, accept_prob: f64) -> f64 {
        let a = if accept_prob.is_finite() {
            accept_prob.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.t += 1.0;
        let w = 1.0 / (self.t + Self::T0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - a);
        self.log_eps = self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar;
        self.s += 1.0;
        let eta = self.s.powf(-Self::KAPPA);
        self.log_eps_bar = eta * self.log_eps + (1.0 - eta) * self.log_eps_bar;
        self.log_eps.exp()
    }

    /// Moves the adaptation's centre to `mu = log(10 eps)` for a new initial step size `eps` (a new
    /// mass matrix calls for a new step size) and returns the step size to use next. The running
    /// error `h_bar` and its count carry on, so the iterate keeps its place relative to the centre:
    /// it moves by the ratio of the new centre to the old. The average that becomes the final step
    /// size starts again from the next update.
    ///
    /// Stan starts a new adaptation instead, whose first iterates swing widely while its count is
    /// small (they begin near `10 eps`). On the benchmark's targets, carrying the error on needs 2
    /// to 10% fewer warm-up gradients, and the step size kept still settles on the target
    /// acceptance.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `step_size` unless `eps` is finite and greater than 0.
    pub fn recentre(&mut self, eps: f64) -> Result<f64> {
        check::positive("step_size", eps)?;
        self.mu = (10.0 * eps).ln();
        self.log_eps = if self.t == 0.0 {
            eps.ln()
        } else {
            self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar
        };
        self.log_eps_bar = 0.0;
        self.s = 0.0;
        Ok(self.log_eps.exp())
    }

    /// Starts the average that becomes the final step size again from the next update, leaving
    /// the iterate and its centre where they are (after a mass-matrix update without a new
    /// initial step size).
    pub fn restart_average(&mut self) {
        self.log_eps_bar = 0.0;
        self.s = 0.0;
    }

    /// The averaged step size: the one to keep when adaptation ends. Before any update since the
    /// last [`DualAveraging::recentre`] or [`DualAveraging::restart_average`], the current iterate.
    pub fn final_step_size(&self) -> f64 {
        if self.s == 0.0 {
            self.log_eps.exp()
        } else {
            self.log_eps_bar.exp()
        }
    }
}

/// A target acceptance probability must lie strictly between 0 and 1.
fn check_target(target: f64) -> Result<()> {
    if target > 0.0 && target < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "target_accept",
            target,
            "must lie strictly between 0 and 1",
        ))
    }
}

/// How the mass matrix is adapted during warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MassAdaptation {
    /// Keep the kernel's mass matrix.
    Off,
    /// A diagonal mass from the draws and their gradients (the default): `m_i = sqrt(var(g_i) /
    /// var(x_i))` over the window, the geometric mean of the two estimates of the scale (`1 /
    /// var(x_i)` from the draws, `var(g_i)` from the gradients, equal for a Gaussian), as nutpie
    /// does. For a diagonal Gaussian it is exact up to noise, and it is less noisy than the
    /// draws' variance alone: on the 100-D diagonal Gaussian of the benchmark it gives about 30%
    /// more ESS per gradient than [`MassAdaptation::Diagonal`].
    #[default]
    GradientDiagonal,
    /// A diagonal mass as Stan estimates it: the inverse of each coordinate's variance over the
    /// window, regularised toward `1e-3` as Stan does.
    Diagonal,
    /// A dense mass: the inverse of the covariance over the window, regularised as Stan does.
    Dense,
    /// A dense mass from the draws and their gradients: the symmetric positive-definite `M` with
    /// `M S_x M = S_g`, where `S_x` and `S_g` are the covariances of the draws and of the
    /// gradients over the window (each regularised toward a multiple of the identity). It is the
    /// matrix geometric mean of the two estimates of the target's precision, `S_x^-1` and `S_g`,
    /// and the dense form of [`MassAdaptation::GradientDiagonal`]; nutpie's low-rank adaptation
    /// rests on the same equation. For a Gaussian target the gradients are `P (x - mu)`, so
    /// `S_g = P S_x P` for any sample and `M` is the precision `P` itself, up to the
    /// regularisation. While a window has fewer pooled draws than twice the dimension, or when
    /// its estimates cannot be factored, it gives the diagonal estimate instead.
    GradientDense,
}

/// A kernel that warm-up can tune: its step size always, its mass matrix if it has one.
pub trait Adaptable: Kernel + Clone {
    /// The acceptance probability the step size is tuned to by default.
    fn default_target_accept(&self) -> f64;

    /// The same kernel with mass matrix `mass`, or `None` when the kernel has no mass matrix.
    ///
    /// # Errors
    /// As [`MassMatrix::validate`].
    fn with_adapted_mass(&self, mass: MassMatrix) -> Option<Result<Self>>;

    /// The kernel's mass matrix, if it has one.
    fn mass_matrix(&self) -> Option<&MassMatrix>;

    /// The kernel's step size that moves like one leapfrog step of size `eps` (the initial
    /// step-size heuristic works in leapfrog steps). The identity by default.
    fn step_size_from_leapfrog(&self, eps: f64) -> f64 {
        eps
    }

    /// The inverse of [`Adaptable::step_size_from_leapfrog`].
    fn leapfrog_from_step_size(&self, step_size: f64) -> f64 {
        step_size
    }

    /// The statistic dual averaging drives toward the target: the acceptance probability by
    /// default.
    fn adaptation_statistic(&self, info: &StepInfo) -> f64 {
        info.accept_prob()
    }

    /// The kernel warm-up's transitions run with: the kernel itself by default. Warm-up's draws
    /// are discarded, so a kernel may warm up as a cheaper variant of itself that leaves the same
    /// target invariant (NUTS ends its trajectories by [`Nuts::warmup_uturn`]). The step size
    /// and mass matrix tuned on the variant are handed back to the kernel itself for sampling.
    fn warmup_variant(&self) -> Self {
        self.clone()
    }
}

impl Adaptable for Nuts {
    /// 0.8, as Stan.
    fn default_target_accept(&self) -> f64 {
        0.8
    }
    fn with_adapted_mass(&self, mass: MassMatrix) -> Option<Result<Self>> {
        Some(self.clone().with_mass(mass))
    }
    fn mass_matrix(&self) -> Option<&MassMatrix> {
        Some(self.mass())
    }
    /// The trajectory's mean symmetric acceptance statistic
    /// ([`StepInfo::symmetric_accept_prob`]), as nutpie tunes: on the benchmark's Gaussian and
    /// logistic-regression targets it settles on larger step sizes than the plain mean acceptance
    /// (which overshoots the target after warm-up, at 0.85 to 0.9) and gives 10 to 30% more ESS
    /// per gradient.
    fn adaptation_statistic(&self, info: &StepInfo) -> f64 {
        info.symmetric_accept_prob()
    }
    /// The same sampler ending its trajectories by [`Nuts::warmup_uturn`].
    fn warmup_variant(&self) -> Self {
        let uturn = self.warmup_uturn();
        self.clone().with_uturn(uturn)
    }
}

impl Adaptable for HamiltonianMonteCarlo {
    /// 0.8, as for NUTS.
    fn default_target_accept(&self) -> f64 {
        0.8
    }
    fn with_adapted_mass(&self, mass: MassMatrix) -> Option<Result<Self>> {
        Some(self.clone().with_mass(mass))
    }
    fn mass_matrix(&self) -> Option<&MassMatrix> {
        Some(self.mass())
    }
}

impl Adaptable for Mala {
    /// 0.574, the optimal acceptance of MALA in high dimension (Roberts and Rosenthal 1998).
    fn default_target_accept(&self) -> f64 {
        0.574
    }
    fn with_adapted_mass(&self, _mass: MassMatrix) -> Option<Result<Self>> {
        None
    }
    fn mass_matrix(&self) -> Option<&MassMatrix> {
        None
    }
    /// MALA's step `h` is one leapfrog step of size `sqrt(2 h)`: `h = eps^2 / 2`.
    fn step_size_from_leapfrog(&self, eps: f64) -> f64 {
        0.5 * eps * eps
    }
    fn leapfrog_from_step_size(&self, step_size: f64) -> f64 {
        (2.0 * step_size).sqrt()
    }
}

/// Stan's warm-up schedule: an initial fast interval (step size only), slow windows that double in
/// length and end with a mass-matrix update, and a final fast interval.
///
/// With Stan's values (75, 25, 50; [`Warmup`]'s default final interval is 150) and 1000 warm-up
/// steps the windows end at steps 100, 150, 250, 450 and 950. Warm-ups shorter than 150 steps are
/// scaled: 15% initial, 75% one window, 10% final, as Stan does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSchedule {
    /// The warm-up steps after which the mass matrix is re-estimated (ends of the slow windows).
    pub window_ends: Vec<usize>,
    /// The first step of each slow window.
    pub window_starts: Vec<usize>,
}

impl WindowSchedule {
    /// The schedule for `warmup` steps with an initial fast interval `init`, a first slow window
    /// `base` and a final fast interval `term`.
    pub fn new(warmup: usize, init: usize, base: usize, term: usize) -> Self {
        let (init, base, term) = if warmup < 20 {
            return Self {
                window_ends: Vec::new(),
                window_starts: Vec::new(),
            };
        } else if init + base + term > warmup {
            let init = warmup * 15 / 100;
            let term = warmup / 10;
            (init, warmup - init - term, term)
        } else {
            (init, base, term)
        };
        let last = warmup - term;
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        let (mut start, mut size) = (init, base.max(1));
        while start < last {
            let mut end = start + size;
            // A window that would leave less than the next one's length is stretched to the end.
            if end + 2 * size > last {
                end = last;
            }
            starts.push(start);
            ends.push(end);
            start = end;
            size *= 2;
        }
        Self {
            window_ends: ends,
            window_starts: starts,
        }
    }
}

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
/// let run = Warmup { warmup: 300, draws: 300, seed: 1, ..Warmup::default() }
///     .run(&Nuts::default(), &model, &x0)?;
/// println!("step sizes {:?}", run.step_sizes);
/// assert_eq!(run.draws.trace.shape(), [4, 300, 2]);
/// assert!(run.summary().unwrap().max_r_hat() < 1.05);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Warmup {
    /// Warm-up transitions per chain (default 1000).
    pub warmup: usize,
    /// Sampling transitions per chain after warm-up (default 1000).
    pub draws: usize,
    /// Seed of the chains' streams.
    pub seed: u64,
    /// The global index of the first chain, for a run split into shards (default 0): row `c` of
    /// the starting points is chain `first_chain + c`, with that chain's stream
    /// ([`Kernel::init_shard`]). The mass matrix is pooled over the chains of the shard, so shards
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
    /// On the benchmark's targets (NUTS, 4 chains from `U(-2, 2)`, 32 seeds) it saves about 2% of
    /// the warm-up's gradient evaluations on the 100-D scaled Gaussian, 1.5% on the logistic
    /// regression and 0.5% on the correlated Gaussian, the search's own counted; on targets
    /// started near their mass it changes nothing measurable.
    pub search_after_first_transition: bool,
    /// After warm-up, draw each transition's step size uniformly from `eps (1 +- jitter)` (default
    /// 0.1, nutpie's: a fixed step size can make the trajectory length resonate with the target's
    /// periods, most of all on Gaussians; 0 turns it off).
    pub jitter: f64,
    /// Start the mass adaptation from the scale of the gradient at the starting points (default
    /// on): `m_i` = the root mean square of `dE/dx_i` over the chains (for a Gaussian started
    /// about one standard deviation out, about the inverse variance). Off starts from the kernel's
    /// own mass matrix, as Stan does from the identity. Ignored when the mass is not adapted.
    /// Starting on the right scale keeps the first trajectories short: on the benchmark's 100-D
    /// Gaussian with scales 0.1 to 10 it cuts the warm-up's gradient evaluations about fourfold.
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
    /// nutpie's 15% of the warm-up; see [`WindowSchedule`]).
    pub windows: (usize, usize, usize),
}

impl Default for Warmup {
    fn default() -> Self {
        Self {
            warmup: 1000,
            draws: 1000,
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

    /// The mean acceptance probability over all draws and chains.
    pub fn mean_accept_prob(&self) -> f64 {
        mean(self.info.iter().map(StepInfo::accept_prob))
    }

    /// The mean tree depth (NUTS; 0 for other kernels).
    pub fn mean_tree_depth(&self) -> f64 {
        mean(self.info.iter().map(|i| f64::from(i.tree_depth)))
    }

    /// The number of divergent transitions.
    pub fn divergences(&self) -> usize {
        self.info.iter().filter(|i| i.divergence.is_some()).count()
    }

    /// The number of transitions that stopped at the maximum tree depth.
    pub fn max_depth_hits(&self) -> usize {
        self.info.iter().filter(|i| i.hit_max_depth).count()
    }

    /// The gradient evaluations over all draws and chains.
    pub fn gradient_evaluations(&self) -> u64 {
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
pub struct Phase<const D: usize, E> {
    /// The kept draws.
    pub trace: Trace<D, E>,
    /// Every transition's statistics (all transitions, whatever the thinning).
    pub stats: DrawStats,
}

impl<const D: usize, E: Real> Phase<D, E> {
    /// A phase of `steps` steps for `n` chains that keeps every `thin`-th draw, or none.
    fn recording(n: usize, steps: usize, thin: usize, keep: bool) -> Self {
        Self {
            trace: Trace::new(n, if keep { steps / thin } else { 0 }, thin),
            stats: DrawStats::new(n),
        }
    }
}

/// Records every transition's statistics and the kept draws (by the trace's own thinning, counted
/// from the phase's first step).
impl<const D: usize, E: Real> Observer<D, E> for Phase<D, E> {
    fn observe(&mut self, view: &StepView<'_, D, E>) -> Result<Flow> {
        let step = self.stats.n_draws();
        self.stats.record(view);
        let thin = self.trace.thin();
        let kept = ((step + 1) % thin == 0).then(|| (step + 1) / thin - 1);
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
    /// [`Kernel::run_from`].
    pub state: ChainState<D, E, Dev>,
    /// The warm-up draws (empty trace unless [`Warmup::keep_warmup`]).
    pub warmup: Phase<D, E>,
    /// The sampling draws.
    pub draws: Phase<D, E>,
    /// Each chain's tuned step size.
    pub step_sizes: Vec<f64>,
    /// The adapted mass matrix (the kernel's own when it was not adapted or the kernel has none).
    pub mass: Option<MassMatrix>,
    /// Each chain's step size after every warm-up transition, `[draw][chain]`.
    pub warmup_step_sizes: Vec<f64>,
    /// Gradient evaluations (rows of the batch) spent by warm-up outside its transitions: one per
    /// chain at the starting points and those of the step-size searches. With
    /// `warmup.stats.gradient_evaluations()` they make the warm-up's whole cost.
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
        let summary = ebm_diagnostics::summarize(&self.draws.trace.draws()?)?;
        let n = self.draws.stats.n_chains();
        let stats = (0..n)
            .map(|c| {
                let probs = self.draws.stats.chain(c, StepInfo::accept_prob);
                ebm_diagnostics::ChainStats {
                    acceptance_rate: Some(mean(probs.into_iter())),
                    divergences: self
                        .draws
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

/// Pooled running mean and covariance (or variances) of the draws of a slow window.
#[derive(Debug, Clone)]
struct WindowEstimate {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    /// Running mean and sum of squared deviations (or cross products, when dense) of the
    /// gradients.
    gmean: Vec<f64>,
    gm2: Vec<f64>,
    dense: bool,
    /// Estimate from the draws and the gradients rather than from the draws alone.
    gradient: bool,
    d: usize,
}

impl WindowEstimate {
    fn new(d: usize, kind: MassAdaptation) -> Self {
        let dense = matches!(kind, MassAdaptation::Dense | MassAdaptation::GradientDense);
        let gradient = matches!(
            kind,
            MassAdaptation::GradientDiagonal | MassAdaptation::GradientDense
        );
        let len = if dense { d * d } else { d };
        Self {
            n: 0.0,
            mean: vec![0.0; d],
            m2: vec![0.0; len],
            gmean: vec![0.0; if gradient { d } else { 0 }],
            gm2: vec![0.0; if gradient { len } else { 0 }],
            dense,
            gradient,
            d,
        }
    }

    /// Welford's update of the gradients' moments with one draw's gradient (after
    /// [`Self::add`], which counts the draw).
    fn add_gradient<E: Real>(&mut self, g: &[E], delta: &mut [f64]) {
        if !self.gradient {
            return;
        }
        welford(self.n, g, &mut self.gmean, &mut self.gm2, self.dense, delta);
    }

    /// Welford's update with one draw.
    fn add<E: Real>(&mut self, x: &[E], delta: &mut [f64]) {
        self.n += 1.0;
        welford(self.n, x, &mut self.mean, &mut self.m2, self.dense, delta);
    }

    /// The window's estimate as a mass matrix. From the draws alone, the inverse of their
    /// covariance regularised as Stan does, `n / (n + 5) S + 1e-3 * 5 / (n + 5) I`; from draws and
    /// gradients, `sqrt(var g / var x)` per coordinate, or the dense `M` with `M S_x M = S_g` (both
    /// covariances regularised so; the gradients' ridge scaled by their mean variance).
    fn mass(&self) -> Result<MassMatrix> {
        let n = self.n;
        let (a, b) = (n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0));
        let d = self.d;
        if self.dense && self.gradient {
            if n < 2.0 * d as f64 {
                return Ok(self.diagonal_gradient_mass());
            }
            // The draws' covariance as Stan regularises it; the gradients' the same way relative
            // to their mean variance (their scale is the inverse of the draws').
            let sx = regularised(&self.m2, n, d, b);
            let g_scale = (0..d).map(|i| self.gm2[i * d + i]).sum::<f64>() / (d as f64 * (n - 1.0));
            let sg = regularised(&self.gm2, n, d, b * g_scale);
            // A window whose gradients did not vary, or whose estimates are too ill-conditioned
            // to factor, keeps the diagonal estimate (which falls back to unit masses itself).
            return Ok(match geometric_mass(&sx, &sg, d) {
                Ok(m) if m.iter().all(|v| v.is_finite()) => MassMatrix::Dense(m),
                _ => self.diagonal_gradient_mass(),
            });
        }
        if self.dense {
            let cov = regularised(&self.m2, n, d, b);
            Ok(MassMatrix::Dense(linalg::spd_inverse(
                "covariance",
                &cov,
                d,
            )?))
        } else if self.gradient {
            Ok(self.diagonal_gradient_mass())
        } else {
            Ok(MassMatrix::Diagonal(
                self.m2
                    .iter()
                    .map(|v| 1.0 / (a * v / (n - 1.0) + b))
                    .collect(),
            ))
        }
    }
}

impl WindowEstimate {
    /// `m_i = sqrt(var g_i / var x_i)`; a coordinate that did not move (or whose gradient did not
    /// change) keeps a unit mass rather than a zero or infinite one.
    fn diagonal_gradient_mass(&self) -> MassMatrix {
        let d = self.d;
        let step = if self.dense { d + 1 } else { 1 };
        MassMatrix::Diagonal(
            (0..d)
                .map(|i| {
                    let m = (self.gm2[i * step] / self.m2[i * step]).sqrt();
                    if m.is_finite() && m > 0.0 {
                        m.clamp(1e-10, 1e10)
                    } else {
                        1.0
                    }
                })
                .collect(),
        )
    }
}

/// Welford's update of a running mean and of the sums of squared deviations (`dense`: of cross
/// products, `d x d`) with the `n`-th value `x`; `delta` is scratch of length `d`.
fn welford<E: Real>(
    n: f64,
    x: &[E],
    mean: &mut [f64],
    m2: &mut [f64],
    dense: bool,
    delta: &mut [f64],
) {
    let d = mean.len();
    for i in 0..d {
        delta[i] = x[i].as_f64() - mean[i];
        mean[i] += delta[i] / n;
    }
    if dense {
        for ((row, xi), mi) in m2.chunks_exact_mut(d).zip(x).zip(mean.iter()) {
            let after = xi.as_f64() - mi;
            for (m, dj) in row.iter_mut().zip(delta.iter()) {
                *m += after * dj;
            }
        }
    } else {
        for i in 0..d {
            m2[i] += delta[i] * (x[i].as_f64() - mean[i]);
        }
    }
}

/// `n / (n + 5) m2 / (n - 1) + b I`, symmetrised against rounding.
fn regularised(m2: &[f64], n: f64, d: usize, b: f64) -> Vec<f64> {
    let a = n / (n + 5.0);
    let mut s: Vec<f64> = m2.iter().map(|v| a * v / (n - 1.0)).collect();
    for i in 0..d {
        s[i * d + i] += b;
    }
    symmetrise(&mut s, d);
    s
}

/// Replaces each off-diagonal pair of the `d x d` matrix `m` by its mean (rounding leaves products
/// and sums of symmetric matrices slightly asymmetric).
fn symmetrise(m: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = v;
            m[j * d + i] = v;
        }
    }
}

/// The transpose of the row-major `d x d` matrix `a`.
fn transposed(a: &[f64], d: usize) -> Vec<f64> {
    (0..d * d).map(|k| a[(k % d) * d + k / d]).collect()
}

/// `a b` for row-major `d x d` matrices.
fn mat_mul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for (o, bkj) in out[i * d..(i + 1) * d]
                .iter_mut()
                .zip(&b[k * d..(k + 1) * d])
            {
                *o += aik * bkj;
            }
        }
    }
    out
}

/// The inverse of the lower-triangular `l` (row-major `d x d`), by forward substitution.
fn lower_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut w = vec![0.0; d * d];
    for c in 0..d {
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * d + k] * w[k * d + c];
            }
            w[i * d + c] = s / l[i * d + i];
        }
    }
    w
}

/// The symmetric positive-definite square root of `c` by the Denman-Beavers iteration
/// (`Y <- (Y + Z^-1) / 2`, `Z <- (Z + Y^-1) / 2` from `Y = c`, `Z = I`; `Y` tends to `c^(1/2)`),
/// run on `c` scaled to unit mean eigenvalue.
fn spd_sqrt(c: &[f64], d: usize) -> Result<Vec<f64>> {
    let scale = (0..d).map(|i| c[i * d + i]).sum::<f64>() / d as f64;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::NotPositiveDefinite {
            name: "gradient covariance".into(),
            pivot: 0,
            value: scale,
            size: d,
        });
    }
    let mut y: Vec<f64> = c.iter().map(|v| v / scale).collect();
    let mut z = vec![0.0; d * d];
    (0..d).for_each(|i| z[i * d + i] = 1.0);
    // Quadratic convergence: a few tens of iterations at most from the scaled start. Stop once the
    // iterate moves by less than 1e-12 of its size, or stops moving less (rounding).
    let mut last_change = f64::INFINITY;
    for _ in 0..60 {
        let yi = linalg::spd_inverse("gradient covariance", &y, d)?;
        let zi = linalg::spd_inverse("gradient covariance", &z, d)?;
        let mut y1: Vec<f64> = y.iter().zip(&zi).map(|(a, b)| 0.5 * (a + b)).collect();
        let mut z1: Vec<f64> = z.iter().zip(&yi).map(|(a, b)| 0.5 * (a + b)).collect();
        symmetrise(&mut y1, d);
        symmetrise(&mut z1, d);
        let change: f64 = y1.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum();
        let size: f64 = y1.iter().map(|a| a * a).sum();
        if change >= last_change {
            // Rounding has taken over: keep the last iterate that still improved.
            break;
        }
        y = y1;
        z = z1;
        if change <= 1e-24 * size {
            break;
        }
        last_change = change;
    }
    let root = scale.sqrt();
    Ok(y.iter().map(|v| v * root).collect())
}

/// The symmetric positive-definite `M` with `M sx M = sg`: with `sx = L L^T`,
/// `M = L^-T (L^T sg L)^(1/2) L^-1`.
fn geometric_mass(sx: &[f64], sg: &[f64], d: usize) -> Result<Vec<f64>> {
    let l = linalg::cholesky("covariance", sx, d)?;
    let c = mat_mul(&mat_mul(&transposed(&l, d), sg, d), &l, d);
    let root = spd_sqrt(&c, d)?;
    let w = lower_inverse(&l, d);
    let mut m = mat_mul(&mat_mul(&transposed(&w, d), &root, d), &w, d);
    symmetrise(&mut m, d);
    Ok(m)
}

impl Warmup {
    fn check(&self) -> Result<()> {
        if let Some(t) = self.target_accept {
            check_target(t)?;
        }
        if self.windows.1 == 0 {
            return Err(Error::invalid(
                "windows",
                format!("{:?}", self.windows),
                "the first slow window needs at least one step",
            ));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(Error::invalid("jitter", self.jitter, "must lie in [0, 1)"));
        }
        if self.thin == 0 {
            return Err(Error::invalid("thin", 0, "must be at least 1"));
        }
        if self.draws > 0 && self.draws < self.thin {
            return Err(Error::invalid(
                "draws",
                self.draws,
                "keeps no draw: 0 for a warm-up only, or at least thin",
            ));
        }
        Ok(())
    }

    /// Starts one chain per row of `x0`, warms up (tuning each chain's step size and, for kernels
    /// with one, the mass matrix pooled over the chains), then samples with the tuned kernel.
    /// Warm-up's transitions run [`Adaptable::warmup_variant`] of `kernel` (for NUTS, its
    /// [`Nuts::warmup_uturn`] criterion); sampling runs `kernel` itself with the tuned step sizes
    /// and mass matrix. Both phases go through the [`Driver`]: warm-up as a run
    /// that a [`WarmupAdaptation`] tunes (which [`Warmup::adaptation`] gives, to run it with
    /// observers and stores of your own), sampling as a plain run of the tuned kernel.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the setting for invalid settings, the errors of
    /// [`Kernel::init`], and the model's.
    pub fn run<K, const D: usize, E, Dev, M>(
        &self,
        kernel: &K,
        model: &M,
        x0: &Batch<D, E, Dev>,
    ) -> Result<AdaptedRun<D, E, Dev, K>>
    where
        K: Adaptable,
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.check()?;
        let clock = std::time::Instant::now();
        let mut state =
            kernel
                .warmup_variant()
                .init_shard(model, x0, self.seed, self.first_chain)?;
        let n = state.n_chains();
        let mut adaptation = self.adaptation(kernel, model, &mut state)?;
        let mut warm = Phase::recording(n, self.warmup, self.thin, self.keep_warmup);
        Driver::adapting(&mut adaptation, model, &mut state)
            .observe(&mut warm)
            .run(&RunOptions::new(self.warmup).progress(self.progress))?;
        let tuned = adaptation.finish(&mut state)?;
        let warmup_time = clock.elapsed();

        // Sampling with the kernel itself, given the tuned mass matrix and step sizes; the state
        // jitters them from now on, as it will when continued.
        let clock = std::time::Instant::now();
        state.set_step_size_jitter(self.jitter)?;
        let mut draws = Phase::recording(n, self.draws, self.thin, true);
        Driver::new(&tuned.kernel, model, &mut state)
            .observe(&mut draws)
            .run(&RunOptions::new(self.draws).progress(self.progress))?;
        let mass = tuned.kernel.mass_matrix().cloned();
        Ok(AdaptedRun {
            kernel: tuned.kernel,
            state,
            warmup: warm,
            draws,
            step_sizes: tuned.step_sizes,
            mass,
            warmup_step_sizes: tuned.warmup_step_sizes,
            search_gradient_evaluations: tuned.search_gradient_evaluations,
            warmup_time,
            sampling_time: clock.elapsed(),
        })
    }

    /// The adaptation of [`Warmup::run`] for `kernel` on the chains `state` (started by
    /// [`Adaptable::warmup_variant`]'s `init`), to run through a [`Driver`] of
    /// your own ([`Driver::adapting`]), with observers or a store, for
    /// [`Warmup::warmup`] steps; [`WarmupAdaptation::finish`] then gives the tuned kernel. Its
    /// first step-size search and initial mass happen here, from the state's points.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the setting for invalid settings, and the model's
    /// errors.
    pub fn adaptation<K, const D: usize, E, Dev, M>(
        &self,
        kernel: &K,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<WarmupAdaptation<K>>
    where
        K: Adaptable,
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.check()?;
        let target_accept = self
            .target_accept
            .unwrap_or_else(|| kernel.default_target_accept());
        let mut variant = kernel.warmup_variant();
        let mut target = Target::new(model, state.device());
        let n = state.n_chains();
        let mass_adapt = if variant.mass_matrix().is_some() {
            self.mass
        } else {
            MassAdaptation::Off
        };
        if mass_adapt != MassAdaptation::Off && self.gradient_initial_mass {
            if let Some(k) =
                variant.with_adapted_mass(gradient_scale_mass::<D, E>(&state.points().g))
            {
                variant = k?;
            }
        }
        // The starting points' evaluation in `init`.
        let mut search_evals = n as u64;
        if self.find_initial_step_size {
            let eps = initial_step_sizes(&variant, &mut target, state, &mut search_evals)?;
            state.set_step_sizes(&eps)?;
        }
        let averaging: Vec<DualAveraging> = state
            .step_sizes()
            .iter()
            .map(|&e| DualAveraging::new(e, target_accept))
            .collect::<Result<_>>()?;
        let (init, base, term) = self.windows;
        Ok(WarmupAdaptation {
            sampler: kernel.clone(),
            kernel: variant,
            target_accept,
            find_initial_step_size: self.find_initial_step_size,
            search_after_first_transition: self.search_after_first_transition,
            mass_adapt,
            schedule: WindowSchedule::new(self.warmup, init, base, term),
            window: WindowEstimate::new(D, mass_adapt),
            delta: vec![0.0; D],
            next_window: 0,
            averaging,
            steps: 0,
            warmup_step_sizes: Vec::with_capacity(self.warmup * n),
            search_evals,
        })
    }
}

impl Warmup {
    /// The adaptation of [`Warmup::adaptation`] for `kernel` as it was when `snapshot` was
    /// taken ([`WarmupAdaptation::snapshot`]), for chains `n_chains` of dimension `D`: with the
    /// chain state of the same moment, the warm-up goes on exactly as if it had not stopped.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid settings, [`Error::LengthMismatch`] naming the
    /// snapshot's field that does not fit the chains, the dimension or these settings, and the
    /// kernel's errors for the stored mass matrix.
    pub fn resume_adaptation<K: Adaptable, const D: usize>(
        &self,
        kernel: &K,
        n_chains: usize,
        snapshot: &WarmupSnapshot,
    ) -> Result<WarmupAdaptation<K>> {
        self.check()?;
        let target_accept = self
            .target_accept
            .unwrap_or_else(|| kernel.default_target_accept());
        let mut variant = kernel.warmup_variant();
        let mass_adapt = if variant.mass_matrix().is_some() {
            self.mass
        } else {
            MassAdaptation::Off
        };
        if let Some(mass) = &snapshot.mass {
            if let Some(k) = variant.with_adapted_mass(mass.clone()) {
                variant = k?;
            }
        }
        let mismatch = |name: &str, expected: usize, actual: usize| Error::LengthMismatch {
            name: format!("snapshot.{name}"),
            expected,
            actual,
            reason: format!("{n_chains} chains of dimension {D} under these warm-up settings"),
        };
        if snapshot.averaging.len() != n_chains {
            return Err(mismatch("averaging", n_chains, snapshot.averaging.len()));
        }
        let steps = usize::try_from(snapshot.steps).unwrap_or(usize::MAX);
        if steps > self.warmup {
            return Err(Error::invalid(
                "snapshot.steps",
                snapshot.steps,
                format!("more than the {} warm-up steps", self.warmup),
            ));
        }
        let expected_sizes = steps.saturating_mul(n_chains);
        if snapshot.warmup_step_sizes.len() != expected_sizes {
            return Err(mismatch(
                "warmup_step_sizes",
                expected_sizes,
                snapshot.warmup_step_sizes.len(),
            ));
        }
        let mut window = WindowEstimate::new(D, mass_adapt);
        let parts = [
            window.mean.len(),
            window.m2.len(),
            window.gmean.len(),
            window.gm2.len(),
        ];
        let expected = 1 + parts.iter().sum::<usize>();
        if snapshot.window.len() != expected {
            return Err(mismatch("window", expected, snapshot.window.len()));
        }
        window.n = snapshot.window[0];
        let mut at = 1;
        for v in [
            &mut window.mean,
            &mut window.m2,
            &mut window.gmean,
            &mut window.gm2,
        ] {
            let len = v.len();
            v.copy_from_slice(&snapshot.window[at..at + len]);
            at += len;
        }
        let (init, base, term) = self.windows;
        let schedule = WindowSchedule::new(self.warmup, init, base, term);
        let next_window = usize::try_from(snapshot.next_window).unwrap_or(usize::MAX);
        if next_window > schedule.window_ends.len() {
            return Err(Error::invalid(
                "snapshot.next_window",
                snapshot.next_window,
                format!("the schedule has {} windows", schedule.window_ends.len()),
            ));
        }
        Ok(WarmupAdaptation {
            sampler: kernel.clone(),
            kernel: variant,
            target_accept,
            find_initial_step_size: self.find_initial_step_size,
            search_after_first_transition: self.search_after_first_transition,
            mass_adapt,
            schedule,
            window,
            delta: vec![0.0; D],
            next_window,
            averaging: snapshot
                .averaging
                .iter()
                .map(|a| DualAveraging {
                    target: a[0],
                    mu: a[1],
                    log_eps: a[2],
                    log_eps_bar: a[3],
                    h_bar: a[4],
                    t: a[5],
                    s: a[6],
                })
                .collect(),
            steps,
            warmup_step_sizes: snapshot.warmup_step_sizes.clone(),
            search_evals: snapshot.search_gradient_evaluations,
        })
    }
}

/// The windowed warm-up of [`Warmup`] as an [`Adaptation`] the [`Driver`] runs:
/// dual averaging of each chain's step size toward the target acceptance, and the mass matrix
/// pooled over the chains at the end of each slow window (Stan's schedule), with a new step-size
/// search after each. [`Warmup::adaptation`] makes one; [`WarmupAdaptation::finish`] gives the
/// tuned kernel.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
///
/// let model = Harmonic::<f64>::default();
/// let x0: Batch<2, f64> = Cpu::default().sample_normal_like(&(4, Const::<2>));
/// let warmup = Warmup { warmup: 200, seed: 3, progress: false, ..Warmup::default() };
/// let nuts = Nuts::default();
/// let mut state = nuts.warmup_variant().init(&model, &x0, warmup.seed)?;
/// let mut adaptation = warmup.adaptation(&nuts, &model, &mut state)?;
/// // Any observer sees the warm-up draws; a store streams them (ebm-storage).
/// let mut moved = 0usize;
/// let mut count = observer_fn(|s: &StepView<'_, 2, f64>| {
///     moved += s.info.iter().filter(|i| i.accepted).count();
///     Ok(Flow::Continue)
/// });
/// Driver::adapting(&mut adaptation, &model, &mut state)
///     .observe(&mut count)
///     .run(&RunOptions::new(warmup.warmup).progress(false))?;
/// let tuned = adaptation.finish(&mut state)?;
/// assert!(moved > 0 && tuned.step_sizes.iter().all(|&e| e > 0.0));
/// // Sample on with the tuned kernel.
/// let out = Driver::new(&tuned.kernel, &model, &mut state).run(&RunOptions::new(100).trace(1))?;
/// assert_eq!(out.trace.unwrap().shape(), [4, 100, 2]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WarmupAdaptation<K> {
    /// The kernel to tune, as given.
    sampler: K,
    /// Its warm-up variant with the mass adapted so far: the kernel of the steps.
    kernel: K,
    target_accept: f64,
    find_initial_step_size: bool,
    search_after_first_transition: bool,
    mass_adapt: MassAdaptation,
    schedule: WindowSchedule,
    window: WindowEstimate,
    delta: Vec<f64>,
    next_window: usize,
    averaging: Vec<DualAveraging>,
    /// Steps adapted so far (over every run of the driver).
    steps: usize,
    warmup_step_sizes: Vec<f64>,
    search_evals: u64,
}

/// Everything a [`WarmupAdaptation`] has learnt so far, as plain data, to save it with a run's
/// checkpoint and go on from it ([`Warmup::resume_adaptation`]): with the chain state's snapshot
/// it continues the warm-up bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupSnapshot {
    /// Steps adapted so far.
    pub steps: u64,
    /// The slow window being filled (an index into the schedule).
    pub next_window: u64,
    /// Gradient evaluations of the step-size searches so far (with the starting points').
    pub search_gradient_evaluations: u64,
    /// The warm-up kernel's mass matrix as adapted so far (`None` for a kernel without one).
    pub mass: Option<MassMatrix>,
    /// Per chain, the dual averaging's state: target, mu, log step size, log averaged step size,
    /// running error, the iterate's clock, the average's clock.
    pub averaging: Vec<[f64; 7]>,
    /// The window's count, then its running means and sums of squares (draws, then gradients).
    pub window: Vec<f64>,
    /// Each chain's step size after every warm-up step so far, `[step][chain]`.
    pub warmup_step_sizes: Vec<f64>,
}

/// What a finished [`WarmupAdaptation`] gives.
#[derive(Debug, Clone)]
pub struct Tuned<K> {
    /// The kernel to sample with: the one given, with the adapted mass matrix.
    pub kernel: K,
    /// Each chain's tuned step size (also set on the state).
    pub step_sizes: Vec<f64>,
    /// Each chain's step size after every warm-up transition, `[draw][chain]`.
    pub warmup_step_sizes: Vec<f64>,
    /// Gradient evaluations (rows) spent outside the transitions: the starting points and the
    /// step-size searches.
    pub search_gradient_evaluations: u64,
}

impl<K: Adaptable> WarmupAdaptation<K> {
    /// The steps adapted so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// What the adaptation has learnt so far; [`Warmup::resume_adaptation`] goes on from it.
    pub fn snapshot(&self) -> WarmupSnapshot {
        let w = &self.window;
        WarmupSnapshot {
            steps: self.steps as u64,
            next_window: self.next_window as u64,
            search_gradient_evaluations: self.search_evals,
            mass: self.kernel.mass_matrix().cloned(),
            averaging: self
                .averaging
                .iter()
                .map(|a| [a.target, a.mu, a.log_eps, a.log_eps_bar, a.h_bar, a.t, a.s])
                .collect(),
            window: std::iter::once(w.n)
                .chain(
                    w.mean
                        .iter()
                        .chain(&w.m2)
                        .chain(&w.gmean)
                        .chain(&w.gm2)
                        .copied(),
                )
                .collect(),
            warmup_step_sizes: self.warmup_step_sizes.clone(),
        }
    }

    /// Ends the warm-up: sets each chain's tuned step size (the dual average's) on `state`, when
    /// any step was adapted, and returns the kernel to sample with.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `state` has another number of chains, and the kernel's
    /// errors for the adapted mass.
    pub fn finish<const D: usize, E: Real, Dev: Device<E>>(
        self,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<Tuned<K>> {
        if self.steps > 0 {
            let tuned: Vec<f64> = self
                .averaging
                .iter()
                .map(DualAveraging::final_step_size)
                .collect();
            state.set_step_sizes(&tuned)?;
        }
        let kernel = match self.kernel.mass_matrix() {
            Some(mass) => self
                .sampler
                .with_adapted_mass(mass.clone())
                .transpose()?
                .unwrap_or_else(|| self.sampler.clone()),
            None => self.sampler.clone(),
        };
        Ok(Tuned {
            kernel,
            step_sizes: state.step_sizes().to_vec(),
            warmup_step_sizes: self.warmup_step_sizes,
            search_gradient_evaluations: self.search_evals,
        })
    }
}

impl<K, const D: usize, E, Dev, M> Adaptation<K, D, E, Dev, M> for WarmupAdaptation<K>
where
    K: Adaptable,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    fn kernel(&self) -> &K {
        &self.kernel
    }

    fn adapt(
        &mut self,
        _step: usize,
        info: &[StepInfo],
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<bool> {
        // Its own count: a warm-up may run as several driver runs (a store's chunks).
        let step = self.steps;
        self.steps += 1;
        // Step sizes from dual averaging, chain by chain.
        let next: Vec<f64> = self
            .averaging
            .iter_mut()
            .zip(info)
            .map(|(da, i)| da.update(self.kernel.adaptation_statistic(i)))
            .collect();
        state.set_step_sizes(&next)?;
        if step == 0 && self.find_initial_step_size && self.search_after_first_transition {
            // From where the first transition went, with the adaptation started afresh there
            // (see the setting's documentation).
            let eps = initial_step_sizes(&self.kernel, target, state, &mut self.search_evals)?;
            self.averaging = eps
                .iter()
                .map(|&e| DualAveraging::new(e, self.target_accept))
                .collect::<Result<_>>()?;
            state.set_step_sizes(&eps)?;
        }
        self.warmup_step_sizes.extend_from_slice(state.step_sizes());
        // Mass matrix: collect the slow windows' draws, update at each window's end.
        let mut changed = false;
        let w = self.next_window;
        if self.mass_adapt != MassAdaptation::Off && w < self.schedule.window_ends.len() {
            if step >= self.schedule.window_starts[w] {
                let pts = state.points();
                for (row, g) in pts.x.chunks_exact(D).zip(pts.g.chunks_exact(D)) {
                    self.window.add(row, &mut self.delta);
                    self.window.add_gradient(g, &mut self.delta);
                }
            }
            if step + 1 == self.schedule.window_ends[w] {
                if self.window.n > 2.0 {
                    let mass = self.window.mass()?;
                    if let Some(k) = self.kernel.with_adapted_mass(mass) {
                        self.kernel = k?;
                        changed = true;
                    }
                    if self.find_initial_step_size {
                        // A new initial step size for the new mass: the adaptation's centre
                        // moves there.
                        let eps = initial_step_sizes(
                            &self.kernel,
                            target,
                            state,
                            &mut self.search_evals,
                        )?;
                        let next = self
                            .averaging
                            .iter_mut()
                            .zip(&eps)
                            .map(|(da, &e)| da.recentre(e))
                            .collect::<Result<Vec<f64>>>()?;
                        state.set_step_sizes(&next)?;
                    } else {
                        // The iterate carries on; only the average starts again.
                        self.averaging
                            .iter_mut()
                            .for_each(DualAveraging::restart_average);
                    }
                }
                self.window = WindowEstimate::new(D, self.mass_adapt);
                self.next_window += 1;
            }
        }
        Ok(changed)
    }
}

/// `m_i` = the root mean square over the chains of the gradients' coordinate `i` (row-major
/// `n x D`); 1 where that is zero or not finite, clamped to `[1e-8, 1e8]`.
fn gradient_scale_mass<const D: usize, E: Real>(g: &[E]) -> MassMatrix {
    let n = (g.len() / D).max(1) as f64;
    MassMatrix::Diagonal(
        (0..D)
            .map(|i| {
                let ms = g
                    .iter()
                    .skip(i)
                    .step_by(D)
                    .map(|v| v.as_f64().powi(2))
                    .sum::<f64>()
                    / n;
                let m = ms.sqrt();
                if m.is_finite() && m > 0.0 {
                    m.clamp(1e-8, 1e8)
                } else {
                    1.0
                }
            })
            .collect(),
    )
}

/// The heuristic of Hoffman and Gelman (2014, algorithm 4), chain by chain: from the current step
/// size, double or halve until the acceptance probability of one leapfrog step from a fresh
/// momentum crosses 1/2. Draws the momenta from the chains' own streams; adds the rows it
/// evaluates to `evaluations`.
fn initial_step_sizes<K, const D: usize, E, Dev, M>(
    kernel: &K,
    target: &mut Target<'_, D, E, Dev, M>,
    state: &mut ChainState<D, E, Dev>,
    evaluations: &mut u64,
) -> Result<Vec<f64>>
where
    K: Adaptable,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    let n = state.n_chains();
    let mass = kernel
        .mass_matrix()
        .cloned()
        .unwrap_or(MassMatrix::Identity)
        .prepare::<E>(D)?;
    let mut eps: Vec<f64> = state
        .step_sizes()
        .iter()
        .map(|&h| kernel.leapfrog_from_step_size(h))
        .collect();
    let mut direction = vec![0i8; n];
    let mut done = vec![false; n];
    let mut momentum = vec![E::zero(); n * D];
    let mut start_kinetic = vec![0.0; n];
    for (c, row) in momentum.chunks_exact_mut(D).enumerate() {
        for v in row.iter_mut() {
            *v = E::standard_normal(&mut state.rngs[c]);
        }
        mass.momentum(row);
        let t = state.temperature[c];
        if t != 1.0 {
            let s = E::of(t.sqrt());
            row.iter_mut().for_each(|v| *v *= s);
        }
        start_kinetic[c] = mass.kinetic(row);
    }
    let mut pts: Points<E> = state.points.clone();
    let mut p = momentum.clone();
    for _round in 0..60 {
        pts.x.copy_from_slice(&state.points.x);
        pts.g.copy_from_slice(&state.points.g);
        p.copy_from_slice(&momentum);
        let eps_e: Vec<E> = eps.iter().map(|&e| E::of(e)).collect();
        leapfrog_host(target, &mass, Step::PerChain(&eps_e), 1, &mut pts, &mut p)?;
        *evaluations += n as u64;
        let mut all_done = true;
        for c in 0..n {
            if done[c] {
                continue;
            }
            let h0 = state.points.e[c].as_f64() + start_kinetic[c];
            let h1 = pts.e[c].as_f64() + mass.kinetic(&p[c * D..(c + 1) * D]);
            let t = state.temperatures()[c].max(f64::MIN_POSITIVE);
            let log_a = (h0 - h1) / t;
            let log_a = if log_a.is_finite() {
                log_a
            } else {
                f64::NEG_INFINITY
            };
            let up = log_a > (0.5f64).ln();
            if direction[c] == 0 {
                direction[c] = if up { 1 } else { -1 };
            }
            let crossed = (direction[c] == 1 && !up) || (direction[c] == -1 && up);
            if crossed || !(1e-10..1e7).contains(&eps[c]) {
                done[c] = true;
                if direction[c] == 1 && crossed {
                    // The last doubling went too far: keep the one before.
                    eps[c] *= 0.5;
                }
                continue;
            }
            eps[c] = if direction[c] == 1 {
                eps[c] * 2.0
            } else {
                eps[c] * 0.5
            };
            all_done = false;
        }
        if all_done {
            break;
        }
    }
    Ok(eps
        .into_iter()
        .map(|e| {
            let h = kernel.step_size_from_leapfrog(e);
            check::positive("step_size", h).unwrap_or(1e-3)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric positive-definite `d x d` matrix `A A^T / d + s I` from a fixed pseudo-random
    /// `A`.
    fn spd(d: usize, seed: f64, s: f64) -> Vec<f64> {
        let a: Vec<f64> = (0..d * d)
            .map(|k| (seed * (k as f64 + 1.0)).sin())
            .collect();
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] = (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum::<f64>() / d as f64;
            }
            m[i * d + i] += s;
        }
        m
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_square_root_squares_back() {
        let d = 12;
        let c = spd(d, 0.73, 0.05);
        let r = spd_sqrt(&c, d).unwrap();
        assert!(max_abs_diff(&mat_mul(&r, &r, d), &c) < 1e-10);
        // Symmetric, and positive definite (it has a Cholesky factor).
        assert!(max_abs_diff(&r, &transposed(&r, d)) < 1e-12);
        linalg::cholesky("root", &r, d).unwrap();
    }

    #[test]
    fn the_geometric_mass_solves_its_equation_for_matrices_that_do_not_commute() {
        let d = 9;
        let (sx, sg) = (spd(d, 0.37, 0.2), spd(d, 1.91, 0.1));
        let m = geometric_mass(&sx, &sg, d).unwrap();
        let back = mat_mul(&mat_mul(&m, &sx, d), &m, d);
        assert!(
            max_abs_diff(&back, &sg) < 1e-9,
            "{}",
            max_abs_diff(&back, &sg)
        );
        linalg::cholesky("mass", &m, d).unwrap();
        // For sg = P sx P the solution is P, whatever sx.
        let p = spd(d, 2.53, 0.3);
        let psp = mat_mul(&mat_mul(&p, &sx, d), &p, d);
        assert!(max_abs_diff(&geometric_mass(&sx, &psp, d).unwrap(), &p) < 1e-9);
    }

    #[test]
    fn gradient_dense_falls_back_to_the_diagonal_when_gradients_do_not_vary() {
        let d = 3;
        let mut w = WindowEstimate::new(d, MassAdaptation::GradientDense);
        let mut delta = vec![0.0; d];
        for i in 0..20 {
            let x: Vec<f64> = (0..d).map(|j| ((i * 7 + j * 3) as f64).sin()).collect();
            w.add(&x, &mut delta);
            w.add_gradient(&[1.0f64, -2.0, 0.5], &mut delta);
        }
        // Zero gradient variance: no dense estimate, and unit masses rather than zeros.
        assert_eq!(w.mass().unwrap(), MassMatrix::Diagonal(vec![1.0; d]));
        // With varying gradients the same window gives a dense mass.
        let mut w = WindowEstimate::new(d, MassAdaptation::GradientDense);
        for i in 0..20 {
            // Three different frequencies, so the draws span all three directions.
            let x: Vec<f64> = (0..d)
                .map(|j| (1.3 * (i * (j + 1)) as f64 + 0.7 * j as f64).sin())
                .collect();
            let g: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
            w.add(&x, &mut delta);
            w.add_gradient(&g, &mut delta);
        }
        let Ok(MassMatrix::Dense(m)) = w.mass() else {
            panic!("a dense mass")
        };
        // g = 2 x exactly, so M S M = 4 S: M = 2 I up to the regularisation.
        for i in 0..d {
            for j in 0..d {
                let want = if i == j { 2.0 } else { 0.0 };
                assert!(
                    (m[i * d + j] - want).abs() < 1e-2,
                    "{i},{j}: {}",
                    m[i * d + j]
                );
            }
        }
    }

    #[test]
    fn the_lower_inverse_inverts() {
        let d = 7;
        let l = linalg::cholesky("a", &spd(d, 0.5, 0.4), d).unwrap();
        let w = lower_inverse(&l, d);
        let eye: Vec<f64> = (0..d * d).map(|k| f64::from(k / d == k % d)).collect();
        assert!(max_abs_diff(&mat_mul(&l, &w, d), &eye) < 1e-12);
    }
}
