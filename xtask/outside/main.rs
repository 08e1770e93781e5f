//! A crate outside the ebm workspace, as a user writes one: its `Cargo.toml` (written by
//! `cargo xtask outside`) lists ebm-core, ebm-models, ebm-samplers, ebm-diagnostics, ebm-storage and
//! ebm-train by path, with no `[patch]` section and no dfdx of its own.
//!
//! `outside-check INPUT OUTPUT REPS` runs the README's first example, an `#[energy]` network sampled
//! by Langevin dynamics (the benchmark's `mlp2d_langevin_user`, weights and starting points read
//! from INPUT), a run streamed to a store and summarised from disk, a network written with
//! `#[energy(trainable)]` trained by contrastive divergence and saved to `.npz`, and writes the
//! network's draws to OUTPUT. The last line printed is JSON with the network's best time over REPS runs.

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use ebm_storage::{DrawStore, Phase, StoreOptions, StoredRun};
use std::time::Instant;

include!("network.rs");

type Error = Box<dyn std::error::Error>;

/// A small network written as a function whose arrays `ebm-train` trains.
#[energy(trainable)]
fn small_net(x: Batch<2>, w1: [[f32; 16]; 2], b1: [f32; 16], w2: [[f32; 1]; 16]) -> Energies {
    let n = x.shape().0;
    let h = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&(n, Const::<16>))).silu();
    h.matmul(w2).sum::<_, Axis<1>>()
}

/// Trains the function's network for a few iterations, saves it and loads it back.
fn trained(dir: &std::path::Path) -> Result<(), Error> {
    use ebm_train::cd::{PcdConfig, PcdTrainer};
    let data: Vec<f32> = ebm_train::data::Toy::ring8()
        .sample(1000, 0)?
        .into_iter()
        .flatten()
        .collect();
    let dev = Cpu::default();
    let config = PcdConfig {
        batch: 64,
        ..PcdConfig::cd_from_data(30)
    };
    let mut trainer =
        PcdTrainer::<2, _, _>::new(SmallNet::init(&dev, 0)?, Mala::new(0.01, 1.0)?, data, config, 0)?;
    let before = trainer.network().w1.as_vec();
    for _ in 0..30 {
        assert!(trainer.step()?.loss.is_finite());
    }
    assert_ne!(trainer.network().w1.as_vec(), before);
    let path = dir.join("small_net.npz");
    ebm_train::io::save_npz(trainer.network(), &path)?;
    let mut loaded = SmallNet::<f32>::init(&dev, 1)?;
    ebm_train::io::load_npz(&mut loaded, &path)?;
    let x: Batch<2> = dev.tensor_from_vec(vec![0.5, -1.0, 2.0, 0.0], (2, Const::<2>));
    assert_eq!(loaded.energy(x.clone()).as_vec(), trainer.network().energy(x).as_vec());
    println!("#[energy(trainable)]: trained 30 iterations, saved and loaded");
    Ok(())
}

/// The README's first example, with its assertions.
fn readme_first_example() -> Result<(), Error> {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
    let sampler = LangevinDynamics::new(0.1, 0.1)?; // step_size, noise_scale

    let x0: Batch<2> = dev.sample_normal_like(&(1000, Const::<2>)); // 1000 chains from N(0, I)
    let samples = sampler.sample(&model, &x0, 100, 42)?; // 100 steps, seed 42

    let out = sampler.run(
        &model,
        &x0,
        &RunOptions::new(100).seed(42).trace(10).diagnostics(true),
    )?;
    assert_eq!(samples.shape().0, 1000);
    assert_eq!(out.trace.unwrap().shape(), [1000, 10, 2]);
    let x = samples.as_vec();
    let mean = |k: usize| x.iter().skip(k).step_by(2).sum::<f32>() / 1000.0;
    println!(
        "README example: 1000 chains, sample mean ({:.3}, {:.3}), target mean (1, -1)",
        mean(0),
        mean(1)
    );
    assert!((mean(0) - 1.0).abs() < 0.05 && (mean(1) + 1.0).abs() < 0.05);
    Ok(())
}

/// A short HMC run streamed to a store in `dir`, read back and summarised by ebm-diagnostics.
fn stored_run(dir: &std::path::Path) -> Result<(), Error> {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
    let hmc = HamiltonianMonteCarlo::new(0.3, 8)?;
    let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
    let mut state = hmc.init(&model, &x0, 7)?;
    let path = dir.join("run.zarr");
    let mut store = DrawStore::<2, f64>::create(&path, 4, StoreOptions::new().overwrite(true))?;
    store.run(&hmc, &model, &mut state, Phase::Sampling, 500)?;
    drop(store);
    let summary = StoredRun::<f64>::open(&path)?.summary()?;
    let rhat = summary.max_r_hat();
    let draws = StoredRun::<f64>::open(&path)?.positions(Phase::Sampling)?;
    // Chain 0's first coordinate: the draws are stored chain by chain, then draw, then coordinate.
    let chain0: Vec<f64> = draws.data[..draws.n_draws * 2]
        .iter()
        .step_by(2)
        .copied()
        .collect();
    let ess = ebm_diagnostics::ess_bulk(&[&chain0])?;
    println!("stored HMC run: 4 chains x 500 draws, max R-hat {rhat:.3}, bulk ESS of x0 in chain 0 {ess:.0}");
    assert!(rhat < 1.05 && ess > 50.0);
    Ok(())
}

fn read_f32s(bytes: &[u8], at: &mut usize, n: usize) -> Result<Vec<f32>, Error> {
    let end = *at + 4 * n;
    let chunk = bytes.get(*at..end).ok_or("input file too short")?;
    *at = end;
    Ok(chunk
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn array<const N: usize>(v: &[f32]) -> [f32; N] {
    std::array::from_fn(|i| v[i])
}

fn matrix<const I: usize, const O: usize>(v: &[f32]) -> [[f32; O]; I] {
    std::array::from_fn(|i| std::array::from_fn(|o| v[i * O + o]))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, reps] = args.as_slice() else {
        return Err("usage: outside-check INPUT OUTPUT REPS".into());
    };
    let reps: usize = reps.parse()?;
    readme_first_example()?;
    let dir = std::path::Path::new(output)
        .parent()
        .ok_or("OUTPUT has no folder")?;
    stored_run(dir)?;
    trained(dir)?;

    // INPUT: w1 (2 x 64, inputs first), b1, w2 (64 x 64), b2, w3 (64 x 1), x0 (1000 x 2), f32 LE.
    let bytes = std::fs::read(input)?;
    let mut at = 0;
    let w1 = read_f32s(&bytes, &mut at, 2 * 64)?;
    let b1 = read_f32s(&bytes, &mut at, 64)?;
    let w2 = read_f32s(&bytes, &mut at, 64 * 64)?;
    let b2 = read_f32s(&bytes, &mut at, 64)?;
    let w3 = read_f32s(&bytes, &mut at, 64)?;
    let x0 = read_f32s(&bytes, &mut at, 1000 * 2)?;
    let dev = Cpu::default();
    let model = UserMlp64::new(
        &dev,
        matrix::<2, 64>(&w1),
        array(&b1),
        matrix::<64, 64>(&w2),
        array(&b2),
        matrix::<64, 1>(&w3),
    )?;
    let x0: Batch<2> = dev.tensor_from_vec(x0, (1000, Const::<2>));
    let sampler = LangevinDynamics::new(0.01, 1.0)?;
    let mut best = f64::INFINITY;
    let mut draws = Vec::new();
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let x = sampler.sample(&model, &x0, 100, 2026)?;
        best = best.min(started.elapsed().as_secs_f64());
        draws = x.as_vec();
    }
    let out: Vec<u8> = draws.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(output, out)?;
    println!(
        "#[energy] MLP 2-64-64-1: Langevin 1000 chains x 100 steps, best of {reps}: {:.2} ms",
        best * 1e3
    );
    println!("{{\"mlp2d_langevin_user_ms\": {:.4}}}", best * 1e3);
    Ok(())
}
