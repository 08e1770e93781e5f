//! The No-U-Turn Sampler: multinomial sampling along trajectories that double until they turn back.

mod settings;
mod spans;
mod sums;
#[cfg(test)]
mod tests;
mod transition;
mod tree;

pub use settings::{Nuts, UTurn};
pub use transition::NutsWorkspace;
