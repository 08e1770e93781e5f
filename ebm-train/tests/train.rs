//! The training crate against independent references: dfdx's autodiff for the host pass, the
//! analytic mixture for the quadrature, exact counts for the data and the buffer, and thread
//! counts for reproducibility.

use ebm_core::prelude::*;
use ebm_samplers::LangevinDynamics;
use ebm_train::buffer::ReplayBuffer;
use ebm_train::cd::{PcdConfig, PcdTrainer};
use ebm_train::data::{Mixture, Toy};
use ebm_train::eval::{mixture_report, Grid, Quadrature};
use ebm_train::nn::{build_network, HostLayer, MlpEnergy, SiluMlp};
use rand::SeedableRng;

type TanhNet = (
    dfdx::nn::builders::Linear<2, 16>,
    dfdx::nn::builders::Tanh,
    dfdx::nn::builders::Linear<16, 8>,
    dfdx::nn::builders::Sigmoid,
    dfdx::nn::builders::Linear<8, 1>,
);

fn points(n: usize, seed: u64) -> Batch<2> {
    Cpu::seed_from_u64(seed).sample_normal_like(&(n, Const::<2>)) * 2.0
}

/// Energies and input gradients by dfdx's autodiff through the network itself.
fn autodiff<M>(net: &M, x: &Batch<2>) -> (Vec<f32>, Vec<f32>)
where
    M: dfdx::nn::Module<
        Tensor<(usize, Const<2>), f32, Cpu, OwnedTape<f32, Cpu>>,
        Output = Tensor<(usize, Const<1>), f32, Cpu, OwnedTape<f32, Cpu>>,
    >,
{
    let e = net
        .forward(x.clone().leaky_traced())
        .sum::<(usize,), Axis<1>>();
    let values = e.as_vec();
    let grads = e.sum::<Rank0, _>().backward();
    (values, grads.get(x).as_vec())
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} against {y}"
        );
    }
}

#[test]
fn the_host_pass_matches_autodiff_through_the_network() {
    let x = points(300, 1);
    let silu = build_network::<SiluMlp<2, 32>>(3);
    let model = MlpEnergy::<2>::from_network(&silu).unwrap();
    let (e, g) = model.energy_and_gradient(&x);
    let (e_ref, g_ref) = autodiff(&silu, &x);
    assert_close(&e.as_vec(), &e_ref, 2e-5, "silu energies");
    assert_close(&g.as_vec(), &g_ref, 2e-5, "silu gradients");

    let tanh = build_network::<TanhNet>(4);
    let model = MlpEnergy::<2>::from_network(&tanh).unwrap();
    let (e, g) = model.energy_and_gradient(&x);
    let (e_ref, g_ref) = autodiff(&tanh, &x);
    assert_close(&e.as_vec(), &e_ref, 2e-5, "tanh energies");
    assert_close(&g.as_vec(), &g_ref, 2e-5, "tanh gradients");
    // The tensor path computes the same function.
    assert_close(
        &model.energy(x.clone()).as_vec(),
        &e_ref,
        2e-5,
        "tensor path",
    );
}

#[test]
fn the_host_training_pass_matches_autodiff_for_the_parameters() {
    // 150 rows: two whole blocks of 64 and a partial one.
    let x = points(150, 2);
    let w = |e: f32| 0.5 + 0.1 * e;
    // The same check for two networks: dfdx's autodiff of `sum_i w(E_i) E(x_i)` is the reference.
    macro_rules! check {
        ($net:expr, $what:expr) => {{
            let net = $net;
            let model = MlpEnergy::<2>::from_network(&net).unwrap();
            let (e, ours) = model
                .weighted_parameter_gradients(&x.as_vec(), |e| e.iter().map(|&v| w(v)).collect())
                .unwrap();
            let (e_ref, _) = autodiff(&net, &x);
            assert_close(&e, &e_ref, 2e-5, $what);
            let e = net
                .forward(x.clone().traced(net.alloc_grads()))
                .sum::<(usize,), Axis<1>>();
            let weights: Vec<f32> = e.as_vec().into_iter().map(w).collect();
            let grads = (e * Cpu::default().tensor_from_vec(weights, (150,)))
                .sum::<Rank0, _>()
                .backward();
            let reference = [
                grads.get(&net.0.weight).as_vec(),
                grads.get(&net.0.bias).as_vec(),
                grads.get(&net.2.weight).as_vec(),
                grads.get(&net.2.bias).as_vec(),
                grads.get(&net.4.weight).as_vec(),
                grads.get(&net.4.bias).as_vec(),
            ];
            assert_eq!(ours.len(), reference.len());
            for (k, (a, b)) in ours.iter().zip(&reference).enumerate() {
                assert!(b.iter().any(|v| *v != 0.0));
                assert_close(a, b, 1e-4, &format!("{}: parameter tensor {k}", $what));
            }
            model
        }};
    }
    check!(build_network::<TanhNet>(6), "tanh and sigmoid");
    let model = check!(build_network::<SiluMlp<2, 32>>(5), "silu");
    // One weight per row, or an error.
    assert!(model
        .weighted_parameter_gradients(&x.as_vec(), |_| vec![1.0; 3])
        .is_err());
    assert!(model
        .weighted_parameter_gradients(&[1.0; 3], |_| vec![])
        .is_err());
}

#[test]
fn networks_that_are_not_energies_are_refused() {
    let dense = |i: usize, o: usize| HostLayer::Dense {
        inputs: i,
        outputs: o,
        weight: vec![0.1; i * o],
        bias: vec![0.0; o],
    };
    let act = HostLayer::Activation(ebm_train::nn::Activation::Silu);
    assert!(MlpEnergy::<2>::from_layers(vec![dense(2, 4), act.clone(), dense(4, 1)]).is_ok());
    for layers in [
        vec![dense(3, 4), act.clone(), dense(4, 1)], // wrong input size
        vec![dense(2, 4), act.clone(), dense(4, 2)], // two outputs
        vec![dense(2, 4), act.clone(), dense(5, 1)], // sizes do not chain
        vec![act.clone(), dense(2, 1)],              // starts with an activation
        vec![dense(2, 1), act.clone()],              // ends with an activation
        vec![],
    ] {
        let err = MlpEnergy::<2>::from_layers(layers).unwrap_err();
        assert!(
            matches!(err, ebm_train::TrainError::Network { .. }),
            "{err}"
        );
    }
    let mut bad = dense(2, 1);
    if let HostLayer::Dense { weight, .. } = &mut bad {
        weight[1] = f32::NAN;
    }
    assert!(MlpEnergy::<2>::from_layers(vec![bad]).is_err());
}

#[test]
fn the_mixtures_have_equal_modes_and_the_stated_spread() {
    let toy = Toy::ring8();
    let mix = toy.mixture().unwrap();
    let x = toy.sample(8003, 5).unwrap();
    // Each point belongs to its nearest centre (the modes are 10 sd apart).
    let mut counts = [0usize; 8];
    let mut sq = 0.0;
    for p in &x {
        let (k, d2) = mix
            .centres
            .iter()
            .enumerate()
            .map(|(k, c)| {
                (
                    k,
                    (f64::from(p[0]) - c[0]).powi(2) + (f64::from(p[1]) - c[1]).powi(2),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        counts[k] += 1;
        sq += d2;
    }
    // 8003 = 8 x 1000 + 3: the first three modes hold one point more.
    assert_eq!(counts, [1001, 1001, 1001, 1000, 1000, 1000, 1000, 1000]);
    // E|x - c|^2 = 2 sd^2 = 0.045; the mean of 8003 chi-square(2) draws scaled by sd^2 has
    // standard error 0.045 / sqrt(8003) = 5.0e-4: allow 5 of them.
    let msd = sq / x.len() as f64;
    assert!((msd - 0.045).abs() < 2.5e-3, "mean squared distance {msd}");
    assert_ne!(x, toy.sample(8003, 6).unwrap());
}

#[test]
fn every_toy_data_set_is_seeded_finite_and_in_its_support() {
    for toy in Toy::all() {
        let x = toy.sample(1000, 1).unwrap();
        assert_eq!(x.len(), 1000, "{}", toy.name());
        assert_eq!(x, toy.sample(1000, 1).unwrap(), "{}", toy.name());
        assert!(x.iter().flatten().all(|v| v.is_finite()), "{}", toy.name());
        if let Toy::Checkerboard { .. } = toy {
            // Noise 0: every point on a black square, inside the board.
            assert!(x.iter().all(|p| {
                let s = (p[0].floor() + p[1].floor()).rem_euclid(2.0);
                s == 1.0 && p[0].abs() <= 4.0 && p[1].abs() <= 4.0
            }));
        }
    }
    let bad = Toy::GaussianMixture {
        modes: 8,
        radius: 2.0,
        std: -0.1,
    };
    let err = bad.sample(10, 0).unwrap_err().to_string();
    assert!(err.contains("std") && err.contains("-0.1"), "{err}");
    assert!(Toy::ring8().sample(0, 0).is_err());
}

/// `E = -log p` of a known mixture, so the quadrature's answers are known.
struct TrueEnergy(Mixture);

impl Energy<2, f32, Cpu> for TrueEnergy {
    fn energy<T: Tape<f32, Cpu>>(&self, x: Batch<2, f32, Cpu, T>) -> Energies<f32, Cpu, T> {
        // Host evaluation: the quadrature only needs values.
        let v = x.as_vec();
        let e: Vec<f32> = v
            .chunks_exact(2)
            .map(|p| -self.0.log_density([f64::from(p[0]), f64::from(p[1])]) as f32)
            .collect();
        let n = e.len();
        let (x, tape) = x.split_tape();
        x.device().tensor_from_vec(e, (n,)).put_tape(tape)
    }
}

#[test]
fn quadrature_recovers_a_known_density() {
    let mix = Toy::ring8().mixture().unwrap();
    let model = TrueEnergy(mix.clone());
    let q = Quadrature::new(&model, Grid::default()).unwrap();
    // -log p is normalised: log Z = 0 up to the grid's error and the f32 energies.
    assert!(q.log_z().abs() < 1e-4, "log Z {}", q.log_z());
    assert!(q.kl_from(&mix).abs() < 1e-4, "KL {}", q.kl_from(&mix));
    let test = Toy::ring8().sample(2000, 9).unwrap();
    let report = mixture_report(&model, &mix, Grid::default(), 0.6, &test).unwrap();
    // A 2-D normal holds 1 - exp(-r^2 / (2 sd^2)) within r; r = 4 sd here.
    let within = (1.0 - (-8.0f64).exp()) / 8.0;
    for m in &report.mode_mass {
        assert!((m - within).abs() < 2e-3, "mass {m} against {within}");
    }
    assert!((report.nll_test - report.nll_test_truth).abs() < 1e-4);
    // A wrong model is far: the standard normal.
    let other = TrueEnergy(Mixture {
        centres: vec![[0.0, 0.0]],
        std: 1.0,
    });
    let q = Quadrature::new(&other, Grid::default()).unwrap();
    assert!(q.kl_from(&mix) > 1.0);
}

#[test]
fn the_buffer_writes_first_in_first_out_and_wraps() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut buf = ReplayBuffer::noise(10, 2, 0.0, &mut rng).unwrap();
    buf.write_fifo(&(0..12).map(|v| v as f32).collect::<Vec<_>>()); // 6 points
    buf.write_fifo(&(100..110).map(|v| v as f32).collect::<Vec<_>>()); // 5 points, wraps
    assert_eq!(buf.pointer(), 1);
    let p = buf.points();
    assert_eq!(&p[..2], &[108.0, 109.0]); // the 5th new point wrote slot 0
    assert_eq!(&p[2..4], &[2.0, 3.0]);
    assert_eq!(&p[12..14], &[100.0, 101.0]);
    // Stratified picks over 10 slots in batches of 3: stride 3, slot 9 never picked.
    for _ in 0..100 {
        let picks = buf.stratified_picks(3, &mut rng).unwrap();
        assert!(picks.iter().enumerate().all(|(i, &k)| k / 3 == i && k < 9));
    }
    assert!(buf.stratified_picks(11, &mut rng).is_err());
}

fn small_trainer(
    seed: u64,
) -> PcdTrainer<2, <SiluMlp<2, 16> as dfdx::nn::BuildOnDevice<Cpu, f32>>::Built> {
    let data: Vec<f32> = Toy::ring8()
        .sample(2000, seed)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let config = PcdConfig {
        buffer_size: 1000,
        batch: 64,
        init_steps: 10,
        ..PcdConfig::default()
    };
    PcdTrainer::new(
        build_network::<SiluMlp<2, 16>>(seed),
        LangevinDynamics::new(0.01, 1.0).unwrap(),
        data,
        config,
        seed,
    )
    .unwrap()
}

fn parameters(
    t: &PcdTrainer<2, <SiluMlp<2, 16> as dfdx::nn::BuildOnDevice<Cpu, f32>>::Built>,
) -> Vec<u32> {
    let n = t.network();
    [
        n.0.weight.as_vec(),
        n.0.bias.as_vec(),
        n.2.weight.as_vec(),
        n.4.weight.as_vec(),
    ]
    .concat()
    .into_iter()
    .map(f32::to_bits)
    .collect()
}

#[test]
fn training_is_bit_identical_on_one_and_two_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut t = small_trainer(3);
            for _ in 0..5 {
                t.step().unwrap();
            }
            (parameters(&t), t.buffer().unwrap().points().to_vec())
        })
    };
    let (p1, b1) = run(1);
    let (p2, b2) = run(2);
    assert_eq!(p1, p2);
    assert_eq!(b1, b2);
    // And training moved the parameters.
    assert_ne!(p1, parameters(&small_trainer(3)));
}

#[test]
fn trainer_settings_are_validated() {
    let data = vec![0.0f32; 20];
    let net = || build_network::<SiluMlp<2, 4>>(0);
    let sampler = || LangevinDynamics::new(0.01, 1.0).unwrap();
    for (config, name) in [
        (
            PcdConfig {
                steps: 0,
                ..PcdConfig::default()
            },
            "steps",
        ),
        (
            PcdConfig {
                batch: 20_000,
                ..PcdConfig::default()
            },
            "batch",
        ),
        (
            PcdConfig {
                alpha: -1.0,
                ..PcdConfig::default()
            },
            "alpha",
        ),
        (
            PcdConfig {
                new_sample_ratio: 2.0,
                ..PcdConfig::default()
            },
            "new_sample_ratio",
        ),
    ] {
        let err = PcdTrainer::<2, _>::new(net(), sampler(), data.clone(), config, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(name), "{err}");
    }
    let err = PcdTrainer::<2, _>::new(net(), sampler(), vec![0.0; 3], PcdConfig::default(), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("data"), "{err}");
}

/// The network's host path without its blocks: the sampler then evaluates the whole batch at once.
struct WholeBatch(MlpEnergy<2>);

impl Energy<2, f32, Cpu> for WholeBatch {
    fn energy<T: Tape<f32, Cpu>>(&self, x: Batch<2, f32, Cpu, T>) -> Energies<f32, Cpu, T> {
        self.0.energy(x)
    }
    fn has_host_path(&self) -> bool {
        true
    }
    fn host_energy_and_gradient(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) -> bool {
        self.0.host_energy_and_gradient(x, energy, grad)
    }
}

#[test]
fn sampling_in_the_networks_small_blocks_gives_the_same_draws() {
    use ebm_samplers::Sampler;
    let model = MlpEnergy::<2>::from_network(&build_network::<SiluMlp<2, 32>>(5)).unwrap();
    // The network asks for blocks of 64 chains, where a 2-D batch would otherwise be one block.
    assert_eq!(
        ebm_core::energy::RowEnergy::preferred_block_rows(&model),
        Some(64)
    );
    let x0 = points(300, 2);
    let langevin = LangevinDynamics::new(0.01, 1.0).unwrap();
    let blocks = langevin.sample(&model, &x0, 20, 11).unwrap().as_vec();
    let whole = langevin
        .sample(&WholeBatch(model.clone()), &x0, 20, 11)
        .unwrap()
        .as_vec();
    assert_eq!(
        blocks.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn parameters_round_trip_through_npz_and_a_wrong_shape_is_refused() {
    let dir = std::env::temp_dir().join(format!("ebm-train-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.npz");
    let net = build_network::<SiluMlp<2, 16>>(8);
    ebm_train::io::save_npz(&net, &path).unwrap();
    let mut other = build_network::<SiluMlp<2, 16>>(9);
    ebm_train::io::load_npz(&mut other, &path).unwrap();
    let x = points(50, 3);
    let a = MlpEnergy::<2>::from_network(&net)
        .unwrap()
        .energy(x.clone())
        .as_vec();
    let b = MlpEnergy::<2>::from_network(&other)
        .unwrap()
        .energy(x)
        .as_vec();
    assert_eq!(a, b);
    // A network of another width does not load from it.
    let mut wider = build_network::<SiluMlp<2, 32>>(9);
    let err = ebm_train::io::load_npz(&mut wider, &path).unwrap_err();
    assert!(matches!(err, ebm_train::TrainError::Format { .. }), "{err}");
    let missing = ebm_train::io::load_npz(&mut wider, dir.join("none.npz")).unwrap_err();
    assert!(
        matches!(missing, ebm_train::TrainError::Io { .. }),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cd_k_from_data_and_short_runs_from_noise_train_without_a_buffer() {
    use ebm_train::cd::Starts;
    for starts in [Starts::Data, Starts::Noise { scale: 1.0 }] {
        let data: Vec<f32> = Toy::ring8()
            .sample(500, 1)
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        let config = PcdConfig {
            starts,
            batch: 32,
            ..PcdConfig::default()
        };
        let mut t = PcdTrainer::<2, _>::new(
            build_network::<SiluMlp<2, 8>>(1),
            LangevinDynamics::new(0.01, 1.0).unwrap(),
            data,
            config,
            1,
        )
        .unwrap();
        let before = t.energy().unwrap().layers().to_vec();
        for _ in 0..3 {
            let s = t.step().unwrap();
            assert!(s.loss.is_finite());
        }
        assert!(t.buffer().is_none(), "{starts:?} keeps no buffer");
        assert_ne!(t.energy().unwrap().layers(), &before[..]);
    }
    let bad = PcdConfig {
        starts: Starts::Noise { scale: 0.0 },
        ..PcdConfig::default()
    };
    let err = PcdTrainer::<2, _>::new(
        build_network::<SiluMlp<2, 8>>(1),
        LangevinDynamics::new(0.01, 1.0).unwrap(),
        vec![0.0; 4],
        bad,
        1,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("starts.scale"), "{err}");
}

#[test]
fn gradient_clipping_bounds_the_step() {
    // Adam divides by the gradient's running size, so clipping shows only through its epsilon: a
    // gradient clipped to norm 1e-12, far below epsilon = 1e-8, moves each parameter by about
    // lr * 1e-12 / 1e-8 = 1e-7 per step, where an unclipped one moves it by about lr = 1e-3.
    let moved = |clip: Option<f64>| {
        let data: Vec<f32> = Toy::ring8()
            .sample(500, 2)
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        let config = PcdConfig {
            buffer_size: 200,
            batch: 32,
            init_steps: 2,
            clip_grad_norm: clip,
            data_noise: 0.05,
            ..PcdConfig::default()
        };
        let net = build_network::<SiluMlp<2, 8>>(2);
        let before = net.2.weight.as_vec();
        let mut t = PcdTrainer::<2, _>::new(
            net,
            LangevinDynamics::new(0.01, 1.0).unwrap(),
            data,
            config,
            2,
        )
        .unwrap();
        for _ in 0..3 {
            t.step().unwrap();
        }
        t.network()
            .2
            .weight
            .as_vec()
            .iter()
            .zip(&before)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    let free = moved(None);
    let clipped = moved(Some(1e-12));
    assert!(free > 1e-3, "unclipped step {free}");
    assert!(clipped < 1e-5, "clipped step {clipped}");
}

#[test]
fn a_schedule_picks_each_iterations_sampler() {
    use ebm_train::cd::Schedule;
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let constant = Schedule::Constant(0.01);
    let mut scheduled = small_trainer(4).with_schedule(move |t| {
        record.lock().unwrap().push(t);
        LangevinDynamics::new(constant.value(t), 1.0)
    });
    let mut plain = small_trainer(4);
    for _ in 0..3 {
        scheduled.step().unwrap();
        plain.step().unwrap();
    }
    // The buffer's initial run (1000 points, one chunk of 1024) and iteration 0 both draw at
    // iteration 0.
    assert_eq!(seen.lock().unwrap()[..], [0, 0, 1, 2]);
    // The same sampler every iteration: the same bits as without a schedule.
    assert_eq!(parameters(&scheduled), parameters(&plain));
    let cosine = Schedule::Cosine {
        start: 0.05,
        end: 0.01,
        iterations: 3,
    };
    let mut annealed =
        small_trainer(4).with_schedule(move |t| LangevinDynamics::new(cosine.value(t), 1.0));
    for _ in 0..3 {
        annealed.step().unwrap();
    }
    assert_ne!(parameters(&annealed), parameters(&plain));
}

#[test]
fn tempered_chains_keep_their_ladder_and_train_the_same_on_any_thread_count() {
    use ebm_train::cd::Starts;
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let data: Vec<f32> = Toy::ring8()
                .sample(500, 4)
                .unwrap()
                .into_iter()
                .flatten()
                .collect();
            let config = PcdConfig {
                starts: Starts::Tempered {
                    levels: 3,
                    hottest: 9.0,
                    scale: 1.0,
                    from_data: 0.5,
                    explore_steps: 2,
                },
                batch: 16,
                steps: 5,
                ..PcdConfig::default()
            };
            let mut t = PcdTrainer::<2, _>::new(
                build_network::<SiluMlp<2, 16>>(4),
                LangevinDynamics::new(0.01, 1.0).unwrap(),
                data,
                config,
                4,
            )
            .unwrap();
            for _ in 0..4 {
                assert!(t.step().unwrap().loss.is_finite());
            }
            let chains = t.chains().unwrap();
            // Half the 16 negatives from data, the other 8 the ladder's cold group.
            let expected: Vec<f64> = [1.0, 3.0, 9.0]
                .iter()
                .flat_map(|&v| std::iter::repeat_n(v, 8))
                .collect();
            for (a, b) in chains.temperatures().iter().zip(&expected) {
                assert!((a - b).abs() < 1e-12, "{a} against {b}");
            }
            assert_eq!(chains.n_chains(), 24);
            assert!(t.buffer().is_none());
            (
                t.energy().unwrap().layers().to_vec(),
                chains.positions().to_vec(),
            )
        })
    };
    let (p1, x1) = run(1);
    let (p2, x2) = run(2);
    assert_eq!(p1, p2);
    assert_eq!(x1, x2);

    for (starts, name) in [
        (
            Starts::Tempered {
                levels: 1,
                hottest: 9.0,
                scale: 1.0,
                from_data: 0.5,
                explore_steps: 5,
            },
            "starts.levels",
        ),
        (
            Starts::Tempered {
                levels: 3,
                hottest: 1.0,
                scale: 1.0,
                from_data: 0.5,
                explore_steps: 5,
            },
            "starts.hottest",
        ),
        (
            Starts::Tempered {
                levels: 3,
                hottest: 9.0,
                scale: f32::NAN,
                from_data: 0.5,
                explore_steps: 5,
            },
            "starts.scale",
        ),
        (
            Starts::Tempered {
                levels: 3,
                hottest: 9.0,
                scale: 1.0,
                from_data: 1.0,
                explore_steps: 5,
            },
            "starts.from_data",
        ),
        (
            Starts::Tempered {
                levels: 3,
                hottest: 9.0,
                scale: 1.0,
                from_data: 0.5,
                explore_steps: 0,
            },
            "starts.explore_steps",
        ),
    ] {
        let config = PcdConfig {
            starts,
            ..PcdConfig::default()
        };
        let err = PcdTrainer::<2, _>::new(
            build_network::<SiluMlp<2, 4>>(0),
            LangevinDynamics::new(0.01, 1.0).unwrap(),
            vec![0.0; 20],
            config,
            0,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn a_learning_rate_schedule_replaces_adams_rate() {
    use ebm_train::cd::Schedule;
    let data: Vec<f32> = Toy::ring8()
        .sample(500, 5)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let trainer = |lr_schedule| {
        let config = PcdConfig {
            buffer_size: 200,
            batch: 16,
            init_steps: 2,
            lr_schedule,
            ..PcdConfig::default()
        };
        PcdTrainer::<2, _>::new(
            build_network::<SiluMlp<2, 8>>(5),
            LangevinDynamics::new(0.01, 1.0).unwrap(),
            data.clone(),
            config,
            5,
        )
    };
    // A rate of 0 from the second iteration on: only the first step moves the parameters.
    let mut t = trainer(Some(Schedule::Linear {
        start: 1e-2,
        end: 0.0,
        iterations: 1,
    }))
    .unwrap();
    t.step().unwrap();
    let after_one = t.energy().unwrap().layers().to_vec();
    for _ in 0..3 {
        t.step().unwrap();
    }
    assert_eq!(t.energy().unwrap().layers(), &after_one[..]);
    // Without the schedule they keep moving.
    let mut plain = trainer(None).unwrap();
    plain.step().unwrap();
    let first = plain.energy().unwrap().layers().to_vec();
    plain.step().unwrap();
    assert_ne!(plain.energy().unwrap().layers(), &first[..]);
    // A schedule that grows without bound is refused.
    let err = trainer(Some(Schedule::Exponential {
        start: 1e-3,
        rate: 2.0,
        min: 0.0,
    }))
    .err()
    .unwrap();
    assert!(err.to_string().contains("lr_schedule"), "{err}");
}

#[test]
fn persistent_chains_follow_the_schedule() {
    use ebm_train::cd::{Schedule, Starts};
    let data: Vec<f32> = Toy::ring8()
        .sample(500, 6)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let h = Schedule::Linear {
        start: 0.02,
        end: 0.005,
        iterations: 3,
    };
    let noise = Schedule::Linear {
        start: 1.0,
        end: 0.5,
        iterations: 3,
    };
    for starts in [
        Starts::Chains {
            restart: 0.1,
            scale: 1.0,
        },
        Starts::Tempered {
            levels: 2,
            hottest: 4.0,
            scale: 1.0,
            from_data: 0.0,
            explore_steps: 2,
        },
    ] {
        let config = PcdConfig {
            starts,
            batch: 8,
            steps: 4,
            ..PcdConfig::default()
        };
        let mut t = PcdTrainer::<2, _>::new(
            build_network::<SiluMlp<2, 8>>(6),
            LangevinDynamics::new(0.02, 1.0).unwrap(),
            data.clone(),
            config,
            6,
        )
        .unwrap()
        .with_schedule(move |i| LangevinDynamics::new(h.value(i), noise.value(i)));
        for _ in 0..4 {
            t.step().unwrap();
        }
        // The last iteration (3) ran at h = 0.005 and noise 0.5, temperature 0.25.
        let chains = t.chains().unwrap();
        assert!(chains
            .step_sizes()
            .iter()
            .all(|&s| (s - 0.005).abs() < 1e-12));
        let cold = &chains.temperatures()[..8];
        assert!(
            cold.iter().all(|&v| (v - 0.25).abs() < 1e-12),
            "{starts:?}: {cold:?}"
        );
        if let Starts::Tempered { .. } = starts {
            assert!(chains.temperatures()[8..]
                .iter()
                .all(|&v| (v - 1.0).abs() < 1e-12));
        }
    }
}
