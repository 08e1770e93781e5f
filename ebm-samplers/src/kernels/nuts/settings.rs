//! The NUTS sampler's settings: `Nuts` and its U-turn criteria.

use crate::kernels::mass::MassMatrix;
use crate::kernels::metropolis::{check_threshold, DEFAULT_MAX_ENERGY_ERROR};
use ebm_core::check;
use ebm_core::prelude::*;

/// The No-U-Turn Sampler (Hoffman and Gelman 2014) with multinomial sampling along the trajectory
/// and the generalised U-turn criterion (Betancourt 2017), as in Stan.
///
/// Each transition draws a momentum `p ~ N(0, M)` and builds a trajectory by doubling: a new
/// subtree of `1, 2, 4, ...` leapfrog steps is added at a random end, until the trajectory turns
/// back on itself (checked on every subtree and across neighbouring subtrees), a step diverges
/// (energy error above the threshold, 1000 by default, or not finite), or the tree reaches its
/// maximum depth (10 by default: at most 1023 leapfrog steps). The next state is drawn from all
/// points of the trajectory in proportion to `exp(-H)`, favouring the newest subtree. The
/// trajectory length adapts to the target at every draw; only the step size (and the mass
/// matrix) need tuning, which [`warmup`](crate::warmup) does.
///
/// In a batch, chains build their trees in lock-step and each stops when its own tree
/// terminates; only the chains still building are evaluated. Each chain draws its directions and
/// multinomial choices from its own stream, so its draws do not depend on the batch or the
/// threads. A chain at temperature `T` targets `exp(-E / T)`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::prelude::*;
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
/// let out = Nuts::new(0.5)?.run(&model, &x0, &RunOptions::new(200).seed(1).trace(1))?;
/// assert!(out.summary().unwrap().max_r_hat() < 1.1);
/// assert_eq!(out.chain_stats.unwrap().total_divergences(), 0);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Nuts {
    pub(super) step_size: f64,
    pub(super) max_depth: u32,
    pub(super) mass: MassMatrix,
    pub(super) max_energy_error: f64,
    pub(super) uturn: UTurn,
    pub(super) warmup_uturn: UTurn,
}

/// The test that ends a NUTS trajectory when it turns back on itself. Both are checked on every
/// subtree and across neighbouring subtrees (each half extended by the other's nearest point).
///
/// ```
/// use ebm_samplers::prelude::*;
///
/// let nuts = Nuts::default().with_uturn(UTurn::Position);
/// assert_eq!(nuts.uturn(), UTurn::Position);
/// assert_eq!(Nuts::default().uturn(), UTurn::Momentum);
/// // Warm-up's trajectories end by the position criterion unless told otherwise.
/// assert_eq!(Nuts::default().warmup_uturn(), UTurn::Position);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UTurn {
    /// Betancourt's generalised criterion (2017), as in Stan and the default: a stretch turns
    /// when its summed momentum `rho` points against the velocity `M^-1 p` at either end.
    #[default]
    Momentum,
    /// The criterion of Hoffman and Gelman (2014) in the mass matrix's metric, as in nuts-rs:
    /// a stretch turns when its displacement `x_end - x_begin` points against the momentum `p` at
    /// either end. Where the mass matrix does not whiten the target it stops earlier, at about the
    /// same effective sample size per gradient (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    Position,
}

impl Nuts {
    /// NUTS with leapfrog step `step_size`, maximum tree depth 10 and an identity mass matrix.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `step_size` is finite and greater than 0.
    pub fn new(step_size: f64) -> Result<Self> {
        check::positive("step_size", step_size)?;
        Ok(Self {
            step_size,
            max_depth: 10,
            mass: MassMatrix::Identity,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
            uturn: UTurn::Momentum,
            warmup_uturn: UTurn::Position,
        })
    }

    /// The same sampler ending its trajectories by `uturn` (default [`UTurn::Momentum`]); during
    /// [`Warmup`](crate::Warmup) it uses [`Nuts::warmup_uturn`] instead.
    pub fn with_uturn(mut self, uturn: UTurn) -> Self {
        self.uturn = uturn;
        self
    }

    /// The U-turn criterion.
    pub fn uturn(&self) -> UTurn {
        self.uturn
    }

    /// The same sampler ending its trajectories by `uturn` during [`Warmup`](crate::Warmup)
    /// (default [`UTurn::Position`]); the draws after warm-up use [`Nuts::uturn`].
    ///
    /// Both criteria leave the target invariant, and warm-up's draws are discarded: they only
    /// carry the chains into the typical set and feed the step-size and mass estimates. The
    /// position criterion ends trajectories earlier where the mass matrix does not whiten the
    /// target, which is the rule during warm-up, at about the same effective sample size per
    /// gradient; where the mass matrix whitens the target the two cost about the same
    /// (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    ///
    /// ```
    /// use ebm_samplers::prelude::*;
    ///
    /// let stan_like = Nuts::default().with_warmup_uturn(UTurn::Momentum);
    /// assert_eq!(stan_like.warmup_uturn(), UTurn::Momentum);
    /// assert_eq!(stan_like.uturn(), UTurn::Momentum);
    /// ```
    pub fn with_warmup_uturn(mut self, uturn: UTurn) -> Self {
        self.warmup_uturn = uturn;
        self
    }

    /// The U-turn criterion during warm-up.
    pub fn warmup_uturn(&self) -> UTurn {
        self.warmup_uturn
    }

    /// The same sampler with maximum tree depth `depth` (at most `2^depth - 1` leapfrog steps).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `1 <= depth <= 30`.
    pub fn with_max_depth(mut self, depth: u32) -> Result<Self> {
        if !(1..=30).contains(&depth) {
            return Err(Error::invalid(
                "max_depth",
                depth,
                "must be between 1 and 30",
            ));
        }
        self.max_depth = depth;
        Ok(self)
    }

    /// The same sampler with mass matrix `mass`.
    ///
    /// # Errors
    /// As [`MassMatrix::validate`].
    pub fn with_mass(mut self, mass: MassMatrix) -> Result<Self> {
        mass.validate()?;
        self.mass = mass;
        Ok(self)
    }

    /// The same sampler flagging a transition as divergent when an energy error along the
    /// trajectory exceeds `threshold` (default 1000).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `threshold` is greater than 0.
    pub fn with_divergence_threshold(mut self, threshold: f64) -> Result<Self> {
        self.max_energy_error = check_threshold(threshold)?;
        Ok(self)
    }

    /// The initial step size.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The maximum tree depth.
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// The energy error above which a transition counts as divergent.
    pub fn divergence_threshold(&self) -> f64 {
        self.max_energy_error
    }

    /// The mass matrix.
    pub fn mass(&self) -> &MassMatrix {
        &self.mass
    }
}

impl Default for Nuts {
    /// Step size 1 (warm-up tunes it), maximum depth 10, identity mass, divergence threshold 1000,
    /// the momentum U-turn criterion (the position criterion during warm-up).
    fn default() -> Self {
        Self {
            step_size: 1.0,
            max_depth: 10,
            mass: MassMatrix::Identity,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
            uturn: UTurn::Momentum,
            warmup_uturn: UTurn::Position,
        }
    }
}
