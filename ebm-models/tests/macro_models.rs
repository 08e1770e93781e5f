//! The built-in landscapes written again with `#[energy]`, checked against the built-ins' closed forms
//! (energies and gradients, in `f32` and `f64`), and a small neural energy checked against a
//! hand-written forward pass and central finite differences.

use ebm_core::autodiff_energy_and_gradient;
use ebm_core::ops::columns;
use ebm_core::prelude::*;
use ebm_models::GaussianMixture;
use proptest::prelude::*;

/// The guide's four-mode landscape, `E(x) = -logsumexp_k(-w_k |x - c_k|^2 / 2)`.
#[energy]
fn four_modes(x: Batch<2>, centers: [[f64; 2]; 4], weights: [f64; 4]) -> Energies {
    let n = x.shape().0;
    let wells = (n, Const::<4>, Const::<2>);
    let d = x.broadcast_like::<_, Axis<1>>(&wells) - centers.broadcast_like::<_, Axis<0>>(&wells);
    let w = weights.broadcast_like::<_, Axis<0>>(&(n, Const::<4>));
    let logits = d.square().sum::<_, Axis<2>>() * w * -0.5;
    -logits.logsumexp::<_, Axis<1>>()
}

const CENTERS: [[f64; 2]; 4] = [[-1.5, -1.5], [1.5, 1.5], [-1.5, 1.5], [1.5, -1.5]];
const WEIGHTS: [f64; 4] = [1.0, 1.0, 0.8, 0.8];

/// `E(x) = h * sum_i (x_i^2 - b^2)^2`.
#[energy]
fn double_well(x: Batch<3>, h: f64, b: f64) -> Energies {
    (x.square() - b * b).square().sum::<_, Axis<1>>() * h
}

/// `E(x) = sum_i (a - x_i)^2 + b (x_{i+1} - x_i^2)^2`, with the head and tail columns each used twice.
#[energy]
fn rosenbrock(x: Batch<4>, a: f64, b: f64) -> Energies {
    let head = columns(x, 0..3);
    let tail = columns(x, 1..4);
    let valley = (tail - head.square()).square() * b;
    let slope = (-head + a).square();
    (slope + valley).sum::<_, Axis<1>>()
}

fn batch<const D: usize, E: Real>(rows: &[[f64; D]]) -> Batch<D, E> {
    let flat: Vec<E> = rows.iter().flatten().map(|&v| E::of(v)).collect();
    Cpu::default().tensor_from_vec(flat, (rows.len(), Const::<D>))
}

/// The macro model's energies and autodiff gradients against the built-in's energies and
/// closed-form gradients. Energies agree to `tol` relative to `max(|E|, 1)`; each point's gradient
/// to `tol` relative to the largest of its components (or 1).
fn agree<const D: usize, E, A, B>(made: &A, builtin: &B, rows: &[[f64; D]], tol: f64)
where
    E: Real,
    Cpu: Device<E>,
    A: Energy<D, E, Cpu>,
    B: Energy<D, E, Cpu>,
{
    let x = batch::<D, E>(rows);
    let (e_made, g_made) = autodiff_energy_and_gradient(made, &x);
    let (e_cf, g_cf) = builtin.energy_and_gradient(&x);
    let plain = made.energy(x.clone()).as_vec();
    let (e_made, g_made, e_cf, g_cf) = (
        e_made.as_vec(),
        g_made.as_vec(),
        e_cf.as_vec(),
        g_cf.as_vec(),
    );
    for (r, row) in rows.iter().enumerate() {
        let (a, b) = (e_made[r].as_f64(), e_cf[r].as_f64());
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{}: energy at {row:?}: #[energy] {a} vs built-in {b}",
            E::NAME
        );
        assert_eq!(plain[r], e_made[r], "taped and untaped energies differ");
        let g = &g_cf[r * D..(r + 1) * D];
        let scale = g.iter().fold(1.0f64, |m, v| m.max(v.as_f64().abs()));
        for i in 0..D {
            let (a, b) = (g_made[r * D + i].as_f64(), g[i].as_f64());
            assert!(
                (a - b).abs() <= tol * scale,
                "{}: d/dx{i} at {row:?}: #[energy] {a} vs closed form {b}",
                E::NAME
            );
        }
    }
}

fn points<const D: usize>(bound: f64) -> impl Strategy<Value = Vec<[f64; D]>> {
    prop::collection::vec(prop::array::uniform::<_, D>(-bound..bound), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn four_modes_matches_the_builtin_mixture(rows in points::<2>(4.0)) {
        let dev = Cpu::default();
        let made = FourModes::<f64>::new(&dev, CENTERS, WEIGHTS).unwrap();
        agree(&made, &GaussianMixture::<2, f64>::four_modes(&dev), &rows, 1e-12);
        let made = FourModes::<f32>::new(&dev, CENTERS, WEIGHTS).unwrap();
        agree(&made, &GaussianMixture::<2, f32>::four_modes(&dev), &rows, 1e-5);
    }

    #[test]
    fn double_well_matches_the_builtin(rows in points::<3>(2.0)) {
        let dev = Cpu::default();
        let made = DoubleWell::<f64>::new(&dev, 2.0, 1.0).unwrap();
        agree(&made, &ebm_models::DoubleWell::<f64>::default(), &rows, 1e-12);
        let made = DoubleWell::<f32>::new(&dev, 2.0, 1.0).unwrap();
        agree(&made, &ebm_models::DoubleWell::<f32>::default(), &rows, 1e-5);
    }

    #[test]
    fn rosenbrock_matches_the_builtin(rows in points::<4>(2.0)) {
        let dev = Cpu::default();
        let made = Rosenbrock::<f64>::new(&dev, 1.0, 100.0).unwrap();
        agree(&made, &ebm_models::Rosenbrock::<f64>::default(), &rows, 1e-12);
        let made = Rosenbrock::<f32>::new(&dev, 1.0, 100.0).unwrap();
        agree(&made, &ebm_models::Rosenbrock::<f32>::default(), &rows, 1e-5);
    }
}

// The built-ins' defaults are the parameters used above; check them through their accessors so that
// a change there cannot make the comparison above vacuous.
#[test]
fn builtin_defaults_are_the_guides_parameters() {
    let dw = ebm_models::DoubleWell::<f64>::default();
    assert_eq!((dw.h(), dw.b()), (2.0, 1.0));
    let rb = ebm_models::Rosenbrock::<f64>::default();
    assert_eq!((rb.a(), rb.b()), (1.0, 100.0));
    let gm = GaussianMixture::<2, f64>::four_modes(&Cpu::default());
    assert_eq!(gm.centers(), &CENTERS);
    assert_eq!(gm.weights(), &WEIGHTS);
}

/// A 2 -> 16 -> 16 -> 1 tanh network as an energy.
#[energy]
#[allow(clippy::too_many_arguments)]
fn mlp(
    x: Batch<2>,
    w1: [[f64; 16]; 2],
    b1: [f64; 16],
    w2: [[f64; 16]; 16],
    b2: [f64; 16],
    w3: [[f64; 1]; 16],
    b3: f64,
) -> Energies {
    let n = x.shape().0;
    let hidden = (n, Const::<16>);
    let h1 = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&hidden)).tanh();
    let h2 = (h1.matmul(w2) + b2.broadcast_like::<_, Axis<0>>(&hidden)).tanh();
    h2.matmul(w3).sum::<_, Axis<1>>() + b3
}

/// The network's weights, in the layout of `mlp`'s parameters (`w[i][j]`: input `i` to unit `j`).
#[derive(Debug, Clone)]
struct Weights {
    w1: [[f64; 16]; 2],
    b1: [f64; 16],
    w2: [[f64; 16]; 16],
    b2: [f64; 16],
    w3: [[f64; 1]; 16],
    b3: f64,
}

impl Weights {
    fn from_values(v: &[f64]) -> Self {
        let mut it = v.iter().copied();
        let mut next = || it.next().expect("enough weights");
        let w1 = [(); 2].map(|_| [(); 16].map(|_| next()));
        let b1 = [(); 16].map(|_| next());
        let w2 = [(); 16].map(|_| [(); 16].map(|_| next()));
        let b2 = [(); 16].map(|_| next());
        let w3 = [(); 16].map(|_| [next()]);
        let b3 = next();
        Weights {
            w1,
            b1,
            w2,
            b2,
            w3,
            b3,
        }
    }

    const COUNT: usize = 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1;

    /// The forward pass written out with loops.
    fn energy(&self, p: [f64; 2]) -> f64 {
        let h1: Vec<f64> = (0..16)
            .map(|j| (self.b1[j] + p[0] * self.w1[0][j] + p[1] * self.w1[1][j]).tanh())
            .collect();
        let h2: Vec<f64> = (0..16)
            .map(|j| {
                let z: f64 = (0..16).map(|i| h1[i] * self.w2[i][j]).sum();
                (z + self.b2[j]).tanh()
            })
            .collect();
        (0..16).map(|i| h2[i] * self.w3[i][0]).sum::<f64>() + self.b3
    }

    fn model<E: Real>(&self) -> Mlp<E>
    where
        Cpu: Device<E>,
    {
        let w = self.clone();
        Mlp::new(&Cpu::default(), w.w1, w.b1, w.w2, w.b2, w.w3, w.b3).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mlp_energy_is_the_forward_pass_and_its_gradient_the_finite_differences(
        values in prop::collection::vec(-1.0f64..1.0, Weights::COUNT),
        rows in points::<2>(3.0),
    ) {
        let w = Weights::from_values(&values);
        let x = batch::<2, f64>(&rows);
        let (e, g) = w.model::<f64>().energy_and_gradient(&x);
        let (e, g) = (e.as_vec(), g.as_vec());
        let e32 = w.model::<f32>().energy(batch::<2, f32>(&rows)).as_vec();
        for (r, p) in rows.iter().enumerate() {
            let want = w.energy(*p);
            prop_assert!((e[r] - want).abs() <= 1e-12 * want.abs().max(1.0), "f64 energy {} vs {want}", e[r]);
            prop_assert!(
                (e32[r] as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                "f32 energy {} vs {want}",
                e32[r]
            );
            for i in 0..2 {
                let step = 1e-5;
                let (mut plus, mut minus) = (*p, *p);
                plus[i] += step;
                minus[i] -= step;
                let fd = (w.energy(plus) - w.energy(minus)) / (2.0 * step);
                prop_assert!(
                    (g[r * 2 + i] - fd).abs() <= 1e-7 * fd.abs().max(1.0),
                    "d/dx{i} at {p:?}: autodiff {} vs finite difference {fd}",
                    g[r * 2 + i]
                );
            }
        }
    }
}
