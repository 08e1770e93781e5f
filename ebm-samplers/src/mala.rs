//! The Metropolis-adjusted Langevin algorithm.

use crate::chains::Evaluator;
use crate::metropolis::{run_metropolis, Points, Proposal};
use crate::output::SampleOutput;
use crate::{RunOptions, Sampler};
use ebm_core::check;
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
/// for its chain (see [`ChainStats`](crate::ChainStats)). Chain `c` draws `D` normals and then one
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

    /// The temperature `T = s^2` of the target `exp(-E / T)`.
    pub fn temperature(&self) -> f64 {
        self.noise_scale * self.noise_scale
    }
}

struct MalaKernel<E> {
    h: E,
    sigma: E,
    temperature: f64,
    half_sq_noise: Vec<f64>,
}

impl<const D: usize, E: Real> Proposal<D, E> for MalaKernel<E> {
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
        for (c, rng) in rngs.iter_mut().enumerate() {
            let mut sq = 0.0;
            for i in c * D..(c + 1) * D {
                let xi = E::standard_normal(rng);
                sq += xi.as_f64() * xi.as_f64();
                prop.x[i] = cur.x[i] - self.h * cur.g[i] + self.sigma * xi;
            }
            self.half_sq_noise[c] = 0.5 * sq;
        }
        eval.energy_and_gradient(model, &prop.x, &mut prop.e, &mut prop.g)?;
        let h = self.h.as_f64();
        let scale = 1.0 / (4.0 * h * self.temperature);
        for (c, ratio) in log_ratio.iter_mut().enumerate() {
            // log q(x | y): the reverse move from y back to x.
            let mut reverse = 0.0;
            for i in c * D..(c + 1) * D {
                let r = cur.x[i].as_f64() - prop.x[i].as_f64() + h * prop.g[i].as_f64();
                reverse += r * r;
            }
            let de = prop.e[c].as_f64() - cur.e[c].as_f64();
            *ratio = -de / self.temperature - reverse * scale + self.half_sq_noise[c];
        }
        Ok(())
    }
}

impl Sampler for Mala {
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
        let mut kernel = MalaKernel {
            h: E::of(self.step_size),
            sigma: E::of(self.noise_scale * (2.0 * self.step_size).sqrt()),
            temperature: self.temperature(),
            half_sq_noise: vec![0.0; x0.shape().0],
        };
        run_metropolis(&mut kernel, model, x0, options)
    }
}
