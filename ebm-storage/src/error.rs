//! What can go wrong with a store, each error naming the path it is about.

use std::path::PathBuf;

/// Why a store could not be written, opened, read or resumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists and is not a store written by this crate; nothing was changed.
    #[error("{path} is not an ebm draw store ({reason}); nothing was changed")]
    NotAStore {
        /// The path.
        path: PathBuf,
        /// What is there instead.
        reason: String,
    },
    /// A store or file is already there and the call was not asked to replace it.
    #[error(
        "{path} already exists; it is replaced only when asked: StoreOptions::new().overwrite(true) \
         for DrawStore::create, the argument overwrite = true for write_npz"
    )]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// The store holds draws of another dimension.
    #[error("{path} holds draws of dimension {found}, not {expected}")]
    DimensionMismatch {
        /// The store.
        path: PathBuf,
        /// The dimension asked for.
        expected: usize,
        /// The dimension stored.
        found: usize,
    },
    /// The store holds draws of another element type.
    #[error("{path} holds draws of type {found}, not {expected}")]
    ElementTypeMismatch {
        /// The store.
        path: PathBuf,
        /// The zarr dtype asked for, `"<f4"` or `"<f8"`.
        expected: String,
        /// The zarr dtype stored.
        found: String,
    },
    /// The store holds another number of chains than the state it is used with.
    #[error("{path} holds {found} chains, the state has {expected}")]
    ChainCountMismatch {
        /// The store.
        path: PathBuf,
        /// The state's number of chains.
        expected: usize,
        /// The store's.
        found: usize,
    },
    /// A chunk file is missing, shorter or longer than its array's metadata says.
    #[error("{path}: chunk holds {found} bytes, expected {expected} (truncated or damaged)")]
    TruncatedChunk {
        /// The chunk file.
        path: PathBuf,
        /// Its size according to the metadata.
        expected: u64,
        /// Its size on disk (0 when missing).
        found: u64,
    },
    /// A chunk's bytes do not match the CRC-32 stored with them: the file was damaged.
    #[error(
        "{path}: the chunk's checksum does not match its data (stored {stored:#010x}, \
         computed {computed:#010x}): the file is damaged"
    )]
    ChecksumMismatch {
        /// The chunk file.
        path: PathBuf,
        /// The CRC-32 stored in the chunk.
        stored: u32,
        /// The CRC-32 of the data read.
        computed: u32,
    },
    /// A metadata or state file cannot be parsed or does not describe what it should.
    #[error("{path}: {reason}")]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store holds no chain state to resume from.
    #[error("{path} holds no chain state to resume from (no run through DrawStore::run wrote a checkpoint)")]
    NoResumeState {
        /// The store.
        path: PathBuf,
    },
    /// A file would exceed what the format can hold.
    #[error("{path}: {what} of {bytes} bytes is too large for the format")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What is too large.
        what: String,
        /// Its size.
        bytes: u64,
    },
    /// An invalid option.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The sampler or the model failed.
    #[error(transparent)]
    Sampler(#[from] ebm_core::Error),
    /// The diagnostics rejected the stored draws.
    #[error(transparent)]
    Diagnostics(#[from] ebm_diagnostics::DiagnosticsError),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::BadMetadata {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// So that `?` on a store works in a function returning `ebm_core::Result`: a sampler's error
/// comes back as it was, any other as [`ebm_core::Error::Other`].
impl From<StoreError> for ebm_core::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Sampler(inner) => inner,
            other => ebm_core::Error::other(other),
        }
    }
}

/// The result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
