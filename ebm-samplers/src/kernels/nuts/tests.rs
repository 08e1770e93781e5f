//! Tests of the No-U-Turn Sampler's parts.

use super::settings::Nuts;
use super::spans::Slot;
use super::spans::Spans;
use super::sums::displacement_sums;
use super::sums::displacement_sums_portable;
use super::sums::dot;
use super::sums::uturn_sums;
use super::sums::uturn_sums_pair;
use super::sums::uturn_sums_pair_portable;
use super::sums::uturn_sums_portable;
use super::transition::NutsWorkspace;
use super::tree::kick_and_drift;
use super::tree::kick_and_point;
use super::tree::End;
use crate::chain::ChainState;
use crate::kernels::kernel::{Kernel, StepInfo};
use crate::kernels::mass::MassMatrix;
use ebm_core::prelude::*;
use rand::Rng;
use rand::SeedableRng;

/// The straightforward sums, one coordinate after another.
fn naive(ra: &[f64], rest: [&[f64]; 7]) -> [f64; 6] {
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let add = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
    let (rho, left, right) = (add(ra, rb), add(ra, pbb), add(rb, pea));
    [
        dot(vba, &rho),
        dot(veb, &rho),
        dot(vba, &left),
        dot(vbb, &left),
        dot(vea, &right),
        dot(veb, &right),
    ]
}

/// For each length that exercises the lanes and the tail, four vectors of that length with
/// coordinates uniform in (-2, 2).
fn four_vectors(seed: u64) -> impl Iterator<Item = (usize, Vec<Vec<f64>>)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    [1, 2, 3, 4, 5, 7, 8, 13, 100].into_iter().map(move |d| {
        let v = (0..4)
            .map(|_| (0..d).map(|_| rng.gen_range(-2.0..2.0)).collect())
            .collect();
        (d, v)
    })
}

#[test]
fn the_pair_sums_are_the_six_sums_of_two_single_points() {
    for (d, v) in four_vectors(6) {
        let (pa, pb, va, vb) = (&v[0], &v[1], &v[2], &v[3]);
        // A single point's stretch: rho = p, and both ends are the point.
        let mut ra = pa.clone();
        let six = uturn_sums(&mut ra, [pb, pb, pa, va, vb, va, vb]);
        let mut rho = vec![0.0; d];
        let two = uturn_sums_pair(&mut rho, [pa, pb, va, vb]);
        let mut rho_portable = vec![0.0; d];
        let portable = uturn_sums_pair_portable(&mut rho_portable, [pa, pb, va, vb]);
        assert_eq!(two.map(f64::to_bits), [six[0].to_bits(), six[1].to_bits()]);
        // The checks across the halves are the whole's for two points.
        assert_eq!(six[2].to_bits(), six[0].to_bits());
        assert_eq!(six[5].to_bits(), six[1].to_bits());
        assert_eq!(two.map(f64::to_bits), portable.map(f64::to_bits));
        assert_eq!(rho, ra);
        assert_eq!(rho_portable, ra);
    }
}

#[test]
fn the_displacement_sums_are_the_two_dot_products_bit_for_bit_on_every_path() {
    for (d, v) in four_vectors(11) {
        let (pa, pb, xa, xb) = (&v[0], &v[1], &v[2], &v[3]);
        let fast = displacement_sums([pa, pb, xa, xb]);
        let portable = displacement_sums_portable([pa, pb, xa, xb]);
        assert_eq!(
            fast.map(f64::to_bits),
            portable.map(f64::to_bits),
            "d = {d}"
        );
        let dx: Vec<f64> = xa.iter().zip(xb).map(|(a, b)| b - a).collect();
        let dot = |p: &[f64]| dx.iter().zip(p).map(|(x, y)| x * y).sum::<f64>();
        for (s, want) in fast.iter().zip([dot(pa), dot(pb)]) {
            assert!(
                (s - want).abs() < 1e-12 * (1.0 + want.abs()),
                "d = {d}: {s} vs {want}"
            );
        }
    }
}

#[test]
fn joining_stretches_returns_inner_points_to_the_pool() {
    let d = 3;
    let mut spans = Spans::default();
    spans.reset(d, false);
    let point = |spans: &mut Spans, k: f64| {
        let (i, p, v) = spans.new_point();
        p.iter_mut().for_each(|x| *x = k);
        v.iter_mut().for_each(|x| *x = k);
        Slot::point(i)
    };
    let (a, b) = (point(&mut spans, 1.0), point(&mut spans, 2.0));
    let (ab, turning) = spans.join(a, b);
    assert!(!turning);
    let (c, e) = (point(&mut spans, 3.0), point(&mut spans, 4.0));
    let (ce, _) = spans.join(c, e);
    let (whole, turning) = spans.join(ab, ce);
    assert!(!turning);
    assert_eq!((whole.size, whole.begin, whole.end), (4, a.begin, e.end));
    // rho is the sum of the four momenta.
    assert_eq!(spans.rhos.get(whole.rho.unwrap()), &[10.0; 3]);
    // The two inner points and the upper sum went back, and are handed out again.
    assert_eq!(spans.points.free.len(), 2);
    assert_eq!(spans.rhos.free.len(), 1);
    let before = spans.points.used;
    point(&mut spans, 5.0);
    point(&mut spans, 6.0);
    assert_eq!(spans.points.used, before);
    // A momentum pointing back turns the trajectory.
    let f = point(&mut spans, -10.0);
    let (_, turning) = spans.join(whole.reversed(), f);
    assert!(turning);
}

#[test]
fn the_position_criterion_reads_stretches_in_the_trajectorys_order() {
    let d = 3;
    let mut spans = Spans::default();
    spans.reset(d, true);
    let point = |spans: &mut Spans, x: f64, p: f64| {
        let (i, pp, v) = spans.new_point();
        pp.iter_mut().for_each(|o| *o = p);
        v.iter_mut().for_each(|o| *o = p);
        spans.set_position(i, &[x; 3]);
        Slot::point(i)
    };
    // Forward in time: x grows along p, no turn.
    let (a, b) = (point(&mut spans, 0.0, 1.0), point(&mut spans, 0.1, 1.0));
    let (ab, turning) = spans.join(a, b);
    assert!(!turning);
    assert_eq!(
        (ab.size, ab.begin, ab.end, ab.rho),
        (2, a.begin, b.begin, None)
    );
    // Made backward in time: x falls while p still points up. Read in the trajectory's order
    // this does not turn; read in the order made it would.
    let (c, e) = (point(&mut spans, 0.0, 1.0), point(&mut spans, -0.1, 1.0));
    spans.backward = true;
    assert!(!spans.join(c, e).1);
    let (f, g) = (point(&mut spans, 0.0, 1.0), point(&mut spans, -0.1, 1.0));
    spans.backward = false;
    assert!(spans.join(f, g).1);
    // A momentum against the displacement turns the whole, and the join of longer stretches
    // returns the inner points.
    let (h, k) = (point(&mut spans, 0.2, 1.0), point(&mut spans, 0.3, -1.0));
    let (hk, _) = spans.join(h, k);
    let free = spans.points.free.len();
    let (_, turning) = spans.join(ab, hk);
    assert!(turning);
    assert_eq!(spans.points.free.len(), free + 2);
}

/// The fused leapfrog passes against the mass's own kick, drift, velocity and `dot`.
fn check_fused<E: Real>(mass: MassMatrix, d: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw =
        |n: usize| -> Vec<E> { (0..n).map(|_| E::of(rng.gen_range(-2.0..2.0))).collect() };
    let prepared = mass.prepare::<E>(d).unwrap();
    let (inv, inv64) = prepared.diagonal_inverse(d).unwrap();
    let (hs, step) = (E::of(0.15), E::of(0.3));
    let start = End {
        x: draw(d),
        p: draw(d),
        g: draw(d),
        e: E::zero(),
    };
    let g_new = draw(d);
    // The plain way.
    let mut plain = start.clone();
    plain
        .p
        .iter_mut()
        .zip(&plain.g)
        .for_each(|(p, g)| *p -= hs * *g);
    prepared.drift(&mut plain.x, &plain.p, step);
    plain.g.clone_from(&g_new);
    plain
        .p
        .iter_mut()
        .zip(&plain.g)
        .for_each(|(p, g)| *p -= hs * *g);
    let p64: Vec<f64> = plain.p.iter().map(|v| v.as_f64()).collect();
    let mut v64 = vec![0.0; d];
    prepared.velocity(&plain.p, &mut v64);
    let pv = dot(&p64, &v64);
    // The fused way.
    let mut fused = start.clone();
    let mut row = vec![E::zero(); d];
    assert!(kick_and_drift(&mut fused, hs, step, &inv, &mut row));
    assert_eq!(row, fused.x);
    let (mut fp, mut fv) = (vec![0.0; d], vec![0.0; d]);
    let (fpv, finite) = kick_and_point(&mut fused, &g_new, hs, &inv64, &mut fp, &mut fv);
    assert!(finite);
    assert_eq!((fused.x, fused.p, fused.g), (plain.x, plain.p, plain.g));
    assert_eq!((fp, fv), (p64, v64));
    assert_eq!(fpv.to_bits(), pv.to_bits());
}

#[test]
fn the_fused_leapfrog_passes_give_the_masses_own_values() {
    for d in [1, 3, 4, 7, 100] {
        let masses = [
            MassMatrix::Identity,
            MassMatrix::Scalar(2.7),
            MassMatrix::Diagonal((0..d).map(|i| 0.3 + i as f64).collect()),
        ];
        for (k, mass) in masses.into_iter().enumerate() {
            check_fused::<f64>(mass.clone(), d, k as u64);
            check_fused::<f32>(mass, d, 10 + k as u64);
        }
    }
    assert!(MassMatrix::Dense(vec![1.0, 0.0, 0.0, 1.0])
        .prepare::<f64>(2)
        .unwrap()
        .diagonal_inverse(2)
        .is_none());
}

#[test]
fn a_non_finite_position_or_gradient_is_reported() {
    // 13 coordinates: one pass of eight lanes and a remainder of five, a bad value in each.
    let d = 13;
    let fresh = || End {
        x: vec![1.0f64; d],
        p: vec![0.5; d],
        g: vec![0.1; d],
        e: 0.0,
    };
    let (inv, inv64) = (vec![1.0; d], vec![1.0; d]);
    let mut row = vec![0.0; d];
    assert!(kick_and_drift(&mut fresh(), 0.1, 0.2, &inv, &mut row));
    for (i, bad) in [(3, f64::INFINITY), (12, f64::NAN), (7, f64::NEG_INFINITY)] {
        let mut front = fresh();
        front.x[i] = bad;
        assert!(
            !kick_and_drift(&mut front, 0.1, 0.2, &inv, &mut row),
            "x[{i}]"
        );
        let (mut p64, mut v64) = (vec![0.0; d], vec![0.0; d]);
        let mut g = vec![0.0; d];
        assert!(kick_and_point(&mut fresh(), &g, 0.1, &inv64, &mut p64, &mut v64).1);
        g[i] = bad;
        let (_, finite) = kick_and_point(&mut fresh(), &g, 0.1, &inv64, &mut p64, &mut v64);
        assert!(!finite, "g[{i}]");
    }
}

/// The transition compiled for AVX2 against the plain one, from the same state: the same
/// draws to the last bit, with a diagonal and a dense mass, in `f64` and `f32`.
#[cfg(target_arch = "x86_64")]
fn check_avx2_transition<E: Real>(mass: MassMatrix)
where
    Cpu: Device<E>,
{
    use crate::chain::Target;
    use ebm_models::GaussianModel;
    if !std::arch::is_x86_feature_detected!("avx2") {
        eprintln!("no AVX2 on this processor: nothing to compare");
        return;
    }
    let dev = Cpu::default();
    let cov = [2.0, 0.3, 0.1, 0.3, 1.0, 0.2, 0.1, 0.2, 0.5];
    let model = GaussianModel::<3, E>::from_slices(
        &dev,
        &[E::of(1.0), E::zero(), E::of(-1.0)],
        &cov.map(E::of),
    )
    .unwrap();
    let x0: Batch<3, E> = dev.zeros_like(&(5, Const::<3>));
    let nuts = Nuts::new(0.4).unwrap().with_mass(mass).unwrap();
    let mut plain_state = nuts.init(&model, &x0, 11).unwrap();
    let mut avx_state = plain_state.clone();
    let (mut t1, mut t2) = (Target::new(&model, &dev), Target::new(&model, &dev));
    let (mut w1, mut w2) = (NutsWorkspace::default(), NutsWorkspace::default());
    let (mut i1, mut i2) = (vec![StepInfo::default(); 5], vec![StepInfo::default(); 5]);
    for _ in 0..40 {
        nuts.transition(&mut t1, &mut plain_state, &mut w1, &mut i1)
            .unwrap();
        // SAFETY: the CPU supports AVX2, checked above.
        unsafe { nuts.transition_avx2(&mut t2, &mut avx_state, &mut w2, &mut i2) }.unwrap();
        assert_eq!(i1, i2);
    }
    let bits = |s: &ChainState<3, E, Cpu>| {
        s.positions()
            .iter()
            .map(|v| v.as_f64().to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&plain_state), bits(&avx_state));
    // The chains moved.
    assert!(plain_state.positions().iter().any(|v| *v != E::zero()));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_avx2_transition_gives_the_plain_draws() {
    let dense = MassMatrix::Dense(vec![2.0, 0.5, 0.0, 0.5, 1.0, 0.1, 0.0, 0.1, 0.8]);
    let diagonal = MassMatrix::Diagonal(vec![0.5, 1.0, 2.0]);
    for mass in [diagonal, dense] {
        check_avx2_transition::<f64>(mass.clone());
        check_avx2_transition::<f32>(mass);
    }
}

#[test]
fn the_u_turn_sums_agree_with_the_plain_sums_and_across_instruction_sets() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for d in [1, 2, 3, 4, 5, 7, 8, 13, 100] {
        let v: Vec<Vec<f64>> = (0..8)
            .map(|_| (0..d).map(|_| rng.gen_range(-2.0..2.0)).collect())
            .collect();
        let rest: [&[f64]; 7] = std::array::from_fn(|k| v[k + 1].as_slice());
        let want = naive(&v[0], rest);
        let (mut a, mut b) = (v[0].clone(), v[0].clone());
        let fast = uturn_sums(&mut a, rest);
        let portable = uturn_sums_portable(&mut b, rest);
        // The dispatched loop (AVX2 where the processor has it) and the portable one agree
        // to the last bit, sums and rho alike.
        assert_eq!(
            fast.map(f64::to_bits),
            portable.map(f64::to_bits),
            "d = {d}"
        );
        assert_eq!(a, b);
        for (x, y) in fast.iter().zip(&want) {
            assert!(
                (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                "d = {d}: {x} vs {y}"
            );
        }
        for i in 0..d {
            assert_eq!(a[i], v[0][i] + v[1][i]);
        }
    }
}
