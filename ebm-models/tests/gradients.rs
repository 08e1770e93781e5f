//! Closed-form gradients against central finite differences and against dfdx autodiff.

use ebm_core::autodiff_energy_and_gradient;
use ebm_core::prelude::*;
use ebm_models::*;
use proptest::prelude::*;

fn batch<const D: usize, E: Real>(dev: &Cpu, rows: &[[E; D]]) -> Batch<D, E> {
    let flat: Vec<E> = rows.iter().flatten().copied().collect();
    dev.tensor_from_vec(flat, (rows.len(), Const::<D>))
}

/// Closed-form gradient at `p` against central differences of the tensor energy, and closed-form energy
/// against the tensor energy.
fn check_finite_differences<const D: usize, M: Energy<D, f64, Cpu>>(model: &M, p: [f64; D]) {
    let dev = Cpu::default();
    let mut rows = vec![p];
    let steps: Vec<f64> = p.iter().map(|v| 1e-5 * v.abs().max(1.0)).collect();
    for i in 0..D {
        let mut plus = p;
        plus[i] += steps[i];
        let mut minus = p;
        minus[i] -= steps[i];
        rows.push(plus);
        rows.push(minus);
    }
    let energies = model.energy(batch(&dev, &rows)).as_vec();
    let (e, g) = model.energy_and_gradient(&batch(&dev, &[p]));
    let (e, g) = (e.as_vec()[0], g.as_vec());
    assert!(
        (e - energies[0]).abs() <= 1e-12 * (1.0 + e.abs()),
        "closed-form energy {e} vs tensor energy {} at {p:?}",
        energies[0]
    );
    for i in 0..D {
        let fd = (energies[1 + 2 * i] - energies[2 + 2 * i]) / (2.0 * steps[i]);
        assert!(
            (fd - g[i]).abs() <= 1e-5 * (1.0 + g[i].abs()),
            "d/dx{i}: closed form {} vs finite difference {fd} at {p:?}",
            g[i]
        );
    }
}

/// Closed form against dfdx autodiff of the same energy, in f64 and f32.
fn check_autodiff<const D: usize, M64, M32>(m64: &M64, m32: &M32, rows: &[[f64; D]])
where
    M64: Energy<D, f64, Cpu>,
    M32: Energy<D, f32, Cpu>,
{
    let dev = Cpu::default();
    let x64 = batch(&dev, rows);
    let (e_ad, g_ad) = autodiff_energy_and_gradient(m64, &x64);
    let (e_cf, g_cf) = m64.energy_and_gradient(&x64);
    let g_only = m64.gradient(&x64).as_vec();
    for (a, b) in e_ad.as_vec().iter().zip(e_cf.as_vec()) {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
            "f64 energy {a} vs {b}"
        );
    }
    for ((a, b), c) in g_ad.as_vec().iter().zip(g_cf.as_vec()).zip(g_only) {
        assert!(
            (a - b).abs() <= 1e-10 * (1.0 + a.abs()),
            "f64 grad {a} vs {b}"
        );
        assert_eq!(b, c, "gradient() disagrees with energy_and_gradient()");
    }
    check_host_path(m64, &x64, 1e-12);
    let rows32: Vec<[f32; D]> = rows.iter().map(|r| r.map(|v| v as f32)).collect();
    let x32 = batch(&dev, &rows32);
    let (e_ad, g_ad) = autodiff_energy_and_gradient(m32, &x32);
    let (e_cf, g_cf) = m32.energy_and_gradient(&x32);
    for (a, b) in e_ad.as_vec().iter().zip(e_cf.as_vec()) {
        assert!(
            (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
            "f32 energy {a} vs {b}"
        );
    }
    for (a, b) in g_ad.as_vec().iter().zip(g_cf.as_vec()) {
        assert!(
            (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
            "f32 grad {a} vs {b}"
        );
    }
    check_host_path(m32, &x32, 1e-5);
}

/// The host fast path agrees with the tensor closed form.
fn check_host_path<const D: usize, E: Real, M: Energy<D, E, Cpu>>(
    model: &M,
    x: &Batch<D, E>,
    tol: f64,
) where
    Cpu: Device<E>,
{
    let n = x.shape().0;
    let (mut e, mut g) = (vec![E::zero(); n], vec![E::zero(); n * D]);
    assert!(
        model.host_energy_and_gradient(&x.as_vec(), &mut e, &mut g),
        "built-ins have a host path"
    );
    let (et, gt) = model.energy_and_gradient(x);
    for (a, b) in e.iter().zip(et.as_vec()).chain(g.iter().zip(gt.as_vec())) {
        let (a, b) = (a.as_f64(), b.as_f64());
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "host {a} vs tensor {b}"
        );
    }
}

#[test]
fn large_gaussians_take_the_matrix_product_host_path() {
    // Above 16 dimensions the host path uses one matrix product per batch.
    const D: usize = 24;
    let dev = Cpu::default();
    let mean: Vec<f64> = (0..D).map(|i| (i as f64).sin()).collect();
    let mut cov = vec![0.0; D * D];
    for i in 0..D {
        for j in 0..D {
            cov[i * D + j] =
                0.5f64.powi((i as i32 - j as i32).abs()) + if i == j { 0.5 } else { 0.0 };
        }
    }
    let model = GaussianModel::<D, f64>::from_slices(&dev, &mean, &cov).unwrap();
    let x: Batch<D, f64> = Cpu::seed_from_u64(3).sample_normal_like(&(300, Const::<D>));
    check_host_path(&model, &x, 1e-12);
    let (e_ad, g_ad) = autodiff_energy_and_gradient(&model, &x);
    let n = 300;
    let (mut e, mut g) = (vec![0.0; n], vec![0.0; n * D]);
    assert!(model.host_energy_and_gradient(&x.as_vec(), &mut e, &mut g));
    for (a, b) in e
        .iter()
        .zip(e_ad.as_vec())
        .chain(g.iter().zip(g_ad.as_vec()))
    {
        assert!(
            (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
            "host {a} vs autodiff {b}"
        );
    }
}

fn point<const D: usize>(lo: f64, hi: f64) -> impl Strategy<Value = [f64; D]> {
    proptest::array::uniform::<_, D>(lo..hi)
}

fn spd3() -> impl Strategy<Value = ([f64; 3], [[f64; 3]; 3])> {
    (
        point::<3>(-2.0, 2.0),
        proptest::array::uniform::<_, 9>(-1.0f64..1.0),
    )
        .prop_map(|(m, a)| {
            let mut cov = [[0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    cov[i][j] = (0..3).map(|k| a[i * 3 + k] * a[j * 3 + k]).sum::<f64>();
                }
                cov[i][i] += 0.3;
            }
            (m, cov)
        })
}

fn to_f32<const D: usize>(a: [[f64; D]; D]) -> [[f32; D]; D] {
    a.map(|r| r.map(|v| v as f32))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn gaussian_gradient((m, cov) in spd3(), p in point::<3>(-5.0, 5.0)) {
        let dev = Cpu::default();
        let model = GaussianModel::<3, f64>::new(&dev, m, cov).unwrap();
        check_finite_differences(&model, p);
        let m32 = GaussianModel::<3, f32>::new(&dev, m.map(|v| v as f32), to_f32(cov)).unwrap();
        check_autodiff(&model, &m32, &[p, m]);
    }

    #[test]
    fn harmonic_gradient(k in 0.1f64..5.0, p in point::<3>(-5.0, 5.0)) {
        let model = Harmonic::new(k).unwrap();
        check_finite_differences::<3, _>(&model, p);
        check_autodiff::<3, _, _>(&model, &Harmonic::new(k as f32).unwrap(), &[p]);
    }

    #[test]
    fn double_well_gradient(h in 0.1f64..4.0, b in 0.0f64..2.0, p in point::<3>(-2.0, 2.0)) {
        let model = DoubleWell::new(h, b).unwrap();
        check_finite_differences::<3, _>(&model, p);
        check_autodiff::<3, _, _>(&model, &DoubleWell::new(h as f32, b as f32).unwrap(), &[p]);
    }

    #[test]
    fn rosenbrock_gradient(p in point::<4>(-2.0, 2.0)) {
        check_finite_differences::<4, _>(&Rosenbrock::default(), p);
        check_finite_differences::<2, _>(&Rosenbrock::new(0.5, 3.0).unwrap(), [p[0], p[1]]);
        check_autodiff::<4, _, _>(&Rosenbrock::default(), &Rosenbrock::default(), &[p]);
    }

    #[test]
    fn rastrigin_gradient(p in point::<3>(-3.0, 3.0)) {
        check_finite_differences::<3, _>(&Rastrigin::default(), p);
        check_autodiff::<3, _, _>(&Rastrigin::default(), &Rastrigin::default(), &[p]);
    }

    #[test]
    fn ackley_gradient(p in point::<3>(-3.0, 3.0)) {
        // The first term is not differentiable at the origin; keep away from it.
        prop_assume!(p.iter().map(|v| v * v).sum::<f64>() > 1e-4);
        check_finite_differences::<3, _>(&Ackley::default(), p);
        check_autodiff::<3, _, _>(&Ackley::default(), &Ackley::default(), &[p]);
    }

    #[test]
    fn himmelblau_gradient(p in point::<2>(-5.0, 5.0)) {
        check_finite_differences(&Himmelblau, p);
        check_autodiff(&Himmelblau, &Himmelblau, &[p]);
    }

    #[test]
    fn four_mode_gradient(p in point::<2>(-4.0, 4.0)) {
        let dev = Cpu::default();
        let model = GaussianMixture::<2, f64>::four_modes(&dev);
        check_finite_differences(&model, p);
        check_autodiff(&model, &GaussianMixture::<2, f32>::four_modes(&dev), &[p]);
    }

    #[test]
    fn mixture_gradient(
        centers in proptest::collection::vec(point::<3>(-3.0, 3.0), 1..5),
        w in proptest::collection::vec(0.2f64..3.0, 5),
        p in point::<3>(-6.0, 6.0),
    ) {
        let dev = Cpu::default();
        let k = centers.len();
        let model = GaussianMixture::<3, f64>::new(&dev, centers.clone(), w[..k].to_vec()).unwrap();
        check_finite_differences(&model, p);
        let c32 = centers.iter().map(|c| c.map(|v| v as f32)).collect();
        let w32 = w[..k].iter().map(|&v| v as f32).collect();
        check_autodiff(&model, &GaussianMixture::<3, f32>::new(&dev, c32, w32).unwrap(), &[p]);
    }
}

#[test]
fn ackley_gradient_at_origin_is_zero_and_finite() {
    let dev = Cpu::default();
    let x: Batch<3, f64> = dev.zeros_like(&(1, Const::<3>));
    let g = Ackley::default().gradient(&x).as_vec();
    assert_eq!(g, vec![0.0; 3]);
}

#[test]
fn known_minima_have_zero_energy_and_gradient() {
    let dev = Cpu::default();
    let himmelblau: Batch<2, f64> = batch(
        &dev,
        &[
            [3.0, 2.0],
            [-2.805118, 3.131312],
            [-3.779310, -3.283186],
            [3.584428, -1.848126],
        ],
    );
    let (e, g) = Himmelblau.energy_and_gradient(&himmelblau);
    assert!(
        e.as_vec().iter().all(|v| v.abs() < 1e-9),
        "{:?}",
        e.as_vec()
    );
    assert!(
        g.as_vec().iter().all(|v| v.abs() < 1e-4),
        "{:?}",
        g.as_vec()
    );
    let wells: Batch<2, f64> = batch(&dev, &[[1.0, -1.0]]);
    assert_eq!(DoubleWell::default().energy(wells).as_vec(), vec![0.0]);
}

fn random_mlp<E: Real>(weights: &[f64], sizes: &[usize], c: f64) -> Mlp<2, E>
where
    Cpu: Device<E>,
{
    let mut it = weights.iter().copied().cycle();
    let mut ins = 2;
    let mut hidden = Vec::new();
    for &outs in sizes {
        hidden.push(Layer {
            weights: (&mut it).take(outs * ins).collect(),
            bias: (&mut it).take(outs).collect(),
        });
        ins = outs;
    }
    let output = (&mut it).take(ins).collect();
    Mlp::new(&Cpu::default(), hidden, output, 0.3, c).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mlp_host_path_matches_autodiff_and_finite_differences(
        weights in proptest::collection::vec(-1.5f64..1.5, 60),
        deep in any::<bool>(),
        c in 0.0f64..0.5,
        p in point::<2>(-3.0, 3.0),
        q in point::<2>(-3.0, 3.0),
    ) {
        let sizes: &[usize] = if deep { &[5, 4, 3] } else { &[7] };
        let m64 = random_mlp::<f64>(&weights, sizes, c);
        check_finite_differences(&m64, p);
        check_autodiff(&m64, &random_mlp::<f32>(&weights, sizes, c), &[p, q]);
        // The host path against central differences directly.
        let (mut e, mut g) = ([0.0; 1], [0.0; 2]);
        assert!(m64.host_energy_and_gradient(&p, &mut e, &mut g));
        for i in 0..2 {
            let h = 1e-5;
            let (mut a, mut b) = (p, p);
            a[i] += h;
            b[i] -= h;
            let (mut ea, mut eb, mut gs) = ([0.0; 1], [0.0; 1], [0.0; 2]);
            m64.host_energy_and_gradient(&a, &mut ea, &mut gs);
            m64.host_energy_and_gradient(&b, &mut eb, &mut gs);
            let fd = (ea[0] - eb[0]) / (2.0 * h);
            prop_assert!((fd - g[i]).abs() <= 1e-6 * (1.0 + g[i].abs()), "{fd} vs {}", g[i]);
        }
    }
}

#[test]
fn mlp_rejects_malformed_layers() {
    let dev = Cpu::default();
    let layer = |w: usize, b: usize| Layer {
        weights: vec![0.1; w],
        bias: vec![0.0; b],
    };
    let err = Mlp::<2, f64>::new(&dev, vec![], vec![], 0.0, 0.0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { ref name, .. } if name == "hidden"),
        "{err:?}"
    );
    let err = Mlp::<2, f64>::new(&dev, vec![layer(5, 3)], vec![0.1; 3], 0.0, 0.0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ),
        "{err:?}"
    );
    let err = Mlp::<2, f64>::new(&dev, vec![layer(6, 3)], vec![0.1; 2], 0.0, 0.0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 3,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let mut bad = layer(6, 3);
    bad.weights[4] = f64::NAN;
    let err = Mlp::<2, f64>::new(&dev, vec![bad], vec![0.1; 3], 0.0, 0.0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { ref name, .. } if name == "hidden[0].weights[4]"),
        "{err:?}"
    );
    let err = Mlp::<2, f64>::new(&dev, vec![layer(6, 3)], vec![0.1; 3], 0.0, -1.0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { ref name, .. } if name == "quadratic"),
        "{err:?}"
    );
}

#[test]
fn mixtures_with_many_wells_take_the_recomputing_path() {
    // More wells than are kept on the stack (8).
    let dev = Cpu::default();
    let centers: Vec<[f64; 2]> = (0..11)
        .map(|k| [(k as f64 * 0.7).sin() * 2.0, (k as f64 * 1.3).cos() * 2.0])
        .collect();
    let weights: Vec<f64> = (0..11).map(|k| 0.5 + 0.1 * k as f64).collect();
    let model = GaussianMixture::<2, f64>::new(&dev, centers.clone(), weights.clone()).unwrap();
    let c32 = centers.iter().map(|c| c.map(|v| v as f32)).collect();
    let w32 = weights.iter().map(|&v| v as f32).collect();
    let m32 = GaussianMixture::<2, f32>::new(&dev, c32, w32).unwrap();
    for p in [[0.3, -0.2], [2.5, 1.0], [-1.7, -2.2]] {
        check_finite_differences(&model, p);
        check_autodiff(&model, &m32, &[p]);
    }
}

#[test]
fn wide_input_mlps_take_the_matrix_product_path() {
    // More than 8 inputs: the first layer goes through gemm instead of the narrow loops.
    const D: usize = 11;
    let dev = Cpu::default();
    let w = |k: usize| ((k as f64) * 0.37).sin() * 0.6;
    let hidden = vec![
        Layer {
            weights: (0..6 * D).map(w).collect(),
            bias: (0..6).map(|k| w(k + 100)).collect(),
        },
        Layer {
            weights: (0..5 * 6).map(|k| w(k + 200)).collect(),
            bias: vec![0.1; 5],
        },
    ];
    let model = Mlp::<D, f64>::new(
        &dev,
        hidden,
        (0..5).map(|k| w(k + 300)).collect(),
        0.2,
        0.05,
    )
    .unwrap();
    let x: Batch<D, f64> = Cpu::seed_from_u64(9).sample_normal_like(&(7, Const::<D>));
    check_host_path(&model, &x, 1e-12);
    let mut p = [0.0; D];
    p.copy_from_slice(&x.as_vec()[..D]);
    check_finite_differences(&model, p);
}
