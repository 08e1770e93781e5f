//! `storage_checkpoint`: what streaming a run to a store costs, with and without `fsync`.
//!
//! HMC (5 leapfrog steps) on a 16-D standard Gaussian, 256 chains x 2 000 kept steps in f32, run
//! three ways over the same seed in the same sitting: in memory through the driver (the baseline),
//! streamed to a store in chunks of 50 draws (40 checkpoints) with `sync(false)`, and the same with
//! `sync(true)` (the default). The store lies in the system's temporary directory, on its disk. The
//! cost per checkpoint is the difference to the baseline over the checkpoints.

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreOptions};
use serde_json::{json, Map, Value};
use std::time::Instant;

/// The case's name, for `--case`.
pub const CASE: &str = "storage_checkpoint";

const CHAINS: usize = 256;
const STEPS: u64 = 2_000;
const CHUNK: usize = 50;
const REPS: usize = 3;

fn least(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[0]
}

pub fn run() -> Result<Map<String, Value>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let dev = Cpu::default();
    let model = Harmonic::<f32>::default();
    let hmc = HamiltonianMonteCarlo::new(0.3, 5).map_err(|x| e(&x))?;
    let x0: Batch<16> = dev.sample_normal_like(&(CHAINS, Const::<16>));
    let dir = std::env::temp_dir().join(format!("ebm-bench-storage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|x| e(&x))?;

    let mut baseline = Vec::new();
    let mut unsynced = Vec::new();
    let mut synced = Vec::new();
    for rep in 0..=REPS {
        let mut state = hmc.init(&model, &x0, 3).map_err(|x| e(&x))?;
        let start = Instant::now();
        Driver::new(&hmc, &model, &mut state)
            .run(&RunOptions::new(STEPS as usize).progress(false))
            .map_err(|x| e(&x))?;
        let t = start.elapsed().as_secs_f64() * 1e3;
        for (sync, times) in [(false, &mut unsynced), (true, &mut synced)] {
            let path = dir.join(format!("run-{sync}.zarr"));
            let _ = std::fs::remove_dir_all(&path);
            let mut state = hmc.init(&model, &x0, 3).map_err(|x| e(&x))?;
            let start = Instant::now();
            let options = StoreOptions::new().chunk_draws(CHUNK).sync(sync);
            let mut store =
                DrawStore::<16, f32>::create(&path, CHAINS, options).map_err(|x| e(&x))?;
            store
                .run(&hmc, &model, &mut state, Phase::Sampling, STEPS)
                .map_err(|x| e(&x))?;
            let ts = start.elapsed().as_secs_f64() * 1e3;
            if rep > 0 {
                times.push(ts);
            }
        }
        if rep > 0 {
            baseline.push(t);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (b, u, s) = (
        least(&mut baseline),
        least(&mut unsynced),
        least(&mut synced),
    );
    let checkpoints = STEPS as f64 / CHUNK as f64;
    let per = |t: f64| (t - b).max(0.0) / checkpoints;
    println!();
    println!(
        "{CASE}: HMC on 16-D, {CHAINS} chains x {STEPS} steps (f32), chunks of {CHUNK} draws \
         ({checkpoints:.0} checkpoints of {:.0} kB), fastest of {REPS}",
        (CHAINS * CHUNK * (16 * 4 + 7 * 8 + 1)) as f64 / 1e3
    );
    println!("  in memory (driver, no store) {b:>9.1} ms");
    println!(
        "  store, sync off              {u:>9.1} ms   {:>7.2} ms per checkpoint",
        per(u)
    );
    println!(
        "  store, sync on (default)     {s:>9.1} ms   {:>7.2} ms per checkpoint",
        per(s)
    );
    let mut out = Map::new();
    out.insert(
        CASE.into(),
        json!({
            "memory_ms_min": b,
            "store_nosync_ms_min": u,
            "store_sync_ms_min": s,
            "checkpoints": checkpoints,
            "nosync_ms_per_checkpoint": per(u),
            "sync_ms_per_checkpoint": per(s),
        }),
    );
    Ok(out)
}
