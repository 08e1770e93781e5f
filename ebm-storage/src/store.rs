//! The writer: a store on disk that kept draws are appended to while a run goes on.

use crate::commit::Commits;
use crate::element::StoreElement;
use crate::error::{Result, StoreError};
use crate::state_file::{self, Progress};
use crate::zarr::{
    checksum_of, chunk_key, dtype_size, read_chunk, read_hierarchy, Layout, FORMAT, STATE_FILE,
    STATS,
};
use ebm_core::prelude::*;
use ebm_samplers::{
    Adaptable, ChainState, Driver, Flow, Kernel, Observer, ReplicaExchange, ReplicaState,
    RunOptions, StepView, Warmup, WarmupAdaptation, WarmupSnapshot,
};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// The two parts of a run a store keeps apart, as ArviZ does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Warm-up (tuning) draws: groups `warmup_posterior` and `warmup_sample_stats`.
    Warmup,
    /// Draws from the target: groups `posterior` and `sample_stats`.
    Sampling,
}

impl Phase {
    pub(crate) const ALL: [Phase; 2] = [Phase::Warmup, Phase::Sampling];

    /// The phase's groups: positions, then statistics.
    pub fn groups(self) -> (&'static str, &'static str) {
        match self {
            Phase::Warmup => ("warmup_posterior", "warmup_sample_stats"),
            Phase::Sampling => ("posterior", "sample_stats"),
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Phase::Warmup => 0,
            Phase::Sampling => 1,
        }
    }
}

/// How a store is created.
///
/// ```
/// use ebm_storage::StoreOptions;
/// let options = StoreOptions::new().chunk_draws(50).thin(2).sync(false);
/// assert_eq!((options.chunk_draws, options.thin, options.sync), (Some(50), 2, false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Draws per chunk along the draw axis (every chunk holds all chains). `None` picks about
    /// 32 MiB of draws and statistics per chunk, between 1 and 1000 draws: the writer holds one chunk
    /// per array in memory.
    pub chunk_draws: Option<usize>,
    /// Keep every `thin`-th step of each phase (1 keeps every step).
    pub thin: usize,
    /// Replace a store already at the path. Anything there that is not a store is never removed.
    pub overwrite: bool,
    /// Flush every checkpoint to disk (`fsync` of the files and directories it wrote) before it
    /// becomes the one readers and resume see, so a checkpoint survives a power loss, not only a
    /// killed process (default on; the cost is in `cargo xtask bench --case storage_checkpoint`).
    /// Recorded in the store: a resumed run flushes as the first one did.
    pub sync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreOptions {
    /// Automatic chunks, every step kept, no overwriting.
    pub fn new() -> Self {
        Self {
            chunk_draws: None,
            thin: 1,
            overwrite: false,
            sync: true,
        }
    }

    /// Sets the draws per chunk.
    pub fn chunk_draws(mut self, draws: usize) -> Self {
        self.chunk_draws = Some(draws);
        self
    }

    /// Keeps every `thin`-th step.
    pub fn thin(mut self, thin: usize) -> Self {
        self.thin = thin;
        self
    }

    /// Allows replacing a store already at the path.
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
        self
    }

    /// Turns the `fsync` of checkpoints on or off.
    pub fn sync(mut self, on: bool) -> Self {
        self.sync = on;
        self
    }
}

/// The chunk being filled for one phase.
#[derive(Debug)]
struct PhaseBuffer {
    /// Steps taken in the phase.
    steps: u64,
    /// Draws appended in the phase, on disk or in the buffer.
    draws: usize,
    /// Draws in the metadata.
    committed: usize,
    /// The buffer holds draws not yet on disk.
    dirty: bool,
    /// Positions, `[chain][draw in chunk][dim]`, little-endian.
    x: Vec<u8>,
    /// One buffer per statistic, `[chain][draw in chunk]`.
    stats: Vec<Vec<u8>>,
}

impl PhaseBuffer {
    fn new(layout: &Layout) -> Self {
        let cells = layout.n_chains * layout.chunk_draws;
        Self {
            steps: 0,
            draws: 0,
            committed: 0,
            dirty: false,
            x: vec![0; cells * layout.dim * dtype_size(&layout.dtype)],
            stats: STATS
                .iter()
                .map(|(_, t)| vec![0; cells * dtype_size(t)])
                .collect(),
        }
    }
}

/// A store of draws on disk: a zarr v2 directory in ArviZ's InferenceData layout that kept draws
/// are appended to chunk by chunk while a run goes on, with the chain state of the last completed
/// chunk, so a run killed midway resumes from it ([`DrawStore::resume`]).
///
/// [`DrawStore::run`] runs a kernel and streams its draws; [`DrawStore::observer`] gives an
/// [`Observer`] to add to a [`Driver`] of your own (draws only: no resume point).
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
/// use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.zarr");
/// let model = Harmonic::<f32>::default();
/// let mala = Mala::new(0.5, 1.0)?;
/// let x0: Batch<2> = Cpu::default().zeros_like(&(4, Const::<2>));
/// let mut state = mala.init(&model, &x0, 1)?;
/// let mut store = DrawStore::<2, f32>::create(&path, 4, StoreOptions::new().chunk_draws(16))?;
/// store.run(&mala, &model, &mut state, Phase::Warmup, 50)?;
/// store.run(&mala, &model, &mut state, Phase::Sampling, 200)?;
/// let stored = StoredRun::<f32>::open(&path)?;
/// assert_eq!(stored.n_draws(Phase::Sampling), 200);
/// println!("{}", stored.summary()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DrawStore<const D: usize, E> {
    root: PathBuf,
    layout: Layout,
    phases: [PhaseBuffer; 2],
    commits: Commits,
    /// The warm-up adaptation as of the last segment run through it, saved with checkpoints.
    warmup: Option<WarmupSnapshot>,
    /// Show a progress bar over each phase run through [`DrawStore::run`].
    progress: bool,
    /// An error met where it could not be returned (an observer's `finish`).
    pending: Option<StoreError>,
    _e: PhantomData<E>,
}

impl<const D: usize, E: StoreElement> DrawStore<D, E> {
    /// Creates an empty store for `n_chains` chains at `path` (a new or empty directory, or a
    /// store when `options.overwrite` is set).
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when a store is there and `overwrite` is off,
    /// [`StoreError::NotAStore`] when something else is there (never removed),
    /// [`StoreError::InvalidOption`] for a zero `thin`, `chunk_draws` or `n_chains`, or chunks of
    /// more than 4 GiB (`n_chains x chunk_draws x D x 8` bytes), and I/O errors.
    pub fn create(path: impl AsRef<Path>, n_chains: usize, options: StoreOptions) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        let invalid = |name, value: usize| StoreError::InvalidOption {
            name,
            value: value.to_string(),
            reason: "must be at least 1",
        };
        if n_chains == 0 {
            return Err(invalid("n_chains", 0));
        }
        if options.thin == 0 {
            return Err(invalid("thin", 0));
        }
        if options.chunk_draws == Some(0) {
            return Err(invalid("chunk_draws", 0));
        }
        let mut replace = false;
        if std::fs::symlink_metadata(&root).is_ok() {
            let empty_dir = root.is_dir()
                && std::fs::read_dir(&root)
                    .map_err(|e| StoreError::io(&root, e))?
                    .next()
                    .is_none();
            if !empty_dir {
                Layout::read(&root)?;
                if !options.overwrite {
                    return Err(StoreError::AlreadyExists { path: root });
                }
                replace = true;
            }
        }
        let per_draw =
            n_chains * (D * E::SIZE + STATS.iter().map(|(_, t)| dtype_size(t)).sum::<usize>());
        let chunk_draws = options
            .chunk_draws
            .unwrap_or_else(|| ((32usize << 20) / per_draw).clamp(1, 1000));
        if crate::zarr::chunk_bytes(n_chains, chunk_draws, D.max(1), 8).is_none() {
            return Err(StoreError::InvalidOption {
                name: "chunk_draws",
                value: chunk_draws.to_string(),
                reason: "n_chains x chunk_draws x dim x 8 bytes must stay within 4 GiB per chunk",
            });
        }
        let layout = Layout {
            n_chains,
            dim: D,
            dtype: E::DTYPE.into(),
            chunk_draws,
            thin: options.thin,
            format: FORMAT,
            sync: options.sync,
        };
        let commits =
            Commits::create(&root, &layout, &crate::merge::coordinates(&layout), replace)?;
        Ok(Self::with_layout(root, layout, commits))
    }

    fn with_layout(root: PathBuf, layout: Layout, commits: Commits) -> Self {
        Self {
            phases: [PhaseBuffer::new(&layout), PhaseBuffer::new(&layout)],
            root,
            layout,
            commits,
            warmup: None,
            progress: true,
            pending: None,
            _e: PhantomData,
        }
    }

    /// Goes on with the run at `path`, or starts it: the store and the chain state of its last
    /// checkpoint ([`DrawStore::resume`]) when there is one; a new store of `n_chains` chains with
    /// `options` and no state (start the chains yourself) when nothing is there: no file, an empty
    /// directory, or a store its program left before its first checkpoint, without a draw.
    /// Anything else is an error and nothing is touched: a store with draws is never replaced,
    /// whether its checkpoint is damaged, missing or of another shape.
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::Harmonic;
    /// use ebm_samplers::prelude::*;
    /// use ebm_storage::{DrawStore, Phase, StoreOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("run.zarr");
    /// let (model, hmc) = (Harmonic::<f64>::default(), HamiltonianMonteCarlo::new(0.3, 5)?);
    /// let dev = Cpu::default();
    /// for _ in 0..2 {
    ///     // The first pass creates the store, the second resumes it (and finds it complete).
    ///     let (mut store, state) = DrawStore::<2, f64>::open_or_create(&path, 4, StoreOptions::new(), &dev)?;
    ///     let mut state = match state {
    ///         Some(state) => state,
    ///         None => hmc.init(&model, &dev.sample_normal_like(&(4, Const::<2>)), 1)?,
    ///     };
    ///     store.run(&hmc, &model, &mut state, Phase::Sampling, 50)?;
    ///     assert_eq!(store.n_draws(Phase::Sampling), 50);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::InvalidOption`] when `options.overwrite` is set (this call never replaces a
    /// store; [`DrawStore::create`] does when asked), [`StoreError::ChainCountMismatch`] when the
    /// store holds another number of chains, [`StoreError::NoResumeState`] for a store with draws
    /// but no checkpoint, and the errors of [`DrawStore::resume`] and [`DrawStore::create`].
    pub fn open_or_create<Dev: Device<E>>(
        path: impl AsRef<Path>,
        n_chains: usize,
        options: StoreOptions,
        dev: &Dev,
    ) -> Result<(Self, Option<ChainState<D, E, Dev>>)> {
        Self::open_or_create_with(path.as_ref(), n_chains, options, |root| {
            Self::resume(root, dev)
        })
    }

    /// [`DrawStore::open_or_create`] for a replica-exchange run: the store and the
    /// [`ReplicaState`] of its last checkpoint ([`DrawStore::resume_replica`]), or a new store and
    /// `None`. `n_chains` is the number of ladders for a store of the cold chains, or ladders times
    /// temperatures for a store of every rung (see [`DrawStore::run_replica`]).
    ///
    /// # Errors
    /// As [`DrawStore::open_or_create`], with [`DrawStore::resume_replica`]'s errors.
    pub fn open_or_create_replica<Dev: Device<E>>(
        path: impl AsRef<Path>,
        n_chains: usize,
        options: StoreOptions,
        dev: &Dev,
    ) -> Result<(Self, Option<ReplicaState<D, E, Dev>>)> {
        Self::open_or_create_with(path.as_ref(), n_chains, options, |root| {
            Self::resume_replica(root, dev)
        })
    }

    fn open_or_create_with<S>(
        root: &Path,
        n_chains: usize,
        options: StoreOptions,
        resume: impl FnOnce(&Path) -> Result<(Self, S)>,
    ) -> Result<(Self, Option<S>)> {
        if options.overwrite {
            return Err(StoreError::InvalidOption {
                name: "overwrite",
                value: "true".into(),
                reason: "open_or_create never replaces a store; DrawStore::create does when asked",
            });
        }
        let empty = match std::fs::read_dir(root) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            // Not a directory, or unreadable: resume reports it.
            Err(_) => false,
        };
        if empty {
            return Ok((Self::create(root, n_chains, options)?, None));
        }
        match resume(root) {
            Ok((store, state)) => {
                if store.n_chains() != n_chains {
                    return Err(StoreError::ChainCountMismatch {
                        path: root.to_path_buf(),
                        expected: n_chains,
                        found: store.n_chains(),
                    });
                }
                Ok((store, Some(state)))
            }
            Err(StoreError::NoResumeState { .. }) if holds_no_draws(root)? => {
                // Created by a program that stopped before its first checkpoint: nothing to lose.
                let store = Self::create(root, n_chains, options.overwrite(true))?;
                Ok((store, None))
            }
            Err(e) => Err(e),
        }
    }

    /// Opens the store at `path` and the chain state of its last checkpoint, to go on with the run
    /// that wrote it. Draws written after that checkpoint are dropped from the store's metadata and
    /// written again as the run goes on, identically.
    ///
    /// Calling [`DrawStore::run`] with the same phases and step counts as the interrupted program
    /// then completes the run with exactly the draws an uninterrupted run would have stored.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`], [`StoreError::DimensionMismatch`] and
    /// [`StoreError::ElementTypeMismatch`] when the store does not fit `D` and `E`,
    /// [`StoreError::NoResumeState`] when it holds no checkpoint, [`StoreError::BadMetadata`] for
    /// damaged metadata or a damaged checkpoint (and for a store written by an earlier version,
    /// which is read but not resumed), [`StoreError::TruncatedChunk`] and
    /// [`StoreError::ChecksumMismatch`] for a damaged partial chunk, and I/O errors.
    pub fn resume<Dev: Device<E>>(
        path: impl AsRef<Path>,
        dev: &Dev,
    ) -> Result<(Self, ChainState<D, E, Dev>)> {
        let (store, checkpoint) = Self::resume_checkpoint(path.as_ref())?;
        let state_path = store.root.join(STATE_FILE);
        if checkpoint.replica.is_some() {
            return Err(StoreError::bad(
                &state_path,
                "holds a replica-exchange run: resume it with DrawStore::resume_replica",
            ));
        }
        if checkpoint.snapshot.n_chains() != store.layout.n_chains {
            return Err(StoreError::bad(
                &state_path,
                "the chain state does not match the store",
            ));
        }
        let state = ChainState::from_snapshot(&checkpoint.snapshot, dev)?;
        Ok((store, state))
    }

    /// [`DrawStore::resume`] for a store written by [`DrawStore::run_replica`]: the store and the
    /// whole [`ReplicaState`] of its last checkpoint (every rung and the swap bookkeeping), to go
    /// on to exactly the draws of an uninterrupted run.
    ///
    /// # Errors
    /// As [`DrawStore::resume`], and [`StoreError::BadMetadata`] naming the checkpoint when it
    /// holds no replica-exchange state.
    pub fn resume_replica<Dev: Device<E>>(
        path: impl AsRef<Path>,
        dev: &Dev,
    ) -> Result<(Self, ReplicaState<D, E, Dev>)> {
        let (store, checkpoint) = Self::resume_checkpoint(path.as_ref())?;
        let state_path = store.root.join(STATE_FILE);
        let Some(mut replica) = checkpoint.replica else {
            return Err(StoreError::bad(
                &state_path,
                "holds no replica-exchange state (it was not written by DrawStore::run_replica)",
            ));
        };
        let n = store.layout.n_chains as u64;
        let all = replica
            .n_ladders
            .checked_mul(replica.temperatures.len() as u64);
        if replica.n_ladders != n && all != Some(n) {
            return Err(StoreError::bad(
                &state_path,
                "the replica-exchange state does not match the store's chains",
            ));
        }
        replica.chains = checkpoint.snapshot;
        let state = ReplicaState::from_snapshot(&replica, dev)?;
        Ok((store, state))
    }

    /// Opens the store for writing from its last checkpoint (read, checked against the metadata,
    /// the partial chunks loaded).
    fn resume_checkpoint(root: &Path) -> Result<(Self, state_file::Checkpoint<E>)> {
        let root = root.to_path_buf();
        let layout = check_layout::<E>(&root, Some(D))?;
        let commits = Commits::open(&root, &layout)?;
        let committed = read_hierarchy(&root, &layout)?;
        let state_path = root.join(STATE_FILE);
        if !state_path.is_file() {
            return Err(StoreError::NoResumeState { path: root });
        }
        let mut checkpoint = state_file::read::<E>(&state_path)?;
        let progress = checkpoint.progress;
        if checkpoint.snapshot.dim != D {
            return Err(StoreError::bad(
                &state_path,
                "the chain state does not match the store",
            ));
        }
        if (0..2).any(|p| progress.draws[p] > committed[p]) {
            return Err(StoreError::bad(
                &state_path,
                format!(
                    "the checkpoint counts {:?} draws, the store's metadata {committed:?}",
                    progress.draws
                ),
            ));
        }
        let mut store = Self::with_layout(root, layout, commits);
        store.warmup = checkpoint.warmup.take();
        let cd = store.layout.chunk_draws;
        for phase in Phase::ALL {
            let p = phase.index();
            let (post, stats) = phase.groups();
            let draws = progress.draws[p];
            let buf = &mut store.phases[p];
            buf.steps = progress.steps[p];
            buf.draws = draws;
            buf.committed = committed[p];
            if draws % cd != 0 {
                let ci = draws / cd;
                let mut bytes = Vec::new();
                let path = store.root.join(post).join("x").join(chunk_key(ci, 3));
                read_chunk(&path, buf.x.len(), true, &mut bytes)?;
                buf.x.copy_from_slice(&bytes);
                for (s, (name, _)) in STATS.iter().enumerate() {
                    let path = store.root.join(stats).join(name).join(chunk_key(ci, 2));
                    read_chunk(&path, buf.stats[s].len(), true, &mut bytes)?;
                    buf.stats[s].copy_from_slice(&bytes);
                }
            }
        }
        store.commit_metadata()?;
        Ok((store, checkpoint))
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.layout.n_chains
    }

    /// Draws per chunk.
    pub fn chunk_draws(&self) -> usize {
        self.layout.chunk_draws
    }

    /// The thinning interval.
    pub fn thin(&self) -> usize {
        self.layout.thin
    }

    /// The draws stored so far in `phase` (written or buffered).
    pub fn n_draws(&self, phase: Phase) -> usize {
        self.phases[phase.index()].draws
    }

    /// The steps taken so far in `phase`.
    pub fn n_steps(&self, phase: Phase) -> u64 {
        self.phases[phase.index()].steps
    }

    /// An [`Observer`] that appends the kept draws of `phase` to the store, writing each chunk as
    /// it fills and the last, partial one when the run finishes. It writes no resume point: use
    /// [`DrawStore::run`] for that, or [`DrawStore::checkpoint`] after the run.
    pub fn observer(&mut self, phase: Phase) -> StoreObserver<'_, D, E> {
        StoreObserver {
            store: self,
            phase,
            commit: true,
        }
    }

    /// Brings `phase` to `n_steps` steps in all: runs `kernel` on `state` for the steps the phase
    /// still lacks (none after a completed phase, the rest after [`DrawStore::resume`]), streaming
    /// every `thin`-th state to the store, and writes a checkpoint (chain state included) after
    /// every completed chunk and at the end.
    ///
    /// # Errors
    /// [`StoreError::ChainCountMismatch`] when `state` has another number of chains, the
    /// sampler's errors, and I/O errors.
    pub fn run<K, Dev, M>(
        &mut self,
        kernel: &K,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
        phase: Phase,
        n_steps: u64,
    ) -> Result<()>
    where
        K: Kernel,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.run_phase(&mut Fixed(kernel), model, state, phase, n_steps)
    }

    /// As [`DrawStore::run`], for a kernel that `adaptation` tunes as it goes (a warm-up, as
    /// [`Warmup::adaptation`](ebm_samplers::Warmup::adaptation) makes it): every checkpoint also
    /// holds the adaptation's [`WarmupSnapshot`], so a run killed during its warm-up resumes
    /// exactly ([`DrawStore::warmup_snapshot`] and
    /// [`Warmup::resume_adaptation`](ebm_samplers::Warmup::resume_adaptation));
    /// [`DrawStore::run_warmup`] does all of it in one call.
    ///
    /// # Errors
    /// As [`DrawStore::run`].
    pub fn run_adapting<K, Dev, M>(
        &mut self,
        adaptation: &mut WarmupAdaptation<K>,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
        phase: Phase,
        n_steps: u64,
    ) -> Result<()>
    where
        K: Adaptable,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.run_phase(adaptation, model, state, phase, n_steps)
    }

    /// Warm-up then sampling, as [`Warmup::run`] does them, streamed to this store: warm-up draws
    /// to `warmup_posterior`, the rest to `posterior`, a checkpoint after every chunk (the chain
    /// state and the warm-up adaptation), a progress bar over each phase when
    /// [`Warmup::progress`] is set. `resumed` is the state [`DrawStore::open_or_create`] gave:
    /// `None` starts the chains at `x0` (with [`Warmup::seed`]); a state goes on from the
    /// checkpoint, warm-up included, to exactly the draws of an uninterrupted run. Returns the
    /// tuned kernel and the chains after the last draw, whose state samples on as the run did
    /// (step-size jitter included). The store's chunking and thinning apply; [`Warmup::thin`] and
    /// [`Warmup::keep_warmup`] are for in-memory runs.
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::Harmonic;
    /// use ebm_samplers::prelude::*;
    /// use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("nuts.zarr");
    /// let dev = Cpu::default();
    /// let model = Harmonic::<f64>::default();
    /// let x0: Batch<2, f64> = dev.sample_normal_like(&(4, Const::<2>));
    /// let warmup = Warmup { n_warmup: 300, n_draws: 200, ..Warmup::default() };
    /// // Run it, or finish it if an earlier run of this program was killed.
    /// let (mut store, resumed) = DrawStore::<2, f64>::open_or_create(&path, 4, StoreOptions::new(), &dev)?;
    /// let (nuts, state) = store.run_warmup(&warmup, &Nuts::default(), &model, resumed, &x0)?;
    /// let stored = StoredRun::<f64>::open(&path)?;
    /// assert_eq!((stored.n_draws(Phase::Warmup), stored.n_draws(Phase::Sampling)), (300, 200));
    /// assert!(stored.summary()?.max_r_hat() < 1.1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::BadMetadata`] naming the checkpoint when `resumed` is given but the checkpoint
    /// holds no warm-up adaptation (it was not written by this method or
    /// [`DrawStore::run_adapting`]), the errors of [`Warmup::adaptation`],
    /// [`Warmup::resume_adaptation`] and [`DrawStore::run`].
    pub fn run_warmup<K, Dev, M>(
        &mut self,
        warmup: &Warmup,
        kernel: &K,
        model: &M,
        resumed: Option<ChainState<D, E, Dev>>,
        x0: &Batch<D, E, Dev>,
    ) -> Result<(K, ChainState<D, E, Dev>)>
    where
        K: Adaptable,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let (mut state, mut adaptation) = match resumed {
            Some(state) => {
                let snapshot = self.warmup.as_ref().ok_or_else(|| {
                    StoreError::bad(
                        self.root.join(STATE_FILE),
                        "the checkpoint holds no warm-up adaptation to go on from",
                    )
                })?;
                let adaptation =
                    warmup.resume_adaptation::<K, D>(kernel, state.n_chains(), snapshot)?;
                (state, adaptation)
            }
            None => {
                let mut state = kernel.warmup_variant().init_shard(
                    model,
                    x0,
                    warmup.seed,
                    warmup.first_chain,
                )?;
                let adaptation = warmup.adaptation(kernel, model, &mut state)?;
                (state, adaptation)
            }
        };
        let progress = std::mem::replace(&mut self.progress, warmup.progress);
        let outcome = self
            .run_adapting(
                &mut adaptation,
                model,
                &mut state,
                Phase::Warmup,
                warmup.n_warmup as u64,
            )
            .and_then(|()| {
                let tuned = adaptation.finish(&mut state)?;
                state.set_step_size_jitter(warmup.jitter)?;
                self.run(
                    &tuned.kernel,
                    model,
                    &mut state,
                    Phase::Sampling,
                    warmup.n_draws as u64,
                )?;
                Ok(tuned.kernel)
            });
        self.progress = progress;
        Ok((outcome?, state))
    }

    /// Shows a progress bar (on terminals) over each phase [`DrawStore::run`] runs (on by
    /// default).
    pub fn set_progress(&mut self, on: bool) {
        self.progress = on;
    }

    /// Brings `phase` to `n_scans` scans of replica exchange in all, streaming the cold chains'
    /// kept draws (one chain per ladder) and writing a checkpoint of the whole [`ReplicaState`]
    /// (every rung, the swap bookkeeping) after every completed chunk and at the end;
    /// [`DrawStore::open_or_create_replica`] resumes it. The swap statistics of `state`
    /// ([`ReplicaState::swap_stats`]) cover every scan, over all chunks and resumes.
    ///
    /// A store of as many chains as `state` has ladders keeps the cold chains; one of ladders
    /// times temperatures keeps every rung, chain `k * n_ladders + l` being temperature `k` of
    /// ladder `l` (the order of [`ReplicaState::chains`]).
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_models::GaussianMixture;
    /// use ebm_samplers::prelude::*;
    /// use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("pt.zarr");
    /// let dev = Cpu::default();
    /// let model = GaussianMixture::<2, f64>::four_modes(&dev);
    /// let pt = ReplicaExchange::geometric(Mala::new(0.1, 1.0)?, 10.0, 4)?;
    /// let (mut store, resumed) =
    ///     DrawStore::<2, f64>::open_or_create_replica(&path, 8, StoreOptions::new(), &dev)?;
    /// let mut state = match resumed {
    ///     Some(state) => state,
    ///     None => pt.init(&model, &dev.zeros_like(&(8, Const::<2>)), 5)?,
    /// };
    /// store.run_replica(&pt, &model, &mut state, Phase::Sampling, 200)?;
    /// assert_eq!(StoredRun::<f64>::open(&path)?.n_draws(Phase::Sampling), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::ChainCountMismatch`] when the store has neither as many chains as `state`
    /// has ladders nor as many as it has replicas, the sampler's errors, and I/O errors.
    pub fn run_replica<K, Dev, M>(
        &mut self,
        exchange: &ReplicaExchange<K>,
        model: &M,
        state: &mut ReplicaState<D, E, Dev>,
        phase: Phase,
        n_scans: u64,
    ) -> Result<()>
    where
        K: Kernel,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let every_rung = self.layout.n_chains == state.chains().n_chains();
        if state.n_ladders() != self.layout.n_chains && !every_rung {
            return Err(StoreError::ChainCountMismatch {
                path: self.root.clone(),
                expected: state.n_ladders(),
                found: self.layout.n_chains,
            });
        }
        let mut segments = ReplicaSegments {
            exchange,
            model,
            state,
            every_rung,
        };
        self.run_segments(&mut segments, phase, n_scans)
    }

    /// The steps of the next segment of a phase toward `n_steps`: up to the end of the chunk
    /// being filled; `None` once the phase has them all.
    fn next_segment(&self, p: usize, n_steps: u64) -> Option<u64> {
        let (cd, thin) = (self.layout.chunk_draws as u64, self.layout.thin as u64);
        let buf = &self.phases[p];
        (buf.steps < n_steps).then(|| {
            let to_fill = (cd - buf.draws as u64 % cd) * thin - buf.steps % thin;
            to_fill.min(n_steps - buf.steps)
        })
    }

    /// The progress bar of a phase run in segments, when the store shows one.
    fn phase_bar(
        &self,
        n_chains: usize,
        steps_before: u64,
        p: usize,
        n_steps: u64,
    ) -> Option<SpanningBar> {
        self.progress.then(|| {
            let mut bar = ebm_samplers::Progress::new();
            Observer::<D, E>::start(
                &mut bar,
                &ebm_samplers::RunStart {
                    n_chains,
                    n_steps: n_steps.saturating_sub(self.phases[p].steps) as usize,
                    steps_before,
                    metropolis_adjusted: true,
                },
            );
            SpanningBar { bar, offset: 0 }
        })
    }

    /// The warm-up adaptation saved with the last checkpoint (by [`DrawStore::run_adapting`]),
    /// after [`DrawStore::resume`]: rebuild it with
    /// [`Warmup::resume_adaptation`](ebm_samplers::Warmup::resume_adaptation).
    pub fn warmup_snapshot(&self) -> Option<&WarmupSnapshot> {
        self.warmup.as_ref()
    }

    fn run_phase<K, Dev, M, S>(
        &mut self,
        stepper: &mut S,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
        phase: Phase,
        n_steps: u64,
    ) -> Result<()>
    where
        K: Kernel,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
        S: Segments<K, D, E, Dev, M> + ?Sized,
    {
        if state.n_chains() != self.layout.n_chains {
            return Err(StoreError::ChainCountMismatch {
                path: self.root.clone(),
                expected: state.n_chains(),
                found: self.layout.n_chains,
            });
        }
        let mut segments = PlainSegments {
            stepper,
            model,
            state,
            _kernel: std::marker::PhantomData,
        };
        self.run_segments(&mut segments, phase, n_steps)
    }

    /// Brings `phase` to `n_steps` steps, a segment at a time up to the end of each chunk, with a
    /// checkpoint after every completed chunk and at the end; one progress bar over them all.
    fn run_segments(
        &mut self,
        segments: &mut dyn PhaseSegments<D, E>,
        phase: Phase,
        n_steps: u64,
    ) -> Result<()> {
        let p = phase.index();
        let cd = self.layout.chunk_draws as u64;
        let (n_chains, steps_before) = segments.progress_start();
        let mut bar = self.phase_bar(n_chains, steps_before, p, n_steps);
        while let Some(segment) = self.next_segment(p, n_steps) {
            let mut observer = StoreObserver {
                store: self,
                phase,
                commit: false,
            };
            let bar_observer = bar.as_mut().map(|b| b as &mut dyn Observer<D, E>);
            let outcome = segments.run(&mut observer, bar_observer, segment as usize);
            // The store's own error, when it stopped the run, rather than the driver's report.
            self.take_pending()?;
            outcome?;
            if let Some(bar) = bar.as_mut() {
                bar.offset += segment as usize;
            }
            segments.after_segment(self);
            if self.phases[p].draws as u64 % cd == 0 || self.phases[p].steps == n_steps {
                segments.checkpoint(self)?;
            }
        }
        if let Some(mut bar) = bar {
            Observer::<D, E>::finish(&mut bar.bar, bar.offset);
        }
        Ok(())
    }

    /// Writes what is buffered (a partial chunk), the chain state `state` as the point to resume
    /// from, and the metadata. `state` must be the state after the last stored step.
    ///
    /// # Errors
    /// [`StoreError::ChainCountMismatch`], and I/O errors.
    pub fn checkpoint<Dev: Device<E>>(&mut self, state: &ChainState<D, E, Dev>) -> Result<()> {
        if state.n_chains() != self.layout.n_chains {
            return Err(StoreError::ChainCountMismatch {
                path: self.root.clone(),
                expected: state.n_chains(),
                found: self.layout.n_chains,
            });
        }
        self.write_checkpoint(&state.snapshot(), None)
    }

    /// Writes what is buffered, `snapshot` (and the replica-exchange state, when given) as the
    /// point to resume from, and the metadata, in one commit.
    fn write_checkpoint(
        &mut self,
        snapshot: &ebm_samplers::StateSnapshot<E>,
        replica: Option<&ebm_samplers::ReplicaSnapshot<E>>,
    ) -> Result<()> {
        self.take_pending()?;
        for phase in Phase::ALL {
            if self.phases[phase.index()].dirty {
                self.write_chunk(phase)?;
            }
        }
        let progress = Progress {
            steps: [self.phases[0].steps, self.phases[1].steps],
            draws: [self.phases[0].draws, self.phases[1].draws],
        };
        let bytes = state_file::encode(snapshot, progress, self.warmup.as_ref(), replica);
        let draws = progress.draws;
        self.commits.commit(&self.layout, draws, Some(&bytes))?;
        for (buf, d) in self.phases.iter_mut().zip(draws) {
            buf.committed = d;
        }
        Ok(())
    }

    /// Writes the buffered draws of every phase and the metadata, without a resume point.
    ///
    /// # Errors
    /// An error met earlier by an observer's `finish`, and I/O errors.
    pub fn flush(&mut self) -> Result<()> {
        self.take_pending()?;
        for phase in Phase::ALL {
            if self.phases[phase.index()].dirty {
                self.write_chunk(phase)?;
            }
        }
        self.commit_metadata()
    }

    fn take_pending(&mut self) -> Result<()> {
        match self.pending.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Appends the state after a kept step to the phase's buffer, writing the chunk when full.
    fn append(&mut self, phase: Phase, step: &StepView<'_, D, E>, commit: bool) -> Result<()> {
        let (n, cd) = (self.layout.n_chains, self.layout.chunk_draws);
        let buf = &mut self.phases[phase.index()];
        let k = buf.draws % cd;
        if k == 0 {
            buf.x.fill(0);
            for s in &mut buf.stats {
                s.fill(0);
            }
        }
        let es = E::SIZE;
        for c in 0..n {
            let cell = c * cd + k;
            for j in 0..D {
                let at = (cell * D + j) * es;
                step.positions[c * D + j].put(&mut buf.x[at..at + es]);
            }
            let info = &step.info[c];
            let energy = step.energies[c].as_f64();
            let values = [
                -energy,
                info.accept_prob(),
                0.0,
                energy,
                info.energy_error,
                step.step_sizes[c],
            ];
            for (s, v) in values.iter().enumerate() {
                if s == 2 {
                    buf.stats[2][cell] = u8::from(info.divergence.is_some());
                } else {
                    buf.stats[s][cell * 8..cell * 8 + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
            buf.stats[6][cell * 8..cell * 8 + 8]
                .copy_from_slice(&i64::from(info.grad_evals).to_le_bytes());
            buf.stats[7][cell * 8..cell * 8 + 8]
                .copy_from_slice(&i64::from(info.tree_depth).to_le_bytes());
        }
        buf.draws += 1;
        buf.dirty = true;
        if buf.draws % cd == 0 {
            self.write_chunk(phase)?;
            if commit {
                self.commit_metadata()?;
            }
        }
        Ok(())
    }

    /// Writes the chunk the phase's buffer holds (full or partial) with its draw coordinates.
    fn write_chunk(&mut self, phase: Phase) -> Result<()> {
        let cd = self.layout.chunk_draws;
        let buf = &mut self.phases[phase.index()];
        let ci = (buf.draws - 1) / cd;
        let (post, stats) = phase.groups();
        let commits = &mut self.commits;
        let mut put =
            |key: String, data: &[u8]| commits.write_chunk(&key, &[&checksum_of(data), data]);
        put(format!("{post}/x/{}", chunk_key(ci, 3)), &buf.x)?;
        for (s, (name, _)) in STATS.iter().enumerate() {
            put(
                format!("{stats}/{name}/{}", chunk_key(ci, 2)),
                &buf.stats[s],
            )?;
        }
        let draws: Vec<u8> = (ci * cd..(ci + 1) * cd)
            .flat_map(|d| (d as i64).to_le_bytes())
            .collect();
        for group in [post, stats] {
            put(format!("{group}/draw/{}", chunk_key(ci, 1)), &draws)?;
        }
        buf.dirty = false;
        Ok(())
    }

    /// Commits the draws written so far (the chain state of the last checkpoint kept), when they
    /// differ from the committed ones.
    fn commit_metadata(&mut self) -> Result<()> {
        let draws = [self.phases[0].draws, self.phases[1].draws];
        if self.phases.iter().zip(draws).all(|(b, d)| b.committed == d) {
            return Ok(());
        }
        self.commits.commit(&self.layout, draws, None)?;
        for (buf, d) in self.phases.iter_mut().zip(draws) {
            buf.committed = d;
        }
        Ok(())
    }
}

/// Whether the store at `root` holds no draw: none committed, and for a store of format 1 (whose
/// metadata could lag its chunks) no chunk file of positions either.
fn holds_no_draws(root: &Path) -> Result<bool> {
    let layout = Layout::read(root)?;
    if read_hierarchy(root, &layout)? != [0, 0] {
        return Ok(false);
    }
    if layout.checksummed() {
        // Chunks written after the last commit are not part of the store.
        return Ok(true);
    }
    for phase in Phase::ALL {
        let dir = root.join(phase.groups().0).join("x");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            if !entry.file_name().to_string_lossy().starts_with('.') {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Checks that `root` is a store of element type `E` (and dimension `dim` when given).
pub(crate) fn check_layout<E: StoreElement>(root: &Path, dim: Option<usize>) -> Result<Layout> {
    let layout = Layout::read(root)?;
    if layout.dtype != E::DTYPE {
        return Err(StoreError::ElementTypeMismatch {
            path: root.to_path_buf(),
            expected: E::DTYPE.into(),
            found: layout.dtype,
        });
    }
    if let Some(d) = dim {
        if layout.dim != d {
            return Err(StoreError::DimensionMismatch {
                path: root.to_path_buf(),
                expected: d,
                found: layout.dim,
            });
        }
    }
    Ok(layout)
}

/// The report of the store's observer inside [`DrawStore::run`], which returns the store's own
/// error instead.
#[derive(Debug, thiserror::Error)]
#[error("the store failed to write (DrawStore::run returns its error)")]
struct StoreStopped;

/// How [`DrawStore::run_phase`] makes the driver of each segment: a fixed kernel, or a warm-up
/// adaptation whose snapshot goes into the checkpoints.
trait Segments<K, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    fn driver<'a>(
        &'a mut self,
        model: &'a M,
        state: &'a mut ChainState<D, E, Dev>,
    ) -> Driver<'a, K, D, E, Dev, M>
    where
        K: Kernel,
        M: Energy<D, E, Dev>;

    fn snapshot(&self) -> Option<WarmupSnapshot>;
}

struct Fixed<'k, K>(&'k K);

impl<K: Kernel, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> Segments<K, D, E, Dev, M>
    for Fixed<'_, K>
{
    fn driver<'a>(
        &'a mut self,
        model: &'a M,
        state: &'a mut ChainState<D, E, Dev>,
    ) -> Driver<'a, K, D, E, Dev, M>
    where
        M: Energy<D, E, Dev>,
    {
        Driver::new(self.0, model, state)
    }

    fn snapshot(&self) -> Option<WarmupSnapshot> {
        None
    }
}

impl<K: Adaptable, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> Segments<K, D, E, Dev, M>
    for WarmupAdaptation<K>
{
    fn driver<'a>(
        &'a mut self,
        model: &'a M,
        state: &'a mut ChainState<D, E, Dev>,
    ) -> Driver<'a, K, D, E, Dev, M>
    where
        M: Energy<D, E, Dev>,
    {
        Driver::adapting(self, model, state)
    }

    fn snapshot(&self) -> Option<WarmupSnapshot> {
        Some(WarmupAdaptation::snapshot(self))
    }
}

/// One phase of a run as [`DrawStore::run_segments`] drives it, a segment at a time.
trait PhaseSegments<const D: usize, E: StoreElement> {
    /// The chains the progress bar counts, and the steps the state had taken.
    fn progress_start(&self) -> (usize, u64);

    /// Runs `steps` steps with the store's observer (and the bar's) watching.
    fn run(
        &mut self,
        store: &mut dyn Observer<D, E>,
        bar: Option<&mut dyn Observer<D, E>>,
        steps: usize,
    ) -> ebm_core::Result<()>;

    /// Called after each segment, before its checkpoint.
    fn after_segment(&mut self, store: &mut DrawStore<D, E>) {
        let _ = store;
    }

    /// Writes the checkpoint that resumes the phase from here.
    fn checkpoint(&mut self, store: &mut DrawStore<D, E>) -> Result<()>;
}

/// A kernel, fixed or adapting, on one [`ChainState`].
struct PlainSegments<'a, K, S: ?Sized, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    stepper: &'a mut S,
    model: &'a M,
    state: &'a mut ChainState<D, E, Dev>,
    _kernel: std::marker::PhantomData<K>,
}

impl<K, S, const D: usize, E, Dev, M> PhaseSegments<D, E> for PlainSegments<'_, K, S, D, E, Dev, M>
where
    K: Kernel,
    S: Segments<K, D, E, Dev, M> + ?Sized,
    E: StoreElement,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    fn progress_start(&self) -> (usize, u64) {
        (self.state.n_chains(), self.state.steps())
    }

    fn run(
        &mut self,
        store: &mut dyn Observer<D, E>,
        bar: Option<&mut dyn Observer<D, E>>,
        steps: usize,
    ) -> ebm_core::Result<()> {
        let mut driver = self.stepper.driver(self.model, self.state).observe(store);
        if let Some(bar) = bar {
            driver = driver.observe(bar);
        }
        driver
            .run(&RunOptions::new(steps).progress(false))
            .map(|_| ())
    }

    fn after_segment(&mut self, store: &mut DrawStore<D, E>) {
        if let Some(w) = self.stepper.snapshot() {
            store.warmup = Some(w);
        }
    }

    fn checkpoint(&mut self, store: &mut DrawStore<D, E>) -> Result<()> {
        store.checkpoint(self.state)
    }
}

/// Replica exchange on a [`ReplicaState`], storing the cold chains or every rung.
struct ReplicaSegments<'a, K, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    exchange: &'a ReplicaExchange<K>,
    model: &'a M,
    state: &'a mut ReplicaState<D, E, Dev>,
    every_rung: bool,
}

impl<K, const D: usize, E, Dev, M> PhaseSegments<D, E> for ReplicaSegments<'_, K, D, E, Dev, M>
where
    K: Kernel,
    E: StoreElement,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    fn progress_start(&self) -> (usize, u64) {
        (self.state.n_ladders(), self.state.chains().steps())
    }

    fn run(
        &mut self,
        store: &mut dyn Observer<D, E>,
        bar: Option<&mut dyn Observer<D, E>>,
        steps: usize,
    ) -> ebm_core::Result<()> {
        let driver = self.exchange.driver(self.model, self.state);
        let mut driver = if self.every_rung {
            driver.observe_all(store)
        } else {
            driver.observe(store)
        };
        if let Some(bar) = bar {
            driver = driver.observe(bar);
        }
        driver
            .run(&RunOptions::new(steps).progress(false))
            .map(|_| ())
    }

    fn checkpoint(&mut self, store: &mut DrawStore<D, E>) -> Result<()> {
        let snapshot = self.state.snapshot();
        store.write_checkpoint(&snapshot.chains, Some(&snapshot))
    }
}

/// A progress bar over several driver runs: each run's steps continue the count.
struct SpanningBar {
    bar: ebm_samplers::Progress,
    offset: usize,
}

impl<const D: usize, E: Real> Observer<D, E> for SpanningBar {
    fn observe(&mut self, step: &StepView<'_, D, E>) -> ebm_core::Result<Flow> {
        self.bar.observe(&StepView {
            step: self.offset + step.step,
            ..*step
        })
    }
}

/// The [`Observer`] of [`DrawStore::observer`]: appends kept draws of one phase to the store.
#[derive(Debug)]
pub struct StoreObserver<'a, const D: usize, E> {
    store: &'a mut DrawStore<D, E>,
    phase: Phase,
    /// Update the metadata after every chunk (off while [`DrawStore::run`] checkpoints).
    commit: bool,
}

impl<const D: usize, E: StoreElement> Observer<D, E> for StoreObserver<'_, D, E> {
    fn start(&mut self, run: &ebm_samplers::RunStart) {
        if run.n_chains != self.store.layout.n_chains && self.store.pending.is_none() {
            self.store.pending = Some(StoreError::ChainCountMismatch {
                path: self.store.root.clone(),
                expected: run.n_chains,
                found: self.store.layout.n_chains,
            });
        }
    }

    fn observe(&mut self, step: &StepView<'_, D, E>) -> ebm_core::Result<Flow> {
        // A run of another number of chains fails at its first step, not at the next flush.
        if let Some(StoreError::ChainCountMismatch {
            path,
            expected,
            found,
        }) = &self.store.pending
        {
            return Err(ebm_core::Error::LengthMismatch {
                name: "chains".into(),
                expected: *found,
                actual: *expected,
                reason: format!(
                    "the store at {} holds {found} chains; observe runs of that many",
                    path.display()
                ),
            });
        }
        if self.store.pending.is_some() {
            // An error of `finish` in an earlier run: this run stops with it (DrawStore::run
            // returns it itself).
            return Err(match (self.commit, self.store.pending.take()) {
                (true, Some(e)) => ebm_core::Error::observer(e),
                (_, e) => {
                    self.store.pending = e;
                    ebm_core::Error::observer(StoreStopped)
                }
            });
        }
        let p = self.phase.index();
        self.store.phases[p].steps += 1;
        if self.store.phases[p].steps % self.store.layout.thin as u64 == 0 {
            if let Err(e) = self.store.append(self.phase, step, self.commit) {
                if self.commit {
                    // The caller's driver: its run ends here with the store's error as source.
                    return Err(ebm_core::Error::observer(e));
                }
                // DrawStore::run returns the store's error itself.
                self.store.pending = Some(e);
                return Err(ebm_core::Error::observer(StoreStopped));
            }
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _steps_taken: usize) {
        if self.commit && self.store.pending.is_none() {
            if let Err(e) = self.store.flush() {
                self.store.pending = Some(e);
            }
        }
    }
}
