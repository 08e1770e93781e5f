//! Dual averaging of each chain's step size toward a target acceptance.

use ebm_core::check;
use ebm_core::prelude::*;

/// Dual-averaging step-size adaptation for one chain (Hoffman and Gelman 2014, section 3.2), with
/// Stan's constants: `gamma = 0.05`, `t0 = 10`, `kappa = 0.75`, `mu = log(10 eps0)`.
///
/// After a mass-matrix update, [`DualAveraging::recentre`] moves the centre `mu` to a new step size
/// and keeps the running error, so that the iterates stay as steady as before; the average that
/// becomes the final step size starts again there.
#[derive(Debug, Clone, PartialEq)]
pub struct DualAveraging {
    pub(super) target: f64,
    pub(super) mu: f64,
    pub(super) log_eps: f64,
    pub(super) log_eps_bar: f64,
    pub(super) h_bar: f64,
    /// Updates so far (the iterate's clock).
    pub(super) t: f64,
    /// Updates since the last centre (the average's clock).
    pub(super) s: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    /// Starts at step size `eps0`, aiming at acceptance probability `target`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `step_size` unless `eps0` is finite and greater than 0,
    /// or `target_accept` unless `target` lies strictly between 0 and 1.
    pub fn new(eps0: f64, target: f64) -> Result<Self> {
        check::positive("step_size", eps0)?;
        check_target(target)?;
        Ok(Self {
            target,
            mu: (10.0 * eps0).ln(),
            log_eps: eps0.ln(),
            log_eps_bar: 0.0,
            h_bar: 0.0,
            t: 0.0,
            s: 0.0,
        })
    }

    /// Feeds one transition's acceptance probability; returns the next step size to use.
    pub fn update(&mut self, accept_prob: f64) -> f64 {
        let a = if accept_prob.is_finite() {
            accept_prob.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.t += 1.0;
        let w = 1.0 / (self.t + Self::T0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - a);
        self.log_eps = self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar;
        self.s += 1.0;
        let eta = self.s.powf(-Self::KAPPA);
        self.log_eps_bar = eta * self.log_eps + (1.0 - eta) * self.log_eps_bar;
        self.log_eps.exp()
    }

    /// Moves the adaptation's centre to `mu = log(10 eps)` for a new initial step size `eps` (a new
    /// mass matrix calls for a new step size) and returns the step size to use next. The running
    /// error `h_bar` and its count carry on, so the iterate keeps its place relative to the centre:
    /// it moves by the ratio of the new centre to the old. The average that becomes the final step
    /// size starts again from the next update.
    ///
    /// Stan starts a new adaptation instead, whose first iterates swing widely while its count is
    /// small (they begin near `10 eps`). Carrying the error on needs fewer warm-up gradients, and
    /// the step size kept still settles on the target acceptance
    /// (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `step_size` unless `eps` is finite and greater than 0.
    pub fn recentre(&mut self, eps: f64) -> Result<f64> {
        check::positive("step_size", eps)?;
        self.mu = (10.0 * eps).ln();
        self.log_eps = if self.t == 0.0 {
            eps.ln()
        } else {
            self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar
        };
        self.log_eps_bar = 0.0;
        self.s = 0.0;
        Ok(self.log_eps.exp())
    }

    /// Starts the average that becomes the final step size again from the next update, leaving
    /// the iterate and its centre where they are (after a mass-matrix update without a new
    /// initial step size).
    pub fn restart_average(&mut self) {
        self.log_eps_bar = 0.0;
        self.s = 0.0;
    }

    /// The averaged step size: the one to keep when adaptation ends. Before any update since the
    /// last [`DualAveraging::recentre`] or [`DualAveraging::restart_average`], the current iterate.
    pub fn final_step_size(&self) -> f64 {
        if self.s == 0.0 {
            self.log_eps.exp()
        } else {
            self.log_eps_bar.exp()
        }
    }
}

/// A target acceptance probability must lie strictly between 0 and 1.
pub(super) fn check_target(target: f64) -> Result<()> {
    if target > 0.0 && target < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "target_accept",
            target,
            "must lie strictly between 0 and 1",
        ))
    }
}
