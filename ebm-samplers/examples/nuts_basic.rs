//! NUTS with warm-up that tunes itself: the guide's Gaussian, then a 100-D Gaussian with
//! correlations 0.9^|i-j| (`gauss100_corr` of the benchmark), with diagonal, dense and gradient-dense mass
//! adaptation.
//!
//! Run with `cargo run --release --example nuts_basic`.

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn report<const D: usize, K>(name: &str, run: &AdaptedRun<D, f64, Cpu, K>, seconds: f64) {
    let s = &run.sampling.stats;
    let steps: Vec<String> = run.step_sizes.iter().map(|e| format!("{e:.3}")).collect();
    println!("{name}");
    println!("  adapted step sizes:   {}", steps.join(" "));
    println!(
        "  mean tree depth {:.2}, leapfrog steps per draw {:.1}, acceptance {:.3}, divergences {}, max-depth hits {}",
        s.mean_tree_depth(),
        s.total_gradient_evaluations() as f64 / s.info.len() as f64,
        s.mean_acceptance_rate(),
        s.total_divergences(),
        s.total_max_depth_hits()
    );
    println!(
        "  gradient evaluations: {} in warm-up ({} of them at the start and in step-size searches), {} in sampling; {seconds:.2} s",
        run.warmup.stats.total_gradient_evaluations() + run.search_gradient_evaluations,
        run.search_gradient_evaluations,
        s.total_gradient_evaluations()
    );
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dev = Cpu::default();

    // The guide's Gaussian: 4 chains, 1000 warm-up + 1000 draws.
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
    let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
    let start = Instant::now();
    let run = Warmup {
        seed: 1,
        ..Warmup::default()
    }
    .run(&Nuts::default(), &model, &x0)?;
    report(
        "guide Gaussian (2-D), NUTS, diagonal mass",
        &run,
        start.elapsed().as_secs_f64(),
    );
    println!("{}", run.summary()?);

    // gauss100_corr: Sigma_ij = 0.9^|i-j|, starting points U(-2, 2).
    const D: usize = 100;
    let cov: Vec<f64> = (0..D * D)
        .map(|k| 0.9f64.powi((k / D).abs_diff(k % D) as i32))
        .collect();
    let model = GaussianModel::<D, f64>::from_slices(&dev, &[0.0; D], &cov)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1002);
    let start_points: Vec<f64> = (0..4 * D).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let x0: Batch<D, f64> = dev.tensor_from_vec(start_points, (4, Const::<D>));
    for (label, mass) in [
        ("diagonal", MassAdaptation::GradientDiagonal),
        ("dense", MassAdaptation::Dense),
        ("gradient-dense", MassAdaptation::GradientDense),
    ] {
        let start = Instant::now();
        let run = Warmup {
            seed: 2,
            mass,
            ..Warmup::default()
        }
        .run(&Nuts::default(), &model, &x0)?;
        report(
            &format!("gauss100_corr (100-D), NUTS, {label} mass"),
            &run,
            start.elapsed().as_secs_f64(),
        );
        let summary = run.summary()?;
        let min_bulk = summary
            .rows
            .iter()
            .map(|r| r.ess_bulk)
            .fold(f64::INFINITY, f64::min);
        println!(
            "  min bulk-ESS {min_bulk:.0}, max R-hat {:.4}",
            summary.max_r_hat()
        );
    }
    Ok(())
}
