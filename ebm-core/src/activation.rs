//! Vectorisable activation functions on host slices, for hand-written forward and backward passes.
//!
//! The published dfdx 0.13's CPU `tanh` calls the scalar libm function element by element;
//! [`tanh_in_place`] on `f32` uses `ebm_kernels::math`'s branch-free `expm1`-based formula, which
//! runs in vector registers (relative error below `1e-6` everywhere) and is also the kernel of the
//! CPU `tanh` of the dfdx this workspace builds (`vendor/dfdx`). On `f64` it uses the standard
//! library.

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

/// `f32` tanh over a slice: `ebm_kernels::math::tanh_f32_slice`, the kernel the CPU `tanh` of
/// `ebm-dfdx` uses too (relative error below `1e-6`; the same bits on every processor).
pub(crate) fn tanh_f32_slice(xs: &mut [f32]) {
    ebm_kernels::math::tanh_f32_slice(xs)
}

/// The same function one value at a time, without the dispatched copies' vector units.
#[cfg(test)]
fn tanh_f32_slice_portable(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = ebm_kernels::math::tanh_f32(*v);
    }
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
