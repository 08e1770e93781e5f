//! The per-observation terms of `logreg25`'s density, sixteen observations at a time.
//!
//! With `q = e^-|v|`, `softplus(v) = max(v, 0) + ln(1 + q)` and `sigmoid(v) = 1 / (1 + q)` for
//! `v > 0`, `q / (1 + q)` otherwise. The standard library's `exp` and `ln_1p` are calls, one value
//! at a time, and took over half of the case's time. Here the exponential is
//! `ebm_kernels::math::exp`, a polynomial without branches that the compiler runs in vector
//! registers, and the logarithms are summed as the logarithm of a product: each factor `1 + q`
//! lies in `(1, 2]`, so 960 of them multiply without overflow, and one logarithm serves them all. Both samplers of the case (ours and the
//! nuts-rs peer) call this same code.
//!
//! The polynomial's steps are fused multiply-adds, so the results are the same to the last bit
//! with and without AVX2 and FMA (without them `mul_add` is computed exactly, only slower).

/// For each observation's linear predictor `eta[n]` and label `y[n]`: returns the sum of
/// `softplus(eta) - y eta` and replaces `eta[n]` by `sigmoid(eta) - y`, the factor of the gradient.
pub fn terms(eta: &mut [f64], y: &[f64]) -> f64 {
    assert_eq!(eta.len(), y.len(), "one label per observation");
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx2") && has!("fma") {
            // SAFETY: the CPU supports AVX-512F, AVX2 and FMA, checked just above.
            return unsafe { terms_avx512(eta, y) };
        }
        if has!("avx2") && has!("fma") {
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

/// Lanes of sixteen observations. Lane `l` sums `max(v, 0) - y v` and multiplies the factors
/// `1 + q` of the observations `16 k + l` (the rest go to lane 0); every 60 passes, and at the end,
/// the lanes' products (each at most `2^60`, together at most `2^960`) are multiplied and their
/// logarithm added. A product of 960 rounded factors is within about `1e-13` of its value
/// relative, so the logarithm is within about `1e-13` absolute.
#[inline(always)]
fn terms_portable(eta: &mut [f64], y: &[f64]) -> f64 {
    const L: usize = 16;
    const FLUSH: usize = 60;
    /// Updates one observation; returns `max(v, 0) - y v` and `1 + q`.
    #[inline(always)]
    fn one(v: &mut f64, y: f64) -> (f64, f64) {
        let x = *v;
        let q = ebm_kernels::math::exp(-x.abs());
        let m = 1.0 + q;
        let num = if x > 0.0 { 1.0 } else { q };
        *v = num / m - y;
        ((if x > 0.0 { x } else { 0.0 }) - y * x, m)
    }
    fn log_of_products(prod: &mut [f64; L]) -> f64 {
        let all = prod.iter().product::<f64>();
        *prod = [1.0; L];
        all.ln()
    }
    let mut linear = [0.0f64; L];
    let mut prod = [1.0f64; L];
    let mut logs = 0.0;
    let mut chunks = eta.chunks_exact_mut(L);
    let mut labels = y.chunks_exact(L);
    let mut passes = 0;
    for (v, y) in (&mut chunks).zip(&mut labels) {
        for l in 0..L {
            let (lin, m) = one(&mut v[l], y[l]);
            linear[l] += lin;
            prod[l] *= m;
        }
        passes += 1;
        if passes == FLUSH {
            logs += log_of_products(&mut prod);
            passes = 0;
        }
    }
    // At most 15 more factors in lane 0: at most 2^75 there, 2^975 in all.
    for (v, &y) in chunks.into_remainder().iter_mut().zip(labels.remainder()) {
        let (lin, m) = one(v, y);
        linear[0] += lin;
        prod[0] *= m;
    }
    logs += log_of_products(&mut prod);
    linear.iter().sum::<f64>() + logs
}

#[cfg(test)]
mod tests {
    use super::*;

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
            if has!("avx512f") && has!("avx2") && has!("fma") {
                let mut v = eta.clone();
                // SAFETY: the CPU supports AVX-512F, AVX2 and FMA, checked just above.
                assert_eq!(unsafe { terms_avx512(&mut v, &y) }.to_bits(), sum.to_bits());
                assert_eq!(v, got);
            }
        }
    }
}
