//! `train_ring8_pcd`: TorchEBM 0.8.9's training benchmark, run by `ebm-train` with the same
//! definition. From the header of the peer script that times TorchEBM (`torchebm_train_bench.py`):
//!
//! - data: the equal-weight mixture of 8 isotropic Gaussians, sd 0.15, centres on the circle of
//!   radius 2 at angles `2 pi k / 8`; 20 000 training points drawn once per seed (2 500 per mode,
//!   shuffled), each batch of 256 drawn from them uniformly with replacement;
//! - energy: an MLP 2-128-128-1 with SiLU, PyTorch's default `Linear` initialisation;
//! - negatives: Langevin `x <- x - h grad E(x) + sqrt(2 h) xi`, `h = 0.01`, 20 steps per iteration,
//!   persistent as TorchEBM's PCD: a buffer of 10 000 points from `0.01 N(0, I)` run 100 steps in
//!   chunks of 1024 before the first iteration (timed); stratified picks with stride 39; 12 of the
//!   256 starts nudged by `0.01 N(0, I)`; end points written first in, first out;
//! - loss `mean E(data) - mean E(neg) + 0.001 (mean E(data)^2 + mean E(neg)^2)`, Adam `1e-3`, 2000
//!   iterations, seeds 0, 1, 2;
//! - quality on a 401 x 401 grid over `[-4, 4]^2`: KL(true || model), the model's mass within 0.6 of
//!   each centre (truth `(1 - e^-8) / 8 = 0.12496`), the held-out NLL of 10 000 points drawn with
//!   seed `10000 + s`.
//!
//! The random streams are ours (ChaCha8), so runs compare in distribution, not bit for bit.
//!
//! Beside the like-for-like runs, the case trains the library's own best configuration for this
//! data ([`best_config`]): the same network, data and batch, negatives by CD-20 from the data batch
//! under MALA (`h = 0.01`), the regulariser at `alpha = 0.05`, Adam's rate on a cosine from `1e-3`
//! to `1e-4`, 4000 iterations; it reports the same figures and its wall time.

use ebm_samplers::{Kernel, LangevinDynamics, Mala};
use ebm_train::cd::{PcdConfig, PcdTrainer};
use ebm_train::data::Toy;
use ebm_train::eval::{mixture_report, Grid};
use ebm_train::nn::{build_network, SiluMlp};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Hidden units per layer.
const H: usize = 128;

/// Flop of one iteration: 20 Langevin steps on 256 rows, forward and backward (each a product per
/// layer), and one forward and backward pass on 512 rows with the weights' gradients (three
/// products per layer).
fn flop_per_iteration() -> f64 {
    let macs_per_row = (2 * H + H * H + H) as f64;
    20.0 * 256.0 * 2.0 * 2.0 * macs_per_row + 512.0 * 3.0 * 2.0 * macs_per_row
}

/// SiLUs of one iteration: two layers of 128 per row and step, forward (and the backward pass's
/// derivatives reuse the forward's sigmoid).
fn silus_per_iteration() -> f64 {
    20.0 * 256.0 * 2.0 * H as f64 + 512.0 * 2.0 * H as f64
}

/// The machine's rates on the case's shapes: `(64 x 128) (128 x 128)` products with the library's
/// row-block kernel, one block per thread at a time, and the vectorised tanh behind the SiLU.
fn hardware_rates() -> (f64, f64) {
    let threads = rayon::current_num_threads().max(1);
    let b: Vec<f32> = (0..H * H)
        .map(|k| ((k % 97) as f32 - 48.0) / 400.0)
        .collect();
    let blocks: Vec<Vec<f32>> = (0..threads * 4)
        .map(|t| (0..64 * H).map(|k| ((k + t) % 13) as f32 / 13.0).collect())
        .collect();
    let reps = 400;
    // Each block multiplied `reps` times, the blocks spread over the threads.
    let best = super::hardware::seconds_per_call(3, 1, || {
        blocks.par_iter().for_each(|x| {
            let mut out = vec![0.0f32; 64 * H];
            for _ in 0..reps {
                ebm_kernels::rows_times_matrix(x, &b, H, H, &mut out).unwrap();
                std::hint::black_box(&mut out);
            }
        })
    });
    let flops = (blocks.len() * reps) as f64 * 2.0 * (64 * H * H) as f64 / best;
    let mut v: Vec<f32> = (0..64 * H).map(|k| (k % 200) as f32 / 50.0 - 2.0).collect();
    let best_t = super::hardware::seconds_per_call(3, reps, || {
        ebm_core::activation::tanh_in_place(&mut v);
        std::hint::black_box(&mut v);
    });
    let tanh_rate = (64 * H) as f64 / best_t * threads as f64;
    (flops, tanh_rate)
}

/// Iterations of the best configuration: as many as fit, with room to spare, in the time TorchEBM
/// takes for the case's 2000.
pub const BEST_ITERATIONS: usize = 4000;

/// The library's best configuration for the case's data, found by trying the trainer's choices
/// ([`PcdConfig::cd_from_data`]): CD-20 from the data batch with MALA `h = 0.01`, `alpha = 0.05`,
/// Adam's rate on a cosine from `1e-3` to `1e-4`, [`BEST_ITERATIONS`] iterations.
pub fn best_config() -> PcdConfig {
    PcdConfig::cd_from_data(BEST_ITERATIONS)
}

/// One seed's run of the case (`best`: with [`best_config`] and MALA).
fn train(seed: u64, iterations: usize, best: bool) -> Result<Value, String> {
    if best {
        let sampler = Mala::new(0.01, 1.0).map_err(|e| e.to_string())?;
        train_with(seed, iterations, sampler, best_config())
    } else {
        let sampler = LangevinDynamics::new(0.01, 1.0).map_err(|e| e.to_string())?;
        train_with(seed, iterations, sampler, PcdConfig::default())
    }
}

fn train_with<S: Kernel>(
    seed: u64,
    iterations: usize,
    sampler: S,
    config: PcdConfig,
) -> Result<Value, String> {
    let toy = Toy::ring8();
    let data: Vec<f32> = toy
        .sample(20_000, seed)
        .map_err(|e| e.to_string())?
        .into_iter()
        .flatten()
        .collect();
    let network = build_network::<SiluMlp<2, H>>(seed);
    let mut trainer = PcdTrainer::<2, _, S>::new(network, sampler, data, config, seed)
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for _ in 0..iterations {
        trainer.step().map_err(|e| e.to_string())?;
    }
    let train_s = started.elapsed().as_secs_f64();
    let truth = toy.mixture().expect("a mixture");
    let test = toy
        .sample(10_000, 10_000 + seed)
        .map_err(|e| e.to_string())?;
    let model = trainer.energy().map_err(|e| e.to_string())?;
    let r =
        mixture_report(&model, &truth, Grid::default(), 0.6, &test).map_err(|e| e.to_string())?;
    Ok(json!({
        "seed": seed,
        "iters": iterations,
        "batch": 256,
        "train_s": train_s,
        "ms_per_iter": 1e3 * train_s / iterations as f64,
        "kl_true_model": r.kl_true_model,
        "mode_mass": r.mode_mass,
        "nll_test": r.nll_test,
        "nll_test_truth": r.nll_test_truth,
    }))
}

/// The peer's runs from the last line of its script's output, if given.
fn peer_runs(path: &str) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or(format!("{path} is empty"))?;
    let v: Value = serde_json::from_str(last).map_err(|e| format!("{path}: last line: {e}"))?;
    v["runs"]
        .as_array()
        .cloned()
        .ok_or(format!("{path}: the last line has no `runs`"))
}

fn summary(runs: &[Value], key: &str) -> String {
    runs.iter()
        .map(|r| r[key].as_f64().map_or("-".into(), |v| format!("{v:.2}")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the case over `seeds` and returns its JSON entry.
pub fn run(
    seeds: &[u64],
    iterations: usize,
    peer: Option<&str>,
) -> Result<Map<String, Value>, String> {
    println!();
    println!(
        "train_ring8_pcd: MLP 2-128-128-1 SiLU, PCD (Langevin h=0.01 s=1, 20 steps, buffer 10 000), \
         batch 256, Adam 1e-3, {iterations} iterations, seeds {seeds:?}"
    );
    let (flops, tanh_rate) = hardware_rates();
    let floor_ms = 1e3 * (flop_per_iteration() / flops + silus_per_iteration() / tanh_rate);
    let print = |label: &str, seed: u64, r: &Value| {
        let masses: Vec<String> = r["mode_mass"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|v| format!("{:.3}", v.as_f64().unwrap_or(f64::NAN)))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "  {label} seed {seed}: {:.2} ms/iter ({:.1} s), KL(true || model) {:.3}, NLL {:.3} (truth {:.3}), mode mass {}",
            r["ms_per_iter"].as_f64().unwrap_or(f64::NAN),
            r["train_s"].as_f64().unwrap_or(f64::NAN),
            r["kl_true_model"].as_f64().unwrap_or(f64::NAN),
            r["nll_test"].as_f64().unwrap_or(f64::NAN),
            r["nll_test_truth"].as_f64().unwrap_or(f64::NAN),
            masses.join(" ")
        );
    };
    let mut runs = Vec::new();
    for &seed in seeds {
        let r = train(seed, iterations, false)?;
        print("ebm", seed, &r);
        runs.push(r);
    }
    let mut best_runs = Vec::new();
    for &seed in seeds {
        let r = train(seed, BEST_ITERATIONS, true)?;
        print(
            "ebm best (CD-20 from data, MALA h=0.01, alpha 0.05, lr cosine 1e-3..1e-4)",
            seed,
            &r,
        );
        best_runs.push(r);
    }
    let mean_ms = runs
        .iter()
        .filter_map(|r| r["ms_per_iter"].as_f64())
        .sum::<f64>()
        / runs.len().max(1) as f64;
    println!(
        "  hardware floor: {:.3e} flop/iter at {:.1} GFLOP/s + {:.2e} SiLU/iter at {:.0} M/s = {floor_ms:.2} ms/iter; \
         ebm / floor = {:.2}",
        flop_per_iteration(),
        flops * 1e-9,
        silus_per_iteration(),
        tanh_rate * 1e-6,
        mean_ms / floor_ms
    );
    let mut entry = json!({
        "runs": runs,
        "best_config": {
            "starts": "data (CD-20)",
            "sampler": "MALA h=0.01",
            "alpha": 0.05,
            "lr": "cosine 1e-3 to 1e-4",
            "iters": BEST_ITERATIONS,
            "runs": best_runs,
        },
        "ms_per_iter_mean": mean_ms,
        "hardware_floor_ms": floor_ms,
        "product_gflops": flops * 1e-9,
    });
    if let Some(path) = peer {
        let peer = peer_runs(path)?;
        let peer_ms = peer
            .iter()
            .filter_map(|r| r["ms_per_iter"].as_f64())
            .sum::<f64>()
            / peer.len().max(1) as f64;
        println!(
            "  TorchEBM ({path}): ms/iter {}, KL {}; ebm is {:.2}x faster per iteration",
            summary(&peer, "ms_per_iter"),
            summary(&peer, "kl_true_model"),
            peer_ms / mean_ms
        );
        let peer_s = peer
            .iter()
            .filter_map(|r| r["train_s"].as_f64())
            .fold(f64::INFINITY, f64::min);
        let best_s = best_runs
            .iter()
            .filter_map(|r| r["train_s"].as_f64())
            .fold(0.0, f64::max);
        println!(
            "  best configuration: longest run {best_s:.1} s against TorchEBM's shortest {peer_s:.1} s"
        );
        entry["torchebm_runs"] = Value::Array(peer);
        entry["speedup_vs_torchebm"] = json!(peer_ms / mean_ms);
    }
    let mut out = Map::new();
    out.insert("train_ring8_pcd".into(), entry);
    Ok(out)
}
