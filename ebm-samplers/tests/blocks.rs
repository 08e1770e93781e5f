//! Models that offer a `RowEnergy` run each step in blocks of chains, one block per thread task.
//! The draws must be those of the batch-wide step bit for bit, on any number of threads.

use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;

/// A model with its host path but without its row evaluator, so kernels step the whole batch at
/// once (the path every model without a `RowEnergy` takes).
struct BatchOnly<'a, M>(&'a M);

impl<const D: usize, M: Energy<D, f32, Cpu>> Energy<D, f32, Cpu> for BatchOnly<'_, M> {
    fn energy<T: Tape<f32, Cpu>>(&self, x: Batch<D, f32, Cpu, T>) -> Energies<f32, Cpu, T> {
        self.0.energy(x)
    }
    fn energy_and_gradient(&self, x: &Batch<D, f32>) -> (Energies<f32, Cpu>, Batch<D, f32>) {
        self.0.energy_and_gradient(x)
    }
    fn has_host_path(&self) -> bool {
        true
    }
    fn host_energy_and_gradient(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) -> bool {
        self.0.host_energy_and_gradient(x, energy, grad)
    }
}

/// A rayon pool of `threads` threads.
fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn model() -> GaussianModel<100, f32> {
    let mean: Vec<f32> = (0..100).map(|i| (0.7 * i as f32).cos()).collect();
    let cov: Vec<f32> = (0..100 * 100i32)
        .map(|k| {
            let (i, j) = (k / 100, k % 100);
            0.6f32.powi((i - j).abs()) + if i == j { 0.3 } else { 0.0 }
        })
        .collect();
    GaussianModel::from_slices(&Cpu::default(), &mean, &cov).unwrap()
}

/// Final positions and energies of `steps` steps of `kernel` from a fixed start, on `threads`
/// threads, through the row evaluator (`blocked`) or the batch path.
fn run<K: Kernel + Sync>(kernel: &K, steps: usize, threads: usize, blocked: bool) -> Vec<u32> {
    let pool = rayon_pool(threads);
    pool.install(|| {
        let m = model();
        // 300 chains: several blocks, the last one short.
        let x0: Batch<100, f32> = Cpu::seed_from_u64(4).sample_normal_like(&(300, Const::<100>));
        let mut state = if blocked {
            kernel.init(&m, &x0, 17).unwrap()
        } else {
            kernel.init(&BatchOnly(&m), &x0, 17).unwrap()
        };
        // One chain with its own step size: the per-chain branch of the integrators.
        state
            .set_step_size(5, 0.5 * kernel.initial_step_size())
            .unwrap();
        let opts = RunOptions::new(steps).diagnostics(true);
        let out = if blocked {
            kernel.run_from(&m, &mut state, &opts).unwrap()
        } else {
            kernel.run_from(&BatchOnly(&m), &mut state, &opts).unwrap()
        };
        let mut bits: Vec<u32> = state.positions().iter().map(|v| v.to_bits()).collect();
        bits.extend(state.energies().iter().map(|v| v.to_bits()));
        let diagnostics = out.diagnostics.unwrap();
        if let Some(rates) = diagnostics.acceptance_rate() {
            bits.extend(rates.iter().map(|v| v.to_bits() as u32));
        }
        if let Some(errors) = diagnostics.energy_error() {
            bits.extend(errors.iter().map(|v| (v.to_bits() >> 32) as u32));
            bits.extend(errors.iter().map(|v| v.to_bits() as u32));
        }
        bits
    })
}

fn check<K: Kernel + Sync>(kernel: &K, steps: usize) {
    let batch = run(kernel, steps, 1, false);
    assert_eq!(run(kernel, steps, 1, true), batch, "blocks, one thread");
    assert_eq!(run(kernel, steps, 2, true), batch, "blocks, two threads");
    assert_eq!(run(kernel, steps, 3, true), batch, "blocks, three threads");
}

#[test]
fn hmc_in_blocks_gives_the_draws_of_the_batch_step() {
    check(&HamiltonianMonteCarlo::new(0.15, 8).unwrap(), 12);
}

#[test]
fn hmc_with_a_dense_mass_in_blocks_gives_the_draws_of_the_batch_step() {
    let mut mass = vec![0.0; 100 * 100];
    for i in 0..100 {
        for j in 0..100 {
            mass[i * 100 + j] =
                0.3f64.powi((i as i32 - j as i32).abs()) + if i == j { 1.0 } else { 0.0 };
        }
    }
    let hmc = HamiltonianMonteCarlo::new(0.15, 5)
        .unwrap()
        .with_mass(MassMatrix::Dense(mass))
        .unwrap();
    check(&hmc, 6);
}

#[test]
fn mala_in_blocks_gives_the_draws_of_the_batch_step() {
    check(&Mala::new(0.05, 1.0).unwrap(), 30);
}

#[test]
fn langevin_in_blocks_gives_the_draws_of_the_batch_step() {
    check(&LangevinDynamics::new(0.05, 1.0).unwrap(), 30);
}

/// Positions and energies after `advance` (all steps of a block on one thread) on `threads`.
fn advanced(kernel: &LangevinDynamics, steps: usize, threads: usize) -> (Vec<u32>, u64) {
    let pool = rayon_pool(threads);
    pool.install(|| {
        let m = model();
        let x0: Batch<100, f32> = Cpu::seed_from_u64(4).sample_normal_like(&(300, Const::<100>));
        let mut state = kernel.init(&m, &x0, 17).unwrap();
        state
            .set_step_size(5, 0.5 * kernel.initial_step_size())
            .unwrap();
        kernel.advance(&m, &mut state, steps).unwrap();
        let mut bits: Vec<u32> = state.positions().iter().map(|v| v.to_bits()).collect();
        bits.extend(state.energies().iter().map(|v| v.to_bits()));
        (bits, state.steps())
    })
}

#[test]
fn langevin_advance_and_final_positions_give_the_draws_of_the_driver() {
    let kernel = LangevinDynamics::new(0.05, 1.0).unwrap();
    // The driver's steps through the batch path: positions, then energies.
    let reference = run(&kernel, 30, 1, false);
    for threads in [1, 2, 3] {
        let (bits, steps) = advanced(&kernel, 30, threads);
        assert_eq!(
            bits,
            reference[..bits.len()],
            "advance on {threads} threads"
        );
        assert_eq!(steps, 30);
    }
    // `sample` (final positions only) agrees with `run`'s samples.
    let m = model();
    let x0: Batch<100, f32> = Cpu::seed_from_u64(8).sample_normal_like(&(150, Const::<100>));
    let run_samples = kernel
        .run(&m, &x0, &RunOptions::new(25).seed(3).progress(false))
        .unwrap()
        .samples
        .as_vec();
    let sampled = kernel.sample(&m, &x0, 25, 3).unwrap().as_vec();
    assert_eq!(sampled, run_samples);
    let batch = kernel.sample(&BatchOnly(&m), &x0, 25, 3).unwrap().as_vec();
    assert_eq!(sampled, batch);
    assert_eq!(kernel.sample(&m, &x0, 0, 3).unwrap().as_vec(), x0.as_vec());
}

#[test]
fn langevin_advance_reports_a_divergence_as_the_driver_does() {
    // A step so large that chains blow up after a few steps.
    let kernel = LangevinDynamics::new(4.0, 1.0).unwrap();
    let m = model();
    let x0: Batch<100, f32> = Cpu::seed_from_u64(4).sample_normal_like(&(300, Const::<100>));
    let driver = kernel
        .run(&BatchOnly(&m), &x0, &RunOptions::new(200).progress(false))
        .unwrap_err();
    assert!(matches!(driver, Error::Diverged { .. }), "{driver}");
    for threads in [1, 2] {
        let pool = rayon_pool(threads);
        let blocked = pool.install(|| kernel.sample(&m, &x0, 200, 0).unwrap_err());
        assert_eq!(blocked.to_string(), driver.to_string(), "{threads} threads");
        let mut state = kernel.init(&m, &x0, 0).unwrap();
        let advanced = pool.install(|| kernel.advance(&m, &mut state, 200).unwrap_err());
        assert_eq!(
            advanced.to_string(),
            driver.to_string(),
            "{threads} threads"
        );
    }
}

#[test]
fn mala_advance_gives_the_draws_of_the_driver() {
    let kernel = Mala::new(0.05, 1.0).unwrap();
    let reference = run(&kernel, 30, 1, false);
    for threads in [1, 2, 3] {
        let pool = rayon_pool(threads);
        let (bits, steps) = pool.install(|| {
            let m = model();
            let x0: Batch<100, f32> =
                Cpu::seed_from_u64(4).sample_normal_like(&(300, Const::<100>));
            let mut state = kernel.init(&m, &x0, 17).unwrap();
            state
                .set_step_size(5, 0.5 * kernel.initial_step_size())
                .unwrap();
            kernel.advance(&m, &mut state, 30).unwrap();
            let mut bits: Vec<u32> = state.positions().iter().map(|v| v.to_bits()).collect();
            bits.extend(state.energies().iter().map(|v| v.to_bits()));
            (bits, state.steps())
        });
        assert_eq!(
            bits,
            reference[..bits.len()],
            "advance on {threads} threads"
        );
        assert_eq!(steps, 30);
    }
}

/// A 2-16-16-1 network with weights from a fixed formula.
fn network() -> ebm_models::Mlp<2, f32> {
    let layer = |ins: usize, outs: usize, phase: f64| ebm_models::Layer {
        weights: (0..ins * outs)
            .map(|k| (0.37 * k as f64 + phase).sin() / (ins as f64).sqrt())
            .collect(),
        bias: (0..outs).map(|o| 0.1 * (o as f64 + phase).cos()).collect(),
    };
    let output = (0..16).map(|i| (0.3 * i as f64).cos() / 4.0).collect();
    ebm_models::Mlp::new(
        &Cpu::default(),
        vec![layer(2, 16, 0.1), layer(16, 16, 0.7)],
        output,
        0.2,
        0.05,
    )
    .unwrap()
}

#[test]
fn the_built_in_network_in_blocks_gives_the_draws_of_the_batch_step() {
    let m = network();
    // 300 chains: several of the network's blocks of rows, the last one short.
    let x0: Batch<2, f32> = Cpu::seed_from_u64(5).sample_normal_like(&(300, Const::<2>));
    let langevin = LangevinDynamics::new(0.02, 1.0).unwrap();
    let mala = Mala::new(0.05, 1.0).unwrap();
    let reference = langevin
        .sample(&BatchOnly(&m), &x0, 40, 9)
        .unwrap()
        .as_vec();
    let mala_reference = mala
        .run(&BatchOnly(&m), &x0, &RunOptions::new(20).seed(9))
        .unwrap()
        .samples
        .as_vec();
    for threads in [1, 2, 3] {
        let pool = rayon_pool(threads);
        pool.install(|| {
            let sampled = langevin.sample(&m, &x0, 40, 9).unwrap().as_vec();
            assert_eq!(sampled, reference, "Langevin on {threads} threads");
            let run = mala
                .run(&m, &x0, &RunOptions::new(20).seed(9))
                .unwrap()
                .samples
                .as_vec();
            assert_eq!(run, mala_reference, "MALA on {threads} threads");
        });
    }
}

/// A 2-8-8-1 network written with `#[energy]`, evaluated by autodiff.
#[energy]
fn small_net(
    x: Batch<2>,
    w1: [[f32; 8]; 2],
    b1: [f32; 8],
    w2: [[f32; 8]; 8],
    w3: [[f32; 1]; 8],
) -> Energies {
    let rows = (x.shape().0, Const::<8>);
    let h1 = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&rows)).tanh();
    let h2 = h1.matmul(w2).tanh();
    h2.matmul(w3).sum::<_, Axis<1>>() + x.square().sum::<_, Axis<1>>() * 0.05
}

/// The same model with neither host path nor row evaluator: kernels go through tensors.
struct TensorsOnly<'a>(&'a SmallNet<f32>);

impl Energy<2, f32, Cpu> for TensorsOnly<'_> {
    fn energy<T: Tape<f32, Cpu>>(&self, x: Batch<2, f32, Cpu, T>) -> Energies<f32, Cpu, T> {
        self.0.energy(x)
    }
    fn energy_and_gradient(&self, x: &Batch<2, f32>) -> (Energies<f32, Cpu>, Batch<2, f32>) {
        self.0.energy_and_gradient(x)
    }
}

#[test]
fn an_energy_macro_network_in_blocks_gives_the_draws_of_the_tensor_path() {
    let f = |k: usize, phase: f32| (0.37 * k as f32 + phase).sin() * 0.5;
    let m = SmallNet::new(
        &Cpu::default(),
        std::array::from_fn(|i| std::array::from_fn(|j| f(8 * i + j, 0.1))),
        std::array::from_fn(|j| f(j, 0.5)),
        std::array::from_fn(|i| std::array::from_fn(|j| f(8 * i + j, 0.9))),
        std::array::from_fn(|i| [f(i, 1.3)]),
    )
    .unwrap();
    assert!(m.has_host_path() && m.row_energy().is_some());
    // 300 chains: one block for the tensor path, a block of 250 and one of 50 for the rows.
    let x0: Batch<2, f32> = Cpu::seed_from_u64(6).sample_normal_like(&(300, Const::<2>));
    let langevin = LangevinDynamics::new(0.02, 1.0).unwrap();
    let reference = langevin
        .sample(&TensorsOnly(&m), &x0, 30, 4)
        .unwrap()
        .as_vec();
    for threads in [1, 2, 3] {
        let pool = rayon_pool(threads);
        let sampled = pool.install(|| langevin.sample(&m, &x0, 30, 4).unwrap().as_vec());
        assert_eq!(sampled, reference, "Langevin on {threads} threads");
    }
}
