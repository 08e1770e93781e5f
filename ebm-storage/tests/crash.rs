//! Crash injection at every write: a child process running the documented resume pattern is
//! stopped dead before its 1st, 2nd, 3rd, ... file operation on the store (the count is
//! deterministic, `EBM_STORAGE_CRASH_AT`), until it gets through. After each stop the store must
//! open as one consistent commit whose draws are the uninterrupted run's first draws, and running
//! the program again must complete it to the uninterrupted run's bytes.
//!
//! `ebm-storage/scripts/crash_check.py` does the same to the `long_run` example with zarr-python,
//! xarray and ArviZ as the readers.

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun, SAMPLE_STATS};
use std::path::Path;

mod common;

const CHILD_ENV: &str = "EBM_STORAGE_CRASH_CHILD";
const N_CHAINS: usize = 3;
const WARMUP: u64 = 6;
const SAMPLING: u64 = 10;

/// The documented pattern: resume when there is a checkpoint, else create and start the chains.
fn documented_pattern(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Cpu::default();
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.6, 1.0)?;
    // A kill leaves what was written in the operating system's cache: `sync` (which only matters
    // for power loss) would change nothing here but the time this takes.
    let options = StoreOptions::new().chunk_draws(4).sync(false);
    let (mut store, state) = DrawStore::<2, f64>::open_or_create(path, N_CHAINS, options, &dev)?;
    let mut state = match state {
        Some(state) => state,
        None => {
            let x0 = dev.tensor_from_vec(
                (0..N_CHAINS * 2).map(|i| i as f64 * 0.4 - 1.0).collect(),
                (N_CHAINS, Const::<2>),
            );
            mala.init(&model, &x0, 99)?
        }
    };
    store.run(&mala, &model, &mut state, Phase::Warmup, WARMUP)?;
    store.run(&mala, &model, &mut state, Phase::Sampling, SAMPLING)?;
    Ok(())
}

#[test]
#[ignore = "run as a child process by a_kill_at_every_write_loses_nothing"]
fn crash_child() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        documented_pattern(Path::new(&path)).unwrap();
    }
}

fn run_child(path: &Path, crash_at: Option<u64>) -> bool {
    common::run_child("crash_child", CHILD_ENV, path, crash_at)
}

/// What a reader gets from a store: per phase, positions and every statistic, bit for bit.
type Contents = Vec<(usize, Vec<u64>, Vec<Vec<u64>>)>;

fn contents(path: &Path) -> Contents {
    let run = StoredRun::<f64>::open(path).unwrap();
    [Phase::Warmup, Phase::Sampling]
        .into_iter()
        .map(|phase| {
            let x = run.positions(phase).unwrap();
            let stats = SAMPLE_STATS
                .iter()
                .map(|(name, _)| {
                    let v = run.stat(phase, name).unwrap();
                    v.iter().map(|v| v.to_bits()).collect()
                })
                .collect();
            (
                x.n_draws,
                x.data.iter().map(|v| v.to_bits()).collect(),
                stats,
            )
        })
        .collect()
}

/// Whether `part` is the first draws of `whole`, chain by chain.
fn is_prefix(part: &Contents, whole: &Contents) -> bool {
    part.iter().zip(whole).all(|((n, x, stats), (m, y, full))| {
        let prefix = |a: &[u64], b: &[u64], per_draw: usize| {
            (0..N_CHAINS).all(|c| {
                a[c * n * per_draw..(c + 1) * n * per_draw]
                    == b[c * m * per_draw..(c * m + n) * per_draw]
            })
        };
        n <= m && prefix(x, y, 2) && stats.iter().zip(full).all(|(a, b)| prefix(a, b, 1))
    })
}

#[test]
fn a_kill_at_every_write_loses_nothing() {
    // A kill leaves the file system as the operating system sees it, whatever the medium.
    let dir = common::scratch_dir();
    let whole = dir.path().join("whole.zarr");
    assert!(run_child(&whole, None));
    let reference = contents(&whole);
    assert_eq!((reference[0].0, reference[1].0), (6, 10));

    let path = dir.path().join("killed.zarr");
    let mut stops = 0u64;
    let mut draws_seen = std::collections::BTreeSet::new();
    for n in 1.. {
        assert!(n < 10_000, "the child never got through");
        let _ = std::fs::remove_dir_all(&path);
        if run_child(&path, Some(n)) {
            break;
        }
        stops += 1;
        // Nothing, or one consistent commit holding the first draws of the uninterrupted run.
        let published = std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some());
        if published {
            let seen = contents(&path);
            assert!(
                is_prefix(&seen, &reference),
                "stopped before operation {n}: the store holds draws that are not the run's"
            );
            draws_seen.insert((seen[0].0, seen[1].0));
        }
        // Running the program again completes the run, to the uninterrupted run's bytes.
        assert!(run_child(&path, None), "resume after a stop at {n} failed");
        common::assert_same_files(&path, &whole);
    }
    eprintln!(
        "stopped the writer at each of its {stops} file operations; committed states seen: \
         {draws_seen:?}"
    );
    // Creation, then a checkpoint after each chunk and at each phase's end (the last one seen
    // when the stop comes as the previous commit is cleaned up): every one was seen, and never
    // anything in between.
    let expected: std::collections::BTreeSet<(usize, usize)> =
        [(0, 0), (4, 0), (6, 0), (6, 4), (6, 8), (6, 10)].into();
    assert_eq!(draws_seen, expected);
    assert!(stops > 100, "only {stops} file operations");
}
