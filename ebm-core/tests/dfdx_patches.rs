//! Checks of the changes this workspace makes to dfdx (`vendor/dfdx/PATCHES.md`): every operation
//! whose CPU kernel changed, differentiated by autodiff (which skips constants' gradients) and
//! compared with central finite differences of the same energy evaluated in `f64`; the `f32`
//! kernels against the exact functions; `slice` gradients; and the unchanged training path. Products
//! are checked both through `gemm` and through the row-block kernel that replaces it inside
//! `ebm_kernels::with_single_thread_products`.

use ebm_core::prelude::*;
use ebm_core::{autodiff_energy_and_gradient, Energy};
use proptest::prelude::*;

const H: usize = 5;

#[derive(Clone, Copy, Debug)]
enum Act {
    Tanh,
    Sigmoid,
    Exp,
    Relu,
    Square,
}

/// `E(x) = v . (act(x W + b) * m) + |x|^2 * (x . u)`: products with constant weights, broadcast
/// additions and multiplications by constants, one activation, and a taped value broadcast along
/// the other axis.
#[derive(Clone, Debug)]
struct Layer {
    act: Act,
    w: Vec<f64>,
    b: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    u: Vec<f64>,
}

fn cast<E: Real>(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| E::of(x)).collect()
}

impl<E: Real, Dev: Device<E>> Energy<3, E, Dev> for Layer {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<3, E, Dev, T>) -> Energies<E, Dev, T> {
        let dev = x.device().clone();
        let n = x.shape().0;
        let w = dev.tensor_from_vec(cast(&self.w), (Const::<3>, H));
        let b = dev.tensor_from_vec(cast(&self.b), (H,));
        let m = dev.tensor_from_vec(cast(&self.m), (H,));
        let v = dev.tensor_from_vec(cast(&self.v), (H, Const::<1>));
        let u = dev.tensor_from_vec(cast(&self.u), (Const::<3>,));
        let pre = x.retaped::<T>().matmul(w) + b.broadcast_like::<_, Axis<0>>(&(n, H));
        let h = match self.act {
            Act::Tanh => pre.tanh(),
            Act::Sigmoid => pre.sigmoid(),
            Act::Exp => (pre * E::of(0.5)).exp(),
            Act::Relu => pre.relu(),
            Act::Square => pre.square(),
        };
        let h = h * m.broadcast_like::<_, Axis<0>>(&(n, H));
        let out = h.matmul(v).sum::<(usize,), Axis<1>>();
        let r2 = x.retaped::<T>().square().sum::<(usize,), Axis<1>>();
        let xu = (x * u.broadcast_like::<_, Axis<0>>(&(n, Const::<3>))).sum::<(usize,), Axis<1>>();
        out + r2 * xu
    }
}

/// `E(x) = sum_i ((x_i - c_i) / s_i)^2 + sum_i x_i / (1 + |x|^2)`: subtraction and division by
/// constants, and division by a taped value broadcast along the last axis.
#[derive(Clone, Debug)]
struct Scaled {
    c: Vec<f64>,
    s: Vec<f64>,
}

impl<E: Real, Dev: Device<E>> Energy<3, E, Dev> for Scaled {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<3, E, Dev, T>) -> Energies<E, Dev, T> {
        let dev = x.device().clone();
        let shape = (x.shape().0, Const::<3>);
        let c = dev.tensor_from_vec(cast(&self.c), (Const::<3>,));
        let s = dev.tensor_from_vec(cast(&self.s), (Const::<3>,));
        let z = (x.retaped::<T>() - c.broadcast_like::<_, Axis<0>>(&shape))
            / s.broadcast_like::<_, Axis<0>>(&shape);
        let denom = x.retaped::<T>().square().sum::<(usize,), Axis<1>>() + E::one();
        let ratio = x / denom.broadcast_like::<_, Axis<1>>(&shape);
        z.square().sum::<(usize,), Axis<1>>() + ratio.sum::<(usize,), Axis<1>>()
    }
}

/// Central finite differences of `model` in `f64` at the rows of `x` (row-major, 3 columns).
fn finite_differences<M: Energy<3, f64, Cpu>>(model: &M, x: &[f64]) -> Vec<f64> {
    let dev = Cpu::default();
    let n = x.len() / 3;
    let step = 1e-5;
    let mut grad = vec![0.0; x.len()];
    for j in 0..3 {
        let shifted = |by: f64| {
            let mut y = x.to_vec();
            y.iter_mut().skip(j).step_by(3).for_each(|v| *v += by);
            let batch: Batch<3, f64> = dev.tensor_from_vec(y, (n, Const::<3>));
            model.energy(batch).as_vec()
        };
        let (up, down) = (shifted(step), shifted(-step));
        for i in 0..n {
            grad[i * 3 + j] = (up[i] - down[i]) / (2.0 * step);
        }
    }
    grad
}

/// Autodiff in `f64` and `f32` against finite differences and the `f64` energy, with products
/// through `gemm` and through the row-block kernel (inside
/// `ebm_kernels::with_single_thread_products`, with the transposed weights and accumulated
/// gradients of the backward pass).
fn check<M: Energy<3, f64, Cpu> + Energy<3, f32, Cpu>>(model: &M, x: &[f64]) {
    check_here(model, x);
    ebm_kernels::with_single_thread_products(|| check_here(model, x));
}

fn check_here<M: Energy<3, f64, Cpu> + Energy<3, f32, Cpu>>(model: &M, x: &[f64]) {
    let dev = Cpu::default();
    let n = x.len() / 3;
    let fd = finite_differences(model, x);
    let x64: Batch<3, f64> = dev.tensor_from_vec(x.to_vec(), (n, Const::<3>));
    let (e64, g64) = autodiff_energy_and_gradient(model, &x64);
    for (a, b) in g64.as_vec().iter().zip(&fd) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "f64: {a} vs {b}");
    }
    let x32: Batch<3, f32> = dev.tensor_from_vec(cast(x), (n, Const::<3>));
    let (e32, g32) = autodiff_energy_and_gradient(model, &x32);
    for (a, b) in g32.as_vec().iter().zip(&fd) {
        let a = *a as f64;
        assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()), "f32: {a} vs {b}");
    }
    for (a, b) in e32.as_vec().iter().zip(e64.as_vec()) {
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
    #![proptest_config(deterministic(40, 20260715))]

    #[test]
    fn layer_gradients_match_finite_differences(
        act in prop::sample::select(vec![Act::Tanh, Act::Sigmoid, Act::Exp, Act::Relu, Act::Square]),
        w in values(3 * H, 1.0),
        b in values(H, 1.0),
        m in values(H, 1.0),
        v in values(H, 1.0),
        u in values(3, 1.0),
        x in values(4 * 3, 2.0),
    ) {
        // relu has a kink at 0; keep the pre-activations away from it.
        let layer = Layer { act, w, b, m, v, u };
        if matches!(act, Act::Relu) {
            let dev = Cpu::default();
            let xb: Batch<3, f64> = dev.tensor_from_vec(x.clone(), (4, Const::<3>));
            let w: Tensor<(Const<3>, usize), f64, Cpu> =
                dev.tensor_from_vec(layer.w.clone(), (Const::<3>, H));
            let bias = dev.tensor_from_vec(layer.b.clone(), (H,));
            let pre = xb.matmul(w) + bias.broadcast_like::<_, Axis<0>>(&(4, H));
            prop_assume!(pre.as_vec().iter().all(|p| p.abs() > 1e-3));
        }
        check(&layer, &x);
    }

    #[test]
    fn broadcast_gradients_match_finite_differences(
        c in values(3, 1.0),
        s in prop::collection::vec(0.5f64..2.0, 3),
        x in values(5 * 3, 3.0),
    ) {
        check(&Scaled { c, s }, &x);
    }
}

/// The exact function a kernel approximates.
type Exact = fn(f64) -> f64;

#[test]
fn f32_kernels_are_accurate() {
    let dev = Cpu::default();
    let points: Vec<f32> = (0..20_001).map(|i| -20.0 + i as f32 * 2e-3).collect();
    let t: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(points.clone(), (points.len(),));
    let cases: [(Vec<f32>, Exact); 3] = [
        (t.clone().tanh().as_vec(), f64::tanh),
        (t.clone().exp().as_vec(), f64::exp),
        (t.sigmoid().as_vec(), |x| 1.0 / (1.0 + (-x).exp())),
    ];
    for (got, exact) in cases {
        for (&x, &y) in points.iter().zip(&got) {
            let e = exact(x as f64);
            let rel = if e == 0.0 {
                y.abs() as f64
            } else {
                ((y as f64 - e) / e).abs()
            };
            assert!(rel < 1e-6, "f({x}) = {y}, exact {e}");
        }
    }
}

#[test]
fn f64_exp_is_the_vectorised_kernel_with_its_gradient() {
    let dev = Cpu::default();
    let points: Vec<f64> = (0..20_001).map(|i| -740.0 + i as f64 * 0.0724).collect();
    let t: Tensor<(usize,), f64, Cpu> = dev.tensor_from_vec(points.clone(), (points.len(),));
    let got = t.clone().exp().as_vec();
    for (&x, &y) in points.iter().zip(&got) {
        // The kernel of `ebm_kernels::math`, within 2 ulp of the standard library's.
        assert_eq!(y.to_bits(), ebm_kernels::math::exp(x).to_bits(), "exp({x})");
        let e = x.exp();
        assert!(
            (y - e).abs() <= 2.0 * f64::EPSILON * e,
            "exp({x}) = {y}, std {e}"
        );
    }
    // d/dx sum exp(x) = exp(x).
    let x: Tensor<(usize,), f64, Cpu> = dev.tensor_from_vec(vec![-3.0, 0.0, 2.5], (3,));
    let g = x.leaky_trace().exp().sum().backward();
    let dx = g.get(&x).as_vec();
    for (d, v) in dx.iter().zip([-3.0f64, 0.0, 2.5]) {
        assert_eq!(d.to_bits(), ebm_kernels::math::exp(v).to_bits());
    }
}

#[test]
fn f64_ln_is_the_vectorised_kernel_with_its_gradient() {
    let dev = Cpu::default();
    let points: Vec<f64> = (1..20_001).map(|i| (i as f64 * 0.0173).powi(3)).collect();
    let t: Tensor<(usize,), f64, Cpu> = dev.tensor_from_vec(points.clone(), (points.len(),));
    let got = t.ln().as_vec();
    for (&x, &y) in points.iter().zip(&got) {
        assert_eq!(y.to_bits(), ebm_kernels::math::ln(x).to_bits(), "ln({x})");
        let e = x.ln();
        assert!(
            (y - e).abs() <= 2.0 * f64::EPSILON * e.abs(),
            "ln({x}) = {y}, std {e}"
        );
    }
    // d/dx sum ln(x) = 1 / x.
    let x: Tensor<(usize,), f64, Cpu> = dev.tensor_from_vec(vec![0.25, 1.0, 8.0], (3,));
    let g = x.leaky_trace().ln().sum().backward();
    assert_eq!(g.get(&x).as_vec(), vec![4.0, 1.0, 0.125]);
}

#[test]
fn f32_kernels_keep_special_values() {
    let dev = Cpu::default();
    let special = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        100.0,
        -200.0,
    ];
    let t: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(special, (7,));
    let tanh = t.clone().tanh().as_vec();
    assert!(tanh[0].is_nan());
    assert_eq!(&tanh[1..3], &[1.0, -1.0]);
    assert!(tanh[4] == 0.0 && tanh[4].is_sign_negative());
    let exp = t.clone().exp().as_vec();
    assert!(exp[0].is_nan());
    assert_eq!(
        &exp[1..],
        &[f32::INFINITY, 0.0, 1.0, 1.0, f32::INFINITY, 0.0]
    );
    let sigmoid = t.sigmoid().as_vec();
    assert!(sigmoid[0].is_nan());
    assert_eq!(&sigmoid[1..5], &[1.0, 0.0, 0.5, 0.5]);
}

/// `E = sum_i x_i x_{i+1}` through two overlapping `slice`s: upstream dfdx 0.13 overwrote the
/// gradient of the sliced tensor instead of adding to it.
struct SlicedChain;

impl<E: Real, Dev: Device<E>> Energy<3, E, Dev> for SlicedChain {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<3, E, Dev, T>) -> Energies<E, Dev, T> {
        let head = x.retaped::<T>().slice((.., 0..2));
        let tail = x.slice((.., 1..3));
        (head * tail).sum::<(usize,), Axis<1>>()
    }
}

#[test]
fn overlapping_slices_accumulate_gradients() {
    let dev = Cpu::default();
    let x: Batch<3, f64> =
        dev.tensor_from_vec(vec![1.0, 2.0, 3.0, -1.0, 0.5, 4.0], (2, Const::<3>));
    let (e, g) = autodiff_energy_and_gradient(&SlicedChain, &x);
    assert_eq!(e.as_vec(), vec![8.0, 1.5]);
    // d/dx0 = x1, d/dx1 = x0 + x2, d/dx2 = x1
    assert_eq!(g.as_vec(), vec![2.0, 4.0, 2.0, 0.5, 3.0, 0.5]);
}

#[test]
fn leaky_gradients_still_reach_weights() {
    // Training traces with `leaky` (or `alloc_grads`) gradients and needs the weights' gradients.
    let dev = Cpu::default();
    let w: Tensor<Rank2<2, 2>, f64, Cpu> = dev.tensor([[1.0, 2.0], [3.0, 4.0]]);
    let b: Tensor<Rank1<2>, f64, Cpu> = dev.tensor([0.5, -0.5]);
    let x: Tensor<Rank2<1, 2>, f64, Cpu> = dev.tensor([[1.0, -2.0]]);
    let y = x.leaky_trace().matmul(w.clone()) + b.clone().broadcast();
    let g = y.sum().backward();
    // d sum(x W + b) / dW_ij = x_i, / db_j = 1, / dx_i = sum_j W_ij.
    assert_eq!(g.get(&w).array(), [[1.0, 1.0], [-2.0, -2.0]]);
    assert_eq!(g.get(&b).array(), [1.0, 1.0]);
    assert_eq!(g.get(&x).array(), [[3.0, 7.0]]);
}

#[test]
fn gradients_without_constants_skip_weights_only() {
    let dev = Cpu::default();
    let w: Tensor<Rank2<2, 2>, f64, Cpu> = dev.tensor([[1.0, 2.0], [3.0, 4.0]]);
    let x: Tensor<Rank2<1, 2>, f64, Cpu> = dev.tensor([[1.0, -2.0]]);
    let mut grads = Gradients::without_constants();
    grads.try_alloc_for(&x).unwrap();
    let g = x.trace(grads).matmul(w.clone()).tanh().sum().backward();
    let pre = [1.0f64 - 6.0, 2.0 - 8.0];
    let dx = [
        (1.0 - pre[0].tanh().powi(2)) * 1.0 + (1.0 - pre[1].tanh().powi(2)) * 2.0,
        (1.0 - pre[0].tanh().powi(2)) * 3.0 + (1.0 - pre[1].tanh().powi(2)) * 4.0,
    ];
    let got = g.get(&x).array()[0];
    assert!((got[0] - dx[0]).abs() < 1e-12 && (got[1] - dx[1]).abs() < 1e-12);
    assert!(!g.wants(&w), "a constant's gradient was allocated");
}

/// Products and element-wise outputs take buffers from the allocation cache without zero-filling
/// them first (they write every entry), and the row-block kernel keeps its scratch between calls
/// without clearing it: stale values, NaN here, must never show through.
#[test]
fn reused_buffers_never_show_through() {
    let dev = Cpu::default();
    dev.enable_cache();
    let w: Tensor<Rank2<2, 2>, f64, Cpu> = dev.tensor([[1.0, 2.0], [3.0, 4.0]]);
    let x: Tensor<Rank2<2, 2>, f64, Cpu> = dev.tensor([[1.0, -2.0], [0.5, 1.0]]);
    let poison = || drop(dev.tensor([[f64::NAN; 2]; 2]));
    for single in [false, true] {
        let run = || {
            poison();
            let y = x.clone().matmul(w.clone());
            assert_eq!(y.array(), [[-5.0, -6.0], [3.5, 5.0]]);
            poison();
            // Both operands still held elsewhere: the output is a fresh buffer.
            let s = x.clone() + w.clone();
            assert_eq!(s.array(), [[2.0, 0.0], [3.5, 5.0]]);
            // A larger product first leaves the kernel's scratch full of other values; the
            // backward pass of the smaller one (transposed weights, accumulated gradient) follows.
            let big: Tensor<Rank2<3, 3>, f64, Cpu> = dev.tensor([[f64::NAN; 3]; 3]);
            let stale = dev
                .tensor([[1.0f64; 3]; 3])
                .leaky_trace()
                .matmul(big.clone())
                .sum()
                .backward();
            drop(stale);
            let g = x.leaky_trace().matmul(w.clone()).sum().backward();
            // d sum(x W) / dx_ri = sum_j W_ij.
            assert_eq!(g.get(&x).array(), [[3.0, 7.0], [3.0, 7.0]]);
        };
        if single {
            ebm_kernels::with_single_thread_products(run);
        } else {
            run();
        }
    }
}
