//! The benchmark MLP of `docs/benchmarks.md`, whose energy at the origin is given there.

use ebm_core::prelude::*;
use ebm_models::{Layer, Mlp};

#[test]
fn the_benchmark_mlp_has_the_published_energy_at_the_origin() {
    let h = 64;
    let w1 = (0..h * 2).map(|k| 0.8 * (0.37 * (k / 2) as f64 + 1.3 * (k % 2) as f64 + 0.1).sin());
    let b1 = (0..h).map(|o| 0.1 * (o as f64).cos());
    let w2 = (0..h * h).map(|k| (0.11 * (k / h) as f64 + 0.23 * (k % h) as f64 + 0.5).sin() / 8.0);
    let b2 = (0..h).map(|o| 0.1 * (0.5 * o as f64).cos());
    let w3 = (0..h).map(|i| (0.3 * i as f64).cos() / 8.0);
    let dev = Cpu::default();
    let model = Mlp::<2, f32>::new(
        &dev,
        vec![
            Layer {
                weights: w1.collect(),
                bias: b1.collect(),
            },
            Layer {
                weights: w2.collect(),
                bias: b2.collect(),
            },
        ],
        w3.collect(),
        0.0,
        0.05,
    )
    .unwrap();
    assert_eq!(model.hidden_sizes(), vec![64, 64]);
    let x: Batch<2> = dev.zeros_like(&(3, Const::<2>));
    // docs/benchmarks.md: E(0) = 0.014514 (float32), through both the tensor and the host path.
    for e in model.energy(x.clone()).as_vec() {
        assert!((e - 0.014514).abs() < 1e-6, "tensor path E(0) = {e}");
    }
    let (mut e, mut g) = ([0.0f32; 3], [0.0f32; 6]);
    assert!(model.host_energy_and_gradient(&x.as_vec(), &mut e, &mut g));
    assert!(
        e.iter().all(|v| (v - 0.014514).abs() < 1e-6),
        "host path E(0) = {e:?}"
    );
}
