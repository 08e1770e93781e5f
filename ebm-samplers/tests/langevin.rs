//! Langevin dynamics: configuration checks, the update rule as documented, reproducibility,
//! trajectories and diagnostics, and stationary moments.

mod common;

use common::*;
use ebm_core::prelude::*;
use ebm_models::{GaussianModel, Harmonic};
use ebm_samplers::prelude::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn rejects_bad_step_size() {
    for h in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert_eq!(
            invalid_name(LangevinDynamics::new(h, 1.0).unwrap_err()),
            "step_size"
        );
    }
}

#[test]
fn rejects_bad_noise_scale() {
    for s in [-0.1, f64::NAN, f64::NEG_INFINITY, f64::INFINITY] {
        assert_eq!(
            invalid_name(LangevinDynamics::new(0.1, s).unwrap_err()),
            "noise_scale"
        );
    }
    assert!(LangevinDynamics::new(0.1, 0.0).is_ok());
}

#[test]
fn rejects_zero_thinning() {
    let dev = Cpu::default();
    let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
    let sampler = LangevinDynamics::new(0.1, 1.0).unwrap();
    let err = sampler
        .run(&Harmonic::default(), &x0, &RunOptions::new(5).trace(0))
        .unwrap_err();
    assert_eq!(invalid_name(err), "thin");
}

#[test]
fn rejects_empty_and_non_finite_initial_particles() {
    let dev = Cpu::default();
    let sampler = LangevinDynamics::new(0.1, 1.0).unwrap();
    let empty: Batch<2, f64> = dev.zeros_like(&(0, Const::<2>));
    assert!(matches!(
        sampler.sample(&Harmonic::default(), &empty, 3, 0),
        Err(Error::EmptyBatch { .. })
    ));
    let bad: Batch<2, f64> = dev.tensor_from_vec(vec![0.0, 0.0, 1.0, f64::NAN], (2, Const::<2>));
    let err = sampler
        .sample(&Harmonic::default(), &bad, 3, 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteState {
                chain: 1,
                dim: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("chain 1"), "{err}");
}

#[test]
fn divergence_is_reported_not_returned_as_nan() {
    let dev = Cpu::default();
    // h * k = 10 > 2: the linear recursion x <- (1 - h k) x + noise blows up.
    let model = Harmonic::new(100.0f64).unwrap();
    let x0: Batch<1, f64> = dev.ones_like(&(3, Const::<1>));
    let err = LangevinDynamics::new(0.1, 1.0)
        .unwrap()
        .sample(&model, &x0, 2000, 0)
        .unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err:?}");
}

#[test]
fn zero_noise_is_exact_gradient_descent() {
    let dev = Cpu::default();
    let k = 1.5;
    let h = 0.1;
    let x0: Batch<3, f64> =
        dev.tensor_from_vec(vec![1.0, -2.0, 0.5, 3.0, 0.0, -1.0], (2, Const::<3>));
    let out = LangevinDynamics::new(h, 0.0)
        .unwrap()
        .sample(&Harmonic::new(k).unwrap(), &x0, 4, 9)
        .unwrap();
    let expect: Vec<f64> = x0
        .as_vec()
        .iter()
        .map(|&v| {
            let mut v = v;
            for _ in 0..4 {
                v -= h * (k * v);
            }
            v
        })
        .collect();
    assert_eq!(out.as_vec(), expect);
}

#[test]
fn one_step_follows_the_documented_rule_and_streams() {
    // x <- x - h grad E + s sqrt(2h) xi, xi from chain c's ChaCha8 stream (seed, stream c).
    let dev = Cpu::default();
    let (h, s, k, seed) = (0.05, 0.7, 2.0, 1234u64);
    let x0: Batch<2, f64> =
        dev.tensor_from_vec(vec![0.3, -0.4, 1.0, 2.0, -1.5, 0.0], (3, Const::<2>));
    let out = LangevinDynamics::new(h, s)
        .unwrap()
        .sample(&Harmonic::new(k).unwrap(), &x0, 1, seed)
        .unwrap()
        .as_vec();
    let x = x0.as_vec();
    for c in 0..3 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(c as u64);
        for i in 0..2 {
            let xi = f64::standard_normal(&mut rng);
            let v = x[c * 2 + i];
            let expect = v - h * (k * v) + s * (2.0 * h).sqrt() * xi;
            assert_eq!(out[c * 2 + i], expect, "chain {c} coordinate {i}");
        }
    }
}

fn run_in_pool(threads: usize, seed: u64) -> Vec<u64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    // 6000 x 2 coordinates: above the size where chain loops go parallel.
    let x0: Batch<2> = Cpu::seed_from_u64(5).sample_normal_like(&(6000, Const::<2>));
    let sampler = LangevinDynamics::new(0.1, 0.1).unwrap();
    pool.install(|| sampler.sample(&model, &x0, 20, seed))
        .unwrap()
        .as_vec()
        .iter()
        .map(|v| v.to_bits() as u64)
        .collect()
}

#[test]
fn same_seed_same_bits_whatever_the_thread_count() {
    let one = run_in_pool(1, 77);
    assert_eq!(one, run_in_pool(2, 77));
    assert_eq!(one, run_in_pool(1, 77));
    let other = run_in_pool(2, 78);
    let differing = one.iter().zip(&other).filter(|(a, b)| a != b).count();
    assert!(
        differing > one.len() * 99 / 100,
        "only {differing} of {} differ",
        one.len()
    );
}

#[test]
fn trajectory_keeps_every_thin_th_state() {
    let dev = Cpu::default();
    let model = Harmonic::<f64>::default();
    let x0: Batch<2, f64> = standard_normal_batch(4, 1);
    let sampler = LangevinDynamics::new(0.1, 1.0).unwrap();
    let out = sampler
        .run(&model, &x0, &RunOptions::new(10).seed(3).trace(3))
        .unwrap();
    let traj = out.trace.unwrap();
    assert_eq!(traj.shape(), [4, 3, 2]);
    assert_eq!(traj.thin(), 3);
    // Kept state k is the state after step 3 (k + 1): a shorter run with the same seed ends there.
    for k in 0..3 {
        let short = sampler
            .sample(&model, &x0, 3 * (k + 1), 3)
            .unwrap()
            .as_vec();
        for c in 0..4 {
            assert_eq!(
                traj.point(c, k).unwrap().as_slice(),
                &short[c * 2..c * 2 + 2]
            );
        }
    }
    assert!(traj.point(4, 0).is_none() && traj.point(0, 3).is_none());
    let t = traj.to_tensor(&dev);
    assert_eq!(t.shape().concrete(), [4, 3, 2]);
    assert_eq!(t.as_vec(), traj.as_slice());
}

#[test]
fn diagnostics_match_the_trajectory() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0: Batch<2, f64> = standard_normal_batch(50, 2);
    let out = LangevinDynamics::new(0.1, 0.5)
        .unwrap()
        .run(
            &model,
            &x0,
            &RunOptions::new(6).seed(4).trace(1).diagnostics(true),
        )
        .unwrap();
    let traj = out.trace.unwrap();
    let diag = out.diagnostics.unwrap();
    assert_eq!(diag.n_steps(), 6);
    for step in 0..6 {
        let pts: Vec<f64> = (0..50)
            .flat_map(|c| *traj.point(c, step).unwrap())
            .collect();
        let (mean, cov) = moments(&pts, 2);
        for i in 0..2 {
            assert!((diag.mean()[step][i] - mean[i]).abs() < 1e-12);
            assert!((diag.variance()[step][i] - cov[i * 2 + i]).abs() < 1e-12);
        }
        let batch: Batch<2, f64> = dev.tensor_from_vec(pts, (50, Const::<2>));
        let e: f64 = model.energy(batch).as_vec().iter().sum::<f64>() / 50.0;
        assert!((diag.mean_energy()[step] - e).abs() < 1e-12, "step {step}");
    }
}

#[test]
fn zero_steps_return_the_initial_particles() {
    let x0: Batch<2, f64> = standard_normal_batch(3, 8);
    let out = LangevinDynamics::new(0.1, 1.0)
        .unwrap()
        .run(
            &Harmonic::default(),
            &x0,
            &RunOptions::new(0).trace(1).diagnostics(true),
        )
        .unwrap();
    assert_eq!(out.samples.as_vec(), x0.as_vec());
    assert_eq!(out.trace.unwrap().shape(), [3, 0, 2]);
    assert_eq!(out.diagnostics.unwrap().n_steps(), 0);
}

/// Runs Langevin long enough that the initial state is forgotten to 1e-8 and checks the final states
/// (independent across chains) against the exact stationary law of the discretised chain.
fn check_stationary<const D: usize>(mean: &[f64], entries: &[f64], h: f64, s: f64, seed: u64) {
    let dev = Cpu::default();
    let cov = random_spd(entries, D, 0.3);
    let model = GaussianModel::<D, f64>::from_slices(&dev, mean, &cov).unwrap();
    let prec = model.precision().to_vec();
    // trace(P) bounds lambda_max(P); 1 / trace(cov) bounds lambda_min(P) from below.
    let h = h.min(0.5 / trace(&prec, D));
    let sampler = LangevinDynamics::new(h, s).unwrap();
    let contraction = 1.0 - h / trace(&cov, D);
    let n_steps = ((1e-8f64).ln() / contraction.ln()).ceil() as usize;
    let n = 2000;
    let x0: Batch<D, f64> = standard_normal_batch(n, seed);
    let x = sampler.sample(&model, &x0, n_steps, seed).unwrap().as_vec();
    let exact = sampler.gaussian_stationary_covariance(&prec, D).unwrap();
    assert_moments(
        &x,
        D,
        mean,
        &exact,
        5.0,
        1e-6,
        &format!("D={D} h={h} s={s}"),
    );
}

proptest! {
    #![proptest_config(deterministic(8, 20261126))]

    #[test]
    fn stationary_moments_match_the_discretised_chain(
        d in 1usize..=4,
        mean in proptest::collection::vec(-2.0f64..2.0, 4),
        entries in proptest::collection::vec(-1.0f64..1.0, 16),
        h in 0.05f64..0.3,
        s in 0.3f64..1.5,
        seed in 0u64..1000,
    ) {
        match d {
            1 => check_stationary::<1>(&mean[..1], &entries[..1], h, s, seed),
            2 => check_stationary::<2>(&mean[..2], &entries[..4], h, s, seed),
            3 => check_stationary::<3>(&mean[..3], &entries[..9], h, s, seed),
            _ => check_stationary::<4>(&mean[..4], &entries[..16], h, s, seed),
        }
    }
}

#[test]
fn small_steps_sample_the_analytic_gaussian_within_the_bias_bound() {
    // For precision P with eigenvalues lambda, the chain's covariance exceeds T * cov by
    // T (h / 2) / (1 - h lambda / 2) along each eigenvector, so every entry of S - T cov is bounded by
    // T h / (2 - h lambda_max). With h = 0.02 that is about 1% of T.
    let dev = Cpu::default();
    let mean = [1.0, -1.0];
    let cov = [1.0, 0.5, 0.5, 2.0];
    let model = GaussianModel::<2, f64>::from_slices(&dev, &mean, &cov).unwrap();
    let (h, s) = (0.02, 1.0);
    let lambda_max = trace(model.precision(), 2);
    let bias = s * s * h / (2.0 - h * lambda_max);
    assert!(bias < 0.011);
    let x0: Batch<2, f64> = standard_normal_batch(2000, 11);
    let x = LangevinDynamics::new(h, s)
        .unwrap()
        .sample(&model, &x0, 2500, 11)
        .unwrap()
        .as_vec();
    assert_moments(&x, 2, &mean, &cov, 5.0, bias, "analytic Gaussian");
}

#[test]
fn the_guide_example_runs_in_f32_at_temperature_one_hundredth() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let sampler = LangevinDynamics::new(0.1, 0.1).unwrap();
    assert!((sampler.temperature() - 0.01).abs() < 1e-15);
    let x0: Batch<2> = Cpu::seed_from_u64(0).sample_normal_like(&(1000, Const::<2>));
    // Slowest contraction 1 - 0.1 * 0.45: after 400 steps the start is forgotten to 1e-8.
    let x: Vec<f64> = sampler
        .sample(&model, &x0, 400, 42)
        .unwrap()
        .as_vec()
        .iter()
        .map(|&v| v as f64)
        .collect();
    let exact = sampler
        .gaussian_stationary_covariance(&[2.0 / 1.75, -0.5 / 1.75, -0.5 / 1.75, 1.0 / 1.75], 2)
        .unwrap();
    // f32 rounding of 400 updates stays far below the 5-sigma band (se ~ 1e-3 here).
    assert_moments(&x, 2, &[1.0, -1.0], &exact, 5.0, 1e-5, "guide example");
}

/// A model that hides the host fast path of the model it wraps, so samplers use tensors.
struct TensorOnly<M>(M);

impl<const D: usize, M: Energy<D, f64, Cpu>> Energy<D, f64, Cpu> for TensorOnly<M> {
    fn energy<T: Tape<f64, Cpu>>(&self, x: Batch<D, f64, Cpu, T>) -> Energies<f64, Cpu, T> {
        self.0.energy(x)
    }
    fn energy_and_gradient(&self, x: &Batch<D, f64>) -> (Energies<f64>, Batch<D, f64>) {
        self.0.energy_and_gradient(x)
    }
}

#[test]
fn host_and_tensor_paths_give_the_same_chains() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let x0 = standard_normal_batch::<2>(200, 4);
    let opts = RunOptions::new(50).seed(6).diagnostics(true).trace(5);
    let sampler = LangevinDynamics::new(0.1, 0.5).unwrap();
    let fast = sampler.run(&model, &x0, &opts).unwrap();
    let slow = sampler.run(&TensorOnly(model), &x0, &opts).unwrap();
    for (a, b) in fast.samples.as_vec().iter().zip(slow.samples.as_vec()) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
    let (df, ds) = (fast.diagnostics.unwrap(), slow.diagnostics.unwrap());
    for (a, b) in df.mean_energy().iter().zip(ds.mean_energy()) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}
