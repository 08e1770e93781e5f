//! # ebm-storage
//!
//! Long runs on disk: kept draws streamed to a chunked store while the run goes on, in memory that
//! does not grow with the number of draws, readable by ArviZ and xarray as they are, and resumable
//! after a crash with exactly the draws an uninterrupted run would have given. Also a `.npz` export
//! of an in-memory run.
//!
//! The store is a zarr v2 directory in ArviZ's InferenceData layout, as nutpie writes it: groups
//! `posterior` (variable `x`, dims `chain`, `draw`, `x_dim_0`), `sample_stats` (`lp`,
//! `acceptance_rate`, `diverging`, `energy`, `energy_error`, `step_size`, `n_steps`, `tree_depth`,
//! dims `chain`,
//! `draw`) and their `warmup_` twins, with coordinate arrays and consolidated metadata; every
//! chunk is checksummed (numcodecs' `crc32` codec). Python opens it with `arviz.from_zarr(path)`.
//!
//! - [`DrawStore`] writes a store: [`DrawStore::run`] runs a kernel phase by phase and writes a
//!   checkpoint (the chain state) after every chunk; [`DrawStore::resume`] picks a killed run up
//!   from its last checkpoint; [`DrawStore::observer`] streams the draws of a
//!   [`Driver`](ebm_samplers::Driver) of your own.
//! - [`StoredRun`] reads a store back into the layout `ebm-diagnostics` summarises
//!   ([`StoredRun::summary`]).
//! - [`DrawStore::run_warmup`] streams warm-up and sampling ([`Warmup`](ebm_samplers::Warmup)),
//!   resumable in either phase.
//! - [`merge_shards`] joins the stores of a run split into shards along the chain dimension.
//! - [`write_npz`] writes an in-memory [`SampleOutput`](ebm_samplers::SampleOutput) as `.npz`.
//!
//! # Crash safety
//!
//! A checkpoint becomes visible at one commit point: the documents that grow with the draws (each
//! array's `.zarray`, the consolidated `.zmetadata`, the chain state) live in a numbered directory
//! under `.ebm_commits/`, reached through relative symbolic links via `.ebm_commits/current`, and
//! one `rename` of that link publishes the next checkpoint. A process killed at any instant leaves
//! a store that every reader (this crate, zarr-python, xarray with or without consolidated
//! metadata, ArviZ) sees as of one checkpoint, and that [`DrawStore::resume`] completes to the
//! bytes of an uninterrupted run. With [`StoreOptions::sync`] (on by default) a checkpoint is on
//! disk before it is published, so it survives a power loss too. Every chunk carries numcodecs'
//! CRC32 codec, checked by zarr-python and by [`StoredRun`]: a damaged chunk is
//! [`StoreError::ChecksumMismatch`], not a draw.
//!
//! For tests of crash safety, the environment variable `EBM_STORAGE_CRASH_AT=N` makes the process
//! abort (as a kill would stop it) just before its `N`-th file operation on a store, counted from
//! 1; a program run with `N = 1, 2, ...` until it completes is stopped at every one of its writes.
//!
//! What the statistics hold, per kept draw and chain: `lp` is minus the energy at the draw,
//! `energy` the energy itself (the potential, not HMC's Hamiltonian), `acceptance_rate` the
//! acceptance probability `min(1, exp(log alpha))` of the step that produced the draw,
//! `diverging` whether that step diverged, `energy_error` its energy error, `step_size` the
//! chain's step size during it, `n_steps` its gradient evaluations and `tree_depth` its No-U-Turn
//! tree depth (0 for other kernels). With thinning, the
//! statistics are those of the kept steps only.
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_models::Harmonic;
//! use ebm_samplers::prelude::*;
//! use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("run.zarr");
//! let model = Harmonic::<f64>::default();
//! let hmc = HamiltonianMonteCarlo::new(0.3, 5)?;
//! let x0: Batch<3, f64> = Cpu::default().sample_normal_like(&(8, Const::<3>));
//!
//! // Resume the run if its store has a checkpoint, else start it; a store that cannot be
//! // resumed is an error, never replaced.
//! let (mut store, state) = DrawStore::<3, f64>::open_or_create(&path, 8, StoreOptions::new(), &Cpu::default())?;
//! let mut state = match state {
//!     Some(state) => state,
//!     None => hmc.init(&model, &x0, 42)?,
//! };
//! store.run(&hmc, &model, &mut state, Phase::Warmup, 100)?;
//! store.run(&hmc, &model, &mut state, Phase::Sampling, 400)?;
//!
//! let summary = StoredRun::<f64>::open(&path)?.summary()?;
//! assert!(summary.max_r_hat() < 1.1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod commit;
mod element;
mod error;
mod fsio;
mod merge;
mod npz;
mod read;
mod state_file;
mod store;
mod zarr;

pub use element::StoreElement;
pub use error::{Result, StoreError};
pub use merge::merge_shards;
pub use npz::write_npz;
pub use read::{StoredDraws, StoredRun};
pub use store::{DrawStore, Phase, StoreObserver, StoreOptions};

/// The statistics stored per draw in `sample_stats`, in order, with their zarr dtypes.
pub const SAMPLE_STATS: [(&str, &str); 8] = zarr::STATS;

/// Bytes a store takes on disk under `path` (all files, recursively).
///
/// # Errors
/// I/O errors, naming the path.
pub fn disk_size(path: impl AsRef<std::path::Path>) -> Result<u64> {
    fn walk(p: &std::path::Path) -> Result<u64> {
        // Links are counted as links, not as what they point to (counted where it lies).
        let meta = std::fs::symlink_metadata(p).map_err(|e| StoreError::io(p, e))?;
        if !meta.is_dir() {
            return Ok(meta.len());
        }
        let mut total = 0;
        for entry in std::fs::read_dir(p).map_err(|e| StoreError::io(p, e))? {
            let entry = entry.map_err(|e| StoreError::io(p, e))?;
            total += walk(&entry.path())?;
        }
        Ok(total)
    }
    walk(path.as_ref())
}
