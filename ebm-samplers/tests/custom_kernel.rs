//! The `custom_kernel` example's random-walk Metropolis, a kernel written against the public trait
//! only, samples the guide's Gaussian through the crate's driver.

mod common;
#[path = "../examples/common/random_walk.rs"]
mod random_walk;

use common::*;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use random_walk::RandomWalk;

#[test]
fn random_walk_metropolis_from_outside_the_crate_samples_the_guide_gaussian() {
    let (mean, cov) = ([1.0, -1.0], [1.0, 0.5, 0.5, 2.0]);
    let dev = Cpu::default();
    let model = GaussianModel::<2, f64>::from_slices(&dev, &mean, &cov).unwrap();
    let kernel = RandomWalk { scale: 1.2 };
    // From N(0, I), as in the example: 400 steps forget the start (autocorrelation ~0.9 per step).
    let x0 = standard_normal_batch::<2>(4000, 12);
    let out = kernel
        .run(&model, &x0, &RunOptions::new(400).seed(3).diagnostics(true))
        .unwrap();
    assert_moments(
        &out.samples.as_vec(),
        2,
        &mean,
        &cov,
        5.0,
        0.0,
        "random walk",
    );
    let rate = out.diagnostics.unwrap().mean_acceptance_rate().unwrap();
    assert!((0.3..0.8).contains(&rate), "acceptance {rate}");
    let stats = out.chain_stats.unwrap();
    assert_eq!(stats.total_divergences(), 0);
    assert_eq!(stats.total_gradient_evaluations(), 4000 * 400);
}

#[test]
fn random_walk_metropolis_continues_and_summarises_like_a_built_in() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let kernel = RandomWalk { scale: 1.2 };
    let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
    let mut state = kernel.init(&model, &x0, 7).unwrap();
    kernel
        .run_from(&model, &mut state, &RunOptions::new(300))
        .unwrap();
    let out = kernel
        .run_from(&model, &mut state, &RunOptions::new(300).trace(1))
        .unwrap();
    let whole = kernel
        .run(&model, &x0, &RunOptions::new(600).seed(7).trace(1))
        .unwrap();
    let (a, b) = (out.trace.unwrap(), whole.trace.as_ref().unwrap());
    for c in 0..4 {
        assert_eq!(a.chain(c).unwrap(), &b.chain(c).unwrap()[300 * 2..]);
    }
    let summary = whole.summary().unwrap();
    assert!(summary.max_r_hat() < 1.1, "{summary}");
}

#[test]
fn warmup_tunes_a_gradient_free_kernel_without_a_leapfrog_search() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0 = standard_normal_batch::<2>(64, 21);
    let run = Warmup {
        n_warmup: 500,
        n_draws: 500,
        seed: 5,
        progress: false,
        ..Warmup::default()
    }
    .run(&RandomWalk { scale: 0.05 }, &model, &x0)
    .unwrap();
    // Only the starting points were evaluated outside the transitions: no step-size search.
    assert_eq!(run.search_gradient_evaluations, 64);
    // Dual averaging from the kernel's own (far too small) scale reaches the walk's target rate.
    let rate = run.sampling.stats.mean_acceptance_rate();
    assert!((rate - 0.234).abs() < 0.1, "acceptance {rate}");
    assert!(
        run.step_sizes.iter().all(|&h| h > 0.5),
        "{:?}",
        run.step_sizes
    );
}
