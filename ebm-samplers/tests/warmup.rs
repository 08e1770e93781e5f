//! Warm-up that tunes itself: the schedule, dual averaging, moments of NUTS draws within their
//! Monte Carlo standard errors, the adapted acceptance, and the dense mass matrix.

mod common;

use common::*;
use ebm_core::prelude::*;
use ebm_diagnostics::{ess_bulk, mcse_mean};
use ebm_models::{GaussianMixture, GaussianModel};
use ebm_samplers::prelude::*;
use ebm_samplers::warmup::{Adaptable, DualAveraging, WindowSchedule};
use ebm_samplers::DrawTrace;

#[test]
fn the_schedule_is_stans() {
    let s = WindowSchedule::new(1000, 75, 25, 50);
    assert_eq!(s.window_starts, vec![75, 100, 150, 250, 450]);
    assert_eq!(s.window_ends, vec![100, 150, 250, 450, 950]);
    // Short warm-ups are scaled: 15% initial, one window, 10% final.
    let s = WindowSchedule::new(100, 75, 25, 50);
    assert_eq!((s.window_starts, s.window_ends), (vec![15], vec![90]));
    assert!(WindowSchedule::new(10, 75, 25, 50).window_ends.is_empty());
}

#[test]
fn dual_averaging_moves_the_step_toward_the_target() {
    // Acceptance exp(-eps): the step size with acceptance 0.8 is -ln 0.8 = 0.223.
    let mut da = DualAveraging::new(1.0, 0.8).unwrap();
    assert!(DualAveraging::new(0.0, 0.8).is_err() && DualAveraging::new(1.0, 1.0).is_err());
    let mut eps: f64 = 1.0;
    for _ in 0..2000 {
        eps = da.update((-eps).exp());
    }
    let fin = da.final_step_size();
    assert!((fin - 0.2231).abs() < 0.01, "{fin}");
}

#[test]
fn recentring_moves_the_iterate_without_the_swings_of_a_fresh_start() {
    // Acceptance exp(-eps / s): at scale s the step size with acceptance 0.8 is 0.223 s.
    let accept = |eps: f64, s: f64| (-eps / s).exp();
    let mut da = DualAveraging::new(1.0, 0.8).unwrap();
    let mut eps: f64 = 1.0;
    for _ in 0..300 {
        eps = da.update(accept(eps, 1.0));
    }
    assert!((eps - 0.223).abs() < 0.02, "{eps}");
    // The scale doubles (a new mass matrix), and so does the initial step size a search finds.
    assert!(da.recentre(0.0).is_err() && da.recentre(f64::NAN).is_err());
    let next = da.recentre(2.0).unwrap();
    assert_eq!(da.final_step_size(), next);
    // The average starts again: after one update it is that update's iterate (a carried-on
    // average, 300 updates old, would barely move).
    let one = da.clone().update(accept(next, 2.0));
    let mut after_one = da.clone();
    after_one.update(accept(next, 2.0));
    assert_eq!(after_one.final_step_size(), one);
    // The iterate doubles too, landing near the new target at once; a fresh start at 2.0 on
    // target would jump to about 10 x 2.0.
    assert!((next - 0.446).abs() < 0.05, "{next}");
    let fresh = DualAveraging::new(2.0, 0.8).unwrap().update(0.8);
    assert!(fresh > 15.0, "{fresh}");
    // The adaptation stays on the new target, and the final step size averages only the iterates
    // since the centre.
    eps = next;
    for _ in 0..500 {
        eps = da.update(accept(eps, 2.0));
    }
    let fin = da.final_step_size();
    assert!((fin - 0.4463).abs() < 0.02, "{fin}");
}

/// `(chain, draw)` slices of coordinate `i` of a trace.
fn coordinate<const D: usize>(trace: &DrawTrace<D, f64>, i: usize) -> Vec<Vec<f64>> {
    (0..trace.n_chains())
        .map(|c| {
            (0..trace.n_kept())
                .map(|k| trace.point(c, k).unwrap()[i])
                .collect()
        })
        .collect()
}

/// Checks the mean and the variance of every coordinate against the truth within 5 Monte Carlo
/// standard errors (from the effective sample size of the draws and of their squares).
fn check_moments<const D: usize>(trace: &DrawTrace<D, f64>, mean: &[f64], var: &[f64], what: &str) {
    for i in 0..D {
        let x = coordinate(trace, i);
        let refs: Vec<&[f64]> = x.iter().map(|c| c.as_slice()).collect();
        let m = x.iter().flatten().sum::<f64>() / (x.len() * x[0].len()) as f64;
        let se = mcse_mean(&refs).unwrap();
        assert!(
            (m - mean[i]).abs() < 5.0 * se,
            "{what}: mean[{i}] {m} vs {} (mcse {se})",
            mean[i]
        );
        let sq: Vec<Vec<f64>> = x
            .iter()
            .map(|c| c.iter().map(|v| (v - mean[i]).powi(2)).collect())
            .collect();
        let sq_refs: Vec<&[f64]> = sq.iter().map(|c| c.as_slice()).collect();
        let v = sq.iter().flatten().sum::<f64>() / (sq.len() * sq[0].len()) as f64;
        let se_v = mcse_mean(&sq_refs).unwrap();
        assert!(
            (v - var[i]).abs() < 5.0 * se_v,
            "{what}: var[{i}] {v} vs {} (mcse {se_v})",
            var[i]
        );
        assert!(
            ess_bulk(&refs).unwrap() > 200.0,
            "{what}: too few effective draws"
        );
    }
}

/// A `D`-dimensional Gaussian, mean 0, independent coordinates with standard deviations
/// `10^(-1 + 2 i / (D - 1))`: 0.1 to 10. Returns the model and its variances.
fn scaled_gaussian<const D: usize>(dev: &Cpu) -> (GaussianModel<D, f64>, Vec<f64>) {
    let var: Vec<f64> = (0..D)
        .map(|i| 10f64.powf(-1.0 + 2.0 * i as f64 / (D - 1) as f64).powi(2))
        .collect();
    let cov: Vec<f64> = (0..D * D)
        .map(|k| if k / D == k % D { var[k / D] } else { 0.0 })
        .collect();
    let model = GaussianModel::<D, f64>::from_slices(dev, &[0.0; D], &cov).unwrap();
    (model, var)
}

fn settings(seed: u64) -> Warmup {
    Warmup {
        seed,
        progress: false,
        ..Warmup::default()
    }
}

#[test]
fn nuts_with_warmup_samples_a_badly_scaled_gaussian() {
    // 10-D, standard deviations from 0.1 to 10: hopeless without a tuned mass matrix.
    const D: usize = 10;
    let dev = Cpu::default();
    let (model, var) = scaled_gaussian::<D>(&dev);
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &vec_eye(D, 1.0), 4, 3));
    // Both diagonal estimators: from draws and gradients (the default), and Stan's.
    for mass in [MassAdaptation::GradientDiagonal, MassAdaptation::Diagonal] {
        let run = Warmup {
            mass,
            ..settings(3)
        }
        .run(&Nuts::default(), &model, &x0)
        .unwrap();
        assert_eq!(run.sampling.stats.total_divergences(), 0);
        check_moments(&run.sampling.trace, &[0.0; D], &var, "diagonal Gaussian");
        // The adapted diagonal mass is close to the precision.
        let Some(MassMatrix::Diagonal(m)) = &run.mass else {
            panic!("a diagonal mass was adapted: {:?}", run.mass)
        };
        for (mi, v) in m.iter().zip(&var) {
            assert!(
                (mi * v - 1.0).abs() < 0.3,
                "{mass:?}: mass {mi} for variance {v}"
            );
        }
    }
}

#[test]
fn without_the_step_size_search_the_step_size_carries_on_through_each_window_end() {
    // The kernel's step size (10) is far from the tuned one; with the search off, each window end
    // only restarts the average, so the iterate does not jump by the tuned / initial ratio.
    const D: usize = 10;
    let dev = Cpu::default();
    let (model, _) = scaled_gaussian::<D>(&dev);
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &vec_eye(D, 1.0), 4, 5));
    let run = Warmup {
        find_initial_step_size: false,
        ..settings(5)
    }
    .run(&Nuts::new(10.0).unwrap(), &model, &x0)
    .unwrap();
    let n = 4;
    let eps = &run.warmup_step_sizes;
    for end in WindowSchedule::new(1000, 75, 25, 150).window_ends {
        for c in 0..n {
            let (before, after) = (eps[(end - 1) * n + c], eps[end * n + c]);
            assert!(
                (1.0 / 3.0..3.0).contains(&(after / before)),
                "window end {end}, chain {c}: {before} then {after}"
            );
        }
    }
    let accept = run.sampling.stats.mean_accept_prob();
    assert!((accept - 0.8).abs() < 0.05, "{accept}");
}

#[test]
fn starting_from_the_gradients_scale_shortens_the_first_trajectories() {
    // Scales 0.1 to 10 started at U(-2, 2): with a unit mass the first trees run long.
    const D: usize = 20;
    let dev = Cpu::default();
    let (model, _) = scaled_gaussian::<D>(&dev);
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &vec_eye(D, 4.0 / 3.0), 4, 8));
    let grads = |from_gradient: bool| {
        let run = Warmup {
            gradient_initial_mass: from_gradient,
            n_warmup: 300,
            n_draws: 100,
            ..settings(8)
        }
        .run(&Nuts::default(), &model, &x0)
        .unwrap();
        (0..75 * 4)
            .map(|k| u64::from(run.warmup.stats.info[k].grad_evals))
            .sum::<u64>()
    };
    let (on, off) = (grads(true), grads(false));
    eprintln!("first 75 warm-up transitions: {on} gradients from the gradient's scale, {off} from a unit mass");
    assert!(on * 2 < off, "{on} vs {off}");
}

fn vec_eye(d: usize, v: f64) -> Vec<f64> {
    (0..d * d)
        .map(|k| if k / d == k % d { v } else { 0.0 })
        .collect()
}

fn rho_cov(d: usize, rho: f64) -> Vec<f64> {
    (0..d * d)
        .map(|k| rho.powi((k / d).abs_diff(k % d) as i32))
        .collect()
}

/// NUTS warm-up with the mass adaptation `mass` on the 10-D Gaussian with covariance `0.9^|i-j|`:
/// the covariance and the adapted dense mass, with the run.
fn correlated_dense_run(
    mass: MassAdaptation,
) -> (Vec<f64>, Vec<f64>, AdaptedRun<10, f64, Cpu, Nuts>) {
    const D: usize = 10;
    let cov = rho_cov(D, 0.9);
    let dev = Cpu::default();
    let model = GaussianModel::<D, f64>::from_slices(&dev, &[0.0; D], &cov).unwrap();
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &vec_eye(D, 1.0), 4, 5));
    let run = Warmup {
        mass,
        ..settings(5)
    }
    .run(&Nuts::default(), &model, &x0)
    .unwrap();
    let Some(MassMatrix::Dense(m)) = run.mass.clone() else {
        panic!("a dense mass was adapted: {:?}", run.mass)
    };
    (cov, m, run)
}

/// `|a - b|_F / |b|_F`.
fn relative_frobenius(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm).sqrt()
}

/// For a Gaussian the gradients are `P (x - mu)`, so the gradient-informed dense estimate solves
/// `M S M = P S P` for whatever sample covariance `S` the window saw: `M = P`, up to Stan's
/// regularisation (a relative `5 / (n + 5)` shrinkage and a `1e-3`-scaled ridge), far closer than
/// the draws alone give (the test above allows 0.2).
#[test]
fn gradient_dense_adaptation_finds_a_gaussians_precision() {
    const D: usize = 10;
    let (cov, m, run) = correlated_dense_run(MassAdaptation::GradientDense);
    let precision = ebm_core::linalg::spd_inverse("cov", &cov, D).unwrap();
    let rel = relative_frobenius(&m, &precision);
    assert!(rel < 1e-3, "relative Frobenius error {rel}");
    check_moments(
        &run.sampling.trace,
        &[0.0; D],
        &[1.0; D],
        "correlated Gaussian, gradient-dense mass",
    );
}

#[test]
fn dense_adaptation_recovers_a_correlated_covariance() {
    const D: usize = 10;
    let (cov, m, run) = correlated_dense_run(MassAdaptation::Dense);
    // The mass is the inverse of the estimated covariance.
    let est = ebm_core::linalg::spd_inverse("mass", &m, D).unwrap();
    let rel = relative_frobenius(&est, &cov);
    assert!(rel < 0.2, "relative Frobenius error {rel}");
    check_moments(
        &run.sampling.trace,
        &[0.0; D],
        &[1.0; D],
        "correlated Gaussian",
    );
    // Dense adaptation makes the correlated target easy: short trees.
    assert!(
        run.sampling.stats.mean_tree_depth() < 3.5,
        "{}",
        run.sampling.stats.mean_tree_depth()
    );
}

#[test]
fn nuts_with_warmup_samples_the_four_wells_at_temperature_one() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(4, 9);
    let run = settings(9).run(&Nuts::default(), &model, &x0).unwrap();
    // The mixture's exact moments: component k has mass 2 pi / w_k.
    let (centers, weights) = (
        [(-1.5, -1.5), (1.5, 1.5), (-1.5, 1.5), (1.5, -1.5)],
        [1.0, 1.0, 0.8, 0.8],
    );
    let masses: Vec<f64> = weights.iter().map(|w| 1.0 / w).collect();
    let total: f64 = masses.iter().sum();
    let xx: f64 = centers
        .iter()
        .zip(&masses)
        .zip(weights)
        .map(|((c, m), w)| m * (c.0 * c.0 + 1.0 / w))
        .sum::<f64>()
        / total;
    check_moments(&run.sampling.trace, &[0.0, 0.0], &[xx, xx], "four wells");
}

#[test]
fn the_adapted_acceptance_is_near_its_target() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0 = standard_normal_batch::<2>(4, 1);
    // MALA: dual averaging lands on its target (0.574).
    let mala = settings(2)
        .run(&Mala::new(0.1, 1.0).unwrap(), &model, &x0)
        .unwrap();
    let a = mala.sampling.stats.mean_accept_prob();
    assert!((a - 0.574).abs() < 0.05, "MALA acceptance {a}");
    // NUTS: warm-up drives the trajectory's mean symmetric acceptance statistic to the target;
    // after warm-up (step size jittered by +-10%) that statistic stays within 0.05 of it.
    const D: usize = 100;
    let (model, _) = scaled_gaussian::<D>(&dev);
    let x0: Batch<D, f64> = dev.zeros_like(&(4, Const::<D>));
    let run = settings(4).run(&Nuts::default(), &model, &x0).unwrap();
    let sym: Vec<f64> = (0..4)
        .flat_map(|c| run.sampling.stats.chain(c, StepInfo::symmetric_accept_prob))
        .collect();
    let s = sym.iter().sum::<f64>() / sym.len() as f64;
    let a = run.sampling.stats.mean_accept_prob();
    assert!((s - 0.8).abs() < 0.05, "NUTS symmetric acceptance {s}");
    // So does the plain mean acceptance of the same transitions.
    assert!((a - 0.8).abs() < 0.05, "NUTS acceptance {a}");
    assert_eq!(run.sampling.stats.total_divergences(), 0);
}

#[test]
fn bad_warmup_settings_are_errors_naming_them() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0 = standard_normal_batch::<2>(2, 1);
    let nuts = Nuts::default();
    for (w, name) in [
        (
            Warmup {
                target_accept: Some(1.0),
                ..Warmup::default()
            },
            "target_accept",
        ),
        (
            Warmup {
                jitter: 1.0,
                ..Warmup::default()
            },
            "jitter",
        ),
        (
            Warmup {
                thin: 0,
                ..Warmup::default()
            },
            "thin",
        ),
        (
            Warmup {
                n_draws: 3,
                thin: 5,
                ..Warmup::default()
            },
            "draws",
        ),
        (
            Warmup {
                windows: (75, 0, 50),
                ..Warmup::default()
            },
            "windows",
        ),
    ] {
        assert_eq!(invalid_name(w.run(&nuts, &model, &x0).unwrap_err()), name);
    }
}

#[test]
fn nuts_warms_up_with_its_warmup_criterion_and_samples_with_its_own() {
    // A correlated Gaussian under a diagonal mass: the two U-turn criteria give trees of clearly
    // different lengths, so each phase shows which criterion ran it.
    const D: usize = 20;
    let dev = Cpu::default();
    let model = GaussianModel::<D, f64>::from_slices(&dev, &[0.0; D], &rho_cov(D, 0.9)).unwrap();
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &vec_eye(D, 1.0), 4, 9));
    let run = |nuts: Nuts| {
        Warmup {
            n_warmup: 300,
            n_draws: 200,
            ..settings(9)
        }
        .run(&nuts, &model, &x0)
        .unwrap()
    };
    let grads = |stats: &ebm_samplers::warmup::DrawStats| {
        stats
            .info
            .iter()
            .map(|i| u64::from(i.grad_evals))
            .sum::<u64>()
    };
    let default = run(Nuts::default());
    let position = run(Nuts::default().with_uturn(UTurn::Position));
    let momentum = run(Nuts::default().with_warmup_uturn(UTurn::Momentum));
    // Both warm up by the position criterion: the same warm-up to the last draw, the same tuning.
    assert_eq!(default.warmup.stats, position.warmup.stats);
    assert_eq!(default.step_sizes, position.step_sizes);
    assert_eq!(default.mass, position.mass);
    // Then each samples with its own criterion, and hands it back.
    assert_eq!(default.kernel.uturn(), UTurn::Momentum);
    assert_eq!(default.kernel.warmup_uturn(), UTurn::Position);
    assert_eq!(position.kernel.uturn(), UTurn::Position);
    let (d, p) = (
        grads(&default.sampling.stats),
        grads(&position.sampling.stats),
    );
    assert!(
        d * 4 > p * 5,
        "sampling gradients: momentum {d}, position {p}"
    );
    // Warm-up by the momentum criterion takes longer trees.
    let (wp, wm) = (grads(&default.warmup.stats), grads(&momentum.warmup.stats));
    assert!(
        wm * 4 > wp * 5,
        "warm-up gradients: position {wp}, momentum {wm}"
    );
    assert_eq!(momentum.kernel.warmup_uturn(), UTurn::Momentum);
    for r in [&default, &position, &momentum] {
        assert_eq!(r.sampling.stats.total_divergences(), 0);
    }
}

#[test]
fn the_step_size_is_searched_again_after_the_first_transition() {
    // Chains started far out (U(-2, 2) against scales down to 0.1). Both runs make the same
    // first transition from the same searched step size; then one goes on by dual averaging,
    // the other searches again from where the chains are and starts dual averaging afresh.
    const D: usize = 10;
    let dev = Cpu::default();
    let (model, _) = scaled_gaussian::<D>(&dev);
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &vec_eye(D, 4.0 / 3.0), 4, 21));
    let nuts = Nuts::default();
    let run = |again: bool| {
        Warmup {
            search_after_first_transition: again,
            n_warmup: 200,
            n_draws: 50,
            ..settings(21)
        }
        .run(&nuts, &model, &x0)
        .unwrap()
    };
    let (off, on) = (run(false), run(true));
    let n = 4;
    let (w_off, w_on) = (&off.warmup.stats, &on.warmup.stats);
    assert_eq!(w_off.step_size[..n], w_on.step_size[..n]);
    assert_eq!(w_off.info[..n], w_on.info[..n]);
    // The step size of the second transition, and of the third from the second's statistic.
    let averaged = |eps: f64, info: &StepInfo| {
        DualAveraging::new(eps, 0.8)
            .unwrap()
            .update(nuts.adaptation_statistic(info))
    };
    let mut searched = 0;
    for c in 0..n {
        let after_dual = averaged(w_off.step_size[c], &w_off.info[c]);
        assert_eq!(w_off.step_size[n + c], after_dual, "chain {c}");
        // The search doubles or halves from where dual averaging left the step size.
        let ratio = w_on.step_size[n + c] / after_dual;
        assert_eq!(
            ratio,
            2f64.powi(ratio.log2().round() as i32),
            "chain {c}: {ratio}"
        );
        searched += usize::from(ratio != 1.0);
        // Afresh: the third step size follows from the second alone.
        let third = averaged(w_on.step_size[n + c], &w_on.info[n + c]);
        assert!(
            (w_on.step_size[2 * n + c] / third - 1.0).abs() < 1e-12,
            "chain {c}: {} vs {third}",
            w_on.step_size[2 * n + c]
        );
    }
    assert!(searched > 0, "no chain's step size moved in the search");
    assert!(on.search_gradient_evaluations > off.search_gradient_evaluations);
    // One evaluation per chain at the start, then at least one leapfrog step per search.
    assert!(off.search_gradient_evaluations > n as u64);
}

#[test]
fn a_warmup_only_run_continues_exactly_as_warmup_samples() {
    // Warm-up alone (no draws), then the returned state continued with the returned kernel: the
    // same draws, bit for bit, as the run that samples itself, step-size jitter included.
    let dev = Cpu::default();
    let model = GaussianModel::<3, f64>::from_slices(
        &dev,
        &[0.5, -1.0, 2.0],
        &[1.0, 0.3, 0.0, 0.3, 2.0, 0.4, 0.0, 0.4, 0.5],
    )
    .unwrap();
    let x0 = batch::<3>(&gaussian_draws(&[0.0; 3], &vec_eye(3, 1.0), 4, 2));
    let settings = |draws| Warmup {
        n_warmup: 150,
        n_draws: draws,
        jitter: 0.2,
        ..settings(11)
    };
    let whole = settings(80).run(&Nuts::default(), &model, &x0).unwrap();
    let mut only = settings(0).run(&Nuts::default(), &model, &x0).unwrap();
    assert_eq!(only.sampling.trace.n_kept(), 0);
    assert_eq!(only.state.step_size_jitter(), 0.2);
    assert_eq!(only.step_sizes, whole.step_sizes);
    let out = Driver::new(&only.kernel, &model, &mut only.state)
        .run(&RunOptions::new(80).trace(1).progress(false))
        .unwrap();
    assert_eq!(
        out.trace.unwrap().as_slice(),
        whole.sampling.trace.as_slice()
    );
    assert_eq!(only.state.snapshot(), whole.state.snapshot());
}

#[test]
fn a_warmup_stopped_midway_goes_on_from_its_snapshots_bit_for_bit() {
    let dev = Cpu::default();
    let model = GaussianModel::<3, f64>::from_slices(
        &dev,
        &[0.5, -1.0, 2.0],
        &[1.0, 0.3, 0.0, 0.3, 2.0, 0.4, 0.0, 0.4, 0.5],
    )
    .unwrap();
    let x0 = batch::<3>(&gaussian_draws(&[0.0; 3], &vec_eye(3, 1.0), 4, 5));
    for mass in [MassAdaptation::GradientDiagonal, MassAdaptation::Dense] {
        let warmup = Warmup {
            n_warmup: 160,
            mass,
            ..settings(13)
        };
        let nuts = Nuts::default();
        let start = || {
            let mut state = nuts
                .warmup_variant()
                .init(&model, &x0, warmup.seed)
                .unwrap();
            let adaptation = warmup.adaptation(&nuts, &model, &mut state).unwrap();
            (state, adaptation)
        };
        let opts = |n| RunOptions::new(n).trace(1).progress(false);
        // In one go.
        let (mut state, mut whole) = start();
        let all = Driver::adapting(&mut whole, &model, &mut state)
            .run(&opts(160))
            .unwrap();
        let tuned_whole = whole.finish(&mut state).unwrap();
        // Stopped after 90 steps (inside the first slow window, steps 75 to 100) and rebuilt from
        // the snapshots.
        let (mut first, mut adaptation) = start();
        let head = Driver::adapting(&mut adaptation, &model, &mut first)
            .run(&opts(90))
            .unwrap();
        let snap = adaptation.snapshot();
        assert_eq!(snap.steps, 90);
        assert!(snap.window[0] > 0.0, "the window holds draws");
        let mut rebuilt =
            ChainState::<3, f64>::from_snapshot(&first.snapshot(), &Cpu::default()).unwrap();
        let mut resumed = warmup.resume_adaptation::<_, 3>(&nuts, 4, &snap).unwrap();
        let tail = Driver::adapting(&mut resumed, &model, &mut rebuilt)
            .run(&opts(70))
            .unwrap();
        let tuned = resumed.finish(&mut rebuilt).unwrap();
        let (a, h, t) = (all.trace.unwrap(), head.trace.unwrap(), tail.trace.unwrap());
        for c in 0..4 {
            let joined = [h.chain(c).unwrap(), t.chain(c).unwrap()].concat();
            assert_eq!(a.chain(c).unwrap(), &joined[..], "{mass:?} chain {c}");
        }
        assert_eq!(tuned.step_sizes, tuned_whole.step_sizes);
        assert_eq!(tuned.warmup_step_sizes, tuned_whole.warmup_step_sizes);
        assert_eq!(tuned.kernel.mass(), tuned_whole.kernel.mass());
        assert_eq!(rebuilt.snapshot(), state.snapshot());
        // A snapshot for other chains is refused, naming the field.
        let err = warmup
            .resume_adaptation::<_, 3>(&nuts, 5, &snap)
            .unwrap_err();
        assert!(err.to_string().contains("snapshot.averaging"), "{err}");
    }
}
