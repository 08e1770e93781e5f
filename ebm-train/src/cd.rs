//! Contrastive divergence, by default persistent with a replay buffer as TorchEBM 0.8.9 trains (its
//! `ContrastiveDivergence(persistent=True)`), with the negatives drawn by any sampler of
//! `ebm-samplers` through the network's fast host pass; CD-k from the data and short-run chains
//! from noise are the other [`Starts`].
//!
//! One iteration:
//! 1. `batch` data points, drawn uniformly with replacement from the training set;
//! 2. `batch` starts picked from the buffer (with [`Starts::Buffer`]) ([`ReplayBuffer::stratified_picks`]), a fraction
//!    `new_sample_ratio` of them (at least one) nudged by `reinit_scale N(0, I)`;
//! 3. `steps` steps of the sampler from the starts, on a snapshot of the current network
//!    ([`Network::sampling_energy`], such as [`MlpEnergy`](crate::nn::MlpEnergy)); the end points are the negatives and go into the buffer first in, first out;
//! 4. the loss `mean E(data) - mean E(neg) + alpha (mean E(data)^2 + mean E(neg)^2)`, differentiated
//!    with respect to the network's parameters by dfdx, and one step of Adam.
//!
//! Before the first iteration the buffer, drawn from `init_scale N(0, I)`, runs `init_steps` steps
//! of the sampler in chunks of `init_chunk` points.

use crate::buffer::{nudge, ReplayBuffer};
use crate::error::{invalid, Result, TrainError};
use crate::nn::Network;
use dfdx::nn::{TensorCollection, ZeroGrads};
use dfdx::optim::{Adam, AdamConfig, Optimizer};
use ebm_core::prelude::*;
use ebm_samplers::{ChainState, Kernel, LangevinDynamics, Sampler, Target};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where each iteration's negative chains start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Starts {
    /// From the replay buffer, as TorchEBM's persistent contrastive divergence (the default).
    Buffer,
    /// From the iteration's data batch: CD-k (Hinton 2002).
    Data,
    /// From `scale N(0, I)` every iteration: short-run MCMC from noise (Nijkamp et al. 2019).
    Noise {
        /// Standard deviation of the starting noise.
        scale: f32,
    },
    /// `batch` persistent chains, as Du & Mordatch (2019) keep them: each iteration a fraction
    /// `restart` of them (rounded, at least one when `restart > 0`) starts again from
    /// `scale N(0, I)`, and every chain goes on from its own position with its own random stream
    /// (a [`ChainState`] of the sampler, re-evaluated on the updated network).
    Chains {
        /// Fraction of the chains restarted each iteration.
        restart: f64,
        /// Standard deviation of the noise they start from (also the chains' first start).
        scale: f32,
    },
    /// Replica exchange (parallel tempering) for the negatives, optionally beside CD-k from data.
    ///
    /// A fraction `from_data` of each iteration's negatives (rounded) starts from the data batch
    /// as with [`Starts::Data`]; the others, `m` of them (at least one), are the cold end of a
    /// ladder of persistent chains: `levels` groups of `m` chains, started from `scale N(0, I)`,
    /// group `k` at `hottest^(k / (levels - 1))` times the sampler's temperature. Each iteration
    /// the ladder is re-evaluated on the updated network and runs `steps` steps in rounds of
    /// `explore_steps`; after each round chain `l` of each pair of neighbouring groups
    /// `(k, k + 1)` (even pairs and odd pairs in turn) trades places with probability
    /// `min(1, exp((1/T_k - 1/T_(k+1)) (E_k - E_(k+1))))`.
    ///
    /// Hot chains cross the barriers between the model's modes and pass what they find down the
    /// ladder, so the cold chains' mass per mode follows the model's: the only negatives here that
    /// tell the network how to share mass between modes, which chains confined to their modes
    /// (every other choice) leave unconstrained. The chains from data learn the modes' shapes
    /// quickly.
    Tempered {
        /// Groups of chains, the temperatures of the ladder (at least 2).
        levels: usize,
        /// The hottest temperature, relative to the sampler's (above 1).
        hottest: f64,
        /// Fraction of the negatives started from the data batch, in `[0, 1)`.
        from_data: f64,
        /// Steps between rounds of swaps (at least 1).
        explore_steps: usize,
        /// Standard deviation of the noise the chains start from.
        scale: f32,
    },
}

/// The settings of contrastive divergence. The defaults are TorchEBM's benchmark case
/// (`train_ring8_pcd`): Langevin `h = 0.01`, noise 1, 20 steps, a buffer of 10 000, batch 256,
/// `alpha = 0.001`, Adam with learning rate `1e-3`.
#[derive(Debug, Clone)]
pub struct PcdConfig {
    /// Where the negative chains start.
    pub starts: Starts,
    /// Sampler steps per iteration.
    pub steps: usize,
    /// Points in the replay buffer.
    pub buffer_size: usize,
    /// Scale of the normal noise the buffer starts from.
    pub init_scale: f32,
    /// Sampler steps the buffer runs before the first iteration.
    pub init_steps: usize,
    /// Points per chunk of that initial run.
    pub init_chunk: usize,
    /// Fraction of each batch of starts nudged by noise (at least one start).
    pub new_sample_ratio: f64,
    /// Scale of that noise.
    pub reinit_scale: f32,
    /// Weight of the energy regulariser.
    pub alpha: f64,
    /// Data points and negatives per iteration.
    pub batch: usize,
    /// Standard deviation of normal noise added to each data batch (0: none, TorchEBM's default).
    pub data_noise: f32,
    /// Largest Euclidean norm of the parameters' gradient, all tensors together; a longer gradient
    /// is scaled down to it before the optimiser's step (`None`: no clipping).
    pub clip_grad_norm: Option<f64>,
    /// Adam's settings (learning rate, betas, epsilon, weight decay).
    pub adam: AdamConfig,
    /// The learning rate at each iteration, in place of `adam.lr` (`None`: `adam.lr`
    /// throughout), as PyTorch's learning-rate schedulers.
    pub lr_schedule: Option<Schedule>,
}

impl Default for PcdConfig {
    fn default() -> Self {
        PcdConfig {
            starts: Starts::Buffer,
            steps: 20,
            buffer_size: 10_000,
            init_scale: 0.01,
            init_steps: 100,
            init_chunk: 1024,
            new_sample_ratio: 0.05,
            reinit_scale: 0.01,
            alpha: 0.001,
            batch: 256,
            data_noise: 0.0,
            clip_grad_norm: None,
            adam: AdamConfig {
                lr: 1e-3,
                ..AdamConfig::default()
            },
            lr_schedule: None,
        }
    }
}

impl PcdConfig {
    /// The recipe that trains the benchmark's ring of eight Gaussians best within the time
    /// TorchEBM takes for its 2000 iterations (`docs/training.md`), for `iterations` iterations:
    /// CD-20 from the data batch ([`Starts::Data`]), the energy regulariser at `alpha = 0.05`,
    /// and Adam's rate from `1e-3` down to `1e-4` on a cosine over the run; everything else as
    /// the default. Use it with MALA (`Mala::new(0.01, 1.0)`): chains that start at the data
    /// learn the modes' shapes fast, MALA's Metropolis test removes the step-size bias, and the
    /// regulariser, which holds the data's energies near 0, keeps the modes' levels together,
    /// which chains confined to their modes give no signal on.
    ///
    /// ```
    /// use ebm_train::cd::{PcdConfig, Schedule, Starts};
    ///
    /// let c = PcdConfig::cd_from_data(4000);
    /// assert_eq!(c.starts, Starts::Data);
    /// assert_eq!(c.lr_schedule.map(|s| s.value(4000)), Some(1e-4));
    /// ```
    pub fn cd_from_data(iterations: usize) -> Self {
        PcdConfig {
            starts: Starts::Data,
            alpha: 0.05,
            lr_schedule: Some(Schedule::Cosine {
                start: 1e-3,
                end: 1e-4,
                iterations,
            }),
            ..PcdConfig::default()
        }
    }

    fn validate(&self, data_points: usize) -> Result<()> {
        if self.steps == 0 {
            return Err(invalid(
                "steps",
                0,
                "the negatives need at least one sampler step",
            ));
        }
        if self.batch == 0 || (self.starts == Starts::Buffer && self.batch > self.buffer_size) {
            return Err(invalid(
                "batch",
                self.batch,
                "needs 1 <= batch (<= buffer_size when the chains start from the buffer)",
            ));
        }
        if self.init_chunk == 0 {
            return Err(invalid("init_chunk", 0, "chunks need at least one point"));
        }
        if !(0.0..=1.0).contains(&self.new_sample_ratio) {
            return Err(invalid(
                "new_sample_ratio",
                self.new_sample_ratio,
                "must lie in [0, 1]",
            ));
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(invalid("clip_grad_norm", c, "must be finite and positive"));
            }
        }
        for (name, v) in [
            ("data_noise", f64::from(self.data_noise)),
            ("init_scale", f64::from(self.init_scale)),
            ("reinit_scale", f64::from(self.reinit_scale)),
            ("alpha", self.alpha),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(name, v, "must be finite and non-negative"));
            }
        }
        if !(self.adam.lr.is_finite() && self.adam.lr > 0.0) {
            return Err(invalid(
                "adam.lr",
                self.adam.lr,
                "must be finite and positive",
            ));
        }
        if let Some(schedule) = self.lr_schedule {
            // Every schedule moves monotonically from its value at 0 to its limit.
            for v in [schedule.value(0), schedule.value(usize::MAX)] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(invalid(
                        "lr_schedule",
                        format!("{schedule:?}"),
                        "learning rates must be finite and non-negative",
                    ));
                }
            }
        }
        if let Starts::Tempered {
            levels,
            hottest,
            scale,
            from_data,
            explore_steps,
        } = self.starts
        {
            if !(0.0..1.0).contains(&from_data) {
                return Err(invalid(
                    "starts.from_data",
                    from_data,
                    "must lie in [0, 1): at least one negative comes from the ladder",
                ));
            }
            if explore_steps == 0 {
                return Err(invalid(
                    "starts.explore_steps",
                    0,
                    "rounds need at least one step",
                ));
            }
            if levels < 2 {
                return Err(invalid(
                    "starts.levels",
                    levels,
                    "a ladder needs at least 2 temperatures",
                ));
            }
            if !(hottest.is_finite() && hottest > 1.0) {
                return Err(invalid(
                    "starts.hottest",
                    hottest,
                    "must be finite and above 1",
                ));
            }
            if !(scale.is_finite() && scale > 0.0) {
                return Err(invalid(
                    "starts.scale",
                    scale,
                    "must be finite and positive",
                ));
            }
        }
        if let Starts::Noise { scale } = self.starts {
            if !(scale.is_finite() && scale > 0.0) {
                return Err(invalid(
                    "starts.scale",
                    scale,
                    "must be finite and positive",
                ));
            }
        }
        if data_points == 0 {
            return Err(invalid("data", "[]", "training needs data"));
        }
        Ok(())
    }
}

/// A sampler for each iteration ([`PcdTrainer::with_schedule`]).
type SamplerSchedule<S> = Box<dyn Fn(usize) -> ebm_core::Result<S> + Send + Sync>;

/// A value that changes with the iteration `t`, as TorchEBM's schedulers: for a sampler's step size
/// or noise ([`PcdTrainer::with_schedule`]).
///
/// ```
/// use ebm_train::cd::Schedule;
///
/// let linear = Schedule::Linear { start: 1.0, end: 0.0, iterations: 10 };
/// assert_eq!((linear.value(0), linear.value(5), linear.value(10), linear.value(20)), (1.0, 0.5, 0.0, 0.0));
/// let cosine = Schedule::Cosine { start: 1.0, end: 0.0, iterations: 10 };
/// assert!((cosine.value(5) - 0.5).abs() < 1e-12);
/// let decay = Schedule::Exponential { start: 1.0, rate: 0.5, min: 0.2 };
/// assert_eq!((decay.value(1), decay.value(10)), (0.5, 0.2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The same value throughout.
    Constant(f64),
    /// From `start` at `t = 0` to `end` at `t = iterations` in a straight line, then `end`.
    Linear {
        /// The value at `t = 0`.
        start: f64,
        /// The value from `t = iterations` on.
        end: f64,
        /// Iterations from `start` to `end`.
        iterations: usize,
    },
    /// From `start` to `end` along half a cosine, `end + (start - end) (1 + cos(pi t / iterations)) / 2`,
    /// then `end`.
    Cosine {
        /// The value at `t = 0`.
        start: f64,
        /// The value from `t = iterations` on.
        end: f64,
        /// Iterations from `start` to `end`.
        iterations: usize,
    },
    /// `max(start rate^t, min)`.
    Exponential {
        /// The value at `t = 0`.
        start: f64,
        /// The factor per iteration.
        rate: f64,
        /// The floor.
        min: f64,
    },
}

impl Schedule {
    /// The value at iteration `t`.
    pub fn value(&self, t: usize) -> f64 {
        match *self {
            Schedule::Constant(v) => v,
            Schedule::Linear {
                start,
                end,
                iterations,
            } => {
                if t >= iterations {
                    end
                } else {
                    start + (end - start) * t as f64 / iterations as f64
                }
            }
            Schedule::Cosine {
                start,
                end,
                iterations,
            } => {
                if t >= iterations {
                    end
                } else {
                    let c = (std::f64::consts::PI * t as f64 / iterations as f64).cos();
                    end + (start - end) * (1.0 + c) / 2.0
                }
            }
            Schedule::Exponential { start, rate, min } => (start * rate.powf(t as f64)).max(min),
        }
    }
}

/// What one iteration measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationStats {
    /// The iteration's number, from 0.
    pub iteration: usize,
    /// The loss (0.1, TorchEBM's stand-in, when it was not finite; the step then changes nothing
    /// but Adam's counters).
    pub loss: f64,
    /// Mean energy of the data batch.
    pub energy_data: f64,
    /// Mean energy of the negatives.
    pub energy_negative: f64,
}

/// A network trained by persistent contrastive divergence on `D`-dimensional data.
///
/// `M` is a built dfdx network (for example [`crate::nn::SiluMlp`] built by
/// [`crate::nn::build_network`]); `S` the sampler of the negatives, Langevin dynamics by default.
pub struct PcdTrainer<const D: usize, M: TensorCollection<f32, Cpu>, S = LangevinDynamics> {
    network: M,
    optimiser: Adam<M, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
    sampler: S,
    schedule: Option<SamplerSchedule<S>>,
    config: PcdConfig,
    data: Vec<f32>,
    buffer: Option<ReplayBuffer>,
    chains: Option<ChainState<D, f32, Cpu>>,
    rng: ChaCha8Rng,
    iteration: usize,
    dev: Cpu,
}

impl<const D: usize, M, S> PcdTrainer<D, M, S>
where
    M: Network<D>,
    S: Kernel,
{
    /// A trainer of `network` on `data` (row-major, `D` values per point), drawing negatives
    /// with `sampler`; every random choice comes from `seed`.
    ///
    /// # Errors
    /// [`TrainError::InvalidParameter`] for an invalid setting (naming it), empty data or data
    /// whose length is not a multiple of `D`; [`TrainError::Network`] for a network that is not an
    /// energy of `D`-dimensional points.
    pub fn new(
        network: M,
        sampler: S,
        data: Vec<f32>,
        config: PcdConfig,
        seed: u64,
    ) -> Result<Self> {
        if data.len() % D.max(1) != 0 {
            return Err(invalid(
                "data",
                format!("{} values", data.len()),
                "must hold whole points of D coordinates",
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                &format!("data[{i}]"),
                data[i],
                "training data must be finite",
            ));
        }
        config.validate(data.len() / D.max(1))?;
        network.sampling_energy()?;
        let optimiser = Adam::new(&network, config.adam);
        let grads = Some(network.alloc_grads());
        Ok(Self {
            network,
            optimiser,
            grads,
            sampler,
            schedule: None,
            config,
            data,
            buffer: None,
            chains: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            iteration: 0,
            dev: Cpu::default(),
        })
    }

    /// Draws each iteration's negatives with the sampler `at(iteration)` instead of the one given to
    /// [`PcdTrainer::new`]: schedules of the step size and the noise ([`Schedule`]). The buffer's
    /// initial run uses `at(0)`. A checkpoint does not hold the schedule: resume with the same one.
    ///
    /// ```
    /// use ebm_samplers::LangevinDynamics;
    /// use ebm_train::cd::{PcdConfig, PcdTrainer, Schedule};
    /// use ebm_train::{data::Toy, nn};
    ///
    /// let data: Vec<f32> = Toy::ring8().sample(500, 0)?.into_iter().flatten().collect();
    /// let config = PcdConfig { buffer_size: 200, batch: 20, init_steps: 2, ..PcdConfig::default() };
    /// let sampler = LangevinDynamics::new(0.01, 1.0)?;
    /// let net = nn::build_network::<nn::SiluMlp<2, 8>>(0);
    /// let step = Schedule::Cosine { start: 0.02, end: 0.005, iterations: 100 };
    /// let mut trainer = PcdTrainer::<2, _>::new(net, sampler, data, config, 0)?
    ///     .with_schedule(move |t| LangevinDynamics::new(step.value(t), 1.0));
    /// trainer.step()?;
    /// # Ok::<(), ebm_train::TrainError>(())
    /// ```
    pub fn with_schedule(
        mut self,
        at: impl Fn(usize) -> ebm_core::Result<S> + Send + Sync + 'static,
    ) -> Self {
        self.schedule = Some(Box::new(at));
        self
    }

    /// The network as trained so far.
    pub fn network(&self) -> &M {
        &self.network
    }

    /// The network as an energy for sampling: a snapshot of its current parameters.
    ///
    /// # Errors
    /// [`TrainError::Network`] when a parameter is no longer finite.
    pub fn energy(&self) -> Result<M::Sampling> {
        self.network.sampling_energy()
    }

    /// The replay buffer, once the first iteration has created it.
    pub fn buffer(&self) -> Option<&ReplayBuffer> {
        self.buffer.as_ref()
    }

    /// Iterations run so far.
    pub fn iterations(&self) -> usize {
        self.iteration
    }

    /// The settings.
    pub fn config(&self) -> &PcdConfig {
        &self.config
    }

    /// A fingerprint of the data, the settings and the dimension, which checkpoints record.
    pub(crate) fn fingerprint(&self) -> u64 {
        let data: Vec<u8> = self.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let config = format!("{:?} D={D}", self.config);
        crate::checkpoint::fingerprint(&[&data, config.as_bytes()])
    }

    pub(crate) fn optimiser_state(
        &self,
    ) -> std::result::Result<dfdx::optim::AdamState<f32>, <Cpu as HasErr>::Err> {
        self.optimiser.state(&self.network)
    }

    pub(crate) fn set_optimiser_state(
        &mut self,
        state: &dfdx::optim::AdamState<f32>,
    ) -> std::result::Result<bool, <Cpu as HasErr>::Err> {
        self.optimiser.set_state(&self.network, state)
    }

    pub(crate) fn rng_state(&self) -> &ChaCha8Rng {
        &self.rng
    }

    /// Puts back what a checkpoint holds besides the optimiser.
    pub(crate) fn restore(
        &mut self,
        params: Vec<Vec<f32>>,
        buffer: Option<ReplayBuffer>,
        chains: Option<ChainState<D, f32, Cpu>>,
        rng: ChaCha8Rng,
        iteration: usize,
    ) -> Result<()> {
        crate::checkpoint::write_params(&mut self.network, &params)?;
        self.buffer = buffer;
        self.chains = chains;
        self.rng = rng;
        self.iteration = iteration;
        self.grads = Some(self.network.alloc_grads());
        Ok(())
    }

    fn negatives(
        &self,
        model: &M::Sampling,
        x0: Vec<f32>,
        steps: usize,
        seed: u64,
    ) -> Result<Vec<f32>> {
        let n = x0.len() / D;
        let x0: Batch<D> = self.dev.tensor_from_vec(x0, (n, Const::<D>));
        let scheduled = self.scheduled_sampler()?;
        let sampler = scheduled.as_ref().unwrap_or(&self.sampler);
        Ok(sampler.sample(model, &x0, steps, seed)?.as_vec())
    }

    /// This iteration's sampler from the schedule, if there is one (else the trainer's own).
    fn scheduled_sampler(&self) -> Result<Option<S>> {
        Ok(match &self.schedule {
            Some(at) => Some(at(self.iteration)?),
            None => None,
        })
    }

    /// The persistent chains' step: created from `starts` on the first iteration; afterwards a
    /// fraction `restart` of them put back to noise, all re-evaluated on the current network and
    /// moved `steps` steps on.
    fn run_chains(
        &mut self,
        model: &M::Sampling,
        starts: Vec<f32>,
        restart: f64,
        scale: f32,
        seed: u64,
    ) -> Result<Vec<f32>> {
        let scheduled = self.scheduled_sampler()?;
        let sampler = scheduled.as_ref().unwrap_or(&self.sampler);
        match self.chains.as_mut() {
            None => {
                let n = starts.len() / D;
                let x0: Batch<D> = self.dev.tensor_from_vec(starts, (n, Const::<D>));
                self.chains = Some(sampler.init(model, &x0, seed)?);
            }
            Some(state) => {
                let n = state.n_chains();
                let count = if restart > 0.0 {
                    ((n as f64 * restart).round() as usize).clamp(1, n)
                } else {
                    0
                };
                let mut rows: Vec<usize> = (0..n).collect();
                for i in 0..count {
                    let j = self.rng.gen_range(i..n);
                    rows.swap(i, j);
                }
                let x = &mut state.parts_mut().points.x;
                for &r in &rows[..count] {
                    for v in &mut x[r * D..(r + 1) * D] {
                        *v = scale * self.rng.sample::<f32, _>(rand_distr::StandardNormal);
                    }
                }
                state.evaluate(&mut Target::new(model, &self.dev))?;
                if scheduled.is_some() {
                    // The chains keep their own step sizes and temperatures: give them this
                    // iteration's.
                    state.set_step_sizes(&vec![sampler.initial_step_size(); n])?;
                    state.set_temperatures(&vec![sampler.initial_temperature(); n])?;
                }
            }
        }
        let state = self.chains.as_mut().expect("created above");
        sampler.advance(model, state, self.config.steps)?;
        Ok(state.positions().to_vec())
    }

    /// The ladder's step ([`Starts::Tempered`]): chains created from `starts` at their
    /// temperatures on the first iteration, else re-evaluated; `steps` steps in rounds of
    /// `explore_steps`, swaps after each round. Returns the positions of the coldest group.
    fn run_tempered(
        &mut self,
        model: &M::Sampling,
        starts: Vec<f32>,
        levels: usize,
        hottest: f64,
        explore_steps: usize,
        seed: u64,
    ) -> Result<Vec<f32>> {
        let scheduled = self.scheduled_sampler()?;
        let sampler = scheduled.as_ref().unwrap_or(&self.sampler);
        match self.chains.as_mut() {
            None => {
                let n = starts.len() / D;
                let x0: Batch<D> = self.dev.tensor_from_vec(starts, (n, Const::<D>));
                let mut state = sampler.init(model, &x0, seed)?;
                state.set_temperatures(&ladder(
                    n,
                    levels,
                    sampler.initial_temperature(),
                    hottest,
                ))?;
                self.chains = Some(state);
            }
            Some(state) => {
                state.evaluate(&mut Target::new(model, &self.dev))?;
                if scheduled.is_some() {
                    // The ladder follows this iteration's step size and temperature.
                    let n = state.n_chains();
                    let base = sampler.initial_temperature();
                    state.set_step_sizes(&vec![sampler.initial_step_size(); n])?;
                    state.set_temperatures(&ladder(n, levels, base, hottest))?;
                }
            }
        }
        let state = self.chains.as_mut().expect("created above");
        let m = state.n_chains() / levels;
        let temperatures = state.temperatures().to_vec();
        let rounds = self.config.steps.div_ceil(explore_steps);
        for round in 0..rounds {
            let steps = explore_steps.min(self.config.steps - round * explore_steps);
            sampler.advance(model, state, steps)?;
            let parity = (self.iteration * rounds + round) % 2;
            swap_neighbours::<D>(
                state.parts_mut().points,
                &temperatures,
                m,
                parity,
                &mut self.rng,
            );
        }
        Ok(state.positions()[..m * D].to_vec())
    }

    /// The persistent chains of [`Starts::Chains`] and [`Starts::Tempered`] (every temperature,
    /// the coldest first), once the first iteration has created them.
    pub fn chains(&self) -> Option<&ChainState<D, f32, Cpu>> {
        self.chains.as_ref()
    }

    fn init_buffer(&mut self, model: &M::Sampling) -> Result<()> {
        let c = &self.config;
        let mut buffer = ReplayBuffer::noise(c.buffer_size, D, c.init_scale, &mut self.rng)?;
        if c.init_steps > 0 {
            let chunk = c.init_chunk * D;
            let points = buffer.points().to_vec();
            let mut out = Vec::with_capacity(points.len());
            for part in points.chunks(chunk) {
                let seed = self.rng.gen::<u64>();
                out.extend(self.negatives(model, part.to_vec(), c.init_steps, seed)?);
            }
            buffer.points_mut().copy_from_slice(&out);
        }
        self.buffer = Some(buffer);
        Ok(())
    }

    /// Runs one iteration.
    ///
    /// # Errors
    /// [`TrainError::Network`] when the network's parameters stopped being finite, the sampler's
    /// errors (a chain that diverged), and [`TrainError::Optimiser`].
    pub fn step(&mut self) -> Result<IterationStats> {
        let model = self.energy()?;
        if self.buffer.is_none() && self.config.starts == Starts::Buffer {
            self.init_buffer(&model)?;
        }
        let c = self.config.clone();
        let b = c.batch;
        let n_data = self.data.len() / D;
        let mut rows: Vec<f32> = Vec::with_capacity(2 * b * D);
        for _ in 0..b {
            let i = self.rng.gen_range(0..n_data);
            rows.extend_from_slice(&self.data[i * D..(i + 1) * D]);
        }
        if c.data_noise > 0.0 {
            for v in &mut rows {
                *v += c.data_noise * self.rng.sample::<f32, _>(rand_distr::StandardNormal);
            }
        }
        let starts = match c.starts {
            Starts::Buffer => {
                let buffer = self.buffer.as_mut().expect("created above");
                let picks = buffer.stratified_picks(b, &mut self.rng)?;
                let mut starts = buffer.gather(&picks);
                let fresh = ((b as f64 * c.new_sample_ratio) as usize).max(1);
                nudge(&mut starts, D, fresh, c.reinit_scale, &mut self.rng);
                starts
            }
            Starts::Data => rows.clone(),
            // Persistent chains draw their starts once, when they are created.
            Starts::Chains { .. } | Starts::Tempered { .. } if self.chains.is_some() => Vec::new(),
            Starts::Tempered {
                levels,
                scale,
                from_data,
                ..
            } => (0..levels * ladder_width(b, from_data) * D)
                .map(|_| scale * self.rng.sample::<f32, _>(rand_distr::StandardNormal))
                .collect(),
            Starts::Noise { scale } | Starts::Chains { scale, .. } => (0..b * D)
                .map(|_| scale * self.rng.sample::<f32, _>(rand_distr::StandardNormal))
                .collect(),
        };
        let seed = self.rng.gen::<u64>();
        let negatives = match c.starts {
            Starts::Chains { restart, scale } => {
                self.run_chains(&model, starts, restart, scale, seed)?
            }
            Starts::Tempered {
                levels,
                hottest,
                from_data,
                explore_steps,
                ..
            } => {
                let m = ladder_width(b, from_data);
                let mut negatives = if m < b {
                    let cd_seed = self.rng.gen::<u64>();
                    self.negatives(&model, rows[..(b - m) * D].to_vec(), c.steps, cd_seed)?
                } else {
                    Vec::new()
                };
                negatives.extend(self.run_tempered(
                    &model,
                    starts,
                    levels,
                    hottest,
                    explore_steps,
                    seed,
                )?);
                negatives
            }
            _ => self.negatives(&model, starts, c.steps, seed)?,
        };
        if let Some(buffer) = self.buffer.as_mut() {
            buffer.write_fifo(&negatives);
        }
        rows.extend_from_slice(&negatives);

        // The loss and its derivative with respect to each energy:
        // (1 + 2 alpha E_i) / b for data, (-1 + 2 alpha E_i) / b for negatives.
        let mut loss_terms = None;
        let mut weigh = |values: &[f32]| -> Vec<f32> {
            let (ed, en) = values.split_at(b);
            let loss = mean(ed) - mean(en) + c.alpha * (mean_square(ed) + mean_square(en));
            let finite = loss.is_finite();
            loss_terms = Some((loss, mean(ed), mean(en)));
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if !finite {
                        return 0.0;
                    }
                    let sign = if i < b { 1.0 } else { -1.0 };
                    ((sign + 2.0 * c.alpha * f64::from(v)) / b as f64) as f32
                })
                .collect()
        };
        let mut grads = self
            .grads
            .take()
            .unwrap_or_else(|| self.network.alloc_grads());
        let host = self
            .network
            .host_weighted_gradients(&model, &rows, &mut weigh, &mut grads)?;
        if host.is_none() {
            // Energies of data and negatives with the parameters on the tape.
            let x: Tensor<(usize, Const<D>), f32, Cpu> =
                self.dev.tensor_from_vec(rows, (2 * b, Const::<D>));
            let e = self.network.traced_energies(x.traced(grads));
            let weights = weigh(&e.as_vec());
            let w = self.dev.tensor_from_vec(weights, (2 * b,));
            grads = (e * w).sum::<Rank0, _>().backward();
        }
        let (loss, energy_data, energy_negative) = loss_terms.expect("the weights were computed");
        if let Some(limit) = c.clip_grad_norm {
            clip_by_norm(&self.network, &mut grads, limit);
        }
        if let Some(schedule) = c.lr_schedule {
            self.optimiser.cfg.lr = schedule.value(self.iteration);
        }
        self.optimiser
            .update(&mut self.network, &grads)
            .map_err(|e| TrainError::Optimiser(format!("{e:?}")))?;
        self.network.zero_grads(&mut grads);
        self.grads = Some(grads);
        let stats = IterationStats {
            iteration: self.iteration,
            loss: if loss.is_finite() { loss } else { 0.1 },
            energy_data,
            energy_negative,
        };
        self.iteration += 1;
        Ok(stats)
    }
}

/// The temperatures of [`Starts::Tempered`]'s `n` chains: `levels` equal groups, group `k` at
/// `base * hottest^(k / (levels - 1))`.
fn ladder(n: usize, levels: usize, base: f64, hottest: f64) -> Vec<f64> {
    let m = n / levels;
    (0..n)
        .map(|c| base * hottest.powf((c / m) as f64 / (levels - 1) as f64))
        .collect()
}

/// Chains per temperature of [`Starts::Tempered`] for a batch of `b` negatives.
fn ladder_width(b: usize, from_data: f64) -> usize {
    let from_data = ((b as f64 * from_data).round() as usize).min(b.saturating_sub(1));
    b - from_data
}

/// The swaps of [`Starts::Tempered`]: chains of `b` per temperature, group after group; chain `l`
/// of groups `k` and `k + 1`, for every `k` of the given parity, trade places (position, energy
/// and gradient) with probability `min(1, exp((1/T_k - 1/T_(k+1)) (E_k - E_(k+1))))`, one uniform
/// from `rng` per pair tried. Returns the number of swaps.
fn swap_neighbours<const D: usize>(
    points: &mut ebm_samplers::Points<f32>,
    temperatures: &[f64],
    b: usize,
    parity: usize,
    rng: &mut ChaCha8Rng,
) -> usize {
    let levels = temperatures.len() / b.max(1);
    let mut swaps = 0;
    for k in (parity..levels.saturating_sub(1)).step_by(2) {
        for l in 0..b {
            let (i, j) = (k * b + l, (k + 1) * b + l);
            let log_ratio = (1.0 / temperatures[i] - 1.0 / temperatures[j])
                * (f64::from(points.e[i]) - f64::from(points.e[j]));
            let u: f64 = rng.gen();
            if u.ln() < log_ratio {
                points.e.swap(i, j);
                for d in 0..D {
                    points.x.swap(i * D + d, j * D + d);
                    points.g.swap(i * D + d, j * D + d);
                }
                swaps += 1;
            }
        }
    }
    swaps
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
}

fn mean_square(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / v.len() as f64
}

/// Scales every parameter's gradient by `min(1, limit / |g|)`, `|g|` the Euclidean norm over all
/// of them.
fn clip_by_norm<M: TensorCollection<f32, Cpu>>(
    network: &M,
    grads: &mut Gradients<f32, Cpu>,
    limit: f64,
) {
    use dfdx::nn::tensor_collection::{
        RecursiveWalker, TensorOptions, TensorVisitor, ViewTensorRef,
    };
    /// Visits the trainable tensors: first summing their gradients' squares, then scaling them.
    struct Clip<'a> {
        grads: &'a mut Gradients<f32, Cpu>,
        scale: Option<f32>,
        sum_sq: f64,
    }
    impl TensorVisitor<f32, Cpu> for Clip<'_> {
        type Viewer = ViewTensorRef;
        type Err = <Cpu as HasErr>::Err;
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            opts: TensorOptions<S, f32, Cpu>,
            p: &Tensor<S, f32, Cpu>,
        ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
            if !opts.do_gradient_update {
                return Ok(None);
            }
            // Every trainable tensor has a gradient after the backward pass (the loss uses them all).
            let g = self.grads.get_or_alloc_mut(p)?;
            match self.scale {
                None => self.sum_sq += g.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>(),
                Some(k) => g.iter_mut().for_each(|v| *v *= k),
            }
            Ok(None)
        }
    }
    let mut clip = Clip {
        grads,
        scale: None,
        sum_sq: 0.0,
    };
    let _ = M::iter_tensors(&mut RecursiveWalker {
        m: network,
        f: &mut clip,
    });
    let norm = clip.sum_sq.sqrt();
    if norm > limit {
        clip.scale = Some((limit / norm) as f32);
        let _ = M::iter_tensors(&mut RecursiveWalker {
            m: network,
            f: &mut clip,
        });
    }
}

/// Whether training goes on after an iteration.
pub use ebm_samplers::Flow;

/// Watches a training run: called after every iteration, and may stop it.
///
/// Closures `FnMut(&IterationStats) -> Result<Flow>` are observers.
pub trait TrainObserver {
    /// Called after every iteration.
    ///
    /// # Errors
    /// An error ends the run and is returned by [`PcdTrainer::fit`].
    fn observe(&mut self, stats: &IterationStats) -> Result<Flow>;

    /// Called once when the run ends (normally, stopped, or on an error).
    fn finish(&mut self) {}
}

impl<F: FnMut(&IterationStats) -> Result<Flow>> TrainObserver for F {
    fn observe(&mut self, stats: &IterationStats) -> Result<Flow> {
        self(stats)
    }
}

/// A progress bar on standard error: iterations, loss, mean energies of data and negatives,
/// iterations per second. Drawn only when standard error is a terminal.
pub struct TrainProgress {
    bar: indicatif::ProgressBar,
}

impl TrainProgress {
    /// A bar for a run of `iterations`.
    pub fn new(iterations: usize) -> Self {
        let bar = indicatif::ProgressBar::new(iterations as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise}, {per_sec}] {msg}",
            )
            .expect("a valid template"),
        );
        Self { bar }
    }
}

impl TrainObserver for TrainProgress {
    fn observe(&mut self, stats: &IterationStats) -> Result<Flow> {
        self.bar.set_message(format!(
            "loss {:+.4}  E(data) {:+.3}  E(neg) {:+.3}",
            stats.loss, stats.energy_data, stats.energy_negative
        ));
        self.bar.inc(1);
        Ok(Flow::Continue)
    }

    fn finish(&mut self) {
        self.bar.finish();
    }
}

/// How a call of [`PcdTrainer::fit`] ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSummary {
    /// Iterations this call ran.
    pub iterations: usize,
    /// Whether an observer stopped the run before the requested number of iterations.
    pub stopped: bool,
    /// Wall time of the call, in seconds.
    pub seconds: f64,
    /// The last iteration's figures, if one ran.
    pub last: Option<IterationStats>,
}

impl<const D: usize, M, S> PcdTrainer<D, M, S>
where
    M: Network<D>,
    S: Kernel,
{
    /// Runs `iterations` iterations, telling every observer after each, and stops early when one
    /// returns [`Flow::Stop`]. The trainer can go on with another call.
    ///
    /// ```
    /// use ebm_samplers::LangevinDynamics;
    /// use ebm_train::cd::{Flow, IterationStats, PcdConfig, PcdTrainer, TrainProgress};
    /// use ebm_train::{data::Toy, nn};
    ///
    /// let data: Vec<f32> = Toy::ring8().sample(1000, 0)?.into_iter().flatten().collect();
    /// let config = PcdConfig { buffer_size: 500, batch: 50, init_steps: 5, ..PcdConfig::default() };
    /// let mut trainer = PcdTrainer::<2, _>::new(
    ///     nn::build_network::<nn::SiluMlp<2, 16>>(0),
    ///     LangevinDynamics::new(0.01, 1.0)?,
    ///     data,
    ///     config,
    ///     0,
    /// )?;
    /// let mut losses = Vec::new();
    /// let mut record = |s: &IterationStats| {
    ///     losses.push(s.loss);
    ///     Ok(if s.iteration == 4 { Flow::Stop } else { Flow::Continue })
    /// };
    /// let summary = trainer.fit(100, &mut [&mut TrainProgress::new(100), &mut record])?;
    /// assert!(summary.stopped);
    /// assert_eq!((summary.iterations, losses.len(), trainer.iterations()), (5, 5, 5));
    /// # Ok::<(), ebm_train::TrainError>(())
    /// ```
    ///
    /// # Errors
    /// As [`PcdTrainer::step`], and an observer's error.
    pub fn fit(
        &mut self,
        iterations: usize,
        observers: &mut [&mut dyn TrainObserver],
    ) -> Result<FitSummary> {
        let started = std::time::Instant::now();
        let mut summary = FitSummary {
            iterations: 0,
            stopped: false,
            seconds: 0.0,
            last: None,
        };
        let result = (|| {
            for _ in 0..iterations {
                let stats = self.step()?;
                summary.iterations += 1;
                summary.last = Some(stats);
                let mut stop = false;
                for o in observers.iter_mut() {
                    stop |= o.observe(&stats)? == Flow::Stop;
                }
                if stop {
                    summary.stopped = true;
                    break;
                }
            }
            Ok(())
        })();
        for o in observers.iter_mut() {
            o.finish();
        }
        summary.seconds = started.elapsed().as_secs_f64();
        result.map(|()| summary)
    }

    /// [`PcdTrainer::fit`] up to `total` iterations in all (counting those run before), writing a
    /// checkpoint to `path` after every `every` iterations and at the end. With
    /// [`PcdTrainer::load_checkpoint`] first when the file exists, a killed run resumes where its
    /// last checkpoint left it and ends with the same bits as a run never interrupted.
    ///
    /// # Errors
    /// [`TrainError::InvalidParameter`] for `every = 0`; as [`PcdTrainer::fit`] and
    /// [`PcdTrainer::save_checkpoint`].
    pub fn fit_with_checkpoints(
        &mut self,
        total: usize,
        every: usize,
        path: impl AsRef<std::path::Path>,
        observers: &mut [&mut dyn TrainObserver],
    ) -> Result<FitSummary> {
        if every == 0 {
            return Err(invalid(
                "every",
                0,
                "checkpoint after at least one iteration",
            ));
        }
        let path = path.as_ref();
        let started = std::time::Instant::now();
        let mut summary = FitSummary {
            iterations: 0,
            stopped: false,
            seconds: 0.0,
            last: None,
        };
        while self.iteration < total && !summary.stopped {
            let n = every.min(total - self.iteration);
            let part = self.fit(n, observers)?;
            summary.iterations += part.iterations;
            summary.stopped = part.stopped;
            summary.last = part.last.or(summary.last);
            self.save_checkpoint(path)?;
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups at temperatures 1 and `t`, energies `cold` and `hot` in every pair.
    fn points(b: usize, cold: f32, hot: f32) -> ebm_samplers::Points<f32> {
        let mut p = ebm_samplers::Points::zeros(2 * b, 1);
        for c in 0..b {
            (p.x[c], p.e[c], p.g[c]) = (1.0, cold, 10.0);
            (p.x[b + c], p.e[b + c], p.g[b + c]) = (2.0, hot, 20.0);
        }
        p
    }

    #[test]
    fn neighbours_swap_with_the_replica_exchange_probability() {
        let (b, t) = (20_000, 4.0);
        let temperatures: Vec<f64> = (0..2 * b).map(|c| if c < b { 1.0 } else { t }).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        // The cold chain higher: always accepted, and the whole chain moves.
        let mut p = points(b, 1.0, 0.0);
        assert_eq!(
            swap_neighbours::<1>(&mut p, &temperatures, b, 0, &mut rng),
            b
        );
        assert_eq!((p.x[0], p.e[0], p.g[0]), (2.0, 0.0, 20.0));
        assert_eq!((p.x[b], p.e[b], p.g[b]), (1.0, 1.0, 10.0));
        // The cold chain lower by 1: accepted with probability exp(-(1 - 1/t)).
        let mut p = points(b, 0.0, 1.0);
        let swaps = swap_neighbours::<1>(&mut p, &temperatures, b, 0, &mut rng) as f64;
        let q = (-(1.0 - 1.0 / t)).exp();
        let sd = (b as f64 * q * (1.0 - q)).sqrt();
        assert!(
            (swaps - b as f64 * q).abs() < 5.0 * sd,
            "{swaps} swaps, expected {}",
            b as f64 * q
        );
        // At odd parity there is no pair (1, 2) in a ladder of two.
        let mut p = points(b, 1.0, 0.0);
        assert_eq!(
            swap_neighbours::<1>(&mut p, &temperatures, b, 1, &mut rng),
            0
        );
    }
}
