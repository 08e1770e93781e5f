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
