//! nuts-rs 0.19.1 as a peer of the NUTS cases, built only with `cargo run --release -p xtask
//! --features nuts-rs -- bench` (so `cargo test` and CI never compile it). It runs on exactly the
//! density code of our rows (the models' `host_energy_and_gradient`, one chain per call), from the
//! same starting points, with nuts-rs's defaults (target 0.8, max depth 10, 1000 tune + 1000
//! draws) and either of its mass adaptations, diagonal (its default) or low-rank
//! ([`PeerMass`]), and its draws go through the same ESS and R-hat code as ours.

use super::nuts::Row;
use ebm_core::prelude::*;
use ebm_samplers::diagnostics::{ess_bulk, rhat};
use nuts_rs::rand::{rngs::StdRng, SeedableRng};
use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, HasDims, LowRankNutsSettings,
    Settings,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The density never fails.
#[derive(Debug)]
pub enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl nuts_rs::LogpError for Never {
    fn is_recoverable(&self) -> bool {
        match *self {}
    }
}

/// `log p = -E` and its gradient from one of our models, one chain at a time, counting the
/// calls.
struct Density<'a, const D: usize, M> {
    model: &'a M,
    calls: &'a AtomicU64,
}

impl<const D: usize, M> HasDims for Density<'_, D, M> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([
            ("unconstrained_parameter".to_string(), D as u64),
            ("dim".to_string(), D as u64),
        ])
    }
}

impl<const D: usize, M: Energy<D, f64, Cpu>> CpuLogpFunc for Density<'_, D, M> {
    type LogpError = Never;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        D
    }

    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, Never> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut e = [0.0];
        let ok = self.model.host_energy_and_gradient(x, &mut e, grad);
        assert!(ok, "the bench models have host paths");
        grad.iter_mut().for_each(|g| *g = -*g);
        Ok(-e[0])
    }

    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        array: &[f64],
    ) -> Result<Vec<f64>, CpuMathError> {
        Ok(array.to_vec())
    }
}

/// One chain's run: kept draws and its counts and times.
#[derive(Default)]
struct ChainRun {
    draws: Vec<f64>,
    /// Gradient evaluations before the first draw: the tuning draws' and the rest (the starting
    /// point's and the step-size searches').
    warm_grads: u64,
    /// The part of `warm_grads` outside the tuning draws' trajectories.
    warm_outside: u64,
    grads: u64,
    steps: u64,
    divergences: usize,
    step_size: f64,
    warm_s: f64,
    sampling_s: f64,
}

/// Which of nuts-rs's mass-matrix adaptations a peer row uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMass {
    /// Its default: a diagonal mass from the draws and gradients.
    Diag,
    /// Its low-rank adaptation: the diagonal plus a low-rank correction from the draws and
    /// gradients, with its default settings.
    LowRank,
}

impl PeerMass {
    fn name(self) -> &'static str {
        match self {
            PeerMass::Diag => "diag",
            PeerMass::LowRank => "lowrank",
        }
    }
}

/// Chain `chain`'s 1000 tuning draws and 1000 draws from `start`, its stream seeded by
/// `seed + chain`, with the mass adaptation `mass`.
fn run_chain<const D: usize, M: Energy<D, f64, Cpu>>(
    model: &M,
    start: &[f64],
    chain: u64,
    seed: u64,
    mass: PeerMass,
) -> Result<ChainRun, String> {
    match mass {
        PeerMass::Diag => {
            let settings = DiagNutsSettings {
                num_tune: 1000,
                num_draws: 1000,
                ..DiagNutsSettings::default()
            };
            run_chain_with(settings, model, start, chain, seed)
        }
        PeerMass::LowRank => {
            let settings = LowRankNutsSettings {
                num_tune: 1000,
                num_draws: 1000,
                ..LowRankNutsSettings::default()
            };
            run_chain_with(settings, model, start, chain, seed)
        }
    }
}

/// [`run_chain`] with nuts-rs settings `settings`.
fn run_chain_with<const D: usize, M: Energy<D, f64, Cpu>, S: Settings>(
    settings: S,
    model: &M,
    start: &[f64],
    chain: u64,
    seed: u64,
) -> Result<ChainRun, String> {
    let mut rng = StdRng::seed_from_u64(seed + chain);
    let calls = AtomicU64::new(0);
    let math = CpuMath::new(Density::<D, M> {
        model,
        calls: &calls,
    });
    let mut sampler = settings
        .new_chain(chain, math, &mut rng)
        .map_err(|e| e.to_string())?;
    let mut out = ChainRun {
        draws: Vec::with_capacity(1000 * D),
        ..ChainRun::default()
    };
    let clock = Instant::now();
    // Evaluations at the random starting point `new_chain` may draw do not count: the chain
    // starts from `start`.
    let before = calls.load(Ordering::Relaxed);
    sampler.set_position(start).map_err(|e| e.to_string())?;
    for i in 0..2000 {
        if i == 1000 {
            out.warm_s = clock.elapsed().as_secs_f64();
            let all = calls.load(Ordering::Relaxed) - before;
            out.warm_outside = all - out.warm_grads;
            out.warm_grads = all;
        }
        let (draw, info) = sampler.draw().map_err(|e| e.to_string())?;
        if info.tuning {
            out.warm_grads += info.num_gradients;
        } else {
            out.grads += info.num_gradients;
            out.steps += info.num_steps;
            out.divergences += usize::from(info.diverging);
            out.step_size = info.step_size;
            out.draws.extend_from_slice(&draw);
        }
    }
    out.sampling_s = clock.elapsed().as_secs_f64() - out.warm_s;
    Ok(out)
}

/// Every chain's run, by thread.
type ThreadRuns = Vec<Result<Vec<(usize, ChainRun)>, String>>;

/// One timed run of all chains, spread over `threads` threads.
fn timed_run<const D: usize, M: Energy<D, f64, Cpu> + Sync>(
    model: &M,
    x0: &[f64],
    threads: usize,
    seed: u64,
    mass: PeerMass,
) -> (f64, ThreadRuns) {
    let n = x0.len() / D;
    let clock = Instant::now();
    let per_thread: ThreadRuns = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|c| {
                            let x = &x0[c * D..(c + 1) * D];
                            Ok((c, run_chain(model, x, c as u64, seed, mass)?))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a peer thread panicked".into()))
            })
            .collect()
    });
    (clock.elapsed().as_secs_f64(), per_thread)
}

/// Runs nuts-rs on `model` from the rows of `x0` (one chain each), its chains spread over `threads`
/// threads (each runs its chains one after another), chain `c`'s stream seeded by `seed + c`,
/// with the mass adaptation `mass`; returns a row like ours.
pub fn measure<const D: usize, M: Energy<D, f64, Cpu> + Sync>(
    name: &'static str,
    model: &M,
    x0: &Batch<D, f64>,
    threads: usize,
    seed: u64,
    mass: PeerMass,
) -> Result<Row, String> {
    let x0 = x0.as_vec();
    let n = x0.len() / D;
    let (wall, per_thread) = timed_run(model, &x0, threads, seed, mass);
    let mut runs: Vec<(usize, ChainRun)> = Vec::with_capacity(n);
    let (mut tw, mut ts) = (0.0f64, 0.0f64);
    for r in per_thread {
        let r = r?;
        tw = tw.max(r.iter().map(|(_, c)| c.warm_s).sum());
        ts = ts.max(r.iter().map(|(_, c)| c.sampling_s).sum());
        runs.extend(r);
    }
    runs.sort_by_key(|(c, _)| *c);
    let runs: Vec<ChainRun> = runs.into_iter().map(|(_, r)| r).collect();
    let mut min_bulk = f64::INFINITY;
    let mut max_rhat = 0.0f64;
    for i in 0..D {
        let coord: Vec<Vec<f64>> = runs
            .iter()
            .map(|r| r.draws.iter().skip(i).step_by(D).copied().collect())
            .collect();
        let refs: Vec<&[f64]> = coord.iter().map(Vec::as_slice).collect();
        min_bulk = min_bulk.min(ess_bulk(&refs).map_err(|e| e.to_string())?);
        max_rhat = max_rhat.max(rhat(&refs).map_err(|e| e.to_string())?);
    }
    // The energy of every kept draw, evaluated after the run (not timed, not counted).
    let energy: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            r.draws
                .chunks_exact(D)
                .map(|x| {
                    let (mut e, mut g) = ([0.0], [0.0; D]);
                    model.host_energy_and_gradient(x, &mut e, &mut g);
                    e[0]
                })
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = energy.iter().map(Vec::as_slice).collect();
    let energy_ess = ess_bulk(&refs).map_err(|e| e.to_string())?;
    let warm_grads: u64 = runs.iter().map(|r| r.warm_grads).sum();
    let warm_outside: u64 = runs.iter().map(|r| r.warm_outside).sum();
    let grads: u64 = runs.iter().map(|r| r.grads).sum();
    let steps: u64 = runs.iter().map(|r| r.steps).sum();
    let divergences: usize = runs.iter().map(|r| r.divergences).sum();
    let leapfrog_per_draw = steps as f64 / (n * 1000) as f64;
    let mut extra = serde_json::Map::new();
    extra.insert("peer".into(), json!("nuts-rs 0.19.1"));
    extra.insert("threads".into(), json!(threads));
    extra.insert("leapfrog_per_draw".into(), json!(leapfrog_per_draw));
    extra.insert(
        "warmup_grads_outside_transitions".into(),
        json!(warm_outside),
    );
    let step_sizes: Vec<f64> = runs.iter().map(|r| r.step_size).collect();
    extra.insert("step_sizes".into(), json!(step_sizes));
    Ok(Row {
        name,
        mass: mass.name(),
        chains: n,
        warmup_s: tw,
        sampling_s: ts,
        total_s: wall,
        warm_grads,
        grads,
        min_bulk,
        energy_ess,
        max_rhat,
        divergences,
        depth: None,
        note: format!(
            "  nuts-rs 0.19.1, {threads} thread(s), {leapfrog_per_draw:.1} leapfrog/draw"
        ),
        extra,
    })
}
