//! # ebm-core
//!
//! The foundation of the `ebm` workspace: the [`Energy`] trait over [dfdx](https://docs.rs/dfdx)
//! tensors, the typed batch [`Batch<D>`](Batch) of `D`-dimensional chains, the element types
//! ([`Real`]: `f32` and `f64`) and the library's [`Error`].
//!
//! An energy takes a batch of shape `(n_chains, D)` and returns one energy per chain. Gradients come
//! from dfdx autodiff unless a model supplies a closed form. Models live in `ebm-models`, samplers in
//! `ebm-samplers`.
//!
//! ```
//! use ebm_core::prelude::*;
//!
//! struct Bowl;
//! impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Bowl {
//!     fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
//!         x.square().sum::<(usize,), Axis<1>>() * E::of(0.5)
//!     }
//! }
//!
//! let dev = Cpu::default();
//! let x: Batch<3> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0], (1, Const::<3>));
//! assert_eq!(Bowl.gradient(&x).as_vec(), vec![1.0, 2.0, 3.0]);
//! ```
//!
//! ## Features
//!
//! - `cuda`: builds dfdx's CUDA device, so batches can live on an NVIDIA GPU (`Cuda`).
//! - `ci-check`: with `cuda`, type-checks the CUDA path on a machine without the CUDA toolkit.

#![warn(missing_docs)]

pub mod check;
pub mod energy;
pub mod error;
pub mod linalg;
pub mod ops;
pub mod real;

pub use dfdx;
pub use energy::{autodiff_energy_and_gradient, is_cpu, Batch, Energies, Energy};
pub use error::{Error, Result};
pub use real::Real;

/// The names most programs need: the trait, the batch types, dfdx's tensor API and the error.
pub mod prelude {
    pub use crate::energy::{Batch, Energies, Energy};
    pub use crate::error::{Error, Result};
    pub use crate::real::Real;
    pub use dfdx::prelude::*;
}
