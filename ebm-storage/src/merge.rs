//! Merging the stores of a run split into shards (chains `[a, b)` each) into one store.

use crate::commit::Commits;
use crate::element::StoreElement;
use crate::error::{Result, StoreError};
use crate::read::StoredRun;
use crate::store::{check_layout, Phase};
use crate::zarr::{checksum_of, chunk_key, dtype_size, read_chunk, read_hierarchy, Layout, STATS};
use std::path::Path;

/// Merges the stores of a run split into shards into one store at `out`, its chains those of
/// `shards` in the order given, and opens it.
///
/// Each shard ran chains `[a, b)` of the run (their starting points and
/// [`Kernel::init_shard`](ebm_samplers::Kernel::init_shard) with `first_chain = a`), so for a
/// fixed kernel (HMC, MALA, Langevin, NUTS at a fixed step size) the merged store holds exactly
/// the draws, chunk for chunk, of the single run of all chains. With warm-up each shard adapts its
/// mass matrix on its own chains, so the merge is a valid run but not the single run's draws. Run
/// the shards on any scheduler (a Slurm job array: shard `i = $SLURM_ARRAY_TASK_ID` runs chains
/// `[i n, (i + 1) n)` into its own store), then merge; `docs/sampling.md` has the recipe.
///
/// The merged store has no checkpoint (it is read, not resumed). `out` must not exist, or be an
/// empty directory.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
/// use ebm_storage::{merge_shards, DrawStore, Phase, StoreOptions};
///
/// let dir = tempfile::tempdir()?;
/// let (dev, model, hmc) = (Cpu::default(), Harmonic::<f64>::default(), HamiltonianMonteCarlo::new(0.3, 5)?);
/// let x0: Batch<2, f64> = dev.sample_normal_like(&(8, Const::<2>)); // all 8 chains' starts
/// let rows = x0.as_vec();
/// let mut shards = Vec::new();
/// for (i, first) in [0usize, 4].into_iter().enumerate() {
///     // In practice each shard runs on its own machine.
///     let path = dir.path().join(format!("shard{i}.zarr"));
///     let starts = dev.tensor_from_vec(rows[first * 2..(first + 4) * 2].to_vec(), (4, Const::<2>));
///     let mut state = hmc.init_shard(&model, &starts, 7, first as u64)?;
///     let mut store = DrawStore::<2, f64>::create(&path, 4, StoreOptions::new().chunk_draws(25))?;
///     store.run(&hmc, &model, &mut state, Phase::Sampling, 100)?;
///     shards.push(path);
/// }
/// let merged = merge_shards::<f64>(&shards, dir.path().join("all.zarr"))?;
/// assert_eq!((merged.n_chains(), merged.n_draws(Phase::Sampling)), (8, 100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::InvalidOption`] naming `shards` when there are none,
/// [`StoreError::BadMetadata`] naming the first shard whose dimension, chunking, thinning or draw
/// counts differ from the first shard's, [`StoreError::AlreadyExists`] when `out` holds anything,
/// the read errors of each shard's chunks, and I/O errors.
pub fn merge_shards<E: StoreElement>(
    shards: &[impl AsRef<Path>],
    out: impl AsRef<Path>,
) -> Result<StoredRun<E>> {
    let out = out.as_ref();
    let first = shards.first().ok_or(StoreError::InvalidOption {
        name: "shards",
        value: "[]".into(),
        reason: "at least one shard store to merge",
    })?;
    let reference = check_layout::<E>(first.as_ref(), None)?;
    let draws = read_hierarchy(first.as_ref(), &reference)?;
    let mut layouts = Vec::with_capacity(shards.len());
    let mut n_total = 0usize;
    for shard in shards {
        let path = shard.as_ref();
        let layout = check_layout::<E>(path, Some(reference.dim))?;
        let same = layout.chunk_draws == reference.chunk_draws
            && layout.thin == reference.thin
            && layout.format == reference.format;
        if !same || read_hierarchy(path, &layout)? != draws {
            return Err(StoreError::bad(
                path.join(".zattrs"),
                format!(
                    "a shard of another run: chunks of {} draws, thinning {}, draws {:?} where the \
                     first shard has {}, {}, {draws:?}",
                    layout.chunk_draws,
                    layout.thin,
                    read_hierarchy(path, &layout).unwrap_or([0, 0]),
                    reference.chunk_draws,
                    reference.thin
                ),
            ));
        }
        n_total = n_total.checked_add(layout.n_chains).ok_or_else(|| {
            StoreError::bad(path.join(".zattrs"), "the chains of the shards overflow")
        })?;
        layouts.push(layout);
    }
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) || out.is_file() {
        return Err(StoreError::AlreadyExists {
            path: out.to_path_buf(),
        });
    }
    let layout = Layout {
        n_chains: n_total,
        format: crate::zarr::FORMAT,
        ..reference.clone()
    };
    if crate::zarr::chunk_bytes(n_total, layout.chunk_draws, layout.dim, 8).is_none() {
        return Err(StoreError::InvalidOption {
            name: "shards",
            value: format!("{n_total} chains"),
            reason: "all chains x chunk_draws x dim x 8 bytes must stay within 4 GiB per chunk",
        });
    }
    let coordinates = coordinates(&layout);
    let mut commits = Commits::create(out, &layout, &coordinates, false)?;
    let cd = layout.chunk_draws;
    let mut bytes = Vec::new();
    for phase in Phase::ALL {
        let nd = draws[phase.index()];
        let (post, stats) = phase.groups();
        let arrays: Vec<(String, usize, usize)> =
            std::iter::once((format!("{post}/x"), 3, layout.dim * E::SIZE))
                .chain(
                    STATS
                        .iter()
                        .map(|(name, t)| (format!("{stats}/{name}"), 2, dtype_size(t))),
                )
                .collect();
        for ci in 0..nd.div_ceil(cd) {
            for (key, rank, cell) in &arrays {
                let mut merged = Vec::with_capacity(n_total * cd * cell);
                for (shard, l) in shards.iter().zip(&layouts) {
                    let path = shard.as_ref().join(key).join(chunk_key(ci, *rank));
                    read_chunk(&path, l.n_chains * cd * cell, l.checksummed(), &mut bytes)?;
                    merged.extend_from_slice(&bytes);
                }
                commits.write_chunk(
                    &format!("{key}/{}", chunk_key(ci, *rank)),
                    &[&checksum_of(&merged), &merged],
                )?;
            }
            let coords: Vec<u8> = (ci * cd..(ci + 1) * cd)
                .flat_map(|d| (d as i64).to_le_bytes())
                .collect();
            for group in [post, stats] {
                commits.write_chunk(
                    &format!("{group}/draw/{}", chunk_key(ci, 1)),
                    &[&checksum_of(&coords), &coords],
                )?;
            }
        }
    }
    commits.commit(&layout, draws, None)?;
    StoredRun::open(out)
}

/// The chunks of the coordinate arrays that do not grow (`chain`, `x_dim_0`), checksummed.
pub(crate) fn coordinates(layout: &Layout) -> Vec<(String, Vec<u8>)> {
    let ints = |n: usize| {
        let data: Vec<u8> = (0..n as i64).flat_map(i64::to_le_bytes).collect();
        let mut out = checksum_of(&data).to_vec();
        out.extend_from_slice(&data);
        out
    };
    let mut files = Vec::new();
    for phase in Phase::ALL {
        let (post, stats) = phase.groups();
        files.push((format!("{post}/x_dim_0/0"), ints(layout.dim)));
        for group in [post, stats] {
            files.push((format!("{group}/chain/0"), ints(layout.n_chains)));
        }
    }
    files
}
