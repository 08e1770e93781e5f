//! The windowed warm-up as an adaptation the driver runs, its snapshots and resumption.

use super::adaptable::Adaptable;
use super::adaptable::MassAdaptation;
use super::dual_averaging::DualAveraging;
use super::mass_estimate::gradient_scale_mass;
use super::mass_estimate::WindowEstimate;
use super::schedule::WindowSchedule;
use super::settings::Warmup;
use super::step_size::initial_step_sizes;
use crate::chain::{ChainState, Target};
use crate::kernels::{MassMatrix, StepInfo};
use crate::run::Adaptation;
use ebm_core::prelude::*;

impl Warmup {
    /// The adaptation of [`Warmup::run`] for `kernel` on the chains `state` (started by
    /// [`Adaptable::warmup_variant`]'s `init`), to run through a [`Driver`](crate::Driver) of
    /// your own ([`Driver::adapting`](crate::Driver::adapting)), with observers or a store, for
    /// [`Warmup::n_warmup`] steps; [`WarmupAdaptation::finish`] then gives the tuned kernel. Its
    /// first step-size search and initial mass happen here, from the state's points.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the setting for invalid settings, and the model's
    /// errors.
    pub fn adaptation<K, const D: usize, E, Dev, M>(
        &self,
        kernel: &K,
        model: &M,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<WarmupAdaptation<K>>
    where
        K: Adaptable,
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.check()?;
        let target_accept = self
            .target_accept
            .unwrap_or_else(|| kernel.default_target_accept());
        let mut variant = kernel.warmup_variant();
        let mut target = Target::new(model, state.device());
        let n = state.n_chains();
        let mass_adapt = if variant.mass_matrix().is_some() {
            self.mass
        } else {
            MassAdaptation::Off
        };
        if mass_adapt != MassAdaptation::Off && self.gradient_initial_mass {
            if let Some(k) =
                variant.with_adapted_mass(gradient_scale_mass::<D, E>(&state.points().g))
            {
                variant = k?;
            }
        }
        // The starting points' evaluation in `init`.
        let mut search_evals = n as u64;
        let find_initial_step_size = self.find_initial_step_size && kernel.uses_gradient();
        if find_initial_step_size {
            let eps = initial_step_sizes(&variant, &mut target, state, &mut search_evals)?;
            state.set_step_sizes(&eps)?;
        }
        let averaging: Vec<DualAveraging> = state
            .step_sizes()
            .iter()
            .map(|&e| DualAveraging::new(e, target_accept))
            .collect::<Result<_>>()?;
        let (init, base, term) = self.windows;
        Ok(WarmupAdaptation {
            sampler: kernel.clone(),
            kernel: variant,
            target_accept,
            find_initial_step_size,
            search_after_first_transition: self.search_after_first_transition,
            mass_adapt,
            schedule: WindowSchedule::new(self.n_warmup, init, base, term),
            window: WindowEstimate::new(D, mass_adapt),
            delta: vec![0.0; D],
            next_window: 0,
            averaging,
            steps: 0,
            warmup_step_sizes: Vec::with_capacity(self.n_warmup * n),
            search_evals,
        })
    }

    /// The adaptation of [`Warmup::adaptation`] for `kernel` as it was when `snapshot` was
    /// taken ([`WarmupAdaptation::snapshot`]), for chains `n_chains` of dimension `D`: with the
    /// chain state of the same moment, the warm-up goes on exactly as if it had not stopped.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid settings, [`Error::LengthMismatch`] naming the
    /// snapshot's field that does not fit the chains, the dimension or these settings, and the
    /// kernel's errors for the stored mass matrix.
    pub fn resume_adaptation<K: Adaptable, const D: usize>(
        &self,
        kernel: &K,
        n_chains: usize,
        snapshot: &WarmupSnapshot,
    ) -> Result<WarmupAdaptation<K>> {
        self.check()?;
        let target_accept = self
            .target_accept
            .unwrap_or_else(|| kernel.default_target_accept());
        let mut variant = kernel.warmup_variant();
        let mass_adapt = if variant.mass_matrix().is_some() {
            self.mass
        } else {
            MassAdaptation::Off
        };
        if let Some(mass) = &snapshot.mass {
            if let Some(k) = variant.with_adapted_mass(mass.clone()) {
                variant = k?;
            }
        }
        let mismatch = |name: &str, expected: usize, actual: usize| Error::LengthMismatch {
            name: format!("snapshot.{name}"),
            expected,
            actual,
            reason: format!("{n_chains} chains of dimension {D} under these warm-up settings"),
        };
        if snapshot.averaging.len() != n_chains {
            return Err(mismatch("averaging", n_chains, snapshot.averaging.len()));
        }
        let steps = usize::try_from(snapshot.steps).unwrap_or(usize::MAX);
        if steps > self.n_warmup {
            return Err(Error::invalid(
                "snapshot.steps",
                snapshot.steps,
                format!("more than the {} warm-up steps", self.n_warmup),
            ));
        }
        let expected_sizes = steps.saturating_mul(n_chains);
        if snapshot.warmup_step_sizes.len() != expected_sizes {
            return Err(mismatch(
                "warmup_step_sizes",
                expected_sizes,
                snapshot.warmup_step_sizes.len(),
            ));
        }
        let mut window = WindowEstimate::new(D, mass_adapt);
        let parts = [
            window.mean.len(),
            window.m2.len(),
            window.gmean.len(),
            window.gm2.len(),
        ];
        let expected = 1 + parts.iter().sum::<usize>();
        if snapshot.window.len() != expected {
            return Err(mismatch("window", expected, snapshot.window.len()));
        }
        window.n = snapshot.window[0];
        let mut at = 1;
        for v in [
            &mut window.mean,
            &mut window.m2,
            &mut window.gmean,
            &mut window.gm2,
        ] {
            let len = v.len();
            v.copy_from_slice(&snapshot.window[at..at + len]);
            at += len;
        }
        let (init, base, term) = self.windows;
        let schedule = WindowSchedule::new(self.n_warmup, init, base, term);
        let next_window = usize::try_from(snapshot.next_window).unwrap_or(usize::MAX);
        if next_window > schedule.window_ends.len() {
            return Err(Error::invalid(
                "snapshot.next_window",
                snapshot.next_window,
                format!("the schedule has {} windows", schedule.window_ends.len()),
            ));
        }
        Ok(WarmupAdaptation {
            sampler: kernel.clone(),
            kernel: variant,
            target_accept,
            find_initial_step_size: self.find_initial_step_size && kernel.uses_gradient(),
            search_after_first_transition: self.search_after_first_transition,
            mass_adapt,
            schedule,
            window,
            delta: vec![0.0; D],
            next_window,
            averaging: snapshot
                .averaging
                .iter()
                .map(|a| DualAveraging {
                    target: a[0],
                    mu: a[1],
                    log_eps: a[2],
                    log_eps_bar: a[3],
                    h_bar: a[4],
                    t: a[5],
                    s: a[6],
                })
                .collect(),
            steps,
            warmup_step_sizes: snapshot.warmup_step_sizes.clone(),
            search_evals: snapshot.search_gradient_evaluations,
        })
    }
}

/// The windowed warm-up of [`Warmup`] as an [`Adaptation`] the [`Driver`](crate::Driver) runs:
/// dual averaging of each chain's step size toward the target acceptance, and the mass matrix
/// pooled over the chains at the end of each slow window (Stan's schedule), with a new step-size
/// search after each. [`Warmup::adaptation`] makes one; [`WarmupAdaptation::finish`] gives the
/// tuned kernel.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
///
/// let model = Harmonic::<f64>::default();
/// let x0: Batch<2, f64> = Cpu::default().sample_normal_like(&(4, Const::<2>));
/// let warmup = Warmup { n_warmup: 200, seed: 3, progress: false, ..Warmup::default() };
/// let nuts = Nuts::default();
/// let mut state = nuts.warmup_variant().init(&model, &x0, warmup.seed)?;
/// let mut adaptation = warmup.adaptation(&nuts, &model, &mut state)?;
/// // Any observer sees the warm-up draws; a store streams them (ebm-storage).
/// let mut moved = 0usize;
/// let mut count = observer_fn(|s: &StepView<'_, 2, f64>| {
///     moved += s.info.iter().filter(|i| i.accepted).count();
///     Ok(Flow::Continue)
/// });
/// Driver::adapting(&mut adaptation, &model, &mut state)
///     .observe(&mut count)
///     .run(&RunOptions::new(warmup.n_warmup).progress(false))?;
/// let tuned = adaptation.finish(&mut state)?;
/// assert!(moved > 0 && tuned.step_sizes.iter().all(|&e| e > 0.0));
/// // Sample on with the tuned kernel.
/// let out = Driver::new(&tuned.kernel, &model, &mut state).run(&RunOptions::new(100).trace(1))?;
/// assert_eq!(out.trace.unwrap().shape(), [4, 100, 2]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WarmupAdaptation<K> {
    /// The kernel to tune, as given.
    sampler: K,
    /// Its warm-up variant with the mass adapted so far: the kernel of the steps.
    kernel: K,
    target_accept: f64,
    find_initial_step_size: bool,
    search_after_first_transition: bool,
    mass_adapt: MassAdaptation,
    schedule: WindowSchedule,
    window: WindowEstimate,
    delta: Vec<f64>,
    next_window: usize,
    averaging: Vec<DualAveraging>,
    /// Steps adapted so far (over every run of the driver).
    steps: usize,
    warmup_step_sizes: Vec<f64>,
    search_evals: u64,
}

/// Everything a [`WarmupAdaptation`] has learnt so far, as plain data, to save it with a run's
/// checkpoint and go on from it ([`Warmup::resume_adaptation`]): with the chain state's snapshot
/// it continues the warm-up bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupSnapshot {
    /// Steps adapted so far.
    pub steps: u64,
    /// The slow window being filled (an index into the schedule).
    pub next_window: u64,
    /// Gradient evaluations of the step-size searches so far (with the starting points').
    pub search_gradient_evaluations: u64,
    /// The warm-up kernel's mass matrix as adapted so far (`None` for a kernel without one).
    pub mass: Option<MassMatrix>,
    /// Per chain, the dual averaging's state: target, mu, log step size, log averaged step size,
    /// running error, the iterate's clock, the average's clock.
    pub averaging: Vec<[f64; 7]>,
    /// The window's count, then its running means and sums of squares (draws, then gradients).
    pub window: Vec<f64>,
    /// Each chain's step size after every warm-up step so far, `[step][chain]`.
    pub warmup_step_sizes: Vec<f64>,
}

/// What a finished [`WarmupAdaptation`] gives.
#[derive(Debug, Clone)]
pub struct Tuned<K> {
    /// The kernel to sample with: the one given, with the adapted mass matrix.
    pub kernel: K,
    /// Each chain's tuned step size (also set on the state).
    pub step_sizes: Vec<f64>,
    /// Each chain's step size after every warm-up transition, `[draw][chain]`.
    pub warmup_step_sizes: Vec<f64>,
    /// Gradient evaluations (rows) spent outside the transitions: the starting points and the
    /// step-size searches.
    pub search_gradient_evaluations: u64,
}

impl<K: Adaptable> WarmupAdaptation<K> {
    /// The steps adapted so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// What the adaptation has learnt so far; [`Warmup::resume_adaptation`] goes on from it.
    pub fn snapshot(&self) -> WarmupSnapshot {
        let w = &self.window;
        WarmupSnapshot {
            steps: self.steps as u64,
            next_window: self.next_window as u64,
            search_gradient_evaluations: self.search_evals,
            mass: self.kernel.mass_matrix().cloned(),
            averaging: self
                .averaging
                .iter()
                .map(|a| [a.target, a.mu, a.log_eps, a.log_eps_bar, a.h_bar, a.t, a.s])
                .collect(),
            window: std::iter::once(w.n)
                .chain(
                    w.mean
                        .iter()
                        .chain(&w.m2)
                        .chain(&w.gmean)
                        .chain(&w.gm2)
                        .copied(),
                )
                .collect(),
            warmup_step_sizes: self.warmup_step_sizes.clone(),
        }
    }

    /// Ends the warm-up: sets each chain's tuned step size (the dual average's) on `state`, when
    /// any step was adapted, and returns the kernel to sample with.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `state` has another number of chains, and the kernel's
    /// errors for the adapted mass.
    pub fn finish<const D: usize, E: Real, Dev: Device<E>>(
        self,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<Tuned<K>> {
        if self.steps > 0 {
            let tuned: Vec<f64> = self
                .averaging
                .iter()
                .map(DualAveraging::final_step_size)
                .collect();
            state.set_step_sizes(&tuned)?;
        }
        let kernel = match self.kernel.mass_matrix() {
            Some(mass) => self
                .sampler
                .with_adapted_mass(mass.clone())
                .transpose()?
                .unwrap_or_else(|| self.sampler.clone()),
            None => self.sampler.clone(),
        };
        Ok(Tuned {
            kernel,
            step_sizes: state.step_sizes().to_vec(),
            warmup_step_sizes: self.warmup_step_sizes,
            search_gradient_evaluations: self.search_evals,
        })
    }
}

impl<K, const D: usize, E, Dev, M> Adaptation<K, D, E, Dev, M> for WarmupAdaptation<K>
where
    K: Adaptable,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    fn kernel(&self) -> &K {
        &self.kernel
    }

    fn adapt(
        &mut self,
        _step: usize,
        info: &[StepInfo],
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
    ) -> Result<bool> {
        // Its own count: a warm-up may run as several driver runs (a store's chunks).
        let step = self.steps;
        self.steps += 1;
        // Step sizes from dual averaging, chain by chain.
        let next: Vec<f64> = self
            .averaging
            .iter_mut()
            .zip(info)
            .map(|(da, i)| da.update(self.kernel.adaptation_statistic(i)))
            .collect();
        state.set_step_sizes(&next)?;
        if step == 0 && self.find_initial_step_size && self.search_after_first_transition {
            // From where the first transition went, with the adaptation started afresh there
            // (see the setting's documentation).
            let eps = initial_step_sizes(&self.kernel, target, state, &mut self.search_evals)?;
            self.averaging = eps
                .iter()
                .map(|&e| DualAveraging::new(e, self.target_accept))
                .collect::<Result<_>>()?;
            state.set_step_sizes(&eps)?;
        }
        self.warmup_step_sizes.extend_from_slice(state.step_sizes());
        // Mass matrix: collect the slow windows' draws, update at each window's end.
        let mut changed = false;
        let w = self.next_window;
        if self.mass_adapt != MassAdaptation::Off && w < self.schedule.window_ends.len() {
            if step >= self.schedule.window_starts[w] {
                let pts = state.points();
                for (row, g) in pts.x.chunks_exact(D).zip(pts.g.chunks_exact(D)) {
                    self.window.add(row, &mut self.delta);
                    self.window.add_gradient(g, &mut self.delta);
                }
            }
            if step + 1 == self.schedule.window_ends[w] {
                if self.window.n > 2.0 {
                    let mass = self.window.mass()?;
                    if let Some(k) = self.kernel.with_adapted_mass(mass) {
                        self.kernel = k?;
                        changed = true;
                    }
                    if self.find_initial_step_size {
                        // A new initial step size for the new mass: the adaptation's centre
                        // moves there.
                        let eps = initial_step_sizes(
                            &self.kernel,
                            target,
                            state,
                            &mut self.search_evals,
                        )?;
                        let next = self
                            .averaging
                            .iter_mut()
                            .zip(&eps)
                            .map(|(da, &e)| da.recentre(e))
                            .collect::<Result<Vec<f64>>>()?;
                        state.set_step_sizes(&next)?;
                    } else {
                        // The iterate carries on; only the average starts again.
                        self.averaging
                            .iter_mut()
                            .for_each(DualAveraging::restart_average);
                    }
                }
                self.window = WindowEstimate::new(D, self.mass_adapt);
                self.next_window += 1;
            }
        }
        Ok(changed)
    }
}
