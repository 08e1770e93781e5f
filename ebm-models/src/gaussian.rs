//! The multivariate Gaussian energy.

use ebm_core::energy::host_rows;
use ebm_core::linalg;
use ebm_core::prelude::*;

/// A multivariate Gaussian `N(mean, cov)` as an energy: `E(x) = (x - mean)^T P (x - mean) / 2` with
/// precision `P = cov^-1`.
///
/// At temperature 1 (a sampler with `noise_scale = 1`) the target density is exactly `N(mean, cov)`;
/// at temperature `T` it is `N(mean, T cov)`. The energy omits the normalising constant.
///
/// The constructor validates the covariance and stores the precision; energy and gradient are in
/// closed form (`grad = (x - mean) P`, one matrix product per batch), so no autodiff tape is built.
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
    mean: Vec<E>,
    cov: Vec<E>,
    precision: Vec<E>,
    /// `P m`, subtracted from `x P` by the host path for large `D`.
    precision_mean: Vec<E>,
    mean_t: Tensor<Rank1<D>, E, Dev>,
    precision_t: Tensor<Rank2<D, D>, E, Dev>,
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
        let mean_t = dev.tensor_from_vec(mean.to_vec(), (Const::<D>,));
        let precision_t = dev.tensor_from_vec(precision.clone(), (Const::<D>, Const::<D>));
        Ok(Self {
            mean: mean.to_vec(),
            cov: sym.iter().map(|&v| E::of(v)).collect(),
            precision,
            precision_mean,
            mean_t,
            precision_t,
        })
    }

    /// The mean, length `D`.
    pub fn mean(&self) -> &[E] {
        &self.mean
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
        let (mean, prec) = (&self.mean, &self.precision);
        let half = E::of(0.5);
        if D <= SMALL_DIM {
            host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| {
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
                half * e
            });
            return true;
        }
        // grad = x P - (P m)^T, one matrix product for the whole batch.
        let n = energy.len();
        // SAFETY: `x` is n x D and `grad` n x D, both row-major and contiguous; `prec` is D x D.
        unsafe {
            gemm::gemm(
                n,
                D,
                D,
                grad.as_mut_ptr(),
                1,
                D as isize,
                false,
                x.as_ptr(),
                1,
                D as isize,
                prec.as_ptr(),
                1,
                D as isize,
                E::zero(),
                E::one(),
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
        let pm = &self.precision_mean;
        let finish = |(xr, (gr, e)): (&[E], (&mut [E], &mut E))| {
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
        };
        // One block of rows per thread: the pass is memory-bound and short.
        use rayon::prelude::*;
        let rows = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
        x.par_chunks(rows * D)
            .zip(
                grad.par_chunks_mut(rows * D)
                    .zip(energy.par_chunks_mut(rows)),
            )
            .for_each(|(xb, (gb, eb))| {
                xb.chunks_exact(D)
                    .zip(gb.chunks_exact_mut(D).zip(eb.iter_mut()))
                    .for_each(finish)
            });
        true
    }
}

/// Up to this dimension the host path loops over rows; above it, one matrix product per batch.
const SMALL_DIM: usize = 16;
