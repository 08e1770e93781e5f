//! The No-U-Turn Sampler: invariance of exact draws, a correlated and a poorly scaled Gaussian,
//! tree statistics, non-finite regions and reproducibility.

mod common;

use common::*;
use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel};
use ebm_samplers::prelude::*;

fn check_invariance<const D: usize>(mean: &[f64], cov: &[f64], nuts: &Nuts, what: &str) {
    let dev = Cpu::default();
    let model = GaussianModel::<D, f64>::from_slices(&dev, mean, cov).unwrap();
    let n = 4000;
    let x0 = batch::<D>(&gaussian_draws(mean, cov, n, 17));
    let mut state = nuts.init(&model, &x0, 5).unwrap();
    let out = nuts
        .run_from(&model, &mut state, &RunOptions::new(1))
        .unwrap();
    assert_eq!(out.chain_stats.unwrap().total_divergences(), 0);
    assert_moments(
        state.positions(),
        D,
        mean,
        cov,
        5.0,
        0.0,
        &format!("{what}, 1 draw"),
    );
    nuts.run_from(&model, &mut state, &RunOptions::new(19))
        .unwrap();
    assert_moments(
        state.positions(),
        D,
        mean,
        cov,
        5.0,
        0.0,
        &format!("{what}, 20 draws"),
    );
}

/// Invariance of exact draws for NUTS with U-turn criterion `uturn`: a 2-D Gaussian with a unit
/// mass, and a correlated 5-D Gaussian with a dense mass matrix.
fn check_invariance_of(uturn: UTurn) {
    let (mean, cov) = ([1.0, -1.0], [1.0, 0.5, 0.5, 2.0]);
    let nuts = Nuts::new(0.4).unwrap().with_uturn(uturn);
    check_invariance::<2>(&mean, &cov, &nuts, &format!("NUTS 2-D, {uturn:?}"));
    let entries: Vec<f64> = (0..25).map(|k| ((k * 7 % 11) as f64 - 5.0) / 6.0).collect();
    let cov5 = random_spd(&entries, 5, 0.3);
    let prec = ebm_core::linalg::spd_inverse("cov", &cov5, 5).unwrap();
    let nuts = Nuts::new(0.3)
        .unwrap()
        .with_mass(MassMatrix::Dense(prec))
        .unwrap()
        .with_uturn(uturn);
    check_invariance::<5>(
        &[0.5, -0.5, 1.0, 0.0, 2.0],
        &cov5,
        &nuts,
        &format!("NUTS 5-D dense mass, {uturn:?}"),
    );
}

#[test]
fn a_nuts_transition_leaves_exact_draws_exact() {
    check_invariance_of(UTurn::Momentum);
}

#[test]
fn a_nuts_transition_by_the_position_criterion_leaves_exact_draws_exact() {
    check_invariance_of(UTurn::Position);
}

#[test]
fn the_position_criterion_stops_sooner_where_the_mass_does_not_whiten() {
    // 10-D, correlations 0.9^|i-j|, a unit mass: the momentum criterion runs longer.
    const D: usize = 10;
    let cov: Vec<f64> = (0..D * D)
        .map(|k| 0.9f64.powi((k / D).abs_diff(k % D) as i32))
        .collect();
    let dev = Cpu::default();
    let model = GaussianModel::<D, f64>::from_slices(&dev, &[0.0; D], &cov).unwrap();
    let x0 = batch::<D>(&gaussian_draws(&[0.0; D], &cov, 200, 4));
    let steps = |uturn: UTurn| {
        let nuts = Nuts::new(0.25).unwrap().with_uturn(uturn);
        let out = nuts.run(&model, &x0, &RunOptions::new(20).seed(9)).unwrap();
        let stats = out.chain_stats.unwrap();
        assert_eq!(stats.total_divergences(), 0);
        stats.total_gradient_evaluations() as f64 / (200.0 * 20.0)
    };
    let (momentum, position) = (steps(UTurn::Momentum), steps(UTurn::Position));
    eprintln!("leapfrog steps per draw: momentum {momentum:.1}, position {position:.1}");
    // About three quarters; a criterion that read backward subtrees in the order they were made
    // would stop them at their first join and take about a third.
    assert!(
        position < 0.85 * momentum && position > 0.5 * momentum,
        "{position} vs {momentum}"
    );
}

#[test]
fn nuts_reports_tree_depth_leapfrog_steps_and_max_depth() {
    let dev = Cpu::default();
    // Widely different scales with a small step: long trees that hit a low maximum depth.
    let model =
        GaussianModel::<2, f64>::from_slices(&dev, &[0.0, 0.0], &[100.0, 0.0, 0.0, 0.01]).unwrap();
    let x0 = batch::<2>(&gaussian_draws(
        &[0.0, 0.0],
        &[100.0, 0.0, 0.0, 0.01],
        50,
        3,
    ));
    let nuts = Nuts::new(0.05).unwrap().with_max_depth(4).unwrap();
    let mut state = nuts.init(&model, &x0, 1).unwrap();
    let mut seen = 0;
    let mut check = observer_fn(|s: &StepView<'_, 2, f64>| {
        for i in s.info {
            // A subtree that turns inside is discarded: its steps count, its depth does not.
            assert!(i.tree_depth <= 4);
            assert!(i.grad_evals >= 1 && i.grad_evals < 1 << (i.tree_depth + 1));
            if i.hit_max_depth {
                assert_eq!(i.tree_depth, 4);
                assert_eq!(i.grad_evals, 15);
                seen += 1;
            }
            assert!((0.0..=1.0).contains(&i.accept_prob()));
        }
        Ok(Flow::Continue)
    });
    Driver::new(&nuts, &model, &mut state)
        .observe(&mut check)
        .run(&RunOptions::new(10))
        .unwrap();
    assert!(seen > 100, "{seen} transitions hit the maximum depth");
}

#[test]
fn the_symmetric_acceptance_statistic() {
    // Single proposals: 2 min(1, r) / (1 + r).
    let mut i = StepInfo::default();
    for (log_r, want) in [
        (0.5f64.ln(), 2.0 / 3.0),
        (2f64.ln(), 2.0 / 3.0),
        (0.0, 1.0),
        (f64::NEG_INFINITY, 0.0),
    ] {
        i.log_accept_ratio = log_r;
        assert!((i.symmetric_accept_prob() - want).abs() < 1e-12, "{log_r}");
    }
    // NUTS with a single leapfrog step (depth 1): the trajectory's one new point, and when the
    // chain moved there its energy error is the drawn point's.
    let dev = Cpu::default();
    let model =
        GaussianModel::<2, f64>::from_slices(&dev, &[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0]).unwrap();
    let x0 = batch::<2>(&gaussian_draws(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], 200, 4));
    let nuts = Nuts::new(1.2).unwrap().with_max_depth(1).unwrap();
    let mut state = nuts.init(&model, &x0, 2).unwrap();
    let mut moved = 0;
    let mut check = observer_fn(|s: &StepView<'_, 2, f64>| {
        for i in s.info {
            let sym = i.trajectory_symmetric_accept.expect("NUTS fills it");
            assert!((0.0..=1.0).contains(&sym));
            assert_eq!(i.symmetric_accept_prob(), sym);
            if i.accepted && i.grad_evals == 1 {
                let want = 2.0 / (1.0 + i.energy_error.abs().exp());
                assert!((sym - want).abs() < 1e-12, "{sym} vs {want}");
                moved += 1;
            }
        }
        Ok(Flow::Continue)
    });
    Driver::new(&nuts, &model, &mut state)
        .observe(&mut check)
        .run(&RunOptions::new(5))
        .unwrap();
    assert!(moved > 100, "{moved} single-step moves");
}

#[test]
fn non_finite_regions_are_divergences_never_draws() {
    let x0 = batch::<2>(&gaussian_draws(&[0.0, 0.0], &[0.1, 0.0, 0.0, 0.1], 200, 4));
    let nuts = Nuts::new(0.6).unwrap();
    let out = nuts
        .run(
            &NanOutsideBox { half_width: 1.5 },
            &x0,
            &RunOptions::new(50).seed(2).trace(1),
        )
        .unwrap();
    let trace = out.trace.unwrap();
    assert!(trace
        .as_slice()
        .iter()
        .all(|v| v.is_finite() && v.abs() < 1.5));
    let stats = out.chain_stats.unwrap();
    assert!(stats.non_finite.iter().sum::<usize>() > 50, "{stats:?}");
}

#[test]
fn nuts_draws_do_not_depend_on_the_batch_or_the_threads() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(40, 6);
    // The identity mass, and a dense one, whose products run over all active chains at once.
    for nuts in [
        Nuts::new(0.5).unwrap(),
        Nuts::new(0.5)
            .unwrap()
            .with_mass(MassMatrix::Dense(vec![1.3, 0.4, 0.4, 0.8]))
            .unwrap(),
    ] {
        let run = |threads: usize, x0: &Batch<2, f64>| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| nuts.sample(&model, x0, 30, 8).unwrap().as_vec())
        };
        let all = run(1, &x0);
        assert_eq!(all, run(2, &x0));
        // The first ten chains alone give the same draws as within the batch of forty.
        let first = batch::<2>(&x0.as_vec()[..20]);
        assert_eq!(run(1, &first), all[..20].to_vec());
        // And so does the first chain alone (a chain's random stream follows its index).
        let one = batch::<2>(&x0.as_vec()[..2]);
        assert_eq!(run(1, &one), all[..2].to_vec());
    }
}
