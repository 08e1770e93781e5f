//! The sums the U-turn checks need, vectorised (AVX where the processor has it).

/// `(x_b - x_a) . p_a` and `(x_b - x_a) . p_b` (`abx = [p_a, p_b, x_a, x_b]`), in four lanes of
/// coordinates `4 k + l` with the rest in lane 0; the displacement is formed once for both.
pub(super) fn displacement_sums(abx: [&[f64]; 4]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { displacement_sums_avx2(abx) };
        }
    }
    displacement_sums_portable(abx)
}

/// [`displacement_sums_portable`] compiled for AVX2: the same lanes and the same separate
/// multiplies and adds, so the same bits, in 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn displacement_sums_avx2(abx: [&[f64]; 4]) -> [f64; 2] {
    displacement_sums_portable(abx)
}

#[inline(always)]
pub(super) fn displacement_sums_portable(abx: [&[f64]; 4]) -> [f64; 2] {
    let [pa, pb, xa, xb] = abx;
    let d = pa.len();
    assert!(abx.iter().all(|v| v.len() == d), "slices of one length");
    let (mut sa, mut sb) = ([0.0f64; 4], [0.0f64; 4]);
    let lanes = xa
        .chunks_exact(4)
        .zip(xb.chunks_exact(4))
        .zip(pa.chunks_exact(4).zip(pb.chunks_exact(4)));
    for ((xa, xb), (pa, pb)) in lanes {
        for l in 0..4 {
            let dx = xb[l] - xa[l];
            sa[l] += dx * pa[l];
            sb[l] += dx * pb[l];
        }
    }
    for i in d / 4 * 4..d {
        let dx = xb[i] - xa[i];
        sa[0] += dx * pa[i];
        sb[0] += dx * pb[i];
    }
    let sum = |s: [f64; 4]| (s[0] + s[1]) + (s[2] + s[3]);
    [sum(sa), sum(sb)]
}

/// The two sums of the U-turn check of two single points `a` then `b`, writing `rho = p_a + p_b`
/// into `rho`: `v_a . rho` and `v_b . rho` (`ab = [p_a, p_b, v_a, v_b]`). These are the first two
/// of [`uturn_sums`] for two points, to the last bit: the same four lanes, in the same order.
pub(super) fn uturn_sums_pair(rho: &mut [f64], ab: [&[f64]; 4]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { uturn_sums_pair_avx2(rho, ab) };
        }
    }
    uturn_sums_pair_portable(rho, ab)
}

/// [`uturn_sums_pair_portable`] compiled for AVX2: the same lanes and the same separate
/// multiplies and adds, so the same bits, in 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn uturn_sums_pair_avx2(rho: &mut [f64], ab: [&[f64]; 4]) -> [f64; 2] {
    uturn_sums_pair_portable(rho, ab)
}

/// Four lanes per sum, lane `l` taking the coordinates `4 k + l`, the rest into lane 0.
#[inline(always)]
pub(super) fn uturn_sums_pair_portable(rho: &mut [f64], ab: [&[f64]; 4]) -> [f64; 2] {
    let [pa, pb, va, vb] = ab;
    let d = rho.len();
    assert!(ab.iter().all(|v| v.len() == d), "slices of one length");
    let (mut sa, mut sb) = ([0.0f64; 4], [0.0f64; 4]);
    let lanes = rho
        .chunks_exact_mut(4)
        .zip(pa.chunks_exact(4).zip(pb.chunks_exact(4)))
        .zip(va.chunks_exact(4).zip(vb.chunks_exact(4)));
    for ((r, (pa, pb)), (va, vb)) in lanes {
        for l in 0..4 {
            r[l] = pa[l] + pb[l];
            sa[l] += va[l] * r[l];
            sb[l] += vb[l] * r[l];
        }
    }
    for i in d / 4 * 4..d {
        rho[i] = pa[i] + pb[i];
        sa[0] += va[i] * rho[i];
        sb[0] += vb[i] * rho[i];
    }
    let sum = |s: [f64; 4]| (s[0] + s[1]) + (s[2] + s[3]);
    [sum(sa), sum(sb)]
}

/// The six sums of the U-turn checks of a join, in one pass over the coordinates, leaving
/// `rho = ra + rb` in `ra`: `vba . rho`, `veb . rho` (the whole), `vba . (ra + pbb)`,
/// `vbb . (ra + pbb)` (the lower half with the upper's first point), `vea . (rb + pea)`,
/// `veb . (rb + pea)` (the upper half with the lower's last point).
///
/// Four lanes per sum, so the additions of neighbouring coordinates do not wait on each other. On
/// x86-64 processors with AVX2 the lanes run in 256-bit registers; the sums are the same to the
/// last bit either way (the lanes and their order are fixed, and no multiply-add is fused).
pub(super) fn uturn_sums(ra: &mut [f64], rest: [&[f64]; 7]) -> [f64; 6] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { uturn_sums_avx2(ra, rest) };
        }
    }
    uturn_sums_portable(ra, rest)
}

/// [`uturn_sums_portable`] in 256-bit registers: lane `l` of each register is lane `l` of the
/// portable accumulators, and every operation is the same separate multiply and add.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn uturn_sums_avx2(ra: &mut [f64], rest: [&[f64]; 7]) -> [f64; 6] {
    use std::arch::x86_64::*;
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    let d = ra.len();
    assert!(rest.iter().all(|v| v.len() == d), "slices of one length");
    let full = d / 4 * 4;
    let mut acc = [_mm256_setzero_pd(); 6];
    let mut c = 0;
    while c < full {
        // SAFETY: c + 4 <= full <= d, the length of every slice (asserted above); unaligned
        // loads and stores.
        unsafe {
            let ld = |v: &[f64]| _mm256_loadu_pd(v.as_ptr().add(c));
            let (a, b, pb, pe) = (ld(ra), ld(rb), ld(pbb), ld(pea));
            let rho = _mm256_add_pd(a, b);
            let left = _mm256_add_pd(a, pb);
            let right = _mm256_add_pd(b, pe);
            let (vb0, vb1, ve0, ve1) = (ld(vba), ld(vbb), ld(vea), ld(veb));
            acc[0] = _mm256_add_pd(acc[0], _mm256_mul_pd(vb0, rho));
            acc[1] = _mm256_add_pd(acc[1], _mm256_mul_pd(ve1, rho));
            acc[2] = _mm256_add_pd(acc[2], _mm256_mul_pd(vb0, left));
            acc[3] = _mm256_add_pd(acc[3], _mm256_mul_pd(vb1, left));
            acc[4] = _mm256_add_pd(acc[4], _mm256_mul_pd(ve0, right));
            acc[5] = _mm256_add_pd(acc[5], _mm256_mul_pd(ve1, right));
            _mm256_storeu_pd(ra.as_mut_ptr().add(c), rho);
        }
        c += 4;
    }
    let mut lanes = [[0.0f64; 4]; 6];
    for (out, a) in lanes.iter_mut().zip(acc) {
        // SAFETY: `out` holds four f64.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), a) };
    }
    uturn_tail(ra, rest, full, &mut lanes);
    lanes.map(|v| (v[0] + v[1]) + (v[2] + v[3]))
}

/// The coordinates from `full` on, into lane 0.
#[inline(always)]
pub(super) fn uturn_tail(ra: &mut [f64], rest: [&[f64]; 7], full: usize, acc: &mut [[f64; 4]; 6]) {
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    for i in full..ra.len() {
        let rho = ra[i] + rb[i];
        let left = ra[i] + pbb[i];
        let right = rb[i] + pea[i];
        acc[0][0] += vba[i] * rho;
        acc[1][0] += veb[i] * rho;
        acc[2][0] += vba[i] * left;
        acc[3][0] += vbb[i] * left;
        acc[4][0] += vea[i] * right;
        acc[5][0] += veb[i] * right;
        ra[i] = rho;
    }
}

/// The portable loop: four lanes per sum, lane `l` taking the coordinates `4 k + l`.
// One index runs over eight slices and six accumulators at once.
#[allow(clippy::needless_range_loop)]
pub(super) fn uturn_sums_portable(ra: &mut [f64], rest: [&[f64]; 7]) -> [f64; 6] {
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    let d = ra.len();
    let full = d / 4 * 4;
    let mut acc = [[0.0f64; 4]; 6];
    for c in (0..full).step_by(4) {
        for l in 0..4 {
            let i = c + l;
            let rho = ra[i] + rb[i];
            let left = ra[i] + pbb[i];
            let right = rb[i] + pea[i];
            acc[0][l] += vba[i] * rho;
            acc[1][l] += veb[i] * rho;
            acc[2][l] += vba[i] * left;
            acc[3][l] += vbb[i] * left;
            acc[4][l] += vea[i] * right;
            acc[5][l] += veb[i] * right;
            ra[i] = rho;
        }
    }
    uturn_tail(ra, rest, full, &mut acc);
    acc.map(|v| (v[0] + v[1]) + (v[2] + v[3]))
}

/// `a . b` with four partial sums, so the additions do not wait on each other.
#[inline(always)]
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}
