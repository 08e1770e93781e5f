//! Transcendental functions written to run in vector registers.
//!
//! - `f64`: [`exp`], [`ln`], [`log1p`], [`softplus`], [`log_add_exp`], and their slice forms
//!   ([`exp_slice`], [`ln_slice`], [`log1p_slice`], [`softplus_slice`], [`log_sum_exp`]);
//! - `f32`: the activations of neural energies, [`tanh_f32`], [`exp_f32`], [`sigmoid_f32`], and
//!   their slice forms, which `ebm-core` and the CPU kernels of `ebm-dfdx` (the patched dfdx) use,
//!   so a network evaluated either way computes the same bits.
//!
//! The standard library's `exp` and `ln_1p` call the system's mathematical library one value at a
//! time. These are branch-free polynomials with table-free range reduction, so the compiler runs a
//! loop of them in vector registers; the slice forms are compiled three times (AVX-512, AVX2 with
//! FMA, and portable) and pick the widest the processor has when called. Every step is a fused
//! multiply-add or a correctly rounded operation, so all three give the same bits.
//!
//! Accuracy of the `f64` functions: within 2 units in the last place of the exact result over the whole range (the tests
//! compare with the standard library at millions of points spread over every exponent), with the
//! special values exact: `exp(-inf) = 0`, `exp(inf) = inf`, overflow to `inf` and gradual
//! underflow through the subnormals; `ln(0) = -inf`, `ln(x < 0) = NaN`; `log1p(-1) = -inf`, `log1p(x < -1) = NaN`, `log1p(±0) = ±0`;
//! NaN in, NaN out.
//!
//! ```
//! use ebm_kernels::math;
//! let mut v = [0.0, 1.0, -745.5, f64::INFINITY];
//! math::exp_slice(&mut v);
//! assert_eq!(v[0], 1.0);
//! assert!((v[1] - std::f64::consts::E).abs() <= f64::EPSILON * 3.0);
//! assert_eq!((v[2], v[3]), (0.0, f64::INFINITY));
//! assert_eq!(math::log1p(-1.0), f64::NEG_INFINITY);
//! assert!((math::softplus(0.0) - std::f64::consts::LN_2).abs() < 1e-16);
//! ```

/// `1.5 * 2^52`: adding it to a value of magnitude below `2^51` rounds the value to an integer,
/// which the low bits of the sum then hold.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// `ln 2` in two parts: the first has its low 32 bits clear, so `k * LN2_HI` is exact for the
/// `|k| < 2^11` of the range reductions here.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// `e^r` for `|r| <= ln 2 / 2`: the Taylor series to `r^13 / 13!` (the next term is below
/// `2^-60` of the result).
#[inline(always)]
fn exp_reduced(r: f64) -> f64 {
    const C: [f64; 13] = [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    for c in C {
        p = p.mul_add(r, c);
    }
    p
}

/// `2^k` for `-1022 <= k <= 1023`, from its bits.
#[inline(always)]
fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `e^x`, within 2 units in the last place (see the [module documentation](self)).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // Beyond these the result is 0 or infinite; inside, x = k ln 2 + r with |r| <= ln 2 / 2 and
    // -1077 <= k <= 1025.
    // `clamp` keeps a NaN, which the select at the end replaces anyway.
    let xc = x.clamp(-746.0, 710.0);
    let t = xc.mul_add(std::f64::consts::LOG2_E, ROUND);
    let kf = t - ROUND;
    let r = (-kf).mul_add(LN2_LO, (-kf).mul_add(LN2_HI, xc));
    let p = exp_reduced(r);
    // 2^k in two factors, each a normal number, so that a subnormal result is rounded once.
    let k = t.to_bits() as i64 - ROUND.to_bits() as i64;
    let k1 = k >> 1;
    let y = p * pow2(k1) * pow2(k - k1);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `sqrt(2)`: the reduction below takes the mantissa into `[sqrt(2) / 2, sqrt(2))`.
const SQRT_2: f64 = std::f64::consts::SQRT_2;

/// For a positive normal `u = 2^k m` with `m` in `[sqrt(2)/2, sqrt(2))`: `k` (plus `k0`), `f = m - 1`,
/// `f^2 / 2` and `s (f^2/2 + R)`, from which `ln u = k ln 2 + f - (f^2/2 - s (f^2/2 + R))`.
///
/// `ln m = 2 atanh(s)` with `s = f / (2 + f)` (`f` is exact), written as
/// `f - f^2/2 + s (f^2/2 + R)`, `R = 2 (z/3 + z^2/5 + ...)`, `z = s^2 <= 0.0295`: the series to
/// `z^12` leaves less than `2^-60` of the result.
#[inline(always)]
fn log_parts(u: f64, k0: f64) -> (f64, f64, f64, f64) {
    let bits = u.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m1 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let high = m1 > SQRT_2;
    let m = if high { m1 * 0.5 } else { m1 };
    let kf = (e + i64::from(high)) as f64 + k0;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    // R / z = sum_j c_j z^j with c_j = 2 / (2j + 3), j = 0..=11, as two Horner chains in z^2
    // (even and odd j) that run side by side: half the latency of one chain.
    let w = z * z;
    let mut even: f64 = 2.0 / 23.0;
    let mut odd: f64 = 2.0 / 25.0;
    for (ce, co) in [
        (2.0 / 19.0, 2.0 / 21.0),
        (2.0 / 15.0, 2.0 / 17.0),
        (2.0 / 11.0, 2.0 / 13.0),
        (2.0 / 7.0, 2.0 / 9.0),
        (2.0 / 3.0, 2.0 / 5.0),
    ] {
        even = even.mul_add(w, ce);
        odd = odd.mul_add(w, co);
    }
    let r = odd.mul_add(z, even);
    let hfsq = 0.5 * f * f;
    (kf, f, hfsq, s * (hfsq + r * z))
}

/// `ln x`, within 2 units in the last place (see the [module documentation](self)); `ln 0 = -inf`,
/// NaN below 0, subnormal arguments exact to the same accuracy.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    // Subnormals are scaled by 2^54 into the normal range first.
    let sub = x < f64::MIN_POSITIVE;
    let u = if sub { x * 18_014_398_509_481_984.0 } else { x };
    let (kf, f, hfsq, tail) = log_parts(u, if sub { -54.0 } else { 0.0 });
    let y = kf.mul_add(LN2_HI, f - (hfsq - kf.mul_add(LN2_LO, tail)));
    if x.is_nan() || x == f64::INFINITY {
        x
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x < 0.0 {
        f64::NAN
    } else {
        y
    }
}

/// `ln(1 + x)`, within 2 units in the last place (see the [module documentation](self)).
#[inline(always)]
pub fn log1p(x: f64) -> f64 {
    // 1 + x = u (1 + c) with c the rounding error of u relative to u, so
    // ln(1 + x) = ln u + ln(1 + c), and ln(1 + c) = c to well below an ulp of the result.
    let u = 1.0 + x;
    let c = (x - (u - 1.0)) / u;
    // u is normal wherever the result is not special.
    let (kf, f, hfsq, tail) = log_parts(u, 0.0);
    let y = kf.mul_add(LN2_HI, f - (hfsq - (tail + kf.mul_add(LN2_LO, c))));
    if x == 0.0 || x.is_nan() || x == f64::INFINITY {
        x
    } else if x == -1.0 {
        f64::NEG_INFINITY
    } else if x < -1.0 {
        f64::NAN
    } else {
        y
    }
}

/// `ln(1 + e^x)`, the softplus, within 2 units in the last place: `max(x, 0) + log1p(e^-|x|)`.
#[inline(always)]
pub fn softplus(x: f64) -> f64 {
    let y = (if x > 0.0 { x } else { 0.0 }) + log1p(exp(-x.abs()));
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `ln(e^a + e^b)` without overflow: `max(a, b) + log1p(e^-|a - b|)`; `-inf` when both are.
#[inline(always)]
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = if a > b { a } else { b };
    let d = (a - b).abs();
    let y = m + log1p(exp(-d));
    if a.is_nan() || b.is_nan() {
        a + b
    } else if d.is_nan() {
        // Both infinite with the same sign (inf - inf): the result is that infinity.
        m
    } else {
        y
    }
}

/// A slice function that applies `$scalar` to every element in place, from a copy of its loop
/// compiled for the widest vector unit the processor has.
macro_rules! dispatched {
    ($(#[$doc:meta])* $name:ident, $scalar:path, $t:ty) => {
        $(#[$doc])*
        pub fn $name(x: &mut [$t]) {
            #[inline(always)]
            fn portable(x: &mut [$t]) {
                // A plain loop: an iterator adaptor's body can stay out of line, compiled
                // without the caller's vector features.
                for v in x.iter_mut() {
                    *v = $scalar(*v);
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512(x: &mut [$t]) {
                    portable(x)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2(x: &mut [$t]) {
                    portable(x)
                }
                if has_avx512() {
                    // SAFETY: the processor has AVX-512F, AVX2 and FMA, checked just above.
                    return unsafe { avx512(x) };
                }
                if has_avx2() {
                    // SAFETY: the processor has AVX2 and FMA, checked just above.
                    return unsafe { avx2(x) };
                }
            }
            portable(x)
        }
    };
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx2") && has!("fma")
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx2") && has!("fma")
}

dispatched!(
    /// Replaces every `v` of `x` by [`exp`]`(v)`, in vector registers.
    exp_slice,
    exp,
    f64
);
dispatched!(
    /// Replaces every `v` of `x` by [`ln`]`(v)`, in vector registers.
    ln_slice,
    ln,
    f64
);
dispatched!(
    /// Replaces every `v` of `x` by [`log1p`]`(v)`, in vector registers.
    log1p_slice,
    log1p,
    f64
);
dispatched!(
    /// Replaces every `v` of `x` by [`softplus`]`(v)`, in vector registers.
    softplus_slice,
    softplus,
    f64
);

/// `ln(sum_i e^(x_i))` without overflow: the maximum `m` plus the logarithm of
/// `sum_i e^(x_i - m)` (its terms in vector registers). `-inf` for an empty slice or one of
/// `-inf`s, `inf` when some `x_i` is, NaN when some is NaN.
///
/// ```
/// let x = [1000.0, 1000.0];
/// let y = ebm_kernels::math::log_sum_exp(&x);
/// assert!((y - (1000.0 + std::f64::consts::LN_2)).abs() < 1e-12);
/// assert_eq!(ebm_kernels::math::log_sum_exp(&[]), f64::NEG_INFINITY);
/// ```
pub fn log_sum_exp(x: &[f64]) -> f64 {
    if x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m.is_infinite() {
        return m;
    }
    #[inline(always)]
    fn sum(x: &[f64], m: f64) -> f64 {
        // Eight partial sums, so the additions of a vector of terms do not wait on each other.
        let mut acc = [0.0f64; 8];
        let mut chunks = x.chunks_exact(8);
        for c in &mut chunks {
            for l in 0..8 {
                acc[l] += exp(c[l] - m);
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            acc[l] += exp(v - m);
        }
        acc.iter().sum()
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn sum_avx512(x: &[f64], m: f64) -> f64 {
            sum(x, m)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sum_avx2(x: &[f64], m: f64) -> f64 {
            sum(x, m)
        }
        if has_avx512() {
            // SAFETY: the processor has AVX-512F, AVX2 and FMA, checked just above.
            return m + unsafe { sum_avx512(x, m) }.ln();
        }
        if has_avx2() {
            // SAFETY: the processor has AVX2 and FMA, checked just above.
            return m + unsafe { sum_avx2(x, m) }.ln();
        }
    }
    m + sum(x, m).ln()
}

// ---------------------------------------------------------------------------------------------
// f32 activations.

const LOG2E_F32: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that k * LN2_HI_F32 is exact for the k that occur.
const LN2_HI_F32: f32 = 0.693_359_4;
const LN2_LO_F32: f32 = -2.121_944_4e-4;
// Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
const ROUND_F32: f32 = 12_582_912.0;

/// `y = k ln 2 + r` with `k` integral and `|r| <= ln 2 / 2`: returns `(k, r)`.
#[inline(always)]
fn reduce_f32(y: f32) -> (f32, f32) {
    let k = (y * LOG2E_F32 + ROUND_F32) - ROUND_F32;
    let r = (y - k * LN2_HI_F32) - k * LN2_LO_F32;
    (k, r)
}

/// `e^r - 1` on `|r| <= ln 2 / 2` by its Taylor polynomial to degree 7 (truncation below
/// `6e-9`).
#[inline(always)]
fn expm1_poly_f32(r: f32) -> f32 {
    r * (1.0
        + r * (0.5
            + r * (1.0 / 6.0
                + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))))
}

/// `2^k` for an integral `k` in `[-126, 127]`. The integer is read from the low bits of
/// `1.5 * 2^23 + k` rather than converted with `as i32`, whose saturating conversion became scalar
/// code inside vectorised loops.
#[inline(always)]
fn pow2_f32(k: f32) -> f32 {
    let ki = ((k + ROUND_F32).to_bits() as i32).wrapping_sub(ROUND_F32.to_bits() as i32);
    f32::from_bits((ki.wrapping_add(127) << 23) as u32)
}

/// `tanh(x) = sign(x) (-t / (2 + t))` with `t = expm1(-2|x|)`, which has no cancellation near 0.
/// Relative error below `1e-6`; signed zeros, the saturation to `±1` and NaN are kept. There is no
/// fused multiply-add in it, so every processor gives the same bits.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs().min(10.0);
    let (k, r) = reduce_f32(-2.0 * a);
    let two_k = pow2_f32(k);
    let t = two_k * expm1_poly_f32(r) + (two_k - 1.0);
    let y = (-t / (2.0 + t)).copysign(x);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `e^x = 2^k e^r`, the power of two applied in two halves so that results down to the smallest
/// subnormal and up to infinity come out right. Relative error below `1e-6`.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let c = x.clamp(-104.0, 89.0);
    let (k, r) = reduce_f32(c);
    let k1 = (k * 0.5).trunc();
    let k2 = k - k1;
    let y = ((1.0 + expm1_poly_f32(r)) * pow2_f32(k1)) * pow2_f32(k2);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `1 / (1 + e^-x)`, from [`exp_f32`].
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

dispatched!(
    /// Replaces every `v` of `x` by [`tanh_f32`]`(v)`, in vector registers.
    tanh_f32_slice,
    tanh_f32,
    f32
);
dispatched!(
    /// Replaces every `v` of `x` by [`exp_f32`]`(v)`, in vector registers.
    exp_f32_slice,
    exp_f32,
    f32
);
dispatched!(
    /// Replaces every `v` of `x` by [`sigmoid_f32`]`(v)`, in vector registers.
    sigmoid_f32_slice,
    sigmoid_f32,
    f32
);
