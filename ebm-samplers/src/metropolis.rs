//! The part MALA and HMC share: evaluating proposals, the per-chain Metropolis test, divergences and
//! acceptance statistics.

use crate::chains::{chain_rngs, initial_state, Evaluator};
use crate::output::{ChainStats, SampleOutput, StepDiagnostics, Trajectory};
use crate::RunOptions;
use ebm_core::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Positions with their energies and gradients, on the host, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Points<E> {
    pub x: Vec<E>,
    pub e: Vec<E>,
    pub g: Vec<E>,
}

impl<E: Real> Points<E> {
    fn copy_row_from(&mut self, other: &Self, c: usize, d: usize) {
        self.x[c * d..(c + 1) * d].copy_from_slice(&other.x[c * d..(c + 1) * d]);
        self.g[c * d..(c + 1) * d].copy_from_slice(&other.g[c * d..(c + 1) * d]);
        self.e[c] = other.e[c];
    }

    fn row_finite(&self, c: usize, d: usize) -> bool {
        self.e[c].is_finite()
            && self.x[c * d..(c + 1) * d].iter().all(|v| v.is_finite())
            && self.g[c * d..(c + 1) * d].iter().all(|v| v.is_finite())
    }
}

/// A proposal mechanism with a Metropolis-Hastings correction.
pub(crate) trait Proposal<const D: usize, E: Real> {
    /// Fills `prop` with one proposal per chain from `cur`, evaluating the model through `eval`, and
    /// writes each chain's log acceptance ratio into `log_ratio`. Draws only from each chain's own stream.
    fn propose<Dev, M>(
        &mut self,
        model: &M,
        eval: &mut Evaluator<D, E, Dev>,
        cur: &Points<E>,
        prop: &mut Points<E>,
        rngs: &mut [ChaCha8Rng],
        log_ratio: &mut [f64],
    ) -> Result<()>
    where
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized;
}

/// Runs a Metropolis-adjusted sampler: per step one proposal per chain, then one uniform draw per chain
/// for the accept test. A proposal with any non-finite energy, gradient, coordinate or ratio is rejected
/// and counted as a divergence; the chain keeps its last finite state.
pub(crate) fn run_metropolis<const D: usize, E, Dev, M, K>(
    kernel: &mut K,
    model: &M,
    x0: &Batch<D, E, Dev>,
    options: &RunOptions,
) -> Result<SampleOutput<D, E, Dev>>
where
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
    K: Proposal<D, E>,
{
    options.validate()?;
    let x = initial_state(x0)?;
    let n = x0.shape().0;
    let mut eval = Evaluator::new(x0);
    let mut cur = Points {
        x,
        e: vec![E::zero(); n],
        g: vec![E::zero(); n * D],
    };
    eval.energy_and_gradient(model, &cur.x, &mut cur.e, &mut cur.g)?;
    for c in 0..n {
        if !cur.e[c].is_finite() {
            return Err(Error::NonFiniteInitialEnergy {
                chain: c,
                what: "energy".into(),
                value: cur.e[c].as_f64(),
            });
        }
        if let Some(v) = cur.g[c * D..(c + 1) * D].iter().find(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInitialEnergy {
                chain: c,
                what: "gradient".into(),
                value: v.as_f64(),
            });
        }
    }
    let mut prop = cur.clone();
    let mut rngs = chain_rngs(options.seed, n);
    let mut log_ratio = vec![0.0f64; n];
    let mut accepted = vec![0usize; n];
    let mut stats = ChainStats::new(n);
    let mut trajectory = Trajectory::for_run(n, options);
    let mut diagnostics = options
        .diagnostics
        .then(|| StepDiagnostics::with_capacity(options.n_steps));

    for step in 0..options.n_steps {
        kernel.propose(model, &mut eval, &cur, &mut prop, &mut rngs, &mut log_ratio)?;
        let (mut n_accepted, mut n_finite, mut error_sum) = (0usize, 0usize, 0.0f64);
        for (c, rng) in rngs.iter_mut().enumerate() {
            let u: f64 = rng.gen();
            if !(prop.row_finite(c, D) && log_ratio[c].is_finite()) {
                stats.divergences[c] += 1;
                continue;
            }
            n_finite += 1;
            error_sum += log_ratio[c].abs();
            if u.ln() < log_ratio[c] {
                cur.copy_row_from(&prop, c, D);
                accepted[c] += 1;
                n_accepted += 1;
            }
        }
        if let Some(diag) = diagnostics.as_mut() {
            diag.record_moments(&cur.x);
            diag.record_energy(&cur.e);
            let mean_error = if n_finite > 0 {
                error_sum / n_finite as f64
            } else {
                f64::NAN
            };
            diag.record_acceptance(n_accepted as f64 / n as f64, mean_error);
        }
        if let Some(traj) = trajectory.as_mut() {
            traj.after_step(step, &cur.x);
        }
    }
    let samples = eval.into_batch(&cur.x);
    let steps = options.n_steps.max(1) as f64;
    for (rate, &a) in stats.acceptance_rate.iter_mut().zip(&accepted) {
        *rate = a as f64 / steps;
    }
    Ok(SampleOutput {
        samples,
        trajectory,
        diagnostics,
        chain_stats: Some(stats),
    })
}
