//! Times bulk-ESS, tail-ESS and R-hat on 4 chains of 10^6 draws (one
//! dimension). Run with
//! `cargo run --release -p ebm-diagnostics --example diagnostics_speed`.

use ebm_diagnostics::{rank_diagnostics, summarize, Draws};
use std::time::Instant;

const N_CHAINS: usize = 4;
const N_DRAWS: usize = 1_000_000;
const REPS: usize = 5;

/// splitmix64 uniform in (0, 1).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Standard normal by Box-Muller (one value per pair, for simplicity).
fn normal(state: &mut u64) -> f64 {
    let (u, v) = (uniform(state), uniform(state));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Stationary AR(1) chain with autocorrelation `rho`.
fn ar1(seed: u64, rho: f64) -> Vec<f64> {
    let mut state = seed;
    let scale = (1.0 - rho * rho).sqrt();
    let mut x = normal(&mut state);
    (0..N_DRAWS)
        .map(|_| {
            let out = x;
            x = rho * x + scale * normal(&mut state);
            out
        })
        .collect()
}

fn min_time<R>(mut f: impl FnMut() -> R) -> (f64, R) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..REPS {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (best, last.expect("REPS > 0"))
}

fn main() -> Result<(), ebm_diagnostics::DiagnosticsError> {
    let chains: Vec<Vec<f64>> = (0..N_CHAINS as u64).map(|c| ar1(c + 1, 0.9)).collect();
    let views: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();

    let (secs, diag) = min_time(|| rank_diagnostics(&views));
    let diag = diag?;
    println!(
        "bulk-ESS + tail-ESS + R-hat, {N_CHAINS} x {N_DRAWS} draws: {secs:.3} s \
         (min of {REPS}; ess_bulk {:.0}, ess_tail {:.0}, r_hat {:.5})",
        diag.ess_bulk, diag.ess_tail, diag.r_hat
    );

    let draws = Draws::from_chains(&views)?;
    let (secs, summary) = min_time(|| summarize(&draws));
    println!("full summary (adds mean, sd, ESS of the mean, MCSE): {secs:.3} s (min of {REPS})");
    print!("{}", summary?);
    Ok(())
}
