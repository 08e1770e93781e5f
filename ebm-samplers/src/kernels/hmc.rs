//! Hamiltonian Monte Carlo.

use super::chain_settings::ChainSettings;
use super::kernel::{Kernel, StepInfo};
use super::mass::{MassMatrix, PreparedMass, Step};
use super::metropolis::{
    check_threshold, metropolis_accept, metropolis_test, DEFAULT_MAX_ENERGY_ERROR,
};
use crate::chain::blocks::{block_rows, run_blocks, split_points, PointsMut};
use crate::chain::streams::{initial_state, PARALLEL_MIN_ELEMENTS};
use crate::chain::{ChainState, Points, Target};
use ebm_core::check;
use ebm_core::energy::RowEnergy;
use ebm_core::prelude::*;
use rand_chacha::ChaCha8Rng;

/// Hamiltonian Monte Carlo with a leapfrog integrator.
///
/// Each step, for every chain independently: draw a fresh momentum `p ~ N(0, M)`, integrate Hamilton's
/// equations for `H(x, p) = E(x) + p^T M^-1 p / 2` with `n_leapfrog_steps` leapfrog steps of size
/// `step_size`, and accept the end point with probability `min(1, exp(H(start) - H(end)))`. The chains
/// target `exp(-E)` exactly. The trajectory length is `step_size * n_leapfrog_steps`.
///
/// Cost: the gradient at the start of a proposal is the one already known for the current state, so a
/// proposal costs `n_leapfrog_steps` model evaluations (the last also gives the energy).
///
/// Tuning: aim for an acceptance rate of roughly 60-90% (see
/// [`StepDiagnostics::mean_acceptance_rate`](crate::StepDiagnostics::mean_acceptance_rate)); near 100%
/// the step is smaller than it needs to be, below about 50% too large.
///
/// A proposal with a non-finite energy, gradient or coordinate is rejected and counted as a divergence.
/// Chain `c` draws `D` normals and then one uniform per step from its own ChaCha8 stream.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::{HamiltonianMonteCarlo, RunOptions, Sampler};
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2> = dev.sample_normal_like(&(1000, Const::<2>));
/// let hmc = HamiltonianMonteCarlo::new(0.1, 10)?;
/// let out = hmc.run(&model, &x0, &RunOptions::new(25).seed(3).diagnostics(true))?;
/// assert!(out.diagnostics.unwrap().mean_acceptance_rate().unwrap() > 0.9);
/// assert_eq!(out.chain_stats.unwrap().total_divergences(), 0);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HamiltonianMonteCarlo {
    step_size: f64,
    n_leapfrog_steps: usize,
    mass: MassMatrix,
    max_energy_error: f64,
}

impl HamiltonianMonteCarlo {
    /// HMC with an identity mass matrix.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `step_size` is finite and greater than 0 and
    /// `n_leapfrog_steps` is at least 1.
    pub fn new(step_size: f64, n_leapfrog_steps: usize) -> Result<Self> {
        check::positive("step_size", step_size)?;
        if n_leapfrog_steps == 0 {
            return Err(Error::invalid("n_leapfrog_steps", 0, "must be at least 1"));
        }
        Ok(Self {
            step_size,
            n_leapfrog_steps,
            mass: MassMatrix::Identity,
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

    /// The energy error above which a transition counts as divergent.
    pub fn divergence_threshold(&self) -> f64 {
        self.max_energy_error
    }

    /// The same sampler with mass matrix `mass`.
    ///
    /// # Errors
    /// As [`MassMatrix::validate`]. Its dimension is checked against the model's when a run starts.
    pub fn with_mass(mut self, mass: MassMatrix) -> Result<Self> {
        mass.validate()?;
        self.mass = mass;
        Ok(self)
    }

    /// The leapfrog step size.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The number of leapfrog steps per proposal.
    pub fn n_leapfrog_steps(&self) -> usize {
        self.n_leapfrog_steps
    }

    /// The mass matrix.
    pub fn mass(&self) -> &MassMatrix {
        &self.mass
    }

    /// Integrates `n_leapfrog_steps` leapfrog steps from positions `x` and momenta `p` (one chain per
    /// row) and returns the end positions and momenta, without any Metropolis test. Non-finite values
    /// are passed through.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`], [`Error::NonFiniteState`] for a non-finite starting position,
    /// [`Error::LengthMismatch`] when `p` has another shape or the mass matrix another dimension, and
    /// [`Error::ModelShape`].
    pub fn leapfrog<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x: &Batch<D, E, Dev>,
        p: &Batch<D, E, Dev>,
    ) -> Result<(Batch<D, E, Dev>, Batch<D, E, Dev>)>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let mut pts = self.start_points(model, x)?;
        let mut mom = self.host_momenta(x, p)?;
        let mass = self.mass.prepare::<E>(D)?;
        let mut target = Target::new(model, x.device());
        leapfrog_host(
            &mut target,
            &mass,
            Step::Uniform(E::of(self.step_size)),
            self.n_leapfrog_steps,
            &mut pts,
            &mut mom,
        )?;
        let dev = x.device();
        let n = x.shape().0;
        Ok((
            dev.tensor_from_vec(pts.x, (n, Const::<D>)),
            dev.tensor_from_vec(mom, (n, Const::<D>)),
        ))
    }

    /// The Hamiltonian `E(x) + p^T M^-1 p / 2` of every chain, in `f64`.
    ///
    /// # Errors
    /// As [`HamiltonianMonteCarlo::leapfrog`].
    pub fn hamiltonian<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x: &Batch<D, E, Dev>,
        p: &Batch<D, E, Dev>,
    ) -> Result<Vec<f64>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let pts = self.start_points(model, x)?;
        let mom = self.host_momenta(x, p)?;
        let mass = self.mass.prepare::<E>(D)?;
        Ok(pts
            .e
            .iter()
            .zip(mom.chunks_exact(D.max(1)))
            .map(|(e, row)| e.as_f64() + mass.kinetic(row))
            .collect())
    }

    fn start_points<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x: &Batch<D, E, Dev>,
    ) -> Result<Points<E>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let host = initial_state(x)?;
        let n = x.shape().0;
        let mut pts = Points {
            x: host,
            e: vec![E::zero(); n],
            g: vec![E::zero(); n * D],
        };
        Target::new(model, x.device()).evaluate(&mut pts)?;
        Ok(pts)
    }

    fn host_momenta<const D: usize, E: Real, Dev: Device<E>>(
        &self,
        x: &Batch<D, E, Dev>,
        p: &Batch<D, E, Dev>,
    ) -> Result<Vec<E>> {
        let (n, m) = (x.shape().0, p.shape().0);
        if n != m {
            return Err(Error::LengthMismatch {
                name: "p".into(),
                expected: n,
                actual: m,
                reason: "one momentum per chain".into(),
            });
        }
        let mut mom = vec![E::zero(); n * D];
        p.copy_into(&mut mom);
        Ok(mom)
    }
}

impl Default for HamiltonianMonteCarlo {
    /// Step size 0.1 and 10 leapfrog steps (the guide's example), identity mass, divergence
    /// threshold 1000: warm-up tunes the step size and mass.
    fn default() -> Self {
        Self {
            step_size: 0.1,
            n_leapfrog_steps: 10,
            mass: MassMatrix::Identity,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
        }
    }
}

/// `p -= c * g`, split over threads for large batches.
fn kick<E: Real>(p: &mut [E], g: &[E], c: E) {
    use rayon::prelude::*;
    let body = |(p, g): (&mut [E], &[E])| p.iter_mut().zip(g).for_each(|(p, &g)| *p -= c * g);
    if p.len() >= PARALLEL_MIN_ELEMENTS * 4 {
        let chunk = p.len().div_ceil(rayon::current_num_threads().max(1));
        p.par_chunks_mut(chunk)
            .zip(g.par_chunks(chunk))
            .for_each(body);
    } else {
        body((p, g));
    }
}

/// Leapfrog integration on host buffers: `pts` holds positions with their gradients (energies are
/// refreshed at the end point), `p` the momenta.
pub(crate) fn leapfrog_host<const D: usize, E, Dev, M>(
    target: &mut Target<'_, D, E, Dev, M>,
    mass: &PreparedMass<E>,
    eps: Step<'_, E>,
    n_leapfrog_steps: usize,
    pts: &mut Points<E>,
    p: &mut [E],
) -> Result<()>
where
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    if D == 0 {
        return Ok(());
    }
    let half = E::of(0.5);
    for l in 0..n_leapfrog_steps {
        match eps {
            Step::Uniform(eps) => kick(p, &pts.g, eps * half),
            Step::PerChain(eps) => {
                for ((pr, gr), &e) in p.chunks_exact_mut(D).zip(pts.g.chunks_exact(D)).zip(eps) {
                    kick(pr, gr, e * half);
                }
            }
        }
        mass.drift_batch(&mut pts.x, p, eps, D);
        if l + 1 == n_leapfrog_steps {
            target.evaluate(pts)?;
        } else {
            target.gradient_into(&pts.x, &mut pts.e, &mut pts.g)?;
        }
        match eps {
            Step::Uniform(eps) => kick(p, &pts.g, eps * half),
            Step::PerChain(eps) => {
                for ((pr, gr), &e) in p.chunks_exact_mut(D).zip(pts.g.chunks_exact(D)).zip(eps) {
                    kick(pr, gr, e * half);
                }
            }
        }
    }
    Ok(())
}

/// Buffers and per-chain constants of an HMC step.
#[derive(Debug, Clone, Default)]
pub struct HmcWorkspace<E> {
    mass: Option<PreparedMass<E>>,
    proposal: Option<Points<E>>,
    momentum: Vec<E>,
    start_kinetic: Vec<f64>,
    log_ratio: Vec<f64>,
    settings: ChainSettings<E>,
}

impl<E: Real> HmcWorkspace<E> {
    fn refresh<const D: usize, Dev: Device<E>>(
        &mut self,
        hmc: &HamiltonianMonteCarlo,
        state: &ChainState<D, E, Dev>,
    ) -> Result<()> {
        if self.mass.is_none() {
            self.mass = Some(hmc.mass.prepare::<E>(D)?);
        }
        if !self.settings.refresh(state, true)? {
            return Ok(());
        }
        let n = state.n_chains();
        self.proposal
            .get_or_insert_with(|| Points::zeros(n, D))
            .resize(n, D);
        self.momentum.resize(n * D, E::zero());
        self.start_kinetic.resize(n, 0.0);
        self.log_ratio.resize(n, 0.0);
        Ok(())
    }
}

impl Kernel for HamiltonianMonteCarlo {
    type Workspace<E: Real> = HmcWorkspace<E>;

    fn initial_step_size(&self) -> f64 {
        self.step_size
    }

    fn initial_temperature(&self) -> f64 {
        1.0
    }

    fn metropolis_adjusted(&self) -> bool {
        true
    }

    fn check_dimension(&self, d: usize) -> Result<()> {
        self.mass.prepare::<f64>(d).map(|_| ())
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
        ws.refresh(self, state)?;
        if D == 0 {
            return Ok(());
        }
        let HmcWorkspace {
            mass: Some(mass),
            proposal: Some(prop),
            momentum,
            start_kinetic,
            log_ratio,
            settings,
            ..
        } = ws
        else {
            return Ok(());
        };
        let ChainSettings {
            step: eps,
            uniform_step: uniform_eps,
            sqrt_temperature,
            temperature,
            ..
        } = &*settings;
        if let Some(rows) = target.row_energy() {
            target.count_evaluations(self.n_leapfrog_steps as u64);
            let (cur, rngs) = state.points_and_rngs_mut();
            let r = rows
                .preferred_block_rows()
                .map_or(block_rows(D), |r| r.max(1));
            let settings = BlockSettings {
                rows,
                mass,
                uniform: *uniform_eps,
                n_leapfrog_steps: self.n_leapfrog_steps,
                max_energy_error: self.max_energy_error,
            };
            let blocks: Vec<_> = split_points(cur, r, D)
                .into_iter()
                .zip(split_points(prop, r, D))
                .zip(momentum.chunks_mut(r * D))
                .zip(rngs.chunks_mut(r))
                .zip(start_kinetic.chunks_mut(r))
                .zip(log_ratio.chunks_mut(r))
                .zip(eps.chunks(r))
                .zip(sqrt_temperature.chunks(r))
                .zip(temperature.chunks(r))
                .zip(info.chunks_mut(r))
                .map(
                    |(((((((((cur, prop), p), rngs), k0), ratio), eps), st), t), info)| HmcBlock {
                        cur,
                        prop,
                        p,
                        rngs,
                        k0,
                        ratio,
                        eps,
                        st,
                        t,
                        info,
                    },
                )
                .collect();
            run_blocks(blocks, |b| hmc_block::<D, E>(b, &settings));
            return Ok(());
        }
        let (cur, rngs) = state.points_and_rngs_mut();
        for (((row, rng), k0), &st) in momentum
            .chunks_exact_mut(D)
            .zip(rngs.iter_mut())
            .zip(start_kinetic.iter_mut())
            .zip(sqrt_temperature.iter())
        {
            for v in row.iter_mut() {
                *v = E::standard_normal(rng);
            }
            mass.momentum(row);
            if st != E::one() {
                row.iter_mut().for_each(|v| *v *= st);
            }
            *k0 = mass.kinetic(row);
        }
        prop.x.copy_from_slice(&cur.x);
        prop.g.copy_from_slice(&cur.g);
        let step = if *uniform_eps {
            Step::Uniform(eps[0])
        } else {
            Step::PerChain(eps)
        };
        leapfrog_host(target, mass, step, self.n_leapfrog_steps, prop, momentum)?;
        for (c, ratio) in log_ratio.iter_mut().enumerate() {
            let k1 = mass.kinetic(&momentum[c * D..(c + 1) * D]);
            let h0 = cur.e[c].as_f64() + start_kinetic[c];
            let h1 = prop.e[c].as_f64() + k1;
            *ratio = (h0 - h1) / temperature[c];
        }
        metropolis_accept(state, prop, log_ratio, self.max_energy_error, info);
        let evals = u32::try_from(self.n_leapfrog_steps).unwrap_or(u32::MAX);
        info.iter_mut().for_each(|i| i.grad_evals = evals);
        Ok(())
    }
}

/// What every block of an HMC step shares.
struct BlockSettings<'a, E> {
    rows: &'a dyn RowEnergy<E>,
    mass: &'a PreparedMass<E>,
    uniform: bool,
    n_leapfrog_steps: usize,
    max_energy_error: f64,
}

/// One block of chains of an HMC step, with its slices of the state and the workspace.
struct HmcBlock<'a, E> {
    cur: PointsMut<'a, E>,
    prop: PointsMut<'a, E>,
    p: &'a mut [E],
    rngs: &'a mut [ChaCha8Rng],
    k0: &'a mut [f64],
    ratio: &'a mut [f64],
    eps: &'a [E],
    st: &'a [E],
    t: &'a [f64],
    info: &'a mut [StepInfo],
}

/// A whole HMC transition for one block of chains on the calling thread: momenta, leapfrog
/// trajectory, Metropolis test. Each chain's arithmetic and draws are those of the batch-wide step.
fn hmc_block<const D: usize, E: Real>(b: HmcBlock<'_, E>, s: &BlockSettings<'_, E>) {
    let HmcBlock {
        mut cur,
        prop,
        p,
        rngs,
        k0,
        ratio,
        eps,
        st,
        t,
        info,
    } = b;
    let mass = s.mass;
    for (row, rng) in p.chunks_exact_mut(D).zip(rngs.iter_mut()) {
        for v in row.iter_mut() {
            *v = E::standard_normal(rng);
        }
    }
    mass.momentum_rows(p, D);
    for (row, &st) in p.chunks_exact_mut(D).zip(st) {
        if st != E::one() {
            row.iter_mut().for_each(|v| *v *= st);
        }
    }
    mass.kinetic_rows(p, D, k0);
    prop.x.copy_from_slice(cur.x);
    prop.g.copy_from_slice(cur.g);
    let half = E::of(0.5);
    let l = s.n_leapfrog_steps;
    let fused = if s.uniform {
        mass.uniform_drift(eps[0])
    } else {
        None
    };
    if let Some(sc) = fused {
        // The same kicks and drifts, the closing half-kick of one leapfrog step, the opening
        // half-kick of the next and the drift in one pass.
        let c = eps[0] * half;
        kicks_and_drift(prop.x, p, prop.g, c, 1, sc);
        for step in 0..l {
            if step + 1 == l {
                s.rows.rows_energy_and_gradient(prop.x, prop.e, prop.g);
                p.iter_mut()
                    .zip(prop.g.iter())
                    .for_each(|(p, &g)| *p -= c * g);
            } else {
                s.rows.rows_gradient(prop.x, prop.e, prop.g);
                kicks_and_drift(prop.x, p, prop.g, c, 2, sc);
            }
        }
    }
    let kick = |p: &mut [E], g: &[E]| {
        if s.uniform {
            let c = eps[0] * half;
            p.iter_mut().zip(g).for_each(|(p, &g)| *p -= c * g);
        } else {
            for ((pr, gr), &e) in p.chunks_exact_mut(D).zip(g.chunks_exact(D)).zip(eps) {
                let c = e * half;
                pr.iter_mut().zip(gr).for_each(|(p, &g)| *p -= c * g);
            }
        }
    };
    for step in 0..if fused.is_some() { 0 } else { l } {
        kick(p, prop.g);
        let steps = if s.uniform {
            Step::Uniform(eps[0])
        } else {
            Step::PerChain(eps)
        };
        mass.drift_batch(prop.x, p, steps, D);
        if step + 1 == l {
            s.rows.rows_energy_and_gradient(prop.x, prop.e, prop.g);
        } else {
            s.rows.rows_gradient(prop.x, prop.e, prop.g);
        }
        kick(p, prop.g);
    }
    let evals = u32::try_from(s.n_leapfrog_steps).unwrap_or(u32::MAX);
    mass.kinetic_rows(p, D, ratio);
    for (c, (rng, info)) in rngs.iter_mut().zip(info.iter_mut()).enumerate() {
        let k1 = ratio[c];
        let h0 = cur.e[c].as_f64() + k0[c];
        let h1 = prop.e[c].as_f64() + k1;
        ratio[c] = (h0 - h1) / t[c];
        let finite = prop.row_finite(c, D);
        if metropolis_test(rng, ratio[c], finite, s.max_energy_error, info) {
            cur.copy_row_from(&prop, c, D);
        }
        info.grad_evals = evals;
    }
}

/// `kicks` times `p -= c g`, then `x += sc p`, element by element in one pass; on x86-64 with AVX2
/// in 256-bit registers (the same operations, rounded the same way).
fn kicks_and_drift<E: Real>(x: &mut [E], p: &mut [E], g: &[E], c: E, kicks: usize, sc: E) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        unsafe { kicks_and_drift_avx2(x, p, g, c, kicks, sc) };
        return;
    }
    kicks_and_drift_body(x, p, g, c, kicks, sc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kicks_and_drift_avx2<E: Real>(
    x: &mut [E],
    p: &mut [E],
    g: &[E],
    c: E,
    kicks: usize,
    sc: E,
) {
    kicks_and_drift_body(x, p, g, c, kicks, sc);
}

#[inline(always)]
fn kicks_and_drift_body<E: Real>(x: &mut [E], p: &mut [E], g: &[E], c: E, kicks: usize, sc: E) {
    if kicks == 2 {
        for ((x, p), &g) in x.iter_mut().zip(p.iter_mut()).zip(g) {
            *p -= c * g;
            *p -= c * g;
            *x += sc * *p;
        }
    } else {
        for ((x, p), &g) in x.iter_mut().zip(p.iter_mut()).zip(g) {
            *p -= c * g;
            *x += sc * *p;
        }
    }
}
