//! Replica exchange streamed to a store: the cold chains' draws of the in-memory run, and a run
//! killed at any write resumes to the bytes of an uninterrupted one.

use ebm_core::prelude::*;
use ebm_models::GaussianMixture;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreError, StoreOptions, StoredRun};
use std::path::Path;

mod common;

const CHILD_ENV: &str = "EBM_STORAGE_REPLICA_CHILD";

fn exchange() -> ReplicaExchange<Mala> {
    ReplicaExchange::geometric(Mala::new(0.15, 1.0).unwrap(), 20.0, 4)
        .unwrap()
        .with_explore_steps(2)
        .unwrap()
}

fn x0() -> Batch<2, f64> {
    Cpu::default().tensor_from_vec(vec![0.0, 0.5, -1.0, 1.0, 2.0, -0.5], (3, Const::<2>))
}

fn program(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let pt = exchange();
    let options = StoreOptions::new().chunk_draws(8).sync(false);
    let (mut store, resumed) = DrawStore::<2, f64>::open_or_create_replica(path, 3, options, &dev)?;
    let mut state = match resumed {
        Some(state) => state,
        None => pt.init(&model, &x0(), 41)?,
    };
    store.run_replica(&pt, &model, &mut state, Phase::Warmup, 10)?;
    store.run_replica(&pt, &model, &mut state, Phase::Sampling, 30)?;
    Ok(())
}

#[test]
#[ignore = "run as a child process by a_tempered_run_killed_at_any_write_resumes_exactly"]
fn replica_child() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        program(Path::new(&path)).unwrap();
    }
}

fn run_child(path: &Path, crash_at: Option<u64>) -> bool {
    common::run_child("replica_child", CHILD_ENV, path, crash_at)
}

#[test]
fn a_streamed_tempered_run_stores_the_cold_chains_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pt.zarr");
    assert!(run_child(&path, None));
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let pt = exchange();
    let mut state = pt.init(&model, &x0(), 41).unwrap();
    let warm = pt
        .run_from(
            &model,
            &mut state,
            &RunOptions::new(10).trace(1).progress(false),
        )
        .unwrap();
    let draws = pt
        .run_from(
            &model,
            &mut state,
            &RunOptions::new(30).trace(1).progress(false),
        )
        .unwrap();
    let stored = StoredRun::<f64>::open(&path).unwrap();
    assert_eq!(
        stored.positions(Phase::Warmup).unwrap().data,
        warm.cold.trace.unwrap().as_slice()
    );
    assert_eq!(
        stored.positions(Phase::Sampling).unwrap().data,
        draws.cold.trace.unwrap().as_slice()
    );
    // The checkpoint is the whole replica state; plain resume refuses it, naming why.
    let (_, resumed) = DrawStore::<2, f64>::resume_replica(&path, &dev).unwrap();
    assert_eq!(resumed.chains().snapshot(), state.chains().snapshot());
    // The swap statistics cover every scan of the stored run, not only its last segment (the
    // store ran 40 scans in chunks of 8; the run in memory in two runs).
    let (a, b) = (resumed.swap_stats(), state.swap_stats());
    assert_eq!((a.scans, b.scans), (40, 40));
    assert_eq!(
        (&a.acceptance_rate, &a.round_trips, &a.explorer_acceptance),
        (&b.acceptance_rate, &b.round_trips, &b.explorer_acceptance)
    );
    for (x, y) in a.rejection.iter().zip(&b.rejection) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
    let err = DrawStore::<2, f64>::resume(&path, &dev).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(err.to_string().contains("resume_replica"), "{err}");
}

#[test]
fn a_tempered_run_killed_at_any_write_resumes_exactly() {
    let (stops, states) = common::stop_at_every_write("replica_child", CHILD_ENV);
    eprintln!("{stops} stops; committed states seen: {states:?}");
    assert!(
        states.contains(&(8, 0)) && states.contains(&(10, 16)),
        "{states:?}"
    );
}

#[test]
fn a_store_of_every_rung_keeps_every_replica_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rungs.zarr");
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let pt = exchange();
    // 3 ladders x 4 temperatures.
    let options = || StoreOptions::new().chunk_draws(4).sync(false);
    let (mut store, resumed) =
        DrawStore::<2, f64>::open_or_create_replica(&path, 12, options(), &dev).unwrap();
    assert!(resumed.is_none());
    let mut state = pt.init(&model, &x0(), 41).unwrap();
    store
        .run_replica(&pt, &model, &mut state, Phase::Sampling, 6)
        .unwrap();
    drop(store);
    // Resumed from its checkpoint, it goes on to the draws of one run in memory.
    let (mut store, resumed) =
        DrawStore::<2, f64>::open_or_create_replica(&path, 12, options(), &dev).unwrap();
    let mut resumed = resumed.unwrap();
    assert_eq!(resumed.snapshot(), state.snapshot());
    store
        .run_replica(&pt, &model, &mut resumed, Phase::Sampling, 10)
        .unwrap();
    drop(store);
    let mut memory = pt.init(&model, &x0(), 41).unwrap();
    let cold = pt
        .run_from(
            &model,
            &mut memory,
            &RunOptions::new(10).trace(1).progress(false),
        )
        .unwrap()
        .cold
        .trace
        .unwrap();
    let stored = StoredRun::<f64>::open(&path).unwrap();
    let x = stored.positions(Phase::Sampling).unwrap();
    assert_eq!(stored.n_draws(Phase::Sampling), 10);
    // Chain-major [chain][draw][dim]: the first 3 chains are the cold ones...
    assert_eq!(&x.data[..3 * 10 * 2], cold.as_slice());
    // ... and every chain's last draw is where its replica ended.
    let last: Vec<f64> = (0..12)
        .flat_map(|c| x.data[(c * 10 + 9) * 2..(c * 10 + 10) * 2].to_vec())
        .collect();
    assert_eq!(last, memory.chains().positions());
    // A store of neither the ladders nor every replica is refused.
    let other = dir.path().join("other.zarr");
    let (mut store, _) =
        DrawStore::<2, f64>::open_or_create_replica(&other, 5, options(), &dev).unwrap();
    let err = store
        .run_replica(&pt, &model, &mut memory, Phase::Sampling, 2)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ChainCountMismatch { .. }),
        "{err}"
    );
}
