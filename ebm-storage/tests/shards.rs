//! A run split into shards and merged is the single run: 4 shards of 25 chains give, chunk for
//! chunk, the store of one run of 100 chains (HMC, and NUTS at a fixed step size).

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use ebm_storage::{merge_shards, DrawStore, Phase, StoreError, StoreOptions};
use std::path::{Path, PathBuf};

mod common;

const N: usize = 100;
const SHARDS: usize = 4;

fn model() -> GaussianModel<3, f64> {
    GaussianModel::<3, f64>::from_slices(
        &Cpu::default(),
        &[1.0, -1.0, 0.5],
        &[1.0, 0.5, 0.0, 0.5, 2.0, 0.3, 0.0, 0.3, 0.5],
    )
    .unwrap()
}

/// Runs chains `[first, first + starts.rows)` of the run into a store at `path`.
fn run<K: Kernel>(kernel: &K, path: &Path, starts: &[f64], first: usize) {
    let n = starts.len() / 3;
    let x0 = Cpu::default().tensor_from_vec(starts.to_vec(), (n, Const::<3>));
    let mut state = kernel
        .init_shard(&model(), &x0, 2024, first as u64)
        .unwrap();
    let options = StoreOptions::new().chunk_draws(16).sync(false);
    let mut store = DrawStore::<3, f64>::create(path, n, options).unwrap();
    store
        .run(kernel, &model(), &mut state, Phase::Warmup, 10)
        .unwrap();
    store
        .run(kernel, &model(), &mut state, Phase::Sampling, 40)
        .unwrap();
}

fn check<K: Kernel>(name: &str, kernel: &K) {
    let dir = common::scratch_dir();
    let starts: Vec<f64> = (0..N * 3)
        .map(|i| ((i * 37) % 23) as f64 * 0.2 - 2.0)
        .collect();
    let whole = dir.path().join(format!("{name}-whole.zarr"));
    run(kernel, &whole, &starts, 0);
    let per = N / SHARDS;
    let shards: Vec<PathBuf> = (0..SHARDS)
        .map(|i| {
            let path = dir.path().join(format!("{name}-shard{i}.zarr"));
            run(
                kernel,
                &path,
                &starts[i * per * 3..(i + 1) * per * 3],
                i * per,
            );
            path
        })
        .collect();
    let merged_path = dir.path().join(format!("{name}-merged.zarr"));
    let merged = merge_shards::<f64>(&shards, &merged_path).unwrap();
    assert_eq!(merged.n_chains(), N);
    assert_eq!(merged.n_draws(Phase::Sampling), 40);
    // Every file of the single run's store, but its checkpoint, byte for byte.
    let files = |p: &Path| {
        common::logical_files(p)
            .into_iter()
            .filter(|(k, _)| k != ".ebm_state")
            .collect::<Vec<_>>()
    };
    let (a, b) = (files(&merged_path), files(&whole));
    assert_eq!(a.len(), b.len(), "{name}");
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb, "{name}");
        assert!(
            va == vb,
            "{name}: {ka} differs between the merged and the single run"
        );
    }
    // Shards of another run are refused, naming the shard.
    let other = dir.path().join(format!("{name}-other.zarr"));
    let x0 = Cpu::default().tensor_from_vec(starts[..per * 3].to_vec(), (per, Const::<3>));
    let mut state = kernel.init(&model(), &x0, 1).unwrap();
    let mut store =
        DrawStore::<3, f64>::create(&other, per, StoreOptions::new().chunk_draws(8)).unwrap();
    store
        .run(kernel, &model(), &mut state, Phase::Sampling, 40)
        .unwrap();
    let err = merge_shards::<f64>(&[&shards[0], &other], dir.path().join("bad.zarr")).unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err}");
    assert!(err.to_string().contains("other"), "{err}");
}

#[test]
fn four_shards_of_hmc_merge_into_the_single_run() {
    check("hmc", &HamiltonianMonteCarlo::new(0.25, 6).unwrap());
}

#[test]
fn four_shards_of_nuts_merge_into_the_single_run() {
    check(
        "nuts",
        &Nuts::new(0.4)
            .unwrap()
            .with_mass(MassMatrix::Diagonal(vec![1.0, 0.6, 2.0]))
            .unwrap(),
    );
}
