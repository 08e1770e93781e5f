//! A run split into shards, as a batch scheduler runs it, then merged into one store.
//!
//! ```text
//! cargo run --release --example shards -- run I K DIR    # shard I of K: its chains, to DIR/shard-I.zarr
//! cargo run --release --example shards -- merge K DIR    # DIR/shard-*.zarr -> DIR/merged.zarr
//! ```
//!
//! As a Slurm job array (one task per shard, then the merge once they are all done):
//!
//! ```text
//! sbatch --array=0-3 --wrap 'target/release/examples/shards run $SLURM_ARRAY_TASK_ID 4 runs'
//! sbatch --dependency=singleton --wrap 'target/release/examples/shards merge 4 runs'
//! ```
//!
//! The run: HMC on a correlated 3-D Gaussian, 256 chains from seeded starting points, 1 000 draws.
//! Each shard runs chains `[I n, (I + 1) n)` with those chains' random streams
//! (`Kernel::init_shard`), so the merged store holds exactly the draws of the single run. A shard
//! killed midway resumes when run again (`open_or_create`).

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use ebm_storage::{merge_shards, DrawStore, Phase, StoreOptions};
use std::path::Path;

const CHAINS: usize = 256;
const SEED: u64 = 2024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: shards run I K DIR | shards merge K DIR";
    let number = |i: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args.get(i).ok_or(usage)?.parse::<usize>()?)
    };
    match args.first().map(String::as_str) {
        Some("run") => {
            let (i, k) = (number(1)?, number(2)?);
            let dir = Path::new(args.get(3).ok_or(usage)?);
            if k == 0 || i >= k || CHAINS % k != 0 {
                return Err(format!("shard {i} of {k}: K must divide {CHAINS} and I < K").into());
            }
            run_shard(i, k, dir)
        }
        Some("merge") => {
            let k = number(1)?;
            let dir = Path::new(args.get(2).ok_or(usage)?);
            let shards: Vec<_> = (0..k)
                .map(|i| dir.join(format!("shard-{i}.zarr")))
                .collect();
            let merged = merge_shards::<f64>(&shards, dir.join("merged.zarr"))?;
            println!(
                "merged {k} shards: {} chains x {} draws",
                merged.n_chains(),
                merged.n_draws(Phase::Sampling)
            );
            println!("{}", merged.summary()?);
            Ok(())
        }
        _ => Err(usage.into()),
    }
}

fn run_shard(i: usize, k: usize, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Cpu::default();
    let model = GaussianModel::new(
        &dev,
        [1.0f64, -1.0, 0.5],
        [[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]],
    )?;
    let hmc = HamiltonianMonteCarlo::new(0.25, 7)?;
    // Every shard draws all the starting points from one seed and takes its own rows.
    let all: Batch<3, f64> = Cpu::seed_from_u64(SEED).sample_normal_like(&(CHAINS, Const::<3>));
    let n = CHAINS / k;
    let rows = all.as_vec()[i * n * 3..(i + 1) * n * 3].to_vec();
    let x0 = dev.tensor_from_vec(rows, (n, Const::<3>));
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("shard-{i}.zarr"));
    let options = StoreOptions::new().chunk_draws(100);
    let (mut store, resumed) = DrawStore::<3, f64>::open_or_create(&path, n, options, &dev)?;
    let mut state = match resumed {
        Some(state) => state,
        None => hmc.init_shard(&model, &x0, SEED, (i * n) as u64)?,
    };
    store.run(&hmc, &model, &mut state, Phase::Sampling, 1000)?;
    println!(
        "shard {i} of {k}: chains {}..{} in {}",
        i * n,
        (i + 1) * n,
        path.display()
    );
    Ok(())
}
