//! `cargo xtask bench`: every case of `docs/benchmarks.md`, timed through the library and through a
//! hand-written floor in the same run.

mod cases;
mod floor;
mod nuts;
#[cfg(feature = "nuts-rs")]
mod nuts_peer;
mod user_mlp;

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
}

struct Timing {
    min: f64,
    median: f64,
    mean_error: Option<f64>,
}

fn time(reps: usize, f: &mut dyn FnMut() -> Option<f64>) -> Timing {
    let mut mean_error = f(); // warm-up, not timed
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        let err = f();
        times.push(start.elapsed().as_secs_f64() * 1e3);
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
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut reps = 7;
    // `--case` may be given more than once: those cases only, timed in one run.
    let mut only: Vec<String> = Vec::new();
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
            "--case" => only.push(it.next().ok_or("--case takes a case name")?.clone()),
            other => return Err(format!("bench: unknown argument `{other}`")),
        }
    }
    let mut all = cases::all();
    if !only.is_empty() {
        for name in &only {
            if !all.iter().any(|c| c.name == name) && !NUTS_CASES.contains(&name.as_str()) {
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
            }),
        );
    }
    if only.is_empty() {
        out.extend(nuts::run(None)?);
    }
    for name in only.iter().filter(|o| NUTS_CASES.contains(&o.as_str())) {
        out.extend(nuts::run(Some(name))?);
    }
    println!();
    println!("{}", Value::Object(out));
    Ok(())
}

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
