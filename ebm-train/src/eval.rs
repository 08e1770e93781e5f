//! Exact evaluation of 2-D energies by quadrature on a grid, and a sample-based distance for any
//! dimension.
//!
//! A 2-D model's density `q(x) = exp(-E(x)) / Z` is normalised on a regular grid: `Z` is the sum of
//! `exp(-E)` over the grid's points times the cell's area, the rest follows (TorchEBM's benchmark
//! defines its figures this way: a 401 x 401 grid over `[-4, 4]^2`, energies in `f32`, sums in
//! `f64`).

use crate::data::Mixture;
use crate::error::{invalid, Result};
use ebm_core::prelude::*;

/// A square grid of `n x n` points over `[lo, hi]^2`, both ends included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Points per side.
    pub n: usize,
    /// Lower end of both axes.
    pub lo: f64,
    /// Upper end of both axes.
    pub hi: f64,
}

impl Default for Grid {
    /// 401 x 401 points over `[-4, 4]^2`, the benchmark's grid.
    fn default() -> Self {
        Grid {
            n: 401,
            lo: -4.0,
            hi: 4.0,
        }
    }
}

impl Grid {
    /// The spacing between neighbouring points.
    pub fn step(&self) -> f64 {
        (self.hi - self.lo) / (self.n - 1) as f64
    }

    /// The area of one cell.
    pub fn cell(&self) -> f64 {
        self.step() * self.step()
    }

    /// Point `k`, row by row: `(g[k / n], g[k % n])`.
    pub fn point(&self, k: usize) -> [f64; 2] {
        let g = |i: usize| self.lo + self.step() * i as f64;
        [g(k / self.n), g(k % self.n)]
    }

    fn validate(&self) -> Result<()> {
        if self.n < 2 {
            return Err(invalid(
                "grid.n",
                self.n,
                "a grid needs at least 2 points per side",
            ));
        }
        if !(self.lo.is_finite() && self.hi.is_finite() && self.lo < self.hi) {
            return Err(invalid(
                "grid",
                format!("[{}, {}]", self.lo, self.hi),
                "needs finite ends with lo < hi",
            ));
        }
        Ok(())
    }
}

/// A 2-D model normalised on a grid.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_train::eval::{Grid, Quadrature};
///
/// /// A standard normal: E = |x|^2 / 2, so log Z = ln(2 pi).
/// struct Normal;
/// impl Energy<2, f32, Cpu> for Normal {
///     fn energy<T: Tape<f32, Cpu>>(&self, x: Batch<2, f32, Cpu, T>) -> Energies<f32, Cpu, T> {
///         x.square().sum::<(usize,), Axis<1>>() * 0.5
///     }
/// }
/// let q = Quadrature::new(&Normal, Grid::default())?;
/// assert!((q.log_z() - (2.0 * std::f64::consts::PI).ln()).abs() < 1e-3);
/// // 1 - exp(-r^2 / 2) of the mass lies within r of the mean.
/// assert!((q.mass_within([0.0, 0.0], 1.0) - (1.0 - (-0.5f64).exp())).abs() < 0.01);
/// # Ok::<(), ebm_train::TrainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Quadrature {
    grid: Grid,
    log_z: f64,
    /// `log q` at every grid point.
    log_q: Vec<f64>,
}

/// Points per energy evaluation.
const EVAL_BATCH: usize = 20_000;

/// The energies of `points` (`f32`, evaluated in batches), as `f64`.
pub fn energies<M: Energy<2, f32, Cpu>>(model: &M, points: &[[f32; 2]]) -> Vec<f64> {
    let dev = Cpu::default();
    let mut out = Vec::with_capacity(points.len());
    for chunk in points.chunks(EVAL_BATCH) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x: Batch<2> = dev.tensor_from_vec(flat, (chunk.len(), Const::<2>));
        out.extend(model.energy(x).as_vec().into_iter().map(f64::from));
    }
    out
}

/// `log sum exp(v)`.
fn log_sum_exp(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = v.clone().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + v.map(|x| (x - top).exp()).sum::<f64>().ln()
}

impl Quadrature {
    /// Evaluates `model` on every point of `grid` and normalises it.
    ///
    /// # Errors
    /// [`crate::TrainError::InvalidParameter`] for a grid of fewer than 2 points per side or with
    /// ends that are not finite and increasing, or when the model's energy is not finite at some
    /// grid point (naming it).
    pub fn new<M: Energy<2, f32, Cpu>>(model: &M, grid: Grid) -> Result<Self> {
        grid.validate()?;
        let points: Vec<[f32; 2]> = (0..grid.n * grid.n)
            .map(|k| {
                let p = grid.point(k);
                [p[0] as f32, p[1] as f32]
            })
            .collect();
        let e = energies(model, &points);
        if let Some(k) = e.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                "model",
                format!("E{:?} = {}", grid.point(k), e[k]),
                "the energy must be finite on the whole grid",
            ));
        }
        let lse = log_sum_exp(e.iter().map(|v| -v));
        let log_cell = grid.cell().ln();
        let log_q = e.iter().map(|v| -v - lse - log_cell).collect();
        Ok(Quadrature {
            grid,
            log_z: lse + log_cell,
            log_q,
        })
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// `log Z`, `Z` the integral of `exp(-E)` over the grid's square.
    pub fn log_z(&self) -> f64 {
        self.log_z
    }

    /// `log q` at every grid point, row by row ([`Grid::point`]).
    pub fn log_density(&self) -> &[f64] {
        &self.log_q
    }

    /// `KL(p || q) = sum p(x) cell (log p(x) - log q(x))` over the grid, for a known density `p`.
    pub fn kl_from(&self, truth: &Mixture) -> f64 {
        let cell = self.grid.cell();
        self.log_q
            .iter()
            .enumerate()
            .map(|(k, lq)| {
                let lp = truth.log_density(self.grid.point(k));
                lp.exp() * cell * (lp - lq)
            })
            .sum()
    }

    /// The model's mass at grid points strictly within `radius` of `centre`.
    pub fn mass_within(&self, centre: [f64; 2], radius: f64) -> f64 {
        let cell = self.grid.cell();
        self.log_q
            .iter()
            .enumerate()
            .filter(|(k, _)| {
                let p = self.grid.point(*k);
                (p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2) < radius * radius
            })
            .map(|(_, lq)| lq.exp() * cell)
            .sum()
    }

    /// The held-out negative log-likelihood `mean(E(x) + log Z)` of `points` under the model.
    pub fn nll<M: Energy<2, f32, Cpu>>(&self, model: &M, points: &[[f32; 2]]) -> f64 {
        let e = energies(model, points);
        e.iter().map(|v| v + self.log_z).sum::<f64>() / e.len().max(1) as f64
    }
}

/// The benchmark's figures for a model of a Gaussian mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureReport {
    /// `KL(true || model)` on the grid.
    pub kl_true_model: f64,
    /// The model's mass within `radius` of each centre.
    pub mode_mass: Vec<f64>,
    /// The model's negative log-likelihood of held-out points.
    pub nll_test: f64,
    /// The true density's negative log-likelihood of the same points.
    pub nll_test_truth: f64,
}

/// Evaluates `model` against the mixture `truth`: the KL on `grid`, the mass within `radius` of
/// each centre, and the negative log-likelihood of `test` points under the model and the truth.
///
/// # Errors
/// As [`Quadrature::new`].
pub fn mixture_report<M: Energy<2, f32, Cpu>>(
    model: &M,
    truth: &Mixture,
    grid: Grid,
    radius: f64,
    test: &[[f32; 2]],
) -> Result<MixtureReport> {
    let q = Quadrature::new(model, grid)?;
    let nll_truth = -test
        .iter()
        .map(|p| truth.log_density([f64::from(p[0]), f64::from(p[1])]))
        .sum::<f64>()
        / test.len().max(1) as f64;
    Ok(MixtureReport {
        kl_true_model: q.kl_from(truth),
        mode_mass: truth
            .centres
            .iter()
            .map(|&c| q.mass_within(c, radius))
            .collect(),
        nll_test: q.nll(model, test),
        nll_test_truth: nll_truth,
    })
}

/// The squared maximum mean discrepancy between two samples of `dim`-dimensional points (row-major),
/// with the Gaussian kernel `k(x, y) = exp(-|x - y|^2 / (2 bandwidth^2))`: the unbiased estimate
/// (Gretton et al. 2012, eq. 3), zero in expectation when both samples come from one distribution.
///
/// ```
/// use ebm_train::data::Toy;
/// use ebm_train::eval::mmd2;
///
/// let flat = |v: Vec<[f32; 2]>| v.into_iter().flatten().collect::<Vec<f32>>();
/// let a = flat(Toy::ring8().sample(500, 1)?);
/// let b = flat(Toy::ring8().sample(500, 2)?);
/// let c = flat(Toy::all()[2].sample(500, 3)?); // two moons
/// assert!(mmd2(&a, &b, 2, 0.5)? < 0.01);
/// assert!(mmd2(&a, &c, 2, 0.5)? > 0.05);
/// # Ok::<(), ebm_train::TrainError>(())
/// ```
///
/// # Errors
/// [`crate::TrainError::InvalidParameter`] for `dim = 0`, a sample whose length is not a multiple
/// of `dim` or that holds fewer than 2 points, or a bandwidth that is not finite and positive.
pub fn mmd2(a: &[f32], b: &[f32], dim: usize, bandwidth: f64) -> Result<f64> {
    if dim == 0 {
        return Err(invalid("dim", 0, "points need at least one coordinate"));
    }
    for (name, s) in [("a", a), ("b", b)] {
        if s.len() % dim != 0 || s.len() / dim < 2 {
            return Err(invalid(
                name,
                format!("{} values", s.len()),
                "must hold at least 2 points of `dim` coordinates each",
            ));
        }
    }
    if !(bandwidth.is_finite() && bandwidth > 0.0) {
        return Err(invalid(
            "bandwidth",
            bandwidth,
            "must be finite and positive",
        ));
    }
    let gamma = 1.0 / (2.0 * bandwidth * bandwidth);
    let k = |x: &[f32], y: &[f32]| {
        let d2: f64 = x
            .iter()
            .zip(y)
            .map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2))
            .sum();
        (-gamma * d2).exp()
    };
    let within = |s: &[f32]| {
        let n = s.len() / dim;
        let mut sum = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    sum += k(&s[i * dim..][..dim], &s[j * dim..][..dim]);
                }
            }
        }
        sum / (n * (n - 1)) as f64
    };
    let (n, m) = (a.len() / dim, b.len() / dim);
    let mut cross = 0.0;
    for i in 0..n {
        for j in 0..m {
            cross += k(&a[i * dim..][..dim], &b[j * dim..][..dim]);
        }
    }
    Ok(within(a) + within(b) - 2.0 * cross / (n * m) as f64)
}
