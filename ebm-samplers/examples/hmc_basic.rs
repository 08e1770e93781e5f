//! The guide's HMC example: Hamiltonian Monte Carlo on the 2-D Gaussian, with the acceptance rate
//! taken from the returned diagnostics.
//!
//! Run with `cargo run --release --example hmc_basic` (add `-- --device cuda` for a GPU when built
//! with the `cuda` feature). `-- --chains 100000 --steps 100` makes a run long enough for the
//! progress bar to show on a terminal.

#[path = "common/device.rs"]
mod device;
#[path = "common/moments.rs"]
mod moments;

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use std::time::Instant;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    match device::choose()? {
        device::Choice::Cpu => run(Cpu::default(), "cpu"),
        #[cfg(feature = "cuda")]
        device::Choice::Cuda => run(Cuda::try_build(0, 0).map_err(|e| format!("{e:?}"))?, "cuda"),
    }
}

fn run<Dev: Device<f32>>(
    dev: Dev,
    name: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mean = [1.0f32, -1.0];
    let cov = [[1.0f32, 0.5], [0.5, 2.0]];
    let model = GaussianModel::new(&dev, mean, cov)?;
    let hmc = HamiltonianMonteCarlo::new(0.1, 10)?; // step_size, n_leapfrog_steps

    let n_chains = arg("--chains", 1000)?;
    let n_steps = arg("--steps", 25)?;
    let x0: Batch<2, f32, Dev> = Cpu::seed_from_u64(0)
        .sample_normal_like(&(n_chains, Const::<2>))
        .to_device(&dev);
    let start = Instant::now();
    let out = hmc.run(
        &model,
        &x0,
        &RunOptions::new(n_steps).seed(42).diagnostics(true),
    )?;
    let elapsed = start.elapsed();

    let x: Vec<f64> = out.samples.as_vec().iter().map(|&v| v as f64).collect();
    let (m, c) = moments::moments2(&x);
    let diagnostics = out.diagnostics.expect("diagnostics were requested");
    let stats = out.chain_stats.expect("HMC reports chain statistics");

    println!("HMC on {name}: step_size 0.1, 10 leapfrog steps, {n_chains} chains, {n_steps} steps (target exp(-E), temperature 1)");
    println!();
    println!("                      sample               analytic target");
    println!(
        "mean                  [{:7.4}, {:7.4}]   [{:7.4}, {:7.4}]",
        m[0], m[1], mean[0], mean[1]
    );
    for row in 0..2 {
        println!(
            "covariance row {row}      [{:7.4}, {:7.4}]   [{:7.4}, {:7.4}]",
            c[row * 2],
            c[row * 2 + 1],
            cov[row][0],
            cov[row][1]
        );
    }
    println!();
    println!(
        "Average acceptance rate: {:.2}",
        diagnostics.mean_acceptance_rate().unwrap_or(f64::NAN)
    );
    println!("divergences: {}", stats.total_divergences());
    println!("sampling took {:.3} ms", elapsed.as_secs_f64() * 1e3);
    Ok(())
}

/// The value after `flag` on the command line, or `default`.
fn arg(flag: &str, default: usize) -> std::result::Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("{flag} takes a positive whole number")),
    }
}
