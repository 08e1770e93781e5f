//! `#[energy]` through `ebm-core`'s re-export: bodies that reuse bindings in every supported form
//! give the energies and gradients of their closed forms, in `f32` and `f64`.

use ebm_core::prelude::*;
use ebm_core::{autodiff_energy_and_gradient, Error};

fn batch<const D: usize, E: Real>(rows: &[[f64; D]]) -> Batch<D, E> {
    let flat: Vec<E> = rows.iter().flatten().map(|&v| E::of(v)).collect();
    Cpu::default().tensor_from_vec(flat, (rows.len(), Const::<D>))
}

/// Energies and gradients of `model` at `rows` against `expected(row) -> (energy, gradient)`.
fn check<const D: usize, E: Real, M: Energy<D, E, Cpu>>(
    model: &M,
    rows: &[[f64; D]],
    expected: impl Fn(&[f64; D]) -> (f64, [f64; D]),
    tol: f64,
) where
    Cpu: Device<E>,
{
    let x = batch::<D, E>(rows);
    let plain = model.energy(x.clone()).as_vec();
    let (e, g) = autodiff_energy_and_gradient(model, &x);
    let (e, g) = (e.as_vec(), g.as_vec());
    for (r, row) in rows.iter().enumerate() {
        let (want_e, want_g) = expected(row);
        let scale = want_e.abs().max(1.0);
        assert!(
            (plain[r].as_f64() - want_e).abs() <= tol * scale,
            "energy at {row:?}: {} vs {want_e}",
            plain[r]
        );
        assert_eq!(
            plain[r], e[r],
            "taped and untaped energies differ at {row:?}"
        );
        let gscale = want_g.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for i in 0..D {
            let got = g[r * D + i].as_f64();
            assert!(
                (got - want_g[i]).abs() <= tol * gscale,
                "d/dx{i} at {row:?}: {got} vs {}",
                want_g[i]
            );
        }
    }
}

const ROWS: [[f64; 2]; 4] = [[0.5, -1.0], [1.5, 2.0], [-0.75, 0.25], [0.0, 3.0]];

/// `sum_i x_i^3`, with `x` and a derived binding each used twice.
#[energy]
fn cubic(x: Batch<2>) -> Energies {
    let s = x.square();
    let t = s * x;
    (t * 0.5).sum::<_, Axis<1>>() + t.sum::<_, Axis<1>>() * 0.5
}

#[test]
fn reused_bindings_keep_every_gradient_contribution() {
    let model = Cubic::<f64>::new(&Cpu::default()).unwrap();
    let want = |p: &[f64; 2]| {
        (
            p[0].powi(3) + p[1].powi(3),
            [3.0 * p[0] * p[0], 3.0 * p[1] * p[1]],
        )
    };
    check::<2, f64, _>(&model, &ROWS, want, 1e-12);
    let model = Cubic::<f32>::new(&Cpu::default()).unwrap();
    check::<2, f32, _>(&model, &ROWS, want, 1e-5);
}

/// The same binding on both sides of an operator: `x * x`, `d * d`, `h * h`.
#[energy]
fn self_products(x: Batch<2>, h: f32) -> Energies {
    let d = x - 1.0;
    (x * x + d * (d)).sum::<_, Axis<1>>() * (h * h)
}

#[test]
fn a_binding_can_meet_itself_in_an_operator() {
    let h = 1.5f32;
    let model = SelfProducts::<f64>::new(&Cpu::default(), h).unwrap();
    let hh = (h as f64) * (h as f64);
    let want = |p: &[f64; 2]| {
        let e = p.iter().map(|v| v * v + (v - 1.0) * (v - 1.0)).sum::<f64>();
        let g = p.map(|v| hh * (2.0 * v + 2.0 * (v - 1.0)));
        (hh * e, g)
    };
    check::<2, f64, _>(&model, &ROWS, want, 1e-12);
}

/// A binding bound again under another name (`let y = x;`, `z = y;`) and met in one operator.
#[energy]
fn aliases(x: Batch<2>) -> Energies {
    let y = x;
    let mut z = x.exp();
    z = y;
    (x * y + z).sum::<_, Axis<1>>()
}

#[test]
fn aliases_are_distinct_operands() {
    let model = Aliases::<f64>::new(&Cpu::default()).unwrap();
    let want = |p: &[f64; 2]| {
        (
            p[0] * p[0] + p[1] * p[1] + p[0] + p[1],
            [2.0 * p[0] + 1.0, 2.0 * p[1] + 1.0],
        )
    };
    check::<2, f64, _>(&model, &ROWS, want, 1e-12);
}

/// Traced tensors collected in a `mut` vector and drained into a sum.
#[energy]
fn collected(x: Batch<2>) -> Energies {
    let mut terms = Vec::new();
    for k in 0..3 {
        terms.push(x.square().sum::<_, Axis<1>>() * E::of(k as f64 + 1.0f64));
    }
    assert_eq!(terms.len(), 3);
    let first = terms.remove(0);
    terms.drain(..).fold(first, |total, term| total + term)
}

#[test]
fn collections_of_traced_tensors_carry_their_operations() {
    let model = Collected::<f64>::new(&Cpu::default()).unwrap();
    // E = (1 + 2 + 3) |x|^2
    let want = |p: &[f64; 2]| {
        (
            6.0 * (p[0] * p[0] + p[1] * p[1]),
            [12.0 * p[0], 12.0 * p[1]],
        )
    };
    check::<2, f64, _>(&model, &ROWS, want, 1e-12);
}

/// A binding used before a branch and again in only one of its arms.
#[energy]
fn branchy(x: Batch<2>, sign: f64) -> Energies {
    let d = x * 2.0;
    let e = d.exp().sum::<_, Axis<1>>();
    if sign > 0.0 {
        e + d.sum::<_, Axis<1>>() * sign
    } else {
        e
    }
}

#[test]
fn branches_keep_the_operations_recorded_before_them() {
    for sign in [1.5, -1.0] {
        let model = Branchy::<f64>::new(&Cpu::default(), sign).unwrap();
        let want = |p: &[f64; 2]| {
            let e: f64 = p.iter().map(|v| (2.0 * v).exp()).sum();
            let lin = if sign > 0.0 { sign } else { 0.0 };
            (
                e + lin * 2.0 * (p[0] + p[1]),
                [
                    2.0 * (2.0 * p[0]).exp() + 2.0 * lin,
                    2.0 * (2.0 * p[1]).exp() + 2.0 * lin,
                ],
            )
        };
        check::<2, f64, _>(&model, &ROWS, want, 1e-12);
    }
}

/// Loops, a `mut` accumulator, closures over iterators and a `match`.
#[energy]
fn looped(x: Batch<2>, w: [f64; 2]) -> Energies {
    let n = x.shape().0;
    let wb = w.broadcast_like::<_, Axis<0>>(&(n, Const::<2>));
    let mut acc = (x * wb).sum::<_, Axis<1>>();
    for k in 1..4 {
        acc = acc + (x * E::of(k as f64)).sum::<_, Axis<1>>();
    }
    let squares = (0..2)
        .map(|_| x.square().sum::<_, Axis<1>>())
        .fold(acc * 0.0, |total, term| total + term);
    let extra = match n {
        0 => squares * 0.0,
        rows => squares * E::of(rows as f64 / n as f64),
    };
    acc + extra
}

#[test]
fn loops_closures_and_match_arms_accumulate_gradients() {
    let w = [0.5, -2.0];
    let model = Looped::<f64>::new(&Cpu::default(), w).unwrap();
    // E = sum_i (w_i + 6) x_i + 2 |x|^2
    let want = |p: &[f64; 2]| {
        (
            (w[0] + 6.0) * p[0] + (w[1] + 6.0) * p[1] + 2.0 * (p[0] * p[0] + p[1] * p[1]),
            [w[0] + 6.0 + 4.0 * p[0], w[1] + 6.0 + 4.0 * p[1]],
        )
    };
    check::<2, f64, _>(&model, &ROWS, want, 1e-12);
    let model = Looped::<f32>::new(&Cpu::default(), w).unwrap();
    check::<2, f32, _>(&model, &ROWS, want, 1e-5);
}

/// Shadowing, `if let`, `while`, an early `return`, helper items, a macro and struct patterns.
#[energy(name = Assorted)]
fn assorted_forms(mut x: Batch<2>, scale: f64) -> Energies {
    fn halve(v: f64) -> f64 {
        v / 2.0
    }
    debug_assert!(x.shape().0 > 0, "the batch has {} rows", x.shape().0);
    x = x * scale;
    let x = x + x; // 2 s x
    struct Pair<A> {
        a: A,
        b: A,
    }
    let b = x.square();
    let Pair { a, b } = Pair { a: x, b };
    let mut steps = 0;
    while steps < 2 {
        steps += 1;
    }
    if let Some(k) = Some(E::of(halve(steps as f64))) {
        // k = 1: E = sum_i (2 s x_i + (2 s x_i)^2)
        return (a * k + b).sum::<_, Axis<1>>();
    }
    x.sum::<_, Axis<1>>()
}

#[test]
fn shadowing_early_return_and_struct_patterns() {
    let s = 0.75;
    let model = Assorted::<f64>::new(&Cpu::default(), s).unwrap();
    let want = |p: &[f64; 2]| {
        let y = p.map(|v| 2.0 * s * v);
        (
            y[0] + y[1] + y[0] * y[0] + y[1] * y[1],
            [2.0 * s * (1.0 + 2.0 * y[0]), 2.0 * s * (1.0 + 2.0 * y[1])],
        )
    };
    check::<2, f64, _>(&model, &ROWS, want, 1e-12);
}

/// `.clone()` on bindings, where plain Rust would write it: tensors (the batch, a derived binding, a
/// broadcast parameter, a `mut` binding), alone or in an operator with the original, and non-tensor
/// values, which keep their own `Clone` (`v.clone()` of a `&E` is an `E`).
#[energy]
fn with_clones(x: Batch<2>, a: [f64; 2], s: f64) -> Energies {
    let y = x.clone();
    let q = (x.clone() * y).sum::<_, Axis<1>>();
    let c = (x.clone() * x.clone()).sum::<_, Axis<1>>();
    let ab = a.broadcast_like::<_, Axis<0>>(&(x.shape().0, Const::<2>));
    let lin = (x * ab.clone()).sum::<_, Axis<1>>();
    let mut z = x.clone();
    z = z.clone() * 0.5 + x.clone().square();
    let scales: Vec<E> = [s, s].iter().map(|v| v.clone()).collect();
    q + c * scales[0].clone() + lin.clone() * s.clone() + z.sum::<_, Axis<1>>()
}

/// `with_clones` without any `.clone()`.
#[energy]
fn without_clones(x: Batch<2>, a: [f64; 2], s: f64) -> Energies {
    let y = x;
    let q = (x * y).sum::<_, Axis<1>>();
    let c = (x * x).sum::<_, Axis<1>>();
    let ab = a.broadcast_like::<_, Axis<0>>(&(x.shape().0, Const::<2>));
    let lin = (x * ab).sum::<_, Axis<1>>();
    let mut z = x;
    z = z * 0.5 + x.square();
    let scales: Vec<E> = [s, s].iter().map(|v| *v).collect();
    q + c * scales[0] + lin * s + z.sum::<_, Axis<1>>()
}

#[test]
fn cloning_a_binding_is_a_plain_use() {
    let (a, s) = ([0.5, -2.0], 0.75);
    // E = (2 + s) |x|^2 + s a.x + (x_0 + x_1) / 2
    let want = |p: &[f64; 2]| {
        let e = (2.0 + s) * (p[0] * p[0] + p[1] * p[1])
            + s * (a[0] * p[0] + a[1] * p[1])
            + 0.5 * (p[0] + p[1]);
        let g = [0, 1].map(|i| 2.0 * (2.0 + s) * p[i] + s * a[i] + 0.5);
        (e, g)
    };
    let dev = Cpu::default();
    let cloned = WithClones::<f64>::new(&dev, a, s).unwrap();
    let plain = WithoutClones::<f64>::new(&dev, a, s).unwrap();
    check::<2, f64, _>(&cloned, &ROWS, want, 1e-12);
    check::<2, f64, _>(&plain, &ROWS, want, 1e-12);
    let x = batch::<2, f64>(&ROWS);
    let (e1, g1) = cloned.energy_and_gradient(&x);
    let (e2, g2) = plain.energy_and_gradient(&x);
    assert_eq!(e1.as_vec(), e2.as_vec());
    assert_eq!(g1.as_vec(), g2.as_vec());
    let cloned = WithClones::<f32>::new(&dev, a, s).unwrap();
    check::<2, f32, _>(&cloned, &ROWS, want, 1e-5);
}

const K: usize = 3;

/// A weighted quadratic `sum_i a_ij x_i x_j / 2` with a matrix parameter and a named dimension.
#[energy]
pub fn quadratic(x: Batch<K>, a: [[f64; K]; K]) -> Energies {
    (x.matmul(a) * x).sum::<_, Axis<1>>() * 0.5
}

#[test]
fn matrix_parameters_and_named_dimensions() {
    let a = [[2.0, 0.5, 0.0], [0.5, 1.0, -0.25], [0.0, -0.25, 3.0]];
    let model = Quadratic::<f64>::new(&Cpu::default(), a).unwrap();
    let rows = [[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [-1.5, 0.25, 2.0]];
    let want = |p: &[f64; 3]| {
        let ap: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| a[i][j] * p[j]).sum())
            .collect();
        let e = 0.5 * (0..3).map(|i| p[i] * ap[i]).sum::<f64>();
        (e, [ap[0], ap[1], ap[2]])
    };
    check::<3, f64, _>(&model, &rows, want, 1e-12);
    let model = Quadratic::<f32>::new(&Cpu::default(), a).unwrap();
    check::<3, f32, _>(&model, &rows, want, 1e-5);
}

#[test]
fn constructors_name_the_non_finite_parameter() {
    let dev = Cpu::default();
    let mut a = [[1.0; K]; K];
    a[2][1] = f64::NAN;
    match Quadratic::<f32>::new(&dev, a) {
        Err(Error::InvalidParameter { name, value, .. }) => {
            assert_eq!(name, "a[2][1]");
            assert_eq!(value, "NaN");
        }
        other => panic!("expected an invalid parameter, got {other:?}"),
    }
    let err = Looped::<f64>::new(&dev, [0.0, f64::NEG_INFINITY]).unwrap_err();
    assert_eq!(err.to_string(), "invalid `w[1]` = -inf: must be finite");
    let err = Branchy::<f64>::new(&dev, f64::INFINITY).unwrap_err();
    assert_eq!(err.to_string(), "invalid `sign` = inf: must be finite");
}

/// The generated model works with any device, and its parameters live on that device.
fn energies_on<Dev: Device<f32>>(dev: &Dev) -> Vec<f32> {
    let model =
        Quadratic::<f32, Dev>::new(dev, [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
            .unwrap();
    let x: Batch<3, f32, Dev> = dev.tensor_from_vec(vec![1.0, 1.0, 1.0], (1, Const::<3>));
    model.energy(x).as_vec()
}

#[test]
fn models_are_generic_over_the_device() {
    assert_eq!(energies_on(&Cpu::default()), vec![3.0]);
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn models_run_on_cuda() {
    assert_eq!(energies_on(&Cuda::default()), vec![3.0]);
}
