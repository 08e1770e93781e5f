//! HMC mass matrices.

use ebm_core::prelude::*;
use ebm_core::{check, linalg};

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
                PreparedMass::Dense {
                    inv: inv.iter().map(|&v| E::of(v)).collect(),
                    chol: chol.iter().map(|&v| E::of(v)).collect(),
                }
            }
        })
    }
}

/// A mass matrix ready for one dimension and element type.
#[derive(Debug, Clone)]
pub(crate) enum PreparedMass<E> {
    Identity,
    Scalar { inv: E, sqrt: E, inv64: f64 },
    Diagonal { inv: Vec<E>, sqrt: Vec<E> },
    Dense { inv: Vec<E>, chol: Vec<E> },
}

impl<E: Real> PreparedMass<E> {
    /// Turns standard normals `z` (one row) into a momentum `p ~ N(0, M)` in place: `p = L z`.
    pub fn momentum(&self, z: &mut [E]) {
        match self {
            PreparedMass::Identity => {}
            PreparedMass::Scalar { sqrt, .. } => z.iter_mut().for_each(|v| *v *= *sqrt),
            PreparedMass::Diagonal { sqrt, .. } => {
                z.iter_mut().zip(sqrt).for_each(|(v, s)| *v *= *s)
            }
            PreparedMass::Dense { chol, .. } => {
                let d = z.len();
                // L is lower triangular: fill from the last row up so each z_j is read before it is replaced.
                for i in (0..d).rev() {
                    let mut acc = E::zero();
                    for j in 0..=i {
                        acc += chol[i * d + j] * z[j];
                    }
                    z[i] = acc;
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
            PreparedMass::Dense { inv, .. } => {
                let d = x.len();
                for (i, xi) in x.iter_mut().enumerate() {
                    let row = &inv[i * d..(i + 1) * d];
                    let v: E = row.iter().zip(p).map(|(&a, &b)| a * b).sum();
                    *xi += eps * v;
                }
            }
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
                    for i in 0..d {
                        for j in 0..d {
                            let m = inv[i * d + j].as_f64();
                            for (l, a) in acc.iter_mut().enumerate() {
                                *a += at(l, i) * m * at(l, j);
                            }
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
