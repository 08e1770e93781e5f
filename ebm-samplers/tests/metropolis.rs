//! MALA and HMC: configuration checks, the leapfrog integrator, exactness on Gaussians and on the
//! guide's four-mode mixture, acceptance behaviour and divergences.

#![allow(clippy::needless_range_loop)] // matrix code reads best with indices

mod common;

use common::*;
use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel, Harmonic};
use ebm_samplers::prelude::*;
use proptest::prelude::*;

#[test]
fn rejects_bad_settings() {
    for h in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            invalid_name(HamiltonianMonteCarlo::new(h, 10).unwrap_err()),
            "step_size"
        );
        assert_eq!(invalid_name(Mala::new(h, 1.0).unwrap_err()), "step_size");
    }
    assert_eq!(
        invalid_name(HamiltonianMonteCarlo::new(0.1, 0).unwrap_err()),
        "n_leapfrog_steps"
    );
    for s in [0.0, -1.0, f64::NAN] {
        assert_eq!(invalid_name(Mala::new(0.1, s).unwrap_err()), "noise_scale");
    }
}

#[test]
fn rejects_bad_mass_matrices() {
    let hmc = HamiltonianMonteCarlo::new(0.1, 5).unwrap();
    assert_eq!(
        invalid_name(hmc.clone().with_mass(MassMatrix::Scalar(0.0)).unwrap_err()),
        "mass"
    );
    assert_eq!(
        invalid_name(
            hmc.clone()
                .with_mass(MassMatrix::Scalar(f64::NAN))
                .unwrap_err()
        ),
        "mass"
    );
    assert_eq!(
        invalid_name(
            hmc.clone()
                .with_mass(MassMatrix::Diagonal(vec![1.0, -2.0]))
                .unwrap_err()
        ),
        "mass[1]"
    );
    assert_eq!(
        invalid_name(
            hmc.clone()
                .with_mass(MassMatrix::Dense(vec![1.0; 3]))
                .unwrap_err()
        ),
        "mass"
    );
    assert!(matches!(
        hmc.clone()
            .with_mass(MassMatrix::Dense(vec![1.0, 0.2, 0.3, 1.0])),
        Err(Error::NotSymmetric { .. })
    ));
    assert!(matches!(
        hmc.clone()
            .with_mass(MassMatrix::Dense(vec![1.0, 2.0, 2.0, 1.0])),
        Err(Error::NotPositiveDefinite { .. })
    ));
    // A valid mass of the wrong dimension is caught when the run starts.
    let hmc3 = hmc.with_mass(MassMatrix::Diagonal(vec![1.0; 3])).unwrap();
    let x0 = batch::<2>(&[0.0, 0.0]);
    let err = hmc3
        .sample(&Harmonic::<f64>::default(), &x0, 1, 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 2,
                actual: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_initial_states_without_density() {
    let x0 = batch::<1>(&[0.0, 5.0]);
    for err in [
        HamiltonianMonteCarlo::new(0.1, 3).unwrap().sample(
            &NanOutsideBox { half_width: 1.0 },
            &x0,
            1,
            0,
        ),
        Mala::new(0.1, 1.0)
            .unwrap()
            .sample(&NanOutsideBox { half_width: 1.0 }, &x0, 1, 0),
    ] {
        let err = err.unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteInitialEnergy { chain: 1, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn proposals_outside_the_support_are_divergences_never_draws() {
    let b = 1.5;
    let model = NanOutsideBox { half_width: b };
    let x0 = batch::<2>(&gaussian_draws(
        &[0.0, 0.0],
        &[0.05, 0.0, 0.0, 0.05],
        300,
        1,
    ));
    let runs = [
        HamiltonianMonteCarlo::new(0.4, 8).unwrap().run(
            &model,
            &x0,
            &RunOptions::new(60).trace(1).diagnostics(true),
        ),
        Mala::new(0.8, 1.0).unwrap().run(
            &model,
            &x0,
            &RunOptions::new(60).trace(1).diagnostics(true),
        ),
    ];
    for out in runs {
        let out = out.unwrap();
        let traj = out.trace.unwrap();
        assert!(traj.as_slice().iter().all(|v| v.is_finite() && v.abs() < b));
        assert!(out
            .samples
            .as_vec()
            .iter()
            .all(|v| v.is_finite() && v.abs() < b));
        let stats = out.chain_stats.unwrap();
        assert!(
            stats.total_divergences() > 100,
            "{} divergences",
            stats.total_divergences()
        );
        let diag = out.diagnostics.unwrap();
        assert!(diag.energy_error().unwrap().iter().all(|v| v.is_finite()));
        assert!(diag.mean_energy().iter().all(|v| v.is_finite()));
    }
}

proptest! {
    #![proptest_config(deterministic(48, 7))]

    #[test]
    fn leapfrog_is_reversible(
        x in proptest::collection::vec(-3.0f64..3.0, 2),
        p in proptest::collection::vec(-2.0f64..2.0, 2),
        h in 0.01f64..0.3,
        steps in 1usize..20,
        dense in any::<bool>(),
    ) {
        let dev = Cpu::default();
        let model = GaussianMixture::<2, f64>::four_modes(&dev);
        let mut hmc = HamiltonianMonteCarlo::new(h, steps).unwrap();
        if dense {
            hmc = hmc.with_mass(MassMatrix::Dense(vec![2.0, 0.3, 0.3, 0.7])).unwrap();
        }
        let (x1, p1) = hmc.leapfrog(&model, &batch::<2>(&x), &batch::<2>(&p)).unwrap();
        let back = batch::<2>(&p1.as_vec().iter().map(|v| -v).collect::<Vec<_>>());
        let (x2, p2) = hmc.leapfrog(&model, &x1, &back).unwrap();
        for (a, b) in x2.as_vec().iter().zip(&x) {
            prop_assert!((a - b).abs() < 1e-9, "x: {a} vs {b}");
        }
        for (a, b) in p2.as_vec().iter().zip(&p) {
            prop_assert!((a + b).abs() < 1e-9, "p: {a} vs {}", -b);
        }
    }

    #[test]
    fn leapfrog_preserves_volume(
        x in proptest::collection::vec(-3.0f64..3.0, 2),
        p in proptest::collection::vec(-2.0f64..2.0, 2),
        h in 0.01f64..0.3,
        steps in 1usize..10,
    ) {
        // Jacobian of (x, p) -> (x', p') by central differences; its determinant must be 1.
        let dev = Cpu::default();
        let model = GaussianMixture::<2, f64>::four_modes(&dev);
        let hmc = HamiltonianMonteCarlo::new(h, steps).unwrap();
        let z: Vec<f64> = x.iter().chain(&p).copied().collect();
        let delta = 1e-6;
        let mut rows_x = Vec::new();
        let mut rows_p = Vec::new();
        for k in 0..4 {
            for sign in [1.0, -1.0] {
                let mut w = z.clone();
                w[k] += sign * delta;
                rows_x.extend_from_slice(&w[..2]);
                rows_p.extend_from_slice(&w[2..]);
            }
        }
        let (x1, p1) = hmc.leapfrog(&model, &batch::<2>(&rows_x), &batch::<2>(&rows_p)).unwrap();
        let (x1, p1) = (x1.as_vec(), p1.as_vec());
        let out = |r: usize| [x1[2 * r], x1[2 * r + 1], p1[2 * r], p1[2 * r + 1]];
        let mut jac = [[0.0f64; 4]; 4];
        for k in 0..4 {
            let (plus, minus) = (out(2 * k), out(2 * k + 1));
            for i in 0..4 {
                jac[i][k] = (plus[i] - minus[i]) / (2.0 * delta);
            }
        }
        let det = det4(jac);
        prop_assert!((det - 1.0).abs() < 1e-5, "det = {det}");
    }
}

fn det4(mut a: [[f64; 4]; 4]) -> f64 {
    let mut det = 1.0;
    for c in 0..4 {
        let piv = (c..4)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        if piv != c {
            a.swap(piv, c);
            det = -det;
        }
        det *= a[c][c];
        for r in (c + 1)..4 {
            let f = a[r][c] / a[c][c];
            for k in c..4 {
                a[r][k] -= f * a[c][k];
            }
        }
    }
    det
}

#[test]
fn leapfrog_energy_error_is_second_order() {
    // Same trajectory length 1 with h and h / 2: the mean |Delta H| over chains drops by about 4.
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x = batch::<2>(&gaussian_draws(
        &[1.0, -1.0],
        &[1.0, 0.5, 0.5, 2.0],
        1000,
        3,
    ));
    let p = batch::<2>(&gaussian_draws(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], 1000, 4));
    let mean_error = |h: f64, steps: usize| {
        let hmc = HamiltonianMonteCarlo::new(h, steps).unwrap();
        let h0 = hmc.hamiltonian(&model, &x, &p).unwrap();
        let (x1, p1) = hmc.leapfrog(&model, &x, &p).unwrap();
        let h1 = hmc.hamiltonian(&model, &x1, &p1).unwrap();
        h0.iter().zip(&h1).map(|(a, b)| (a - b).abs()).sum::<f64>() / 1000.0
    };
    let coarse = mean_error(0.2, 5);
    let fine = mean_error(0.1, 10);
    let finer = mean_error(0.05, 20);
    for (a, b) in [(coarse, fine), (fine, finer)] {
        let ratio = a / b;
        assert!(
            (3.5..4.5).contains(&ratio),
            "error ratio {ratio} ({a} / {b})"
        );
    }
}

/// Runs `sampler` from exact draws of `N(mean, cov)` and checks the final states against the target.
fn check_exact_on_gaussian<const D: usize, S: Sampler>(
    sampler: &S,
    mean: &[f64],
    cov: &[f64],
    steps: usize,
    seed: u64,
    what: &str,
) {
    let dev = Cpu::default();
    let model = GaussianModel::<D, f64>::from_slices(&dev, mean, cov).unwrap();
    let n = 4000;
    let x0 = batch::<D>(&gaussian_draws(mean, cov, n, seed));
    let out = sampler
        .run(&model, &x0, &RunOptions::new(steps).seed(seed))
        .unwrap();
    let rate = out.chain_stats.unwrap().mean_acceptance_rate();
    assert!(rate > 0.2, "{what}: acceptance {rate}");
    assert_moments(&out.samples.as_vec(), D, mean, cov, 5.0, 0.0, what);
}

fn check_gaussian_case<const D: usize>(mean: &[f64], entries: &[f64], seed: u64, kind: u8) {
    let cov = random_spd(entries, D, 0.2);
    let prec = ebm_core::linalg::spd_inverse("cov", &cov, D).unwrap();
    let lambda_max: f64 = (0..D).map(|i| prec[i * D + i]).sum(); // >= largest eigenvalue
                                                                 // MALA with a step where unadjusted Langevin would be biased by ~25% along the stiffest direction.
    let mala = Mala::new(0.4 / lambda_max, 1.0).unwrap();
    check_exact_on_gaussian::<D, _>(&mala, mean, &cov, 30, seed, &format!("MALA D={D}"));
    let hmc = HamiltonianMonteCarlo::new(0.9 / lambda_max.sqrt(), 7).unwrap();
    let hmc = match kind % 4 {
        0 => hmc,
        1 => hmc.with_mass(MassMatrix::Scalar(1.7)).unwrap(),
        2 => hmc
            .with_mass(MassMatrix::Diagonal(
                (0..D).map(|i| prec[i * D + i]).collect(),
            ))
            .unwrap(),
        _ => hmc.with_mass(MassMatrix::Dense(prec.clone())).unwrap(),
    };
    check_exact_on_gaussian::<D, _>(
        &hmc,
        mean,
        &cov,
        15,
        seed + 1,
        &format!("HMC D={D} mass {:?}", hmc.mass()),
    );
}

proptest! {
    #![proptest_config(deterministic(10, 11))]

    #[test]
    fn hmc_and_mala_keep_random_gaussians_exactly(
        d in 1usize..=5,
        mean in proptest::collection::vec(-2.0f64..2.0, 5),
        entries in proptest::collection::vec(-1.0f64..1.0, 25),
        seed in 0u64..1000,
        kind in any::<u8>(),
    ) {
        match d {
            1 => check_gaussian_case::<1>(&mean[..1], &entries[..1], seed, kind),
            2 => check_gaussian_case::<2>(&mean[..2], &entries[..4], seed, kind),
            3 => check_gaussian_case::<3>(&mean[..3], &entries[..9], seed, kind),
            4 => check_gaussian_case::<4>(&mean[..4], &entries[..16], seed, kind),
            _ => check_gaussian_case::<5>(&mean[..5], &entries[..25], seed, kind),
        }
    }
}

#[test]
fn hmc_converges_to_the_guide_gaussian_from_the_guide_start() {
    let dev = Cpu::default();
    let mean = [1.0, -1.0];
    let cov = [1.0, 0.5, 0.5, 2.0];
    let model = GaussianModel::<2, f64>::from_slices(&dev, &mean, &cov).unwrap();
    let x0 = standard_normal_batch::<2>(4000, 21);
    // 60 steps of trajectory length 1 forget the N(0, I) start completely.
    let x = HamiltonianMonteCarlo::new(0.1, 10)
        .unwrap()
        .sample(&model, &x0, 60, 5)
        .unwrap();
    assert_moments(&x.as_vec(), 2, &mean, &cov, 5.0, 0.0, "HMC from N(0, I)");
}

/// Mean and covariance of `exp(-E)` for a 2-D energy by quadrature on a fine grid over [-10, 10]^2.
fn quadrature_moments(energy: impl Fn(f64, f64) -> f64) -> ([f64; 2], [f64; 4]) {
    let (lo, hi, n) = (-10.0, 10.0, 2000);
    let step = (hi - lo) / n as f64;
    let mut acc = [0.0f64; 6]; // mass, x, y, xx, xy, yy
    for i in 0..n {
        let x = lo + (i as f64 + 0.5) * step;
        for j in 0..n {
            let y = lo + (j as f64 + 0.5) * step;
            let w = (-energy(x, y)).exp();
            for (a, v) in acc.iter_mut().zip([1.0, x, y, x * x, x * y, y * y]) {
                *a += w * v;
            }
        }
    }
    let m = [acc[1] / acc[0], acc[2] / acc[0]];
    let c = [
        acc[3] / acc[0] - m[0] * m[0],
        acc[4] / acc[0] - m[0] * m[1],
        acc[4] / acc[0] - m[0] * m[1],
        acc[5] / acc[0] - m[1] * m[1],
    ];
    (m, c)
}

#[test]
fn hmc_and_mala_sample_the_four_mode_mixture_at_noise_one() {
    let centers = [(-1.5, -1.5), (1.5, 1.5), (-1.5, 1.5), (1.5, -1.5)];
    let weights = [1.0, 1.0, 0.8, 0.8];
    let (mu, sigma) = quadrature_moments(|x, y| {
        let s: f64 = centers
            .iter()
            .zip(weights)
            .map(|(&(cx, cy), w)| (-0.5 * w * ((x - cx) * (x - cx) + (y - cy) * (y - cy))).exp())
            .sum();
        -s.ln()
    });
    // Cross-check the quadrature against the closed form: component k has mass 2 pi / w_k, so the
    // covariance is sum_k pi_k (c_k c_k^T + I / w_k).
    let masses: Vec<f64> = weights.iter().map(|w| 1.0 / w).collect();
    let total: f64 = masses.iter().sum();
    let xy: f64 = centers
        .iter()
        .zip(&masses)
        .map(|(c, m)| m * c.0 * c.1)
        .sum::<f64>()
        / total;
    let xx: f64 = centers
        .iter()
        .zip(&masses)
        .zip(weights)
        .map(|((c, m), w)| m * (c.0 * c.0 + 1.0 / w))
        .sum::<f64>()
        / total;
    assert!(
        (sigma[1] - xy).abs() < 1e-9 && (sigma[0] - xx).abs() < 1e-9,
        "{sigma:?} vs {xx} {xy}"
    );
    assert!(mu[0].abs() < 1e-9 && mu[1].abs() < 1e-9);

    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(4000, 31);
    let hmc = HamiltonianMonteCarlo::new(0.25, 8)
        .unwrap()
        .sample(&model, &x0, 150, 1)
        .unwrap();
    assert_moments_any(&hmc.as_vec(), 2, &mu, &sigma, 5.0, "HMC four modes");
    let mala = Mala::new(0.5, 1.0)
        .unwrap()
        .sample(&model, &x0, 400, 2)
        .unwrap();
    assert_moments_any(&mala.as_vec(), 2, &mu, &sigma, 5.0, "MALA four modes");
}

#[test]
fn acceptance_falls_as_the_step_grows() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0 = batch::<2>(&gaussian_draws(
        &[1.0, -1.0],
        &[1.0, 0.5, 0.5, 2.0],
        1000,
        8,
    ));
    let rate =
        |s: &dyn Fn() -> SampleOutput<2, f64, Cpu>| s().chain_stats.unwrap().mean_acceptance_rate();
    let opts = RunOptions::new(20).seed(9);
    let hmc: Vec<f64> = [0.001, 0.4, 0.8, 1.2, 1.5]
        .iter()
        .map(|&h| {
            rate(&|| {
                HamiltonianMonteCarlo::new(h, 5)
                    .unwrap()
                    .run(&model, &x0, &opts)
                    .unwrap()
            })
        })
        .collect();
    let mala: Vec<f64> = [0.0001, 0.1, 0.5, 1.0, 1.5]
        .iter()
        .map(|&h| rate(&|| Mala::new(h, 1.0).unwrap().run(&model, &x0, &opts).unwrap()))
        .collect();
    for rates in [&hmc, &mala] {
        assert!(rates[0] > 0.995, "tiny steps: {rates:?}");
        for w in rates.windows(2) {
            assert!(w[1] < w[0] - 0.003, "not falling: {rates:?}");
        }
        assert!(
            rates[4] < 0.8,
            "largest step still accepted often: {rates:?}"
        );
    }
}

#[test]
fn diagnostics_agree_with_chain_stats() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(200, 3);
    for out in [
        HamiltonianMonteCarlo::new(0.3, 6).unwrap().run(
            &model,
            &x0,
            &RunOptions::new(30).diagnostics(true).trace(1),
        ),
        Mala::new(0.6, 1.0).unwrap().run(
            &model,
            &x0,
            &RunOptions::new(30).diagnostics(true).trace(1),
        ),
    ] {
        let out = out.unwrap();
        let diag = out.diagnostics.unwrap();
        let stats = out.chain_stats.unwrap();
        let by_step = diag.mean_acceptance_rate().unwrap();
        assert!((by_step - stats.mean_acceptance_rate()).abs() < 1e-12);
        assert!(by_step > 0.3 && by_step < 1.0, "{by_step}");
        assert_eq!(diag.acceptance_rate().unwrap().len(), 30);
        assert!(diag
            .energy_error()
            .unwrap()
            .iter()
            .all(|e| e.is_finite() && *e >= 0.0));
        // The mean energy recorded each step is that of the kept states.
        let traj = out.trace.unwrap();
        let last: Vec<f64> = (0..200).flat_map(|c| *traj.point(c, 29).unwrap()).collect();
        let e = model.energy(batch::<2>(&last)).as_vec().iter().sum::<f64>() / 200.0;
        assert!((diag.mean_energy()[29] - e).abs() < 1e-12);
        assert_eq!(last, out.samples.as_vec());
    }
}

#[test]
fn hmc_is_reproducible_from_its_seed() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f32>::four_modes(&dev);
    let x0: Batch<2> = Cpu::seed_from_u64(1).sample_normal_like(&(100, Const::<2>));
    let hmc = HamiltonianMonteCarlo::new(0.2, 5).unwrap();
    let a = hmc.sample(&model, &x0, 10, 4).unwrap().as_vec();
    assert_eq!(a, hmc.sample(&model, &x0, 10, 4).unwrap().as_vec());
    assert_ne!(a, hmc.sample(&model, &x0, 10, 5).unwrap().as_vec());
}

#[test]
fn masses_whose_inverse_is_not_finite_are_refused_by_name() {
    // f64: 1e-320 is subnormal and its inverse is infinite.
    let err = HamiltonianMonteCarlo::new(0.1, 3)
        .unwrap()
        .with_mass(MassMatrix::Diagonal(vec![1e-320, 1.0]))
        .unwrap_err();
    assert_eq!(invalid_name(err), "mass[0]");
    let err = Nuts::new(0.1)
        .unwrap()
        .with_mass(MassMatrix::Scalar(1e-315))
        .unwrap_err();
    assert_eq!(invalid_name(err), "mass");
    // f32: 1e-39 is fine as f64 but not as f32, where its inverse overflows; the run says so
    // before any transition diverges.
    let hmc = HamiltonianMonteCarlo::new(0.1, 3)
        .unwrap()
        .with_mass(MassMatrix::Diagonal(vec![1.0, 1e-39]))
        .unwrap();
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f32>::four_modes(&dev);
    let x0: Batch<2, f32> = dev.zeros_like(&(3, Const::<2>));
    let err = hmc
        .run(&model, &x0, &RunOptions::new(5).progress(false))
        .unwrap_err();
    assert_eq!(invalid_name(err), "mass[1]");
}
