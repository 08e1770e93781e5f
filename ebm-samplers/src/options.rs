//! What a run does besides moving the chains: how many steps, which seed, what to record.

use ebm_core::{Error, Result};

/// Options of one sampling run.
///
/// Fields are public; the builder methods are shortcuts.
///
/// ```
/// use ebm_samplers::RunOptions;
/// let opts = RunOptions::new(200).seed(7).trajectory(10).diagnostics(true);
/// assert_eq!((opts.n_steps, opts.seed, opts.thin, opts.diagnostics), (200, 7, Some(10), true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Number of sampler steps. `0` returns the initial particles unchanged.
    pub n_steps: usize,
    /// Seed of the run's random streams. The same seed gives bit-identical results on the same build,
    /// whatever the number of threads.
    pub seed: u64,
    /// Keep a trajectory: the state after every `thin`-th step (`Some(1)` keeps every step). `None`
    /// keeps none.
    pub thin: Option<usize>,
    /// Record per-step diagnostics.
    pub diagnostics: bool,
}

impl Default for RunOptions {
    /// 100 steps, seed 0, no trajectory, no diagnostics.
    fn default() -> Self {
        Self::new(100)
    }
}

impl RunOptions {
    /// `n_steps` steps with seed 0, no trajectory and no diagnostics.
    pub fn new(n_steps: usize) -> Self {
        Self {
            n_steps,
            seed: 0,
            thin: None,
            diagnostics: false,
        }
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Keeps the state after every `thin`-th step.
    pub fn trajectory(mut self, thin: usize) -> Self {
        self.thin = Some(thin);
        self
    }

    /// Turns per-step diagnostics on or off.
    pub fn diagnostics(mut self, on: bool) -> Self {
        self.diagnostics = on;
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
                "the trajectory thinning interval must be at least 1",
            ));
        }
        Ok(())
    }

    /// How many states the trajectory keeps: `n_steps / thin` (rounded down), or 0 without one.
    pub fn n_kept(&self) -> usize {
        match self.thin {
            Some(t) if t > 0 => self.n_steps / t,
            _ => 0,
        }
    }
}
