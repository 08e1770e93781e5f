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

/// A matrix held in a slice with any strides: `rows x cols`, entry `(i, j)` at
/// `data[i * row_stride + j * col_stride]`. A row-major matrix has strides `(cols, 1)`; reading
/// it with strides `(1, cols)` as a `cols x rows` matrix gives its transpose without a copy.
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a, E> {
    /// The entries.
    pub data: &'a [E],
    /// The number of rows.
    pub rows: usize,
    /// The number of columns.
    pub cols: usize,
    /// `(row stride, column stride)`.
    pub strides: (usize, usize),
}

impl<'a, E> Strided<'a, E> {
    /// The row-major `rows x cols` matrix `data`.
    pub fn row_major(data: &'a [E], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            strides: (cols, 1),
        }
    }

    /// The transpose of the row-major `cols x rows` matrix `data`, as a `rows x cols` matrix.
    pub fn transpose_of(data: &'a [E], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            strides: (1, rows),
        }
    }

    /// Checks that every entry lies inside `data`.
    fn check(&self, name: &str) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Ok(());
        }
        let (rs, cs) = self.strides;
        let last = (self.rows - 1).checked_mul(rs).and_then(|r| {
            (self.cols - 1)
                .checked_mul(cs)
                .and_then(|c| r.checked_add(c))
        });
        match last {
            Some(i) if i < self.data.len() => Ok(()),
            _ => Err(Error::LengthMismatch {
                name: name.into(),
                expected: last.map_or(usize::MAX, |i| i.saturating_add(1)),
                actual: self.data.len(),
                reason: format!(
                    "a {} x {} matrix with strides {:?}",
                    self.rows, self.cols, self.strides
                ),
            }),
        }
    }
}

/// `out = a b`, or `out += a b` when `accumulate`, for a row-major `out` (`a.rows x b.cols`),
/// through the `gemm` crate on `threads` threads (1: the calling thread only). For the products
/// whose rounding need not match [`rows_times_matrix`]: the neural layers and the benchmark's
/// reference computations.
///
/// # Errors
/// [`Error::LengthMismatch`] naming `b` when `a.cols != b.rows`, `out` when it is shorter than
/// `a.rows * b.cols`, and `a` or `b` when an entry its shape and strides describe lies outside
/// its slice.
///
/// ```
/// use ebm_core::dense::{matmul_strided, Strided};
/// let a = [1.0f64, 2.0, 3.0, 4.0]; // 2 x 2
/// let mut out = [0.0; 4];
/// // a times its own transpose.
/// matmul_strided(&mut out, Strided::row_major(&a, 2, 2), Strided::transpose_of(&a, 2, 2), false, 1)?;
/// assert_eq!(out, [5.0, 11.0, 11.0, 25.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn matmul_strided<E: Real>(
    out: &mut [E],
    a: Strided<'_, E>,
    b: Strided<'_, E>,
    accumulate: bool,
    threads: usize,
) -> Result<()> {
    a.check("a")?;
    b.check("b")?;
    if a.cols != b.rows {
        return Err(Error::LengthMismatch {
            name: "b".into(),
            expected: a.cols,
            actual: b.rows,
            reason: "rows of b, to match the columns of a".into(),
        });
    }
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let needed = m.saturating_mul(n);
    if out.len() < needed {
        return Err(Error::LengthMismatch {
            name: "out".into(),
            expected: needed,
            actual: out.len(),
            reason: format!("a row-major {m} x {n} result"),
        });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (alpha, beta) = if accumulate {
        (E::one(), E::one())
    } else {
        (E::zero(), E::one())
    };
    // SAFETY: every entry the shapes and strides describe lies inside its slice (checked above),
    // `out` holds the row-major m x n result, and `k == 0` reads nothing.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.strides.1 as isize,
            a.strides.0 as isize,
            b.data.as_ptr(),
            b.strides.1 as isize,
            b.strides.0 as isize,
            alpha,
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
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

#[cfg(test)]
mod strided_tests {
    use super::*;

    /// The product entry by entry, in f64.
    fn naive(a: &Strided<'_, f64>, b: &Strided<'_, f64>) -> Vec<f64> {
        let at =
            |m: &Strided<'_, f64>, i: usize, j: usize| m.data[i * m.strides.0 + j * m.strides.1];
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|l| at(a, i, l) * at(b, l, j)).sum();
            }
        }
        out
    }

    #[test]
    fn strided_products_match_the_definition() {
        // Small integers: every product and sum is exact in f64, whatever the order.
        let x: Vec<f64> = (0..60).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let cases = [
            (
                Strided::row_major(&x[..12], 3, 4),
                Strided::row_major(&x[12..32], 4, 5),
            ),
            (
                Strided::row_major(&x[..12], 3, 4),
                Strided::transpose_of(&x[20..40], 4, 5),
            ),
            (
                Strided::transpose_of(&x[..12], 3, 4),
                Strided::row_major(&x[30..50], 4, 5),
            ),
        ];
        for (a, b) in cases {
            let want = naive(&a, &b);
            for threads in [1, 2] {
                let mut out = vec![0.0; 15];
                matmul_strided(&mut out, a, b, false, threads).unwrap();
                assert_eq!(out, want);
                // Accumulating adds the product to what is there.
                matmul_strided(&mut out, a, b, true, threads).unwrap();
                let twice: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
                assert_eq!(out, twice);
            }
        }
    }

    #[test]
    fn strided_products_reject_bad_shapes() {
        let x = [1.0f32; 12];
        let mut out = [0.0f32; 9];
        let err = |r: Result<()>| match r {
            Err(Error::LengthMismatch { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        let a = Strided::row_major(&x, 3, 4);
        assert_eq!(
            err(matmul_strided(
                &mut out,
                a,
                Strided::row_major(&x, 3, 3),
                false,
                1
            )),
            "b"
        );
        assert_eq!(
            err(matmul_strided(
                &mut out[..8],
                a,
                Strided::row_major(&x, 4, 3),
                false,
                1
            )),
            "out"
        );
        let outside = Strided {
            data: &x[..],
            rows: 3,
            cols: 4,
            strides: (5, 1),
        };
        assert_eq!(
            err(matmul_strided(
                &mut out,
                outside,
                Strided::row_major(&x, 4, 3),
                false,
                1
            )),
            "a"
        );
        let huge = Strided {
            data: &x[..],
            rows: 2,
            cols: 2,
            strides: (usize::MAX, 1),
        };
        assert_eq!(
            err(matmul_strided(
                &mut out,
                huge,
                Strided::row_major(&x, 2, 2),
                false,
                1
            )),
            "a"
        );
    }
}
