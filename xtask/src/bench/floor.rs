//! Floors: single-purpose implementations of each case's computation, with closed-form gradients,
//! plain loops or one gemm call per gradient, and the library's normal generator (one ChaCha8 stream
//! per chain, `rand_distr::StandardNormal`). Chains advance in lock-step, one batch per step, as in
//! the library; chain loops use both cores when the batch is large.

use ebm_core::dense::{self, Strided};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const PARALLEL: usize = 8192;

pub fn rngs(seed: u64, n: usize) -> Vec<ChaCha8Rng> {
    let base = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|c| {
            let mut r = base.clone();
            r.set_stream(c as u64);
            r
        })
        .collect()
}

/// The library's `f32` normal generator.
#[inline]
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    ebm_core::normal::standard_normal_f32(rng)
}

/// A Gaussian energy `(x - m)^T P (x - m) / 2` in f32.
pub struct Gauss {
    pub d: usize,
    pub mean: Vec<f32>,
    pub prec: Vec<f32>,
    diff: Vec<f32>,
}

impl Gauss {
    pub fn new(mean: Vec<f32>, prec: Vec<f32>) -> Self {
        Self {
            d: mean.len(),
            mean,
            prec,
            diff: Vec::new(),
        }
    }

    /// Gradients of all rows of `x` into `g`.
    pub fn grad(&mut self, x: &[f32], g: &mut [f32]) {
        let d = self.d;
        let n = x.len() / d;
        if d <= 8 {
            for (xr, gr) in x.chunks_exact(d).zip(g.chunks_exact_mut(d)) {
                for (gi, prow) in gr.iter_mut().zip(self.prec.chunks_exact(d)) {
                    *gi = prow
                        .iter()
                        .zip(xr)
                        .zip(&self.mean)
                        .map(|((&p, &v), &m)| p * (v - m))
                        .sum();
                }
            }
            return;
        }
        self.diff.resize(x.len(), 0.0);
        for (dr, xr) in self.diff.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
            for ((o, &v), &m) in dr.iter_mut().zip(xr).zip(&self.mean) {
                *o = v - m;
            }
        }
        // g = diff (n x d) * P (d x d), row-major.
        gemm_rm(n, d, d, g, &self.diff, d, 1, &self.prec, d, 1);
    }

    /// The starting positions `x0`, their gradients and their energies.
    fn start(&mut self, x0: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = x0.to_vec();
        let mut g = vec![0.0; x.len()];
        self.grad(&x, &mut g);
        let e = x
            .chunks(self.d)
            .zip(g.chunks(self.d))
            .map(|(xr, gr)| self.energy(xr, gr))
            .collect();
        (x, g, e)
    }

    /// The Metropolis test of HMC proposals `(xq, gq)` from the chains' `(x, g, e)`, with the
    /// kinetic energies `k0` before and `k1` after: accepted rows replace the chains'. Returns the
    /// number accepted.
    fn metropolis(
        &self,
        rngs: &mut [ChaCha8Rng],
        (x, g, e): (&mut [f32], &mut [f32], &mut [f32]),
        (xq, gq): (&[f32], &[f32]),
        k0: &[f32],
        k1: &[f32],
    ) -> usize {
        let d = self.d;
        let mut accepted = 0;
        for (c, rng) in rngs.iter_mut().enumerate() {
            let (a, b) = (c * d, (c + 1) * d);
            let eq = self.energy(&xq[a..b], &gq[a..b]);
            let log_ratio = (e[c] + k0[c]) as f64 - (eq + k1[c]) as f64;
            let u: f64 = rng.gen();
            if log_ratio.is_finite() && u.ln() < log_ratio {
                x[a..b].copy_from_slice(&xq[a..b]);
                g[a..b].copy_from_slice(&gq[a..b]);
                e[c] = eq;
                accepted += 1;
            }
        }
        accepted
    }

    /// Energy of one row given its gradient.
    fn energy(&self, x: &[f32], g: &[f32]) -> f32 {
        0.5 * x
            .iter()
            .zip(&self.mean)
            .zip(g)
            .map(|((&v, &m), &gi)| (v - m) * gi)
            .sum::<f32>()
    }
}

fn for_chains<F>(x: &mut [f32], g: &[f32], rngs: &mut [ChaCha8Rng], d: usize, f: F)
where
    F: Fn(&mut [f32], &[f32], &mut ChaCha8Rng) + Sync + Send,
{
    if x.len() >= PARALLEL {
        x.par_chunks_mut(d)
            .zip(g.par_chunks(d))
            .zip(rngs.par_iter_mut())
            .for_each(|((xr, gr), r)| f(xr, gr, r));
    } else {
        for ((xr, gr), r) in x.chunks_mut(d).zip(g.chunks(d)).zip(rngs.iter_mut()) {
            f(xr, gr, r);
        }
    }
}

/// Unadjusted Langevin on a Gaussian.
pub fn gauss_langevin(
    model: &mut Gauss,
    x0: &[f32],
    h: f32,
    s: f32,
    steps: usize,
    seed: u64,
) -> Vec<f32> {
    let d = model.d;
    let mut x = x0.to_vec();
    let mut g = vec![0.0; x.len()];
    let mut rngs = rngs(seed, x.len() / d);
    let sigma = s * (2.0 * h).sqrt();
    for _ in 0..steps {
        model.grad(&x, &mut g);
        for_chains(&mut x, &g, &mut rngs, d, |xr, gr, r| {
            for (xi, &gi) in xr.iter_mut().zip(gr) {
                *xi = *xi - h * gi + sigma * normal(r);
            }
        });
    }
    x
}

/// HMC on a Gaussian with identity mass; returns the samples and the acceptance fraction of each step.
pub fn gauss_hmc(
    model: &mut Gauss,
    x0: &[f32],
    h: f32,
    l: usize,
    steps: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let d = model.d;
    let n = x0.len() / d;
    let (mut x, mut g, mut e) = model.start(x0);
    let mut rngs = rngs(seed, n);
    let (mut xq, mut gq, mut p) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
    let mut k0 = vec![0.0f32; n];
    let mut acceptance = Vec::with_capacity(steps);
    for _ in 0..steps {
        for ((pr, r), k) in p.chunks_mut(d).zip(rngs.iter_mut()).zip(k0.iter_mut()) {
            let mut s = 0.0;
            for v in pr.iter_mut() {
                *v = normal(r);
                s += *v * *v;
            }
            *k = 0.5 * s;
        }
        xq.copy_from_slice(&x);
        gq.copy_from_slice(&g);
        for _ in 0..l {
            for ((pi, xi), &gi) in p.iter_mut().zip(xq.iter_mut()).zip(&gq) {
                *pi -= 0.5 * h * gi;
                *xi += h * *pi;
            }
            model.grad(&xq, &mut gq);
            for (pi, &gi) in p.iter_mut().zip(&gq) {
                *pi -= 0.5 * h * gi;
            }
        }
        let k1: Vec<f32> = p
            .chunks(d)
            .map(|pr| 0.5 * pr.iter().map(|v| v * v).sum::<f32>())
            .collect();
        let accepted = model.metropolis(&mut rngs, (&mut x, &mut g, &mut e), (&xq, &gq), &k0, &k1);
        acceptance.push(accepted as f32 / n as f32);
    }
    (x, acceptance)
}

/// Unadjusted Langevin on an isotropic Gaussian mixture in 2-D, keeping every state.
pub fn mixture_langevin(
    centers: &[[f32; 2]],
    weights: &[f32],
    x0: &[f32],
    h: f32,
    s: f32,
    steps: usize,
    seed: u64,
) -> Vec<f32> {
    let n = x0.len() / 2;
    let mut x = x0.to_vec();
    let mut rngs = rngs(seed, n);
    let sigma = s * (2.0 * h).sqrt();
    let mut traj = vec![0.0f32; n * steps * 2];
    let mut logits = vec![0.0f32; centers.len()];
    for t in 0..steps {
        for (c, (xr, r)) in x.chunks_mut(2).zip(rngs.iter_mut()).enumerate() {
            let mut top = f32::NEG_INFINITY;
            for ((lg, cc), &w) in logits.iter_mut().zip(centers).zip(weights) {
                let (dx, dy) = (xr[0] - cc[0], xr[1] - cc[1]);
                *lg = -0.5 * w * (dx * dx + dy * dy);
                top = top.max(*lg);
            }
            let mut total = 0.0;
            for lg in logits.iter_mut() {
                *lg = (*lg - top).exp();
                total += *lg;
            }
            let (mut gx, mut gy) = (0.0, 0.0);
            for ((&rk, cc), &w) in logits.iter().zip(centers).zip(weights) {
                let k = rk / total * w;
                gx += k * (xr[0] - cc[0]);
                gy += k * (xr[1] - cc[1]);
            }
            xr[0] = xr[0] - h * gx + sigma * normal(r);
            xr[1] = xr[1] - h * gy + sigma * normal(r);
            let at = (c * steps + t) * 2;
            traj[at] = xr[0];
            traj[at + 1] = xr[1];
        }
    }
    traj
}

/// The benchmark MLP's weights, row-major `(outputs, inputs)` (see `docs/benchmarks.md`).
pub struct MlpWeights {
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    pub w3: Vec<f32>,
}

impl MlpWeights {
    /// The 2-`h`-`h`-1 network: the formulas of `docs/benchmarks.md`, whose `1 / sqrt(h)` factors
    /// are the `1 / 8` of the 64-wide network.
    pub fn with_width(h: usize) -> Self {
        let f = |v: f64| v as f32;
        let scale = (h as f64).sqrt();
        Self {
            w1: (0..h * 2)
                .map(|k| f(0.8 * (0.37 * (k / 2) as f64 + 1.3 * (k % 2) as f64 + 0.1).sin()))
                .collect(),
            b1: (0..h).map(|o| f(0.1 * (o as f64).cos())).collect(),
            w2: (0..h * h)
                .map(|k| f((0.11 * (k / h) as f64 + 0.23 * (k % h) as f64 + 0.5).sin() / scale))
                .collect(),
            b2: (0..h).map(|o| f(0.1 * (0.5 * o as f64).cos())).collect(),
            w3: (0..h).map(|i| f((0.3 * i as f64).cos() / scale)).collect(),
        }
    }

    /// The number of units of each hidden layer.
    pub fn width(&self) -> usize {
        self.b1.len()
    }
}

/// `dst = a b` over rayon's threads, `dst` row-major `m x n`, `a` (`m x k`) and `b` (`k x n`) with
/// the given row and column strides.
#[allow(clippy::too_many_arguments)]
fn gemm_rm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
) {
    gemm_rm_with(
        rayon::current_num_threads(),
        m,
        n,
        k,
        dst,
        a,
        a_rs,
        a_cs,
        b,
        b_rs,
        b_cs,
    );
}

/// [`gemm_rm`] on `threads` threads.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_rm_with(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
) {
    let a = Strided {
        data: a,
        rows: m,
        cols: k,
        strides: (a_rs, a_cs),
    };
    let b = Strided {
        data: b,
        rows: k,
        cols: n,
        strides: (b_rs, b_cs),
    };
    dense::matmul_strided(dst, a, b, false, threads).expect("gemm_rm shapes");
}

/// Unadjusted Langevin on the 2-h-h-1 tanh MLP energy plus `0.05 |x|^2`: forward and input-gradient
/// passes with one gemm per layer and the standard library's `tanh`.
pub fn mlp_langevin(
    w: &MlpWeights,
    x0: &[f32],
    h: f32,
    s: f32,
    steps: usize,
    seed: u64,
) -> Vec<f32> {
    let n = x0.len() / 2;
    let hd = w.width();
    let mut x = x0.to_vec();
    let mut g = vec![0.0f32; x.len()];
    let (mut a1, mut a2) = (vec![0.0f32; n * hd], vec![0.0f32; n * hd]);
    let (mut d2, mut d1) = (vec![0.0f32; n * hd], vec![0.0f32; n * hd]);
    let mut rngs = rngs(seed, n);
    let sigma = s * (2.0 * h).sqrt();
    for _ in 0..steps {
        gemm_rm(n, hd, 2, &mut a1, &x, 2, 1, &w.w1, 1, 2);
        for row in a1.chunks_exact_mut(hd) {
            for (v, &b) in row.iter_mut().zip(&w.b1) {
                *v = (*v + b).tanh();
            }
        }
        gemm_rm(n, hd, hd, &mut a2, &a1, hd, 1, &w.w2, 1, hd);
        for (row, drow) in a2.chunks_exact_mut(hd).zip(d2.chunks_exact_mut(hd)) {
            for (((v, &b), dv), &w3) in row.iter_mut().zip(&w.b2).zip(drow.iter_mut()).zip(&w.w3) {
                *v = (*v + b).tanh();
                *dv = w3 * (1.0 - *v * *v);
            }
        }
        gemm_rm(n, hd, hd, &mut d1, &d2, hd, 1, &w.w2, hd, 1);
        d1.iter_mut()
            .zip(&a1)
            .for_each(|(dv, &a)| *dv *= 1.0 - a * a);
        gemm_rm(n, 2, hd, &mut g, &d1, hd, 1, &w.w1, 2, 1);
        for_chains(&mut x, &g, &mut rngs, 2, |xr, gr, r| {
            for (xi, &gi) in xr.iter_mut().zip(gr) {
                let grad = gi + 0.1 * *xi;
                *xi = *xi - h * grad + sigma * normal(r);
            }
        });
    }
    x
}

/// HMC on a Gaussian with a dense mass `M`: momenta `p = L z` (`L L^T = M`, passed as `l_t = L^T`
/// row-major, so that `P = Z L^T` is one product), drift `x += h M^-1 p` (`m_inv` row-major), one
/// gemm per product, kinetic energies `p . M^-1 p / 2` from the same products. Returns the samples
/// and the acceptance fraction of each step.
#[allow(clippy::too_many_arguments)]
pub fn gauss_hmc_dense(
    model: &mut Gauss,
    l_t: &[f32],
    m_inv: &[f32],
    x0: &[f32],
    h: f32,
    l: usize,
    steps: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let d = model.d;
    let n = x0.len() / d;
    let (mut x, mut g, mut e) = model.start(x0);
    let mut rngs = rngs(seed, n);
    let len = x.len();
    let (mut xq, mut gq, mut z) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
    let (mut p, mut v) = (vec![0.0; len], vec![0.0; len]);
    let kinetic = |p: &[f32], v: &[f32]| -> Vec<f32> {
        p.chunks(d)
            .zip(v.chunks(d))
            .map(|(pr, vr)| 0.5 * pr.iter().zip(vr).map(|(a, b)| a * b).sum::<f32>())
            .collect()
    };
    let mut acceptance = Vec::with_capacity(steps);
    for _ in 0..steps {
        for (zr, r) in z.chunks_mut(d).zip(rngs.iter_mut()) {
            zr.iter_mut().for_each(|v| *v = normal(r));
        }
        gemm_rm(n, d, d, &mut p, &z, d, 1, l_t, d, 1);
        gemm_rm(n, d, d, &mut v, &p, d, 1, m_inv, d, 1);
        let k0 = kinetic(&p, &v);
        xq.copy_from_slice(&x);
        gq.copy_from_slice(&g);
        for _ in 0..l {
            p.iter_mut()
                .zip(&gq)
                .for_each(|(pi, &gi)| *pi -= 0.5 * h * gi);
            gemm_rm(n, d, d, &mut v, &p, d, 1, m_inv, d, 1);
            xq.iter_mut().zip(&v).for_each(|(xi, &vi)| *xi += h * vi);
            model.grad(&xq, &mut gq);
            p.iter_mut()
                .zip(&gq)
                .for_each(|(pi, &gi)| *pi -= 0.5 * h * gi);
        }
        gemm_rm(n, d, d, &mut v, &p, d, 1, m_inv, d, 1);
        let k1 = kinetic(&p, &v);
        let accepted = model.metropolis(&mut rngs, (&mut x, &mut g, &mut e), (&xq, &gq), &k0, &k1);
        acceptance.push(accepted as f32 / n as f32);
    }
    (x, acceptance)
}
