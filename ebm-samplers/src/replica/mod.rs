//! Replica exchange (parallel tempering): a ladder of temperatures per independent ladder, one
//! replica per temperature, explored by a Metropolis-adjusted kernel and swapped between neighbours.

mod book;
mod exchange;
mod ladder;
mod run;
mod scheme;
mod state;
mod stats;

pub use book::SwapCounts;
pub use exchange::ReplicaExchange;
pub use run::{ReplicaDriver, ReplicaOutput};
pub use scheme::SwapScheme;
pub use state::{ReplicaSnapshot, ReplicaState};
pub use stats::SwapStats;
