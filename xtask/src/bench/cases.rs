//! The cases of `docs/benchmarks.md`: each builds its inputs once and returns a library run and a
//! floor run over them.

use super::hardware::{Product, Work};
use super::{floor, mean_error, user_mlp, Case};
use ebm_core::energy::Scaled;
use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel, Layer, Mlp};
use ebm_samplers::prelude::*;

const SEED: u64 = 2026;

use crate::wells;

fn normal_batch<const D: usize>(n: usize, seed: u64) -> Batch<D> {
    Cpu::seed_from_u64(seed).sample_normal_like(&(n, Const::<D>))
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The 100-D target: `Sigma_ij = 0.5^|i-j| + 0.5 delta_ij`, `mean_i = sin(i)`.
fn gauss100d() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = 100;
    let mean: Vec<f64> = (0..d).map(|i| (i as f64).sin()).collect();
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            cov[i * d + j] =
                0.5f64.powi((i as i32 - j as i32).abs()) + if i == j { 0.5 } else { 0.0 };
        }
    }
    let prec = ebm_core::linalg::spd_inverse("cov", &cov, d).expect("SPD by construction");
    (mean, cov, prec)
}

fn gauss2d() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mean = vec![1.0, -1.0];
    let cov = vec![1.0, 0.5, 0.5, 2.0];
    let prec = ebm_core::linalg::spd_inverse("cov", &cov, 2).expect("SPD");
    (mean, cov, prec)
}

fn builtin_mlp(dev: &Cpu, w: &floor::MlpWeights) -> Mlp<2, f32> {
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    Mlp::<2, f32>::new(
        dev,
        vec![
            Layer {
                weights: f(&w.w1),
                bias: f(&w.b1),
            },
            Layer {
                weights: f(&w.w2),
                bias: f(&w.b2),
            },
        ],
        f(&w.w3),
        0.0,
        0.05,
    )
    .unwrap()
}

/// The products and tangents of `evaluations` input gradients of the 2-h-h-1 network `w` on `rows`
/// rows, and `draws` normals: forward `x W1^T` and `h1 W2^T` (the weights stored output-major, read
/// transposed), backward `d2 W2` and `d1 W1`; a tanh per hidden unit. The output layer's forward
/// product is left out (sampling needs no energies), as are the bias additions and the
/// derivative products, which a fused implementation does in the tanh's pass.
pub(super) fn mlp_work(w: &floor::MlpWeights, rows: usize, evaluations: f64, draws: f64) -> Work {
    let h = w.width();
    let product = |label, k, n, matrix: &[f32], transposed| Product {
        label,
        rows,
        k,
        n,
        matrix: matrix.to_vec(),
        transposed,
        count: evaluations,
    };
    Work {
        products: vec![
            product("x W1^T", 2, h, &w.w1, true),
            product("h1 W2^T", h, h, &w.w2, true),
            product("d2 W2", h, h, &w.w2, false),
            product("d1 W1", h, 2, &w.w1, false),
        ],
        tanh: 2.0 * (rows * h) as f64 * evaluations,
        tanh_block: rows * h,
        draws,
        chains: rows,
    }
}

/// Langevin `h = 0.01`, `s = 1`, 100 steps of the chains `x0` on an MLP energy `model` with the
/// weights `w`; the floor runs the same network by hand.
fn mlp_case(
    (name, description): (&'static str, &'static str),
    model: impl Energy<2, f32, Cpu> + 'static,
    x0: &Batch<2>,
    w: &floor::MlpWeights,
) -> Case {
    let sampler = LangevinDynamics::new(0.01, 1.0).unwrap();
    let (x0, x0h) = (x0.clone(), x0.as_vec());
    let w = floor::MlpWeights::with_width(w.width());
    Case {
        name,
        description,
        work: 1000.0 * 100.0,
        reps: None,
        // One input gradient at the start and one after each step but the last (`sample` keeps
        // only the positions); two normals per chain and step.
        hardware: Some(mlp_work(
            &w,
            x0h.len() / 2,
            100.0,
            2.0 * x0h.len() as f64 / 2.0 * 100.0,
        )),
        library: Box::new(move || {
            std::hint::black_box(sampler.sample(&model, &x0, 100, SEED).unwrap());
            None
        }),
        floor: Box::new(move || {
            std::hint::black_box(floor::mlp_langevin(&w, &x0h, 0.01, 1.0, 100, SEED));
            None
        }),
    }
}

pub fn all() -> Vec<Case> {
    let dev = Cpu::default();
    let mut cases = Vec::new();

    // gauss2d_langevin
    {
        let (mean, cov, prec) = gauss2d();
        let model =
            GaussianModel::<2, f32>::from_slices(&dev, &to_f32(&mean), &to_f32(&cov)).unwrap();
        let sampler = LangevinDynamics::new(0.1, 0.1).unwrap();
        let x0 = normal_batch::<2>(1000, 1);
        let x0h = x0.as_vec();
        let mu = mean.clone();
        let mut fm = floor::Gauss::new(to_f32(&mean), to_f32(&prec));
        cases.push(Case {
            name: "gauss2d_langevin",
            description: "Gaussian 2-D, Langevin h=0.1 s=0.1, 1000 x 100",
            work: 1000.0 * 100.0,
            reps: None,
            hardware: None,
            library: Box::new(move || {
                let x = sampler.sample(&model, &x0, 100, SEED).unwrap();
                Some(mean_error(&x.as_vec(), 2, &mu))
            }),
            floor: Box::new(move || {
                let x = floor::gauss_langevin(&mut fm, &x0h, 0.1, 0.1, 100, SEED);
                Some(mean_error(&x, 2, &mean))
            }),
        });
    }

    // gauss2d_hmc
    {
        let (mean, cov, prec) = gauss2d();
        let model =
            GaussianModel::<2, f32>::from_slices(&dev, &to_f32(&mean), &to_f32(&cov)).unwrap();
        let sampler = HamiltonianMonteCarlo::new(0.1, 10).unwrap();
        let x0 = normal_batch::<2>(1000, 2);
        let x0h = x0.as_vec();
        let mu = mean.clone();
        let mut fm = floor::Gauss::new(to_f32(&mean), to_f32(&prec));
        cases.push(Case {
            name: "gauss2d_hmc",
            description: "Gaussian 2-D, HMC h=0.1 L=10, 1000 x 25, with acceptance diagnostics",
            work: 1000.0 * 25.0,
            reps: None,
            hardware: None,
            library: Box::new(move || {
                let out = sampler
                    .run(
                        &model,
                        &x0,
                        &RunOptions::new(25).seed(SEED).diagnostics(true),
                    )
                    .unwrap();
                Some(mean_error(&out.samples.as_vec(), 2, &mu))
            }),
            floor: Box::new(move || {
                let (x, _acc) = floor::gauss_hmc(&mut fm, &x0h, 0.1, 10, 25, SEED);
                Some(mean_error(&x, 2, &mean))
            }),
        });
    }

    // multimodal_traj
    {
        let model = GaussianMixture::<2, f32>::four_modes(&dev);
        let centers = model.centers().to_vec();
        let weights = model.weights().to_vec();
        let sampler = LangevinDynamics::new(0.1, 0.1).unwrap();
        let x0: Batch<2> = dev.zeros_like(&(5, Const::<2>));
        let x0h = x0.as_vec();
        cases.push(Case {
            name: "multimodal_traj",
            description: "four-mode mixture, Langevin h=0.1 s=0.1, 5 x 200, trajectory kept",
            work: 5.0 * 200.0,
            reps: None,
            hardware: None,
            library: Box::new(move || {
                let out = sampler
                    .run(&model, &x0, &RunOptions::new(200).seed(SEED).trace(1))
                    .unwrap();
                std::hint::black_box(out.trace);
                None
            }),
            floor: Box::new(move || {
                std::hint::black_box(floor::mixture_langevin(
                    &centers, &weights, &x0h, 0.1, 0.1, 200, SEED,
                ));
                None
            }),
        });
    }

    // mlp2d_langevin, mlp2d_langevin_user, mlp256_langevin, mlp256_langevin_user
    for (width, builtin, user) in [
        (
            64,
            (
                "mlp2d_langevin",
                "MLP 2-64-64-1 tanh energy, Langevin h=0.01 s=1, 1000 x 100",
            ),
            (
                "mlp2d_langevin_user",
                "the same network written with #[energy] (autodiff gradient)",
            ),
        ),
        (
            256,
            (
                "mlp256_langevin",
                "MLP 2-256-256-1 tanh energy, Langevin h=0.01 s=1, 1000 x 100",
            ),
            (
                "mlp256_langevin_user",
                "the same network written with #[energy] (autodiff gradient)",
            ),
        ),
    ] {
        let w = floor::MlpWeights::with_width(width);
        let x0 = normal_batch::<2>(1000, 4);
        cases.push(mlp_case(builtin, builtin_mlp(&dev, &w), &x0, &w));
        if width == 64 {
            cases.push(mlp_case(user, user_mlp::model64(&dev, &w), &x0, &w));
        } else {
            cases.push(mlp_case(user, user_mlp::model256(&dev, &w), &x0, &w));
        }
    }

    // gauss100d_langevin and gauss100d_hmc
    {
        let (mean, cov, prec) = gauss100d();
        let model =
            GaussianModel::<100, f32>::from_slices(&dev, &to_f32(&mean), &to_f32(&cov)).unwrap();
        // The precision as the model multiplies by it: without the entries below 2^-100 of their
        // diagonal scale, whose subnormal products cost some processors 20-40x (see
        // docs/benchmarks.md). The floors and the hardware floor use the same matrix.
        let prec = ebm_core::dense::without_negligible_entries(&prec, 100).unwrap();
        let product_matrix = to_f32(&prec);
        let x0 = normal_batch::<100>(1000, 3);
        let x0h = x0.as_vec();
        let langevin = LangevinDynamics::new(0.1, 1.0).unwrap();
        let (m1, mu1, x01) = (model.clone(), mean.clone(), x0.clone());
        let mut fm = floor::Gauss::new(to_f32(&mean), to_f32(&prec));
        let (mean_f, x0h_f) = (mean.clone(), x0h.clone());
        cases.push(Case {
            name: "gauss100d_langevin",
            description: "Gaussian 100-D, Langevin h=0.1 s=1, 1000 x 1000",
            work: 1000.0 * 1000.0,
            reps: None,
            // One gradient per step and one at the start; one normal per coordinate and step.
            hardware: Some(Work::dense(
                1000,
                100,
                product_matrix.clone(),
                1000.0 + 1.0,
                1000.0 * 1000.0 * 100.0,
            )),
            library: Box::new(move || {
                let x = langevin.sample(&m1, &x01, 1000, SEED).unwrap();
                Some(mean_error(&x.as_vec(), 100, &mu1))
            }),
            floor: Box::new(move || {
                let x = floor::gauss_langevin(&mut fm, &x0h_f, 0.1, 1.0, 1000, SEED);
                Some(mean_error(&x, 100, &mean_f))
            }),
        });
        let hmc = HamiltonianMonteCarlo::new(0.1, 10).unwrap();
        let mu2 = mean.clone();
        let mut fm = floor::Gauss::new(to_f32(&mean), to_f32(&prec));
        cases.push(Case {
            name: "gauss100d_hmc",
            description: "Gaussian 100-D, HMC h=0.1 L=10, 1000 x 100, with acceptance diagnostics",
            work: 1000.0 * 100.0,
            reps: None,
            // L gradients per step and one at the start; a momentum per step.
            hardware: Some(Work::dense(
                1000,
                100,
                product_matrix,
                100.0 * 10.0 + 1.0,
                1000.0 * 100.0 * 100.0,
            )),
            library: hmc100_library(hmc, model, x0, mu2),
            floor: Box::new(move || {
                let (x, _acc) = floor::gauss_hmc(&mut fm, &x0h, 0.1, 10, 100, SEED);
                Some(mean_error(&x, 100, &mean))
            }),
        });
    }
    // gauss100d_hmc_dense: the same target and run with the precision as a dense mass.
    {
        let (mean, cov, prec) = gauss100d();
        let model =
            GaussianModel::<100, f32>::from_slices(&dev, &to_f32(&mean), &to_f32(&cov)).unwrap();
        let x0 = normal_batch::<100>(1000, 3);
        let x0h = x0.as_vec();
        let hmc = HamiltonianMonteCarlo::new(0.1, 10)
            .unwrap()
            .with_mass(MassMatrix::Dense(prec.clone()))
            .unwrap();
        let cut = |a: &[f64]| ebm_core::dense::without_negligible_entries(a, 100).unwrap();
        let chol = ebm_core::linalg::cholesky("mass", &prec, 100).unwrap();
        let m_inv = to_f32(&cut(&ebm_core::linalg::inverse_from_cholesky(&chol, 100)));
        let chol = cut(&chol);
        let l_t: Vec<f32> = (0..100 * 100)
            .map(|k| chol[(k % 100) * 100 + k / 100] as f32)
            .collect();
        let prec = cut(&prec);
        let mu = mean.clone();
        let mut fm = floor::Gauss::new(to_f32(&mean), to_f32(&prec));
        cases.push(Case {
            name: "gauss100d_hmc_dense",
            description: "Gaussian 100-D, HMC h=0.1 L=10, dense mass = precision, 1000 x 100",
            work: 1000.0 * 100.0,
            reps: None,
            // Per step L gradients, L drifts and the momentum (triangular: half a product).
            hardware: Some(Work::dense(
                1000,
                100,
                to_f32(&prec),
                100.0 * (2.0 * 10.0 + 0.5) + 1.0,
                1000.0 * 100.0 * 100.0,
            )),
            library: hmc100_library(hmc, model, x0, mu),
            floor: Box::new(move || {
                let (x, _acc) =
                    floor::gauss_hmc_dense(&mut fm, &l_t, &m_inv, &x0h, 0.1, 10, 100, SEED);
                Some(mean_error(&x, 100, &mean))
            }),
        });
    }
    // multimodal_pt: the replica_exchange example's run.
    {
        let model = GaussianMixture::<2, f64>::four_modes(&dev);
        let cold = Scaled::new(model.clone(), 1.0 / wells::TEMPERATURE).unwrap();
        let (ladders, temps) = (wells::LADDERS, wells::N_TEMPERATURES);
        let scans = wells::SCANS + (1 << wells::TUNING_ROUNDS) - 1;
        let x0: Batch<2, f64> = dev.zeros_like(&(ladders * temps, Const::<2>));
        cases.push(Case {
            name: "multimodal_pt",
            description: "four wells at T = 0.01, replica exchange (the replica_exchange example: \
                          200 ladders x 10 temperatures, tuning + 2000 scans of 5 MALA steps); \
                          floor: the same MALA steps without swaps",
            work: (ladders * temps * scans * wells::EXPLORE_STEPS) as f64,
            reps: Some(3),
            hardware: None,
            library: Box::new(move || {
                let run = wells::replica_exchange(
                    &model,
                    wells::LADDERS,
                    wells::SCANS,
                    wells::EXPLORE_STEPS,
                )
                .unwrap();
                Some(
                    run.fractions
                        .iter()
                        .zip(wells::quadrature_masses_cached())
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max),
                )
            }),
            floor: Box::new(move || {
                let mala = Mala::new(wells::STEP_SIZE, 1.0).unwrap();
                let out = mala
                    .run(
                        &cold,
                        &x0,
                        &RunOptions::new(scans * wells::EXPLORE_STEPS)
                            .seed(SEED)
                            .progress(false),
                    )
                    .unwrap();
                std::hint::black_box(out.samples);
                None
            }),
        });
    }

    cases
}

/// The library side of the 100-D HMC cases: 100 steps from `x0` with acceptance diagnostics,
/// scored by the mean error against `mean`.
fn hmc100_library(
    hmc: HamiltonianMonteCarlo,
    model: GaussianModel<100, f32>,
    x0: Batch<100, f32>,
    mean: Vec<f64>,
) -> Box<dyn FnMut() -> Option<f64>> {
    Box::new(move || {
        let out = hmc
            .run(
                &model,
                &x0,
                &RunOptions::new(100).seed(SEED).diagnostics(true),
            )
            .unwrap();
        Some(mean_error(&out.samples.as_vec(), 100, &mean))
    })
}
