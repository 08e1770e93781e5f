//! Draws recorded before the samplers were split into kernels, a state and a driver
//! (`tests/data/recorded_draws.txt`): the same runs must still give the same bits.

use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel};
use ebm_samplers::prelude::*;

fn fnv(bits: impl Iterator<Item = u64>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bits {
        for byte in b.to_le_bytes() {
            h ^= byte as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

fn emit<S: Sampler>(name: &str, s: &S, lines: &mut Vec<String>) {
    let dev = Cpu::default();
    let mix = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0: Batch<2, f64> = Cpu::seed_from_u64(5).sample_normal_like(&(6, Const::<2>));
    let out = s
        .run(
            &mix,
            &x0,
            &RunOptions::new(40).seed(11).trace(3).diagnostics(true),
        )
        .unwrap();
    let samples: Vec<String> = out
        .samples
        .as_vec()
        .iter()
        .map(|v| format!("{:016x}", v.to_bits()))
        .collect();
    let traj = fnv(out
        .trace
        .as_ref()
        .unwrap()
        .as_slice()
        .iter()
        .map(|v| v.to_bits()));
    let d = out.diagnostics.as_ref().unwrap();
    let diag = fnv(d.mean_energy().iter().map(|v| v.to_bits()).chain(
        d.acceptance_rate()
            .unwrap_or(&[])
            .iter()
            .map(|v| v.to_bits()),
    ));
    lines.push(format!(
        "{name} f64 {} traj={traj:016x} diag={diag:016x}",
        samples.join(",")
    ));
    let mix32 = GaussianMixture::<2, f32>::four_modes(&dev);
    let x32: Batch<2, f32> = Cpu::seed_from_u64(5).sample_normal_like(&(6, Const::<2>));
    let s32 = s.sample(&mix32, &x32, 40, 12).unwrap();
    let samples: Vec<String> = s32
        .as_vec()
        .iter()
        .map(|v| format!("{:08x}", v.to_bits()))
        .collect();
    lines.push(format!("{name} f32 {}", samples.join(",")));
}

#[test]
fn draws_match_those_recorded_before_the_kernel_split() {
    let mut lines = Vec::new();
    emit(
        "langevin",
        &LangevinDynamics::new(0.05, 0.7).unwrap(),
        &mut lines,
    );
    emit("mala", &Mala::new(0.3, 1.0).unwrap(), &mut lines);
    emit(
        "hmc",
        &HamiltonianMonteCarlo::new(0.2, 7).unwrap(),
        &mut lines,
    );
    emit(
        "hmc_diag",
        &HamiltonianMonteCarlo::new(0.2, 5)
            .unwrap()
            .with_mass(MassMatrix::Diagonal(vec![1.5, 0.7]))
            .unwrap(),
        &mut lines,
    );
    emit(
        "hmc_dense",
        &HamiltonianMonteCarlo::new(0.2, 5)
            .unwrap()
            .with_mass(MassMatrix::Dense(vec![2.0, 0.3, 0.3, 0.7]))
            .unwrap(),
        &mut lines,
    );
    // A 100-D Gaussian through the dense host path, f32, 3 chains.
    let dev = Cpu::default();
    let mean: Vec<f32> = (0..100).map(|i| (i as f32).sin()).collect();
    let cov: Vec<f32> = (0..100 * 100i32)
        .map(|k| {
            let (i, j) = (k / 100, k % 100);
            0.5f32.powi((i - j).abs()) + if i == j { 0.5 } else { 0.0 }
        })
        .collect();
    let g = GaussianModel::<100, f32>::from_slices(&dev, &mean, &cov).unwrap();
    let x0: Batch<100, f32> = Cpu::seed_from_u64(9).sample_normal_like(&(3, Const::<100>));
    for (name, v) in [
        (
            "langevin100",
            LangevinDynamics::new(0.1, 1.0)
                .unwrap()
                .sample(&g, &x0, 20, 3)
                .unwrap()
                .as_vec(),
        ),
        (
            "hmc100",
            HamiltonianMonteCarlo::new(0.1, 10)
                .unwrap()
                .sample(&g, &x0, 10, 3)
                .unwrap()
                .as_vec(),
        ),
        (
            "mala100",
            Mala::new(0.1, 1.0)
                .unwrap()
                .sample(&g, &x0, 10, 3)
                .unwrap()
                .as_vec(),
        ),
    ] {
        lines.push(format!(
            "{name} f32 hash={:016x}",
            fnv(v.iter().map(|x| x.to_bits() as u64))
        ));
    }
    let recorded: Vec<&str> = include_str!("data/recorded_draws.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(recorded.len(), lines.len());
    for (now, before) in lines.iter().zip(recorded) {
        assert_eq!(now, before);
    }
}
