//! Invariances of the diagnostics and robustness to arbitrary finite input.

use ebm_diagnostics::{
    ess_bulk, ess_mean, ess_quantile, ess_tail, mcse_mean, rank_diagnostics, rhat, rhat_split,
    rhat_unguarded, summarize, DiagnosticsError, Draws,
};
use proptest::prelude::*;

/// Rank-based diagnostics see only the order of the draws, which permuting
/// chains or an increasing affine map leaves unchanged; they can differ only
/// through the order of floating-point sums (about 1e-15 relative). The ESS
/// of the mean and the raw split R-hat are scale invariant in exact
/// arithmetic; rounding of `a x + b` perturbs their inputs by about 1e-16
/// relative, and the FFT-based autocovariances add a few 1e-15.
const TOL: f64 = 1e-9;

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b) / a).abs() <= TOL
}

/// Chain sets of 1 to 5 chains of 4 to 60 continuous draws (ties have
/// probability zero, so the rank order is the only structure).
fn chain_sets() -> impl Strategy<Value = Vec<Vec<f64>>> {
    (1usize..=5, 4usize..=60)
        .prop_flat_map(|(m, n)| prop::collection::vec(prop::collection::vec(-1e3f64..1e3, n), m))
}

type Diagnostic = fn(&[&[f64]]) -> Result<f64, DiagnosticsError>;

const DIAGNOSTICS: [(&str, Diagnostic); 8] = [
    ("ess_bulk", ess_bulk),
    ("ess_tail", ess_tail),
    ("ess_mean", ess_mean),
    ("ess_q30", |c| ess_quantile(c, 0.3)),
    ("rhat", rhat),
    ("rhat_unguarded", rhat_unguarded),
    ("rhat_split", rhat_split),
    ("mcse_mean_over_sd", mcse_over_sd),
];

/// The MCSE scales with the draws; its ratio to the sd does not.
fn mcse_over_sd(c: &[&[f64]]) -> Result<f64, DiagnosticsError> {
    let all: Vec<f64> = c.iter().flat_map(|x| x.iter().copied()).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    Ok(mcse_mean(c)? / sd)
}

fn all_values(chains: &[Vec<f64>]) -> Vec<f64> {
    let v: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
    DIAGNOSTICS.iter().map(|(_, f)| f(&v).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn invariant_under_chain_permutation(
        (chains, order) in chain_sets().prop_flat_map(|c| {
            let idx: Vec<usize> = (0..c.len()).collect();
            (Just(c), Just(idx).prop_shuffle())
        })
    ) {
        let permuted: Vec<Vec<f64>> = order.iter().map(|&i| chains[i].clone()).collect();
        let (a, b) = (all_values(&chains), all_values(&permuted));
        for ((name, _), (x, y)) in DIAGNOSTICS.iter().zip(a.iter().zip(&b)) {
            prop_assert!(close(*x, *y), "{}: {} vs {} after permutation {:?}", name, x, y, order);
        }
    }

    #[test]
    fn invariant_under_increasing_affine_maps(
        chains in chain_sets(),
        log_a in -3.0f64..3.0,
        b in -1e3f64..1e3,
    ) {
        let a = 10f64.powf(log_a);
        let mapped: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| c.iter().map(|&x| a * x + b).collect())
            .collect();
        let (p, q) = (all_values(&chains), all_values(&mapped));
        for ((name, _), (x, y)) in DIAGNOSTICS.iter().zip(p.iter().zip(&q)) {
            prop_assert!(close(*x, *y), "{}: {} vs {} under x -> {} x + {}", name, x, y, a, b);
        }
    }

    /// Any finite values, including extremes, subnormals, repeats and
    /// constant runs, and any shape: Ok or a typed error, never a panic, and
    /// an Ok ESS is positive (or NaN).
    #[test]
    fn never_panics_on_finite_input(
        chains in (0usize..=4, 0usize..=12).prop_flat_map(|(m, n)| {
            prop::collection::vec(
                prop::collection::vec(
                    prop_oneof![
                        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
                        Just(f64::MAX),
                        Just(-f64::MAX),
                        Just(1.0),
                        -3.0f64..3.0,
                    ],
                    n..=n + 1,
                ),
                m,
            )
        })
    ) {
        let v: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
        for (name, f) in DIAGNOSTICS.iter().take(7) {
            match f(&v) {
                Ok(x) => {
                    if name.starts_with("ess") {
                        prop_assert!(x.is_nan() || x > 0.0, "{} = {}", name, x);
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
        let _ = mcse_mean(&v);
        let _ = rank_diagnostics(&v);
        if let Ok(d) = Draws::from_chains(&v) {
            let s = summarize(&d).unwrap();
            prop_assert_eq!(s.rows.len(), 1);
            prop_assert!(!s.to_string().is_empty());
        }
    }

    /// The contiguous view validates shapes instead of panicking.
    #[test]
    fn draws_new_never_panics(
        data in prop::collection::vec(-1e6f64..1e6, 0..64),
        m in 0usize..6, n in 0usize..12, k in 0usize..4,
    ) {
        match Draws::new(&data, m, n, k) {
            Ok(d) => {
                prop_assert_eq!(data.len(), m * n * k);
                let s = summarize(&d).unwrap();
                prop_assert_eq!(s.rows.len(), k);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
