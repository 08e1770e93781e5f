//! # ebm-train
//!
//! Training energy-based models with the `ebm` samplers.
//!
//! - [`nn`]: networks built from dfdx `Linear` layers and activations ([`nn::Silu`] added), trained
//!   with dfdx's optimisers, and [`nn::MlpEnergy`], the same network as an energy whose gradient
//!   with respect to the points comes from a hand-written host pass (sampling needs no parameter
//!   gradients);
//! - [`cd`]: persistent contrastive divergence with a replay buffer, as TorchEBM trains, the
//!   negatives drawn by any sampler of `ebm-samplers` (Langevin dynamics by default);
//! - [`buffer`]: the replay buffer;
//! - [`checkpoint`]: training runs saved and resumed bit for bit;
//! - [`data`]: seeded 2-D toy data sets (Gaussian mixtures, two moons, swiss roll, circle,
//!   checkerboard, pinwheel, grid);
//! - [`io`]: parameters saved and loaded as `.npz`, named and laid out as PyTorch's;
//! - [`eval`]: exact evaluation of 2-D models by quadrature (log Z, KL to a known density, mass per
//!   mode, held-out negative log-likelihood) and the maximum mean discrepancy for any dimension.
//!
//! ```no_run
//! use ebm_samplers::LangevinDynamics;
//! use ebm_train::{cd::{PcdConfig, PcdTrainer}, data::Toy, eval, nn};
//!
//! let data: Vec<f32> = Toy::ring8().sample(20_000, 0)?.into_iter().flatten().collect();
//! let network = nn::build_network::<nn::SiluMlp<2, 128>>(0);
//! let sampler = LangevinDynamics::new(0.01, 1.0)?;
//! let mut trainer = PcdTrainer::<2, _>::new(network, sampler, data, PcdConfig::default(), 0)?;
//! for _ in 0..2000 {
//!     trainer.step()?;
//! }
//! let truth = Toy::ring8().mixture().unwrap();
//! let q = eval::Quadrature::new(&trainer.energy()?, eval::Grid::default())?;
//! println!("KL(true || model) = {:.3}", q.kl_from(&truth));
//! # Ok::<(), ebm_train::TrainError>(())
//! ```

#![warn(missing_docs)]

pub mod buffer;
pub mod cd;
pub mod checkpoint;
pub mod data;
mod error;
pub mod eval;
pub mod io;
pub mod nn;

pub use error::{Result, TrainError};
