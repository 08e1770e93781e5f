//! Draws of NUTS (diagonal and dense mass), `Warmup` and `ReplicaExchange` recorded before the
//! run loops of warm-up and replica exchange moved into the driver
//! (`tests/data/recorded_draws_adaptive.txt`): the same runs must still give the same bits.
//!
//! `EBM_RECORD=1 cargo test -p ebm-samplers --test regression_adaptive -- --nocapture` prints the
//! lines of the current code instead of comparing, to re-record after a change of rounding that
//! is meant (say why in the file).

use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel};
use ebm_samplers::prelude::*;
use ebm_samplers::warmup::MassAdaptation;

fn fnv(bits: impl IntoIterator<Item = u64>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bits {
        for byte in b.to_le_bytes() {
            h ^= byte as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

fn bits(v: &[f64]) -> impl Iterator<Item = u64> + '_ {
    v.iter().map(|x| x.to_bits())
}

/// A fixed-step-size NUTS run on the four wells, f64 and f32: final samples, trace, statistics.
fn nuts_lines(name: &str, nuts: &Nuts, lines: &mut Vec<String>) {
    let dev = Cpu::default();
    let mix = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0: Batch<2, f64> = Cpu::seed_from_u64(5).sample_normal_like(&(6, Const::<2>));
    let out = nuts
        .run(
            &mix,
            &x0,
            &RunOptions::new(40).seed(11).trace(3).diagnostics(true),
        )
        .unwrap();
    let stats = out.chain_stats.as_ref().unwrap();
    lines.push(format!(
        "{name} f64 samples={:016x} trace={:016x} accept={:016x} grads={}",
        fnv(bits(&out.samples.as_vec())),
        fnv(bits(out.trace.as_ref().unwrap().as_slice())),
        fnv(bits(&stats.acceptance_rate)),
        stats.total_gradient_evaluations()
    ));
    let mix32 = GaussianMixture::<2, f32>::four_modes(&dev);
    let x32: Batch<2, f32> = Cpu::seed_from_u64(5).sample_normal_like(&(6, Const::<2>));
    let s32 = nuts.sample(&mix32, &x32, 40, 12).unwrap();
    lines.push(format!(
        "{name} f32 samples={:016x}",
        fnv(s32.as_vec().iter().map(|v| u64::from(v.to_bits())))
    ));
}

/// Warm-up then sampling on a correlated 3-D Gaussian: the adapted step sizes and mass, every
/// warm-up step size, and the draws.
fn warmup_line(name: &str, mass: MassAdaptation, lines: &mut Vec<String>) {
    let dev = Cpu::default();
    let model = GaussianModel::<3, f64>::from_slices(
        &dev,
        &[1.0, -1.0, 0.5],
        &[2.0, 0.6, 0.0, 0.6, 1.0, 0.3, 0.0, 0.3, 0.5],
    )
    .unwrap();
    let x0: Batch<3, f64> = Cpu::seed_from_u64(8).sample_normal_like(&(4, Const::<3>));
    let run = Warmup {
        n_warmup: 200,
        n_draws: 60,
        seed: 21,
        mass,
        progress: false,
        ..Warmup::default()
    }
    .run(&Nuts::default(), &model, &x0)
    .unwrap();
    let mass_bits: Vec<u64> = match &run.mass {
        Some(MassMatrix::Diagonal(m)) | Some(MassMatrix::Dense(m)) => bits(m).collect(),
        _ => Vec::new(),
    };
    lines.push(format!(
        "{name} f64 step_sizes={} mass={:016x} warmup_steps={:016x} warmup={:016x} draws={:016x} \
         accept={:016x}",
        run.step_sizes
            .iter()
            .map(|v| format!("{:016x}", v.to_bits()))
            .collect::<Vec<_>>()
            .join(","),
        fnv(mass_bits),
        fnv(bits(&run.warmup_step_sizes)),
        fnv(bits(run.warmup.trace.as_slice())),
        fnv(bits(run.sampling.trace.as_slice())),
        fnv(run
            .sampling
            .stats
            .info
            .iter()
            .map(|i| i.accept_prob().to_bits())),
    ));
}

/// Replica exchange on the cold four wells with two exploration steps per scan, after two rounds
/// of ladder tuning: the ladder, the cold chains' trace and statistics, the swap statistics.
fn replica_line(name: &str, scheme: SwapScheme, lines: &mut Vec<String>) {
    let dev = Cpu::default();
    let model =
        ebm_core::energy::Scaled::new(GaussianMixture::<2, f64>::four_modes(&dev), 10.0).unwrap();
    let pt = ReplicaExchange::geometric(Mala::new(0.05, 1.0).unwrap(), 20.0, 5)
        .unwrap()
        .with_explore_steps(2)
        .unwrap()
        .with_scheme(scheme);
    let x0: Batch<2, f64> = Cpu::seed_from_u64(3).sample_normal_like(&(4, Const::<2>));
    let mut state = pt.init(&model, &x0, 17).unwrap();
    let ladder = pt.tune_ladder(&model, &mut state, 2).unwrap();
    let out = pt
        .run_from(&model, &mut state, &RunOptions::new(50).trace(1))
        .unwrap();
    let s = &out.swaps;
    lines.push(format!(
        "{name} f64 ladder={:016x} trace={:016x} accept={:016x} swaps={:016x} rejection={:016x} \
         explorer={:016x} round_trips={:?}",
        fnv(bits(&ladder)),
        fnv(bits(out.cold.trace.as_ref().unwrap().as_slice())),
        fnv(bits(
            &out.cold.chain_stats.as_ref().unwrap().acceptance_rate
        )),
        fnv(bits(&s.acceptance_rate)),
        fnv(bits(&s.rejection)),
        fnv(bits(&s.explorer_acceptance)),
        s.round_trips
    ));
}

#[test]
fn adaptive_and_tempered_draws_match_those_recorded() {
    let mut lines = Vec::new();
    nuts_lines("nuts", &Nuts::new(0.4).unwrap(), &mut lines);
    nuts_lines(
        "nuts_diag",
        &Nuts::new(0.4)
            .unwrap()
            .with_mass(MassMatrix::Diagonal(vec![1.5, 0.7]))
            .unwrap(),
        &mut lines,
    );
    nuts_lines(
        "nuts_dense",
        &Nuts::new(0.4)
            .unwrap()
            .with_mass(MassMatrix::Dense(vec![2.0, 0.3, 0.3, 0.7]))
            .unwrap(),
        &mut lines,
    );
    warmup_line("warmup_diag", MassAdaptation::GradientDiagonal, &mut lines);
    warmup_line("warmup_dense", MassAdaptation::Dense, &mut lines);
    replica_line("replica_nonrev", SwapScheme::NonReversible, &mut lines);
    replica_line("replica_rev", SwapScheme::Reversible, &mut lines);
    if std::env::var("EBM_RECORD").is_ok() {
        for l in &lines {
            println!("{l}");
        }
        return;
    }
    let recorded: Vec<&str> = include_str!("data/recorded_draws_adaptive.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(recorded.len(), lines.len());
    for (now, before) in lines.iter().zip(recorded) {
        assert_eq!(now, before);
    }
}
