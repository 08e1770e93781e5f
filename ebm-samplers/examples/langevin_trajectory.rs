//! The guide's trajectory example: Langevin dynamics on the four-mode landscape, written as one
//! function with `#[energy]`, keeping every state of five chains started at the origin.
//!
//! Run with `cargo run --release --example langevin_trajectory` (add `-- --device cuda` for a GPU
//! when built with the `cuda` feature).

#[path = "common/device.rs"]
mod device;

use ebm_core::prelude::*;
use ebm_samplers::prelude::*;
use std::time::Instant;

/// Four Gaussian wells: `E(x) = -log sum_k exp(-w_k |x - c_k|^2 / 2)`.
#[energy]
fn four_modes(x: Batch<2>, centers: [[f32; 2]; 4], weights: [f32; 4]) -> Energies {
    let n = x.shape().0;
    let wells = (n, Const::<4>, Const::<2>);
    let d = x.broadcast_like::<_, Axis<1>>(&wells) - centers.broadcast_like::<_, Axis<0>>(&wells);
    let w = weights.broadcast_like::<_, Axis<0>>(&(n, Const::<4>));
    let logits = d.square().sum::<_, Axis<2>>() * w * -0.5;
    -logits.logsumexp::<_, Axis<1>>()
}

const CENTERS: [[f32; 2]; 4] = [[-1.5, -1.5], [1.5, 1.5], [-1.5, 1.5], [1.5, -1.5]];
const WEIGHTS: [f32; 4] = [1.0, 1.0, 0.8, 0.8];

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
    let model = FourModes::new(&dev, CENTERS, WEIGHTS)?;
    let sampler = LangevinDynamics::new(0.1, 0.1)?; // step_size, noise_scale

    let n_chains = 5;
    let x0: Batch<2, f32, Dev> = dev.zeros_like(&(n_chains, Const::<2>)); // every chain starts at the origin
    let options = RunOptions::new(200).seed(42).trace(1); // keep every step

    let start = Instant::now();
    let out = sampler.run(&model, &x0, &options)?;
    let elapsed = start.elapsed();
    let trajectory = out.trace.expect("a trajectory was requested");

    println!(
        "Langevin dynamics on the four-mode landscape ({name}): step_size 0.1, noise_scale 0.1"
    );
    println!(
        "trajectory shape: {:?} (chains, steps, dimensions)",
        trajectory.shape()
    );
    println!();
    println!("chain   final point            nearest mode      distance");
    let last = trajectory.n_kept() - 1;
    for chain in 0..trajectory.n_chains() {
        let p = trajectory
            .point(chain, last)
            .expect("chain and step are in range");
        let (k, dist) = nearest(p);
        let c = CENTERS[k];
        println!(
            "{chain:>5}   [{:7.3}, {:7.3}]     ({:4.1}, {:4.1})     {dist:.3}",
            p[0], p[1], c[0], c[1]
        );
    }
    println!();
    println!("sampling took {:.3} ms", elapsed.as_secs_f64() * 1e3);
    Ok(())
}

/// The index of the center closest to `p`, and the distance to it.
fn nearest(p: &[f32; 2]) -> (usize, f32) {
    CENTERS
        .iter()
        .map(|c| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt())
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("there are four centers")
}
