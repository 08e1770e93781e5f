//! HMC mass matrices.

use ebm_core::prelude::*;
use ebm_core::{check, dense, linalg};

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
    /// Checks the entries (finite, positive, symmetric positive definite as applicable).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `mass` or `mass[i]`, [`Error::NotSymmetric`] or
    /// [`Error::NotPositiveDefinite`].
    pub fn validate(&self) -> Result<()> {
        match self {
            MassMatrix::Identity => Ok(()),
            MassMatrix::Scalar(m) => check::positive("mass", *m).map(|_| ()),
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
                // The products of the momentum and of the drift leave out entries below 2^-100 of
                // their diagonal scale: they cannot move a result, and as f32 they are subnormal
                // numbers, which some processors handle a hundred times slower (see
                // `ebm_core::dense::without_negligible_entries`).
                let chol = dense::without_negligible_entries(&chol, d)?;
                let drift = dense::without_negligible_entries(&inv, d)?;
                PreparedMass::Dense {
                    inv: inv.iter().map(|&v| E::of(v)).collect(),
                    drift: drift.iter().map(|&v| E::of(v)).collect(),
                    chol_t: (0..d * d)
                        .map(|k| E::of(chol[(k % d) * d + k / d]))
                        .collect(),
                }
            }
        })
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
    /// `inv = M^-1` (exactly symmetric), `drift` the same less its negligible entries, and
    /// `chol_t` the transpose of the lower Cholesky factor `L` of `M` less its negligible entries,
    /// all row-major.
    Dense {
        inv: Vec<E>,
        drift: Vec<E>,
        chol_t: Vec<E>,
    },
}

/// `sum_i sum_j (p_i m_ij) p_j` in `f64`, in that order, for eight chains at once (`lanes[i][l]` is
/// chain `l`'s coordinate `i`); on x86-64 with AVX2 in 256-bit registers.
fn dense_quadratic<E: Real>(lanes: &[[f64; 8]], inv: &[E]) -> [f64; 8] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { dense_quadratic_avx2(lanes, inv) };
    }
    dense_quadratic_body(lanes, inv)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dense_quadratic_avx2<E: Real>(lanes: &[[f64; 8]], inv: &[E]) -> [f64; 8] {
    dense_quadratic_body(lanes, inv)
}

#[inline(always)]
fn dense_quadratic_body<E: Real>(lanes: &[[f64; 8]], inv: &[E]) -> [f64; 8] {
    let d = lanes.len();
    let mut acc = [0.0f64; 8];
    for (pi, row) in lanes.iter().zip(inv.chunks_exact(d.max(1))) {
        for (pj, m) in lanes.iter().zip(row) {
            let m = m.as_f64();
            for l in 0..8 {
                acc[l] += pi[l] * m * pj[l];
            }
        }
    }
    acc
}

/// `x += eps M^-1 p` for one row with the dense `inv = M^-1`; on x86-64 with AVX2 in 256-bit
/// registers.
fn dense_drift<E: Real>(inv: &[E], x: &mut [E], p: &[E], eps: E) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        unsafe { dense_drift_avx2(inv, x, p, eps) };
        return;
    }
    dense_drift_body(inv, x, p, eps);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dense_drift_avx2<E: Real>(inv: &[E], x: &mut [E], p: &[E], eps: E) {
    dense_drift_body(inv, x, p, eps);
}

#[inline(always)]
fn dense_drift_body<E: Real>(inv: &[E], x: &mut [E], p: &[E], eps: E) {
    // x_i += eps * sum_j (M^-1)_ij p_j, each sum as the standard library's float sum
    // (from -0, in the order of j). The sums of a chunk of outputs advance together
    // along the rows of M^-1 = M^-T, so they vectorise.
    let d = x.len();
    let mut acc = [E::zero(); CHUNK];
    for i0 in (0..d).step_by(CHUNK) {
        let i1 = (i0 + CHUNK).min(d);
        let acc = &mut acc[..i1 - i0];
        acc.iter_mut().for_each(|a| *a = -E::zero());
        for (j, &pj) in p.iter().enumerate() {
            for (a, &m) in acc.iter_mut().zip(&inv[j * d + i0..j * d + i1]) {
                *a += m * pj;
            }
        }
        for (xi, &v) in x[i0..i1].iter_mut().zip(acc.iter()) {
            *xi += eps * v;
        }
    }
}

/// Outputs per chunk of the dense products below: their partial sums live on the stack.
const CHUNK: usize = 64;

impl<E: Real> PreparedMass<E> {
    /// Turns standard normals `z` (one row) into a momentum `p ~ N(0, M)` in place: `p = L z`.
    pub fn momentum(&self, z: &mut [E]) {
        match self {
            PreparedMass::Identity => {}
            PreparedMass::Scalar { sqrt, .. } => z.iter_mut().for_each(|v| *v *= *sqrt),
            PreparedMass::Diagonal { sqrt, .. } => {
                z.iter_mut().zip(sqrt).for_each(|(v, s)| *v *= *s)
            }
            PreparedMass::Dense { chol_t, .. } => {
                // z_i <- sum_{j <= i} L_ij z_j, each sum from +0 in the order of j. The sums of a
                // chunk of outputs advance together along the rows of L^T (so they vectorise);
                // chunks go from the last up, so each z_j is read before it is replaced.
                let d = z.len();
                let mut acc = [E::zero(); CHUNK];
                for i0 in (0..d).step_by(CHUNK).rev() {
                    let i1 = (i0 + CHUNK).min(d);
                    let acc = &mut acc[..i1 - i0];
                    acc.iter_mut().for_each(|a| *a = E::zero());
                    for (j, &zj) in z.iter().enumerate().take(i1) {
                        let from = j.max(i0);
                        let col = &chol_t[j * d + from..j * d + i1];
                        for (a, &l) in acc[from - i0..].iter_mut().zip(col) {
                            *a += l * zj;
                        }
                    }
                    z[i0..i1].copy_from_slice(acc);
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

    /// `x += eps * M^-1 p` for a whole batch of rows of length `d`.
    pub fn drift_batch(&self, x: &mut [E], p: &[E], eps: E, d: usize) {
        let scale = match self {
            PreparedMass::Identity => Some(eps),
            PreparedMass::Scalar { inv, .. } => Some(eps * *inv),
            _ => None,
        };
        if let Some(s) = scale {
            use rayon::prelude::*;
            let body =
                |(x, p): (&mut [E], &[E])| x.iter_mut().zip(p).for_each(|(x, &p)| *x += s * p);
            if x.len() >= 4 * crate::chains::PARALLEL_MIN_ELEMENTS {
                let chunk = x.len().div_ceil(rayon::current_num_threads().max(1));
                x.par_chunks_mut(chunk)
                    .zip(p.par_chunks(chunk))
                    .for_each(body);
            } else {
                body((x, p));
            }
            return;
        }
        match self {
            PreparedMass::Identity | PreparedMass::Scalar { .. } => {}
            PreparedMass::Diagonal { inv, .. } => {
                for (xr, pr) in x.chunks_exact_mut(d).zip(p.chunks_exact(d)) {
                    xr.iter_mut()
                        .zip(pr)
                        .zip(inv)
                        .for_each(|((x, &p), &m)| *x += eps * m * p);
                }
            }
            PreparedMass::Dense { .. } => {
                for (xr, pr) in x.chunks_exact_mut(d).zip(p.chunks_exact(d)) {
                    self.drift(xr, pr, eps);
                }
            }
        }
    }

    /// `out = M^-1 p` for one row, in `f64` (the velocity that the No-U-Turn criterion dots with
    /// the summed momenta).
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
                let d = p.len();
                for (i, o) in out.iter_mut().enumerate() {
                    let row = &inv[i * d..(i + 1) * d];
                    *o = row
                        .iter()
                        .zip(p)
                        .map(|(a, b)| a.as_f64() * b.as_f64())
                        .sum();
                }
            }
        }
    }

    /// `x += eps * M^-1 p` for one row.
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
            PreparedMass::Dense { drift: inv, .. } => dense_drift(inv, x, p, eps),
        }
    }

    /// [`PreparedMass::kinetic`] of every row of `p` (rows of length `d`) into `out`: the same
    /// sums in the same order, eight chains at a time so that the sums' additions overlap instead of
    /// waiting on each other.
    pub fn kinetic_rows(&self, p: &[E], d: usize, out: &mut [f64]) {
        const L: usize = 8;
        if d == 0 {
            out.iter_mut().for_each(|o| *o = self.kinetic(&[]));
            return;
        }
        let mut lanes: Vec<[f64; L]> = Vec::new();
        let mut groups = p.chunks_exact(L * d).zip(out.chunks_exact_mut(L));
        for (rows, o) in &mut groups {
            let mut acc = [0.0f64; L];
            let at = |l: usize, i: usize| rows[l * d + i].as_f64();
            match self {
                PreparedMass::Identity | PreparedMass::Scalar { .. } => {
                    for i in 0..d {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a += at(l, i) * at(l, i);
                        }
                    }
                }
                PreparedMass::Diagonal { inv, .. } => {
                    for (i, m) in inv.iter().enumerate() {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a += at(l, i) * at(l, i) * m.as_f64();
                        }
                    }
                }
                PreparedMass::Dense { inv, .. } => {
                    // The eight chains' coordinates side by side, so each term is one vector op.
                    lanes.clear();
                    lanes.extend((0..d).map(|i| std::array::from_fn(|l| at(l, i))));
                    acc = dense_quadratic(&lanes, inv);
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
        for (row, o) in p[done * d..].chunks_exact(d.max(1)).zip(&mut out[done..]) {
            *o = self.kinetic(row);
        }
    }

    /// The kinetic energy `p^T M^-1 p / 2` of one row, in `f64`.
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
            PreparedMass::Dense { inv, .. } => {
                let d = p.len();
                let mut total = 0.0;
                for i in 0..d {
                    for j in 0..d {
                        total += p[i].as_f64() * inv[i * d + j].as_f64() * p[j].as_f64();
                    }
                }
                0.5 * total
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
    fn dense_momentum_and_drift_are_the_row_by_row_sums_bit_for_bit() {
        let (m, d) = mass();
        let prepared = MassMatrix::Dense(m.clone()).prepare::<f32>(d).unwrap();
        let sym = linalg::symmetric_part("mass", &m, d).unwrap();
        let l64 = linalg::cholesky("mass", &sym, d).unwrap();
        // The products use the factors less their negligible entries.
        let cut = |a: &[f64]| -> Vec<f32> {
            dense::without_negligible_entries(a, d)
                .unwrap()
                .iter()
                .map(|&v| v as f32)
                .collect()
        };
        let l = cut(&l64);
        let inv = cut(&linalg::inverse_from_cholesky(&l64, d));
        let z: Vec<f32> = (0..d).map(|i| (0.37 * i as f32).sin() * 1.3).collect();
        // p = L z, one sum per row from +0 in the order of j.
        let want_p: Vec<f32> = (0..d)
            .map(|i| {
                let mut acc = 0.0f32;
                for j in 0..=i {
                    acc += l[i * d + j] * z[j];
                }
                acc
            })
            .collect();
        let mut p = z.clone();
        prepared.momentum(&mut p);
        assert_eq!(p, want_p);
        // x += eps M^-1 p, each sum as the standard library's.
        let x0: Vec<f32> = (0..d).map(|i| (0.11 * i as f32).cos()).collect();
        let want_x: Vec<f32> = x0
            .iter()
            .enumerate()
            .map(|(i, &xi)| {
                let v: f32 = inv[i * d..(i + 1) * d]
                    .iter()
                    .zip(&p)
                    .map(|(a, b)| a * b)
                    .sum();
                xi + 0.1 * v
            })
            .collect();
        let mut x = x0.clone();
        prepared.drift(&mut x, &p, 0.1);
        assert_eq!(x, want_x);
        let mut xb = [x0.clone(), x0].concat();
        prepared.drift_batch(&mut xb, &[p.clone(), p].concat(), 0.1, d);
        assert_eq!(xb, [want_x.clone(), want_x].concat());
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
