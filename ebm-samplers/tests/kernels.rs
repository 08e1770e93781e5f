//! The step-level interface: chain states that are continued bit for bit, per-chain step sizes and
//! temperatures, per-chain step information, observers and early stops.

mod common;

use common::*;
use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel, Harmonic};
use ebm_samplers::prelude::*;

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Runs `kernel` for 1000 steps in one run and in two runs of 500 from the same state, on a pool of
/// `threads` threads; returns the final positions of both and the two traces' data.
fn one_and_two_runs<K: Kernel + Sync>(
    kernel: &K,
    n_chains: usize,
    threads: usize,
) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let dev = Cpu::default();
        let model = GaussianMixture::<2, f32>::four_modes(&dev);
        let x0: Batch<2> = Cpu::seed_from_u64(3).sample_normal_like(&(n_chains, Const::<2>));
        let mut long = kernel.init(&model, &x0, 99).unwrap();
        let full = kernel
            .run_from(&model, &mut long, &RunOptions::new(1000).trace(250))
            .unwrap();
        let mut split = kernel.init(&model, &x0, 99).unwrap();
        let first = kernel
            .run_from(&model, &mut split, &RunOptions::new(500).trace(250))
            .unwrap();
        let second = kernel
            .run_from(&model, &mut split, &RunOptions::new(500).trace(250))
            .unwrap();
        assert_eq!(long.steps(), 1000);
        assert_eq!(split.steps(), 1000);
        assert_eq!(bits(long.energies()), bits(split.energies()));
        // The long run's four kept draws are the first run's two followed by the second's.
        let (f, a, b) = (
            full.trace.unwrap(),
            first.trace.unwrap(),
            second.trace.unwrap(),
        );
        let mut joined = Vec::new();
        for c in 0..n_chains {
            joined.extend_from_slice(a.chain(c).unwrap());
            joined.extend_from_slice(b.chain(c).unwrap());
        }
        (
            bits(long.positions()),
            bits(split.positions()),
            bits(f.as_slice()),
            bits(&joined),
        )
    })
}

fn check_resume<K: Kernel + Sync>(kernel: &K, n_chains: usize) {
    let one = one_and_two_runs(kernel, n_chains, 1);
    let two = one_and_two_runs(kernel, n_chains, 2);
    assert_eq!(one.0, one.1, "1 x 1000 vs 2 x 500, one thread");
    assert_eq!(one.2, one.3, "traces, one thread");
    assert_eq!(one, two, "one thread vs two");
}

#[test]
fn a_continued_state_gives_the_draws_of_one_long_run_langevin() {
    // 5000 x 2 coordinates: above the size where Langevin's chain loop goes parallel.
    check_resume(&LangevinDynamics::new(0.05, 1.0).unwrap(), 5000);
}

#[test]
fn a_continued_state_gives_the_draws_of_one_long_run_mala() {
    check_resume(&Mala::new(0.3, 1.0).unwrap(), 3000);
}

#[test]
fn a_continued_state_gives_the_draws_of_one_long_run_hmc() {
    // 17000 x 2 coordinates: above the size where HMC's kicks and drifts are split over threads.
    check_resume(&HamiltonianMonteCarlo::new(0.3, 2).unwrap(), 17000);
}

/// Exact draws of `N(mean, t * cov)` as a batch.
fn tempered_start(mean: &[f64], cov: &[f64], t: f64, n: usize, seed: u64) -> Vec<f64> {
    let scaled: Vec<f64> = cov.iter().map(|v| v * t).collect();
    gaussian_draws(mean, &scaled, n, seed)
}

#[test]
fn hmc_and_mala_target_the_tempered_density_of_each_chain() {
    // Half the chains at T = 1, half at T = 4: each half keeps N(mean, T cov).
    let (mean, cov) = ([1.0, -1.0], [1.0, 0.5, 0.5, 2.0]);
    let dev = Cpu::default();
    let model = GaussianModel::<2, f64>::from_slices(&dev, &mean, &cov).unwrap();
    let n = 4000;
    let mut start = tempered_start(&mean, &cov, 1.0, n, 5);
    start.extend(tempered_start(&mean, &cov, 4.0, n, 6));
    let temps: Vec<f64> = (0..2 * n).map(|c| if c < n { 1.0 } else { 4.0 }).collect();
    let x0 = batch::<2>(&start);
    let hmc = HamiltonianMonteCarlo::new(0.25, 6).unwrap();
    let mala = Mala::new(0.3, 1.0).unwrap();
    let mut hs = hmc.init(&model, &x0, 1).unwrap();
    hs.set_temperatures(&temps).unwrap();
    let h_out = hmc.run_from(&model, &mut hs, &RunOptions::new(15)).unwrap();
    let mut ms = mala.init(&model, &x0, 2).unwrap();
    ms.set_temperatures(&temps).unwrap();
    let m_out = mala
        .run_from(&model, &mut ms, &RunOptions::new(30))
        .unwrap();
    for (name, state, out) in [("HMC", &hs, h_out), ("MALA", &ms, m_out)] {
        let rate = out.chain_stats.unwrap().mean_acceptance_rate();
        assert!(rate > 0.5, "{name}: acceptance {rate}");
        let x = state.positions();
        for (half, t) in [(0, 1.0), (1, 4.0)] {
            let scaled: Vec<f64> = cov.iter().map(|v| v * t).collect();
            let rows = &x[half * n * 2..(half + 1) * n * 2];
            assert_moments(rows, 2, &mean, &scaled, 5.0, 0.0, &format!("{name} T={t}"));
        }
    }
}

#[test]
fn hmc_at_temperature_four_is_not_hmc_at_one() {
    // The check above can fail: the T = 4 chains must spread twice as wide as the T = 1 ones.
    let dev = Cpu::default();
    let model = GaussianModel::<1, f64>::from_slices(&dev, &[0.0], &[1.0]).unwrap();
    let x0 = batch::<1>(&gaussian_draws(&[0.0], &[1.0], 4000, 8));
    let hmc = HamiltonianMonteCarlo::new(0.3, 5).unwrap();
    let mut state = hmc.init(&model, &x0, 3).unwrap();
    state.set_temperatures(&vec![4.0; 4000]).unwrap();
    hmc.run_from(&model, &mut state, &RunOptions::new(40))
        .unwrap();
    let (_, var) = moments(state.positions(), 1);
    assert!((var[0] - 4.0).abs() < 0.5, "variance {}", var[0]);
}

#[test]
fn a_chain_moves_as_its_own_parameters_say_whatever_its_neighbours() {
    // Chains with alternating step sizes give, chain by chain, the draws of uniform runs.
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(40, 9);
    let sizes: Vec<f64> = (0..40)
        .map(|c| if c % 2 == 0 { 0.1 } else { 0.4 })
        .collect();
    fn check<K: Kernel>(k: &K, model: &GaussianMixture<2, f64>, x0: &Batch<2, f64>, sizes: &[f64]) {
        let mut mixed = k.init(model, x0, 4).unwrap();
        mixed.set_step_sizes(sizes).unwrap();
        k.run_from(model, &mut mixed, &RunOptions::new(30)).unwrap();
        for h in [0.1, 0.4] {
            let mut uniform = k.init(model, x0, 4).unwrap();
            uniform.set_step_sizes(&vec![h; 40]).unwrap();
            k.run_from(model, &mut uniform, &RunOptions::new(30))
                .unwrap();
            for c in (0..40).filter(|&c| sizes[c] == h) {
                assert_eq!(
                    mixed.positions()[2 * c..2 * c + 2],
                    uniform.positions()[2 * c..2 * c + 2],
                    "chain {c} at step size {h}"
                );
            }
        }
    }
    check(
        &HamiltonianMonteCarlo::new(1.0, 5).unwrap(),
        &model,
        &x0,
        &sizes,
    );
    check(&Mala::new(1.0, 1.0).unwrap(), &model, &x0, &sizes);
    check(
        &LangevinDynamics::new(1.0, 1.0).unwrap(),
        &model,
        &x0,
        &sizes,
    );
}

#[test]
fn step_information_is_consistent_and_feeds_the_run_statistics() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [0.0f64, 0.0], [[1.0, 0.0], [0.0, 0.01]]).unwrap();
    let x0 = batch::<2>(&gaussian_draws(&[0.0, 0.0], &[1.0, 0.0, 0.0, 0.01], 200, 3));
    // Step 0.19 on a direction of sd 0.1: stable (0.19 / 0.1 < 2) but close to the limit, so the
    // energy errors are bounded yet often above 5.
    let hmc = HamiltonianMonteCarlo::new(0.19, 7)
        .unwrap()
        .with_divergence_threshold(5.0)
        .unwrap();
    let mut state = hmc.init(&model, &x0, 5).unwrap();
    let (mut accepted, mut large) = (vec![0u64; 200], vec![0usize; 200]);
    let mut check = observer_fn(|s: &StepView<'_, 2, f64>| {
        for (c, i) in s.info.iter().enumerate() {
            assert_eq!(i.grad_evals, 7);
            assert!(i.energy_error.is_finite());
            let expected = (-i.energy_error).exp().min(1.0);
            assert!((i.accept_prob() - expected).abs() < 1e-12);
            assert_eq!(i.log_accept_ratio, -i.energy_error);
            assert_eq!(
                i.divergence == Some(Divergence::EnergyError),
                i.energy_error > 5.0
            );
            accepted[c] += u64::from(i.accepted);
            large[c] += usize::from(i.divergence.is_some());
        }
        Ok(Flow::Continue)
    });
    let out = Driver::new(&hmc, &model, &mut state)
        .observe(&mut check)
        .run(&RunOptions::new(50))
        .unwrap();
    let stats = out.chain_stats.unwrap();
    assert_eq!(stats.steps, 50);
    assert_eq!(stats.large_energy_error, large);
    assert_eq!(stats.non_finite, vec![0; 200]);
    assert_eq!(stats.divergences, large);
    assert!(
        stats.total_divergences() > 100,
        "{}",
        stats.total_divergences()
    );
    assert_eq!(stats.total_gradient_evaluations(), 200 * 50 * 7);
    for (rate, a) in stats.acceptance_rate.iter().zip(&accepted) {
        assert_eq!(*rate, *a as f64 / 50.0);
    }
    // The default threshold (1000) flags none of these.
    let calm = HamiltonianMonteCarlo::new(0.19, 7).unwrap();
    let out = calm.run(&model, &x0, &RunOptions::new(50).seed(5)).unwrap();
    assert_eq!(out.chain_stats.unwrap().total_divergences(), 0);
}

#[test]
fn an_observer_can_stop_a_run_and_the_state_continues_exactly() {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let x0 = standard_normal_batch::<2>(16, 2);
    let mala = Mala::new(0.4, 1.0).unwrap();
    let mut state = mala.init(&model, &x0, 8).unwrap();
    let mut stop_at_seven = observer_fn(|s: &StepView<'_, 2, f64>| {
        Ok(if s.step == 6 {
            Flow::Stop
        } else {
            Flow::Continue
        })
    });
    let out = Driver::new(&mala, &model, &mut state)
        .observe(&mut stop_at_seven)
        .run(&RunOptions::new(100).trace(1).diagnostics(true))
        .unwrap();
    assert_eq!(state.steps(), 7);
    assert_eq!(out.trace.as_ref().unwrap().shape(), [16, 7, 2]);
    assert_eq!(out.diagnostics.unwrap().n_steps(), 7);
    assert_eq!(out.chain_stats.unwrap().steps, 7);
    mala.run_from(&model, &mut state, &RunOptions::new(3))
        .unwrap();
    let whole = mala.run(&model, &x0, &RunOptions::new(10).seed(8)).unwrap();
    assert_eq!(state.positions(), whole.samples.as_vec().as_slice());
}

#[test]
fn observers_see_each_kept_draw_draw_major_as_it_is_made() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0 = standard_normal_batch::<2>(5, 1);
    let lang = LangevinDynamics::new(0.1, 1.0).unwrap();
    let mut state = lang.init(&model, &x0, 3).unwrap();
    let mut kept: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut collect = observer_fn(|s: &StepView<'_, 2, f64>| {
        if let Some(k) = s.kept {
            kept.push((k, s.positions.to_vec()));
        }
        Ok(Flow::Continue)
    });
    let out = Driver::new(&lang, &model, &mut state)
        .observe(&mut collect)
        .run(&RunOptions::new(12).trace(4))
        .unwrap();
    let trace = out.trace.unwrap();
    assert_eq!(kept.len(), 3);
    for (k, draw) in &kept {
        for c in 0..5 {
            assert_eq!(&draw[2 * c..2 * c + 2], trace.point(c, *k).unwrap());
        }
    }
}

#[test]
fn parameters_are_validated_per_chain() {
    let x0 = batch::<1>(&[0.0, 1.0, 2.0]);
    let model = Harmonic::<f64>::default();
    let mala = Mala::new(0.1, 1.0).unwrap();
    let mut state = mala.init(&model, &x0, 0).unwrap();
    assert_eq!(
        invalid_name(state.set_step_size(3, 0.1).unwrap_err()),
        "chain"
    );
    assert_eq!(
        invalid_name(state.set_step_size(1, -0.1).unwrap_err()),
        "step_size[1]"
    );
    assert_eq!(
        invalid_name(state.set_temperatures(&[1.0, f64::NAN, 1.0]).unwrap_err()),
        "temperature[1]"
    );
    assert!(matches!(
        state.set_step_sizes(&[0.1, 0.2]).unwrap_err(),
        Error::LengthMismatch {
            expected: 3,
            actual: 2,
            ..
        }
    ));
    assert_eq!(state.step_sizes(), &[0.1, 0.1, 0.1], "unchanged on error");
    // Temperature 0 is gradient descent for Langevin, an error for Metropolis kernels.
    state.set_temperature(2, 0.0).unwrap();
    let err = mala
        .run_from(&model, &mut state, &RunOptions::new(1))
        .unwrap_err();
    assert_eq!(invalid_name(err), "temperature[2]");
    assert_eq!(
        invalid_name(
            HamiltonianMonteCarlo::new(0.1, 3)
                .unwrap()
                .with_divergence_threshold(0.0)
                .unwrap_err()
        ),
        "divergence_threshold"
    );
}

/// A model that announces a host path and then refuses it.
struct Liar;

impl Energy<1, f64, Cpu> for Liar {
    fn energy<T: Tape<f64, Cpu>>(&self, x: Batch<1, f64, Cpu, T>) -> Energies<f64, Cpu, T> {
        x.square().sum::<(usize,), Axis<1>>()
    }
    fn has_host_path(&self) -> bool {
        true
    }
}

#[test]
fn a_model_that_refuses_its_announced_host_path_is_an_error() {
    let x0 = batch::<1>(&[0.0, 1.0]);
    let err = Mala::new(0.1, 1.0)
        .unwrap()
        .sample(&Liar, &x0, 1, 0)
        .unwrap_err();
    assert!(matches!(err, Error::HostPathRefused), "{err:?}");
}
