//! Hostile stores: a real store's files mutated one at a time (bits flipped, bytes set, files cut
//! short, grown or removed, numbers in the JSON documents replaced by edge values), then read and
//! resumed. Every attempt must end in a typed error or in exactly the original draws and chain
//! state: no panic, no abort, and no allocation beyond a bound.
//!
//! The cases come from a fixed seed, so the run is the same every time; `EBM_FUZZ_CASES` sets
//! how many (default 600).

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun, SAMPLE_STATS};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

/// The largest single allocation the readers may make on any of these stores (the real store
/// needs a few kilobytes).
const ALLOC_BOUND: usize = 64 << 20;

/// The system allocator, recording the largest request.
struct Recording;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Recording = Recording;

/// A mutation of one file.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    Truncate {
        keep: usize,
    },
    Append {
        bytes: Vec<u8>,
    },
    Remove,
    /// Replaces the `which`-th run of digits (a JSON number) by `value`.
    Number {
        which: usize,
        value: &'static str,
    },
}

const EDGE_NUMBERS: [&str; 12] = [
    "0",
    "1",
    "3",
    "-1",
    "4294967296",
    "9007199254740993",
    "4611686018427387904",
    "18446744073709551615",
    "18446744073709551616",
    "1e300",
    "1000000000000",
    "2.5",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Append { bytes }),
        1 => Just(Mutation::Remove),
        3 => (any::<usize>(), proptest::sample::select(EDGE_NUMBERS.to_vec()))
            .prop_map(|(which, value)| Mutation::Number { which, value }),
    ]
}

/// Applies `m` to the file at `path`; false when it changes nothing (a number mutation of a file
/// without numbers).
fn apply(path: &Path, m: &Mutation) -> bool {
    let mut bytes = std::fs::read(path).unwrap();
    match m {
        Mutation::FlipBit { at, bit } if !bytes.is_empty() => {
            let i = at % bytes.len();
            bytes[i] ^= 1 << bit;
        }
        Mutation::SetByte { at, value } if !bytes.is_empty() => {
            let i = at % bytes.len();
            if bytes[i] == *value {
                return false;
            }
            bytes[i] = *value;
        }
        Mutation::Truncate { keep } if !bytes.is_empty() => bytes.truncate(keep % bytes.len()),
        Mutation::Append { bytes: more } => bytes.extend_from_slice(more),
        Mutation::Remove => {
            std::fs::remove_file(path).unwrap();
            return true;
        }
        Mutation::Number { which, value } => {
            let text = bytes.clone();
            let mut runs = Vec::new();
            let mut i = 0;
            while i < text.len() {
                if text[i].is_ascii_digit() {
                    let start = i;
                    while i < text.len() && text[i].is_ascii_digit() {
                        i += 1;
                    }
                    runs.push((start, i));
                } else {
                    i += 1;
                }
            }
            // Only in JSON documents; chunk bytes are covered by the byte mutations.
            if runs.is_empty() || text.first() != Some(&b'{') {
                return false;
            }
            let (a, b) = runs[which % runs.len()];
            if &text[a..b] == value.as_bytes() {
                return false;
            }
            bytes = [&text[..a], value.as_bytes(), &text[b..]].concat();
        }
        _ => return false,
    }
    std::fs::write(path, bytes).unwrap();
    true
}

/// What the readers give for a store: every phase's positions and statistics, bit for bit.
type Read = Vec<(Vec<u64>, Vec<Vec<u64>>)>;

fn read(path: &Path) -> Result<Read, ebm_storage::StoreError> {
    let run = StoredRun::<f64>::open(path)?;
    let mut out = Vec::new();
    for phase in [Phase::Warmup, Phase::Sampling] {
        let x = run.positions(phase)?;
        let mut stats = Vec::new();
        for (name, _) in SAMPLE_STATS {
            stats.push(run.stat(phase, name)?.iter().map(|v| v.to_bits()).collect());
        }
        out.push((x.data.iter().map(|v| v.to_bits()).collect(), stats));
    }
    run.summary()?;
    Ok(out)
}

/// What resume gives: the chain state and the draws per phase.
fn resume(path: &Path) -> Result<(String, [usize; 2]), ebm_storage::StoreError> {
    let (store, state) = DrawStore::<3, f64>::resume(path, &Cpu::default())?;
    Ok((
        format!("{:?}", state.snapshot()),
        [store.n_draws(Phase::Warmup), store.n_draws(Phase::Sampling)],
    ))
}

/// Every regular file of the store (the commit's documents where they lie, not the links).
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn mutated_stores_give_typed_errors_or_the_original_draws() {
    let dir = common::scratch_dir();
    // A real store: both phases, a partial last chunk, a checkpoint.
    let original = dir.path().join("original.zarr");
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.5, 1.0).unwrap();
    let x0 = Cpu::default().tensor_from_vec(
        (0..12).map(|i| i as f64 * 0.25 - 1.5).collect(),
        (4, Const::<3>),
    );
    let mut state = mala.init(&model, &x0, 5).unwrap();
    let options = StoreOptions::new().chunk_draws(4).sync(false);
    let mut store = DrawStore::<3, f64>::create(&original, 4, options).unwrap();
    store
        .run(&mala, &model, &mut state, Phase::Warmup, 5)
        .unwrap();
    store
        .run(&mala, &model, &mut state, Phase::Sampling, 10)
        .unwrap();
    drop(store);
    let want_read = read(&original).unwrap();
    let want_resume = resume(&original).unwrap();
    let targets: Vec<PathBuf> = files(&original)
        .into_iter()
        .map(|p| p.strip_prefix(&original).unwrap().to_path_buf())
        .collect();
    assert!(targets.len() > 60, "{} files", targets.len());

    let cases: u32 = std::env::var("EBM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tried = std::cell::Cell::new(0usize);
    let (errors, originals) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let strategy = (0..targets.len(), mutation());
    runner
        .run(&strategy, |(file, m)| {
            let case = dir.path().join(format!("case{}", tried.get()));
            common::copy_tree(&original, &case);
            let target = case.join(&targets[file]);
            if apply(&target, &m) {
                tried.set(tried.get() + 1);
                LARGEST.store(0, Ordering::Relaxed);
                let outcome = std::panic::catch_unwind(|| (read(&case), resume(&case)));
                let largest = LARGEST.load(Ordering::Relaxed);
                let (r, s) = outcome.map_err(|_| {
                    TestCaseError::fail(format!("panic on {} after {m:?}", targets[file].display()))
                })?;
                prop_assert!(
                    largest <= ALLOC_BOUND,
                    "{largest} bytes allocated at once on {} after {m:?}",
                    targets[file].display()
                );
                for ok in [r.map(|r| r == want_read), s.map(|s| s == want_resume)] {
                    match ok {
                        Ok(same) => {
                            prop_assert!(
                                same,
                                "{} after {m:?}: read without an error, but not the original",
                                targets[file].display()
                            );
                            originals.set(originals.get() + 1);
                        }
                        Err(_) => errors.set(errors.get() + 1),
                    }
                }
            }
            std::fs::remove_dir_all(&case).unwrap();
            Ok(())
        })
        .unwrap();
    eprintln!(
        "{} mutated stores of {} files, read and resumed: {} typed errors, {} original results, \
         0 panics, 0 aborts, no allocation over {} MiB",
        tried.get(),
        targets.len(),
        errors.get(),
        originals.get(),
        ALLOC_BOUND >> 20
    );
    assert!(
        tried.get() as u32 >= cases * 3 / 4,
        "{} cases tried",
        tried.get()
    );
}
