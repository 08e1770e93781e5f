//! `cargo xtask storage-memory [--chains N] [--draws N]`: streams a large run to a store in a
//! temporary directory and checks that peak resident memory stays bounded (under 300 MB for the
//! default 100 000 chains x 2 000 kept draws x D = 4 in f32, 3.2 GB of draws).

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;
use ebm_storage::{disk_size, DrawStore, Phase, StoreOptions};
use std::time::Instant;

const LIMIT_MB: f64 = 300.0;

/// Peak resident memory of this process in MB (`VmHWM` in `/proc/self/status`).
fn peak_rss_mb() -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb * 1024.0 / 1e6)
        .ok_or_else(|| "no VmHWM in /proc/self/status".into())
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut chains = 100_000usize;
    let mut draws = 2_000u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--chains" => chains = value("--chains")? as usize,
            "--draws" => draws = value("--draws")?,
            other => return Err(format!("storage-memory: unknown argument `{other}`")),
        }
    }
    let dir = std::env::temp_dir().join(format!("ebm-storage-memory-{}", std::process::id()));
    let path = dir.join("run.zarr");
    let result = measure(&path, chains, draws);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(path: &std::path::Path, chains: usize, draws: u64) -> Result<(), String> {
    let dev = Cpu::default();
    let model = Harmonic::<f32>::default();
    let langevin = LangevinDynamics::new(0.05, 1.0).map_err(|e| e.to_string())?;
    let x0: Batch<4> = dev.sample_normal_like(&(chains, Const::<4>));
    let mut state = langevin.init(&model, &x0, 1).map_err(|e| e.to_string())?;
    drop(x0);
    let mut store = DrawStore::<4, f32>::create(path, chains, StoreOptions::new())
        .map_err(|e| e.to_string())?;
    let before = peak_rss_mb()?;
    let start = Instant::now();
    store
        .run(&langevin, &model, &mut state, Phase::Sampling, draws)
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_mb()?;
    let size = disk_size(path).map_err(|e| e.to_string())? as f64;
    let draws_gb = (chains as f64) * draws as f64 * 4.0 * 4.0 / 1e9;
    println!(
        "storage-memory: {chains} chains x {draws} kept draws x D = 4 (f32): {draws_gb:.2} GB of draws, \
         chunks of {} draws",
        store.chunk_draws()
    );
    println!("  peak RSS {peak:.0} MB (before the run {before:.0} MB), limit {LIMIT_MB:.0} MB");
    println!(
        "  store {:.2} GB on disk (draws and statistics), written in {secs:.1} s",
        size / 1e9
    );
    if peak > LIMIT_MB {
        return Err(format!("peak RSS {peak:.0} MB exceeds {LIMIT_MB:.0} MB"));
    }
    Ok(())
}
