//! The Metropolis-adjusted Langevin algorithm.

use super::chain_settings::ChainSettings;
use super::kernel::{plain_steps, Kernel, StepInfo};
use super::metropolis::{
    check_threshold, metropolis_accept, metropolis_test, DEFAULT_MAX_ENERGY_ERROR,
};
use crate::chain::blocks::{block_rows, run_blocks, split_points, PointsMut};
use crate::chain::{ChainState, Points, Target};
use ebm_core::check;
use ebm_core::energy::RowEnergy;
use ebm_core::prelude::*;
use rand_chacha::ChaCha8Rng;

/// The Metropolis-adjusted Langevin algorithm (MALA) with step size `h` and noise scale `s`.
///
/// Each step proposes the Langevin move of [`LangevinDynamics`](crate::LangevinDynamics),
/// `y = x - h grad E(x) + s sqrt(2h) xi`, and accepts it with probability
/// `min(1, exp(-(E(y) - E(x)) / T) q(x | y) / q(y | x))`, `T = s^2`, where
/// `q(y | x) = N(y; x - h grad E(x), 2 h T I)` is the exact proposal density. The correction removes the
/// step-size bias of unadjusted Langevin: the chains target `exp(-E / s^2)` exactly, at any step size.
///
/// A proposal with a non-finite energy, gradient or coordinate is rejected and counted as a divergence
/// for its chain (see [`RunStats`](crate::RunStats)). Chain `c` draws `D` normals and then one
/// uniform per step from its own ChaCha8 stream (`seed_from_u64(seed)`, stream `c`).
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::{Mala, RunOptions, Sampler};
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2> = dev.sample_normal_like(&(500, Const::<2>));
/// let out = Mala::new(0.3, 1.0)?.run(&model, &x0, &RunOptions::new(100).diagnostics(true))?;
/// let rate = out.diagnostics.unwrap().mean_acceptance_rate().unwrap();
/// assert!(rate > 0.5 && rate < 1.0);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mala {
    step_size: f64,
    noise_scale: f64,
    max_energy_error: f64,
}

impl Mala {
    /// MALA with step size `step_size` and noise scale `noise_scale`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless both are finite and greater than 0.
    pub fn new(step_size: f64, noise_scale: f64) -> Result<Self> {
        check::positive("step_size", step_size)?;
        check::positive("noise_scale", noise_scale)?;
        Ok(Self {
            step_size,
            noise_scale,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
        })
    }

    /// The same sampler flagging a transition as divergent when its energy error exceeds
    /// `threshold` (default 1000, as Stan).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `threshold` is greater than 0 (infinity turns the check
    /// off).
    pub fn with_divergence_threshold(mut self, threshold: f64) -> Result<Self> {
        self.max_energy_error = check_threshold(threshold)?;
        Ok(self)
    }

    /// The step size `h`.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The noise scale `s`.
    pub fn noise_scale(&self) -> f64 {
        self.noise_scale
    }

    /// The temperature `T = s^2` of the target `exp(-E / T)`.
    pub fn temperature(&self) -> f64 {
        self.noise_scale * self.noise_scale
    }

    /// The energy error above which a transition counts as divergent.
    pub fn divergence_threshold(&self) -> f64 {
        self.max_energy_error
    }
}

impl Default for Mala {
    /// Step size 0.1, noise scale 1 (the target `exp(-E)`), divergence threshold 1000: warm-up
    /// tunes the step size.
    fn default() -> Self {
        Self {
            step_size: 0.1,
            noise_scale: 1.0,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
        }
    }
}

/// Buffers and per-chain constants of a MALA step.
#[derive(Debug, Clone, Default)]
pub struct MalaWorkspace<E> {
    proposal: Option<Points<E>>,
    half_sq_noise: Vec<f64>,
    log_ratio: Vec<f64>,
    settings: ChainSettings<E>,
}

impl<E: Real> MalaWorkspace<E> {
    fn refresh<const D: usize, Dev: Device<E>>(
        &mut self,
        state: &ChainState<D, E, Dev>,
    ) -> Result<()> {
        if !self.settings.refresh(state, true)? {
            return Ok(());
        }
        let n = state.n_chains();
        self.proposal
            .get_or_insert_with(|| Points::zeros(n, D))
            .resize(n, D);
        self.half_sq_noise.resize(n, 0.0);
        self.log_ratio.resize(n, 0.0);
        Ok(())
    }
}

impl Kernel for Mala {
    type Workspace<E: Real> = MalaWorkspace<E>;

    /// With a [`RowEnergy`], each block of chains runs all `n_steps` transitions on one thread
    /// (one pass over rayon's threads in all); the draws are those of [`Kernel::step`].
    fn advance<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
        n_steps: usize,
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let target = Target::new(model, state.device());
        let Some(rows) = target.row_energy().filter(|_| D > 0) else {
            return plain_steps(self, model, state, n_steps);
        };
        let mut ws = MalaWorkspace::<E>::default();
        ws.refresh(state)?;
        let mut info = vec![StepInfo::default(); state.n_chains()];
        let (cur, rngs) = state.points_and_rngs_mut();
        let Some(blocks) = mala_blocks::<D, E>(&mut ws, cur, rngs, &mut info, rows) else {
            return Ok(());
        };
        let max_energy_error = self.max_energy_error;
        run_blocks(blocks, |mut b| {
            for _ in 0..n_steps {
                mala_block::<D, E>(&mut b, rows, max_energy_error);
            }
        });
        state.steps += n_steps as u64;
        Ok(())
    }

    fn initial_step_size(&self) -> f64 {
        self.step_size
    }

    fn initial_temperature(&self) -> f64 {
        self.temperature()
    }

    fn metropolis_adjusted(&self) -> bool {
        true
    }

    fn step<const D: usize, E, Dev, M>(
        &self,
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
        ws: &mut Self::Workspace<E>,
        info: &mut [StepInfo],
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        ws.refresh(state)?;
        if let Some(rows) = target.row_energy() {
            target.count_evaluations(1);
            let (cur, rngs) = state.points_and_rngs_mut();
            let Some(blocks) = mala_blocks::<D, E>(ws, cur, rngs, info, rows) else {
                return Ok(());
            };
            let max_energy_error = self.max_energy_error;
            run_blocks(blocks, |mut b| {
                mala_block::<D, E>(&mut b, rows, max_energy_error)
            });
            return Ok(());
        }
        let MalaWorkspace {
            proposal,
            half_sq_noise,
            log_ratio,
            settings,
            ..
        } = ws;
        let (params, temperature) = (&settings.langevin, &settings.temperature);
        let Some(prop) = proposal.as_mut() else {
            return Ok(());
        };
        let (cur, rngs) = state.points_and_rngs_mut();
        for (c, (rng, &(h, sigma, _))) in rngs.iter_mut().zip(params.iter()).enumerate() {
            let mut sq = 0.0;
            for i in c * D..(c + 1) * D {
                let xi = E::standard_normal(rng);
                sq += xi.as_f64() * xi.as_f64();
                prop.x[i] = cur.x[i] - h * cur.g[i] + sigma * xi;
            }
            half_sq_noise[c] = 0.5 * sq;
        }
        target.evaluate(prop)?;
        for (c, ratio) in log_ratio.iter_mut().enumerate() {
            let h = params[c].0.as_f64();
            let t = temperature[c];
            // log q(x | y): the reverse move from y back to x.
            let mut reverse = 0.0;
            for i in c * D..(c + 1) * D {
                let r = cur.x[i].as_f64() - prop.x[i].as_f64() + h * prop.g[i].as_f64();
                reverse += r * r;
            }
            let de = prop.e[c].as_f64() - cur.e[c].as_f64();
            *ratio = -de / t - reverse * (1.0 / (4.0 * h * t)) + half_sq_noise[c];
        }
        metropolis_accept(state, prop, log_ratio, self.max_energy_error, info);
        info.iter_mut().for_each(|i| i.grad_evals = 1);
        Ok(())
    }
}

/// Metropolis-adjusted kernels need every temperature above 0.
/// One block of chains of a MALA step, with its slices of the state and the workspace.
struct MalaBlock<'a, E> {
    cur: PointsMut<'a, E>,
    prop: PointsMut<'a, E>,
    rngs: &'a mut [ChaCha8Rng],
    hsq: &'a mut [f64],
    ratio: &'a mut [f64],
    params: &'a [(E, E, bool)],
    t: &'a [f64],
    info: &'a mut [StepInfo],
}

/// The state's chains `cur` and the workspace cut into blocks of the rows `rows` prefers, for
/// [`mala_block`]; `None` before the workspace has a proposal buffer.
fn mala_blocks<'a, const D: usize, E: Real>(
    ws: &'a mut MalaWorkspace<E>,
    cur: &'a mut Points<E>,
    rngs: &'a mut [ChaCha8Rng],
    info: &'a mut [StepInfo],
    rows: &dyn RowEnergy<E>,
) -> Option<Vec<MalaBlock<'a, E>>> {
    let r = rows
        .preferred_block_rows()
        .map_or(block_rows(D), |r| r.max(1));
    let MalaWorkspace {
        proposal,
        half_sq_noise,
        log_ratio,
        settings,
        ..
    } = ws;
    let (params, temperature) = (&settings.langevin, &settings.temperature);
    let prop = proposal.as_mut()?;
    Some(
        split_points(cur, r, D)
            .into_iter()
            .zip(split_points(prop, r, D))
            .zip(rngs.chunks_mut(r))
            .zip(half_sq_noise.chunks_mut(r))
            .zip(log_ratio.chunks_mut(r))
            .zip(params.chunks(r))
            .zip(temperature.chunks(r))
            .zip(info.chunks_mut(r))
            .map(
                |(((((((cur, prop), rngs), hsq), ratio), params), t), info)| MalaBlock {
                    cur,
                    prop,
                    rngs,
                    hsq,
                    ratio,
                    params,
                    t,
                    info,
                },
            )
            .collect(),
    )
}

/// A whole MALA transition for one block of chains on the calling thread; each chain's arithmetic
/// and draws are those of the batch-wide step.
fn mala_block<const D: usize, E: Real>(
    b: &mut MalaBlock<'_, E>,
    rows: &dyn RowEnergy<E>,
    max_energy_error: f64,
) {
    let MalaBlock {
        cur,
        prop,
        rngs,
        hsq,
        ratio,
        params,
        t,
        info,
    } = b;
    for (c, (rng, &(h, sigma, _))) in rngs.iter_mut().zip(params.iter()).enumerate() {
        let mut sq = 0.0;
        for i in c * D..(c + 1) * D {
            let xi = E::standard_normal(rng);
            sq += xi.as_f64() * xi.as_f64();
            prop.x[i] = cur.x[i] - h * cur.g[i] + sigma * xi;
        }
        hsq[c] = 0.5 * sq;
    }
    rows.rows_energy_and_gradient(prop.x, prop.e, prop.g);
    for (c, (rng, info)) in rngs.iter_mut().zip(info.iter_mut()).enumerate() {
        let h = params[c].0.as_f64();
        let mut reverse = 0.0;
        for i in c * D..(c + 1) * D {
            let r = cur.x[i].as_f64() - prop.x[i].as_f64() + h * prop.g[i].as_f64();
            reverse += r * r;
        }
        let de = prop.e[c].as_f64() - cur.e[c].as_f64();
        ratio[c] = -de / t[c] - reverse * (1.0 / (4.0 * h * t[c])) + hsq[c];
        let finite = prop.row_finite(c, D);
        if metropolis_test(rng, ratio[c], finite, max_energy_error, info) {
            cur.copy_row_from(prop, c, D);
        }
        info.grad_evals = 1;
    }
}
