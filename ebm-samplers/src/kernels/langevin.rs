//! Unadjusted Langevin dynamics.

use super::chain_settings::ChainSettings;
use super::kernel::{plain_steps, Kernel, StepInfo};
use crate::chain::blocks::{block_rows, run_blocks, split_points};
use crate::chain::streams::PARALLEL_MIN_ELEMENTS;
use crate::chain::{ChainState, Target};
use ebm_core::energy::RowEnergy;
use ebm_core::prelude::*;
use ebm_core::{check, linalg};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Unadjusted Langevin dynamics (ULA) with step size `h` and noise scale `s`.
///
/// One step moves every chain independently by
///
/// ```text
/// x <- x - h * grad E(x) + s * sqrt(2 h) * xi,     xi ~ N(0, I)
/// ```
///
/// In the limit of small `h` the chains' stationary density is proportional to `exp(-E(x) / s^2)`: the
/// target at temperature `T = s^2`. So `noise_scale = 1` samples `exp(-E)` itself, while the guide's
/// `noise_scale = 0.1` samples the much narrower `exp(-E / 0.01)` (for a Gaussian model, covariance
/// `0.01 * cov`). The guide writes the same rule as `x - (eps^2 / 2) grad E + eps w`, which is this one
/// with `s = 1` and `eps = sqrt(2 h)`.
///
/// At a finite step the chain is biased (there is no Metropolis correction): for a Gaussian energy with
/// precision `P` its exact stationary covariance `S` solves `S = B S B + 2 h s^2 I` with `B = I - h P`,
/// that is `S = 2 s^2 (2P - h P^2)^-1`, a relative excess of about `h * lambda / 2` along an eigenvalue
/// `lambda` of `P` ([`LangevinDynamics::gaussian_stationary_covariance`] computes it). The chain is
/// stable only for `h * lambda_max < 2`; a chain that leaves the finite range stops the run with
/// [`Error::Diverged`].
///
/// Randomness: chain `c` draws its noise from its own ChaCha8 stream (`seed_from_u64(seed)`, stream
/// `c`), `D` standard normals per step in coordinate order, so results do not depend on the number of
/// threads the chains are spread over.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::{LangevinDynamics, RunOptions, Sampler};
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let sampler = LangevinDynamics::new(0.1, 1.0)?;
/// let x0: Batch<2> = dev.sample_normal_like(&(500, Const::<2>));
/// let out = sampler.run(&model, &x0, &RunOptions::new(200).seed(1).trace(50).diagnostics(true))?;
/// assert_eq!(out.trace.unwrap().shape(), [500, 4, 2]);
/// let mean = out.diagnostics.unwrap().mean()[199];
/// assert!((mean[0] - 1.0).abs() < 0.2 && (mean[1] + 1.0).abs() < 0.2);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LangevinDynamics {
    step_size: f64,
    noise_scale: f64,
}

impl LangevinDynamics {
    /// A Langevin sampler with step size `h = step_size` and noise scale `s = noise_scale`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `step_size` is finite and greater than 0 and `noise_scale`
    /// is finite and at least 0 (`0` turns the sampler into gradient descent).
    pub fn new(step_size: f64, noise_scale: f64) -> Result<Self> {
        check::positive("step_size", step_size)?;
        check::non_negative("noise_scale", noise_scale)?;
        Ok(Self {
            step_size,
            noise_scale,
        })
    }

    /// The step size `h`.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The noise scale `s`.
    pub fn noise_scale(&self) -> f64 {
        self.noise_scale
    }

    /// The temperature `T = s^2` of the density the chains target, `exp(-E / T)`.
    pub fn temperature(&self) -> f64 {
        self.noise_scale * self.noise_scale
    }

    /// The exact stationary covariance of this sampler's discretised chain on a Gaussian energy with
    /// precision `precision` (row-major `d x d`): `S = 2 s^2 (2P - h P^2)^-1`, the solution of
    /// `S = B S B + 2 h s^2 I`, `B = I - h P`. Its stationary mean is the Gaussian's mean.
    ///
    /// # Errors
    /// The errors of [`linalg::spd_inverse`] when `precision` is not symmetric positive definite, and
    /// [`Error::InvalidParameter`] naming `step_size` when `h * lambda_max(P) >= 2`, where the chain has
    /// no stationary distribution.
    ///
    /// ```
    /// use ebm_samplers::LangevinDynamics;
    /// // One dimension, P = 1: S = 2 s^2 / (2 - h).
    /// let s = LangevinDynamics::new(0.1, 1.0)?.gaussian_stationary_covariance(&[1.0], 1)?;
    /// assert!((s[0] - 2.0 / 1.9).abs() < 1e-12);
    /// # Ok::<(), ebm_core::Error>(())
    /// ```
    pub fn gaussian_stationary_covariance(&self, precision: &[f64], d: usize) -> Result<Vec<f64>> {
        if precision.len() != d * d {
            return Err(Error::LengthMismatch {
                name: "precision".into(),
                expected: d * d,
                actual: precision.len(),
                reason: format!("a {d}x{d} matrix, row-major"),
            });
        }
        let p = linalg::symmetric_part("precision", precision, d)?;
        linalg::cholesky("precision", &p, d)?;
        let h = self.step_size;
        // M = 2P - h P^2 = P (2I - hP) is positive definite exactly when h * lambda_max < 2.
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                let pp: f64 = (0..d).map(|k| p[i * d + k] * p[k * d + j]).sum();
                m[i * d + j] = 2.0 * p[i * d + j] - h * pp;
            }
        }
        let inv = linalg::cholesky("2P - hP^2", &m, d)
            .map(|l| linalg::inverse_from_cholesky(&l, d))
            .map_err(|_| {
                Error::invalid(
                    "step_size",
                    h,
                    "step_size * (largest eigenvalue of the precision) must be below 2 for the chain \
                     to have a stationary distribution",
                )
            })?;
        let t2 = 2.0 * self.temperature();
        Ok(inv.into_iter().map(|v| t2 * v).collect())
    }
}

impl Default for LangevinDynamics {
    /// Step size 0.01 and noise scale 1: the chains sample `exp(-E)` up to the step's bias
    /// (`LangevinDynamics::new(0.01, 1.0)`).
    fn default() -> Self {
        Self {
            step_size: 0.01,
            noise_scale: 1.0,
        }
    }
}

fn update_chain<E: Real>(x: &mut [E], g: &[E], rng: &mut ChaCha8Rng, h: E, sigma: E, noisy: bool) {
    if noisy {
        for (xi, &gi) in x.iter_mut().zip(g) {
            *xi = *xi - h * gi + sigma * E::standard_normal(rng);
        }
    } else {
        for (xi, &gi) in x.iter_mut().zip(g) {
            *xi -= h * gi;
        }
    }
}

/// Per-chain constants of a Langevin step, derived from the state's step sizes and temperatures.
#[derive(Debug, Clone, Default)]
pub struct LangevinWorkspace<E> {
    settings: ChainSettings<E>,
}

/// One Langevin step for every chain of the host state `x` with gradients `g`.
fn langevin_update<const D: usize, E: Real>(
    x: &mut [E],
    g: &[E],
    rngs: &mut [ChaCha8Rng],
    params: &[(E, E, bool)],
) {
    if D == 0 {
        return;
    }
    if x.len() >= PARALLEL_MIN_ELEMENTS {
        x.par_chunks_mut(D)
            .zip(g.par_chunks(D))
            .zip(rngs.par_iter_mut())
            .zip(params.par_iter())
            .for_each(|(((xr, gr), rng), &(h, sigma, noisy))| {
                update_chain(xr, gr, rng, h, sigma, noisy)
            });
    } else {
        for (((xr, gr), rng), &(h, sigma, noisy)) in x
            .chunks_mut(D)
            .zip(g.chunks(D))
            .zip(rngs.iter_mut())
            .zip(params)
        {
            update_chain(xr, gr, rng, h, sigma, noisy);
        }
    }
}

/// The first non-finite coordinate of the host state, as `(chain, dim, value)`.
pub(crate) fn first_non_finite<const D: usize, E: Real>(x: &[E]) -> Option<(usize, usize, f64)> {
    // A branch-free pass over the whole batch; the position only on failure.
    if crate::chain::all_finite(x) {
        return None;
    }
    x.iter()
        .position(|v| !v.is_finite())
        .map(|i| (i / D.max(1), i % D.max(1), x[i].as_f64()))
}

/// `n_steps` Langevin steps of every chain of `state`, each block of chains running all of its
/// steps on one thread (one pass over rayon's threads in all); the evaluation after the last step
/// only with `evaluate_last`. Each chain's arithmetic is that of [`Kernel::step`], so the draws
/// are the same. A chain that leaves the finite range is reported as `step` would: the earliest
/// step, then the lowest chain. The state's step count is left to the caller; on an error the
/// number of steps every chain completed comes with it.
fn advance_blocks<const D: usize, E: Real, Dev: Device<E>>(
    rows: &dyn RowEnergy<E>,
    state: &mut ChainState<D, E, Dev>,
    params: &[(E, E, bool)],
    n_steps: usize,
    evaluate_last: bool,
) -> std::result::Result<(), (u64, Error)> {
    let before = state.steps();
    let r = rows
        .preferred_block_rows()
        .map_or(block_rows(D), |r| r.max(1));
    let (points, rngs) = state.points_and_rngs_mut();
    let blocks: Vec<_> = split_points(points, r, D)
        .into_iter()
        .zip(rngs.chunks_mut(r))
        .zip(params.chunks(r))
        .enumerate()
        .collect();
    // Each block moves its chains, checks them and evaluates them if finite, step after step.
    let failed = run_blocks(blocks, |(i, ((p, rngs), params))| {
        for s in 0..n_steps {
            for (((xr, gr), rng), &(h, sigma, noisy)) in
                p.x.chunks_mut(D)
                    .zip(p.g.chunks(D))
                    .zip(rngs.iter_mut())
                    .zip(params)
            {
                update_chain(xr, gr, rng, h, sigma, noisy);
            }
            if let Some((chain, dim, value)) = first_non_finite::<D, E>(p.x) {
                return Some((s, i * r + chain, dim, value));
            }
            if evaluate_last || s + 1 < n_steps {
                rows.rows_energy_and_gradient(p.x, p.e, p.g);
            }
        }
        None
    });
    match failed
        .into_iter()
        .flatten()
        .min_by_key(|&(s, chain, _, _)| (s, chain))
    {
        Some((s, chain, dim, value)) => Err((
            s as u64,
            Error::Diverged {
                chain,
                step: (before + s as u64) as usize + 1,
                dim,
                value,
            },
        )),
        None => Ok(()),
    }
}

/// [`advance_blocks`] with the state's step count brought up to date.
fn advance_counted<const D: usize, E: Real, Dev: Device<E>>(
    rows: &dyn RowEnergy<E>,
    state: &mut ChainState<D, E, Dev>,
    n_steps: usize,
    evaluate_last: bool,
) -> Result<()> {
    let mut workspace = LangevinWorkspace::default();
    workspace.settings.refresh(state, false)?;
    let before = state.steps();
    match advance_blocks(
        rows,
        state,
        &workspace.settings.langevin,
        n_steps,
        evaluate_last,
    ) {
        Ok(()) => {
            state.steps = before + n_steps as u64;
            Ok(())
        }
        Err((done, e)) => {
            state.steps = before + done;
            Err(e)
        }
    }
}

impl Kernel for LangevinDynamics {
    type Workspace<E: Real> = LangevinWorkspace<E>;

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
        match target.row_energy() {
            Some(rows) if D > 0 => advance_counted(rows, state, n_steps, true),
            _ => plain_steps(self, model, state, n_steps),
        }
    }

    fn final_positions<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        n_steps: usize,
        seed: u64,
    ) -> Result<Batch<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let mut state = self.init(model, x0, seed)?;
        let target = Target::new(model, state.device());
        match target.row_energy() {
            Some(rows) if D > 0 => advance_counted(rows, &mut state, n_steps, false)?,
            _ => self.advance(model, &mut state, n_steps)?,
        }
        Ok(state.to_batch())
    }

    fn initial_step_size(&self) -> f64 {
        self.step_size
    }

    fn initial_temperature(&self) -> f64 {
        self.temperature()
    }

    fn metropolis_adjusted(&self) -> bool {
        false
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
        workspace.settings.refresh(state, false)?;
        let step = state.steps() as usize + 1;
        if let Some(rows) = target.row_energy() {
            target.count_evaluations(1);
            advance_blocks(rows, state, &workspace.settings.langevin, 1, true)
                .map_err(|(_, e)| e)?;
            info.fill(StepInfo::unadjusted(1));
            return Ok(());
        }
        let (points, rngs) = state.points_and_rngs_mut();
        langevin_update::<D, E>(&mut points.x, &points.g, rngs, &workspace.settings.langevin);
        if let Some((chain, dim, value)) = first_non_finite::<D, E>(&points.x) {
            return Err(Error::Diverged {
                chain,
                step,
                dim,
                value,
            });
        }
        target.evaluate(points)?;
        info.fill(StepInfo::unadjusted(1));
        Ok(())
    }
}
