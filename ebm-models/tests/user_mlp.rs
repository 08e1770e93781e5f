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
