//! Tensor helpers for writing energies.
//!
//! The published dfdx 0.13's `slice` writes its gradient instead of adding it, so an input that is
//! sliced twice, or sliced and also used elsewhere, gets a wrong gradient from autodiff (the dfdx this
//! workspace builds, `vendor/dfdx`, fixes it). These helpers are right with either: they pick columns
//! with a product by a constant 0/1 matrix, whose backward pass accumulates.

use crate::energy::{Batch, Energies};
use crate::real::Real;
use dfdx::prelude::*;

/// The activations of neural energies that dfdx's tensors lack, as methods: `x.softplus()`,
/// `x.silu()`, `x.swish(beta)`, element by element on a tensor of any shape, on any device, with or
/// without a tape. They sit next to dfdx's own `tanh`, `sigmoid`, `exp`, `ln`, `relu`, `square`,
/// `sum` and `logsumexp`, and are in [`crate::prelude`], so they read the same in an
/// [`#[energy]`](macro@crate::energy) body and in a hand-written [`Energy`](crate::Energy) impl.
///
/// Each is built from dfdx operations whose gradients autodiff already knows, so its gradient is
/// exact (checked against finite differences in `ebm-core/tests/activations.rs`).
///
/// ```
/// use ebm_core::prelude::*;
///
/// /// `E(x) = sum_j softplus(x_j) + silu(x_j)`.
/// #[energy]
/// fn smooth(x: Batch<2>) -> Energies {
///     (x.softplus() + x.silu()).sum::<_, Axis<1>>()
/// }
///
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.tensor_from_vec(vec![0.0, 0.0], (1, Const::<2>));
/// let (e, g) = Smooth::<f64>::new(&dev)?.energy_and_gradient(&x);
/// // softplus(0) = ln 2, silu(0) = 0; softplus'(0) = 1/2, silu'(0) = 1/2
/// assert!((e.as_vec()[0] - 2.0 * 2f64.ln()).abs() < 1e-15);
/// assert_eq!(g.as_vec(), vec![1.0, 1.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub trait Activations: Sized {
    /// The element type.
    type Elem;

    /// `softplus(x) = ln(1 + e^x)`, a smooth `relu`, with derivative `sigmoid(x)`.
    ///
    /// Computed as `max(x, 0) + ln(1 + e^(-|x|))`, which neither overflows for large `x` nor
    /// loses the derivative at `0` (it is `1/2` there). For very negative `x` the value has an
    /// absolute error of about one unit in the last place of `1` (`softplus(-30)` is `0` in `f32`),
    /// while the gradient keeps its relative accuracy.
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// let dev = Cpu::default();
    /// let x = dev.tensor([-1000.0f64, 0.0, 1000.0]);
    /// let y = x.softplus().array();
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - 2f64.ln()).abs() < 1e-15);
    /// assert_eq!(y[2], 1000.0);
    /// ```
    fn softplus(self) -> Self;

    /// `silu(x) = x * sigmoid(x)`, the sigmoid-weighted linear unit (`swish` with `beta = 1`).
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// let dev = Cpu::default();
    /// let y = dev.tensor([-2.0f64, 0.0, 3.0]).silu().array();
    /// for (y, x) in y.iter().zip([-2.0f64, 0.0, 3.0]) {
    ///     assert!((y - x / (1.0 + (-x).exp())).abs() < 1e-15);
    /// }
    /// ```
    fn silu(self) -> Self;

    /// `swish(x) = x * sigmoid(beta * x)`; `beta = 1` is [`silu`](Activations::silu). `beta` is a
    /// constant: no gradient is taken with respect to it.
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// let dev = Cpu::default();
    /// let y = dev.tensor([-2.0f64, 0.5]).swish(1.5).array();
    /// for (y, x) in y.iter().zip([-2.0f64, 0.5]) {
    ///     assert!((y - x / (1.0 + (-1.5 * x).exp())).abs() < 1e-15);
    /// }
    /// ```
    fn swish(self, beta: Self::Elem) -> Self;
}

impl<S: Shape, E: Real, Dev: Device<E>, T: Tape<E, Dev>> Activations for Tensor<S, E, Dev, T> {
    type Elem = E;

    fn softplus(self) -> Self {
        // `maximum` has derivative 1/2 at ties, so the derivative at 0 is 1/2 (`relu`'s is 0 there);
        // the tail's gradient reaches `x` on its own, so for very negative `x` it keeps its relative
        // accuracy instead of being added to 1/2 and cancelled.
        let zeros = self.device().zeros_like(self.shape());
        let tail = (self.retaped::<T>().abs().negate().exp() + E::one()).ln();
        self.maximum(zeros) + tail
    }

    fn silu(self) -> Self {
        let gate = self.retaped::<T>().sigmoid();
        self * gate
    }

    fn swish(self, beta: E) -> Self {
        let gate = (self.retaped::<T>() * beta).sigmoid();
        self * gate
    }
}

/// Columns `range` of a batch, shape `(n_chains, range.len())`, safe to use under autodiff together
/// with any other use of `x`.
///
/// # Panics
///
/// When `range` does not lie within `0..D`, like slice indexing.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_core::ops::columns;
/// let dev = Cpu::default();
/// let x: Batch<3> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, Const::<3>));
/// assert_eq!(columns(x, 1..3).as_vec(), vec![2.0, 3.0, 5.0, 6.0]);
/// ```
pub fn columns<const D: usize, E: Real, Dev: Device<E>, T: Tape<E, Dev>>(
    x: Batch<D, E, Dev, T>,
    range: std::ops::Range<usize>,
) -> Tensor<(usize, usize), E, Dev, T> {
    assert!(
        range.start <= range.end && range.end <= D,
        "column range {range:?} is not within 0..{D}"
    );
    let len = range.len();
    let mut pick = vec![E::zero(); D * len];
    for (j, col) in range.enumerate() {
        pick[col * len + j] = E::one();
    }
    let pick = x.device().tensor_from_vec(pick, (Const::<D>, len));
    x.matmul(pick)
}

/// Column `I` of a batch as one value per chain; `I >= D` does not compile.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_core::ops::column;
/// let dev = Cpu::default();
/// let x: Batch<2> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], (2, Const::<2>));
/// assert_eq!(column::<1, 2, _, _, _>(x).as_vec(), vec![2.0, 4.0]);
/// ```
pub fn column<const I: usize, const D: usize, E: Real, Dev: Device<E>, T: Tape<E, Dev>>(
    x: Batch<D, E, Dev, T>,
) -> Energies<E, Dev, T> {
    struct InRange<const I: usize, const D: usize>;
    impl<const I: usize, const D: usize> InRange<I, D> {
        const OK: () = assert!(I < D, "column index out of range");
    }
    #[allow(clippy::let_unit_value)]
    let () = InRange::<I, D>::OK;
    let mut pick = vec![E::zero(); D];
    pick[I] = E::one();
    let pick = x.device().tensor_from_vec(pick, (Const::<D>, Const::<1>));
    x.matmul(pick).sum::<(usize,), Axis<1>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::autodiff_energy_and_gradient;
    use crate::energy::Energy;

    /// `E = sum_i x_i x_{i+1}` through two overlapping column ranges.
    struct Chain;
    impl<E: Real, Dev: Device<E>> Energy<3, E, Dev> for Chain {
        fn energy<T: Tape<E, Dev>>(&self, x: Batch<3, E, Dev, T>) -> Energies<E, Dev, T> {
            let head = columns(x.retaped::<T>(), 0..2);
            let tail = columns(x, 1..3);
            (head * tail).sum::<(usize,), Axis<1>>()
        }
    }

    #[test]
    fn overlapping_columns_accumulate_gradients() {
        let dev = Cpu::default();
        let x: Batch<3, f64> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0], (1, Const::<3>));
        let (e, g) = autodiff_energy_and_gradient(&Chain, &x);
        assert_eq!(e.as_vec(), vec![8.0]);
        // d/dx0 = x1, d/dx1 = x0 + x2, d/dx2 = x1
        assert_eq!(g.as_vec(), vec![2.0, 4.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "not within")]
    fn out_of_range_columns_panic() {
        let dev = Cpu::default();
        let x: Batch<2, f64> = dev.zeros_like(&(1, Const::<2>));
        let _ = columns(x, 1..3);
    }
}
