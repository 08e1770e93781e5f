//! Chain state that outlives a run: positions with their energies and gradients, each chain's random
//! stream, the step count and the per-chain parameters.

use super::points::Points;
use super::streams::{chain_rngs, initial_state};
use ebm_core::check;
use ebm_core::prelude::*;
use rand_chacha::ChaCha8Rng;

/// A [`ChainState`] taken apart for a kernel's step ([`ChainState::parts_mut`]).
#[derive(Debug)]
pub struct StateParts<'a, E> {
    /// Positions, energies and gradients; a kernel that moves a chain updates all three.
    pub points: &'a mut Points<E>,
    /// Chain `c`'s random stream is `rngs[c]`.
    pub rngs: &'a mut [ChaCha8Rng],
    /// Every chain's step size.
    pub step_sizes: &'a [f64],
    /// Every chain's temperature.
    pub temperatures: &'a [f64],
}

/// The state of a batch of chains, kept between runs.
///
/// It holds, for every chain, its position with the energy and gradient there, its own ChaCha8
/// random stream, and its parameters: a step size and a temperature. A kernel's
/// [`init`](crate::Kernel::init) builds it; [`Sampler::run_from`](crate::Sampler::run_from) and
/// [`Driver`](crate::Driver) advance it. Continuing a state gives exactly the draws one longer run
/// would have given: 1000 steps in one run and 2 x 500 steps from the same state are bit-identical,
/// whatever the number of threads.
///
/// The parameters start at the kernel's settings (its step size; its temperature, `noise_scale^2`
/// for Langevin and MALA, 1 for HMC) and can be changed per chain between steps: that is how
/// step-size adaptation and replica exchange talk to a kernel. The kernel reads them at every step,
/// so the state's values win over the kernel's settings.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::prelude::*;
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
/// let mala = Mala::new(0.3, 1.0)?;
/// let mut state = mala.init(&model, &x0, 42)?;
/// state.set_step_size(3, 0.1)?; // chain 3 takes smaller steps
/// mala.run_from(&model, &mut state, &RunOptions::new(100))?;
/// assert_eq!(state.steps(), 100);
/// assert_eq!(state.step_sizes(), &[0.3, 0.3, 0.3, 0.1]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChainState<const D: usize, E: Real = f32, Dev: Device<E> = Cpu> {
    pub(crate) points: Points<E>,
    pub(crate) rngs: Vec<ChaCha8Rng>,
    pub(crate) steps: u64,
    pub(crate) step_size: Vec<f64>,
    pub(crate) temperature: Vec<f64>,
    /// The relative step-size jitter: each step draws chain `c`'s step size uniformly from
    /// `step_size[c] * (1 +- jitter)` (0: none).
    pub(crate) jitter: f64,
    /// Bumped by every parameter change, so kernels can cache what they derive from the parameters.
    pub(crate) params_version: u64,
    pub(crate) dev: Dev,
}

impl<const D: usize, E: Real, Dev: Device<E>> ChainState<D, E, Dev> {
    /// A state at the positions `x0` (one chain per row) with streams from `seed` (chain `c` draws
    /// from ChaCha8 `seed_from_u64(seed)`, stream `c`), every chain at `step_size` and `temperature`.
    /// Energies and gradients are zero until [`ChainState::evaluate`] or a kernel's `init` fills them.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for an empty batch, [`Error::InvalidParameter`] naming `D` for
    /// zero-dimensional points, [`Error::NonFiniteState`] naming the first non-finite
    /// coordinate, [`Error::InvalidParameter`] unless `step_size` is finite and greater than 0 and
    /// `temperature` finite and at least 0 (0 is plain gradient descent for Langevin dynamics; the
    /// Metropolis-adjusted kernels need a temperature above 0).
    pub fn new(x0: &Batch<D, E, Dev>, seed: u64, step_size: f64, temperature: f64) -> Result<Self> {
        Self::new_shard(x0, seed, 0, step_size, temperature)
    }

    /// As [`ChainState::new`] for chains `first_chain ..` of a larger run: row `c` of `x0` gets
    /// the stream of chain `first_chain + c` (ChaCha8 `seed_from_u64(seed)`, that stream), so
    /// shards of a run give exactly the draws those chains have in the whole run.
    ///
    /// # Errors
    /// As [`ChainState::new`], and [`Error::InvalidParameter`] naming `first_chain` when the
    /// chains' indices would pass `u64::MAX`.
    pub fn new_shard(
        x0: &Batch<D, E, Dev>,
        seed: u64,
        first_chain: u64,
        step_size: f64,
        temperature: f64,
    ) -> Result<Self> {
        if first_chain.checked_add(x0.shape().0 as u64).is_none() {
            return Err(Error::invalid(
                "first_chain",
                first_chain,
                "the chains' indices must stay within u64",
            ));
        }
        check::positive("step_size", step_size)?;
        check::non_negative("temperature", temperature)?;
        if D == 0 {
            return Err(Error::invalid(
                "D",
                0,
                "points need at least one coordinate",
            ));
        }
        let x = initial_state(x0)?;
        let n = x0.shape().0;
        Ok(Self {
            points: Points {
                x,
                e: vec![E::zero(); n],
                g: vec![E::zero(); n * D],
            },
            rngs: chain_rngs(seed, first_chain, n),
            steps: 0,
            step_size: vec![step_size; n],
            temperature: vec![temperature; n],
            jitter: 0.0,
            params_version: 0,
            dev: x0.device().clone(),
        })
    }

    /// Evaluates the energies and gradients at the current positions through `target`.
    ///
    /// # Errors
    /// [`Error::ModelShape`] when the model returns the wrong number of rows.
    pub fn evaluate<M: Energy<D, E, Dev> + ?Sized>(
        &mut self,
        target: &mut super::target::Target<'_, D, E, Dev, M>,
    ) -> Result<()> {
        target.evaluate(&mut self.points)
    }

    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.points.n_chains()
    }

    /// The number of steps taken since the state was created, over all runs.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Positions, energies and gradients of every chain.
    pub fn points(&self) -> &Points<E> {
        &self.points
    }

    /// The positions, row-major `(n_chains, D)`.
    pub fn positions(&self) -> &[E] {
        &self.points.x
    }

    /// The energy of every chain at its position.
    pub fn energies(&self) -> &[E] {
        &self.points.e
    }

    /// The step size of every chain.
    pub fn step_sizes(&self) -> &[f64] {
        &self.step_size
    }

    /// The temperature of every chain: chain `c` targets `exp(-E / T_c)`.
    pub fn temperatures(&self) -> &[f64] {
        &self.temperature
    }

    /// The device the positions are returned on.
    pub fn device(&self) -> &Dev {
        &self.dev
    }

    /// The positions as a batch on the state's device.
    pub fn to_batch(&self) -> Batch<D, E, Dev> {
        let n = self.n_chains();
        self.dev
            .tensor_from_vec(self.points.x.clone(), (n, Const::<D>))
    }

    /// Sets chain `chain`'s step size.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `step_size[chain]` unless it is finite and greater than 0,
    /// or naming `chain` when there is no such chain.
    pub fn set_step_size(&mut self, chain: usize, step_size: f64) -> Result<()> {
        self.check_chain(chain)?;
        check::positive(&format!("step_size[{chain}]"), step_size)?;
        self.step_size[chain] = step_size;
        self.params_version += 1;
        Ok(())
    }

    /// Sets every chain's step size, one value per chain.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless there is one value per chain, [`Error::InvalidParameter`]
    /// naming the first value that is not finite and greater than 0. Nothing changes on error.
    pub fn set_step_sizes(&mut self, step_sizes: &[f64]) -> Result<()> {
        self.check_per_chain("step_size", step_sizes, check::positive)?;
        self.step_size.copy_from_slice(step_sizes);
        self.params_version += 1;
        Ok(())
    }

    /// Sets chain `chain`'s temperature.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `temperature[chain]` unless it is finite and at least 0, or
    /// naming `chain` when there is no such chain.
    pub fn set_temperature(&mut self, chain: usize, temperature: f64) -> Result<()> {
        self.check_chain(chain)?;
        check::non_negative(&format!("temperature[{chain}]"), temperature)?;
        self.temperature[chain] = temperature;
        self.params_version += 1;
        Ok(())
    }

    /// Sets every chain's temperature, one value per chain.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless there is one value per chain, [`Error::InvalidParameter`]
    /// naming the first `temperature[i]` that is not finite and at least 0. Nothing changes on error.
    pub fn set_temperatures(&mut self, temperatures: &[f64]) -> Result<()> {
        self.check_per_chain("temperature", temperatures, check::non_negative)?;
        self.temperature.copy_from_slice(temperatures);
        self.params_version += 1;
        Ok(())
    }

    /// The relative step-size jitter (0 when off): see [`ChainState::set_step_size_jitter`].
    pub fn step_size_jitter(&self) -> f64 {
        self.jitter
    }

    /// Makes every step draw each chain's step size uniformly from `step_size * (1 +- jitter)`,
    /// from the chain's own stream, before the kernel moves it (the step sizes set stay the
    /// centres; observers see the ones drawn). Stan and nutpie jitter NUTS's step size this way
    /// after warm-up; [`Warmup`](crate::warmup::Warmup) sets it on the state it returns, so a
    /// continued state samples as the run that made it. 0 turns it off.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `jitter` unless it lies in `[0, 1)`.
    pub fn set_step_size_jitter(&mut self, jitter: f64) -> Result<()> {
        if !(0.0..1.0).contains(&jitter) {
            return Err(Error::invalid("jitter", jitter, "must lie in [0, 1)"));
        }
        self.jitter = jitter;
        Ok(())
    }

    /// Draws this step's jittered step sizes into the state, keeping the centres in `centres`;
    /// nothing when the jitter is off. [`ChainState::end_jitter`] puts the centres back.
    pub(crate) fn begin_jitter(&mut self, centres: &mut Vec<f64>) {
        if self.jitter <= 0.0 {
            return;
        }
        use rand::Rng;
        centres.clear();
        centres.extend_from_slice(&self.step_size);
        for ((h, &e), rng) in self
            .step_size
            .iter_mut()
            .zip(centres.iter())
            .zip(&mut self.rngs)
        {
            let u: f64 = rng.gen();
            *h = e * (1.0 + self.jitter * (2.0 * u - 1.0));
        }
        self.params_version += 1;
    }

    /// Restores the step sizes [`ChainState::begin_jitter`] kept.
    pub(crate) fn end_jitter(&mut self, centres: &[f64]) {
        if self.jitter <= 0.0 {
            return;
        }
        self.step_size.copy_from_slice(centres);
        self.params_version += 1;
    }

    /// The current points and every chain's random stream, for a kernel's step. A kernel that moves
    /// `x` must leave `e` and `g` holding the energies and gradients at the new positions.
    pub fn points_and_rngs_mut(&mut self) -> (&mut Points<E>, &mut [ChaCha8Rng]) {
        (&mut self.points, &mut self.rngs)
    }

    /// Everything a kernel's step reads and writes, borrowed at once: the points and streams to
    /// change, the step sizes and temperatures to read.
    pub fn parts_mut(&mut self) -> StateParts<'_, E> {
        StateParts {
            points: &mut self.points,
            rngs: &mut self.rngs,
            step_sizes: &self.step_size,
            temperatures: &self.temperature,
        }
    }

    /// Chain `chain`'s random stream, or `None` past the last chain.
    pub fn rng_mut(&mut self, chain: usize) -> Option<&mut ChaCha8Rng> {
        self.rngs.get_mut(chain)
    }

    /// A counter that changes whenever a step size or temperature changes: kernels compare it to
    /// refresh what they derive from the parameters.
    pub fn params_version(&self) -> u64 {
        self.params_version
    }

    fn check_chain(&self, chain: usize) -> Result<()> {
        if chain >= self.n_chains() {
            return Err(Error::invalid(
                "chain",
                chain,
                format!("the state has {} chains", self.n_chains()),
            ));
        }
        Ok(())
    }

    fn check_per_chain(
        &self,
        name: &str,
        values: &[f64],
        valid: fn(&str, f64) -> Result<f64>,
    ) -> Result<()> {
        if values.len() != self.n_chains() {
            return Err(Error::LengthMismatch {
                name: name.into(),
                expected: self.n_chains(),
                actual: values.len(),
                reason: "one value per chain".into(),
            });
        }
        for (i, &v) in values.iter().enumerate() {
            // The indexed name is formatted only for the error (this runs at every draw of a
            // warm-up).
            if valid(name, v).is_err() {
                valid(&format!("{name}[{i}]"), v)?;
            }
        }
        Ok(())
    }
}
