//! What a run does besides moving the chains: how many steps, which seed, what to record.

use ebm_core::{Error, Result};

/// Options of one sampling run.
///
/// Fields are public; the builder methods are shortcuts.
///
/// ```
/// use ebm_samplers::RunOptions;
/// let opts = RunOptions::new(200).seed(7).trace(10).diagnostics(true).progress(false);
/// assert_eq!((opts.n_steps, opts.seed, opts.thin, opts.diagnostics), (200, 7, Some(10), true));
/// assert!(!opts.progress);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Number of sampler steps (transitions). `0` returns the initial particles unchanged.
    pub n_steps: usize,
    /// Seed of the random streams of a run that starts fresh chains ([`Sampler::run`](crate::Sampler::run)).
    /// The same seed gives bit-identical results on the same build, whatever the number of threads.
    /// A continued run ([`Sampler::run_from`](crate::Sampler::run_from)) draws from the state's own
    /// streams and ignores it.
    pub seed: u64,
    /// Keep a trace: the state after every `thin`-th step (`Some(1)` keeps every step). `None`
    /// keeps none.
    pub thin: Option<usize>,
    /// Record per-step diagnostics.
    pub diagnostics: bool,
    /// Show a progress bar ([`Progress`](crate::Progress)) when the run lasts more than about a
    /// second and standard error is a terminal. On by default.
    pub progress: bool,
}

impl Default for RunOptions {
    /// 100 steps, seed 0, no trace, no diagnostics, progress bar on terminals.
    fn default() -> Self {
        Self::new(100)
    }
}

impl RunOptions {
    /// `n_steps` steps with seed 0, no trace and no diagnostics, progress bar on terminals.
    pub fn new(n_steps: usize) -> Self {
        Self {
            n_steps,
            seed: 0,
            thin: None,
            diagnostics: false,
            progress: true,
        }
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Keeps a trace: the state after every `thin`-th step.
    pub fn trace(mut self, thin: usize) -> Self {
        self.thin = Some(thin);
        self
    }

    /// Turns per-step diagnostics on or off.
    pub fn diagnostics(mut self, on: bool) -> Self {
        self.diagnostics = on;
        self
    }

    /// Turns the progress bar on (the default: shown on terminals for runs longer than about a
    /// second) or off.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `thin = Some(0)`.
    pub fn validate(&self) -> Result<()> {
        if self.thin == Some(0) {
            return Err(Error::invalid(
                "thin",
                0,
                "the trace thinning interval must be at least 1",
            ));
        }
        Ok(())
    }

    /// How many draws the trace keeps: `n_steps / thin` (rounded down), or 0 without one.
    pub fn n_kept(&self) -> usize {
        match self.thin {
            Some(t) if t > 0 => self.n_steps / t,
            _ => 0,
        }
    }
}
