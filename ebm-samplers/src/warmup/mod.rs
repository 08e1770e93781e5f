//! Warm-up that tunes itself: per-chain dual-averaging step sizes and windowed mass-matrix
//! estimation, then sampling with the tuned kernel, in one call.

mod adaptable;
mod adaptation;
mod dual_averaging;
mod mass_estimate;
mod run;
mod schedule;
mod settings;
mod step_size;
#[cfg(test)]
mod tests;

pub use adaptable::{Adaptable, MassAdaptation};
pub use adaptation::{Tuned, WarmupAdaptation, WarmupSnapshot};
pub use dual_averaging::DualAveraging;
pub use schedule::WindowSchedule;
pub use settings::{AdaptedRun, DrawStats, PhaseDraws, Warmup};
