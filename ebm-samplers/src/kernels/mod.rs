//! What a kernel is and the kernels that come with the crate.
//!
//! [`Kernel`] is one transition of a batch of chains, reporting per chain what happened in a
//! [`StepInfo`]; [`metropolis_accept`] is the test the adjusted kernels share. The built-in kernels
//! are [`LangevinDynamics`], [`Mala`], [`HamiltonianMonteCarlo`] (with a [`MassMatrix`]) and
//! [`Nuts`].

mod chain_settings;
mod hmc;
mod kernel;
mod langevin;
mod mala;
mod mass;
mod metropolis;
mod nuts;

pub(crate) use hmc::leapfrog_host;
pub use hmc::{HamiltonianMonteCarlo, HmcWorkspace};
pub use kernel::{Divergence, Kernel, StepInfo};
pub use langevin::{LangevinDynamics, LangevinWorkspace};
pub use mala::{Mala, MalaWorkspace};
pub use mass::MassMatrix;
pub(crate) use mass::Step;
pub use metropolis::{metropolis_accept, DEFAULT_MAX_ENERGY_ERROR};
pub use nuts::{Nuts, NutsWorkspace, UTurn};
