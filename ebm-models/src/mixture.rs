//! Mixtures of isotropic Gaussian wells.

use ebm_core::energy::{host_rows, rows_closed_form};
use ebm_core::prelude::*;

/// A mixture of isotropic Gaussian wells: `E(x) = -log sum_k exp(-w_k |x - c_k|^2 / 2)`.
///
/// Each well `k` has a center `c_k` and a precision weight `w_k > 0` (its variance at temperature 1 is
/// `1 / w_k` per coordinate); the component masses are proportional to `w_k^(-D/2)`. The energy is
/// evaluated with a stable log-sum-exp; the closed-form gradient is
/// `sum_k r_k w_k (x - c_k)` with responsibilities `r_k = softmax_k(-w_k |x - c_k|^2 / 2)`.
///
/// [`GaussianMixture::four_modes`] is the guide's multimodal example.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianMixture;
/// let dev = Cpu::default();
/// let model = GaussianMixture::<2, f64>::new(&dev, vec![[0.0, 0.0], [3.0, 0.0]], vec![1.0, 1.0])?;
/// let x: Batch<2, f64> = dev.tensor_from_vec(vec![1.5, 0.0], (1, Const::<2>));
/// // Halfway between two equal wells the gradient vanishes.
/// assert!(model.gradient(&x).as_vec()[0].abs() < 1e-12);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GaussianMixture<const D: usize, E: Real = f32, Dev: Device<E> = Cpu> {
    centers: Vec<[E; D]>,
    weights: Vec<E>,
    centers_t: Tensor<(usize, Const<D>), E, Dev>,
    weights_t: Tensor<(usize,), E, Dev>,
}

impl<const D: usize, E: Real, Dev: Device<E>> GaussianMixture<D, E, Dev> {
    /// A mixture with the given centers and precision weights, its tensors on `dev`.
    ///
    /// # Errors
    /// - [`Error::InvalidParameter`] when there are no centers, a center coordinate is not finite
    ///   (named `centers[k][i]`), or a weight is not finite and greater than 0 (named `weights[k]`);
    /// - [`Error::LengthMismatch`] when `weights` and `centers` differ in length.
    pub fn new(dev: &Dev, centers: Vec<[E; D]>, weights: Vec<E>) -> Result<Self> {
        if centers.is_empty() {
            return Err(Error::invalid(
                "centers",
                "[]",
                "a mixture needs at least one center",
            ));
        }
        if weights.len() != centers.len() {
            return Err(Error::LengthMismatch {
                name: "weights".into(),
                expected: centers.len(),
                actual: weights.len(),
                reason: "one weight per center".into(),
            });
        }
        for (k, c) in centers.iter().enumerate() {
            for (i, v) in c.iter().enumerate() {
                if !v.is_finite() {
                    return Err(Error::invalid(
                        format!("centers[{k}][{i}]"),
                        v,
                        "must be finite",
                    ));
                }
            }
        }
        for (k, w) in weights.iter().enumerate() {
            ebm_core::check::positive(&format!("weights[{k}]"), w.as_f64())?;
        }
        let n = centers.len();
        let flat: Vec<E> = centers.iter().flatten().copied().collect();
        let centers_t = dev.tensor_from_vec(flat, (n, Const::<D>));
        let weights_t = dev.tensor_from_vec(weights.clone(), (n,));
        Ok(Self {
            centers,
            weights,
            centers_t,
            weights_t,
        })
    }

    /// The centers `c_k`.
    pub fn centers(&self) -> &[[E; D]] {
        &self.centers
    }

    /// The precision weights `w_k`.
    pub fn weights(&self) -> &[E] {
        &self.weights
    }
}

impl<E: Real, Dev: Device<E>> GaussianMixture<2, E, Dev> {
    /// The guide's four-mode landscape: centers `(-1.5, -1.5)`, `(1.5, 1.5)`, `(-1.5, 1.5)`,
    /// `(1.5, -1.5)` with weights `1, 1, 0.8, 0.8`.
    pub fn four_modes(dev: &Dev) -> Self {
        let c = E::of(1.5);
        Self::new(
            dev,
            vec![[-c, -c], [c, c], [-c, c], [c, -c]],
            vec![E::one(), E::one(), E::of(0.8), E::of(0.8)],
        )
        .expect("the four-mode parameters are valid")
    }
}

impl<const D: usize, E: Real, Dev: Device<E>> Energy<D, E, Dev> for GaussianMixture<D, E, Dev> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        let n = x.shape().0;
        let k = self.centers.len();
        let shape = (n, k, Const::<D>);
        let xb = x.broadcast_like::<_, Axis<1>>(&shape);
        let cb = self.centers_t.clone().broadcast_like::<_, Axis<0>>(&shape);
        let sq = (xb - cb).square().sum::<(usize, usize), Axis<2>>();
        let w = self.weights_t.clone().broadcast_like::<_, Axis<0>>(&(n, k));
        let logits = sq * w * E::of(-0.5);
        logits.logsumexp::<(usize,), Axis<1>>().negate()
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        let (c, w) = (&self.centers, &self.weights);
        rows_closed_form(x, |p: &[E; D], g: &mut [E; D]| mixture_row(c, w, p, g))
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        let (c, w) = (&self.centers, &self.weights);
        host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| {
            mixture_row(c, w, p, g)
        });
        true
    }
}

/// Energy of one point by a stable log-sum-exp; writes its gradient into `g` (zeroed).
fn mixture_row<const D: usize, E: Real>(
    centers: &[[E; D]],
    weights: &[E],
    p: &[E; D],
    g: &mut [E; D],
) -> E {
    let half = E::of(0.5);
    let logit = |c: &[E; D], w: E| {
        let d2: E = p.iter().zip(c).map(|(&a, &b)| (a - b) * (a - b)).sum();
        -half * w * d2
    };
    // Up to STACK_WELLS logits are kept on the stack; beyond that they are recomputed.
    let mut kept = [E::zero(); STACK_WELLS];
    let small = centers.len() <= STACK_WELLS;
    let mut top = E::neg_infinity();
    for (k, (c, &w)) in centers.iter().zip(weights).enumerate() {
        let l = logit(c, w);
        if small {
            kept[k] = l;
        }
        top = top.max(l);
    }
    let mut total = E::zero();
    for (k, (c, &w)) in centers.iter().zip(weights).enumerate() {
        let l = if small { kept[k] } else { logit(c, w) };
        let r = (l - top).exp();
        total += r;
        for ((gi, &a), &b) in g.iter_mut().zip(p).zip(c) {
            *gi += r * w * (a - b);
        }
    }
    g.iter_mut().for_each(|gi| *gi /= total);
    -(top + total.ln())
}

/// Mixtures with at most this many wells keep their logits on the stack.
const STACK_WELLS: usize = 8;
