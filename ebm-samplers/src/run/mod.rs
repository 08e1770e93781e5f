//! What runs a kernel: the [`Driver`], which takes the steps and tells [`Observer`]s about each
//! (an [`Adaptation`] may tune the kernel as it goes), the [`Sampler`] methods built on it, the
//! [`RunOptions`] of a run and what it gives back ([`SampleOutput`], the kept [`DrawTrace`], the
//! [`StepDiagnostics`] and [`RunStats`]), and the [`Progress`] bar.

mod driver;
mod observer;
mod options;
mod output;
mod progress;
mod sampler;

pub use driver::{Adaptation, Driver};
pub use observer::{observer_fn, Flow, FnObserver, Observer, RunStart, StepView};
pub use options::RunOptions;
pub(crate) use output::kept_index;
pub use output::DrawTrace;
#[allow(deprecated)]
pub use output::Trace;
pub use output::{RunStats, SampleOutput, StepDiagnostics, SummaryError};
pub use progress::Progress;
pub use sampler::Sampler;
