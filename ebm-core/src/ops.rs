//! Tensor helpers for writing energies.
//!
//! The published dfdx 0.13's `slice` writes its gradient instead of adding it, so an input that is
//! sliced twice, or sliced and also used elsewhere, gets a wrong gradient from autodiff (the dfdx this
//! workspace builds, `vendor/dfdx`, fixes it). These helpers are right with either: they pick columns
//! with a product by a constant 0/1 matrix, whose backward pass accumulates.

use crate::energy::{Batch, Energies};
use crate::real::Real;
use dfdx::prelude::*;

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
