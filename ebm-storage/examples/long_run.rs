//! Streams a long NUTS run with warm-up to a zarr store on disk, then reads it back and
//! summarises it.
//!
//! `cargo run --release --example long_run [PATH] [--short]` (default `target/long_run.zarr`;
//! `--short` runs 8 chains for 40 + 160 steps in chunks of 40, for crash tests). Kill it midway
//! and run it again: it resumes from the last completed chunk. A store it cannot resume
//! (damaged, or of another run) is reported and left alone; remove it yourself to start over.
//! Open the store in Python with `arviz.from_zarr(PATH)`.

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use ebm_storage::{disk_size, DrawStore, Phase, StoreOptions, StoredRun};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let short = args.iter().any(|a| a == "--short");
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "target/long_run.zarr".into());
    let (n_chains, warmup_steps, sampling, chunk) = if short {
        (8, 40, 160, 40)
    } else {
        (64, 500, 5_000, 250)
    };
    let dev = Cpu::default();
    let model = GaussianModel::new(
        &dev,
        [1.0f32, -1.0, 0.5],
        [[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]],
    )?;
    let warmup = Warmup {
        n_warmup: warmup_steps,
        n_draws: sampling,
        seed: 7,
        ..Warmup::default()
    };

    let started = Instant::now();
    // Resumes the run when its store has a checkpoint, creates the store when nothing is there,
    // and otherwise stops with the error: a store with draws is never replaced.
    let options = StoreOptions::new().chunk_draws(chunk);
    let (mut store, resumed) = DrawStore::<3, f32>::open_or_create(&path, n_chains, options, &dev)?;
    if resumed.is_some() {
        println!("resuming {path} from its last checkpoint");
    }
    let x0: Batch<3> = dev.sample_normal_like(&(n_chains, Const::<3>));
    // Warm-up (step sizes and mass matrix) then sampling, both streamed and checkpointed.
    let (nuts, _state) = store.run_warmup(&warmup, &Nuts::default(), &model, resumed, &x0)?;
    println!("adapted mass matrix: {:?}", nuts.mass());
    println!(
        "streamed {} chains x {} warm-up + {} draws of dimension 3 in {:.1?}",
        store.n_chains(),
        store.n_draws(Phase::Warmup),
        store.n_draws(Phase::Sampling),
        started.elapsed()
    );
    println!("store: {}", std::fs::canonicalize(&path)?.display());
    println!("size on disk: {:.2} MB", disk_size(&path)? as f64 / 1e6);

    let stored = StoredRun::<f32>::open(&path)?;
    println!("\nsummary read back from disk:\n{}", stored.summary()?);
    println!("in Python: import arviz; print(arviz.summary(arviz.from_zarr({path:?})))");
    Ok(())
}
