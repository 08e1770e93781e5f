//! The chains a run carries from step to step: their [`ChainState`] (positions, energies,
//! gradients, random streams, step sizes, temperatures) and its [`StateSnapshot`], the model as
//! they see it ([`Target`]), and the per-chain streams and row blocks the kernels share out over
//! threads.

pub(crate) mod blocks;
mod points;
mod snapshot;
mod state;
pub(crate) mod streams;
mod target;

pub(crate) use points::all_finite;
pub use points::Points;
pub use snapshot::StateSnapshot;
pub use state::{ChainState, StateParts};
pub use target::Target;
