//! HMC mass matrices.

use ebm_core::prelude::*;
use ebm_core::{check, dense, linalg};

/// The leapfrog step size: one for the whole batch, or one per chain.
#[derive(Clone, Copy)]
pub(crate) enum Step<'a, E> {
    Uniform(E),
    PerChain(&'a [E]),
}

/// The mass matrix `M` of Hamiltonian Monte Carlo: momenta are drawn from `N(0, M)` and the kinetic
/// energy is `p^T M^-1 p / 2`. A mass close to the target's precision evens out the scales the
/// integrator sees.
#[derive(Debug, Clone, PartialEq)]
pub enum MassMatrix {
    /// `M = I`.
    Identity,
    /// `M = m I` with `m > 0`.
    Scalar(f64),
    /// `M = diag(m)` with every `m_i > 0`; length `D`.
    Diagonal(Vec<f64>),
    /// A dense symmetric positive-definite `M`, row-major `D x D`.
    Dense(Vec<f64>),
}

impl MassMatrix {
    /// Checks the entries (finite, positive, with a finite inverse: symmetric positive definite
    /// as applicable).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `mass` or `mass[i]`, [`Error::NotSymmetric`] or
    /// [`Error::NotPositiveDefinite`].
    pub fn validate(&self) -> Result<()> {
        match self {
            MassMatrix::Identity => Ok(()),
            MassMatrix::Scalar(m) => {
                check::positive("mass", *m)?;
                invertible::<f64>("mass", *m)
            }
            MassMatrix::Diagonal(m) => {
                if m.is_empty() {
                    return Err(Error::invalid(
                        "mass",
                        "[]",
                        "a diagonal mass needs entries",
                    ));
                }
                for (i, &v) in m.iter().enumerate() {
                    check::positive(&format!("mass[{i}]"), v)?;
                    invertible::<f64>(&format!("mass[{i}]"), v)?;
                }
                Ok(())
            }
            MassMatrix::Dense(m) => {
                let d = (m.len() as f64).sqrt().round() as usize;
                if d == 0 || d * d != m.len() {
                    return Err(Error::invalid(
                        "mass",
                        format!("a slice of length {}", m.len()),
                        "a dense mass must be square (length D * D)",
                    ));
                }
                linalg::spd_inverse("mass", m, d).map(|_| ())
            }
        }
    }

    /// The prepared form for dimension `d` and element type `E`.
    pub(crate) fn prepare<E: Real>(&self, d: usize) -> Result<PreparedMass<E>> {
        let length = |expected: usize, actual: usize| Error::LengthMismatch {
            name: "mass".into(),
            expected,
            actual,
            reason: format!("the model is {d}-dimensional"),
        };
        // Entries fine in f64 may not be in f32: 1e-39 is subnormal, its inverse overflows.
        match self {
            MassMatrix::Scalar(m) => invertible::<E>("mass", *m)?,
            MassMatrix::Diagonal(m) => {
                for (i, &v) in m.iter().enumerate() {
                    invertible::<E>(&format!("mass[{i}]"), v)?;
                }
            }
            _ => {}
        }
        Ok(match self {
            MassMatrix::Identity => PreparedMass::Identity,
            MassMatrix::Scalar(m) => PreparedMass::Scalar {
                inv: E::of(1.0 / m),
                sqrt: E::of(m.sqrt()),
                inv64: 1.0 / m,
            },
            MassMatrix::Diagonal(m) => {
                if m.len() != d {
                    return Err(length(d, m.len()));
                }
                PreparedMass::Diagonal {
                    inv: m.iter().map(|v| E::of(1.0 / v)).collect(),
                    sqrt: m.iter().map(|v| E::of(v.sqrt())).collect(),
                }
            }
            MassMatrix::Dense(m) => {
                if m.len() != d * d {
                    return Err(length(d * d, m.len()));
                }
                let sym = linalg::symmetric_part("mass", m, d)?;
                let chol = linalg::cholesky("mass", &sym, d)?;
                let inv = linalg::inverse_from_cholesky(&chol, d);
                // The products (momentum, drift, velocity, kinetic energy) leave out entries below
                // 2^-100 of their diagonal scale: they cannot move a result, and as f32 they are subnormal
                // numbers, which some processors handle a hundred times slower (see
                // `ebm_core::dense::without_negligible_entries`).
                let chol = dense::without_negligible_entries(&chol, d)?;
                let inv = dense::without_negligible_entries(&inv, d)?;
                PreparedMass::Dense {
                    inv: inv.iter().map(|&v| E::of(v)).collect(),
                    chol_t: (0..d * d)
                        .map(|k| E::of(chol[(k % d) * d + k / d]))
                        .collect(),
                }
            }
        })
    }
}

/// Checks that a mass entry `m`, its inverse and their square roots are finite and non-zero in
/// `E` (every transition would diverge otherwise), naming the entry.
fn invertible<E: Real>(name: &str, m: f64) -> Result<()> {
    let values = [m, 1.0 / m, m.sqrt(), 1.0 / m.sqrt()];
    if values.iter().all(|&v| {
        let e = E::of(v);
        e.is_finite() && e.as_f64() != 0.0 && e.as_f64().is_normal()
    }) {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            m,
            format!(
                "its inverse or square root is not a finite normal number in {}",
                std::any::type_name::<E>()
            ),
        ))
    }
}

/// A mass matrix ready for one dimension and element type.
#[derive(Debug, Clone)]
pub(crate) enum PreparedMass<E> {
    Identity,
    Scalar {
        inv: E,
        sqrt: E,
        inv64: f64,
    },
    Diagonal {
        inv: Vec<E>,
        sqrt: Vec<E>,
    },
    /// `inv = M^-1` (exactly symmetric) and `chol_t` the transpose of the lower Cholesky factor
    /// `L` of `M`, each less its negligible entries, row-major.
    Dense {
        inv: Vec<E>,
        chol_t: Vec<E>,
    },
}

/// Rows per dense product: the products' results for this many rows stay in the first-level
/// cache, and the scratch they need is small enough to take from the allocator's pool.
const PRODUCT_ROWS: usize = 32;

/// `out = p B` for rows of length `d` and the `d x d` matrix `b`, row by row (see
/// [`dense::rows_times_matrix`]: each entry is a chain of fused multiply-adds, so a row's result does
/// not depend on the rows around it).
fn rows_times<E: Real>(p: &[E], b: &[E], d: usize, out: &mut [E]) {
    // The lengths are the mass's own (`d * d`) and whole rows of `d`, checked by the callers.
    if let Err(e) = dense::rows_times_matrix(p, b, d, d, out) {
        unreachable!("dense mass product with inconsistent lengths: {e}");
    }
}

/// `0.5 * sum_i p_i v_i` in `f64`, in the order of `i`, for every row of `p` and `v` (rows of length
/// `d`), eight rows at a time so that the sums' additions overlap instead of waiting on each other.
fn half_dots<E: Real>(p: &[E], v: &[E], d: usize, out: &mut [f64]) {
    const L: usize = 8;
    let mut groups = p
        .chunks_exact(L * d)
        .zip(v.chunks_exact(L * d))
        .zip(out.chunks_exact_mut(L));
    for ((p, v), o) in &mut groups {
        let mut acc = [0.0f64; L];
        for i in 0..d {
            for (l, a) in acc.iter_mut().enumerate() {
                *a += p[l * d + i].as_f64() * v[l * d + i].as_f64();
            }
        }
        for (o, a) in o.iter_mut().zip(acc) {
            *o = 0.5 * a;
        }
    }
    let done = out.len() / L * L;
    for ((p, v), o) in p[done * d..]
        .chunks_exact(d)
        .zip(v[done * d..].chunks_exact(d))
        .zip(&mut out[done..])
    {
        let mut acc = 0.0f64;
        for (a, b) in p.iter().zip(v) {
            acc += a.as_f64() * b.as_f64();
        }
        *o = 0.5 * acc;
    }
}

impl<E: Real> PreparedMass<E> {
    /// Turns standard normals `z` (one row) into a momentum `p ~ N(0, M)` in place: `p = L z`.
    pub fn momentum(&self, z: &mut [E]) {
        let d = z.len();
        self.momentum_rows(z, d);
    }

    /// [`PreparedMass::momentum`] of every row of `z` (rows of length `d`), in place; each row's
    /// result is the one [`PreparedMass::momentum`] gives it.
    pub fn momentum_rows(&self, z: &mut [E], d: usize) {
        match self {
            PreparedMass::Identity => {}
            PreparedMass::Scalar { sqrt, .. } => z.iter_mut().for_each(|v| *v *= *sqrt),
            PreparedMass::Diagonal { sqrt, .. } => {
                for row in z.chunks_exact_mut(d.max(1)) {
                    row.iter_mut().zip(sqrt).for_each(|(v, s)| *v *= *s);
                }
            }
            PreparedMass::Dense { chol_t, .. } => {
                // z_i <- sum_j L_ij z_j = (z L^T)_i, a row times the transposed factor (whose
                // zeros below the diagonal add nothing).
                if d == 0 {
                    return;
                }
                let mut out = vec![E::zero(); PRODUCT_ROWS.min(z.len() / d) * d];
                for rows in z.chunks_mut(PRODUCT_ROWS * d) {
                    let out = &mut out[..rows.len()];
                    rows_times(rows, chol_t, d, out);
                    rows.copy_from_slice(out);
                }
            }
        }
    }

    /// The factor `s` with which [`PreparedMass::drift_batch`] moves every coordinate, `x += s p`,
    /// when it is one number (identity and scalar masses).
    pub fn uniform_drift(&self, eps: E) -> Option<E> {
        match self {
            PreparedMass::Identity => Some(eps),
            PreparedMass::Scalar { inv, .. } => Some(eps * *inv),
            _ => None,
        }
    }

    /// `x += eps * M^-1 p` for a whole batch of rows of length `d`, with one step size for all rows
    /// or one per row; each row moves as [`PreparedMass::drift`] moves it.
    pub fn drift_batch(&self, x: &mut [E], p: &[E], eps: Step<'_, E>, d: usize) {
        if d == 0 {
            return;
        }
        let eps_of = |r: usize| match eps {
            Step::Uniform(e) => e,
            Step::PerChain(e) => e[r],
        };
        match self {
            PreparedMass::Identity | PreparedMass::Scalar { .. } => {
                if let Step::Uniform(eps) = eps {
                    let s = self.uniform_drift(eps).unwrap_or(eps);
                    use rayon::prelude::*;
                    let body = |(x, p): (&mut [E], &[E])| {
                        x.iter_mut().zip(p).for_each(|(x, &p)| *x += s * p)
                    };
                    if x.len() >= 4 * crate::chain::streams::PARALLEL_MIN_ELEMENTS {
                        let chunk = x.len().div_ceil(rayon::current_num_threads().max(1));
                        x.par_chunks_mut(chunk)
                            .zip(p.par_chunks(chunk))
                            .for_each(body);
                    } else {
                        body((x, p));
                    }
                } else {
                    for (r, (xr, pr)) in x.chunks_exact_mut(d).zip(p.chunks_exact(d)).enumerate() {
                        self.drift(xr, pr, eps_of(r));
                    }
                }
            }
            PreparedMass::Diagonal { inv, .. } => {
                for (r, (xr, pr)) in x.chunks_exact_mut(d).zip(p.chunks_exact(d)).enumerate() {
                    let e = eps_of(r);
                    xr.iter_mut()
                        .zip(pr)
                        .zip(inv)
                        .for_each(|((x, &p), &m)| *x += e * m * p);
                }
            }
            PreparedMass::Dense { inv, .. } => {
                // v = M^-1 p for a few rows at a time (M^-1 is symmetric: the row p times it),
                // then x += eps v.
                let mut v = vec![E::zero(); PRODUCT_ROWS.min(p.len() / d) * d];
                for (b, (xs, ps)) in x
                    .chunks_mut(PRODUCT_ROWS * d)
                    .zip(p.chunks(PRODUCT_ROWS * d))
                    .enumerate()
                {
                    let v = &mut v[..ps.len()];
                    rows_times(ps, inv, d, v);
                    for (r, (xr, vr)) in xs.chunks_exact_mut(d).zip(v.chunks_exact(d)).enumerate() {
                        let e = eps_of(b * PRODUCT_ROWS + r);
                        xr.iter_mut().zip(vr).for_each(|(x, &v)| *x += e * v);
                    }
                }
            }
        }
    }

    /// `out = M^-1 p` for one row, in `f64` (the velocity that the No-U-Turn criterion dots with
    /// the summed momenta).
    #[inline]
    pub fn velocity(&self, p: &[E], out: &mut [f64]) {
        match self {
            PreparedMass::Identity => out.iter_mut().zip(p).for_each(|(o, v)| *o = v.as_f64()),
            PreparedMass::Scalar { inv64, .. } => out
                .iter_mut()
                .zip(p)
                .for_each(|(o, v)| *o = inv64 * v.as_f64()),
            PreparedMass::Diagonal { inv, .. } => out
                .iter_mut()
                .zip(p)
                .zip(inv)
                .for_each(|((o, v), m)| *o = m.as_f64() * v.as_f64()),
            PreparedMass::Dense { inv, .. } => {
                // The drift's product, so that the velocity is the one the positions move with.
                let d = p.len();
                let mut v = vec![E::zero(); d];
                if d > 0 {
                    rows_times(p, inv, d, &mut v);
                }
                out.iter_mut().zip(v).for_each(|(o, v)| *o = v.as_f64());
            }
        }
    }

    /// For a mass that is not dense, its inverse per coordinate (`d` of them), as `E` (the drift's
    /// factor) and as `f64` (the velocity's): with them, `x += (eps m_i^-1) p_i` and
    /// `v_i = m_i^-1 p_i` give the values of [`PreparedMass::drift`] and
    /// [`PreparedMass::velocity`] to the last bit. `None` for a dense mass.
    pub fn diagonal_inverse(&self, d: usize) -> Option<(Vec<E>, Vec<f64>)> {
        match self {
            PreparedMass::Identity => Some((vec![E::one(); d], vec![1.0; d])),
            PreparedMass::Scalar { inv, inv64, .. } => Some((vec![*inv; d], vec![*inv64; d])),
            PreparedMass::Diagonal { inv, .. } => {
                Some((inv.clone(), inv.iter().map(|m| m.as_f64()).collect()))
            }
            PreparedMass::Dense { .. } => None,
        }
    }

    /// [`PreparedMass::velocity`] of every row of `p` (rows of length `d`) into `out`, each row's
    /// result the one [`PreparedMass::velocity`] gives it; a dense mass multiplies a few rows at a
    /// time.
    pub fn velocity_rows(&self, p: &[E], d: usize, out: &mut [f64]) {
        if d == 0 {
            return;
        }
        match self {
            PreparedMass::Dense { inv, .. } => {
                let mut v = vec![E::zero(); PRODUCT_ROWS.min(p.len() / d) * d];
                for (ps, o) in p
                    .chunks(PRODUCT_ROWS * d)
                    .zip(out.chunks_mut(PRODUCT_ROWS * d))
                {
                    let v = &mut v[..ps.len()];
                    rows_times(ps, inv, d, v);
                    o.iter_mut()
                        .zip(v.iter())
                        .for_each(|(o, v)| *o = v.as_f64());
                }
            }
            _ => {
                for (row, o) in p.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                    self.velocity(row, o);
                }
            }
        }
    }

    /// `x += eps * M^-1 p` for one row.
    #[inline]
    pub fn drift(&self, x: &mut [E], p: &[E], eps: E) {
        match self {
            PreparedMass::Identity => x.iter_mut().zip(p).for_each(|(x, &p)| *x += eps * p),
            PreparedMass::Scalar { inv, .. } => {
                let s = eps * *inv;
                x.iter_mut().zip(p).for_each(|(x, &p)| *x += s * p)
            }
            PreparedMass::Diagonal { inv, .. } => x
                .iter_mut()
                .zip(p)
                .zip(inv)
                .for_each(|((x, &p), &m)| *x += eps * m * p),
            PreparedMass::Dense { .. } => self.drift_batch(x, p, Step::Uniform(eps), x.len()),
        }
    }

    /// [`PreparedMass::kinetic`] of every row of `p` (rows of length `d`) into `out`: the same
    /// sums in the same order, eight chains at a time so that the sums' additions overlap instead of
    /// waiting on each other (a dense mass's products a few rows at a time first).
    pub fn kinetic_rows(&self, p: &[E], d: usize, out: &mut [f64]) {
        const L: usize = 8;
        if d == 0 {
            out.iter_mut().for_each(|o| *o = self.kinetic(&[]));
            return;
        }
        if let PreparedMass::Dense { inv, .. } = self {
            let mut v = vec![E::zero(); PRODUCT_ROWS.min(p.len() / d) * d];
            for (ps, o) in p.chunks(PRODUCT_ROWS * d).zip(out.chunks_mut(PRODUCT_ROWS)) {
                let v = &mut v[..ps.len()];
                rows_times(ps, inv, d, v);
                half_dots(ps, v, d, o);
            }
            return;
        }
        let mut groups = p.chunks_exact(L * d).zip(out.chunks_exact_mut(L));
        for (rows, o) in &mut groups {
            let mut acc = [0.0f64; L];
            let at = |l: usize, i: usize| rows[l * d + i].as_f64();
            match self {
                PreparedMass::Diagonal { inv, .. } => {
                    for (i, m) in inv.iter().enumerate() {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a += at(l, i) * at(l, i) * m.as_f64();
                        }
                    }
                }
                _ => {
                    for i in 0..d {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a += at(l, i) * at(l, i);
                        }
                    }
                }
            }
            for (o, a) in o.iter_mut().zip(acc) {
                *o = match self {
                    PreparedMass::Scalar { inv64, .. } => 0.5 * inv64 * a,
                    _ => 0.5 * a,
                };
            }
        }
        let done = out.len() / L * L;
        for (row, o) in p[done * d..].chunks_exact(d).zip(&mut out[done..]) {
            *o = self.kinetic(row);
        }
    }

    /// The kinetic energy `p^T M^-1 p / 2` of one row, in `f64`. For a dense mass, `v = M^-1 p`
    /// is one row times `M^-1` in the element type (as the drift computes it), and `p . v / 2` is
    /// summed in `f64`.
    #[inline]
    pub fn kinetic(&self, p: &[E]) -> f64 {
        let sq = |p: &[E]| p.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>();
        match self {
            PreparedMass::Identity => 0.5 * sq(p),
            PreparedMass::Scalar { inv64, .. } => 0.5 * inv64 * sq(p),
            PreparedMass::Diagonal { inv, .. } => {
                0.5 * p
                    .iter()
                    .zip(inv)
                    .map(|(v, m)| v.as_f64() * v.as_f64() * m.as_f64())
                    .sum::<f64>()
            }
            PreparedMass::Dense { .. } if p.is_empty() => 0.0,
            PreparedMass::Dense { .. } => {
                let mut out = [0.0];
                self.kinetic_rows(p, p.len(), &mut out);
                out[0]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100-D mass with entries decaying away from the diagonal: more than one chunk of outputs.
    fn mass() -> (Vec<f64>, usize) {
        let d = 100;
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] =
                    0.4f64.powi((i as i32 - j as i32).abs()) + if i == j { 0.7 } else { 0.0 };
            }
        }
        (m, d)
    }

    #[test]
    fn dense_products_are_row_products_and_close_to_f64() {
        let (m, d) = mass();
        let prepared = MassMatrix::Dense(m.clone()).prepare::<f32>(d).unwrap();
        let sym = linalg::symmetric_part("mass", &m, d).unwrap();
        let l64 = linalg::cholesky("mass", &sym, d).unwrap();
        let inv64 = linalg::inverse_from_cholesky(&l64, d);
        // The products use the factors less their negligible entries, as f32.
        let cut = |a: &[f64]| -> Vec<f32> {
            dense::without_negligible_entries(a, d)
                .unwrap()
                .iter()
                .map(|&v| v as f32)
                .collect()
        };
        let l_t: Vec<f32> = {
            let l = cut(&l64);
            (0..d * d).map(|k| l[(k % d) * d + k / d]).collect()
        };
        let inv = cut(&inv64);
        let z: Vec<f32> = (0..d).map(|i| (0.37 * i as f32).sin() * 1.3).collect();
        // p = L z: the row z times L^T, as the product kernel computes it...
        let mut want_p = vec![0.0f32; d];
        dense::rows_times_matrix(&z, &l_t, d, d, &mut want_p).unwrap();
        let mut p = z.clone();
        prepared.momentum(&mut p);
        assert_eq!(p, want_p);
        // ... and within f32 rounding of the exact product.
        for i in 0..d {
            let exact: f64 = (0..=i).map(|j| l64[i * d + j] * z[j] as f64).sum();
            assert!(
                (p[i] as f64 - exact).abs() < 1e-5 * (1.0 + exact.abs()),
                "p[{i}]"
            );
        }
        // Several rows at once give each row's own result.
        let mut zz = [z.clone(), z.iter().map(|v| -0.5 * v).collect(), z.clone()].concat();
        prepared.momentum_rows(&mut zz, d);
        let mut second: Vec<f32> = z.iter().map(|v| -0.5 * v).collect();
        prepared.momentum(&mut second);
        assert_eq!(zz, [p.clone(), second, p.clone()].concat());

        // x += eps M^-1 p, with M^-1 p the row p times M^-1.
        let x0: Vec<f32> = (0..d).map(|i| (0.11 * i as f32).cos()).collect();
        let mut v = vec![0.0f32; d];
        dense::rows_times_matrix(&p, &inv, d, d, &mut v).unwrap();
        let want_x: Vec<f32> = x0.iter().zip(&v).map(|(x, v)| x + 0.1 * v).collect();
        let mut x = x0.clone();
        prepared.drift(&mut x, &p, 0.1);
        assert_eq!(x, want_x);
        for i in 0..d {
            let exact: f64 = (0..d).map(|j| inv64[i * d + j] * p[j] as f64).sum();
            let moved = (x[i] - x0[i]) as f64;
            assert!(
                (moved - 0.1 * exact).abs() < 1e-5 * (1.0 + exact.abs()),
                "x[{i}]"
            );
        }
        // A batch, with one step for all rows or one per row, moves each row as `drift` does
        // (70 rows: more than one product's worth).
        let n = 70;
        let ps: Vec<f32> = (0..n * d).map(|k| (0.013 * k as f32).sin()).collect();
        let steps: Vec<f32> = (0..n).map(|r| 0.05 + 0.001 * r as f32).collect();
        let xs0: Vec<f32> = (0..n * d).map(|k| (0.07 * k as f32).cos()).collect();
        for per_chain in [false, true] {
            let mut xs = xs0.clone();
            let step = if per_chain {
                Step::PerChain(&steps)
            } else {
                Step::Uniform(0.1)
            };
            prepared.drift_batch(&mut xs, &ps, step, d);
            for r in 0..n {
                let mut want = xs0[r * d..(r + 1) * d].to_vec();
                let e = if per_chain { steps[r] } else { 0.1 };
                prepared.drift(&mut want, &ps[r * d..(r + 1) * d], e);
                assert_eq!(&xs[r * d..(r + 1) * d], &want[..], "row {r}");
            }
        }
        // The kinetic energy p^T M^-1 p / 2 to f32 accuracy.
        let exact: f64 = 0.5
            * (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| p[i] as f64 * inv64[i * d + j] * p[j] as f64)
                        .sum::<f64>()
                })
                .sum::<f64>();
        let k = prepared.kinetic(&p);
        assert!((k - exact).abs() < 1e-5 * exact, "{k} vs {exact}");
    }

    #[test]
    fn kinetic_rows_is_kinetic_row_by_row_bit_for_bit() {
        let (m, d) = mass();
        let p: Vec<f32> = (0..11 * d).map(|i| (0.29 * i as f32).sin()).collect();
        let masses = [
            MassMatrix::Identity,
            MassMatrix::Scalar(2.5),
            MassMatrix::Diagonal((0..d).map(|i| 1.0 + i as f64 / 50.0).collect()),
            MassMatrix::Dense(m),
        ];
        for mass in masses {
            let prepared = mass.prepare::<f32>(d).unwrap();
            // 11 rows: one group of eight and three left over.
            let mut out = vec![0.0; 11];
            prepared.kinetic_rows(&p, d, &mut out);
            for (c, &k) in out.iter().enumerate() {
                let want = prepared.kinetic(&p[c * d..(c + 1) * d]);
                assert_eq!(k.to_bits(), want.to_bits(), "{mass:?}, row {c}");
            }
        }
    }
}
