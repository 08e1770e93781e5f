//! The guide's four-well energy at temperature 0.01: quadrature masses per well, plain Langevin
//! with the guide's settings, and replica exchange. Shared by the `replica_exchange` example, its
//! test, the figure and the benchmark case.
#![allow(dead_code)]

use ebm_core::energy::Scaled;
use ebm_core::prelude::*;
use ebm_models::GaussianMixture;
use ebm_samplers::prelude::*;
use ebm_samplers::SwapStats;

/// The guide's temperature.
pub const TEMPERATURE: f64 = 0.01;
/// The wells' centres.
pub const CENTERS: [[f64; 2]; 4] = [[-1.5, -1.5], [1.5, 1.5], [-1.5, 1.5], [1.5, -1.5]];
/// The wells' weights.
pub const WEIGHTS: [f64; 4] = [1.0, 1.0, 0.8, 0.8];
/// Independent ladders.
pub const LADDERS: usize = 200;
/// Scans after tuning.
pub const SCANS: usize = 2000;
/// MALA steps between swaps.
pub const EXPLORE_STEPS: usize = 5;
/// Temperatures per ladder.
pub const N_TEMPERATURES: usize = 10;
/// The hottest temperature, relative to the target's (so `E` itself at temperature 3).
pub const T_MAX: f64 = 300.0;
/// Tuning rounds of 1, 2, 4, ... scans.
pub const TUNING_ROUNDS: usize = 8;
/// MALA's step size on `E / 0.01`.
pub const STEP_SIZE: f64 = 0.01;

/// The well a point belongs to: the quadrant of its centre.
pub fn well_of(p: &[f64]) -> usize {
    match (p[0] >= 0.0, p[1] >= 0.0) {
        (false, false) => 0,
        (true, true) => 1,
        (false, true) => 2,
        (true, false) => 3,
    }
}

/// The four-well energy at one point, computed here independently of the model.
pub fn energy(x: f64, y: f64) -> f64 {
    let mut logits = [0.0; 4];
    for (l, (c, w)) in logits.iter_mut().zip(CENTERS.iter().zip(WEIGHTS)) {
        *l = -0.5 * w * ((x - c[0]).powi(2) + (y - c[1]).powi(2));
    }
    let top = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    -(top + logits.iter().map(|l| (l - top).exp()).sum::<f64>().ln())
}

/// The mass of `exp(-E / t)` in each well, by the midpoint rule on a 0.005 grid over [-5, 5]^2.
pub fn quadrature_masses(t: f64) -> [f64; 4] {
    let (lo, n) = (-5.0, 2000);
    let h = 10.0 / n as f64;
    let e_min = energy(-1.5, -1.5).min(energy(1.5, 1.5));
    let mut mass = [0.0; 4];
    for i in 0..n {
        let x = lo + (i as f64 + 0.5) * h;
        for j in 0..n {
            let y = lo + (j as f64 + 0.5) * h;
            mass[well_of(&[x, y])] += (-(energy(x, y) - e_min) / t).exp();
        }
    }
    let total: f64 = mass.iter().sum();
    mass.map(|m| m / total)
}

/// [`quadrature_masses`] at the guide's temperature, computed once per process.
pub fn quadrature_masses_cached() -> [f64; 4] {
    static MASSES: std::sync::OnceLock<[f64; 4]> = std::sync::OnceLock::new();
    *MASSES.get_or_init(|| quadrature_masses(TEMPERATURE))
}

/// The fraction of draws in each well.
pub fn fractions(draws: &[f64]) -> [f64; 4] {
    let mut count = [0.0; 4];
    for p in draws.chunks_exact(2) {
        count[well_of(p)] += 1.0;
    }
    let n = (draws.len() / 2).max(1) as f64;
    count.map(|c| c / n)
}

/// Plain Langevin with the guide's settings (step 0.1, noise scale 0.1), 1000 chains from the
/// origin, 500 steps; the fraction of the draws after step 100 in each well.
pub fn plain_langevin(model: &GaussianMixture<2, f64>) -> Result<[f64; 4]> {
    let x0: Batch<2, f64> = Cpu::default().zeros_like(&(1000, Const::<2>));
    let out = LangevinDynamics::new(0.1, 0.1)?.run(
        model,
        &x0,
        &RunOptions::new(500).seed(42).trace(1).progress(false),
    )?;
    let trace = out.trace.expect("a trace was requested");
    let mut draws = Vec::new();
    for c in 0..trace.n_chains() {
        draws.extend_from_slice(&trace.chain(c).expect("chain in range")[100 * 2..]);
    }
    Ok(fractions(&draws))
}

/// What a replica-exchange run of the four wells gives.
pub struct PtRun {
    /// Fraction of the cold draws in each well, pooled over ladders.
    pub fractions: [f64; 4],
    /// Standard error of each fraction from the spread of the per-ladder fractions (the ladders
    /// are independent).
    pub standard_errors: [f64; 4],
    /// Each ladder's fraction per well.
    pub per_ladder: Vec<[f64; 4]>,
    /// The swap statistics of the sampling run.
    pub swaps: SwapStats,
}

/// The replica-exchange sampler of the example on `E / 0.01`, with `explore_steps` MALA steps
/// between swaps.
pub fn sampler(explore_steps: usize) -> Result<ReplicaExchange<Mala>> {
    ReplicaExchange::geometric(Mala::new(STEP_SIZE, 1.0)?, T_MAX, N_TEMPERATURES)?
        .with_explore_steps(explore_steps)
}

/// Replica exchange on `E / 0.01`: `ladders` ladders from the origin, the ladder tuned, then
/// `scans` scans of `explore_steps` MALA steps and a round of swaps, with the cold draws kept.
pub fn replica_exchange(
    model: &GaussianMixture<2, f64>,
    ladders: usize,
    scans: usize,
    explore_steps: usize,
) -> Result<PtRun> {
    let cold = Scaled::new(model.clone(), 1.0 / TEMPERATURE)?;
    let pt = sampler(explore_steps)?;
    let x0: Batch<2, f64> = Cpu::default().zeros_like(&(ladders, Const::<2>));
    let mut state = pt.init(&cold, &x0, 2024)?;
    pt.tune_ladder(&cold, &mut state, TUNING_ROUNDS)?;
    let out = pt.run_from(
        &cold,
        &mut state,
        &RunOptions::new(scans).trace(1).progress(false),
    )?;
    let trace = out.cold.trace.expect("a trace was requested");
    let per_ladder: Vec<[f64; 4]> = (0..ladders)
        .map(|l| fractions(trace.chain(l).expect("ladder in range")))
        .collect();
    let n = ladders as f64;
    let mut mean = [0.0; 4];
    let mut se = [0.0; 4];
    for w in 0..4 {
        mean[w] = per_ladder.iter().map(|f| f[w]).sum::<f64>() / n;
        let var = per_ladder
            .iter()
            .map(|f| (f[w] - mean[w]).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        se[w] = (var / n).sqrt();
    }
    Ok(PtRun {
        fractions: mean,
        standard_errors: se,
        per_ladder,
        swaps: out.swaps,
    })
}
