//! Checks against quantities derived by hand, independent of ArviZ.

mod common;

use common::{views, Rng};
use ebm_diagnostics::{
    ess_bulk, ess_mean, ess_quantile, ess_tail, mcse_mean, rank_diagnostics, rhat, rhat_split,
    rhat_unguarded, summarize, DiagnosticsError, Draws,
};

fn rel_err(got: f64, want: f64) -> f64 {
    ((got - want) / want).abs()
}

/// For a stationary AR(1) chain the integrated autocorrelation time is
/// `tau = (1 + rho) / (1 - rho)`, so the ESS of the mean of `S` draws is
/// `S (1 - rho) / (1 + rho)`.
///
/// Tolerances: the ESS estimate is a truncated sum of about `2K` estimated
/// autocorrelations, `K` being the lag where Geyer's sequence stops; its
/// relative standard deviation is about `sqrt(2 (2K + 1) / S)`. For
/// rho = 0.5 with S = 2e5 (K around 10) that is about 1.5 %; for rho = 0.9
/// with S = 4e5 (K around 55) about 2.5 %. The bounds below are roughly four
/// to five standard deviations, so a correct estimator fails them with
/// negligible probability while a wrong normalisation (a factor of 2 in tau,
/// a missing between-chain term, no pairing) is far outside.
#[test]
fn ar1_ess_matches_theory() {
    for (rho, n_draws, tol, seed) in [(0.5, 50_000, 0.06, 11), (0.9, 100_000, 0.12, 12)] {
        let mut rng = Rng::new(seed);
        let chains: Vec<Vec<f64>> = (0..4).map(|_| rng.ar1(n_draws, rho)).collect();
        let v = views(&chains);
        let s = (4 * n_draws) as f64;
        let want = s * (1.0 - rho) / (1.0 + rho);

        let got = ess_mean(&v).unwrap();
        assert!(
            rel_err(got, want) < tol,
            "rho {rho}: ess_mean {got:.0}, theory {want:.0}"
        );
        // The draws are Gaussian, so their normal scores are (nearly) the
        // standardised draws themselves: bulk-ESS estimates the same tau.
        let bulk = ess_bulk(&v).unwrap();
        assert!(
            rel_err(bulk, want) < tol,
            "rho {rho}: ess_bulk {bulk:.0}, theory {want:.0}"
        );
        // Indicators of a Gaussian AR(1) are less autocorrelated than the
        // draws (|corr(1{x_0 <= q}, 1{x_k <= q})| < rho^k), so the tail ESS
        // lies between the ESS of the mean and S.
        let tail = ess_tail(&v).unwrap();
        eprintln!("rho {rho}: theory {want:.0}, ess_mean {got:.0}, ess_bulk {bulk:.0}, ess_tail {tail:.0}");
        assert!(
            tail > 0.9 * want && tail < s,
            "rho {rho}: ess_tail {tail:.0}"
        );
        // MCSE of the mean: sd / sqrt(ESS), sd = 1.
        let mcse = mcse_mean(&v).unwrap();
        let want_mcse = 1.0 / want.sqrt();
        assert!(
            rel_err(mcse, want_mcse) < tol,
            "rho {rho}: mcse {mcse}, theory {want_mcse}"
        );
        // Stationary chains mixed this long agree.
        let r = rhat(&v).unwrap();
        assert!((r - 1.0).abs() < 0.01, "rho {rho}: rhat {r}");
    }
}

/// Independent draws: ESS close to the number of draws (relative sd of the
/// estimate about 2 % at S = 8000, bound 10 %), R-hat within 0.01 of 1
/// (for iid chains R-hat - 1 is of order 1 / n_draws), MCSE close to
/// 1 / sqrt(S).
#[test]
fn iid_chains() {
    let mut rng = Rng::new(3);
    let chains: Vec<Vec<f64>> = (0..4).map(|_| rng.normals(2000, 5.0, 2.0)).collect();
    let v = views(&chains);
    let s = 8000.0;
    for (name, ess) in [
        ("bulk", ess_bulk(&v).unwrap()),
        ("mean", ess_mean(&v).unwrap()),
        ("tail", ess_tail(&v).unwrap()),
        ("q50", ess_quantile(&v, 0.5).unwrap()),
    ] {
        assert!(rel_err(ess, s) < 0.1, "{name}: {ess}");
    }
    let r = rhat(&v).unwrap();
    assert!(r > 0.99 && r < 1.01, "rhat {r}");
    let mcse = mcse_mean(&v).unwrap();
    assert!(rel_err(mcse, 2.0 / s.sqrt()) < 0.1, "mcse {mcse}");
}

/// One chain of four shifted by one marginal sd. Split into 8 chains, two
/// carry the shift: var of split-chain means ~ (2 (3/4)^2 + 6 (1/4)^2) / 7
/// = 0.214, so R-hat ~ sqrt(1 + 0.214) ~ 1.10, far above 1.01.
#[test]
fn shifted_means_give_large_rhat() {
    let mut rng = Rng::new(5);
    let chains: Vec<Vec<f64>> = [0.0, 0.0, 0.0, 1.0]
        .iter()
        .map(|&mu| rng.normals(1000, mu, 1.0))
        .collect();
    let v = views(&chains);
    let r = rhat(&v).unwrap();
    assert!(r > 1.05, "rhat {r}");
    let r = rhat_split(&v).unwrap();
    assert!(r > 1.05, "rhat_split {r}");
}

/// Equal means but one chain with three times the scale: the split R-hat of
/// the raw draws barely moves, the folded part of the rank R-hat catches it
/// (E|x - median| is 0.8 vs 2.4).
#[test]
fn scale_difference_is_caught_by_folding() {
    let mut rng = Rng::new(6);
    let chains: Vec<Vec<f64>> = [1.0, 1.0, 1.0, 3.0]
        .iter()
        .map(|&sd| rng.normals(1000, 0.0, sd))
        .collect();
    let v = views(&chains);
    let raw = rhat_split(&v).unwrap();
    assert!(raw < 1.02, "rhat_split {raw}");
    let rank = rhat(&v).unwrap();
    assert!(rank > 1.05, "rhat {rank}");
}

/// A single chain drifting from 0 to 3: its two halves disagree.
#[test]
fn single_chain_rhat() {
    let mut rng = Rng::new(7);
    let drift: Vec<f64> = (0..1000)
        .map(|i| 3.0 * i as f64 / 1000.0 + rng.normal())
        .collect();
    let chains = [drift.as_slice()];
    assert!(rhat(&chains).unwrap().is_nan());
    assert!(rhat_split(&chains).unwrap().is_nan());
    assert!(rhat_unguarded(&chains).unwrap() > 1.2);

    let flat = rng.normals(1000, 0.0, 1.0);
    let r = rhat_unguarded(&[flat.as_slice()]).unwrap();
    assert!(r > 0.99 && r < 1.02, "{r}");
    // ESS is defined for one chain.
    assert!(rel_err(ess_bulk(&[flat.as_slice()]).unwrap(), 1000.0) < 0.15);
}

/// Constant chains: every ESS is the number of split draws, R-hat NaN, MCSE 0.
#[test]
fn constant_chains() {
    let even = vec![1.25; 10];
    let v = [even.as_slice(), even.as_slice(), even.as_slice()];
    assert_eq!(ess_bulk(&v).unwrap(), 30.0);
    assert_eq!(ess_tail(&v).unwrap(), 30.0);
    assert_eq!(ess_mean(&v).unwrap(), 30.0);
    assert_eq!(mcse_mean(&v).unwrap(), 0.0);
    assert!(rhat(&v).unwrap().is_nan());
    // Odd length: the middle draw of each chain is not part of the split.
    let odd = vec![-7.0; 9];
    assert_eq!(ess_mean(&[odd.as_slice(), odd.as_slice()]).unwrap(), 16.0);
    // Chains constant at different values: infinite R-hat, no panic.
    let other = vec![2.0; 10];
    assert_eq!(
        rhat(&[even.as_slice(), other.as_slice()]).unwrap(),
        f64::INFINITY
    );
}

#[test]
fn typed_errors_name_the_offence() {
    let good = [1.0, 2.0, 3.0, 4.0, 5.0];
    let short = [1.0, 2.0, 3.0];
    let bad = [1.0, 2.0, f64::NEG_INFINITY, 4.0, 5.0];
    assert_eq!(ess_bulk(&[]), Err(DiagnosticsError::NoChains));
    assert_eq!(
        rhat(&[&good, &short]),
        Err(DiagnosticsError::RaggedChains {
            chain: 1,
            expected: 5,
            found: 3
        })
    );
    assert_eq!(
        ess_tail(&[&short, &short]),
        Err(DiagnosticsError::TooFewDraws {
            chain: 0,
            n_draws: 3,
            min: 4
        })
    );
    assert_eq!(
        mcse_mean(&[&good, &bad]),
        Err(DiagnosticsError::NonFinite {
            chain: 1,
            draw: 2,
            dim: 0,
            value: f64::NEG_INFINITY
        })
    );
    assert_eq!(
        ess_quantile(&[&good], 1.5),
        Err(DiagnosticsError::InvalidProbability { prob: 1.5 })
    );
    assert!(ess_quantile(&[&good], f64::NAN).is_err());
    let msg = mcse_mean(&[&good, &bad]).unwrap_err().to_string();
    assert!(msg.contains("chain 1") && msg.contains("draw 2") && msg.contains("-inf"));
}

/// The combined call agrees with the separate ones, and an f32 buffer gives
/// the same summary as the same values widened to f64.
#[test]
fn entry_points_agree() {
    let mut rng = Rng::new(9);
    let chains: Vec<Vec<f64>> = (0..3).map(|_| rng.ar1(501, 0.7)).collect();
    let v = views(&chains);
    let d = rank_diagnostics(&v).unwrap();
    assert_eq!(d.ess_bulk, ess_bulk(&v).unwrap());
    assert_eq!(d.ess_tail, ess_tail(&v).unwrap());
    assert_eq!(d.r_hat, rhat(&v).unwrap());

    let flat32: Vec<f32> = chains.iter().flatten().map(|&x| x as f32).collect();
    let flat64: Vec<f64> = flat32.iter().map(|&x| f64::from(x)).collect();
    let s32 = summarize(&Draws::new(&flat32, 3, 501, 1).unwrap()).unwrap();
    let s64 = summarize(&Draws::new(&flat64, 3, 501, 1).unwrap()).unwrap();
    assert_eq!(s32, s64);
    let split64: Vec<&[f64]> = flat64.chunks(501).collect();
    assert_eq!(s64.rows[0].ess_bulk, ess_bulk(&split64).unwrap());
    assert_eq!(s64.rows[0].mcse_mean, mcse_mean(&split64).unwrap());
}

/// Draws near the limits of f64 give the same scale-free diagnostics as the
/// same draws near 1 (scaling by a power of two is exact), and mean and sd
/// scale with them instead of overflowing or underflowing.
#[test]
fn extreme_magnitudes() {
    let mut rng = Rng::new(21);
    let chains: Vec<Vec<f64>> = (0..4).map(|_| rng.ar1(1000, 0.6)).collect();
    let base = views(&chains);
    for k in [900, -1000] {
        let f = 2f64.powi(k);
        let scaled: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| c.iter().map(|&x| x * f).collect())
            .collect();
        let v = views(&scaled);
        for (name, a, b) in [
            ("ess_mean", ess_mean(&base), ess_mean(&v)),
            ("ess_bulk", ess_bulk(&base), ess_bulk(&v)),
            ("rhat", rhat(&base), rhat(&v)),
            ("rhat_split", rhat_split(&base), rhat_split(&v)),
        ] {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(rel_err(b, a) < 1e-12, "2^{k}: {name} {a} vs {b}");
        }
        let (s0, s1) = (
            summarize(&Draws::from_chains(&base).unwrap()).unwrap(),
            summarize(&Draws::from_chains(&v).unwrap()).unwrap(),
        );
        let (r0, r1) = (&s0.rows[0], &s1.rows[0]);
        assert!(rel_err(r1.sd / f, r0.sd) < 1e-12, "2^{k}: sd {}", r1.sd);
        assert!(
            rel_err(r1.mean / f, r0.mean) < 1e-12,
            "2^{k}: mean {}",
            r1.mean
        );
        assert!(rel_err(r1.mcse_mean / f, r0.mcse_mean) < 1e-12);
    }
}
