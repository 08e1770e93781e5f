//! The initial step size of each chain (Hoffman and Gelman 2014, algorithm 4).

use super::adaptable::Adaptable;
use crate::chain::{ChainState, Points, Target};
use crate::kernels::MassMatrix;
use crate::kernels::{leapfrog_host, Step};
use ebm_core::check;
use ebm_core::prelude::*;

/// The heuristic of Hoffman and Gelman (2014, algorithm 4), chain by chain: from the current step
/// size, double or halve until the acceptance probability of one leapfrog step from a fresh
/// momentum crosses 1/2. Draws the momenta from the chains' own streams; adds the rows it
/// evaluates to `evaluations`.
pub(super) fn initial_step_sizes<K, const D: usize, E, Dev, M>(
    kernel: &K,
    target: &mut Target<'_, D, E, Dev, M>,
    state: &mut ChainState<D, E, Dev>,
    evaluations: &mut u64,
) -> Result<Vec<f64>>
where
    K: Adaptable,
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    let n = state.n_chains();
    let mass = kernel
        .mass_matrix()
        .cloned()
        .unwrap_or(MassMatrix::Identity)
        .prepare::<E>(D)?;
    let mut eps: Vec<f64> = state
        .step_sizes()
        .iter()
        .map(|&h| kernel.leapfrog_from_step_size(h))
        .collect();
    let mut direction = vec![0i8; n];
    let mut done = vec![false; n];
    let mut momentum = vec![E::zero(); n * D];
    let mut start_kinetic = vec![0.0; n];
    for (c, row) in momentum.chunks_exact_mut(D).enumerate() {
        for v in row.iter_mut() {
            *v = E::standard_normal(&mut state.rngs[c]);
        }
        mass.momentum(row);
        let t = state.temperature[c];
        if t != 1.0 {
            let s = E::of(t.sqrt());
            row.iter_mut().for_each(|v| *v *= s);
        }
        start_kinetic[c] = mass.kinetic(row);
    }
    let mut pts: Points<E> = state.points.clone();
    let mut p = momentum.clone();
    for _round in 0..60 {
        pts.x.copy_from_slice(&state.points.x);
        pts.g.copy_from_slice(&state.points.g);
        p.copy_from_slice(&momentum);
        let eps_e: Vec<E> = eps.iter().map(|&e| E::of(e)).collect();
        leapfrog_host(target, &mass, Step::PerChain(&eps_e), 1, &mut pts, &mut p)?;
        *evaluations += n as u64;
        let mut all_done = true;
        for c in 0..n {
            if done[c] {
                continue;
            }
            let h0 = state.points.e[c].as_f64() + start_kinetic[c];
            let h1 = pts.e[c].as_f64() + mass.kinetic(&p[c * D..(c + 1) * D]);
            let t = state.temperatures()[c].max(f64::MIN_POSITIVE);
            let log_a = (h0 - h1) / t;
            let log_a = if log_a.is_finite() {
                log_a
            } else {
                f64::NEG_INFINITY
            };
            let up = log_a > (0.5f64).ln();
            if direction[c] == 0 {
                direction[c] = if up { 1 } else { -1 };
            }
            let crossed = (direction[c] == 1 && !up) || (direction[c] == -1 && up);
            if crossed || !(1e-10..1e7).contains(&eps[c]) {
                done[c] = true;
                if direction[c] == 1 && crossed {
                    // The last doubling went too far: keep the one before.
                    eps[c] *= 0.5;
                }
                continue;
            }
            eps[c] = if direction[c] == 1 {
                eps[c] * 2.0
            } else {
                eps[c] * 0.5
            };
            all_done = false;
        }
        if all_done {
            break;
        }
    }
    Ok(eps
        .into_iter()
        .map(|e| {
            let h = kernel.step_size_from_leapfrog(e);
            check::positive("step_size", h).unwrap_or(1e-3)
        })
        .collect())
}
