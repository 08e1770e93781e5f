//! Small dense symmetric positive-definite helpers in `f64`, for model constructors and for exact
//! moments in tests and examples. Matrices are row-major slices of length `d * d`.

use crate::error::{Error, Result};

/// Relative tolerance for accepting a matrix as symmetric.
pub const SYMMETRY_TOLERANCE: f64 = 1e-6;

/// Checks that the row-major `d x d` matrix `a` is finite and symmetric within
/// [`SYMMETRY_TOLERANCE`] (relative), and returns its symmetric part.
///
/// # Errors
/// [`Error::InvalidParameter`] for a non-finite entry (named `name[i]`, flat index),
/// [`Error::NotSymmetric`] for a mismatched pair.
///
/// ```
/// let s = ebm_core::linalg::symmetric_part("a", &[1.0, 2.0, 2.0, 5.0], 2)?;
/// assert_eq!(s, vec![1.0, 2.0, 2.0, 5.0]);
/// assert!(ebm_core::linalg::symmetric_part("a", &[1.0, 2.0, 3.0, 5.0], 2).is_err());
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn symmetric_part(name: &str, a: &[f64], d: usize) -> Result<Vec<f64>> {
    crate::check::all_finite(name, a)?;
    let mut s = a.to_vec();
    for i in 0..d {
        for j in (i + 1)..d {
            let (u, l) = (a[i * d + j], a[j * d + i]);
            let scale = u.abs().max(l.abs());
            let rel = if scale > 0.0 {
                (u - l).abs() / scale
            } else {
                0.0
            };
            if rel > SYMMETRY_TOLERANCE {
                return Err(Error::NotSymmetric {
                    name: name.to_string(),
                    row: i,
                    col: j,
                    upper: u,
                    lower: l,
                    relative_difference: rel,
                    tolerance: SYMMETRY_TOLERANCE,
                });
            }
            let m = 0.5 * (u + l);
            s[i * d + j] = m;
            s[j * d + i] = m;
        }
    }
    Ok(s)
}

/// The lower Cholesky factor of the symmetric `d x d` matrix `a` (row-major), or
/// [`Error::NotPositiveDefinite`] naming the pivot where it breaks down (a pivot at or below
/// `1e-14` times its diagonal entry counts as a breakdown, so numerically singular matrices are caught).
///
/// ```
/// let l = ebm_core::linalg::cholesky("a", &[4.0, 2.0, 2.0, 5.0], 2)?;
/// assert_eq!(l, vec![2.0, 0.0, 1.0, 2.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn cholesky(name: &str, a: &[f64], d: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= l[j * d + k] * l[j * d + k];
        }
        // Relative to the original diagonal, so a numerically singular matrix is caught too.
        let floor = a[j * d + j].abs() * 1e-14;
        if diag.is_nan() || diag <= floor || !diag.is_finite() {
            return Err(Error::NotPositiveDefinite {
                name: name.to_string(),
                pivot: j,
                value: diag,
                size: j + 1,
            });
        }
        let ljj = diag.sqrt();
        l[j * d + j] = ljj;
        for i in (j + 1)..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = v / ljj;
        }
    }
    Ok(l)
}

/// The inverse of `L L^T` from its lower Cholesky factor `l` (row-major, `d x d`), symmetrised.
///
/// ```
/// use ebm_core::linalg::{cholesky, inverse_from_cholesky};
/// let inv = inverse_from_cholesky(&cholesky("a", &[4.0, 0.0, 0.0, 16.0], 2)?, 2);
/// assert_eq!(inv, vec![0.25, 0.0, 0.0, 0.0625]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub fn inverse_from_cholesky(l: &[f64], d: usize) -> Vec<f64> {
    // Solve L L^T X = I column by column.
    let mut inv = vec![0.0; d * d];
    let mut y = vec![0.0; d];
    for c in 0..d {
        for i in 0..d {
            let mut v = if i == c { 1.0 } else { 0.0 };
            for k in 0..i {
                v -= l[i * d + k] * y[k];
            }
            y[i] = v / l[i * d + i];
        }
        for i in (0..d).rev() {
            let mut v = y[i];
            for k in (i + 1)..d {
                v -= l[k * d + i] * inv[k * d + c];
            }
            inv[i * d + c] = v / l[i * d + i];
        }
    }
    // Symmetrise away rounding.
    for i in 0..d {
        for j in (i + 1)..d {
            let m = 0.5 * (inv[i * d + j] + inv[j * d + i]);
            inv[i * d + j] = m;
            inv[j * d + i] = m;
        }
    }
    inv
}

/// The inverse of a symmetric positive-definite matrix, through [`symmetric_part`] and [`cholesky`].
///
/// # Errors
/// As [`symmetric_part`] and [`cholesky`].
pub fn spd_inverse(name: &str, a: &[f64], d: usize) -> Result<Vec<f64>> {
    let s = symmetric_part(name, a, d)?;
    Ok(inverse_from_cholesky(&cholesky(name, &s, d)?, d))
}

/// Replaces each off-diagonal pair of the `d x d` matrix `m` by its mean (rounding leaves products
/// and sums of symmetric matrices slightly asymmetric).
pub fn symmetrise(m: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = v;
            m[j * d + i] = v;
        }
    }
}

/// The transpose of the row-major `d x d` matrix `a`.
pub fn transposed(a: &[f64], d: usize) -> Vec<f64> {
    (0..d * d).map(|k| a[(k % d) * d + k / d]).collect()
}

/// `a b` for row-major `d x d` matrices.
pub fn mat_mul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for (o, bkj) in out[i * d..(i + 1) * d]
                .iter_mut()
                .zip(&b[k * d..(k + 1) * d])
            {
                *o += aik * bkj;
            }
        }
    }
    out
}

/// The inverse of the lower-triangular `l` (row-major `d x d`), by forward substitution.
pub fn lower_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut w = vec![0.0; d * d];
    for c in 0..d {
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * d + k] * w[k * d + c];
            }
            w[i * d + c] = s / l[i * d + i];
        }
    }
    w
}

/// The symmetric positive-definite square root of `c` by the Denman-Beavers iteration
/// (`Y <- (Y + Z^-1) / 2`, `Z <- (Z + Y^-1) / 2` from `Y = c`, `Z = I`; `Y` tends to `c^(1/2)`),
/// run on `c` scaled to unit mean eigenvalue.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] naming `name` when `c` is not symmetric positive definite.
pub fn spd_sqrt(name: &str, c: &[f64], d: usize) -> Result<Vec<f64>> {
    let scale = (0..d).map(|i| c[i * d + i]).sum::<f64>() / d as f64;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::NotPositiveDefinite {
            name: name.into(),
            pivot: 0,
            value: scale,
            size: d,
        });
    }
    let mut y: Vec<f64> = c.iter().map(|v| v / scale).collect();
    let mut z = vec![0.0; d * d];
    (0..d).for_each(|i| z[i * d + i] = 1.0);
    // Quadratic convergence: a few tens of iterations at most from the scaled start. Stop once the
    // iterate moves by less than 1e-12 of its size, or stops moving less (rounding).
    let mut last_change = f64::INFINITY;
    for _ in 0..60 {
        let yi = spd_inverse(name, &y, d)?;
        let zi = spd_inverse(name, &z, d)?;
        let mut y1: Vec<f64> = y.iter().zip(&zi).map(|(a, b)| 0.5 * (a + b)).collect();
        let mut z1: Vec<f64> = z.iter().zip(&yi).map(|(a, b)| 0.5 * (a + b)).collect();
        symmetrise(&mut y1, d);
        symmetrise(&mut z1, d);
        let change: f64 = y1.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum();
        let size: f64 = y1.iter().map(|a| a * a).sum();
        if change >= last_change {
            // Rounding has taken over: keep the last iterate that still improved.
            break;
        }
        y = y1;
        z = z1;
        if change <= 1e-24 * size {
            break;
        }
        last_change = change;
    }
    let root = scale.sqrt();
    Ok(y.iter().map(|v| v * root).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let l = cholesky("a", &a, 3).unwrap();
        let inv = inverse_from_cholesky(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                let expect = if i == j { 1.0 } else { 0.0 };
                assert!((v - expect).abs() < 1e-12, "({i},{j}) = {v}");
            }
        }
    }

    #[test]
    fn cholesky_reports_the_failing_pivot() {
        // Leading 1x1 block is fine, the 2x2 block has determinant 1 - 4 < 0.
        let a = [1.0, 2.0, 2.0, 1.0];
        match cholesky("cov", &a, 2) {
            Err(Error::NotPositiveDefinite { pivot, size, .. }) => {
                assert_eq!((pivot, size), (1, 2));
            }
            other => panic!("expected NotPositiveDefinite, got {other:?}"),
        }
    }
}
