//! The activations of `ebm_core::ops::Activations` (`softplus`, `silu`, `swish`), and dfdx's `ln`
//! and `logsumexp` that neural energies use with them (the latter on the patched `f32` `exp`): autodiff
//! gradients against central finite differences in `f64` and `f32`, values against the closed
//! forms, the points where a naive formula overflows or loses the derivative, and the same
//! functions written in an `#[energy]` body.

use ebm_core::prelude::*;
use ebm_core::{autodiff_energy_and_gradient, Energy};
use proptest::prelude::*;

const H: usize = 4;

#[derive(Clone, Copy, Debug)]
enum Act {
    Softplus,
    Silu,
    Swish(f64),
    /// dfdx's `ln`, as `ln(1 + z^2)`.
    Ln,
    /// dfdx's `logsumexp` over the layer's outputs (the energy is then `logsumexp_k (x W)_k`).
    LogSumExp,
}

/// The activation in `f64`, written from its definition.
fn exact(act: Act, x: f64) -> f64 {
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    match act {
        // ln(1 + e^x) = max(x, 0) + ln(1 + e^(-|x|)), with ln_1p for small arguments.
        Act::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        Act::Silu => x * sigmoid(x),
        Act::Swish(beta) => x * sigmoid(beta * x),
        Act::Ln => (1.0 + x * x).ln(),
        Act::LogSumExp => unreachable!("not element-wise"),
    }
}

/// `E(x) = v . act(x W)`: the activation between constant weights, so that each chain's gradient
/// mixes all its coordinates.
#[derive(Clone, Debug)]
struct Layer {
    act: Act,
    w: Vec<f64>,
    v: Vec<f64>,
}

fn cast<E: Real>(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| E::of(x)).collect()
}

impl<E: Real, Dev: Device<E>> Energy<3, E, Dev> for Layer {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<3, E, Dev, T>) -> Energies<E, Dev, T> {
        let dev = x.device().clone();
        let w = dev.tensor_from_vec(cast(&self.w), (Const::<3>, H));
        let v = dev.tensor_from_vec(cast(&self.v), (H, Const::<1>));
        let pre = x.matmul(w);
        let h = match self.act {
            Act::Softplus => pre.softplus(),
            Act::Silu => pre.silu(),
            Act::Swish(beta) => pre.swish(E::of(beta)),
            Act::Ln => (pre.square() + E::one()).ln(),
            Act::LogSumExp => return pre.logsumexp::<(usize,), Axis<1>>(),
        };
        h.matmul(v).sum::<(usize,), Axis<1>>()
    }
}

/// `E(x) = v . act(x W)` computed in `f64` from the definitions, without dfdx.
fn exact_energy(layer: &Layer, row: &[f64]) -> f64 {
    let pre = |k: usize| -> f64 { (0..3).map(|j| row[j] * layer.w[j * H + k]).sum() };
    match layer.act {
        Act::LogSumExp => (0..H).map(|k| pre(k).exp()).sum::<f64>().ln(),
        act => (0..H).map(|k| layer.v[k] * exact(act, pre(k))).sum(),
    }
}

/// Central finite differences of [`exact_energy`] at the rows of `x` (row-major, 3 columns).
fn finite_differences(layer: &Layer, x: &[f64]) -> Vec<f64> {
    let step = 1e-5;
    let mut grad = vec![0.0; x.len()];
    for (i, row) in x.chunks(3).enumerate() {
        for j in 0..3 {
            let at = |by: f64| {
                let mut r = row.to_vec();
                r[j] += by;
                exact_energy(layer, &r)
            };
            grad[i * 3 + j] = (at(step) - at(-step)) / (2.0 * step);
        }
    }
    grad
}

fn check(layer: &Layer, x: &[f64]) {
    let dev = Cpu::default();
    let n = x.len() / 3;
    let fd = finite_differences(layer, x);
    let energies: Vec<f64> = x.chunks(3).map(|r| exact_energy(layer, r)).collect();

    let x64: Batch<3, f64> = dev.tensor_from_vec(x.to_vec(), (n, Const::<3>));
    let (e64, g64) = autodiff_energy_and_gradient(layer, &x64);
    for (a, b) in g64.as_vec().iter().zip(&fd) {
        assert!(
            (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
            "f64 gradient: {a} vs {b}"
        );
    }
    for (a, b) in e64.as_vec().iter().zip(&energies) {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "f64 energy: {a} vs {b}"
        );
    }

    let x32: Batch<3, f32> = dev.tensor_from_vec(cast(x), (n, Const::<3>));
    let (e32, g32) = autodiff_energy_and_gradient(layer, &x32);
    for (a, b) in g32.as_vec().iter().zip(&fd) {
        let a = *a as f64;
        assert!(
            (a - b).abs() <= 1e-3 * (1.0 + b.abs()),
            "f32 gradient: {a} vs {b}"
        );
    }
    for (a, b) in e32.as_vec().iter().zip(&energies) {
        let a = *a as f64;
        assert!(
            (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
            "f32 energy: {a} vs {b}"
        );
    }
}

fn deterministic(cases: u32, seed: u64) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Off)),
        ..proptest::test_runner::Config::default()
    }
}

fn values(len: usize, bound: f64) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-bound..bound, len)
}

proptest! {
    #![proptest_config(deterministic(48, 20261130))]

    #[test]
    fn gradients_and_energies_match_the_definitions(
        act in prop::sample::select(vec![
            Act::Softplus, Act::Silu, Act::Swish(0.5), Act::Swish(1.7), Act::Swish(-1.0),
            Act::Ln, Act::LogSumExp,
        ]),
        w in values(3 * H, 2.0),
        v in values(H, 1.0),
        x in values(5 * 3, 4.0),
    ) {
        check(&Layer { act, w, v }, &x);
    }
}

/// A one-dimensional tensor with a tape on the CPU.
type Taped<E> = Tensor<(usize,), E, Cpu, OwnedTape<E, Cpu>>;

/// Values of `act` at `xs` and the gradient of their sum.
fn elementwise_gradient<E: Real>(xs: &[E], act: impl Fn(Taped<E>) -> Taped<E>) -> (Vec<E>, Vec<E>)
where
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let x: Tensor<(usize,), E, Cpu> = dev.tensor_from_vec(xs.to_vec(), (xs.len(),));
    let y = act(x.retaped::<OwnedTape<E, Cpu>>());
    let value = y.retaped::<NoneTape>().as_vec();
    let grads = y.sum().backward();
    (value, grads.get(&x).as_vec())
}

#[test]
fn softplus_is_exact_at_zero_and_finite_far_out() {
    // softplus(0) = ln 2 and softplus'(0) = sigmoid(0) = 1/2; far out softplus(x) = max(x, 0) and
    // its derivative is e^x or 1, where ln(1 + e^x) would overflow to infinity and give NaN.
    let (v, g) = elementwise_gradient(&[0.0f64, -0.0, 500.0, -500.0, 1000.0], |t| t.softplus());
    assert_eq!(v[0], std::f64::consts::LN_2);
    assert_eq!(v[1], std::f64::consts::LN_2);
    assert_eq!(&v[2..], &[500.0, 0.0, 1000.0]);
    assert_eq!(g[..3], [0.5, 0.5, 1.0]);
    assert!((g[3] / (-500.0f64).exp() - 1.0).abs() < 1e-12, "{}", g[3]);
    assert_eq!(g[4], 1.0);

    let (v, g) = elementwise_gradient(&[0.0f32, 100.0, -200.0, 89.0], |t| t.softplus());
    assert_eq!(v, vec![std::f32::consts::LN_2, 100.0, 0.0, 89.0]);
    assert_eq!(g, vec![0.5, 1.0, 0.0, 1.0]);
}

#[test]
fn softplus_gradient_keeps_relative_accuracy_for_very_negative_inputs() {
    // softplus'(x) = sigmoid(x) = e^x / (1 + e^x), about e^x when x is very negative.
    let (_, g) = elementwise_gradient(&[-30.0f32, -60.0], |t| t.softplus());
    for (g, x) in g.iter().zip([-30.0f64, -60.0]) {
        let exact = x.exp() / (1.0 + x.exp());
        assert!(((*g as f64 - exact) / exact).abs() < 1e-5, "{g} vs {exact}");
    }
}

#[test]
fn silu_and_swish_have_the_derivatives_of_their_definitions() {
    // silu'(x) = sigmoid(x) (1 + x (1 - sigmoid(x))); at 0 it is 1/2, far out 0 or 1.
    let (v, g) = elementwise_gradient(&[0.0f64, -800.0, 800.0], |t| t.silu());
    assert_eq!(v, vec![0.0, -0.0, 800.0]);
    assert_eq!(g, vec![0.5, 0.0, 1.0]);
    // swish(x; beta)' at 0 is 1/2 for every beta; with beta = 0 swish is x / 2 everywhere.
    let (v, g) = elementwise_gradient(&[0.0f32, 3.0, -2.0], |t| t.swish(0.0));
    assert_eq!(v, vec![0.0, 1.5, -1.0]);
    assert_eq!(g, vec![0.5, 0.5, 0.5]);
}

#[test]
fn activations_propagate_nan() {
    for act in [Act::Softplus, Act::Silu, Act::Swish(2.0)] {
        let (v, _) = elementwise_gradient(&[f64::NAN, 1.0], |t| match act {
            Act::Softplus => t.softplus(),
            Act::Silu => t.silu(),
            Act::Swish(beta) => t.swish(beta),
            other => unreachable!("{other:?} is not in the list"),
        });
        assert!(v[0].is_nan(), "{act:?}");
        assert!((v[1] - exact(act, 1.0)).abs() < 1e-15, "{act:?}");
    }
}

/// The same network as [`Layer`] with softplus, written with `#[energy]`.
#[energy]
fn softplus_layer(x: Batch<3>, w: [[f64; H]; 3], v: [[f64; 1]; H]) -> Energies {
    x.matmul(w).softplus().matmul(v).sum::<_, Axis<1>>()
}

/// A two-activation body: `sum_j silu(x_j) + swish(x_j; 0.5)`.
#[energy]
fn gated(x: Batch<3>) -> Energies {
    (x.silu() + x.swish(0.5)).sum::<_, Axis<1>>()
}

#[test]
fn energy_bodies_use_the_activations() -> ebm_core::Result<()> {
    let dev = Cpu::default();
    let w = [
        [0.3, -1.2, 0.7, 2.0],
        [1.1, 0.4, -0.5, -1.0],
        [-0.8, 0.9, 1.5, 0.2],
    ];
    let v = [[0.5], [-1.5], [1.0], [0.25]];
    let layer = Layer {
        act: Act::Softplus,
        w: w.iter().flatten().copied().collect(),
        v: v.iter().flatten().copied().collect(),
    };
    let xs = vec![0.4, -1.3, 2.2, -0.7, 0.05, 1.9];
    let x: Batch<3, f64> = dev.tensor_from_vec(xs.clone(), (2, Const::<3>));

    let model = SoftplusLayer::<f64>::new(&dev, w, v)?;
    let (e, g) = model.energy_and_gradient(&x);
    let (e_ref, g_ref) = autodiff_energy_and_gradient(&layer, &x);
    assert_eq!(e.as_vec(), e_ref.as_vec());
    assert_eq!(g.as_vec(), g_ref.as_vec());

    let (e, g) = Gated::<f64>::new(&dev)?.energy_and_gradient(&x);
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    for (i, row) in xs.chunks(3).enumerate() {
        let want: f64 = row
            .iter()
            .map(|&z| z * sigmoid(z) + z * sigmoid(0.5 * z))
            .sum();
        assert!((e.as_vec()[i] - want).abs() < 1e-12);
        for (j, &z) in row.iter().enumerate() {
            let d = |b: f64| sigmoid(b * z) * (1.0 + b * z * (1.0 - sigmoid(b * z)));
            assert!((g.as_vec()[i * 3 + j] - (d(1.0) + d(0.5))).abs() < 1e-12);
        }
    }
    Ok(())
}
