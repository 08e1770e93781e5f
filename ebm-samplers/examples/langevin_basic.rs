//! The guide's first example: Langevin dynamics on a 2-D Gaussian.
//!
//! Run with `cargo run --release --example langevin_basic` (add `-- --device cuda` for a GPU when
//! built with the `cuda` feature).

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
    let sampler = LangevinDynamics::new(0.1, 0.1)?;

    // 1000 particles from N(0, I), from a fixed seed.
    let x0: Batch<2, f32, Dev> = Cpu::seed_from_u64(0)
        .sample_normal_like(&(1000, Const::<2>))
        .to_device(&dev);
    let start = Instant::now();
    let samples = sampler.sample(&model, &x0, 100, 42)?;
    let elapsed = start.elapsed();

    let x: Vec<f64> = samples.as_vec().iter().map(|&v| v as f64).collect();
    let (m, c) = moments::moments2(&x);
    let t = sampler.temperature();
    let prec: Vec<f64> = model.precision().iter().map(|&v| v as f64).collect();
    let exact = sampler.gaussian_stationary_covariance(&prec, 2)?;

    println!("Langevin dynamics on {name}: step_size 0.1, noise_scale 0.1 (temperature {t:.4}), 1000 chains, 100 steps");
    println!();
    println!("                      sample        target at T = s^2   discretised chain");
    println!(
        "mean                  [{:7.4}, {:7.4}]   [{:7.4}, {:7.4}]   [{:7.4}, {:7.4}]",
        m[0], m[1], mean[0], mean[1], mean[0], mean[1]
    );
    let target = [cov[0][0], cov[0][1], cov[1][0], cov[1][1]].map(|v| t * v as f64);
    for (row, name) in ["covariance row 0", "covariance row 1"].iter().enumerate() {
        println!(
            "{name:<21} [{:7.4}, {:7.4}]   [{:7.4}, {:7.4}]   [{:7.4}, {:7.4}]",
            c[row * 2],
            c[row * 2 + 1],
            target[row * 2],
            target[row * 2 + 1],
            exact[row * 2],
            exact[row * 2 + 1]
        );
    }
    println!();
    println!("sampling took {:.3} ms", elapsed.as_secs_f64() * 1e3);
    Ok(())
}
