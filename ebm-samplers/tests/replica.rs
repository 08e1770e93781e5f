//! Replica exchange: the four wells at temperature 0.01 against quadrature, tempered Gaussian
//! moments at every rung, swaps that keep the joint target, the cold chains without swaps, the
//! round-trip rate, and bad ladders.

#![allow(clippy::needless_range_loop)] // per-well tables read best with indices

mod common;
#[path = "../examples/common/wells.rs"]
mod wells;

use common::*;
use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel};
use ebm_samplers::prelude::*;
use ebm_samplers::SwapCounts;

#[test]
fn replica_exchange_finds_the_well_masses_that_plain_langevin_misses() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let quadrature = wells::quadrature_masses(wells::TEMPERATURE);
    // The figures: about 0.48 in each weight-1 well and 0.02 in each weight-0.8 well.
    assert!((quadrature[0] - 0.48).abs() < 0.005 && (quadrature[2] - 0.02).abs() < 0.005);
    let plain = wells::plain_langevin(&model).unwrap();
    let worst_plain = (0..4)
        .map(|w| (plain[w] - quadrature[w]).abs())
        .fold(0.0, f64::max);
    assert!(
        worst_plain > 0.2,
        "plain Langevin {plain:?} vs {quadrature:?}"
    );

    // 400 ladders, 1000 scans of 2 MALA steps: enough round trips (about 0.08 per scan) for the
    // per-ladder fractions to pin the masses well inside 0.02.
    let run = wells::replica_exchange(&model, 400, 1000, 2).unwrap();
    for w in 0..4 {
        // The ladders are independent: 5 standard errors of their mean, which must itself be tight
        // enough to hold the fractions within 0.02 of quadrature.
        let tol = 5.0 * run.standard_errors[w];
        assert!(
            tol < 0.02,
            "well {w}: tolerance {tol} too loose to test 0.02"
        );
        let diff = (run.fractions[w] - quadrature[w]).abs();
        assert!(
            diff < tol,
            "well {w}: {} vs quadrature {} (tolerance {tol})",
            run.fractions[w],
            quadrature[w]
        );
    }
    // Non-reversible swaps: round trips at the rate the swap rejection rates predict, within 30%.
    let (seen, predicted) = (
        run.swaps.round_trip_rate(),
        run.swaps
            .theoretical_round_trip_rate()
            .expect("the default scheme is non-reversible"),
    );
    assert!(
        (seen / predicted - 1.0).abs() < 0.3,
        "round trips {seen} per scan vs {predicted} predicted"
    );
    // The tuned ladder evens out the swap rejection.
    let r = &run.swaps.rejection;
    let (lo, hi) = r
        .iter()
        .fold((1.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(hi - lo < 0.15, "rejection rates {r:?}");
}

/// Exact draws of `N(mean, T_k cov)` for every rung, temperature-major.
fn tempered_rungs(mean: &[f64], cov: &[f64], temps: &[f64], n: usize) -> Vec<f64> {
    let mut start = Vec::new();
    for (k, t) in temps.iter().enumerate() {
        let scaled: Vec<f64> = cov.iter().map(|v| v * t).collect();
        start.extend(gaussian_draws(mean, &scaled, n, 10 + k as u64));
    }
    start
}

#[test]
fn every_rung_samples_its_tempered_gaussian() {
    // Started at exact draws of N(mean, T_k cov) at each rung, every rung stays there through
    // exploration and swaps.
    let (mean, cov) = ([1.0, -1.0], [1.0, 0.5, 0.5, 2.0]);
    let dev = Cpu::default();
    let model = GaussianModel::<2, f64>::from_slices(&dev, &mean, &cov).unwrap();
    let temps = vec![1.0, 2.0, 5.0];
    let pt =
        ReplicaExchange::new(HamiltonianMonteCarlo::new(0.3, 5).unwrap(), temps.clone()).unwrap();
    let n = 3000;
    let x0 = batch::<2>(&tempered_rungs(&mean, &cov, &temps, n));
    let mut state = pt.init_replicas(&model, &x0, 4).unwrap();
    let out = pt
        .run_from(&model, &mut state, &RunOptions::new(10))
        .unwrap();
    assert!(
        out.swaps.acceptance_rate.iter().all(|&a| a > 0.2),
        "{:?}",
        out.swaps
    );
    for (k, t) in temps.iter().enumerate() {
        let scaled: Vec<f64> = cov.iter().map(|v| v * t).collect();
        let x = state.positions_at(k).unwrap();
        assert_moments(x, 2, &mean, &scaled, 5.0, 0.0, &format!("rung T = {t}"));
    }
}

#[test]
fn swaps_keep_the_joint_target_at_the_closed_form_rate() {
    // N(0, 1) at T = 1 and T = 4, both rungs started at exact draws. The swap acceptance
    // probability is E[min(1, exp((1 - 1/4)(x0^2 - x1^2) / 2))] with x0 ~ N(0, 1), x1 ~ N(0, 4),
    // computed here by quadrature; after the swaps both rungs must still hold their laws.
    let dev = Cpu::default();
    let model = GaussianModel::<1, f64>::from_slices(&dev, &[0.0], &[1.0]).unwrap();
    let expected = {
        let (n, lo, hi) = (3000, -12.0, 12.0);
        let h = (hi - lo) / n as f64;
        let pdf = |x: f64, s2: f64| {
            (-x * x / (2.0 * s2)).exp() / (2.0 * std::f64::consts::PI * s2).sqrt()
        };
        let mut acc = 0.0;
        for i in 0..n {
            let a = lo + (i as f64 + 0.5) * h;
            for j in 0..n {
                let b = lo + (j as f64 + 0.5) * h;
                let la = 0.75 * (a * a - b * b) / 2.0;
                acc += pdf(a, 1.0) * pdf(b, 4.0) * la.min(0.0).exp() * h * h;
            }
        }
        acc
    };
    let temps = [1.0, 4.0];
    let pt = ReplicaExchange::new(Mala::new(0.5, 1.0).unwrap(), temps.to_vec()).unwrap();
    let n = 20000;
    let x0 = batch::<1>(&tempered_rungs(&[0.0], &[1.0], &temps, n));
    let mut state = pt.init_replicas(&model, &x0, 3).unwrap();
    let out = pt
        .run_from(&model, &mut state, &RunOptions::new(4))
        .unwrap();
    let rate = out.swaps.acceptance_rate[0];
    // The single pair swaps at even scans: 2 of the 4, in each of the n ladders.
    let attempts = (2 * n) as f64;
    let se = (expected * (1.0 - expected) / attempts).sqrt();
    assert!(
        (rate - expected).abs() < 5.0 * se,
        "swap acceptance {rate} vs {expected} (se {se})"
    );
    assert!((out.swaps.rejection[0] - (1.0 - expected)).abs() < 0.01);
    for (k, v) in [(0, 1.0), (1, 4.0)] {
        let x = state.positions_at(k).unwrap();
        assert_moments(x, 1, &[0.0], &[v], 5.0, 0.0, &format!("rung T = {v}"));
    }
}

#[test]
fn without_swaps_the_cold_chains_are_the_explorers_own() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(6, 2);
    let mala = Mala::new(0.4, 1.0).unwrap();
    let pt = ReplicaExchange::geometric(mala, 10.0, 4)
        .unwrap()
        .with_explore_steps(3)
        .unwrap()
        .with_scheme(SwapScheme::Off);
    let out = pt
        .run(&model, &x0, &RunOptions::new(20).seed(9).trace(1))
        .unwrap();
    let plain = mala
        .run(&model, &x0, &RunOptions::new(60).seed(9).trace(3))
        .unwrap();
    assert_eq!(out.cold.samples.as_vec(), plain.samples.as_vec());
    assert_eq!(
        out.cold.trace.unwrap().as_slice(),
        plain.trace.unwrap().as_slice()
    );
    assert_eq!(out.swaps.round_trips, vec![0; 6]);
    // The non-reversible scheme's prediction is not given for other schemes.
    assert_eq!(out.swaps.scheme, Some(SwapScheme::Off));
    assert_eq!(out.swaps.theoretical_round_trip_rate(), None);
    let reversible = pt
        .with_scheme(SwapScheme::Reversible)
        .run(&model, &x0, &RunOptions::new(20).seed(9))
        .unwrap();
    assert_eq!(reversible.swaps.theoretical_round_trip_rate(), None);
}

#[test]
fn bad_ladders_are_errors_naming_the_value() {
    let mala = || Mala::new(0.1, 1.0).unwrap();
    let name = |r: Result<ReplicaExchange<Mala>>| invalid_name(r.unwrap_err());
    assert_eq!(
        name(ReplicaExchange::new(mala(), vec![1.0])),
        "temperatures"
    );
    assert_eq!(
        name(ReplicaExchange::new(mala(), vec![2.0, 3.0])),
        "temperatures[0]"
    );
    assert_eq!(
        name(ReplicaExchange::new(mala(), vec![1.0, 3.0, 3.0])),
        "temperatures[2]"
    );
    assert_eq!(
        name(ReplicaExchange::new(mala(), vec![1.0, 0.5])),
        "temperatures[1]"
    );
    assert_eq!(
        name(ReplicaExchange::new(mala(), vec![1.0, f64::NAN])),
        "temperatures[1]"
    );
    assert_eq!(
        name(ReplicaExchange::new(mala(), vec![1.0, f64::INFINITY])),
        "temperatures[1]"
    );
    assert_eq!(name(ReplicaExchange::geometric(mala(), 1.0, 5)), "t_max");
    assert_eq!(
        name(ReplicaExchange::geometric(mala(), 10.0, 1)),
        "n_temperatures"
    );
    assert_eq!(
        invalid_name(
            ReplicaExchange::new(LangevinDynamics::new(0.1, 1.0).unwrap(), vec![1.0, 2.0])
                .unwrap_err()
        ),
        "explorer"
    );
    assert_eq!(
        invalid_name(
            ReplicaExchange::geometric(mala(), 10.0, 3)
                .unwrap()
                .with_explore_steps(0)
                .unwrap_err()
        ),
        "explore_steps"
    );
}

#[test]
fn an_empty_batch_is_an_error_not_a_panic() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let pt = ReplicaExchange::geometric(Mala::new(0.1, 1.0).unwrap(), 10.0, 4).unwrap();
    let empty: Batch<2, f64> = dev.zeros_like(&(0, Const::<2>));
    assert!(matches!(
        pt.init(&model, &empty, 1),
        Err(Error::EmptyBatch { .. })
    ));
    assert!(matches!(
        pt.init_replicas(&model, &empty, 1),
        Err(Error::EmptyBatch { .. })
    ));
    assert!(matches!(
        pt.run(&model, &empty, &RunOptions::new(5).progress(false)),
        Err(Error::EmptyBatch { .. })
    ));
}

#[test]
fn replicas_that_step_into_non_finite_regions_are_divergences_never_draws() {
    let pt = ReplicaExchange::geometric(Mala::new(0.3, 1.0).unwrap(), 50.0, 5).unwrap();
    let x0 = batch::<2>(&vec![0.0; 40]);
    // Hot replicas propose outside the box often.
    let model = NanOutsideBox { half_width: 1.0 };
    let mut state = pt.init(&model, &x0, 1).unwrap();
    let out = pt
        .run_from(&model, &mut state, &RunOptions::new(100).trace(1))
        .unwrap();
    assert!(state
        .chains()
        .positions()
        .iter()
        .all(|v| v.is_finite() && v.abs() < 1.0));
    assert!(state.chains().energies().iter().all(|v| v.is_finite()));
    let trace = out.cold.trace.unwrap();
    assert!(trace
        .as_slice()
        .iter()
        .all(|v| v.is_finite() && v.abs() < 1.0));
    assert!(out.swaps.acceptance_rate.iter().all(|a| a.is_finite()));
}

#[test]
fn cold_acceptance_is_per_exploration_step() {
    // An explorer that accepts rarely (MALA with a step far too large for a unit Gaussian): with
    // five exploration steps per scan the cold chains' acceptance must still be the explorer's
    // rate per step, not the chance that any of the five moved.
    let dev = Cpu::default();
    let model =
        GaussianModel::<2, f64>::from_slices(&dev, &[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0]).unwrap();
    let x0 = batch::<2>(&(0..400).map(|i| (i % 7) as f64 * 0.1).collect::<Vec<_>>());
    let rates = |steps: usize| {
        let pt = ReplicaExchange::geometric(Mala::new(2.5, 1.0).unwrap(), 4.0, 3)
            .unwrap()
            .with_explore_steps(steps)
            .unwrap();
        let mut state = pt.init(&model, &x0, 3).unwrap();
        let out = pt
            .run_from(&model, &mut state, &RunOptions::new(300).progress(false))
            .unwrap();
        let stats = out.cold.chain_stats.unwrap();
        (stats.mean_acceptance_rate(), out.swaps.explorer_acceptance)
    };
    let (one, per_temp_one) = rates(1);
    let (five, per_temp_five) = rates(5);
    // 200 ladders x 300 scans: the standard error of a rate near 0.2 is about 0.002; the chains'
    // correlation makes it larger, 0.02 is many standard errors yet far below the 1 - 0.8^5 = 0.67
    // that "any step moved" would read.
    assert!(one > 0.02 && one < 0.5, "{one}");
    assert!((five - one).abs() < 0.02, "1 step {one}, 5 steps {five}");
    assert!(
        (per_temp_five[0] - five).abs() < 0.02,
        "{per_temp_five:?} vs {five}"
    );
    assert!(
        (per_temp_one[0] - one).abs() < 1e-12,
        "{per_temp_one:?} vs {one}"
    );
    // Hotter replicas see flatter densities and accept more.
    assert!(per_temp_five[2] > per_temp_five[0], "{per_temp_five:?}");
}

#[test]
fn a_tempered_run_goes_on_from_its_snapshot_bit_for_bit() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let pt = ReplicaExchange::geometric(Mala::new(0.2, 1.0).unwrap(), 20.0, 4)
        .unwrap()
        .with_explore_steps(2)
        .unwrap();
    let x0 = batch::<2>(&[0.0, 0.5, -1.0, 1.0, 2.0, -0.5]);
    let opts = |n| RunOptions::new(n).trace(1).progress(false);
    let mut whole = pt.init(&model, &x0, 9).unwrap();
    let all = pt.run_from(&model, &mut whole, &opts(70)).unwrap();
    let mut first = pt.init(&model, &x0, 9).unwrap();
    let head = pt.run_from(&model, &mut first, &opts(30)).unwrap();
    let snap = first.snapshot();
    let mut rebuilt = ebm_samplers::ReplicaState::<2, f64>::from_snapshot(&snap, &dev).unwrap();
    assert_eq!(rebuilt.snapshot(), snap);
    let tail = pt.run_from(&model, &mut rebuilt, &opts(40)).unwrap();
    let (a, h, t) = (
        all.cold.trace.unwrap(),
        head.cold.trace.unwrap(),
        tail.cold.trace.unwrap(),
    );
    for c in 0..3 {
        let joined = [h.chain(c).unwrap(), t.chain(c).unwrap()].concat();
        assert_eq!(a.chain(c).unwrap(), &joined[..], "ladder {c}");
    }
    // The counts over the state's life are the same, split into runs or not (sums of rejection
    // probabilities up to rounding: 30 + 40 terms against 70)...
    let (sx, sy) = (rebuilt.swap_stats(), whole.swap_stats());
    assert_eq!(sx.scans, 70);
    assert_eq!(
        (
            &sx.acceptance_rate,
            &sx.round_trips,
            &sx.explorer_acceptance
        ),
        (
            &sy.acceptance_rate,
            &sy.round_trips,
            &sy.explorer_acceptance
        )
    );
    for (a, b) in sx.rejection.iter().zip(&sy.rejection) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // ... and one run's are those of its scans.
    assert_eq!(tail.swaps.scans, 40);
    let (mut x, mut y) = (rebuilt.snapshot(), whole.snapshot());
    // Past the split into runs, everything else is the same.
    for s in [&mut x, &mut y] {
        s.run = SwapCounts::default();
        s.earlier = SwapCounts::default();
    }
    assert_eq!(x, y);
    // A snapshot that does not fit its ladder is refused, naming the field.
    let mut bad = snap.clone();
    bad.replica_at[0] = 4;
    let err = ebm_samplers::ReplicaState::<2, f64>::from_snapshot(&bad, &dev).unwrap_err();
    assert!(err.to_string().contains("replica_at[0]"), "{err}");
    let mut bad = snap.clone();
    bad.earlier.attempts.pop();
    let err = ebm_samplers::ReplicaState::<2, f64>::from_snapshot(&bad, &dev).unwrap_err();
    assert!(err.to_string().contains("attempts"), "{err}");
    let mut bad = snap;
    bad.swap_rngs.pop();
    let err = ebm_samplers::ReplicaState::<2, f64>::from_snapshot(&bad, &dev).unwrap_err();
    assert!(err.to_string().contains("swap_rngs"), "{err}");
}

#[test]
fn ladder_tuning_can_tune_each_temperature_s_step_size() {
    // MALA with a step far too small everywhere: tuning toward 0.574 must grow every
    // temperature's step (each on its own) until the exploration steps accept near the target.
    let dev = Cpu::default();
    let model =
        ebm_core::energy::Scaled::new(GaussianMixture::<2, f64>::four_modes(&dev), 5.0).unwrap();
    let untuned = ReplicaExchange::geometric(Mala::new(0.02, 1.0).unwrap(), 30.0, 5).unwrap();
    let pt = untuned.clone().with_explorer_tuning(0.574).unwrap();
    let x0 = batch::<2>(&vec![0.0; 2 * 40]);
    let accept = |pt: &ReplicaExchange<Mala>| {
        let mut state = pt.init(&model, &x0, 6).unwrap();
        pt.tune_ladder(&model, &mut state, 9).unwrap();
        let out = pt
            .run_from(&model, &mut state, &RunOptions::new(300).progress(false))
            .unwrap();
        let eps: Vec<f64> = (0..5)
            .map(|k| state.chains().step_sizes()[k * 40])
            .collect();
        (out.swaps.explorer_acceptance, eps)
    };
    let (before, eps_before) = accept(&untuned);
    let (after, eps_after) = accept(&pt);
    assert!(eps_before.iter().all(|&e| e == 0.02), "{eps_before:?}");
    assert!(eps_after.iter().all(|&e| e > 0.1), "{eps_after:?}");
    for k in 0..5 {
        assert!(before[k] > 0.9, "untuned, temperature {k}: {}", before[k]);
        assert!(
            (after[k] - 0.574).abs() < 0.1,
            "temperature {k}: {}",
            after[k]
        );
    }
    assert!(untuned.with_explorer_tuning(1.0).is_err());
}

use proptest::strategy::Just;

proptest::proptest! {
    #![proptest_config(deterministic(64, 11))]

    /// Whatever the ladder, step counts, starting points and run lengths: a typed error or a run
    /// whose outputs have the promised shapes, never a panic.
    #[test]
    fn any_input_gives_a_typed_error_or_a_run(
        temps in proptest::collection::vec(
            proptest::prop_oneof![
                Just(1.0), Just(0.0), Just(-1.0), Just(f64::NAN), Just(f64::INFINITY),
                0.5f64..100.0,
            ],
            0..6,
        ),
        t_max in proptest::prop_oneof![Just(f64::NAN), Just(1.0), Just(f64::INFINITY), -2.0f64..50.0],
        n_temps in proptest::prop_oneof![Just(0usize), Just(1), 2usize..6, Just(usize::MAX)],
        geometric in proptest::bool::ANY,
        explore_steps in 0usize..4,
        rows in 0usize..9,
        start in proptest::prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -3.0f64..3.0],
        replicas in proptest::bool::ANY,
        steps in 0usize..5,
        rounds in 0usize..3,
        new_ladder in proptest::collection::vec(0.5f64..20.0, 0..5),
    ) {
        let dev = Cpu::default();
        let model = GaussianMixture::<2, f64>::four_modes(&dev);
        let mala = Mala::new(0.1, 1.0).unwrap();
        let pt = if geometric {
            ReplicaExchange::geometric(mala, t_max, n_temps)
        } else {
            ReplicaExchange::new(mala, temps)
        };
        let Ok(pt) = pt else { return Ok(()) };
        let Ok(pt) = pt.with_explore_steps(explore_steps) else { return Ok(()) };
        let x0 = dev.tensor_from_vec(vec![start; rows * 2], (rows, Const::<2>));
        let state = if replicas {
            pt.init_replicas(&model, &x0, 1)
        } else {
            pt.init(&model, &x0, 1)
        };
        let Ok(mut state) = state else { return Ok(()) };
        let n_t = pt.temperatures().len();
        let ladders = state.n_ladders();
        proptest::prop_assert_eq!(ladders * n_t, state.chains().n_chains());
        if let Ok(out) = pt.run_from(&model, &mut state, &RunOptions::new(steps).progress(false)) {
            proptest::prop_assert_eq!(out.swaps.explorer_acceptance.len(), n_t);
            proptest::prop_assert_eq!(out.swaps.acceptance_rate.len(), n_t - 1);
            proptest::prop_assert_eq!(out.cold.samples.shape().0, ladders);
        }
        if let Ok(ladder) = pt.tune_ladder(&model, &mut state, rounds) {
            proptest::prop_assert_eq!(ladder.len(), n_t);
        }
        let mut sorted = new_ladder.clone();
        sorted.sort_by(f64::total_cmp);
        let _ = state.set_ladder(&sorted);
        proptest::prop_assert!(state.positions_at(n_t).is_none());
    }
}
