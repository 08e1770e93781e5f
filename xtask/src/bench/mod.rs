//! `cargo xtask bench`: every case of `docs/benchmarks.md`, timed through the library and through a
//! hand-written floor in the same run.

mod cases;
pub(crate) mod floor;
mod hardware;
mod logistic;
mod math;
mod nuts;
#[cfg(feature = "nuts-rs")]
mod nuts_peer;
mod storage;
mod train;
pub(crate) mod user_mlp;

use serde_json::{json, Map, Value};
use std::time::Instant;

/// One benchmark case: the library run and the floor run over the same inputs.
pub struct Case {
    pub name: &'static str,
    pub description: &'static str,
    /// Chain-steps (chains x transitions) of one library run, for the time per chain-step.
    pub work: f64,
    /// Timed runs for this case, when fewer than the suite's (long cases).
    pub reps: Option<usize>,
    /// Runs the library once; returns the sample mean error against the analytic mean, if any.
    pub library: Box<dyn FnMut() -> Option<f64>>,
    /// Runs the floor once; returns its sample mean error, if any.
    pub floor: Box<dyn FnMut() -> Option<f64>>,
    /// For the cases with a hardware floor, their products, transcendentals and draws.
    pub hardware: Option<hardware::Work>,
}

struct Timing {
    min: f64,
    median: f64,
    mean_error: Option<f64>,
    /// The least processor time (all threads, user and system) of one run, in ms, where the
    /// system reports it: on a loaded machine wall times include waits for a processor.
    cpu_min: Option<f64>,
}

/// Processor time of this process so far (all threads), in ms, from `/proc/self/stat` (Linux).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // Linux reports in USER_HZ, 100 per second on every common configuration.
    Some(ticks * 10.0)
}

fn time(reps: usize, f: &mut dyn FnMut() -> Option<f64>) -> Timing {
    let mut mean_error = f(); // warm-up, not timed
    let mut times = Vec::with_capacity(reps);
    let mut cpu_min: Option<f64> = None;
    for _ in 0..reps {
        let (start, cpu0) = (Instant::now(), cpu_ms());
        let err = f();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu0, cpu_ms()) {
            cpu_min = Some(cpu_min.map_or(b - a, |m: f64| m.min(b - a)));
        }
        mean_error = err;
    }
    times.sort_by(f64::total_cmp);
    let median = if reps % 2 == 1 {
        times[reps / 2]
    } else {
        0.5 * (times[reps / 2 - 1] + times[reps / 2])
    };
    Timing {
        min: times[0],
        median,
        mean_error,
        cpu_min,
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut reps = 7;
    // `--case` may be given more than once, and takes comma-separated lists (`--case a,b`): those
    // cases only, timed in one run.
    let mut only: Vec<String> = Vec::new();
    let mut train_iters = 2000;
    let mut train_seeds: Vec<u64> = vec![0, 1, 2];
    let mut torchebm_train: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => reps = 5,
            "--reps" => {
                reps = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r: &usize| r >= 1)
                    .ok_or("--reps takes a whole number of at least 1")?
            }
            "--case" => only.extend(
                it.next()
                    .ok_or("--case takes a case name")?
                    .split(',')
                    .map(str::to_string),
            ),
            "--train-iters" => {
                train_iters = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r: &usize| r >= 1)
                    .ok_or("--train-iters takes a whole number of at least 1")?
            }
            "--train-seeds" => {
                train_seeds = it
                    .next()
                    .ok_or("--train-seeds takes seeds, comma-separated")?
                    .split(',')
                    .map(|v| {
                        v.parse()
                            .map_err(|_| format!("--train-seeds: `{v}` is not a seed"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--torchebm-train" => {
                torchebm_train = Some(
                    it.next()
                        .ok_or("--torchebm-train takes the peer script's output file")?
                        .clone(),
                )
            }
            other => return Err(format!("bench: unknown argument `{other}`")),
        }
    }
    let mut all = cases::all();
    if !only.is_empty() {
        for name in &only {
            if !all.iter().any(|c| c.name == name)
                && !NUTS_CASES.contains(&name.as_str())
                && name != TRAIN_CASE
                && name != storage::CASE
                && name != math::CASE
            {
                return Err(format!("bench: no case named `{name}`"));
            }
        }
        all.retain(|c| only.iter().any(|o| o == c.name));
    }
    println!(
        "ebm benchmark: float32, {reps} timed runs after one warm-up, rayon threads: {}",
        rayon::current_num_threads()
    );
    println!();
    println!(
        "{:<22} {:>11} {:>11} {:>11} {:>11} {:>7} {:>11} {:>9}  description",
        "case", "lib min", "lib median", "floor min", "floor med", "ratio", "mean err", "ns/step"
    );
    let mut out = Map::new();
    // (case, library minimum, the work's key, its hardware floor) for the summary below.
    let mut floors: Vec<(&str, f64, String, f64)> = Vec::new();
    for mut case in all {
        let case_reps = case.reps.map_or(reps, |r| r.min(reps));
        let lib = time(case_reps, &mut *case.library);
        let flo = time(case_reps, &mut *case.floor);
        let ratio = lib.min / flo.min;
        let ns_per_step = lib.min * 1e6 / case.work;
        println!(
            "{:<22} {:>8.3} ms {:>8.3} ms {:>8.3} ms {:>8.3} ms {:>7.2} {:>11} {:>9.1}  {}",
            case.name,
            lib.min,
            lib.median,
            flo.min,
            flo.median,
            ratio,
            lib.mean_error
                .map(|e| format!("{e:.4}"))
                .unwrap_or_else(|| "-".into()),
            ns_per_step,
            case.description
        );
        let hw = case.hardware.as_ref().map(hardware::measure);
        if let (Some(hw), Some(work)) = (&hw, &case.hardware) {
            let tanh = if work.tanh > 0.0 {
                format!(" + {:.3e} tanh at {:.1} M/s", work.tanh, hw.tanh * 1e-6)
            } else {
                String::new()
            };
            println!(
                "{:<20} {:>8.3} ms hardware floor: {:.3e} flop at {:.1} GFLOP/s ({}){tanh} + {:.3e} \
                 normals at {:.1} M/s; library / hardware = {:.2}",
                "",
                hw.ms,
                work.flop(),
                hw.flops * 1e-9,
                hw.routine,
                work.draws,
                hw.normals * 1e-6,
                lib.min / hw.ms
            );
            let rates: Vec<String> = hw
                .rates
                .iter()
                .map(|(n, r)| format!("{n} {:.1}", r * 1e-9))
                .collect();
            println!("{:<20} product rates (GFLOP/s): {}", "", rates.join(", "));
            if let Some(cpu) = lib.cpu_min {
                println!(
                    "{:<20} library processor time (all threads, 10 ms ticks): {cpu:.0} ms",
                    ""
                );
            }
        }
        if let (Some(hw), Some(work)) = (&hw, &case.hardware) {
            floors.push((case.name, lib.min, work.key(), hw.ms));
        }
        out.insert(
            case.name.to_string(),
            json!({
                "library_ms_min": lib.min,
                "library_ms_median": lib.median,
                "floor_ms_min": flo.min,
                "floor_ms_median": flo.median,
                "ratio_min": ratio,
                "ratio_median": lib.median / flo.median,
                "mean_abs_err_max": lib.mean_error,
                "floor_mean_abs_err_max": flo.mean_error,
                "reps": case_reps,
                "ns_per_chain_step": ns_per_step,
                "library_cpu_ms_min": lib.cpu_min,
                "hardware_floor_ms": hw.as_ref().map(|h| h.ms),
                "ratio_hardware_min": hw.as_ref().map(|h| lib.min / h.ms),
                "product_gflops": hw.as_ref().map(|h| h.flops * 1e-9),
                "product_routine": hw.as_ref().map(|h| h.routine.clone()),
                "normals_per_s": hw.as_ref().map(|h| h.normals),
                "tanh_per_s": hw.as_ref().map(|h| h.tanh),
            }),
        );
    }
    if !floors.is_empty() {
        // Cases with the same work (a network and its `#[energy]` twin) share one floor: the least
        // of their measurements, since every measurement is the machine's best in a moment of a
        // shared, drifting machine.
        println!();
        println!(
            "hardware floors, the least measurement of each work in this run (library minimum / floor):"
        );
        for (name, lib_min, key, _) in &floors {
            let best = floors
                .iter()
                .filter(|f| &f.2 == key)
                .map(|f| f.3)
                .fold(f64::INFINITY, f64::min);
            println!(
                "  {name:<22} {lib_min:>9.3} ms  floor {best:>9.3} ms  ratio {:.2}",
                lib_min / best
            );
            if let Some(Value::Object(row)) = out.get_mut(*name) {
                row.insert("hardware_floor_best_ms".into(), json!(best));
                row.insert("ratio_hardware_best".into(), json!(lib_min / best));
            }
        }
    }
    if only.is_empty() {
        out.extend(nuts::run(None)?);
    }
    if only.is_empty() || only.iter().any(|o| o == TRAIN_CASE) {
        out.extend(train::run(
            &train_seeds,
            train_iters,
            torchebm_train.as_deref(),
        )?);
    }
    if only.is_empty() || only.iter().any(|o| o == storage::CASE) {
        out.extend(storage::run()?);
    }
    if only.is_empty() || only.iter().any(|o| o == math::CASE) {
        out.extend(math::run()?);
    }
    for name in only.iter().filter(|o| NUTS_CASES.contains(&o.as_str())) {
        out.extend(nuts::run(Some(name))?);
    }
    println!();
    println!("{}", Value::Object(out));
    Ok(())
}

/// The training case (`--case` takes its name; `--train-iters`, `--train-seeds` and
/// `--torchebm-train FILE`, the peer script's output, set it up).
const TRAIN_CASE: &str = "train_ring8_pcd";

/// The NUTS cases, each run with diagonal and dense adaptation (`--case` takes these names too).
const NUTS_CASES: [&str; 3] = ["gauss100_diag", "gauss100_corr", "logreg25"];

/// The largest absolute difference between the column means of `x` (row-major, `d` columns) and `mu`.
pub fn mean_error(x: &[f32], d: usize, mu: &[f64]) -> f64 {
    let n = (x.len() / d) as f64;
    (0..d)
        .map(|i| {
            let m: f64 = x.iter().skip(i).step_by(d).map(|&v| v as f64).sum::<f64>() / n;
            (m - mu[i]).abs()
        })
        .fold(0.0, f64::max)
}
