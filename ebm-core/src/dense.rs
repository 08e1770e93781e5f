//! Dense products of a batch of rows with one matrix, `out = x B`, for the closed-form energies and
//! the mass matrices whose cost is one `(rows x k) (k x n)` product per evaluation.
//!
//! The kernel is `ebm_kernels`' (which the patched dfdx's CPU matrix products also use): every
//! entry is a chain of fused multiply-adds over `k` in order, starting from `+0`, so a row's result
//! does not depend on how many rows are multiplied at once, or on how a batch is split over
//! threads. Callers split large batches over threads by rows.

use crate::error::{Error, Result};
use crate::real::Real;

pub use ebm_kernels::has_fma_kernel;

/// `out = x B` for row-major `x` (`rows x k`), `b` (`k x n`) and `out` (`rows x n`), each entry
/// a chain of fused multiply-adds over `k` in order (see the [module documentation](self)).
///
/// # Errors
/// [`Error::LengthMismatch`] naming `b` unless it has `k * n` entries, `x` unless its length is a
/// multiple of `k`, or `out` unless it has `n` entries per row of `x`.
///
/// ```
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // two rows
/// let b = [1.0f32, 0.5, 0.0, 2.0]; // 2 x 2
/// let mut out = [0.0f32; 4];
/// ebm_core::dense::rows_times_matrix(&x, &b, 2, 2, &mut out)?;
/// assert_eq!(out, [1.0, 4.5, 3.0, 9.5]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn rows_times_matrix<E: Real>(
    x: &[E],
    b: &[E],
    k: usize,
    n: usize,
    out: &mut [E],
) -> Result<()> {
    ebm_kernels::rows_times_matrix(x, b, k, n, out).map_err(|e| Error::LengthMismatch {
        name: e.name.into(),
        expected: e.expected,
        actual: e.actual,
        reason: e.reason,
    })
}

/// Relative size below which [`without_negligible_entries`] drops an entry: `2^-100`.
pub const NEGLIGIBLE: f64 = 7.888_609_052_210_118e-31;

/// The symmetric matrix `a` (row-major `d x d`, in practice a precision or an inverse mass) with
/// every off-diagonal entry `a_ij` smaller in magnitude than `2^-100 sqrt(|a_ii a_jj|)` set to
/// zero, for use as the `b` of [`rows_times_matrix`].
///
/// Why: matrices whose inverse is banded or nearly so (a covariance with correlations decaying
/// along the coordinates) have entries that decay geometrically away from the diagonal, far below
/// the smallest normal `f32` (`1.2e-38`). As factors, and through the partial sums they start,
/// such entries make subnormal numbers, which many x86 processors handle in microcode at about a
/// hundred times the cost of an ordinary fused multiply-add: on a 100-D case this made products
/// twenty to forty times slower. The entries dropped move a product's entry by less than `2^-100`
/// of the scale of its terms (for `x` on the scale `a^-1` gives it), `2^-76` of a unit in the last
/// place of an `f32` result and `2^-47` of an `f64` one.
///
/// # Errors
/// [`Error::LengthMismatch`] naming `a` unless it has `d * d` entries.
///
/// ```
/// let a = [4.0, 1e-40, 1e-40, 1.0];
/// assert_eq!(ebm_core::dense::without_negligible_entries(&a, 2)?, vec![4.0, 0.0, 0.0, 1.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn without_negligible_entries(a: &[f64], d: usize) -> Result<Vec<f64>> {
    if a.len() != d * d {
        return Err(Error::LengthMismatch {
            name: "a".into(),
            expected: d * d,
            actual: a.len(),
            reason: format!("a {d} x {d} matrix, row-major"),
        });
    }
    let mut out = a.to_vec();
    for i in 0..d {
        for j in 0..d {
            let scale = (a[i * d + i] * a[j * d + j]).abs().sqrt();
            if i != j && a[i * d + j].abs() < NEGLIGIBLE * scale {
                out[i * d + j] = 0.0;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lengths_are_errors_naming_the_argument() {
        let mut out = [0.0f32; 4];
        let name = |e: Error| match e {
            Error::LengthMismatch { name, .. } => name,
            other => panic!("unexpected {other:?}"),
        };
        let e = rows_times_matrix(&[1.0f32; 4], &[1.0; 3], 2, 2, &mut out).unwrap_err();
        assert_eq!(name(e), "b");
        let e = rows_times_matrix(&[1.0f32; 5], &[1.0; 4], 2, 2, &mut out).unwrap_err();
        assert_eq!(name(e), "x");
        let e = rows_times_matrix(&[1.0f32; 2], &[1.0; 4], 2, 2, &mut out).unwrap_err();
        assert_eq!(name(e), "out");
        let e = rows_times_matrix(&[1.0f32; 2], &[], 0, 2, &mut out).unwrap_err();
        assert_eq!(name(e), "x");
    }
}
