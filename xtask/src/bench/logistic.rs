//! The per-observation terms of `logreg25`'s density, four observations at a time.
//!
//! With `q = e^-|v|`, `softplus(v) = max(v, 0) + ln(1 + q)` and `sigmoid(v) = 1 / (1 + q)` for
//! `v > 0`, `q / (1 + q)` otherwise: one exponential and one logarithm per observation. The standard
//! library's `exp` and `ln_1p` are calls, one value at a time, and took over half of the case's
//! time; here both are short polynomials without branches, which the compiler runs in vector
//! registers. Both samplers of the case (ours and the nuts-rs peer) call this same code.
//!
//! The polynomials' steps are fused multiply-adds, so the results are the same to the last bit
//! with and without AVX2 and FMA (without them `mul_add` is computed exactly, only slower).

/// `1.5 * 2^52`: adding it to a value of magnitude below `2^51` rounds the value to an integer,
/// which the low bits of the sum then hold.
const ROUND: f64 = 6755399441055744.0;
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// `ln 2` in two parts: the first has its low bits clear, so `k * LN2_HI` is exact for `|k| < 2^11`.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// `e^x` for `x <= 0`, to a few units in the last place (`x` below `-700` is taken as `-700`,
/// whose exponential, about `1e-304`, is as good as 0 here).
#[inline(always)]
fn exp_nonpositive(x: f64) -> f64 {
    let x = if x > -700.0 { x } else { -700.0 };
    // x = k ln 2 + r with k an integer and |r| <= ln 2 / 2.
    let t = x * LOG2_E + ROUND;
    let k = t - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // e^r by its Taylor series to r^13 / 13! (the next term is below 1e-16 for |r| <= 0.35).
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    for c in [
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
    ] {
        p = p.mul_add(r, c);
    }
    // 2^k from its bits: k sits in the low bits of t (as 2^51 + k), and -1010 <= k <= 0.
    let k_int = t.to_bits() as i64 - ROUND.to_bits() as i64;
    let scale = f64::from_bits(((k_int + 1023) as u64) << 52);
    p * scale
}

/// `ln(1 + q)` and `1 / (1 + q)` for `0 <= q <= 1`, each to a few units in the last place (and
/// the logarithm to an absolute error near `1e-16` for small `q`, where `1 + q` is rounded: all
/// a sum of a thousand terms can use). One division serves both.
#[inline(always)]
fn ln_1p_and_inverse(q: f64) -> (f64, f64) {
    // m = 1 + q in [1, 2]; halve it above sqrt 2, so that m' lies in [0.71, 1.42].
    let m0 = 1.0 + q;
    let big = m0 > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m0 } else { m0 };
    let base = if big { std::f64::consts::LN_2 } else { 0.0 };
    // r = 1 / (m0 (m' + 1)) gives both 1 / m0 and 1 / (m' + 1).
    let r = 1.0 / (m0 * (m + 1.0));
    let inverse = (m + 1.0) * r;
    // ln m' = 2 atanh(s), s = (m' - 1) / (m' + 1), |s| <= 0.172: the series in s^2 to s^20 / 21.
    let s = (m - 1.0) * (m0 * r);
    let s2 = s * s;
    let mut p: f64 = 1.0 / 21.0;
    for c in [
        1.0 / 19.0,
        1.0 / 17.0,
        1.0 / 15.0,
        1.0 / 13.0,
        1.0 / 11.0,
        1.0 / 9.0,
        1.0 / 7.0,
        1.0 / 5.0,
        1.0 / 3.0,
        1.0,
    ] {
        p = p.mul_add(s2, c);
    }
    (base + 2.0 * s * p, inverse)
}

/// For each observation's linear predictor `eta[n]` and label `y[n]`: returns the sum of
/// `softplus(eta) - y eta` and replaces `eta[n]` by `sigmoid(eta) - y`, the factor of the gradient.
pub fn terms(eta: &mut [f64], y: &[f64]) -> f64 {
    assert_eq!(eta.len(), y.len(), "one label per observation");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (and so FMA), checked just above.
            return unsafe { terms_avx512(eta, y) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { terms_avx2(eta, y) };
        }
    }
    terms_portable(eta, y)
}

/// [`terms_portable`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn terms_avx512(eta: &mut [f64], y: &[f64]) -> f64 {
    terms_portable(eta, y)
}

/// [`terms_portable`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn terms_avx2(eta: &mut [f64], y: &[f64]) -> f64 {
    terms_portable(eta, y)
}

/// Sixteen partial sums, lane `l` taking the observations `16 k + l`, the rest into lane 0: two
/// AVX-512 registers' (four AVX2 registers') worth of independent work per pass, so that the
/// polynomials' chains of dependent steps overlap.
#[inline(always)]
fn terms_portable(eta: &mut [f64], y: &[f64]) -> f64 {
    #[inline(always)]
    fn one(v: &mut f64, y: f64) -> f64 {
        let x = *v;
        let q = exp_nonpositive(-x.abs());
        let (ln_1p, inverse) = ln_1p_and_inverse(q);
        let term = if x > 0.0 { x } else { 0.0 } + ln_1p - y * x;
        let num = if x > 0.0 { 1.0 } else { q };
        *v = num * inverse - y;
        term
    }
    const L: usize = 16;
    let mut acc = [0.0f64; L];
    let mut chunks = eta.chunks_exact_mut(L);
    let mut labels = y.chunks_exact(L);
    for (v, y) in (&mut chunks).zip(&mut labels) {
        for l in 0..L {
            acc[l] += one(&mut v[l], y[l]);
        }
    }
    for (v, &y) in chunks.into_remainder().iter_mut().zip(labels.remainder()) {
        acc[0] += one(v, y);
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_ln_1p_match_the_standard_library() {
        let mut x = -745.0;
        while x <= 0.0 {
            let (got, want) = (exp_nonpositive(x), x.max(-700.0).exp());
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * want,
                "exp({x}): {got} vs {want}"
            );
            x += 0.0173;
        }
        let mut q = 0.0;
        while q <= 1.0 {
            let ((got, inverse), want) = (ln_1p_and_inverse(q), q.ln_1p());
            assert!(
                (got - want).abs() <= 2e-16 + 4.0 * f64::EPSILON * want,
                "ln_1p({q}): {got} vs {want}"
            );
            let want = 1.0 / (1.0 + q);
            assert!(
                (inverse - want).abs() <= 2.0 * f64::EPSILON * want,
                "1 / (1 + {q}): {inverse} vs {want}"
            );
            q += 1.0 / 4099.0;
        }
        assert_eq!(ln_1p_and_inverse(1.0), (std::f64::consts::LN_2, 0.5));
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn the_terms_match_the_plain_formulas_on_every_path() {
        // Predictors across the range the case meets and beyond, with both labels; a length
        // that leaves a remainder.
        let n = 1003;
        let eta: Vec<f64> = (0..n)
            .map(|i| -60.0 + 120.0 * i as f64 / n as f64)
            .collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 3 == 0) as u8 as f64).collect();
        let mut want_sum = 0.0;
        let mut want = eta.clone();
        for (v, &y) in want.iter_mut().zip(&y) {
            let x = *v;
            want_sum += x.max(0.0) + (-x.abs()).exp().ln_1p() - y * x;
            *v = 1.0 / (1.0 + (-x).exp()) - y;
        }
        let mut got = eta.clone();
        let sum = terms(&mut got, &y);
        assert!(
            (sum - want_sum).abs() <= 1e-12 * want_sum.abs(),
            "{sum} vs {want_sum}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-15, "{g} vs {w}");
        }
        // Every path the processor has agrees with the portable one to the last bit.
        let mut portable = eta.clone();
        assert_eq!(terms_portable(&mut portable, &y).to_bits(), sum.to_bits());
        assert_eq!(portable, got);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                let mut v = eta.clone();
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                assert_eq!(unsafe { terms_avx2(&mut v, &y) }.to_bits(), sum.to_bits());
                assert_eq!(v, got);
            }
            if has!("avx512f") {
                let mut v = eta.clone();
                // SAFETY: the CPU supports AVX-512F, checked just above.
                assert_eq!(unsafe { terms_avx512(&mut v, &y) }.to_bits(), sum.to_bits());
                assert_eq!(v, got);
            }
        }
    }
}
