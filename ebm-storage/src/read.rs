//! Reading a store back: the draws in the layout `ebm-diagnostics` summarises, and the statistics.

use crate::element::StoreElement;
use crate::error::{Result, StoreError};
use crate::store::{check_layout, Phase};
use crate::zarr::{chunk_key, dtype_size, read_chunk, read_hierarchy, Layout, STATS};
use ebm_diagnostics::{ChainStats, DiagnosticsError, Draws, Summary};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A store opened for reading, as far as its metadata says it was written (a store whose run is
/// still going, or was killed, reads as of its last completed chunk).
///
/// ```no_run
/// use ebm_storage::{Phase, StoredRun};
/// let stored = StoredRun::<f32>::open("run.zarr")?;
/// println!("{} chains x {} draws", stored.n_chains(), stored.n_draws(Phase::Sampling));
/// println!("{}", stored.summary()?);
/// # Ok::<(), ebm_storage::StoreError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StoredRun<E> {
    root: PathBuf,
    layout: Layout,
    draws: [usize; 2],
    _e: PhantomData<E>,
}

/// Draws read from a store, owned, `[chain][draw][dim]`; [`StoredDraws::draws`] is the view
/// `ebm-diagnostics` works on.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDraws<E> {
    /// The draws, `[chain][draw][dim]` row-major.
    pub data: Vec<E>,
    /// The number of chains.
    pub n_chains: usize,
    /// Draws per chain.
    pub n_draws: usize,
    /// The dimension.
    pub dim: usize,
}

impl<E: StoreElement> StoredDraws<E> {
    /// The draws as `ebm-diagnostics` takes them.
    ///
    /// # Errors
    /// The diagnostics' errors: fewer than 4 draws per chain, a non-finite draw.
    pub fn draws(&self) -> Result<Draws<'_, E>, DiagnosticsError> {
        Draws::new(&self.data, self.n_chains, self.n_draws, self.dim)
    }
}

impl<E: StoreElement> StoredRun<E> {
    /// Opens the store at `path`.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] when `path` is not a store written by this crate,
    /// [`StoreError::ElementTypeMismatch`] when it holds another element type,
    /// [`StoreError::BadMetadata`] for unreadable metadata, or per-array metadata that disagrees
    /// with the consolidated `.zmetadata` or with the store's layout, and I/O errors.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        let layout = check_layout::<E>(&root, None)?;
        let draws = read_hierarchy(&root, &layout)?;
        Ok(Self {
            root,
            layout,
            draws,
            _e: PhantomData,
        })
    }

    /// Opens the store at `path`, checking that it holds draws of dimension `dim`.
    ///
    /// # Errors
    /// As [`StoredRun::open`], and [`StoreError::DimensionMismatch`].
    pub fn open_dim(path: impl AsRef<Path>, dim: usize) -> Result<Self> {
        check_layout::<E>(path.as_ref(), Some(dim))?;
        Self::open(path)
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.layout.n_chains
    }

    /// The dimension of a draw.
    pub fn dim(&self) -> usize {
        self.layout.dim
    }

    /// Draws per chunk.
    pub fn chunk_draws(&self) -> usize {
        self.layout.chunk_draws
    }

    /// The thinning interval the draws were kept with.
    pub fn thin(&self) -> usize {
        self.layout.thin
    }

    /// Draws per chain stored in `phase`.
    pub fn n_draws(&self, phase: Phase) -> usize {
        self.draws[phase.index()]
    }

    /// Reads the positions of `phase`, `[chain][draw][dim]`.
    ///
    /// # Errors
    /// [`StoreError::TruncatedChunk`] for a missing chunk or one of the wrong size,
    /// [`StoreError::ChecksumMismatch`] for a damaged one, and I/O errors.
    pub fn positions(&self, phase: Phase) -> Result<StoredDraws<E>> {
        let (n, d) = (self.layout.n_chains, self.layout.dim);
        let nd = self.draws[phase.index()];
        let dir = self.root.join(phase.groups().0).join("x");
        self.check_chunks_on_disk(&dir, 3, d * E::SIZE, nd)?;
        let mut data = vec![E::zero(); n * nd * d];
        self.read_chunks(&dir, 3, d * E::SIZE, nd, |c, draw, bytes| {
            for (j, b) in bytes.chunks_exact(E::SIZE).enumerate() {
                data[(c * nd + draw) * d + j] = E::get(b);
            }
        })?;
        Ok(StoredDraws {
            data,
            n_chains: n,
            n_draws: nd,
            dim: d,
        })
    }

    /// Reads the statistic `name` of `phase` (`lp`, `acceptance_rate`, `diverging` as 0 or 1,
    /// `energy`, `energy_error`, `step_size`, `n_steps`, `tree_depth`), `[chain][draw]`.
    ///
    /// # Errors
    /// [`StoreError::BadMetadata`] naming an unknown statistic, [`StoreError::TruncatedChunk`],
    /// [`StoreError::ChecksumMismatch`], and I/O errors.
    pub fn stat(&self, phase: Phase, name: &str) -> Result<Vec<f64>> {
        let dir = self.root.join(phase.groups().1).join(name);
        let dtype = STATS
            .iter()
            .find(|(s, _)| *s == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| StoreError::bad(&dir, format!("no statistic {name}")))?;
        let (n, nd) = (self.layout.n_chains, self.draws[phase.index()]);
        self.check_chunks_on_disk(&dir, 2, dtype_size(dtype), nd)?;
        let mut out = vec![0.0; n * nd];
        self.read_chunks(&dir, 2, dtype_size(dtype), nd, |c, draw, b| {
            out[c * nd + draw] = match dtype {
                "|b1" => f64::from(b[0]),
                "<i8" => i64::from_le_bytes(b.try_into().expect("8")) as f64,
                _ => f64::from_le_bytes(b.try_into().expect("8")),
            };
        })?;
        Ok(out)
    }

    /// Checks, before anything is allocated for them, that the chunk files in `dir` (of an array of
    /// `rank` dimensions) hold at least the bytes of `nd` draws per chain of cells of `cell` bytes:
    /// metadata that claims more draws than the files hold is an error naming the first missing or
    /// short chunk, and sizes whose product overflows one naming the metadata, never an
    /// allocation.
    fn check_chunks_on_disk(&self, dir: &Path, rank: usize, cell: usize, nd: usize) -> Result<()> {
        let cd = self.layout.chunk_draws;
        let zarray = dir.join(".zarray");
        let per_chunk = self
            .layout
            .chunk_file_bytes(cell)
            .ok_or_else(|| StoreError::bad(&zarray, "its chunks exceed 4 GiB"))?;
        let needed = (nd.div_ceil(cd) as u64)
            .checked_mul(per_chunk)
            .ok_or_else(|| StoreError::bad(&zarray, format!("{nd} draws per chain overflow")))?;
        if needed == 0 {
            return Ok(());
        }
        let mut held = 0u64;
        let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(dir, e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(|e| StoreError::io(entry.path(), e))?;
            if meta.is_file() {
                held = held.saturating_add(meta.len());
            }
        }
        if held >= needed {
            return Ok(());
        }
        // Some chunk is missing or short; the first one lies within the files there are, so this
        // ends after at most as many steps as there are files.
        for ci in 0..nd.div_ceil(cd) {
            let path = dir.join(chunk_key(ci, rank));
            let found = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if found != per_chunk {
                return Err(StoreError::TruncatedChunk {
                    path,
                    expected: per_chunk,
                    found,
                });
            }
        }
        Err(StoreError::bad(
            &zarray,
            format!("says {nd} draws per chain, more than its chunk files hold"),
        ))
    }

    /// Calls `f(chain, draw, bytes)` for every stored cell of an array chunked along the draw axis.
    fn read_chunks(
        &self,
        dir: &Path,
        rank: usize,
        cell: usize,
        nd: usize,
        mut f: impl FnMut(usize, usize, &[u8]),
    ) -> Result<()> {
        let (n, cd) = (self.layout.n_chains, self.layout.chunk_draws);
        let checksum = self.layout.checksummed();
        let mut bytes = Vec::new();
        for ci in 0..nd.div_ceil(cd) {
            read_chunk(
                &dir.join(chunk_key(ci, rank)),
                n * cd * cell,
                checksum,
                &mut bytes,
            )?;
            for c in 0..n {
                for k in 0..cd.min(nd - ci * cd) {
                    let at = (c * cd + k) * cell;
                    f(c, ci * cd + k, &bytes[at..at + cell]);
                }
            }
        }
        Ok(())
    }

    /// The convergence summary of the sampling draws, as
    /// [`SampleOutput::summary`](ebm_samplers::SampleOutput::summary) gives for an in-memory run:
    /// per coordinate mean, sd, MCSE, bulk- and tail-ESS and R-hat, then each chain's mean
    /// acceptance probability and divergences over the stored draws.
    ///
    /// # Errors
    /// The read errors, and the diagnostics' (for example fewer than 4 draws per chain).
    pub fn summary(&self) -> Result<Summary> {
        let x = self.positions(Phase::Sampling)?;
        let summary = ebm_diagnostics::summarize(&x.draws()?)?;
        let accept = self.stat(Phase::Sampling, "acceptance_rate")?;
        let diverging = self.stat(Phase::Sampling, "diverging")?;
        let nd = x.n_draws;
        let stats = (0..x.n_chains)
            .map(|c| ChainStats {
                acceptance_rate: Some(accept[c * nd..(c + 1) * nd].iter().sum::<f64>() / nd as f64),
                divergences: diverging[c * nd..(c + 1) * nd]
                    .iter()
                    .filter(|&&v| v != 0.0)
                    .count(),
            })
            .collect();
        Ok(summary.with_chain_stats(stats)?)
    }
}
