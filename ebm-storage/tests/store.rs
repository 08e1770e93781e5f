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
    // Every chunk is numcodecs' CRC32 codec's encoding: the CRC-32 of the data, then the data.
    assert_eq!(x["compressor"], serde_json::json!({"id": "crc32"}));
    let chunk = std::fs::read(path.join("posterior/x/0.1.0")).unwrap();
    assert_eq!(chunk.len(), 4 + 2 * 8 * 2 * 8);
    assert_eq!(
        chunk[..4],
        crc32fast::hash(&chunk[4..]).to_le_bytes(),
        "checksum"
    );
    let draw = std::fs::read(path.join("posterior/draw/1")).unwrap();
    assert_eq!(draw[4..12], 8i64.to_le_bytes());
    // The documents that grow with the draws are links into the current commit.
    for key in ["posterior/x/.zarray", ".zmetadata", ".ebm_state"] {
        let link = std::fs::read_link(path.join(key)).unwrap();
        assert!(
            link.to_string_lossy().contains(".ebm_commits/current/"),
            "{key} -> {}",
            link.display()
        );
    }
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
    // Through the observer, the run itself fails at its first step, naming the counts.
    let mut steps_seen = 0;
    let mut count = ebm_samplers::observer_fn(|_: &StepView<'_, 2, f64>| {
        steps_seen += 1;
        Ok(Flow::Continue)
    });
    let mut observer = store.observer(Phase::Sampling);
    let err = Driver::new(&mala, &model, &mut wide)
        .observe(&mut observer)
        .observe(&mut count)
        .run(&RunOptions::new(50).progress(false))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ebm_core::Error::LengthMismatch {
                expected: 2,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(steps_seen, 0, "the run stopped at its first step");
    assert!(wide.steps() <= 1);

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

/// Sets the draw count of the sampling phase to `draws` in every array's shape, in the per-array
/// `.zarray` files and in the consolidated metadata alike: metadata that agrees with itself but
/// not with the chunk files.
fn set_draws(root: &std::path::Path, draws: u64) {
    let zmeta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(".zmetadata")).unwrap()).unwrap();
    let keys: Vec<String> = zmeta["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| {
            (k.starts_with("posterior/") || k.starts_with("sample_stats/"))
                && k.ends_with(".zarray")
                && !k.contains("/chain/")
                && !k.contains("x_dim_0")
        })
        .cloned()
        .collect();
    for key in keys {
        let axis = usize::from(!key.contains("/draw/"));
        edit_json(&root.join(&key), |doc| doc["shape"][axis] = draws.into());
        edit_json(&root.join(".zmetadata"), |doc| {
            doc["metadata"][&key]["shape"][axis] = draws.into();
        });
    }
}

/// Rewrites the JSON document at `path` with `edit`.
fn edit_json(path: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(path, doc.to_string()).unwrap();
}

#[test]
fn absurd_sizes_in_the_metadata_are_errors_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let fresh = |name: &str| {
        let path = dir.path().join(name);
        let mut s = mala.init(&model, &x0::<7>(16), 1).unwrap();
        let mut store =
            DrawStore::<7, f64>::create(&path, 16, StoreOptions::new().chunk_draws(8)).unwrap();
        store
            .run(&mala, &model, &mut s, Phase::Sampling, 20)
            .unwrap();
        path
    };
    // A draw count far beyond the chunk files: 16 x 10^12 x 7 doubles would be 896 TB.
    let path = fresh("huge");
    set_draws(&path, 1_000_000_000_000);
    let run = StoredRun::<f64>::open(&path).unwrap();
    let err = run.positions(Phase::Sampling).unwrap_err();
    // 20 draws in chunks of 8 are chunks 0-2: the first one missing is named.
    assert!(
        matches!(err, StoreError::TruncatedChunk { found: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("0.3.0"), "{err}");
    // A count whose bytes overflow 64 bits (n x draws x dim, as read.rs:127 computed it).
    let path = fresh("overflow");
    set_draws(&path, 1 << 62);
    let err = StoredRun::<f64>::open(&path)
        .unwrap()
        .positions(Phase::Sampling)
        .unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(err.to_string().contains(".zarray"), "{err}");
    // The per-array metadata alone edited: it disagrees with the consolidated metadata.
    let path = fresh("one");
    edit_json(&path.join("posterior/x/.zarray"), |doc| {
        doc["shape"][1] = 1_000_000_000_000u64.into();
    });
    let err = StoredRun::<f64>::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(
        err.to_string().contains("posterior/x/.zarray") && err.to_string().contains("consolidated"),
        "{err}"
    );
    // A chunk of 10^13 draws in the root attributes.
    let path = fresh("chunks");
    edit_json(&path.join(".zattrs"), |doc| {
        doc["ebm_store"]["chunk_draws"] = 10_000_000_000_000u64.into();
    });
    let err = DrawStore::<7, f64>::resume(&path, &Cpu::default()).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    let err = StoredRun::<f64>::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    // The same size asked of a new store is an invalid option.
    let err = DrawStore::<7, f64>::create(
        dir.path().join("new"),
        16,
        StoreOptions::new().chunk_draws(10_000_000_000_000),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidOption {
                name: "chunk_draws",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn open_or_create_resumes_or_creates_and_never_replaces_draws() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Cpu::default();
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let options = || StoreOptions::new().chunk_draws(8);
    let start = |path: &std::path::Path| {
        let (mut store, state) =
            DrawStore::<2, f64>::open_or_create(path, 4, options(), &dev).unwrap();
        assert!(state.is_none(), "a new store has no state");
        let mut s = mala.init(&model, &x0::<2>(4), 1).unwrap();
        store
            .run(&mala, &model, &mut s, Phase::Sampling, 20)
            .unwrap();
    };

    // Nothing there: created. A checkpoint there: resumed, with its chain state.
    let path = dir.path().join("run.zarr");
    start(&path);
    let (store, state) = DrawStore::<2, f64>::open_or_create(&path, 4, options(), &dev).unwrap();
    assert_eq!(store.n_draws(Phase::Sampling), 20);
    assert_eq!(state.unwrap().steps(), 20);
    drop(store);
    let draws = |p: &std::path::Path| {
        StoredRun::<f64>::open(p)
            .unwrap()
            .positions(Phase::Sampling)
            .unwrap()
            .data
    };
    let before = draws(&path);

    // Another chain count, or a request to overwrite: errors, the store untouched.
    let err = DrawStore::<2, f64>::open_or_create(&path, 5, options(), &dev).unwrap_err();
    assert!(
        matches!(err, StoreError::ChainCountMismatch { .. }),
        "{err}"
    );
    let err =
        DrawStore::<2, f64>::open_or_create(&path, 4, options().overwrite(true), &dev).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidOption {
                name: "overwrite",
                ..
            }
        ),
        "{err}"
    );

    // One byte lost at the end of the checkpoint: named as a damaged checkpoint, nothing removed.
    let state_file = path.join(".ebm_state");
    let bytes = std::fs::read(&state_file).unwrap();
    std::fs::write(&state_file, &bytes[..bytes.len() - 1]).unwrap();
    let err = DrawStore::<2, f64>::open_or_create(&path, 4, options(), &dev).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(
        err.to_string().contains(".ebm_state") && err.to_string().contains("checkpoint"),
        "{err}"
    );
    assert_eq!(draws(&path), before);

    // No checkpoint at all but draws: an error, the draws kept.
    std::fs::remove_file(&state_file).unwrap();
    let err = DrawStore::<2, f64>::open_or_create(&path, 4, options(), &dev).unwrap_err();
    assert!(matches!(err, StoreError::NoResumeState { .. }), "{err}");
    assert_eq!(draws(&path), before);

    // A store whose program stopped before its first checkpoint holds nothing: started again.
    let early = dir.path().join("early.zarr");
    drop(DrawStore::<2, f64>::create(&early, 4, options()).unwrap());
    start(&early);
    assert_eq!(
        StoredRun::<f64>::open(&early)
            .unwrap()
            .n_draws(Phase::Sampling),
        20
    );
}

#[test]
fn a_flipped_byte_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.zarr");
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let mut s = mala.init(&model, &x0::<2>(3), 1).unwrap();
    let mut store =
        DrawStore::<2, f64>::create(&path, 3, StoreOptions::new().chunk_draws(4)).unwrap();
    store
        .run(&mala, &model, &mut s, Phase::Sampling, 10)
        .unwrap();
    drop(store);
    let flip = |key: &str, at: usize| {
        let file = path.join(key);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[at] ^= 0x04;
        std::fs::write(&file, bytes).unwrap();
    };
    // A chunk of positions: the right size, the wrong bytes.
    flip("posterior/x/0.1.0", 20);
    let run = StoredRun::<f64>::open(&path).unwrap();
    let err = run.positions(Phase::Sampling).unwrap_err();
    assert!(matches!(err, StoreError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("posterior/x/0.1.0"), "{err}");
    // Resume reads the partial last chunk (chunk 2) back into its buffer.
    flip("sample_stats/lp/0.2", 9);
    let err = DrawStore::<2, f64>::resume(&path, &Cpu::default()).unwrap_err();
    assert!(matches!(err, StoreError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("sample_stats/lp/0.2"), "{err}");
    flip("sample_stats/lp/0.2", 9);
    // The checkpoint's chain state.
    flip(".ebm_state", 200);
    let err = DrawStore::<2, f64>::resume(&path, &Cpu::default()).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(
        err.to_string().contains(".ebm_state") && err.to_string().contains("checksum"),
        "{err}"
    );
    flip(".ebm_state", 200);
    // The consolidated metadata: a shape in it no longer matches the per-array documents.
    let zmeta = std::fs::read_to_string(path.join(".zmetadata")).unwrap();
    let garbled = zmeta.replacen("[3,10]", "[3,11]", 1);
    assert_ne!(zmeta, garbled);
    std::fs::write(path.join(".zmetadata"), garbled).unwrap();
    let err = StoredRun::<f64>::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(err.to_string().contains(".zmetadata"), "{err}");
}

#[test]
fn a_store_that_cannot_write_stops_the_run_at_once_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocked.zarr");
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.4, 1.0).unwrap();
    let mut s = mala.init(&model, &x0::<2>(3), 1).unwrap();
    let mut store =
        DrawStore::<2, f64>::create(&path, 3, StoreOptions::new().chunk_draws(5)).unwrap();
    // A file where the positions' chunks go: the first full chunk cannot be written.
    let chunks = path.join("posterior/x");
    std::fs::remove_dir_all(&chunks).unwrap();
    std::fs::write(&chunks, b"in the way").unwrap();
    let err = {
        let mut obs = store.observer(Phase::Sampling);
        Driver::new(&mala, &model, &mut s)
            .observe(&mut obs)
            .run(&RunOptions::new(50).progress(false))
            .unwrap_err()
    };
    // Stopped at the fifth step, whose draw completed the chunk, with the store's own error.
    assert_eq!(s.steps(), 5);
    let Error::Observer { source } = &err else {
        panic!("not an observer error: {err}")
    };
    let store_err = source.downcast_ref::<StoreError>().expect("a StoreError");
    assert!(matches!(store_err, StoreError::Io { .. }), "{store_err}");
    assert!(err.to_string().contains("posterior/x"), "{err}");
    // Through DrawStore::run the store's error comes back as it is.
    let err = store
        .run(&mala, &model, &mut s, Phase::Sampling, 20)
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

#[test]
fn the_errors_of_every_crate_convert_into_the_one_main_returns() {
    let model = Harmonic::<f64>::default();
    let x0 = x0::<2>(3);
    // No trace was kept: the summary's error passes through `?` into ebm_core::Error.
    let summarise = || -> ebm_core::Result<()> {
        let out = HamiltonianMonteCarlo::new(0.3, 3)?.run(&model, &x0, &RunOptions::new(10))?;
        println!("{}", out.summary()?);
        Ok(())
    };
    let err = summarise().unwrap_err();
    let Error::Other { source } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        source.downcast_ref::<ebm_samplers::SummaryError>(),
        Some(ebm_samplers::SummaryError::NoTrace)
    ));
    // A store's error too, and a sampler's error inside a store's comes back as it was.
    let dir = tempfile::tempdir().unwrap();
    let open = |path: &std::path::Path| -> ebm_core::Result<usize> {
        Ok(StoredRun::<f64>::open(path)?.n_chains())
    };
    let err = open(&dir.path().join("missing.zarr")).unwrap_err();
    let Error::Other { source } = &err else {
        panic!("{err:?}")
    };
    assert!(source.downcast_ref::<StoreError>().is_some(), "{err}");
    assert!(err.to_string().contains("missing.zarr"), "{err}");
    let sampler: ebm_core::Error = StoreError::Sampler(Error::invalid("h", -1, "positive")).into();
    assert!(matches!(sampler, Error::InvalidParameter { .. }));
}
