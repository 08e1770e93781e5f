//! Tests of warm-up's parts.

use super::adaptable::MassAdaptation;
use super::mass_estimate::geometric_mass;
use super::mass_estimate::WindowEstimate;
use crate::kernels::MassMatrix;
use ebm_core::linalg;

/// A symmetric positive-definite `d x d` matrix `A A^T / d + s I` from a fixed pseudo-random
/// `A`.
fn spd(d: usize, seed: f64, s: f64) -> Vec<f64> {
    let a: Vec<f64> = (0..d * d)
        .map(|k| (seed * (k as f64 + 1.0)).sin())
        .collect();
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            m[i * d + j] = (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum::<f64>() / d as f64;
        }
        m[i * d + i] += s;
    }
    m
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn the_square_root_squares_back() {
    let d = 12;
    let c = spd(d, 0.73, 0.05);
    let r = linalg::spd_sqrt("c", &c, d).unwrap();
    assert!(max_abs_diff(&linalg::mat_mul(&r, &r, d), &c) < 1e-10);
    // Symmetric, and positive definite (it has a Cholesky factor).
    assert!(max_abs_diff(&r, &linalg::transposed(&r, d)) < 1e-12);
    linalg::cholesky("root", &r, d).unwrap();
}

#[test]
fn the_geometric_mass_solves_its_equation_for_matrices_that_do_not_commute() {
    let d = 9;
    let (sx, sg) = (spd(d, 0.37, 0.2), spd(d, 1.91, 0.1));
    let m = geometric_mass(&sx, &sg, d).unwrap();
    let back = linalg::mat_mul(&linalg::mat_mul(&m, &sx, d), &m, d);
    assert!(
        max_abs_diff(&back, &sg) < 1e-9,
        "{}",
        max_abs_diff(&back, &sg)
    );
    linalg::cholesky("mass", &m, d).unwrap();
    // For sg = P sx P the solution is P, whatever sx.
    let p = spd(d, 2.53, 0.3);
    let psp = linalg::mat_mul(&linalg::mat_mul(&p, &sx, d), &p, d);
    assert!(max_abs_diff(&geometric_mass(&sx, &psp, d).unwrap(), &p) < 1e-9);
}

#[test]
fn gradient_dense_falls_back_to_the_diagonal_when_gradients_do_not_vary() {
    let d = 3;
    let mut w = WindowEstimate::new(d, MassAdaptation::GradientDense);
    let mut delta = vec![0.0; d];
    for i in 0..20 {
        let x: Vec<f64> = (0..d).map(|j| ((i * 7 + j * 3) as f64).sin()).collect();
        w.add(&x, &mut delta);
        w.add_gradient(&[1.0f64, -2.0, 0.5], &mut delta);
    }
    // Zero gradient variance: no dense estimate, and unit masses rather than zeros.
    assert_eq!(w.mass().unwrap(), MassMatrix::Diagonal(vec![1.0; d]));
    // With varying gradients the same window gives a dense mass.
    let mut w = WindowEstimate::new(d, MassAdaptation::GradientDense);
    for i in 0..20 {
        // Three different frequencies, so the draws span all three directions.
        let x: Vec<f64> = (0..d)
            .map(|j| (1.3 * (i * (j + 1)) as f64 + 0.7 * j as f64).sin())
            .collect();
        let g: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        w.add(&x, &mut delta);
        w.add_gradient(&g, &mut delta);
    }
    let Ok(MassMatrix::Dense(m)) = w.mass() else {
        panic!("a dense mass")
    };
    // g = 2 x exactly, so M S M = 4 S: M = 2 I up to the regularisation.
    for i in 0..d {
        for j in 0..d {
            let want = if i == j { 2.0 } else { 0.0 };
            assert!(
                (m[i * d + j] - want).abs() < 1e-2,
                "{i},{j}: {}",
                m[i * d + j]
            );
        }
    }
}

#[test]
fn the_lower_inverse_inverts() {
    let d = 7;
    let l = linalg::cholesky("a", &spd(d, 0.5, 0.4), d).unwrap();
    let w = linalg::lower_inverse(&l, d);
    let eye: Vec<f64> = (0..d * d).map(|k| f64::from(k / d == k % d)).collect();
    assert!(max_abs_diff(&linalg::mat_mul(&l, &w, d), &eye) < 1e-12);
}
