//! Replica exchange's settings, and the replicas it starts from: `ReplicaExchange`.

use super::book::SwapBook;
use super::book::SwapCounts;
use super::book::Trip;
use super::ladder::check_ladder;
use super::ladder::MAX_TEMPERATURES;
use super::scheme::SwapScheme;
use super::state::ReplicaState;
use crate::kernels::Kernel;
use ebm_core::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

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
/// diverged and costs all the steps' gradients. [`SwapStats::explorer_acceptance`](crate::SwapStats::explorer_acceptance) has the rate
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
    pub(super) explorer: K,
    pub(super) temperatures: Vec<f64>,
    pub(super) explore_steps: usize,
    pub(super) scheme: SwapScheme,
    /// The explorer acceptance rate [`ReplicaExchange::tune_ladder`] tunes each temperature's
    /// step size toward, when set.
    pub(super) explorer_target: Option<f64>,
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
                swap_rngs,
                scans: 0,
                run: SwapCounts::zero(n_ladders, n_temps),
                earlier: SwapCounts::zero(n_ladders, n_temps),
                evals: Vec::new(),
                scan_divergence: Vec::new(),
                scan_prob_sum: Vec::new(),
                scheme: None,
            },
        })
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
}
