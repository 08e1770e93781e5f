//! Helpers shared by the sampler tests.
#![allow(dead_code)]

use ebm_core::prelude::*;

/// Sample mean (length `d`) and covariance (row-major, divides by `n - 1`) of row-major points.
pub fn moments(x: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d;
    let mut mean = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for row in x.chunks_exact(d) {
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] += (row[i] - mean[i]) * (row[j] - mean[j]) / (n - 1) as f64;
            }
        }
    }
    (mean, cov)
}

/// Asserts that iid draws (row-major) with sample moments `mean`, `cov` agree with a normal law of mean
/// `mu` and covariance `sigma` within `z` standard errors plus an allowed `bias` per entry. The
/// standard error of a sample covariance entry of `n` iid normal draws is
/// `sqrt((S_ii S_jj + S_ij^2) / (n - 1))`.
pub fn assert_moments(
    x: &[f64],
    d: usize,
    mu: &[f64],
    sigma: &[f64],
    z: f64,
    bias: f64,
    what: &str,
) {
    let n = (x.len() / d) as f64;
    let (mean, cov) = moments(x, d);
    for i in 0..d {
        let se = (sigma[i * d + i] / n).sqrt();
        assert!(
            (mean[i] - mu[i]).abs() <= z * se + bias,
            "{what}: mean[{i}] = {} vs {} (se {se:e}, bias allowance {bias:e})",
            mean[i],
            mu[i]
        );
        for j in 0..d {
            let s = sigma[i * d + j];
            let se = ((sigma[i * d + i] * sigma[j * d + j] + s * s) / (n - 1.0)).sqrt();
            assert!(
                (cov[i * d + j] - s).abs() <= z * se + bias,
                "{what}: cov[{i}][{j}] = {} vs {s} (se {se:e}, bias allowance {bias:e})",
                cov[i * d + j]
            );
        }
    }
}

/// A batch of `n` standard normal rows from a fixed seed (dfdx's own generator, independent of the
/// samplers' streams).
pub fn standard_normal_batch<const D: usize>(n: usize, seed: u64) -> Batch<D, f64> {
    let dev = Cpu::seed_from_u64(seed);
    dev.sample_normal_like(&(n, Const::<D>))
}

/// Largest eigenvalue bound: the trace of a positive-definite matrix.
pub fn trace(a: &[f64], d: usize) -> f64 {
    (0..d).map(|i| a[i * d + i]).sum()
}

/// `n` exact draws (row-major) from `N(mean, cov)` with a fixed seed.
pub fn gaussian_draws(mean: &[f64], cov: &[f64], n: usize, seed: u64) -> Vec<f64> {
    use rand::SeedableRng;
    let d = mean.len();
    let l = ebm_core::linalg::cholesky("cov", cov, d).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * d);
    let mut z = vec![0.0; d];
    for _ in 0..n {
        for v in z.iter_mut() {
            *v = f64::standard_normal(&mut rng);
        }
        for i in 0..d {
            out.push(mean[i] + (0..=i).map(|j| l[i * d + j] * z[j]).sum::<f64>());
        }
    }
    out
}

/// Asserts that iid draws match a distribution's mean and covariance within `z` standard errors, with
/// the standard errors estimated from the draws themselves (sd of each coordinate, and of each product
/// of centred coordinates, over sqrt(n)): valid for any distribution with finite fourth moments.
pub fn assert_moments_any(x: &[f64], d: usize, mu: &[f64], sigma: &[f64], z: f64, what: &str) {
    let n = (x.len() / d) as f64;
    let (mean, _) = moments(x, d);
    for i in 0..d {
        let se = (sigma[i * d + i] / n).sqrt();
        assert!(
            (mean[i] - mu[i]).abs() <= z * se,
            "{what}: mean[{i}] = {} vs {} (se {se:e})",
            mean[i],
            mu[i]
        );
        for j in 0..d {
            let prods: Vec<f64> = x
                .chunks_exact(d)
                .map(|r| (r[i] - mu[i]) * (r[j] - mu[j]))
                .collect();
            let m = prods.iter().sum::<f64>() / n;
            let v = prods.iter().map(|p| (p - m) * (p - m)).sum::<f64>() / (n - 1.0);
            let se = (v / n).sqrt();
            assert!(
                (m - sigma[i * d + j]).abs() <= z * se,
                "{what}: cov[{i}][{j}] = {m} vs {} (se {se:e})",
                sigma[i * d + j]
            );
        }
    }
}

/// Batch from row-major host values.
pub fn batch<const D: usize>(x: &[f64]) -> Batch<D, f64> {
    Cpu::default().tensor_from_vec(x.to_vec(), (x.len() / D, Const::<D>))
}

/// The parameter named by an [`Error::InvalidParameter`]; panics on any other error.
pub fn invalid_name(err: Error) -> String {
    match err {
        Error::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

/// A random symmetric positive-definite covariance `L L^T + ridge I`, `L` from row-major `entries`.
pub fn random_spd(entries: &[f64], d: usize, ridge: f64) -> Vec<f64> {
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            cov[i * d + j] = (0..d)
                .map(|k| entries[i * d + k] * entries[j * d + k])
                .sum::<f64>();
        }
        cov[i * d + i] += ridge;
    }
    cov
}

/// A proptest configuration for statistical properties: few cases, a fixed seed, no persistence,
/// so every run draws the same cases.
pub fn deterministic(cases: u32, seed: u64) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Off)),
        ..proptest::test_runner::Config::default()
    }
}

/// `|x|^2 / 2` inside the box `|x_i| < half_width`, NaN outside (energy and gradient).
pub struct NanOutsideBox {
    /// Half the side of the box.
    pub half_width: f64,
}

impl<const D: usize> Energy<D, f64, Cpu> for NanOutsideBox {
    fn energy<T: Tape<f64, Cpu>>(&self, x: Batch<D, f64, Cpu, T>) -> Energies<f64, Cpu, T> {
        // Only used untraced here: a mask that is 0 inside the box and NaN outside.
        let host = x.as_vec();
        let mask: Vec<f64> = host
            .chunks_exact(D)
            .map(|r| {
                if r.iter().all(|v| v.abs() < self.half_width) {
                    0.0
                } else {
                    f64::NAN
                }
            })
            .collect();
        let n = mask.len();
        let mask = x.device().tensor_from_vec(mask, (n,));
        x.square().sum::<(usize,), Axis<1>>() * 0.5 + mask
    }

    fn energy_and_gradient(&self, x: &Batch<D, f64>) -> (Energies<f64>, Batch<D, f64>) {
        let b = self.half_width;
        ebm_core::energy::rows_closed_form(x, |p: &[f64; D], g: &mut [f64; D]| {
            if p.iter().all(|v| v.abs() < b) {
                g.copy_from_slice(p);
                0.5 * p.iter().map(|v| v * v).sum::<f64>()
            } else {
                g.iter_mut().for_each(|v| *v = f64::NAN);
                f64::NAN
            }
        })
    }
}
