//! A progress bar for long runs, drawn on a terminal's standard error.

use super::observer::{Flow, Observer, RunStart, StepView};
use ebm_core::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a run goes before its bar appears: shorter runs stay silent.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often the bar's text is refreshed at most.
const REFRESH: Duration = Duration::from_millis(100);

/// Whether standard error is a terminal, asked once per process.
fn stderr_is_terminal() -> bool {
    static TERMINAL: OnceLock<bool> = OnceLock::new();
    *TERMINAL.get_or_init(|| std::io::stderr().is_terminal())
}

/// The driver's progress bar: steps done, steps per second, the acceptance rate and the divergences
/// so far. It appears once a run has gone on for about a second, only when standard error is a
/// terminal, and is cleared when the run ends. [`RunOptions::progress`](crate::RunOptions) switches
/// it off.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    started: Instant,
    last_refresh: Instant,
    last_check: Instant,
    n_steps: usize,
    // The clock is read every `stride` steps, so short steps pay nothing for the bar.
    stride: usize,
    next_check: usize,
    accepted: f64,
    proposals: u64,
    divergences: u64,
    adjusted: bool,
}

impl Progress {
    /// A progress bar that shows only on a terminal.
    pub fn new() -> Self {
        Self::with_terminal(stderr_is_terminal())
    }

    fn with_terminal(enabled: bool) -> Self {
        let now = Instant::now();
        Self {
            enabled,
            bar: None,
            started: now,
            last_refresh: now,
            last_check: now,
            n_steps: 0,
            stride: 1,
            next_check: 0,
            accepted: 0.0,
            proposals: 0,
            divergences: 0,
            adjusted: false,
        }
    }

    /// Whether the bar is being drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    fn message(&self, steps_done: usize, now: Instant) -> String {
        let secs = now.duration_since(self.started).as_secs_f64();
        let mut msg = format!("{:.1} steps/s", steps_done as f64 / secs.max(1e-9));
        if self.adjusted && self.proposals > 0 {
            msg.push_str(&format!(
                "  acceptance {:.2}  divergences {}",
                self.accepted / self.proposals as f64,
                self.divergences
            ));
        }
        msg
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl<const D: usize, E: Real> Observer<D, E> for Progress {
    fn start(&mut self, run: &RunStart) {
        *self = Self::with_terminal(self.enabled);
        self.n_steps = run.n_steps;
        self.adjusted = run.metropolis_adjusted;
    }

    fn observe(&mut self, step: &StepView<'_, D, E>) -> Result<Flow> {
        if !self.enabled {
            return Ok(Flow::Continue);
        }
        for i in step.info {
            self.accepted += i.acceptance();
            self.divergences += u64::from(i.divergence.is_some());
        }
        self.proposals += step.info.len() as u64;
        if step.step < self.next_check {
            return Ok(Flow::Continue);
        }
        let now = Instant::now();
        // Aim at reading the clock about every millisecond.
        let since = now.duration_since(self.last_check);
        self.last_check = now;
        if since < Duration::from_millis(1) {
            self.stride = (self.stride * 2).min(4096);
        } else if self.stride > 1 {
            self.stride /= 2;
        }
        self.next_check = step.step + self.stride;
        if self.bar.is_none() && now.duration_since(self.started) >= SHOW_AFTER {
            let bar = ProgressBar::with_draw_target(
                Some(self.n_steps as u64),
                ProgressDrawTarget::stderr(),
            );
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            self.bar = Some(bar);
        }
        if now.duration_since(self.last_refresh) >= REFRESH {
            self.last_refresh = now;
            if let Some(bar) = &self.bar {
                bar.set_position(step.step as u64 + 1);
                bar.set_message(self.message(step.step + 1, now));
            }
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _steps_taken: usize) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
