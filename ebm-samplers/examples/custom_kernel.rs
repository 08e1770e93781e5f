//! A sampler written outside the crate: random-walk Metropolis implements the public `Kernel` trait
//! (`common/random_walk.rs`, a few dozen lines) and runs through the same driver as the built-in
//! samplers, with a trace, per-step diagnostics, the summary table and the progress bar.
//!
//! Run with `cargo run --release --example custom_kernel`.

#[path = "common/moments.rs"]
mod moments;
#[path = "common/random_walk.rs"]
mod random_walk;

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use random_walk::RandomWalk;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dev = Cpu::default();
    let (mean, cov) = ([1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]);
    let model = GaussianModel::new(&dev, mean, cov)?;
    let kernel = RandomWalk { scale: 1.2 };

    // 1000 chains from N(0, I), 500 steps: the final draws against the analytic moments.
    let x0: Batch<2, f64> = Cpu::seed_from_u64(0).sample_normal_like(&(1000, Const::<2>));
    let out = kernel.run(
        &model,
        &x0,
        &RunOptions::new(500).seed(42).diagnostics(true),
    )?;
    let (m, c) = moments::moments2(&out.samples.as_vec());
    println!("Random-walk Metropolis (scale 1.2) on the guide's Gaussian, 1000 chains x 500 steps");
    println!(
        "mean        sample [{:7.4}, {:7.4}]   target [{:7.4}, {:7.4}]",
        m[0], m[1], mean[0], mean[1]
    );
    for row in 0..2 {
        println!(
            "cov row {row}   sample [{:7.4}, {:7.4}]   target [{:7.4}, {:7.4}]",
            c[row * 2],
            c[row * 2 + 1],
            cov[row][0],
            cov[row][1]
        );
    }
    let diag = out.diagnostics.expect("diagnostics were requested");
    println!(
        "acceptance rate {:.3}",
        diag.mean_acceptance_rate().unwrap_or(f64::NAN)
    );

    // Four long chains, continued from a state in two runs, for the convergence summary.
    let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
    let mut state = kernel.init(&model, &x0, 7)?;
    kernel.run_from(&model, &mut state, &RunOptions::new(1000))?; // warm-up, discarded
    let out = kernel.run_from(&model, &mut state, &RunOptions::new(20_000).trace(10))?;
    println!();
    println!("{}", out.summary()?);
    Ok(())
}
