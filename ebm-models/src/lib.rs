//! # ebm-models
//!
//! Built-in energies for the `ebm` samplers, each implementing [`ebm_core::Energy`] with a closed-form
//! gradient (checked in the test suite against finite differences and against dfdx autodiff of the
//! same energy):
//!
//! | model | energy |
//! |---|---|
//! | [`GaussianModel`] | `(x - m)^T cov^-1 (x - m) / 2` |
//! | [`GaussianMixture`] | `-log sum_k exp(-w_k |x - c_k|^2 / 2)` |
//! | [`Harmonic`] | `k |x|^2 / 2` |
//! | [`DoubleWell`] | `h sum_i (x_i^2 - b^2)^2` |
//! | [`Rosenbrock`] | `sum_i (a - x_i)^2 + b (x_{i+1} - x_i^2)^2` |
//! | [`Rastrigin`] | `a D + sum_i (x_i^2 - a cos(2 pi x_i))` |
//! | [`Ackley`] | `-a exp(-b sqrt(|x|^2 / D)) - exp(mean_i cos(c x_i)) + a + e` |
//! | [`Himmelblau`] | `(x^2 + y - 11)^2 + (x + y^2 - 7)^2` |
//! | [`Mlp`] | `w . h_L(x) + b + c |x|^2`, tanh hidden layers |
//!
//! Constructors validate their parameters and return [`ebm_core::Error`] naming the offending one.
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_models::{DoubleWell, GaussianModel};
//!
//! let dev = Cpu::default();
//! let gauss = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
//! let x: Batch<2> = dev.tensor_from_vec(vec![0.0, 0.0, 1.0, -1.0], (2, Const::<2>));
//! let g = gauss.gradient(&x);
//! assert_eq!(&g.as_vec()[2..], &[0.0, 0.0]);
//!
//! assert!(DoubleWell::<f32>::new(-1.0, 1.0).is_err());
//! # Ok::<(), ebm_core::Error>(())
//! ```

#![warn(missing_docs)]

mod gaussian;
mod landscapes;
mod mixture;
mod mlp;

pub use gaussian::GaussianModel;
pub use landscapes::{Ackley, DoubleWell, Harmonic, Himmelblau, Rastrigin, Rosenbrock};
pub use mixture::GaussianMixture;
pub use mlp::{Layer, Mlp};

/// This crate's README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctest;
