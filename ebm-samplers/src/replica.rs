//! Replica exchange (parallel tempering): a ladder of temperatures per independent ladder, one
//! replica per temperature, explored by a Metropolis-adjusted kernel and swapped between neighbours.

use crate::driver::{Driver, Flow, Observer, RunStart, StepView};
use crate::kernel::{Kernel, StepInfo, Target};
use crate::output::{SampleOutput, StepDiagnostics, Trace};
use crate::snapshot::StateSnapshot;
use crate::state::ChainState;
use crate::RunOptions;
use ebm_core::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;

/// Which neighbouring pairs of a ladder try to swap at each scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SwapScheme {
    /// Deterministic even-odd: pairs `(0, 1), (2, 3), ...` at even scans and `(1, 2), (3, 4), ...`
    /// at odd ones. Non-reversible: replicas travel the ladder in straight runs rather than a
    /// random walk, which is what makes round trips fast (Syed, Bouchard-Cote, Deligiannidis and
    /// Doucet, JRSS-B 2022). The default.
    #[default]
    NonReversible,
    /// Stochastic even-odd: each ladder picks the even or the odd pairs at random at each scan.
    /// Reversible; replicas diffuse along the ladder.
    Reversible,
    /// No swaps: every replica stays at its temperature (for comparisons and tests).
    Off,
}

/// Replica exchange around a Metropolis-adjusted kernel (the explorer).
///
/// Each ladder holds one replica per temperature `1 = T_0 < T_1 < ... < T_K`; many independent
/// ladders run in one batch of `ladders x temperatures` chains, so the work stays batched and
/// threaded. One scan moves every replica by `explore_steps` steps of the explorer at its own
/// temperature (replica at `T_k` targets `exp(-E / T_k)`), then offers swaps between neighbouring
/// temperatures, accepted with probability `min(1, exp((1/T_i - 1/T_{i+1}) (E_i - E_{i+1})))`. The
/// cold replicas (`T_0 = 1`) sample the target; hot ones cross the barriers between its modes and
/// hand what they find down the ladder.
///
/// The ladder starts at temperature 1, the model's own density: to sample `exp(-E / t)`, wrap the
/// model in [`Scaled`](ebm_core::energy::Scaled) with factor `1 / t`. The explorer's own
/// temperature setting is replaced by the ladder's.
///
/// Randomness: chain `k * n_ladders + l` (temperature `k` of ladder `l`) explores with its own
/// stream as any chain does; the swap tests of ladder `l` draw from a stream of its own, so results
/// do not depend on the thread count, and with [`SwapScheme::Off`] the cold chains are exactly the
/// explorer's own chains when the explorer's own temperature is 1.
///
/// The cold chains' statistics count a scan as one transition, and report its acceptance per
/// exploration step: `accepted` is the scan's last exploration step's (so the run's acceptance
/// rate estimates the explorer's rate per step, whatever `explore_steps`), the acceptance
/// probability is the mean over the scan's steps; the transition is divergent when any step
/// diverged and costs all the steps' gradients. [`SwapStats::explorer_acceptance`] has the rate
/// over every exploration step, per temperature.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_core::energy::Scaled;
/// use ebm_models::GaussianMixture;
/// use ebm_samplers::prelude::*;
///
/// let dev = Cpu::default();
/// // Two wells at temperature 0.05: too cold for a single chain to cross between them.
/// let model = Scaled::new(GaussianMixture::<2, f64>::four_modes(&dev), 20.0)?;
/// let pt = ReplicaExchange::geometric(Mala::new(0.02, 1.0)?, 40.0, 8)?;
/// let x0: Batch<2, f64> = dev.zeros_like(&(16, Const::<2>)); // 16 ladders
/// let mut state = pt.init(&model, &x0, 1)?;
/// pt.tune_ladder(&model, &mut state, 5)?;
/// let out = pt.run_from(&model, &mut state, &RunOptions::new(200).trace(1))?;
/// assert_eq!(out.cold.trace.unwrap().shape(), [16, 200, 2]);
/// assert!(out.swaps.round_trips.iter().sum::<u64>() > 0);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaExchange<K> {
    explorer: K,
    temperatures: Vec<f64>,
    explore_steps: usize,
    scheme: SwapScheme,
    /// The explorer acceptance rate [`ReplicaExchange::tune_ladder`] tunes each temperature's
    /// step size toward, when set.
    explorer_target: Option<f64>,
}

/// The most temperatures [`ReplicaExchange::geometric`] makes (ladders of hundreds are large).
const MAX_TEMPERATURES: usize = 1 << 16;

/// Checks a ladder: at least two temperatures, the first 1, strictly increasing and finite.
fn check_ladder(t: &[f64]) -> Result<()> {
    if t.len() < 2 {
        return Err(Error::invalid(
            "temperatures",
            format!("{t:?}"),
            "a ladder needs at least 2 temperatures",
        ));
    }
    if t[0] != 1.0 {
        return Err(Error::invalid(
            "temperatures[0]",
            t[0],
            "the ladder starts at temperature 1, the target itself",
        ));
    }
    for i in 1..t.len() {
        if !(t[i].is_finite() && t[i] > t[i - 1]) {
            return Err(Error::invalid(
                format!("temperatures[{i}]"),
                t[i],
                format!(
                    "must be finite and greater than temperatures[{}] = {}",
                    i - 1,
                    t[i - 1]
                ),
            ));
        }
    }
    Ok(())
}

impl<K: Kernel> ReplicaExchange<K> {
    /// Replica exchange with the ladder `temperatures`, one exploration step between swaps and the
    /// non-reversible scheme.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `explorer` when the kernel has no Metropolis test (an
    /// unadjusted kernel does not target the tempered densities exactly, so swaps would not either),
    /// or naming the offending `temperatures[i]`: fewer than 2, `T_0 != 1`, not increasing, not
    /// finite.
    pub fn new(explorer: K, temperatures: Vec<f64>) -> Result<Self> {
        if !explorer.metropolis_adjusted() {
            return Err(Error::invalid(
                "explorer",
                "a kernel without a Metropolis test",
                "replica exchange needs an explorer that targets each tempered density exactly",
            ));
        }
        check_ladder(&temperatures)?;
        Ok(Self {
            explorer,
            temperatures,
            explore_steps: 1,
            scheme: SwapScheme::default(),
            explorer_target: None,
        })
    }

    /// A geometric ladder of `n_temperatures` from 1 to `t_max`: `T_k = t_max^(k / K)`.
    ///
    /// # Errors
    /// As [`ReplicaExchange::new`], and [`Error::InvalidParameter`] naming `t_max` unless it is
    /// finite and above 1, or `n_temperatures` when it is below 2 or above 65 536.
    pub fn geometric(explorer: K, t_max: f64, n_temperatures: usize) -> Result<Self> {
        if !(t_max.is_finite() && t_max > 1.0) {
            return Err(Error::invalid("t_max", t_max, "must be finite and above 1"));
        }
        if n_temperatures < 2 {
            return Err(Error::invalid(
                "n_temperatures",
                n_temperatures,
                "a ladder needs at least 2 temperatures",
            ));
        }
        if n_temperatures > MAX_TEMPERATURES {
            return Err(Error::invalid(
                "n_temperatures",
                n_temperatures,
                format!("at most {MAX_TEMPERATURES} temperatures"),
            ));
        }
        let k = (n_temperatures - 1) as f64;
        let mut t: Vec<f64> = (0..n_temperatures)
            .map(|i| t_max.powf(i as f64 / k))
            .collect();
        t[0] = 1.0;
        t[n_temperatures - 1] = t_max;
        Self::new(explorer, t)
    }

    /// The same sampler with `n` explorer steps between swaps.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `explore_steps` when `n` is 0.
    pub fn with_explore_steps(mut self, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("explore_steps", 0, "must be at least 1"));
        }
        self.explore_steps = n;
        Ok(self)
    }

    /// The same sampler with the swap scheme `scheme`.
    pub fn with_scheme(mut self, scheme: SwapScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The ladder new states start with.
    pub fn temperatures(&self) -> &[f64] {
        &self.temperatures
    }

    /// The explorer.
    pub fn explorer(&self) -> &K {
        &self.explorer
    }

    /// Explorer steps between swaps.
    pub fn explore_steps(&self) -> usize {
        self.explore_steps
    }

    /// A state with one ladder per row of `x0`: every replica of ladder `l` starts at row `l`.
    /// Exploration streams are those of [`Kernel::init`] for the `ladders x temperatures` chains;
    /// ladder `l` swaps with ChaCha8 `seed_from_u64(seed)`, stream `2^40 + l`.
    ///
    /// # Errors
    /// As [`Kernel::init`].
    pub fn init<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        seed: u64,
    ) -> Result<ReplicaState<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let n_temps = self.temperatures.len();
        if x0.shape().0 == 0 {
            return Err(Error::EmptyBatch { name: "x0".into() });
        }
        let rows = x0.as_vec();
        let mut all = Vec::with_capacity(rows.len() * n_temps);
        for _ in 0..n_temps {
            all.extend_from_slice(&rows);
        }
        let batch = x0
            .device()
            .tensor_from_vec(all, (x0.shape().0 * n_temps, Const::<D>));
        self.init_replicas(model, &batch, seed)
    }

    /// A state with a starting point for every replica: `x0` has `ladders x temperatures` rows,
    /// temperature-major (row `k * n_ladders + l` is temperature `k` of ladder `l`).
    ///
    /// # Errors
    /// As [`Kernel::init`], and [`Error::LengthMismatch`] when the number of rows is not a multiple
    /// of the number of temperatures.
    pub fn init_replicas<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        seed: u64,
    ) -> Result<ReplicaState<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let n_temps = self.temperatures.len();
        let rows = x0.shape().0;
        if rows == 0 {
            return Err(Error::EmptyBatch { name: "x0".into() });
        }
        if rows % n_temps != 0 {
            return Err(Error::LengthMismatch {
                name: "x0".into(),
                expected: n_temps * (rows / n_temps).max(1),
                actual: rows,
                reason: format!("one row per replica: ladders x {n_temps} temperatures"),
            });
        }
        let n_ladders = rows / n_temps;
        let mut chains = self.explorer.init(model, x0, seed)?;
        let per_chain: Vec<f64> = self
            .temperatures
            .iter()
            .flat_map(|&t| std::iter::repeat_n(t, n_ladders))
            .collect();
        chains.set_temperatures(&per_chain)?;
        let base = ChaCha8Rng::seed_from_u64(seed);
        let swap_rngs = (0..n_ladders)
            .map(|l| {
                let mut rng = base.clone();
                rng.set_stream((1u64 << 40) + l as u64);
                rng
            })
            .collect();
        let mut trip = vec![Trip::Unknown; n_ladders * n_temps];
        for l in 0..n_ladders {
            trip[l * n_temps] = Trip::FromCold;
        }
        Ok(ReplicaState {
            chains,
            book: SwapBook {
                n_ladders,
                temperatures: self.temperatures.clone(),
                replica_at: (0..n_temps)
                    .flat_map(|k| std::iter::repeat_n(k, n_ladders))
                    .collect(),
                trip,
                round_trips: vec![0; n_ladders],
                swap_rngs,
                scans: 0,
                scans_counted: 0,
                attempts: vec![0; n_temps - 1],
                accepted: vec![0; n_temps - 1],
                reject_sum: vec![0.0; n_temps - 1],
                evals: Vec::new(),
                scan_divergence: Vec::new(),
                scan_prob_sum: Vec::new(),
                explore_steps_taken: vec![0; n_temps],
                explore_accepted: vec![0; n_temps],
                scheme: None,
            },
        })
    }

    /// Runs `options.n_steps` scans (exploration, then swaps) from the state and returns the cold
    /// chains' output, as a plain run's (samples, trace and diagnostics as `options` asks), and the
    /// swap statistics of this run. Observers see the cold chains.
    ///
    /// # Errors
    /// As [`Driver::run`].
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

    /// Makes [`ReplicaExchange::tune_ladder`] also tune the explorer's step size at each
    /// temperature, as Pigeons tunes its explorers: after each round, the step size of every
    /// replica at temperature `k` is multiplied by `exp(2 (a_k - target))` (clamped to
    /// `[1/2, 2]`), `a_k` the round's acceptance rate of the exploration steps there. Hot replicas
    /// see flatter densities and end with larger steps. Off by default (every temperature keeps
    /// the explorer's step size).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `target` unless it lies strictly between 0 and 1.
    pub fn with_explorer_tuning(mut self, target: f64) -> Result<Self> {
        if !(target > 0.0 && target < 1.0) {
            return Err(Error::invalid(
                "target",
                target,
                "must lie strictly between 0 and 1",
            ));
        }
        self.explorer_target = Some(target);
        Ok(self)
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

/// New temperatures that split the cumulative barrier evenly: `Lambda(beta)` is interpolated
/// linearly in the inverse temperature between the ladder's points, and the `k`-th new inverse
/// temperature is where it reaches `k / K` of the total.
fn respace(temperatures: &[f64], rejection: &[f64]) -> Vec<f64> {
    let k = temperatures.len() - 1;
    let beta: Vec<f64> = temperatures.iter().map(|t| 1.0 / t).collect();
    let mut lambda = vec![0.0; k + 1];
    for i in 0..k {
        lambda[i + 1] = lambda[i] + rejection[i].clamp(0.0, 1.0);
    }
    let total = lambda[k];
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return temperatures.to_vec();
    }
    let mut out = temperatures.to_vec();
    let mut j = 0;
    for (i, t) in out.iter_mut().enumerate().take(k).skip(1) {
        let target = total * i as f64 / k as f64;
        while j + 1 < k && lambda[j + 1] < target {
            j += 1;
        }
        let span = lambda[j + 1] - lambda[j];
        let f = if span > 0.0 {
            (target - lambda[j]) / span
        } else {
            0.0
        };
        *t = 1.0 / (beta[j] + f * (beta[j + 1] - beta[j]));
    }
    out
}

/// Where a replica is on its way along the ladder, for counting round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    /// Not yet at the cold end.
    Unknown,
    /// Last seen at the cold end.
    FromCold,
    /// Reached the hot end since it was last at the cold end.
    ReachedHot,
}

/// Everything replica exchange keeps besides the chains.
#[derive(Debug, Clone)]
struct SwapBook {
    n_ladders: usize,
    temperatures: Vec<f64>,
    /// Per chain (temperature-major), the replica it holds.
    replica_at: Vec<usize>,
    /// Per ladder and replica (`l * n_temps + r`).
    trip: Vec<Trip>,
    round_trips: Vec<u64>,
    swap_rngs: Vec<ChaCha8Rng>,
    scans: u64,
    scans_counted: u64,
    attempts: Vec<u64>,
    accepted: Vec<u64>,
    reject_sum: Vec<f64>,
    evals: Vec<u32>,
    /// Per chain during a scan: the first divergence of its exploration steps, and the sum of
    /// their acceptance probabilities.
    scan_divergence: Vec<Option<crate::kernel::Divergence>>,
    scan_prob_sum: Vec<f64>,
    /// Per temperature: exploration steps taken and accepted.
    explore_steps_taken: Vec<u64>,
    explore_accepted: Vec<u64>,
    /// The swap scheme of the last scan.
    scheme: Option<SwapScheme>,
}

impl SwapBook {
    fn reset_counts(&mut self) {
        self.attempts.iter_mut().for_each(|v| *v = 0);
        self.accepted.iter_mut().for_each(|v| *v = 0);
        self.reject_sum.iter_mut().for_each(|v| *v = 0.0);
        self.round_trips.iter_mut().for_each(|v| *v = 0);
        self.explore_steps_taken.iter_mut().for_each(|v| *v = 0);
        self.explore_accepted.iter_mut().for_each(|v| *v = 0);
        self.scans_counted = 0;
    }

    /// One round of swaps in every ladder.
    fn swap<const D: usize, E: Real, Dev: Device<E>>(
        &mut self,
        chains: &mut ChainState<D, E, Dev>,
        scheme: SwapScheme,
    ) {
        let (n_l, n_t) = (self.n_ladders, self.temperatures.len());
        self.scheme = Some(scheme);
        if scheme != SwapScheme::Off {
            let points = &mut chains.points;
            for (l, rng) in self.swap_rngs.iter_mut().enumerate() {
                let parity = match scheme {
                    SwapScheme::NonReversible => (self.scans % 2) as usize,
                    _ => usize::from(rng.gen::<bool>()),
                };
                for i in (parity..n_t - 1).step_by(2) {
                    let (a, b) = (i * n_l + l, (i + 1) * n_l + l);
                    let d_beta = 1.0 / self.temperatures[i] - 1.0 / self.temperatures[i + 1];
                    let log_alpha = d_beta * (points.e[a].as_f64() - points.e[b].as_f64());
                    let u: f64 = rng.gen();
                    let reject = if log_alpha.is_nan() {
                        1.0
                    } else {
                        1.0 - log_alpha.min(0.0).exp()
                    };
                    self.attempts[i] += 1;
                    self.reject_sum[i] += reject;
                    if u.ln() < log_alpha {
                        self.accepted[i] += 1;
                        points.e.swap(a, b);
                        for j in 0..D {
                            points.x.swap(a * D + j, b * D + j);
                            points.g.swap(a * D + j, b * D + j);
                        }
                        self.replica_at.swap(a, b);
                    }
                }
            }
        }
        for l in 0..n_l {
            let hot = self.replica_at[(n_t - 1) * n_l + l];
            if self.trip[l * n_t + hot] == Trip::FromCold {
                self.trip[l * n_t + hot] = Trip::ReachedHot;
            }
            let cold = self.replica_at[l];
            if self.trip[l * n_t + cold] == Trip::ReachedHot {
                self.round_trips[l] += 1;
            }
            self.trip[l * n_t + cold] = Trip::FromCold;
        }
        self.scans += 1;
        self.scans_counted += 1;
    }
}

/// The chains of every ladder with the replica-exchange bookkeeping; outlives a run like
/// [`ChainState`].
#[derive(Debug, Clone)]
pub struct ReplicaState<const D: usize, E: Real = f32, Dev: Device<E> = Cpu> {
    chains: ChainState<D, E, Dev>,
    book: SwapBook,
}

impl<const D: usize, E: Real, Dev: Device<E>> ReplicaState<D, E, Dev> {
    /// All `ladders x temperatures` chains; chain `k * n_ladders + l` is temperature `k` of ladder
    /// `l`, so the cold chains come first.
    pub fn chains(&self) -> &ChainState<D, E, Dev> {
        &self.chains
    }

    /// The number of independent ladders.
    pub fn n_ladders(&self) -> usize {
        self.book.n_ladders
    }

    /// The ladder's temperatures.
    pub fn temperatures(&self) -> &[f64] {
        &self.book.temperatures
    }

    /// The scans (exploration and swaps) taken since the state was created.
    pub fn scans(&self) -> u64 {
        self.book.scans
    }

    /// The positions of the replicas at temperature `k` (one per ladder, row-major), or `None`
    /// past the hottest.
    pub fn positions_at(&self, k: usize) -> Option<&[E]> {
        let n = self.book.n_ladders * D;
        self.chains.positions().get(k * n..(k + 1) * n)
    }

    /// Moves the ladder to `temperatures` (same length): the replicas keep their positions.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for another number of temperatures, and the ladder errors of
    /// [`ReplicaExchange::new`].
    pub fn set_ladder(&mut self, temperatures: &[f64]) -> Result<()> {
        if temperatures.len() != self.book.temperatures.len() {
            return Err(Error::LengthMismatch {
                name: "temperatures".into(),
                expected: self.book.temperatures.len(),
                actual: temperatures.len(),
                reason: "one temperature per replica of a ladder".into(),
            });
        }
        check_ladder(temperatures)?;
        let n_l = self.book.n_ladders;
        let per_chain: Vec<f64> = temperatures
            .iter()
            .flat_map(|&t| std::iter::repeat_n(t, n_l))
            .collect();
        self.chains.set_temperatures(&per_chain)?;
        self.book.temperatures = temperatures.to_vec();
        Ok(())
    }

    /// The swap statistics since the last run started.
    pub fn swap_stats(&self) -> SwapStats {
        let b = &self.book;
        let rate = |num: f64, den: u64| if den > 0 { num / den as f64 } else { f64::NAN };
        SwapStats {
            temperatures: b.temperatures.clone(),
            acceptance_rate: b
                .accepted
                .iter()
                .zip(&b.attempts)
                .map(|(&a, &n)| rate(a as f64, n))
                .collect(),
            rejection: b
                .reject_sum
                .iter()
                .zip(&b.attempts)
                .map(|(&r, &n)| rate(r, n))
                .collect(),
            round_trips: b.round_trips.clone(),
            scans: b.scans_counted,
            scheme: b.scheme,
            explorer_acceptance: b
                .explore_accepted
                .iter()
                .zip(&b.explore_steps_taken)
                .map(|(&a, &n)| rate(a as f64, n))
                .collect(),
        }
    }
}

/// Everything a [`ReplicaState`] holds, as plain data, to save it (with a store's checkpoint)
/// and rebuild it bit for bit ([`ReplicaState::from_snapshot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSnapshot<E> {
    /// Every replica's chain, `ladders x temperatures` rows, temperature-major.
    pub chains: StateSnapshot<E>,
    /// The number of ladders.
    pub n_ladders: u64,
    /// The ladder.
    pub temperatures: Vec<f64>,
    /// Per chain, the replica it holds.
    pub replica_at: Vec<u64>,
    /// Per ladder and replica, where it is on its round trip: 0 not yet at the cold end, 1 last
    /// seen at the cold end, 2 reached the hot end since.
    pub trips: Vec<u8>,
    /// Per ladder, the round trips of the current run.
    pub round_trips: Vec<u64>,
    /// Per ladder, the swap stream's ChaCha8 seed, stream and word position.
    pub swap_rngs: Vec<([u8; 32], u64, u128)>,
    /// Scans since the state was created.
    pub scans: u64,
    /// Scans the statistics cover.
    pub scans_counted: u64,
    /// Per adjacent pair: swaps tried, accepted, and the sum of rejection probabilities.
    pub attempts: Vec<u64>,
    /// See `attempts`.
    pub accepted: Vec<u64>,
    /// See `attempts`.
    pub reject_sum: Vec<f64>,
    /// Per temperature: exploration steps taken and accepted.
    pub explore_steps_taken: Vec<u64>,
    /// See `explore_steps_taken`.
    pub explore_accepted: Vec<u64>,
    /// The swap scheme of the last scan.
    pub scheme: Option<SwapScheme>,
}

impl<const D: usize, E: Real, Dev: Device<E>> ReplicaState<D, E, Dev> {
    /// The state as plain data; [`ReplicaState::from_snapshot`] rebuilds it.
    pub fn snapshot(&self) -> ReplicaSnapshot<E> {
        let b = &self.book;
        ReplicaSnapshot {
            chains: self.chains.snapshot(),
            n_ladders: b.n_ladders as u64,
            temperatures: b.temperatures.clone(),
            replica_at: b.replica_at.iter().map(|&r| r as u64).collect(),
            trips: b
                .trip
                .iter()
                .map(|t| match t {
                    Trip::Unknown => 0,
                    Trip::FromCold => 1,
                    Trip::ReachedHot => 2,
                })
                .collect(),
            round_trips: b.round_trips.clone(),
            swap_rngs: b
                .swap_rngs
                .iter()
                .map(|r| (r.get_seed(), r.get_stream(), r.get_word_pos()))
                .collect(),
            scans: b.scans,
            scans_counted: b.scans_counted,
            attempts: b.attempts.clone(),
            accepted: b.accepted.clone(),
            reject_sum: b.reject_sum.clone(),
            explore_steps_taken: b.explore_steps_taken.clone(),
            explore_accepted: b.explore_accepted.clone(),
            scheme: b.scheme,
        }
    }

    /// Rebuilds a state from a snapshot, on `dev`.
    ///
    /// # Errors
    /// The errors of [`ChainState::from_snapshot`], the ladder errors of
    /// [`ReplicaExchange::new`], and [`Error::LengthMismatch`] or [`Error::InvalidParameter`]
    /// naming the first field that does not fit the ladders and temperatures.
    pub fn from_snapshot(snapshot: &ReplicaSnapshot<E>, dev: &Dev) -> Result<Self> {
        let s = snapshot;
        check_ladder(&s.temperatures)?;
        let n_t = s.temperatures.len();
        let n_l = usize::try_from(s.n_ladders)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::invalid("n_ladders", s.n_ladders, "must be at least 1"))?;
        let n = n_l
            .checked_mul(n_t)
            .ok_or_else(|| Error::invalid("n_ladders", n_l, "too many chains"))?;
        let lengths = [
            ("replica_at", s.replica_at.len(), n),
            ("trips", s.trips.len(), n),
            ("round_trips", s.round_trips.len(), n_l),
            ("swap_rngs", s.swap_rngs.len(), n_l),
            ("attempts", s.attempts.len(), n_t - 1),
            ("accepted", s.accepted.len(), n_t - 1),
            ("reject_sum", s.reject_sum.len(), n_t - 1),
            ("explore_steps_taken", s.explore_steps_taken.len(), n_t),
            ("explore_accepted", s.explore_accepted.len(), n_t),
            ("chains", s.chains.n_chains(), n),
        ];
        for (name, actual, expected) in lengths {
            if actual != expected {
                return Err(Error::LengthMismatch {
                    name: name.into(),
                    expected,
                    actual,
                    reason: format!("{n_l} ladders of {n_t} temperatures"),
                });
            }
        }
        if let Some(i) = s.replica_at.iter().position(|&r| r >= n_t as u64) {
            return Err(Error::invalid(
                format!("replica_at[{i}]"),
                s.replica_at[i],
                format!("a ladder has {n_t} replicas"),
            ));
        }
        let mut trip = Vec::with_capacity(n);
        for (i, &t) in s.trips.iter().enumerate() {
            trip.push(match t {
                0 => Trip::Unknown,
                1 => Trip::FromCold,
                2 => Trip::ReachedHot,
                other => return Err(Error::invalid(format!("trips[{i}]"), other, "0, 1 or 2")),
            });
        }
        let chains = ChainState::from_snapshot(&s.chains, dev)?;
        let swap_rngs = s
            .swap_rngs
            .iter()
            .map(|&(seed, stream, pos)| {
                let mut rng = <ChaCha8Rng as SeedableRng>::from_seed(seed);
                rng.set_stream(stream);
                rng.set_word_pos(pos);
                rng
            })
            .collect();
        Ok(Self {
            chains,
            book: SwapBook {
                n_ladders: n_l,
                temperatures: s.temperatures.clone(),
                replica_at: s.replica_at.iter().map(|&r| r as usize).collect(),
                trip,
                round_trips: s.round_trips.clone(),
                swap_rngs,
                scans: s.scans,
                scans_counted: s.scans_counted,
                attempts: s.attempts.clone(),
                accepted: s.accepted.clone(),
                reject_sum: s.reject_sum.clone(),
                evals: Vec::new(),
                scan_divergence: Vec::new(),
                scan_prob_sum: Vec::new(),
                explore_steps_taken: s.explore_steps_taken.clone(),
                explore_accepted: s.explore_accepted.clone(),
                scheme: s.scheme,
            },
        })
    }
}

/// A replica-exchange run with observers; [`ReplicaExchange::driver`] makes one.
pub struct ReplicaDriver<'a, K, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    exchange: &'a ReplicaExchange<K>,
    model: &'a M,
    state: &'a mut ReplicaState<D, E, Dev>,
    cold: Vec<&'a mut dyn Observer<D, E>>,
    all: Vec<&'a mut dyn Observer<D, E>>,
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
        state.book.reset_counts();
        let mut trace = options
            .thin
            .map(|thin| Trace::new(n_cold, options.n_kept(), thin));
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
            swaps: state.swap_stats(),
        })
    }
}

/// Swap statistics of a replica-exchange run.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapStats {
    /// The ladder.
    pub temperatures: Vec<f64>,
    /// Per adjacent pair `(T_i, T_{i+1})`, the fraction of attempted swaps that were accepted.
    pub acceptance_rate: Vec<f64>,
    /// Per adjacent pair, the mean swap rejection probability `r_i = 1 - E[min(1, alpha)]`.
    pub rejection: Vec<f64>,
    /// Per ladder, the round trips completed: a replica going from the cold end to the hot end and
    /// back.
    pub round_trips: Vec<u64>,
    /// The scans the statistics cover.
    pub scans: u64,
    /// The swap scheme of the last scan (`None` before any).
    pub scheme: Option<SwapScheme>,
    /// Per temperature (cold first), the fraction of exploration steps whose proposal was
    /// accepted, over every ladder and every exploration step of the scans counted.
    pub explorer_acceptance: Vec<f64>,
}

impl SwapStats {
    /// The estimated global communication barrier `Lambda = sum_i r_i`.
    pub fn barrier(&self) -> f64 {
        self.rejection.iter().sum()
    }

    /// Round trips per ladder and scan.
    pub fn round_trip_rate(&self) -> f64 {
        let total: u64 = self.round_trips.iter().sum();
        total as f64 / (self.round_trips.len().max(1) as f64 * self.scans.max(1) as f64)
    }

    /// The round-trip rate of the non-reversible scheme predicted from the rejection rates,
    /// `(2 + 2 sum_i r_i / (1 - r_i))^-1` (Syed et al. 2022); it tends to `1 / (2 + 2 Lambda)` for
    /// fine ladders. `None` unless the scans ran that scheme: reversible swaps make round trips
    /// diffusively, far more slowly, and no swaps make none.
    pub fn theoretical_round_trip_rate(&self) -> Option<f64> {
        if self.scheme != Some(SwapScheme::NonReversible) {
            return None;
        }
        let s: f64 = self.rejection.iter().map(|r| r / (1.0 - r)).sum();
        Some(1.0 / (2.0 + 2.0 * s))
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
struct Scan<'a, K> {
    explorer: &'a K,
    explore_steps: usize,
    scheme: SwapScheme,
    book: RefCell<&'a mut SwapBook>,
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
                if let Some(k) = book.explore_steps_taken.get_mut(c / n_l) {
                    *k += 1;
                }
                if let Some(k) = book.explore_accepted.get_mut(c / n_l) {
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
struct ColdRows<'o, O: ?Sized> {
    rows: usize,
    thin: Option<usize>,
    inner: &'o mut O,
}

impl<'o, O: ?Sized> ColdRows<'o, O> {
    fn new(rows: usize, thin: Option<usize>, inner: &'o mut O) -> Self {
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
        let kept = self
            .thin
            .filter(|&t| (step.step + 1) % t == 0)
            .map(|t| (step.step + 1) / t - 1);
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
