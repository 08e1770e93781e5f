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

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __macro_support;
pub mod activation;
pub mod check;
pub mod dense;
pub mod energy;
pub mod error;
pub mod linalg;
pub mod normal;
pub mod ops;
pub mod real;

pub use dfdx;

/// Whether a CUDA GPU can be used now: the driver initialises and reports at least one device.
///
/// Probe with this before building dfdx's `Cuda` device, so that a program built with the `cuda`
/// feature falls back to the CPU cleanly on a machine without a GPU.
#[cfg(feature = "cuda")]
pub fn cuda_available() -> bool {
    cudarc::driver::result::init().is_ok()
        && cudarc::driver::result::device::get_count().is_ok_and(|n| n > 0)
}
/// Writes a model as one function of a batch of points: see the full reference below.
///
/// ```
/// use ebm_core::prelude::*;
///
/// /// A tilted double well in the first coordinate plus a harmonic term in the others.
/// #[energy]
/// fn tilted_well(x: Batch<3>, tilt: f64, stiffness: [f64; 3]) -> Energies {
///     let first = ebm_core::ops::column::<0, 3, _, _, _>(x);
///     let well = (first.square() - 1.0).square() + first * tilt;
///     let k = stiffness.broadcast_like::<_, Axis<0>>(&(x.shape().0, Const::<3>));
///     well + (x.square() * k).sum::<_, Axis<1>>() * 0.5
/// }
///
/// let dev = Cpu::default();
/// let model = TiltedWell::<f64>::new(&dev, 0.25, [0.0, 1.0, 2.0])?;
/// let x: Batch<3, f64> = dev.tensor_from_vec(vec![1.0, 2.0, -1.0], (1, Const::<3>));
/// let (e, g) = model.energy_and_gradient(&x);
/// // E = (1 - 1)^2 + 0.25 + (1 * 4 + 2 * 1) / 2; dE/dx0 = 4 x0 (x0^2 - 1) + 0.25 = 0.25
/// assert_eq!(e.as_vec(), vec![3.25]);
/// assert_eq!(g.as_vec(), vec![0.25, 2.0, -2.0]);
/// assert!(TiltedWell::<f32>::new(&dev, f64::INFINITY, [1.0; 3]).is_err());
/// # Ok::<(), ebm_core::Error>(())
/// ```
pub use ebm_macros::energy;
pub use energy::{autodiff_energy_and_gradient, is_cpu, Batch, Energies, Energy, Scaled};
pub use error::{Error, Result, SharedError};
pub use real::Real;

/// The names most programs need: the trait, the batch types, dfdx's tensor API, the activations
/// dfdx lacks ([`Activations`](crate::ops::Activations)) and the error.
pub mod prelude {
    pub use crate::energy::{Batch, Energies, Energy};
    pub use crate::error::{Error, Result};
    pub use crate::ops::Activations;
    pub use crate::real::Real;
    pub use dfdx::prelude::*;
    pub use ebm_macros::energy;
}

/// This crate's README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctest;
