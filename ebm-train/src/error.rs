//! The training crate's error type.

/// What can go wrong when building, training or evaluating a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A parameter out of its range: its name, its value and why.
    #[error("invalid `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// Its value as given.
        value: String,
        /// What it must be.
        reason: String,
    },
    /// A network that cannot be run as an energy: the host pass does not know it, or its
    /// parameters are no longer finite.
    #[error("the network is not an energy: {reason}")]
    Network {
        /// What is wrong with it.
        reason: String,
    },
    /// An error of the samplers or the models (`ebm-core`'s error type).
    #[error(transparent)]
    Sampling(#[from] ebm_core::Error),
    /// The optimiser found a parameter without a gradient, or the device failed.
    #[error("optimiser update failed: {0}")]
    Optimiser(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A parameter file that does not hold what the model expects.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The training crate's result type.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> TrainError {
    TrainError::InvalidParameter {
        name: name.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// So that `?` on training works in a function returning `ebm_core::Result`: a sampler's error
/// comes back as it was, any other as [`ebm_core::Error::Other`].
impl From<TrainError> for ebm_core::Error {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Sampling(inner) => inner,
            other => ebm_core::Error::other(other),
        }
    }
}
