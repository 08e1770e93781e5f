//! Warm-up then sampling, both through the driver.

use super::adaptable::Adaptable;
use super::dual_averaging::check_target;
use super::settings::AdaptedRun;
use super::settings::PhaseDraws;
use super::settings::Warmup;
use crate::run::{Driver, RunOptions};
use ebm_core::prelude::*;

impl Warmup {
    pub(super) fn check(&self) -> Result<()> {
        if let Some(t) = self.target_accept {
            check_target(t)?;
        }
        if self.windows.1 == 0 {
            return Err(Error::invalid(
                "windows",
                format!("{:?}", self.windows),
                "the first slow window needs at least one step",
            ));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(Error::invalid("jitter", self.jitter, "must lie in [0, 1)"));
        }
        if self.thin == 0 {
            return Err(Error::invalid("thin", 0, "must be at least 1"));
        }
        if self.n_draws > 0 && self.n_draws < self.thin {
            return Err(Error::invalid(
                "draws",
                self.n_draws,
                "keeps no draw: 0 for a warm-up only, or at least thin",
            ));
        }
        Ok(())
    }

    /// Starts one chain per row of `x0`, warms up (tuning each chain's step size and, for kernels
    /// with one, the mass matrix pooled over the chains), then samples with the tuned kernel.
    /// Warm-up's transitions run [`Adaptable::warmup_variant`] of `kernel` (for NUTS, its
    /// [`Nuts::warmup_uturn`](crate::Nuts::warmup_uturn) criterion); sampling runs `kernel` itself with the tuned step sizes
    /// and mass matrix. Both phases go through the [`Driver`]: warm-up as a run
    /// that a [`WarmupAdaptation`](crate::WarmupAdaptation) tunes (which [`Warmup::adaptation`] gives, to run it with
    /// observers and stores of your own), sampling as a plain run of the tuned kernel.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the setting for invalid settings, the errors of
    /// [`Kernel::init`](crate::Kernel::init), and the model's.
    pub fn run<K, const D: usize, E, Dev, M>(
        &self,
        kernel: &K,
        model: &M,
        x0: &Batch<D, E, Dev>,
    ) -> Result<AdaptedRun<D, E, Dev, K>>
    where
        K: Adaptable,
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.check()?;
        let clock = std::time::Instant::now();
        let mut state =
            kernel
                .warmup_variant()
                .init_shard(model, x0, self.seed, self.first_chain)?;
        let n = state.n_chains();
        let mut adaptation = self.adaptation(kernel, model, &mut state)?;
        let mut warm = PhaseDraws::recording(n, self.n_warmup, self.thin, self.keep_warmup);
        Driver::adapting(&mut adaptation, model, &mut state)
            .observe(&mut warm)
            .run(&RunOptions::new(self.n_warmup).progress(self.progress))?;
        let tuned = adaptation.finish(&mut state)?;
        let warmup_time = clock.elapsed();

        // Sampling with the kernel itself, given the tuned mass matrix and step sizes; the state
        // jitters them from now on, as it will when continued.
        let clock = std::time::Instant::now();
        state.set_step_size_jitter(self.jitter)?;
        let mut draws = PhaseDraws::recording(n, self.n_draws, self.thin, true);
        Driver::new(&tuned.kernel, model, &mut state)
            .observe(&mut draws)
            .run(&RunOptions::new(self.n_draws).progress(self.progress))?;
        let mass = tuned.kernel.mass_matrix().cloned();
        Ok(AdaptedRun {
            kernel: tuned.kernel,
            state,
            warmup: warm,
            sampling: draws,
            step_sizes: tuned.step_sizes,
            mass,
            warmup_step_sizes: tuned.warmup_step_sizes,
            search_gradient_evaluations: tuned.search_gradient_evaluations,
            warmup_time,
            sampling_time: clock.elapsed(),
        })
    }
}
