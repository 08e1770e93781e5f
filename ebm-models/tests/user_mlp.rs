//! A tanh MLP written with `#[energy]` (gradient by autodiff) against the built-in `Mlp` (gradient
//! by its hand-written backward pass), on random weights and points, in `f32` and `f64`.

use ebm_core::prelude::*;
use ebm_models::{Layer, Mlp};
use proptest::prelude::*;

/// `E(x) = w3 . tanh(W2 tanh(W1 x + b1) + b2) + c |x|^2`, weights stored `(inputs, outputs)`.
#[energy]
fn net(
    x: Batch<2>,
    w1: [[f64; 5]; 2],
    b1: [f64; 5],
    w2: [[f64; 4]; 5],
    b2: [f64; 4],
    w3: [[f64; 1]; 4],
    c: f64,
) -> Energies {
    let n = x.shape().0;
    let h1 = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&(n, Const::<5>))).tanh();
    let h2 = (h1.matmul(w2) + b2.broadcast_like::<_, Axis<0>>(&(n, Const::<4>))).tanh();
    h2.matmul(w3).sum::<_, Axis<1>>() + x.square().sum::<_, Axis<1>>() * c
}

/// Row-major `(outputs, inputs)` weights of the built-in from `(inputs, outputs)` arrays.
fn rows<const I: usize, const O: usize>(w: &[[f64; O]; I]) -> Vec<f64> {
    (0..O).flat_map(|o| (0..I).map(move |i| w[i][o])).collect()
}

type Weights = (
    [[f64; 5]; 2],
    [f64; 5],
    [[f64; 4]; 5],
    [f64; 4],
    [[f64; 1]; 4],
    f64,
);

fn weights() -> impl Strategy<Value = Weights> {
    let u = || -1.5f64..1.5;
    (
        proptest::array::uniform2(proptest::array::uniform5(u())),
        proptest::array::uniform5(u()),
        proptest::array::uniform5(proptest::array::uniform4(u())),
        proptest::array::uniform4(u()),
        proptest::array::uniform4(proptest::array::uniform1(u())),
        0.0f64..0.5,
    )
}

fn compare<E: Real>(w: &Weights, points: &[f64], tol: f64)
where
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let (w1, b1, w2, b2, w3, c) = *w;
    let user = Net::<E>::new(&dev, w1, b1, w2, b2, w3, c).unwrap();
    let hidden = vec![
        Layer {
            weights: rows(&w1),
            bias: b1.to_vec(),
        },
        Layer {
            weights: rows(&w2),
            bias: b2.to_vec(),
        },
    ];
    let output: Vec<f64> = w3.iter().map(|r| r[0]).collect();
    let builtin = Mlp::<2, E>::new(&dev, hidden, output, 0.0, c).unwrap();
    let n = points.len() / 2;
    let x: Batch<2, E> =
        dev.tensor_from_vec(points.iter().map(|&v| E::of(v)).collect(), (n, Const::<2>));
    let (e_user, g_user) = user.energy_and_gradient(&x);
    let (mut e_ref, mut g_ref) = (vec![E::zero(); n], vec![E::zero(); 2 * n]);
    assert!(builtin.host_energy_and_gradient(&x.as_vec(), &mut e_ref, &mut g_ref));
    for (a, b) in e_user
        .as_vec()
        .iter()
        .zip(&e_ref)
        .chain(g_user.as_vec().iter().zip(&g_ref))
    {
        let (a, b) = (a.as_f64(), b.as_f64());
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{} {a} vs {b}",
            E::NAME
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        rng_seed: proptest::test_runner::RngSeed::Fixed(515),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn macro_mlp_matches_the_built_in(
        w in weights(),
        points in prop::collection::vec(-3.0f64..3.0, 2 * 6),
    ) {
        compare::<f64>(&w, &points, 1e-12);
        compare::<f32>(&w, &points, 1e-5);
    }
}

/// A batch large enough to be cut into blocks over the threads
/// (`ebm_core::energy::blockwise_energy_and_gradient`): the built-in's values, and the same bits
/// on one thread and on three.
#[test]
fn blockwise_batches_match_the_built_in_on_any_thread_count() {
    let w: Weights = (
        [[0.3, -0.7, 1.1, 0.2, -0.4], [0.9, 0.1, -1.2, 0.6, 0.5]],
        [0.1, -0.2, 0.3, 0.0, 0.4],
        [
            [0.5, -0.3, 0.2, 0.8],
            [-0.6, 0.4, 0.1, -0.2],
            [0.3, 0.7, -0.5, 0.1],
            [0.2, -0.1, 0.6, -0.9],
            [-0.4, 0.5, 0.3, 0.2],
        ],
        [0.05, -0.1, 0.2, 0.0],
        [[1.0], [-0.5], [0.7], [0.3]],
        0.05,
    );
    // 1203 rows: blocks of 301, 301, 301 and 300 rows.
    let points: Vec<f64> = (0..2 * 1203)
        .map(|k| 3.0 * (0.37 * k as f64).sin())
        .collect();
    compare::<f64>(&w, &points, 1e-12);
    compare::<f32>(&w, &points, 1e-5);
    let dev = Cpu::default();
    let (w1, b1, w2, b2, w3, c) = w;
    let user = Net::<f32>::new(&dev, w1, b1, w2, b2, w3, c).unwrap();
    let x: Batch<2, f32> = dev.tensor_from_vec(
        points.iter().map(|&v| v as f32).collect(),
        (1203, Const::<2>),
    );
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (e, g) = pool.install(|| user.energy_and_gradient(&x));
        (e.as_vec(), g.as_vec())
    };
    let one = on(1);
    assert_eq!(one, on(3));
    // One autodiff pass over the whole batch agrees to rounding.
    let (e, g) = ebm_core::autodiff_energy_and_gradient(&user, &x);
    for (a, b) in one
        .0
        .iter()
        .zip(e.as_vec())
        .chain(one.1.iter().zip(g.as_vec()))
    {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
}
