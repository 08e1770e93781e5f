//! Hamiltonian Monte Carlo.

use crate::chains::{initial_state, Evaluator, PARALLEL_MIN_ELEMENTS};
use crate::mass::{MassMatrix, PreparedMass};
use crate::metropolis::{run_metropolis, Points, Proposal};
use crate::output::SampleOutput;
use crate::{RunOptions, Sampler};
use ebm_core::check;
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
        })
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
        let mut eval = Evaluator::new(x);
        leapfrog_host(
            model,
            &mut eval,
            &mass,
            E::of(self.step_size),
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
        Evaluator::new(x).energy_and_gradient(model, &pts.x, &mut pts.e, &mut pts.g)?;
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
fn leapfrog_host<const D: usize, E, Dev, M>(
    model: &M,
    eval: &mut Evaluator<D, E, Dev>,
    mass: &PreparedMass<E>,
    eps: E,
    n_steps: usize,
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
    let half = eps * E::of(0.5);
    for l in 0..n_steps {
        kick(p, &pts.g, half);
        mass.drift_batch(&mut pts.x, p, eps, D);
        if l + 1 == n_steps {
            eval.energy_and_gradient(model, &pts.x, &mut pts.e, &mut pts.g)?;
        } else {
            eval.gradient(model, &pts.x, &mut pts.e, &mut pts.g)?;
        }
        kick(p, &pts.g, half);
    }
    Ok(())
}

struct HmcKernel<E> {
    mass: PreparedMass<E>,
    eps: E,
    n_steps: usize,
    momentum: Vec<E>,
    start_kinetic: Vec<f64>,
}

impl<const D: usize, E: Real> Proposal<D, E> for HmcKernel<E> {
    fn propose<Dev, M>(
        &mut self,
        model: &M,
        eval: &mut Evaluator<D, E, Dev>,
        cur: &Points<E>,
        prop: &mut Points<E>,
        rngs: &mut [ChaCha8Rng],
        log_ratio: &mut [f64],
    ) -> Result<()>
    where
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        if D == 0 {
            log_ratio.iter_mut().for_each(|r| *r = 0.0);
            return Ok(());
        }
        for ((row, rng), k0) in self
            .momentum
            .chunks_exact_mut(D)
            .zip(rngs.iter_mut())
            .zip(self.start_kinetic.iter_mut())
        {
            for v in row.iter_mut() {
                *v = E::standard_normal(rng);
            }
            self.mass.momentum(row);
            *k0 = self.mass.kinetic(row);
        }
        prop.x.copy_from_slice(&cur.x);
        prop.g.copy_from_slice(&cur.g);
        leapfrog_host(
            model,
            eval,
            &self.mass,
            self.eps,
            self.n_steps,
            prop,
            &mut self.momentum,
        )?;
        for (c, ratio) in log_ratio.iter_mut().enumerate() {
            let k1 = self.mass.kinetic(&self.momentum[c * D..(c + 1) * D]);
            let h0 = cur.e[c].as_f64() + self.start_kinetic[c];
            let h1 = prop.e[c].as_f64() + k1;
            *ratio = h0 - h1;
        }
        Ok(())
    }
}

impl Sampler for HamiltonianMonteCarlo {
    fn run<const D: usize, E, Dev, M>(
        &self,
        model: &M,
        x0: &Batch<D, E, Dev>,
        options: &RunOptions,
    ) -> Result<SampleOutput<D, E, Dev>>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let n = x0.shape().0;
        let mut kernel = HmcKernel {
            mass: self.mass.prepare::<E>(D)?,
            eps: E::of(self.step_size),
            n_steps: self.n_leapfrog_steps,
            momentum: vec![E::zero(); n * D],
            start_kinetic: vec![0.0; n],
        };
        run_metropolis(&mut kernel, model, x0, options)
    }
}
