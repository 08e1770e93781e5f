//! The samplers on dfdx's CUDA device. Built with `--features cuda`; CI type-checks it without a GPU
//! (`--features cuda,ebm-core/ci-check`), and the test itself runs only where a GPU is present
//! (`cargo test --features cuda -- --ignored`).
#![cfg(feature = "cuda")]

mod common;

use common::*;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn langevin_on_cuda_matches_the_discretised_chain() {
    let dev = Cuda::default();
    let model = GaussianModel::new(&dev, [1.0f32, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    let sampler = LangevinDynamics::new(0.1, 1.0).unwrap();
    let x0: Batch<2, f32, Cuda> = standard_normal_batch::<2>(2000, 3)
        .to_dtype::<f32>()
        .to_device(&dev);
    let out = sampler.sample(&model, &x0, 400, 5).unwrap();
    let x: Vec<f64> = out.as_vec().iter().map(|&v| v as f64).collect();
    let prec: Vec<f64> = model.precision().iter().map(|&v| v as f64).collect();
    let exact = sampler.gaussian_stationary_covariance(&prec, 2).unwrap();
    assert_moments(&x, 2, &[1.0, -1.0], &exact, 5.0, 1e-5, "cuda");
}
