//! NUTS with warm-up streamed to a store: the same draws as `Warmup::run` in memory, and a run
//! killed at any write, during warm-up or sampling, resumes to the bytes of an uninterrupted one.

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun};
use std::path::Path;

mod common;

const CHILD_ENV: &str = "EBM_STORAGE_WARMUP_CHILD";

fn model() -> GaussianModel<2, f64> {
    GaussianModel::<2, f64>::from_slices(&Cpu::default(), &[1.0, -0.5], &[1.0, 0.6, 0.6, 2.0])
        .unwrap()
}

fn x0() -> Batch<2, f64> {
    Cpu::default().tensor_from_vec(vec![0.3, -1.0, 2.0, 0.5, -1.5, 0.0], (3, Const::<2>))
}

fn warmup(warm: usize, draws: usize) -> Warmup {
    Warmup {
        n_warmup: warm,
        n_draws: draws,
        seed: 31,
        progress: false,
        ..Warmup::default()
    }
}

/// The pattern of the docs: open or create, then warm up and sample, resuming where it stopped.
fn program(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let options = StoreOptions::new().chunk_draws(8).sync(false);
    let (mut store, resumed) =
        DrawStore::<2, f64>::open_or_create(path, 3, options, &Cpu::default())?;
    store.run_warmup(&warmup(40, 24), &Nuts::default(), &model(), resumed, &x0())?;
    Ok(())
}

#[test]
#[ignore = "run as a child process by a_warmup_killed_at_any_write_resumes_exactly"]
fn warmup_child() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        program(Path::new(&path)).unwrap();
    }
}

#[test]
fn a_streamed_warmup_gives_the_draws_of_warmup_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.zarr");
    let settings = warmup(120, 80);
    let memory = settings.run(&Nuts::default(), &model(), &x0()).unwrap();
    let (mut store, resumed) = DrawStore::<2, f64>::open_or_create(
        &path,
        3,
        StoreOptions::new().chunk_draws(16),
        &Cpu::default(),
    )
    .unwrap();
    assert!(resumed.is_none());
    let (kernel, state) = store
        .run_warmup(&settings, &Nuts::default(), &model(), None, &x0())
        .unwrap();
    assert_eq!(kernel.mass(), &memory.kernel.mass().clone());
    assert_eq!(state.snapshot(), memory.state.snapshot());
    let stored = StoredRun::<f64>::open(&path).unwrap();
    for (phase, trace) in [
        (Phase::Warmup, &memory.warmup.trace),
        (Phase::Sampling, &memory.sampling.trace),
    ] {
        let x = stored.positions(phase).unwrap();
        assert_eq!(x.data, trace.as_slice(), "{phase:?}");
    }
    // The per-draw step sizes are those the transitions used.
    let eps = stored.stat(Phase::Sampling, "step_size").unwrap();
    let n = memory.sampling.stats.n_draws();
    for c in 0..3 {
        for d in 0..n {
            assert_eq!(eps[c * n + d], memory.sampling.stats.step_size[d * 3 + c]);
        }
    }
}

#[test]
fn a_warmup_killed_at_any_write_resumes_exactly() {
    let (stops, states) = common::stop_at_every_write("warmup_child", CHILD_ENV);
    eprintln!("{stops} stops; committed states seen: {states:?}");
    // Stopped in the middle of warm-up and in the middle of sampling, among others.
    assert!(
        states.contains(&(16, 0)) && states.contains(&(40, 16)),
        "{states:?}"
    );
}
