//! Runs Langevin, MALA and HMC on a device (a CUDA GPU when built with the `cuda` feature and one is
//! present, else the CPU; `--device cpu|cuda` chooses), compares their moments with the analytic
//! values and with the same runs on the CPU, times the benchmark's Gaussian cases on that device, and
//! prints one JSON line. `cargo xtask cuda-bundle` builds it for a GPU machine.
//!
//! Run with `cargo run --release --example device_check`.
//!
//! Tolerances: each run starts its chains from exact draws of the target (or runs long enough to
//! forget an N(0, I) start), so the final states are independent draws across chains and the
//! standard error of each moment follows from the number of chains; a check passes within 5 of them.

#[path = "common/device.rs"]
mod device;

use ebm_core::prelude::*;
use ebm_models::{GaussianMixture, GaussianModel};
use ebm_samplers::prelude::*;
use rand::SeedableRng;
use std::time::Instant;

const CHAINS: usize = 4000;

/// Mean and covariance (row-major) of row-major points.
fn moments(x: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (x.len() / d) as f64;
    let mut m = vec![0.0; d];
    for r in x.chunks_exact(d) {
        m.iter_mut().zip(r).for_each(|(a, v)| *a += v / n);
    }
    let mut c = vec![0.0; d * d];
    for r in x.chunks_exact(d) {
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] += (r[i] - m[i]) * (r[j] - m[j]) / (n - 1.0);
            }
        }
    }
    (m, c)
}

/// The largest deviation of the sample moments from `(mu, sigma)`, in standard errors of iid draws.
fn worst_z(x: &[f64], d: usize, mu: &[f64], sigma: &[f64]) -> f64 {
    let n = (x.len() / d) as f64;
    let (m, c) = moments(x, d);
    let mut worst = 0.0f64;
    for i in 0..d {
        worst = worst.max((m[i] - mu[i]).abs() / (sigma[i * d + i] / n).sqrt());
        for j in 0..d {
            let s = sigma[i * d + j];
            let se = ((sigma[i * d + i] * sigma[j * d + j] + s * s) / (n - 1.0)).sqrt();
            worst = worst.max((c[i * d + j] - s).abs() / se);
        }
    }
    worst
}

/// Exact draws of N(mean, cov), f32, row-major.
fn gaussian_draws(mean: &[f64], cov: &[f64], n: usize, seed: u64) -> Vec<f32> {
    let d = mean.len();
    let l = ebm_core::linalg::cholesky("cov", cov, d).expect("SPD");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let z: Vec<f64> = (0..d).map(|_| f64::standard_normal(&mut rng)).collect();
        for i in 0..d {
            out.push((mean[i] + (0..=i).map(|j| l[i * d + j] * z[j]).sum::<f64>()) as f32);
        }
    }
    out
}

fn run<const D: usize, Dev, S, M>(
    sampler: &S,
    model: &M,
    dev: &Dev,
    x0: &[f32],
    steps: usize,
) -> Vec<f64>
where
    Dev: Device<f32>,
    S: Sampler,
    M: Energy<D, f32, Dev>,
{
    let x0: Batch<D, f32, Dev> = dev.tensor_from_vec(x0.to_vec(), (x0.len() / D, Const::<D>));
    let out = sampler
        .sample(model, &x0, steps, 7)
        .expect("the run succeeds");
    out.as_vec().iter().map(|&v| v as f64).collect()
}

/// Best of three timed runs after one warm-up, in milliseconds.
fn time_ms(mut f: impl FnMut()) -> f64 {
    f();
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

struct Report(Vec<String>, bool);

impl Report {
    fn check(&mut self, name: &str, gpu_z: f64, cpu_z: f64, gpu_vs_cpu: f64) {
        let ok = gpu_z < 5.0 && cpu_z < 5.0 && gpu_vs_cpu < 5.0;
        self.1 &= ok;
        self.0.push(format!(
            "\"{name}\":{{\"device_worst_z\":{gpu_z:.3},\"cpu_worst_z\":{cpu_z:.3},\"device_vs_cpu_mean_z\":{gpu_vs_cpu:.3},\"ok\":{ok}}}"
        ));
    }
}

/// The largest difference of the two runs' means, in standard errors of a difference of means.
fn mean_gap_z(a: &[f64], b: &[f64], d: usize, sigma: &[f64]) -> f64 {
    let n = (a.len() / d) as f64;
    let (ma, _) = moments(a, d);
    let (mb, _) = moments(b, d);
    (0..d)
        .map(|i| (ma[i] - mb[i]).abs() / (2.0 * sigma[i * d + i] / n).sqrt())
        .fold(0.0, f64::max)
}

fn main() {
    let ok = match device::choose() {
        Ok(device::Choice::Cpu) => check(Cpu::default(), "cpu"),
        #[cfg(feature = "cuda")]
        Ok(device::Choice::Cuda) => match Cuda::try_build(0, 0) {
            Ok(dev) => check(dev, "cuda:0"),
            Err(e) => {
                println!("{{\"error\":\"the CUDA device did not build: {e:?}\"}}");
                std::process::exit(2);
            }
        },
        Err(e) => {
            println!("{{\"error\":\"{e}\"}}");
            std::process::exit(2);
        }
    };
    if !ok {
        std::process::exit(1);
    }
}

/// Runs every check with `gpu` as the device under test; prints the JSON line and returns whether
/// every check passed.
fn check<Dev: Device<f32>>(gpu: Dev, name: &str) -> bool {
    let cpu = Cpu::default();
    let mut report = Report(Vec::new(), true);

    // The guide's Gaussian at temperature 1.
    let mean = [1.0, -1.0];
    let cov = [1.0, 0.5, 0.5, 2.0];
    let prec = ebm_core::linalg::spd_inverse("cov", &cov, 2).unwrap();
    let m32 = [1.0f32, -1.0];
    let c32 = [[1.0f32, 0.5], [0.5, 2.0]];
    let g_gpu = GaussianModel::new(&gpu, m32, c32).unwrap();
    let g_cpu = GaussianModel::new(&cpu, m32, c32).unwrap();
    let exact = gaussian_draws(&mean, &cov, CHAINS, 1);
    let normal0 = gaussian_draws(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], CHAINS, 2);

    let langevin = LangevinDynamics::new(0.1, 1.0).unwrap();
    let ula = langevin.gaussian_stationary_covariance(&prec, 2).unwrap();
    let (a, b) = (
        run(&langevin, &g_gpu, &gpu, &normal0, 400),
        run(&langevin, &g_cpu, &cpu, &normal0, 400),
    );
    report.check(
        "gaussian_langevin",
        worst_z(&a, 2, &mean, &ula),
        worst_z(&b, 2, &mean, &ula),
        mean_gap_z(&a, &b, 2, &ula),
    );
    let mala = Mala::new(0.4, 1.0).unwrap();
    let (a, b) = (
        run(&mala, &g_gpu, &gpu, &exact, 50),
        run(&mala, &g_cpu, &cpu, &exact, 50),
    );
    report.check(
        "gaussian_mala",
        worst_z(&a, 2, &mean, &cov),
        worst_z(&b, 2, &mean, &cov),
        mean_gap_z(&a, &b, 2, &cov),
    );
    let hmc = HamiltonianMonteCarlo::new(0.3, 8).unwrap();
    let (a, b) = (
        run(&hmc, &g_gpu, &gpu, &exact, 30),
        run(&hmc, &g_cpu, &cpu, &exact, 30),
    );
    report.check(
        "gaussian_hmc",
        worst_z(&a, 2, &mean, &cov),
        worst_z(&b, 2, &mean, &cov),
        mean_gap_z(&a, &b, 2, &cov),
    );

    // The four-mode mixture at temperature 1: mean 0, covariance sum_k pi_k (c_k c_k^T + I / w_k)
    // with pi_k proportional to 1 / w_k.
    let centers = [(-1.5, -1.5), (1.5, 1.5), (-1.5, 1.5), (1.5, -1.5)];
    let weights = [1.0, 1.0, 0.8, 0.8];
    let total: f64 = weights.iter().map(|w| 1.0 / w).sum();
    let mut mix_cov = [0.0; 4];
    for (&(cx, cy), w) in centers.iter().zip(weights) {
        let p = 1.0 / w / total;
        mix_cov[0] += p * (cx * cx + 1.0 / w);
        mix_cov[1] += p * cx * cy;
        mix_cov[2] += p * cx * cy;
        mix_cov[3] += p * (cy * cy + 1.0 / w);
    }
    let f_gpu = GaussianMixture::<2, f32, Dev>::four_modes(&gpu);
    let f_cpu = GaussianMixture::<2, f32, Cpu>::four_modes(&cpu);
    let hmc = HamiltonianMonteCarlo::new(0.25, 8).unwrap();
    let (a, b) = (
        run(&hmc, &f_gpu, &gpu, &normal0, 150),
        run(&hmc, &f_cpu, &cpu, &normal0, 150),
    );
    report.check(
        "four_modes_hmc",
        worst_z(&a, 2, &[0.0, 0.0], &mix_cov),
        worst_z(&b, 2, &[0.0, 0.0], &mix_cov),
        mean_gap_z(&a, &b, 2, &mix_cov),
    );
    let mala = Mala::new(0.5, 1.0).unwrap();
    let (a, b) = (
        run(&mala, &f_gpu, &gpu, &normal0, 400),
        run(&mala, &f_cpu, &cpu, &normal0, 400),
    );
    report.check(
        "four_modes_mala",
        worst_z(&a, 2, &[0.0, 0.0], &mix_cov),
        worst_z(&b, 2, &[0.0, 0.0], &mix_cov),
        mean_gap_z(&a, &b, 2, &mix_cov),
    );

    // Timings on the GPU (benchmark cases, float32).
    let x2 = gaussian_draws(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], 1000, 3);
    let d = 100;
    let mean100: Vec<f64> = (0..d).map(|i| (i as f64).sin()).collect();
    let mut cov100 = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            cov100[i * d + j] =
                0.5f64.powi((i as i32 - j as i32).abs()) + if i == j { 0.5 } else { 0.0 };
        }
    }
    let m100: Vec<f32> = mean100.iter().map(|&v| v as f32).collect();
    let c100: Vec<f32> = cov100.iter().map(|&v| v as f32).collect();
    let g100 = GaussianModel::<100, f32, Dev>::from_slices(&gpu, &m100, &c100).unwrap();
    let x100 = gaussian_draws(
        &vec![0.0; d],
        &{
            let mut eye = vec![0.0; d * d];
            (0..d).for_each(|i| eye[i * d + i] = 1.0);
            eye
        },
        1000,
        4,
    );
    let l01 = LangevinDynamics::new(0.1, 0.1).unwrap();
    let l1 = LangevinDynamics::new(0.1, 1.0).unwrap();
    let h10 = HamiltonianMonteCarlo::new(0.1, 10).unwrap();
    let timings = [
        (
            "gauss2d_langevin",
            time_ms(|| drop(run(&l01, &g_gpu, &gpu, &x2, 100))),
        ),
        (
            "gauss2d_hmc",
            time_ms(|| drop(run(&h10, &g_gpu, &gpu, &x2, 25))),
        ),
        (
            "gauss100d_langevin",
            time_ms(|| drop(run(&l1, &g100, &gpu, &x100, 1000))),
        ),
        (
            "gauss100d_hmc",
            time_ms(|| drop(run(&h10, &g100, &gpu, &x100, 100))),
        ),
    ];
    let timings: Vec<String> = timings
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v:.3}"))
        .collect();
    println!(
        "{{\"device\":\"{name}\",\"all_ok\":{},\"checks\":{{{}}},\"device_ms_min\":{{{}}}}}",
        report.1,
        report.0.join(","),
        timings.join(",")
    );
    report.1
}
