//! Vectorisable activation functions on host slices, for hand-written forward and backward passes.
//!
//! The published dfdx 0.13's CPU `tanh` calls the scalar libm function element by element (the copy this
//! workspace builds, `vendor/dfdx`, has a vectorised kernel too); [`tanh_in_place`] on `f32`
//! uses a branch-free `expm1`-based formula that the compiler turns into SIMD code, accurate to a few
//! `f32` ulps (relative error below `1e-6` everywhere). On `f64` it uses the standard library.

use crate::real::Real;

/// Replaces every element of `xs` by its hyperbolic tangent; NaN stays NaN.
///
/// ```
/// let mut v = [0.0f32, 0.5, -3.0, 30.0];
/// ebm_core::activation::tanh_in_place(&mut v);
/// for (a, b) in v.iter().zip([0.0f32, 0.5, -3.0, 30.0]) {
///     assert!((a - b.tanh()).abs() <= 1e-6 * b.tanh().abs().max(1e-30));
/// }
/// ```
pub fn tanh_in_place<E: Real>(xs: &mut [E]) {
    E::tanh_slice(xs)
}

/// `f32` tanh: `tanh(x) = sign(x) * (-t / (2 + t))` with `t = expm1(-2|x|)`, which has no cancellation
/// near 0. `expm1(y)` for `y` in `[-20, 0]` by `y = k ln 2 + r`, `|r| <= ln 2 / 2`:
/// `expm1(y) = 2^k expm1(r) + (2^k - 1)`, `expm1(r)` by its Taylor polynomial to degree 7
/// (truncation error below `r^8 / 8! < 6e-9`).
///
/// On x86-64 processors with AVX2 and FMA the same loop runs from a copy compiled for them (8 lanes
/// instead of 4); the result is the same to the last bit either way, since the formula has no
/// operation whose rounding depends on fusing (`fma` contraction is not enabled by the feature).
pub(crate) fn tanh_f32_slice(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { tanh_f32_slice_avx2(xs) };
            return;
        }
    }
    tanh_f32_slice_portable(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tanh_f32_slice_avx2(xs: &mut [f32]) {
    tanh_f32_slice_portable(xs)
}

#[inline(always)]
fn tanh_f32_slice_portable(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = tanh_f32(*v);
    }
}

#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that k * LN2_HI is exact for the k that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    // A comparison rather than `min`, so that NaN stays NaN (`NaN.min(10)` is 10, whose tanh is 1).
    // It is the same for every other input, and still compiles to a lane-wise select.
    let a = x.abs();
    let a = if a > 10.0 { 10.0 } else { a };
    let y = -2.0 * a;
    let kr = y * LOG2E + ROUND;
    let k = kr - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let p = r
        * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // `kr = 1.5 * 2^23 + k` holds the integer `k` in its low bits: reading it there keeps the loop
    // free of float-to-integer conversions (a saturating `as i32` became scalar code in it).
    let ki = (kr.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let two_k = f32::from_bits((ki.wrapping_add(127) << 23) as u32);
    let t = two_k * p + (two_k - 1.0);
    (-t / (2.0 + t)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_tanh_is_accurate_everywhere() {
        let mut worst = 0.0f64;
        let mut points: Vec<f32> = (0..200_001).map(|i| -20.0 + i as f32 * 2e-4).collect();
        points.extend((0..200).map(|i| 1e-30f32 * 10f32.powi(i / 7)));
        points.extend([0.0, -0.0, f32::MIN_POSITIVE, 1e-8, -1e-8, 88.0, -1e6]);
        let mut v = points.clone();
        tanh_f32_slice(&mut v);
        for (&x, &t) in points.iter().zip(&v) {
            let exact = (x as f64).tanh();
            let rel = if exact == 0.0 {
                t.abs() as f64
            } else {
                ((t as f64 - exact) / exact).abs()
            };
            worst = worst.max(rel);
            assert!(rel < 1e-6, "tanh({x}) = {t}, exact {exact}");
        }
        assert!(worst > 0.0, "the approximation is not the libm function");
    }

    #[test]
    fn simd_and_portable_loops_agree_bit_for_bit() {
        let points: Vec<f32> = (0..10_007).map(|i| -12.0 + i as f32 * 2.4e-3).collect();
        let (mut a, mut b) = (points.clone(), points.clone());
        tanh_f32_slice(&mut a);
        tanh_f32_slice_portable(&mut b);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn f32_tanh_keeps_sign_and_saturates() {
        let mut v = [-0.0f32, 0.0, 50.0, -50.0];
        tanh_f32_slice(&mut v);
        assert!(v[0] == 0.0 && v[0].is_sign_negative());
        assert!(v[1] == 0.0 && v[1].is_sign_positive());
        assert_eq!((v[2], v[3]), (1.0, -1.0));
    }

    #[test]
    fn nan_stays_nan() {
        // Enough elements that the vectorised loop body, not only its remainder, sees the NaNs.
        let mut v = vec![0.5f32; 37];
        v[3] = f32::NAN;
        v[20] = -f32::NAN;
        let mut portable = v.clone();
        tanh_f32_slice(&mut v);
        tanh_f32_slice_portable(&mut portable);
        for out in [&v, &portable] {
            assert!(out[3].is_nan() && out[20].is_nan(), "{out:?}");
            assert!(out.iter().filter(|t| t.is_nan()).count() == 2);
        }
        let mut w = [f64::NAN, 0.5];
        tanh_in_place(&mut w);
        assert!(w[0].is_nan() && w[1] == 0.5f64.tanh());
    }

    #[test]
    fn f64_uses_the_standard_library() {
        let mut v = [0.3f64, -2.0];
        tanh_in_place(&mut v);
        assert_eq!(v, [0.3f64.tanh(), (-2.0f64).tanh()]);
    }
}
