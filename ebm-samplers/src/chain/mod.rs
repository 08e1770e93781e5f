//! The chains a run carries from step to step: their [`ChainState`] (positions, energies,
//! gradients, random streams, step sizes, temperatures) and its [`StateSnapshot`], the model as
//! they see it ([`Target`]), and the per-chain streams and row blocks the kernels share out over
//! threads.

pub(crate) mod blocks;
mod snapshot;
mod state;
pub(crate) mod streams;
mod target;

pub use snapshot::StateSnapshot;
pub(crate) use state::all_finite;
pub use state::{ChainState, Points, StateParts};
pub use target::Target;
