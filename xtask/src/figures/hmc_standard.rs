//! `hmc_standard.png`: the guide's HMC example on the 2-D Gaussian.
//!
//! The same run as `cargo run --release --example hmc_basic`: 1000 particles from `N(0, I)`,
//! `HamiltonianMonteCarlo::new(0.1, 10)`, 25 steps with seed 42.

use super::canvas::{self, Image, PALETTE};
use super::langevin_basic::{self, COV, INIT_SEED, MEAN, N_PARTICLES, RUN_SEED};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;

pub fn render() -> Result<Image> {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, MEAN, COV)?;
    let hmc = HamiltonianMonteCarlo::new(0.1, 10)?;
    let x0: Batch<2> = Cpu::seed_from_u64(INIT_SEED).sample_normal_like(&(N_PARTICLES, Const::<2>));
    let out = hmc.run(
        &model,
        &x0,
        &RunOptions::new(25).seed(RUN_SEED).diagnostics(true),
    )?;
    let rate = out
        .diagnostics
        .as_ref()
        .and_then(|d| d.mean_acceptance_rate())
        .ok_or("HMC records acceptance rates")?;
    langevin_basic::scatter(
        "Samples from GaussianModel via Hamiltonian Monte Carlo",
        &canvas::points(&out.samples),
        PALETTE[2],
        "1000 samples (step 0.1, 10 leapfrog, 25 steps)",
        Some(format!("mean acceptance rate {rate:.2}")),
        1.0,
        "target N(\u{3bc}, \u{3a3}): 95% region",
    )
}
