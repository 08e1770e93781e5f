//! Vectorised `f32` `tanh`, `exp` and `sigmoid` over whole slices, written without calls into libm
//! so that the compiler turns each loop into SIMD code, run from a copy compiled for AVX-512 or
//! AVX2 where the processor has them. Relative error below `1e-6` of the exact value; NaN,
//! infinities and signed zeros are kept. The copies compute the same operations in the same order
//! (fused multiply-adds are never formed), so every copy gives the same bits.

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that k * LN2_HI is exact for the k that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
// Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
const ROUND: f32 = 12_582_912.0;

/// `k = round(y / ln 2)` and `r = y - k ln 2`, `|r| <= ln 2 / 2`.
#[inline(always)]
fn reduce(y: f32) -> (f32, f32) {
    let k = (y * LOG2E + ROUND) - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    (k, r)
}

/// `expm1(r)` on `|r| <= ln 2 / 2` by its Taylor polynomial to degree 7 (truncation below
/// `r^8 / 8! < 6e-9`).
#[inline(always)]
fn expm1_poly(r: f32) -> f32 {
    r * (1.0
        + r * (0.5
            + r * (1.0 / 6.0
                + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))))
}

/// `2^k` for an integral `k` in `[-126, 127]`. The integer is read from the low bits of
/// `1.5 * 2^23 + k` (exact for `|k| < 2^22`) rather than converted with `as i32`, whose saturating
/// conversion compiles to scalar code inside a vectorised loop.
#[inline(always)]
fn pow2(k: f32) -> f32 {
    let ki = ((k + ROUND).to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    f32::from_bits((ki.wrapping_add(127) << 23) as u32)
}

/// `tanh(x) = sign(x) * (-t / (2 + t))` with `t = expm1(-2|x|)`, which has no cancellation near 0;
/// `|x|` is capped at 10, where `tanh` is 1 in `f32`.
#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    // A comparison rather than `min`, so that NaN stays NaN (`NaN.min(10)` is 10, whose tanh is 1).
    let a = x.abs();
    let a = if a > 10.0 { 10.0 } else { a };
    let (k, r) = reduce(-2.0 * a);
    let two_k = pow2(k);
    let t = two_k * expm1_poly(r) + (two_k - 1.0);
    (-t / (2.0 + t)).copysign(x)
}

/// `exp(x) = 2^k exp(r)`, the power of two applied in two halves so that results down to the
/// smallest subnormal and up to infinity come out right.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    let c = x.clamp(-104.0, 89.0);
    let (k, r) = reduce(c);
    let k1 = (k * 0.5).trunc();
    let k2 = k - k1;
    let y = ((1.0 + expm1_poly(r)) * pow2(k1)) * pow2(k2);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `1 / (1 + exp(-x))`.
#[inline(always)]
fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

#[inline(always)]
fn map_portable(xs: &mut [f32], f: impl Fn(f32) -> f32) {
    for v in xs.iter_mut() {
        *v = f(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_avx2(xs: &mut [f32], f: impl Fn(f32) -> f32) {
    map_portable(xs, f)
}

#[cfg(all(target_arch = "x86_64", ebm_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust 1.89 or later (build.rs)
#[target_feature(enable = "avx512f")]
unsafe fn map_avx512(xs: &mut [f32], f: impl Fn(f32) -> f32) {
    map_portable(xs, f)
}

/// `f` applied to every element, from the widest copy of the loop this processor runs.
#[inline(always)]
fn map(xs: &mut [f32], f: impl Fn(f32) -> f32) {
    #[cfg(all(target_arch = "x86_64", ebm_avx512))]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512F, checked just above.
        unsafe { map_avx512(xs, f) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        unsafe { map_avx2(xs, f) };
        return;
    }
    map_portable(xs, f)
}

/// Replaces every element by its hyperbolic tangent (NaN stays NaN).
///
/// ```
/// let mut v = [0.0f32, 0.5, -3.0, 30.0];
/// ebm_kernels::tanh_f32_slice(&mut v);
/// for (a, b) in v.iter().zip([0.0f32, 0.5, -3.0, 30.0]) {
///     assert!((a - b.tanh()).abs() <= 1e-6 * b.tanh().abs().max(1e-30));
/// }
/// ```
pub fn tanh_f32_slice(xs: &mut [f32]) {
    map(xs, tanh_f32)
}

/// Replaces every element by its exponential (NaN stays NaN, overflow gives infinity, underflow
/// subnormals and then zero).
pub fn exp_f32_slice(xs: &mut [f32]) {
    map(xs, exp_f32)
}

/// Replaces every element `x` by `1 / (1 + exp(-x))` (NaN stays NaN).
pub fn sigmoid_f32_slice(xs: &mut [f32]) {
    map(xs, sigmoid_f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slice function, its scalar formula, and the exact function in `f64`.
    type Case = (fn(&mut [f32]), fn(f32) -> f32, fn(f64) -> f64);

    fn cases() -> [Case; 3] {
        [
            (tanh_f32_slice, tanh_f32, f64::tanh),
            (exp_f32_slice, exp_f32, f64::exp),
            (sigmoid_f32_slice, sigmoid_f32, |x| 1.0 / (1.0 + (-x).exp())),
        ]
    }

    #[test]
    fn accurate_everywhere() {
        let mut points: Vec<f32> = (0..200_001).map(|i| -20.0 + i as f32 * 2e-4).collect();
        points.extend((0..200).map(|i| 1e-30f32 * 10f32.powi(i / 7)));
        points.extend([0.0, -0.0, f32::MIN_POSITIVE, 1e-8, -1e-8]);
        for (slice, _, exact) in cases() {
            let mut v = points.clone();
            slice(&mut v);
            let mut worst = 0.0f64;
            for (&x, &y) in points.iter().zip(&v) {
                let e = exact(x as f64);
                let rel = if e == 0.0 {
                    y.abs() as f64
                } else {
                    ((y as f64 - e) / e).abs()
                };
                worst = worst.max(rel);
                assert!(rel < 1e-6, "f({x}) = {y}, exact {e}");
            }
            assert!(worst > 0.0, "the approximation is not the libm function");
        }
    }

    #[test]
    fn every_copy_of_the_loop_gives_the_same_bits() {
        let mut points: Vec<f32> = (0..10_007).map(|i| -12.0 + i as f32 * 2.4e-3).collect();
        points.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            90.0,
            -110.0,
        ]);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (slice, scalar, _) in cases() {
            let mut want = points.clone();
            map_portable(&mut want, scalar);
            let mut got = points.clone();
            slice(&mut got);
            assert_eq!(bits(&got), bits(&want));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut v = points.clone();
                // SAFETY: the processor has AVX2.
                unsafe { map_avx2(&mut v, scalar) };
                assert_eq!(bits(&v), bits(&want));
            }
        }
    }

    #[test]
    fn special_values() {
        let special = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            100.0,
            -200.0,
        ];
        let mut t = special;
        tanh_f32_slice(&mut t);
        assert!(t[0].is_nan());
        assert_eq!(&t[1..3], &[1.0, -1.0]);
        assert!(t[3] == 0.0 && t[3].is_sign_positive());
        assert!(t[4] == 0.0 && t[4].is_sign_negative());
        assert_eq!(&t[5..], &[1.0, -1.0]);
        let mut e = special;
        exp_f32_slice(&mut e);
        assert!(e[0].is_nan());
        assert_eq!(&e[1..], &[f32::INFINITY, 0.0, 1.0, 1.0, f32::INFINITY, 0.0]);
        let mut s = special;
        sigmoid_f32_slice(&mut s);
        assert!(s[0].is_nan());
        assert_eq!(&s[1..5], &[1.0, 0.0, 0.5, 0.5]);
    }
}
