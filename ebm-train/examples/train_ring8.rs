//! Trains TorchEBM's benchmark case, `train_ring8_pcd`: an MLP 2-128-128-1 with SiLU, by persistent
//! contrastive divergence (Langevin h = 0.01, noise 1, 20 steps, a buffer of 10 000, batch 256,
//! Adam 1e-3) on eight Gaussians of standard deviation 0.15 on the circle of radius 2, then prints
//! the quadrature figures: KL(true || model), the mass near each mode (truth 0.125) and the
//! held-out negative log-likelihood.
//!
//! `cargo run --release --example train_ring8 [--best] [ITERATIONS] [SEED] [OUT_DIR]` (defaults
//! 2000 and 0). `--best` trains the same network on the same data with the library's best
//! configuration for it instead (`PcdConfig::cd_from_data`): CD-20 from the data batch with MALA
//! (`h = 0.01`), the energy regulariser at `alpha = 0.05` and Adam's rate on a cosine from `1e-3` to
//! `1e-4`; run it for 4000 iterations (`--best 4000`), see `docs/training.md`.
//!
//! With `OUT_DIR`, it writes the trained parameters to `OUT_DIR/model.npz` and 100 points with
//! their energies to `OUT_DIR/points.npy` and `OUT_DIR/energies.npy`, which
//! `python3 ebm-train/examples/check_npz.py OUT_DIR` recomputes with NumPy: 50 fresh points of the
//! data's distribution, where the density lives, and 50 from `2 N(0, I)`, which reach energies of
//! several tens.

use ebm_core::prelude::*;
use ebm_samplers::{Kernel, LangevinDynamics, Mala};
use ebm_train::cd::{Flow, IterationStats, PcdConfig, PcdTrainer, TrainProgress};
use ebm_train::data::Toy;
use ebm_train::eval::{mixture_report, Grid};
use ebm_train::nn::{build_network, SiluMlp};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let best = all.iter().any(|a| a == "--best");
    let mut args = all.into_iter().filter(|a| a != "--best");
    let iterations: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let seed: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0);
    let out_dir = args.next().map(std::path::PathBuf::from);

    let toy = Toy::ring8();
    let data: Vec<f32> = toy.sample(20_000, seed)?.into_iter().flatten().collect();
    if best {
        let config = PcdConfig::cd_from_data(iterations);
        let sampler = Mala::new(0.01, 1.0)?;
        println!(
            "best configuration: CD-20 from data, MALA h = 0.01, alpha = 0.05, \
             Adam's rate on a cosine from 1e-3 to 1e-4"
        );
        train(&toy, data, sampler, config, iterations, seed, out_dir)
    } else {
        let sampler = LangevinDynamics::new(0.01, 1.0)?;
        println!("TorchEBM's case: PCD with a buffer of 10 000, Langevin h = 0.01, alpha = 0.001");
        train(
            &toy,
            data,
            sampler,
            PcdConfig::default(),
            iterations,
            seed,
            out_dir,
        )
    }
}

fn train<S: Kernel>(
    toy: &Toy,
    data: Vec<f32>,
    sampler: S,
    config: PcdConfig,
    iterations: usize,
    seed: u64,
    out_dir: Option<std::path::PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let network = build_network::<SiluMlp<2, 128>>(seed);
    let mut trainer = PcdTrainer::<2, _, S>::new(network, sampler, data, config, seed)?;

    let mut report = |s: &IterationStats| {
        if (s.iteration + 1) % 500 == 0 {
            println!(
                "iteration {:5}: loss {:+.4}, mean E(data) {:+.3}, mean E(neg) {:+.3}",
                s.iteration + 1,
                s.loss,
                s.energy_data,
                s.energy_negative
            );
        }
        Ok(Flow::Continue)
    };
    let fit = trainer.fit(
        iterations,
        &mut [&mut TrainProgress::new(iterations), &mut report],
    )?;
    let train_s = fit.seconds;

    let truth = toy.mixture().expect("a Gaussian mixture");
    let test = toy.sample(10_000, 10_000 + seed)?;
    let report = mixture_report(&trainer.energy()?, &truth, Grid::default(), 0.6, &test)?;
    println!(
        "\n{iterations} iterations in {train_s:.1} s ({:.2} ms per iteration)",
        1e3 * train_s / iterations as f64
    );
    println!("KL(true || model) = {:.3}", report.kl_true_model);
    println!(
        "held-out NLL = {:.3} (the true density: {:.3})",
        report.nll_test, report.nll_test_truth
    );
    let masses: Vec<String> = report.mode_mass.iter().map(|m| format!("{m:.3}")).collect();
    println!(
        "mass within 0.6 of each mode (truth 0.125): {}",
        masses.join(" ")
    );

    if let Some(dir) = out_dir {
        std::fs::create_dir_all(&dir)?;
        ebm_train::io::save_npz(trainer.network(), dir.join("model.npz"))?;
        let dev = Cpu::seed_from_u64(seed);
        let mut points: Vec<f32> = toy
            .sample(50, 20_000 + seed)?
            .into_iter()
            .flatten()
            .collect();
        let spread: Batch<2> = dev.sample_normal_like(&(50, Const::<2>)) * 2.0;
        points.extend(spread.as_vec());
        let x: Batch<2> = dev.tensor_from_vec(points, (100, Const::<2>));
        let e = trainer.energy()?.energy(x.clone());
        x.save_to_npy(dir.join("points.npy"))?;
        e.save_to_npy(dir.join("energies.npy"))?;
        println!(
            "\nwrote {}/model.npz, points.npy and energies.npy",
            dir.display()
        );
    }
    Ok(())
}
