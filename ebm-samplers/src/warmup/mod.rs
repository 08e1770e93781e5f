//! Warm-up that tunes itself: per-chain dual-averaging step sizes and windowed mass-matrix
//! estimation, then sampling with the tuned kernel, in one call.

use crate::chain::{ChainState, Points, Target};
use crate::kernels::{leapfrog_host, Step};
use crate::kernels::{HamiltonianMonteCarlo, Kernel, Mala, MassMatrix, Nuts, StepInfo};
use crate::run::{
    Adaptation, DrawTrace, Driver, Flow, Observer, RunOptions, StepView, SummaryError,
};
use ebm_core::prelude::*;
use ebm_core::{check, linalg};
use ebm_diagnostics::Summary;

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

use dual_averaging::check_target;
use mass_estimate::{gradient_scale_mass, WindowEstimate};
use step_size::initial_step_sizes;
