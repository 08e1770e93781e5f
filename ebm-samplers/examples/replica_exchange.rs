//! The guide's four-well energy at temperature 0.01, where plain Langevin dynamics gets the well
//! masses badly wrong, sampled with replica exchange.
//!
//! Run with `cargo run --release --example replica_exchange`.

#[path = "common/wells.rs"]
mod wells;

use ebm_core::prelude::*;
use ebm_models::GaussianMixture;
use std::time::Instant;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let quadrature = wells::quadrature_masses(wells::TEMPERATURE);

    // Plain Langevin with the guide's settings (step 0.1, noise scale 0.1: temperature 0.01).
    let start = Instant::now();
    let plain = wells::plain_langevin(&model)?;
    let plain_time = start.elapsed();

    // Replica exchange on E / 0.01, explored by MALA.
    let start = Instant::now();
    let run = wells::replica_exchange(&model, wells::LADDERS, wells::SCANS, wells::EXPLORE_STEPS)?;
    let pt_time = start.elapsed();

    println!(
        "Four wells at temperature {}: mass per well",
        wells::TEMPERATURE
    );
    println!();
    println!("well            weight   quadrature   plain Langevin   replica exchange (+- se)");
    for w in 0..4 {
        println!(
            "({:4.1}, {:4.1})    {:4.1}      {:.4}        {:.4}           {:.4} (+- {:.4})",
            wells::CENTERS[w][0],
            wells::CENTERS[w][1],
            wells::WEIGHTS[w],
            quadrature[w],
            plain[w],
            run.fractions[w],
            run.standard_errors[w]
        );
    }
    let s = &run.swaps;
    println!();
    println!(
        "{} ladders x {} temperatures, {} scans of {} MALA steps each, non-reversible swaps",
        wells::LADDERS,
        s.temperatures.len(),
        wells::SCANS,
        wells::EXPLORE_STEPS
    );
    let ladder: Vec<String> = s
        .temperatures
        .iter()
        .map(|t| format!("{:.4}", t * wells::TEMPERATURE))
        .collect();
    println!("tuned ladder (as temperatures of E): {}", ladder.join(" "));
    let acc: Vec<String> = s
        .acceptance_rate
        .iter()
        .map(|a| format!("{a:.2}"))
        .collect();
    println!("swap acceptance per adjacent pair:   {}", acc.join(" "));
    println!("communication barrier Lambda:        {:.3}", s.barrier());
    println!(
        "round trips per ladder and scan:     {:.4} observed, {:.4} predicted from the swap rates",
        s.round_trip_rate(),
        s.theoretical_round_trip_rate().unwrap_or(f64::NAN)
    );
    println!();
    println!(
        "plain Langevin: {:.1} ms; replica exchange: {:.1} ms",
        plain_time.as_secs_f64() * 1e3,
        pt_time.as_secs_f64() * 1e3
    );
    Ok(())
}
