//! The multivariate Gaussian energy.

use ebm_core::energy::{host_rows, RowEnergy};
use ebm_core::prelude::*;
use ebm_core::{dense, linalg};

/// A multivariate Gaussian `N(mean, cov)` as an energy: `E(x) = (x - mean)^T P (x - mean) / 2` with
/// precision `P = cov^-1`.
///
/// At temperature 1 (a sampler with `noise_scale = 1`) the target density is exactly `N(mean, cov)`;
/// at temperature `T` it is `N(mean, T cov)`. The energy omits the normalising constant.
///
/// The constructor validates the covariance and stores the precision; energy and gradient are in
/// closed form (`grad = (x - mean) P`, one matrix product per batch), so no autodiff tape is built.
/// Above 16 dimensions the host path multiplies with [`ebm_core::dense::rows_times_matrix`] by the
/// precision less its negligible entries ([`ebm_core::dense::without_negligible_entries`]), and
/// offers itself to samplers as a [`RowEnergy`], so they can split chains over threads once per
/// step.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x: Batch<2> = dev.tensor_from_vec(vec![1.0, -1.0], (1, Const::<2>));
/// assert_eq!(model.energy(x).as_vec(), vec![0.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GaussianModel<const D: usize, E: Real = f32, Dev: Device<E> = Cpu> {
    cov: Vec<E>,
    precision: Vec<E>,
    host: HostGaussian<D, E>,
    mean_t: Tensor<Rank1<D>, E, Dev>,
    precision_t: Tensor<Rank2<D, D>, E, Dev>,
}

/// The host path's data: what a block of rows needs, shared by the threads of a sampler.
#[derive(Debug, Clone)]
struct HostGaussian<const D: usize, E> {
    mean: Vec<E>,
    precision: Vec<E>,
    /// The precision less its negligible entries: the matrix of the product for large `D`.
    product: Vec<E>,
    /// `P m`, subtracted from `x P` by the host path for large `D`.
    precision_mean: Vec<E>,
}

impl<const D: usize, E: Real, Dev: Device<E>> GaussianModel<D, E, Dev> {
    /// A Gaussian with the given mean and covariance, its tensors on `dev`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParameter`] for a non-finite entry of `mean` or `cov` (named `mean[i]` or
    ///   `cov[i]`, flat row-major index);
    /// - [`Error::NotSymmetric`] when `cov[i][j]` and `cov[j][i]` differ by more than a relative
    ///   `1e-6` (the symmetric part is used otherwise);
    /// - [`Error::NotPositiveDefinite`] when `cov` has a non-positive eigenvalue (Cholesky breaks down).
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::GaussianModel;
    /// let dev = Cpu::default();
    /// let err = GaussianModel::new(&dev, [0.0f64, 0.0], [[1.0, 2.0], [2.0, 1.0]]).unwrap_err();
    /// assert!(matches!(err, Error::NotPositiveDefinite { pivot: 1, .. }));
    /// ```
    pub fn new(dev: &Dev, mean: [E; D], cov: [[E; D]; D]) -> Result<Self> {
        let flat: Vec<E> = cov.iter().flatten().copied().collect();
        Self::from_slices(dev, &mean, &flat)
    }

    /// Like [`GaussianModel::new`], from a mean slice of length `D` and a row-major covariance slice of
    /// length `D * D`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] for slices of the wrong length, and everything [`GaussianModel::new`]
    /// rejects.
    pub fn from_slices(dev: &Dev, mean: &[E], cov: &[E]) -> Result<Self> {
        if mean.len() != D {
            return Err(Error::LengthMismatch {
                name: "mean".into(),
                expected: D,
                actual: mean.len(),
                reason: format!("the model is {D}-dimensional"),
            });
        }
        if cov.len() != D * D {
            return Err(Error::LengthMismatch {
                name: "cov".into(),
                expected: D * D,
                actual: cov.len(),
                reason: format!("a {D}x{D} covariance, row-major"),
            });
        }
        let mean64: Vec<f64> = mean.iter().map(|v| v.as_f64()).collect();
        ebm_core::check::all_finite("mean", &mean64)?;
        let cov64: Vec<f64> = cov.iter().map(|v| v.as_f64()).collect();
        let sym = linalg::symmetric_part("cov", &cov64, D)?;
        let chol = linalg::cholesky("cov", &sym, D)?;
        let prec64 = linalg::inverse_from_cholesky(&chol, D);
        let precision: Vec<E> = prec64.iter().map(|&v| E::of(v)).collect();
        let precision_mean: Vec<E> = (0..D)
            .map(|i| E::of((0..D).map(|j| prec64[i * D + j] * mean64[j]).sum::<f64>()))
            .collect();
        let product = dense::without_negligible_entries(&prec64, D)?
            .iter()
            .map(|&v| E::of(v))
            .collect();
        let mean_t = dev.tensor_from_vec(mean.to_vec(), (Const::<D>,));
        let precision_t = dev.tensor_from_vec(precision.clone(), (Const::<D>, Const::<D>));
        Ok(Self {
            cov: sym.iter().map(|&v| E::of(v)).collect(),
            precision: precision.clone(),
            host: HostGaussian {
                mean: mean.to_vec(),
                precision,
                product,
                precision_mean,
            },
            mean_t,
            precision_t,
        })
    }

    /// The mean, length `D`.
    pub fn mean(&self) -> &[E] {
        &self.host.mean
    }

    /// The (symmetrised) covariance, row-major `D x D`.
    pub fn covariance(&self) -> &[E] {
        &self.cov
    }

    /// The precision `cov^-1`, row-major `D x D`.
    pub fn precision(&self) -> &[E] {
        &self.precision
    }

    fn centred<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Batch<D, E, Dev, T> {
        let shape = *x.shape();
        x - self.mean_t.clone().broadcast_like::<_, Axis<0>>(&shape)
    }
}

impl<const D: usize, E: Real, Dev: Device<E>> Energy<D, E, Dev> for GaussianModel<D, E, Dev> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        let diff = self.centred(x);
        let pd = diff.retaped::<T>().matmul(self.precision_t.clone());
        (pd * diff).sum::<(usize,), Axis<1>>() * E::of(0.5)
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        let diff = self.centred(x.clone());
        let grad = diff.clone().matmul(self.precision_t.clone());
        let energy = (grad.clone() * diff).sum::<(usize,), Axis<1>>() * E::of(0.5);
        (energy, grad)
    }

    fn gradient(&self, x: &Batch<D, E, Dev>) -> Batch<D, E, Dev> {
        self.centred(x.clone()).matmul(self.precision_t.clone())
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        let n = energy.len();
        if x.len() != n * D || grad.len() != n * D {
            return false;
        }
        if D <= SMALL_DIM {
            let (mean, prec) = (&self.host.mean, &self.host.precision);
            host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| {
                small_row(mean, prec, p, g)
            });
            return true;
        }
        // Blocks of rows over rayon's threads: every row is computed alike whatever the split.
        use rayon::prelude::*;
        let (rows, host) = (BLOCK_ROWS, &self.host);
        if n * D >= PARALLEL_MIN_ELEMENTS {
            x.par_chunks(rows * D)
                .zip(
                    grad.par_chunks_mut(rows * D)
                        .zip(energy.par_chunks_mut(rows)),
                )
                .for_each(|(xb, (gb, eb))| host.rows(xb, eb, gb, true));
        } else {
            host.rows(x, energy, grad, true);
        }
        true
    }

    fn row_energy(&self) -> Option<&dyn RowEnergy<E>> {
        Some(&self.host)
    }
}

/// One row of a small Gaussian: `g = P (x - m)` by rows of `P`, energy `(x - m) . g / 2`.
#[inline]
fn small_row<const D: usize, E: Real>(mean: &[E], prec: &[E], p: &[E; D], g: &mut [E; D]) -> E {
    let mut diff = [E::zero(); D];
    for ((d, &v), &m) in diff.iter_mut().zip(p).zip(mean) {
        *d = v - m;
    }
    let mut e = E::zero();
    for (i, gi) in g.iter_mut().enumerate() {
        let row = &prec[i * D..(i + 1) * D];
        *gi = row.iter().zip(&diff).map(|(&a, &b)| a * b).sum();
        e += diff[i] * *gi;
    }
    E::of(0.5) * e
}

impl<const D: usize, E: Real> HostGaussian<D, E> {
    /// The rows of `x` on the calling thread; without `energies`, only the gradients for large `D`.
    fn rows(&self, x: &[E], energy: &mut [E], grad: &mut [E], energies: bool) {
        if D <= SMALL_DIM {
            for (xr, (gr, e)) in x
                .chunks_exact(D)
                .zip(grad.chunks_exact_mut(D).zip(energy.iter_mut()))
            {
                let (p, g): (&[E; D], &mut [E; D]) = match (xr.try_into(), gr.try_into()) {
                    (Ok(p), Ok(g)) => (p, g),
                    _ => return,
                };
                *e = small_row(&self.mean, &self.precision, p, g);
            }
            return;
        }
        // grad = x P - (P m)^T.
        if dense::rows_times_matrix(x, &self.product, D, D, grad).is_err() {
            return;
        }
        let (mean, pm, half) = (&self.mean, &self.precision_mean, E::of(0.5));
        if !energies {
            for gr in grad.chunks_exact_mut(D) {
                gr.iter_mut().zip(pm).for_each(|(g, &q)| *g -= q);
            }
            return;
        }
        for (xr, (gr, e)) in x
            .chunks_exact(D)
            .zip(grad.chunks_exact_mut(D).zip(energy.iter_mut()))
        {
            gr.iter_mut().zip(pm).for_each(|(g, &q)| *g -= q);
            // Eight partial sums, so the dot product vectorises.
            let mut acc = [E::zero(); 8];
            let (xc, gc, mc) = (xr.chunks_exact(8), gr.chunks_exact(8), mean.chunks_exact(8));
            let (xt, gt, mt) = (xc.remainder(), gc.remainder(), mc.remainder());
            for ((xs, gs), ms) in xc.zip(gc).zip(mc) {
                for l in 0..8 {
                    acc[l] += (xs[l] - ms[l]) * gs[l];
                }
            }
            let mut total: E = acc.iter().copied().sum();
            for ((&v, &g), &m) in xt.iter().zip(gt).zip(mt) {
                total += (v - m) * g;
            }
            *e = half * total;
        }
    }
}

impl<const D: usize, E: Real> RowEnergy<E> for HostGaussian<D, E> {
    fn rows_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) {
        if x.len() == energy.len() * D && grad.len() == x.len() {
            self.rows(x, energy, grad, true);
        }
    }

    fn rows_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) {
        if x.len() == energy.len() * D && grad.len() == x.len() {
            self.rows(x, energy, grad, false);
        }
    }
}

/// Rows per block when the host path splits a large batch over threads.
const BLOCK_ROWS: usize = 64;

/// From this many coordinates on, the host path for large `D` splits the batch over threads.
const PARALLEL_MIN_ELEMENTS: usize = 16384;

/// Up to this dimension the host path loops over rows; above it, one matrix product per batch.
const SMALL_DIM: usize = 16;
