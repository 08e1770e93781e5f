//! A streamed run killed with SIGKILL midway resumes from its store with exactly the draws of an
//! uninterrupted run.

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun, SAMPLE_STATS};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

const CHILD_ENV: &str = "EBM_STORAGE_CHILD_STORE";
const N_CHAINS: usize = 6;
const WARMUP: u64 = 31;
const SAMPLING: u64 = 400;

fn options() -> StoreOptions {
    StoreOptions::new().chunk_draws(10).thin(2)
}

fn setup() -> (Mala, Harmonic<f64>, Batch<2, f64>) {
    let x0 = Cpu::default().tensor_from_vec(
        (0..N_CHAINS * 2).map(|i| i as f64 * 0.3 - 1.5).collect(),
        (N_CHAINS, Const::<2>),
    );
    (Mala::new(0.6, 1.0).unwrap(), Harmonic::default(), x0)
}

/// The run the child performs, slowed down so the parent can kill it midway: the sampling phase is
/// brought to its length in small increments, which by continuation gives the same draws as one call.
fn slow_run(path: &Path) {
    let (mala, model, x0) = setup();
    let mut state = mala.init(&model, &x0, 2024).unwrap();
    let mut store = DrawStore::<2, f64>::create(path, N_CHAINS, options()).unwrap();
    store
        .run(&mala, &model, &mut state, Phase::Warmup, WARMUP)
        .unwrap();
    for target in (7..=SAMPLING).step_by(7) {
        store
            .run(&mala, &model, &mut state, Phase::Sampling, target)
            .unwrap();
        std::thread::sleep(Duration::from_millis(15));
    }
    store
        .run(&mala, &model, &mut state, Phase::Sampling, SAMPLING)
        .unwrap();
}

#[test]
#[ignore = "run as a child process by resume_after_sigkill_is_bit_identical"]
fn child_streamed_run() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        slow_run(Path::new(&path));
    }
}

#[test]
fn resume_after_sigkill_is_bit_identical() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let killed = dir.path().join("killed.zarr");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_streamed_run",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &killed)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some sampling chunks are complete, then kill the child.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = StoredRun::<f64>::open(&killed)
            .map(|s| s.n_draws(Phase::Sampling) >= 30)
            .unwrap_or(false);
        if done {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "the child wrote no chunk in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the child was killed by SIGKILL");

    // What was complete before the kill reads back.
    let partial = StoredRun::<f64>::open(&killed).unwrap();
    let n = partial.n_draws(Phase::Sampling);
    assert!(
        n >= 30 && n < (SAMPLING / 2) as usize,
        "killed midway, at {n} draws"
    );
    partial.positions(Phase::Sampling).unwrap();
    partial.stat(Phase::Sampling, "lp").unwrap();

    // Resume with the same program.
    let (mala, model, _) = setup();
    let (mut store, mut state) = DrawStore::<2, f64>::resume(&killed, &Cpu::default()).unwrap();
    store
        .run(&mala, &model, &mut state, Phase::Warmup, WARMUP)
        .unwrap();
    store
        .run(&mala, &model, &mut state, Phase::Sampling, SAMPLING)
        .unwrap();

    // An uninterrupted run, in one call per phase.
    let whole = dir.path().join("whole.zarr");
    let (mala, model, x0) = setup();
    let mut reference = mala.init(&model, &x0, 2024).unwrap();
    let mut store = DrawStore::<2, f64>::create(&whole, N_CHAINS, options()).unwrap();
    store
        .run(&mala, &model, &mut reference, Phase::Warmup, WARMUP)
        .unwrap();
    store
        .run(&mala, &model, &mut reference, Phase::Sampling, SAMPLING)
        .unwrap();

    assert_eq!(state.snapshot(), reference.snapshot());
    let (a, b) = (
        StoredRun::<f64>::open(&killed).unwrap(),
        StoredRun::<f64>::open(&whole).unwrap(),
    );
    for phase in [Phase::Warmup, Phase::Sampling] {
        assert_eq!(a.positions(phase).unwrap(), b.positions(phase).unwrap());
        for (name, _) in SAMPLE_STATS {
            let (x, y) = (a.stat(phase, name).unwrap(), b.stat(phase, name).unwrap());
            assert_eq!(
                x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
        }
    }
    assert_eq!(a.n_draws(Phase::Sampling), 200);
    assert_eq!(a.n_draws(Phase::Warmup), 15);
    // Byte for byte, metadata and chain state included.
    common::assert_same_files(&killed, &whole);
}
