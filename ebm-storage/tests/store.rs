//! Round trips through a store, the observer path, the statistics, and bad input.

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreError, StoreOptions, StoredRun};

fn x0<const D: usize>(n: usize) -> Batch<D, f64> {
    Cpu::default().sample_normal_like(&(n, Const::<D>))
}

#[test]
fn a_stored_run_reads_back_like_the_in_memory_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.zarr");
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let start = x0::<3>(5);
    // In memory: 20 warm-up steps, then 75 steps keeping every 3rd.
    let mut a = mala.init(&model, &start, 11).unwrap();
    let warm = mala
        .run_from(
            &model,
            &mut a,
            &RunOptions::new(20).trace(1).progress(false),
        )
        .unwrap();
    let out = mala
        .run_from(
            &model,
            &mut a,
            &RunOptions::new(75).trace(3).progress(false),
        )
        .unwrap();
    // On disk, with chunks of 4 draws so that the last one is partial.
    let mut b = mala.init(&model, &start, 11).unwrap();
    let mut store =
        DrawStore::<3, f64>::create(&path, 5, StoreOptions::new().chunk_draws(4)).unwrap();
    store.run(&mala, &model, &mut b, Phase::Warmup, 20).unwrap();
    assert_eq!(store.n_draws(Phase::Warmup), 20);
    drop(store);
    // A store has one thinning interval: sampling with thinning goes to a second store below.
    let stored = StoredRun::<f64>::open(&path).unwrap();
    assert_eq!(
        (
            stored.n_chains(),
            stored.dim(),
            stored.n_draws(Phase::Warmup)
        ),
        (5, 3, 20)
    );
    let w = stored.positions(Phase::Warmup).unwrap();
    assert_eq!(w.data, warm.trace.unwrap().into_vec());
    let lp = stored.stat(Phase::Warmup, "lp").unwrap();
    assert!(lp.iter().all(|v| v.is_finite() && *v <= 0.0));

    let path3 = dir.path().join("thin.zarr");
    let mut c = mala.init(&model, &start, 11).unwrap();
    mala.run_from(&model, &mut c, &RunOptions::new(20).progress(false))
        .unwrap();
    let mut store =
        DrawStore::<3, f64>::create(&path3, 5, StoreOptions::new().chunk_draws(4).thin(3)).unwrap();
    store
        .run(&mala, &model, &mut c, Phase::Sampling, 75)
        .unwrap();
    let stored = StoredRun::<f64>::open(&path3).unwrap();
    assert_eq!(stored.n_draws(Phase::Sampling), 25);
    let trace = out.trace.as_ref().unwrap();
    assert_eq!(
        stored.positions(Phase::Sampling).unwrap().data,
        trace.as_slice()
    );
    assert_eq!(c.positions(), a.positions());
    // The summary from disk is the in-memory one (acceptance from the kept steps only differs).
    let disk = stored.summary().unwrap();
    let mem = ebm_diagnostics::summarize(&trace.draws().unwrap()).unwrap();
    assert_eq!(disk.rows, mem.rows);
    let steps = stored.stat(Phase::Sampling, "n_steps").unwrap();
    assert!(
        steps.iter().all(|&s| s == 1.0),
        "MALA takes one gradient per step"
    );
    assert_eq!(stored.stat(Phase::Sampling, "step_size").unwrap()[0], 0.4);
}

#[test]
fn the_observer_streams_a_driver_of_your_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obs.zarr");
    let model = Harmonic::<f32>::default();
    let langevin = LangevinDynamics::new(0.05, 1.0).unwrap();
    let x: Batch<2, f32> = Cpu::default().zeros_like(&(3, Const::<2>));
    let mut s = langevin.init(&model, &x, 5).unwrap();
    let mut store =
        DrawStore::<2, f32>::create(&path, 3, StoreOptions::new().chunk_draws(7)).unwrap();
    let out = {
        let mut obs = store.observer(Phase::Sampling);
        Driver::new(&langevin, &model, &mut s)
            .observe(&mut obs)
            .run(&RunOptions::new(30).trace(1).progress(false))
            .unwrap()
    };
    store.flush().unwrap();
    let stored = StoredRun::<f32>::open(&path).unwrap();
    assert_eq!(
        stored.positions(Phase::Sampling).unwrap().data,
        out.trace.unwrap().into_vec()
    );
    assert_eq!(
        stored.stat(Phase::Sampling, "acceptance_rate").unwrap(),
        vec![1.0; 90]
    );
    // No checkpoint was written, so there is nothing to resume from.
    let err = DrawStore::<2, f32>::resume(&path, &Cpu::default()).unwrap_err();
    assert!(matches!(err, StoreError::NoResumeState { .. }), "{err}");
}

#[test]
fn the_layout_is_arviz_s() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout.zarr");
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let mut s = mala.init(&model, &x0::<2>(2), 1).unwrap();
    let mut store =
        DrawStore::<2, f64>::create(&path, 2, StoreOptions::new().chunk_draws(8)).unwrap();
    store
        .run(&mala, &model, &mut s, Phase::Sampling, 10)
        .unwrap();
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path.join(p)).unwrap()).unwrap()
    };
    let x = read("posterior/x/.zarray");
    assert_eq!(x["shape"], serde_json::json!([2, 10, 2]));
    assert_eq!(x["chunks"], serde_json::json!([2, 8, 2]));
    assert_eq!(x["dtype"], "<f8");
    assert_eq!(
        read("posterior/x/.zattrs")["_ARRAY_DIMENSIONS"],
        serde_json::json!(["chain", "draw", "x_dim_0"])
    );
    assert_eq!(read("sample_stats/diverging/.zarray")["dtype"], "|b1");
    let consolidated = read(".zmetadata");
    assert_eq!(consolidated["metadata"]["posterior/x/.zarray"], x);
    for group in [
        "posterior",
        "sample_stats",
        "warmup_posterior",
        "warmup_sample_stats",
    ] {
        assert!(path.join(group).join(".zgroup").is_file(), "{group}");
    }
    assert_eq!(
        std::fs::metadata(path.join("posterior/x/0.1.0"))
            .unwrap()
            .len(),
        2 * 8 * 2 * 8
    );
    assert_eq!(
        std::fs::read(path.join("posterior/draw/1")).unwrap()[..8],
        8i64.to_le_bytes()
    );
}

#[test]
fn bad_input_is_named_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that is not a store.
    let other = dir.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    for overwrite in [false, true] {
        let err = DrawStore::<2, f64>::create(&other, 2, StoreOptions::new().overwrite(overwrite))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("notes"), "{err}");
    }
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
    let err = StoredRun::<f64>::open(other.join("keep.txt")).unwrap_err();
    assert!(
        err.to_string().contains("keep.txt") && err.to_string().contains("not a directory"),
        "{err}"
    );

    // A store: not replaced unless asked.
    let path = dir.path().join("run.zarr");
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let mut s = mala.init(&model, &x0::<2>(2), 1).unwrap();
    let mut store =
        DrawStore::<2, f64>::create(&path, 2, StoreOptions::new().chunk_draws(4)).unwrap();
    store
        .run(&mala, &model, &mut s, Phase::Sampling, 10)
        .unwrap();
    let err = DrawStore::<2, f64>::create(&path, 2, StoreOptions::new()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        StoredRun::<f64>::open(&path)
            .unwrap()
            .n_draws(Phase::Sampling),
        10
    );

    // Another dimension, element type or number of chains.
    let err = DrawStore::<3, f64>::resume(&path, &Cpu::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DimensionMismatch {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = StoredRun::<f32>::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::ElementTypeMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("run.zarr") && err.to_string().contains("<f8"),
        "{err}"
    );
    let err = StoredRun::<f64>::open_dim(&path, 5).unwrap_err();
    assert!(matches!(err, StoreError::DimensionMismatch { .. }), "{err}");
    let mut wide = mala.init(&model, &x0::<2>(3), 1).unwrap();
    let err = store
        .run(&mala, &model, &mut wide, Phase::Sampling, 20)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ChainCountMismatch { .. }),
        "{err}"
    );

    // A truncated chunk.
    let chunk = path.join("posterior/x/0.1.0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() - 3]).unwrap();
    let err = StoredRun::<f64>::open(&path)
        .unwrap()
        .positions(Phase::Sampling)
        .unwrap_err();
    assert!(matches!(err, StoreError::TruncatedChunk { .. }), "{err}");
    assert!(err.to_string().contains("0.1.0"), "{err}");

    // Replaced when asked.
    let store = DrawStore::<2, f64>::create(&path, 2, StoreOptions::new().overwrite(true)).unwrap();
    drop(store);
    assert_eq!(
        StoredRun::<f64>::open(&path)
            .unwrap()
            .n_draws(Phase::Sampling),
        0
    );
}

#[test]
fn npz_export_holds_the_trace_and_statistics() {
    let model = Harmonic::<f32>::default();
    let x: Batch<2, f32> = Cpu::default().zeros_like(&(3, Const::<2>));
    let out = Mala::new(0.5, 1.0)
        .unwrap()
        .run(
            &model,
            &x,
            &RunOptions::new(10)
                .trace(1)
                .diagnostics(true)
                .progress(false),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.npz");
    ebm_storage::write_npz(&path, &out, false).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let text = String::from_utf8_lossy(&bytes);
    for name in [
        "x.npy",
        "samples.npy",
        "acceptance_rate.npy",
        "mean.npy",
        "step_energy_error.npy",
    ] {
        assert!(text.contains(name), "{name}");
    }
    assert!(text.contains("'shape': (3, 10, 2)"));
    let err = ebm_storage::write_npz(&path, &out, false).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    ebm_storage::write_npz(&path, &out, true).unwrap();
}
