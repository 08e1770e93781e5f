//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `bench [--quick] [--reps N] [--case NAME]`: times the benchmark cases of `docs/benchmarks.md`
//!   against hand-written floors and prints a table and, as its last line, one JSON object.
//! - `docs-figures [--check]`: renders the user guide's figures under `docs/` from fixed seeds; with
//!   `--check`, renders them in memory and fails when a committed figure is stale.
//! - `storage-memory [--chains N] [--draws N]`: streams 100 000 chains x 2 000 draws x D = 4 to a
//!   store in a temporary directory and fails when peak resident memory exceeds 300 MB.
//! - `outside [--reps N]`: builds a crate outside the workspace that depends on the library crates
//!   by path (no `[patch]`, no dfdx of its own), runs the README's first example and the benchmark's
//!   `#[energy]` network there, and checks its draws (and, with `--reps`, its time) against the same
//!   case run inside the workspace.
//! - `cuda-bundle`: builds the GPU check and examples with the `cuda` feature from pinned CUDA 13.0
//!   wheels and packs them with a `run.sh` under `target/cuda-bundle/` for a GPU machine.

mod bench;
mod cuda_bundle;
mod figures;
mod outside;
mod storage_memory;
/// The four-well replica-exchange run shared with the `replica_exchange` example.
#[path = "../../ebm-samplers/examples/common/wells.rs"]
mod wells;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("docs-figures") => figures::run(&args[1..]),
        Some("cuda-bundle") => cuda_bundle::run(&args[1..]),
        Some("storage-memory") => storage_memory::run(&args[1..]),
        Some("outside") => outside::run(&args[1..]),
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  bench [--quick] [--reps N] [--case NAME]   time the benchmark cases against their floors
        [--train-iters N] [--train-seeds 0,1,2] [--torchebm-train FILE]
  docs-figures [--check]                     render (or check) the guide's figures under docs/
  storage-memory [--chains N] [--draws N]    peak memory of a streamed 3.2 GB run (limit 300 MB)
  outside [--reps N]                         build and run a crate outside the workspace that uses ebm
  cuda-bundle                                build the GPU check for a GPU machine (target/cuda-bundle)";
