//! The error type shared by every fallible function of the crate.

use thiserror::Error;

/// Why a diagnostic could not be computed from the input it was given.
///
/// Every variant names the offending parameter and value (and, for draws,
/// the chain, draw and dimension), so that the message alone is enough to
/// find the problem in the caller's data.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DiagnosticsError {
    /// No chains were supplied (`n_chains == 0`).
    #[error("no chains were supplied (n_chains = 0); at least one chain is required")]
    NoChains,

    /// No dimensions were supplied (`n_dims == 0`).
    #[error("no dimensions were supplied (n_dims = 0); at least one dimension is required")]
    NoDimensions,

    /// A chain holds fewer draws than the diagnostics need.
    #[error(
        "chain {chain} has n_draws = {n_draws} draws, but at least {min} per chain are required"
    )]
    TooFewDraws {
        /// Index of the chain that is too short.
        chain: usize,
        /// Number of draws it holds.
        n_draws: usize,
        /// Minimum number of draws per chain.
        min: usize,
    },

    /// The chains do not all have the same number of draws.
    #[error(
        "chain {chain} has {found} draws but chain 0 has {expected}; \
         all chains must have the same number of draws"
    )]
    RaggedChains {
        /// Index of the first chain whose length differs from chain 0.
        chain: usize,
        /// Number of draws in chain 0.
        expected: usize,
        /// Number of draws in the offending chain.
        found: usize,
    },

    /// A draw is NaN or infinite.
    #[error(
        "draw {draw} of chain {chain} (dimension {dim}) is {value}, but every draw must be finite"
    )]
    NonFinite {
        /// Chain index of the offending draw.
        chain: usize,
        /// Draw index within the chain.
        draw: usize,
        /// Dimension index (0 for one-dimensional input).
        dim: usize,
        /// The offending value.
        value: f64,
    },

    /// A contiguous buffer's length does not match the declared shape.
    #[error(
        "data has length {len}, which does not equal \
         n_chains ({n_chains}) * n_draws ({n_draws}) * n_dims ({n_dims})"
    )]
    ShapeMismatch {
        /// Length of the supplied buffer.
        len: usize,
        /// Declared number of chains.
        n_chains: usize,
        /// Declared number of draws per chain.
        n_draws: usize,
        /// Declared number of dimensions.
        n_dims: usize,
    },

    /// A probability argument lies outside `[0, 1]` or is NaN.
    #[error("probability prob = {prob} must lie in [0, 1]")]
    InvalidProbability {
        /// The offending probability.
        prob: f64,
    },

    /// The number of per-chain statistics does not match the number of chains.
    #[error("{found} chain statistics were supplied, but the summary has {expected} chains")]
    ChainStatsCount {
        /// Number of chains in the summary.
        expected: usize,
        /// Number of statistics supplied.
        found: usize,
    },

    /// A chain's acceptance rate is not a number in `[0, 1]`.
    #[error("acceptance_rate of chain {chain} is {value}, but it must lie in [0, 1]")]
    InvalidAcceptanceRate {
        /// Index of the chain.
        chain: usize,
        /// The offending acceptance rate.
        value: f64,
    },

    /// The number of dimension names does not match the number of dimensions.
    #[error("{found} names were supplied, but the summary has {expected} dimensions")]
    NameCount {
        /// Number of dimensions in the summary.
        expected: usize,
        /// Number of names supplied.
        found: usize,
    },
}
