//! The mass matrix estimated over a window of draws (and gradients).

use super::adaptable::MassAdaptation;
use crate::kernels::MassMatrix;
use ebm_core::linalg;
use ebm_core::prelude::*;

/// Pooled running mean and covariance (or variances) of the draws of a slow window.
#[derive(Debug, Clone)]
pub(super) struct WindowEstimate {
    pub(super) n: f64,
    pub(super) mean: Vec<f64>,
    pub(super) m2: Vec<f64>,
    /// Running mean and sum of squared deviations (or cross products, when dense) of the
    /// gradients.
    pub(super) gmean: Vec<f64>,
    pub(super) gm2: Vec<f64>,
    dense: bool,
    /// Estimate from the draws and the gradients rather than from the draws alone.
    gradient: bool,
    d: usize,
}

impl WindowEstimate {
    pub(super) fn new(d: usize, kind: MassAdaptation) -> Self {
        let dense = matches!(kind, MassAdaptation::Dense | MassAdaptation::GradientDense);
        let gradient = matches!(
            kind,
            MassAdaptation::GradientDiagonal | MassAdaptation::GradientDense
        );
        let len = if dense { d * d } else { d };
        Self {
            n: 0.0,
            mean: vec![0.0; d],
            m2: vec![0.0; len],
            gmean: vec![0.0; if gradient { d } else { 0 }],
            gm2: vec![0.0; if gradient { len } else { 0 }],
            dense,
            gradient,
            d,
        }
    }

    /// Welford's update of the gradients' moments with one draw's gradient (after
    /// [`Self::add`], which counts the draw).
    pub(super) fn add_gradient<E: Real>(&mut self, g: &[E], delta: &mut [f64]) {
        if !self.gradient {
            return;
        }
        welford(self.n, g, &mut self.gmean, &mut self.gm2, self.dense, delta);
    }

    /// Welford's update with one draw.
    pub(super) fn add<E: Real>(&mut self, x: &[E], delta: &mut [f64]) {
        self.n += 1.0;
        welford(self.n, x, &mut self.mean, &mut self.m2, self.dense, delta);
    }

    /// The window's estimate as a mass matrix. From the draws alone, the inverse of their
    /// covariance regularised as Stan does, `n / (n + 5) S + 1e-3 * 5 / (n + 5) I`; from draws and
    /// gradients, `sqrt(var g / var x)` per coordinate, or the dense `M` with `M S_x M = S_g` (both
    /// covariances regularised so; the gradients' ridge scaled by their mean variance).
    pub(super) fn mass(&self) -> Result<MassMatrix> {
        let n = self.n;
        let (a, b) = (n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0));
        let d = self.d;
        if self.dense && self.gradient {
            if n < 2.0 * d as f64 {
                return Ok(self.diagonal_gradient_mass());
            }
            // The draws' covariance as Stan regularises it; the gradients' the same way relative
            // to their mean variance (their scale is the inverse of the draws').
            let sx = regularised(&self.m2, n, d, b);
            let g_scale = (0..d).map(|i| self.gm2[i * d + i]).sum::<f64>() / (d as f64 * (n - 1.0));
            let sg = regularised(&self.gm2, n, d, b * g_scale);
            // A window whose gradients did not vary, or whose estimates are too ill-conditioned
            // to factor, keeps the diagonal estimate (which falls back to unit masses itself).
            return Ok(match geometric_mass(&sx, &sg, d) {
                Ok(m) if m.iter().all(|v| v.is_finite()) => MassMatrix::Dense(m),
                _ => self.diagonal_gradient_mass(),
            });
        }
        if self.dense {
            let cov = regularised(&self.m2, n, d, b);
            Ok(MassMatrix::Dense(linalg::spd_inverse(
                "covariance",
                &cov,
                d,
            )?))
        } else if self.gradient {
            Ok(self.diagonal_gradient_mass())
        } else {
            Ok(MassMatrix::Diagonal(
                self.m2
                    .iter()
                    .map(|v| 1.0 / (a * v / (n - 1.0) + b))
                    .collect(),
            ))
        }
    }
}

impl WindowEstimate {
    /// `m_i = sqrt(var g_i / var x_i)`; a coordinate that did not move (or whose gradient did not
    /// change) keeps a unit mass rather than a zero or infinite one.
    fn diagonal_gradient_mass(&self) -> MassMatrix {
        let d = self.d;
        let step = if self.dense { d + 1 } else { 1 };
        MassMatrix::Diagonal(
            (0..d)
                .map(|i| {
                    let m = (self.gm2[i * step] / self.m2[i * step]).sqrt();
                    if m.is_finite() && m > 0.0 {
                        m.clamp(1e-10, 1e10)
                    } else {
                        1.0
                    }
                })
                .collect(),
        )
    }
}

/// Welford's update of a running mean and of the sums of squared deviations (`dense`: of cross
/// products, `d x d`) with the `n`-th value `x`; `delta` is scratch of length `d`.
fn welford<E: Real>(
    n: f64,
    x: &[E],
    mean: &mut [f64],
    m2: &mut [f64],
    dense: bool,
    delta: &mut [f64],
) {
    let d = mean.len();
    for i in 0..d {
        delta[i] = x[i].as_f64() - mean[i];
        mean[i] += delta[i] / n;
    }
    if dense {
        for ((row, xi), mi) in m2.chunks_exact_mut(d).zip(x).zip(mean.iter()) {
            let after = xi.as_f64() - mi;
            for (m, dj) in row.iter_mut().zip(delta.iter()) {
                *m += after * dj;
            }
        }
    } else {
        for i in 0..d {
            m2[i] += delta[i] * (x[i].as_f64() - mean[i]);
        }
    }
}

/// `n / (n + 5) m2 / (n - 1) + b I`, symmetrised against rounding.
fn regularised(m2: &[f64], n: f64, d: usize, b: f64) -> Vec<f64> {
    let a = n / (n + 5.0);
    let mut s: Vec<f64> = m2.iter().map(|v| a * v / (n - 1.0)).collect();
    for i in 0..d {
        s[i * d + i] += b;
    }
    linalg::symmetrise(&mut s, d);
    s
}

/// The symmetric positive-definite `M` with `M sx M = sg`: with `sx = L L^T`,
/// `M = L^-T (L^T sg L)^(1/2) L^-1`.
pub(super) fn geometric_mass(sx: &[f64], sg: &[f64], d: usize) -> Result<Vec<f64>> {
    let l = linalg::cholesky("covariance", sx, d)?;
    let c = linalg::mat_mul(&linalg::mat_mul(&linalg::transposed(&l, d), sg, d), &l, d);
    let root = linalg::spd_sqrt("gradient covariance", &c, d)?;
    let w = linalg::lower_inverse(&l, d);
    let mut m = linalg::mat_mul(
        &linalg::mat_mul(&linalg::transposed(&w, d), &root, d),
        &w,
        d,
    );
    linalg::symmetrise(&mut m, d);
    Ok(m)
}

/// `m_i` = the root mean square over the chains of the gradients' coordinate `i` (row-major
/// `n x D`); 1 where that is zero or not finite, clamped to `[1e-8, 1e8]`.
pub(super) fn gradient_scale_mass<const D: usize, E: Real>(g: &[E]) -> MassMatrix {
    let n = (g.len() / D).max(1) as f64;
    MassMatrix::Diagonal(
        (0..D)
            .map(|i| {
                let ms = g
                    .iter()
                    .skip(i)
                    .step_by(D)
                    .map(|v| v.as_f64().powi(2))
                    .sum::<f64>()
                    / n;
                let m = ms.sqrt();
                if m.is_finite() && m > 0.0 {
                    m.clamp(1e-8, 1e8)
                } else {
                    1.0
                }
            })
            .collect(),
    )
}
