//! The library's error type.

/// Everything that can go wrong when building a model or a sampler, or starting a run.
///
/// Each variant names the offending parameter and its value, so that the message alone says what to fix.
///
/// ```
/// use ebm_core::Error;
/// let err = Error::invalid("step_size", -0.5, "must be finite and greater than 0");
/// assert_eq!(err.to_string(), "invalid `step_size` = -0.5: must be finite and greater than 0");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scalar or element parameter outside its allowed range (including NaN and infinities).
    #[error("invalid `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// The parameter, with an index where it is an element (`"mean[1]"`).
        name: String,
        /// The rejected value, as written by `Display`.
        value: String,
        /// What the parameter must satisfy.
        reason: String,
    },
    /// A matrix that must be symmetric is not, beyond the relative tolerance.
    #[error(
        "`{name}` is not symmetric: {name}[{row}][{col}] = {upper} but {name}[{col}][{row}] = {lower} \
         (relative difference {relative_difference:e} exceeds {tolerance:e})"
    )]
    NotSymmetric {
        /// The matrix parameter.
        name: String,
        /// Row of the first entry of the mismatched pair.
        row: usize,
        /// Column of the first entry of the mismatched pair.
        col: usize,
        /// The entry at `[row][col]`.
        upper: f64,
        /// The entry at `[col][row]`.
        lower: f64,
        /// `|upper - lower| / max(|upper|, |lower|)`.
        relative_difference: f64,
        /// The largest relative difference accepted.
        tolerance: f64,
    },
    /// A matrix that must be positive definite is not.
    #[error(
        "`{name}` is not positive definite: the Cholesky factorisation breaks down at pivot {pivot} \
         (value {value:e}), so its leading {size}x{size} block has a non-positive eigenvalue"
    )]
    NotPositiveDefinite {
        /// The matrix parameter.
        name: String,
        /// The zero-based index of the failing pivot.
        pivot: usize,
        /// The value under the square root at that pivot.
        value: f64,
        /// `pivot + 1`, the size of the leading block that fails.
        size: usize,
    },
    /// Two inputs whose lengths must agree do not.
    #[error("`{name}` has length {actual} but must have length {expected} ({reason})")]
    LengthMismatch {
        /// The parameter with the wrong length.
        name: String,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        actual: usize,
        /// Why the lengths are tied.
        reason: String,
    },
    /// A batch of chains with no chains in it.
    #[error("`{name}` holds no chains: a batch needs at least one row")]
    EmptyBatch {
        /// The batch parameter.
        name: String,
    },
    /// An initial state with a NaN or infinite coordinate.
    #[error("initial state of chain {chain} is not finite: coordinate {dim} is {value}")]
    NonFiniteState {
        /// The chain (row) index.
        chain: usize,
        /// The coordinate (column) index.
        dim: usize,
        /// The offending value.
        value: f64,
    },
    /// A finite initial state whose energy or gradient is not finite: the chain starts where the target
    /// has no density.
    #[error("initial state of chain {chain} has a non-finite {what} ({value})")]
    NonFiniteInitialEnergy {
        /// The chain (row) index.
        chain: usize,
        /// `"energy"` or `"gradient"`.
        what: String,
        /// The offending value.
        value: f64,
    },
    /// A chain of an unadjusted sampler left the finite range (its step size is too large for the energy).
    #[error(
        "chain {chain} diverged at step {step}: coordinate {dim} became {value}; lower the step size"
    )]
    Diverged {
        /// The chain (row) index.
        chain: usize,
        /// The step (from 1) after which the state was not finite.
        step: usize,
        /// The coordinate index.
        dim: usize,
        /// The offending value.
        value: f64,
    },
    /// A model returned energies or gradients for a different number of chains than it was given.
    #[error("the model returned {what} for {actual} chains but was given {expected}")]
    ModelShape {
        /// `"energies"` or `"gradients"`.
        what: String,
        /// The number of chains in the batch.
        expected: usize,
        /// The number of rows the model returned.
        actual: usize,
    },
    /// A model whose [`Energy::has_host_path`](crate::Energy::has_host_path) is `true` returned
    /// `false` from [`Energy::host_energy_and_gradient`](crate::Energy::host_energy_and_gradient).
    #[error(
        "the model announced a host path (has_host_path() is true) but host_energy_and_gradient \
         refused the call"
    )]
    HostPathRefused,
    /// An observer of a run failed (a store that could not write, say); the run stopped after the
    /// step the observer was shown. The observer's own error is the source.
    #[error("an observer stopped the run: {source}")]
    Observer {
        /// The observer's error; [`SharedError::downcast_ref`] gets its type back.
        #[source]
        source: SharedError,
    },
    /// An error of another ebm crate (a summary without a trace, a store that cannot be read, a
    /// training error), converted with `?` so that one `Result` serves a whole program;
    /// [`SharedError::downcast_ref`] gets its type back.
    #[error("{source}")]
    Other {
        /// The original error.
        #[source]
        source: SharedError,
    },
}

/// An error of another type held by [`Error`] (which is `Clone`, so the error is shared): its
/// display and source are the original's.
#[derive(Debug, Clone)]
pub struct SharedError(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl SharedError {
    /// Wraps an error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }

    /// Wraps an error already shared.
    pub fn from_shared(
        error: std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>,
    ) -> Self {
        Self(error)
    }

    /// The original error.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The original error, when it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Two shared errors are equal when they are the same error (not compared by value).
impl PartialEq for SharedError {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Error {
    /// Builds an [`Error::Other`] from an error of another ebm crate (what its `From` conversion
    /// does).
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Other {
            source: SharedError::new(error),
        }
    }

    /// Builds an [`Error::Observer`] from an observer's error.
    pub fn observer(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Observer {
            source: SharedError::new(error),
        }
    }

    /// Builds an [`Error::InvalidParameter`].
    pub fn invalid(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
