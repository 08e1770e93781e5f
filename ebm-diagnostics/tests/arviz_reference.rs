//! Reproduces every ArviZ value stored in `tests/data/diagnostics-vectors.json`
//! to a relative tolerance of 1e-6.

use ebm_diagnostics::{
    ess_bulk, ess_bulk_relative, ess_mean, ess_tail, mcse_mean, rhat, rhat_split, rhat_unguarded,
    summarize, DiagnosticsError, Draws,
};
use serde::Deserialize;
use std::collections::BTreeMap;

const TOL: f64 = 1e-6;

#[derive(Deserialize)]
struct VectorFile {
    versions: BTreeMap<String, String>,
    sets: Vec<ChainSet>,
}

#[derive(Deserialize)]
struct ChainSet {
    name: String,
    shape: [usize; 2],
    /// ArviZ's values; `null` stands for NaN.
    arviz: BTreeMap<String, Option<f64>>,
    sample_mean: Option<f64>,
    sample_sd_ddof1: Option<f64>,
    draws: Vec<Vec<f64>>,
}

fn load() -> VectorFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/diagnostics-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("reference file is readable");
    serde_json::from_str(&text).expect("reference file parses")
}

/// Compares and returns the relative error (0 for matching NaNs).
fn check(set: &str, field: &str, got: f64, want: Option<f64>) -> f64 {
    match want {
        None => {
            assert!(got.is_nan(), "{set}.{field}: expected NaN, got {got}");
            0.0
        }
        Some(want) => {
            let rel = ((got - want) / want).abs();
            assert!(
                rel <= TOL,
                "{set}.{field}: got {got:.17e}, ArviZ {want:.17e}, relative error {rel:.3e}"
            );
            rel
        }
    }
}

type Diagnostic = fn(&[&[f64]]) -> Result<f64, DiagnosticsError>;

/// The function that reproduces each ArviZ field of the file.
fn diagnostic_for(field: &str) -> Option<Diagnostic> {
    Some(match field {
        "ess_bulk" => ess_bulk,
        "ess_tail" => ess_tail,
        "ess_mean" => ess_mean,
        "ess_bulk_relative" => ess_bulk_relative,
        "rhat_rank" => rhat,
        "rhat_rank_no_chain_guard" => rhat_unguarded,
        "rhat_split" => rhat_split,
        "mcse_mean" => mcse_mean,
        _ => return None,
    })
}

#[test]
fn reference_file_is_the_expected_one() {
    let file = load();
    assert_eq!(
        file.versions.get("arviz").map(String::as_str),
        Some("0.23.4")
    );
    assert!(!file.sets.is_empty());
    for set in &file.sets {
        assert_eq!(set.draws.len(), set.shape[0], "{}", set.name);
        assert!(set.draws.iter().all(|c| c.len() == set.shape[1]));
    }
}

#[test]
fn free_functions_reproduce_every_arviz_value() {
    let file = load();
    let mut worst = (0.0f64, String::new());
    let mut checked = 0;
    for set in &file.sets {
        let chains: Vec<&[f64]> = set.draws.iter().map(Vec::as_slice).collect();
        for (field, &want) in &set.arviz {
            let f = diagnostic_for(field)
                .unwrap_or_else(|| panic!("{}: no diagnostic for ArviZ field {field}", set.name));
            let got = f(&chains).unwrap();
            let rel = check(&set.name, field, got, want);
            if rel > worst.0 {
                worst = (rel, format!("{}.{field}", set.name));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * file.sets.len());
    eprintln!(
        "checked {checked} ArviZ values; worst relative error {:.3e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn summary_reproduces_arviz_values_through_strided_views() {
    let file = load();
    // All sets share one shape: pack them as the dimensions of a single
    // [chain][draw][dim] buffer, in f64, to exercise the strided path.
    let [m, n] = file.sets[0].shape;
    assert!(file.sets.iter().all(|s| s.shape == [m, n]));
    let k = file.sets.len();
    let mut flat = vec![0.0f64; m * n * k];
    for (dim, set) in file.sets.iter().enumerate() {
        for (c, chain) in set.draws.iter().enumerate() {
            for (d, &x) in chain.iter().enumerate() {
                flat[(c * n + d) * k + dim] = x;
            }
        }
    }
    let summary = summarize(&Draws::new(&flat, m, n, k).unwrap()).unwrap();
    let mut worst = 0.0f64;
    for (row, set) in summary.rows.iter().zip(&file.sets) {
        let a = &set.arviz;
        let pairs = [
            ("mean", row.mean, set.sample_mean),
            ("sd", row.sd, set.sample_sd_ddof1),
            ("mcse_mean", row.mcse_mean, a["mcse_mean"]),
            ("ess_bulk", row.ess_bulk, a["ess_bulk"]),
            ("ess_tail", row.ess_tail, a["ess_tail"]),
            ("r_hat", row.r_hat, a["rhat_rank"]),
        ];
        for (field, got, want) in pairs {
            worst = worst.max(check(&set.name, field, got, want));
        }
    }
    eprintln!("summary: worst relative error {worst:.3e}");
}

#[test]
fn nested_view_gives_the_same_summary_row() {
    let file = load();
    let set = &file.sets[1];
    let chains: Vec<&[f64]> = set.draws.iter().map(Vec::as_slice).collect();
    let row = summarize(&Draws::from_chains(&chains).unwrap())
        .unwrap()
        .rows
        .remove(0);
    check(&set.name, "ess_bulk", row.ess_bulk, set.arviz["ess_bulk"]);
    check(&set.name, "r_hat", row.r_hat, set.arviz["rhat_rank"]);
    check(
        &set.name,
        "mcse_mean",
        row.mcse_mean,
        set.arviz["mcse_mean"],
    );
}
