//! Parameters on disk as `.npz`, NumPy's archive of arrays, which Python reads with `numpy.load`.
//!
//! Each parameter tensor is one array named by its place in the network, as PyTorch names the
//! parameters of an `nn.Sequential` (`"0.weight"`, `"0.bias"`, `"2.weight"`, ...), in PyTorch's
//! layout (a `Linear`'s weight is `(outputs, inputs)`). So a network of the same shape in PyTorch
//! loads the file with
//!
//! ```text
//! net.load_state_dict({k: torch.from_numpy(v) for k, v in numpy.load("model.npz").items()})
//! ```

use crate::error::{Result, TrainError};
use dfdx::nn::{LoadFromNpz, SaveToNpz};
use ebm_core::prelude::*;
use std::path::Path;

/// Writes `network`'s parameters to `path` (replacing the file).
///
/// ```
/// use ebm_train::{io, nn::{build_network, SiluMlp}};
///
/// let dir = std::env::temp_dir().join(format!("ebm-train-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("model.npz");
/// let trained = build_network::<SiluMlp<2, 8>>(1);
/// io::save_npz(&trained, &path)?;
/// let mut loaded = build_network::<SiluMlp<2, 8>>(2);
/// io::load_npz(&mut loaded, &path)?;
/// assert_eq!(loaded.2.weight.as_vec(), trained.2.weight.as_vec());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ebm_train::TrainError>(())
/// ```
///
/// # Errors
/// [`TrainError::Io`] when the file cannot be written.
pub fn save_npz<M: SaveToNpz<f32, Cpu>>(network: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    network.save(path).map_err(|e| TrainError::Io {
        path: path.into(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Reads `path`, written by [`save_npz`] for a network of the same shape, into `network`.
///
/// # Errors
/// [`TrainError::Io`] when the file cannot be read, [`TrainError::Format`] when it is not an
/// `.npz` archive or lacks a parameter or holds one of another shape or type (`network` may then
/// hold some parameters from the file).
pub fn load_npz<M: LoadFromNpz<f32, Cpu>>(network: &mut M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if let Err(e) = std::fs::metadata(path) {
        return Err(TrainError::Io {
            path: path.into(),
            source: e,
        });
    }
    network.load(path).map_err(|e| TrainError::Format {
        path: path.into(),
        reason: e.to_string(),
    })
}
