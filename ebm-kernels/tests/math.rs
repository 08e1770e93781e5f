//! The vectorised `f64` functions against the standard library: within 2 units in the last place
//! at points spread over every exponent of their domain, the special values exact, and the slice
//! forms (compiled for the processor's widest vector unit) bit for bit the scalar ones.

use ebm_kernels::math;

/// SplitMix64: a fixed, dependency-free stream of test points.
struct Points(u64);

impl Points {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float of random sign, mantissa and exponent (every binade equally likely), finite.
    fn any_finite(&mut self) -> f64 {
        loop {
            let v = f64::from_bits(self.next());
            if v.is_finite() {
                return v;
            }
        }
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// The distance in units in the last place between `a` and `b` (0 for equal bits, for two NaNs
/// and for `+0` against `-0`; `u64::MAX` when only one is NaN).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    // Order the bit patterns as the values are ordered.
    let key = |x: f64| {
        let b = x.to_bits() as i64;
        if b < 0 {
            i64::MIN - b
        } else {
            b
        }
    };
    key(a).abs_diff(key(b))
}

/// Checks `f` against `reference` at `points`, and `slice` against `f` bit for bit; returns the
/// largest distance seen.
fn check(
    name: &str,
    points: &[f64],
    f: fn(f64) -> f64,
    slice: fn(&mut [f64]),
    reference: impl Fn(f64) -> f64,
) -> u64 {
    let mut worst = (0, 0.0);
    for &x in points {
        let d = ulps(f(x), reference(x));
        if d > worst.0 {
            worst = (d, x);
        }
    }
    assert!(
        worst.0 <= 2,
        "{name}({:e}) = {:e}, the standard library's {:e}: {} ulp",
        worst.1,
        f(worst.1),
        reference(worst.1),
        worst.0
    );
    let mut v = points.to_vec();
    slice(&mut v);
    for (&x, &y) in points.iter().zip(&v) {
        assert_eq!(y.to_bits(), f(x).to_bits(), "{name} slice at {x:e}");
    }
    worst.0
}

fn exp_points() -> Vec<f64> {
    let mut p = Points(1);
    let mut v: Vec<f64> = (0..400_000).map(|_| p.uniform(-746.0, 710.0)).collect();
    // Every exponent: small arguments, where e^x is near 1, and huge ones, where it saturates.
    v.extend((0..400_000).map(|_| p.any_finite()));
    // Around the overflow and underflow thresholds and through the subnormal results.
    v.extend((0..100_000).map(|_| p.uniform(-745.2, -708.0)));
    v.extend((0..50_000).map(|_| p.uniform(709.0, 709.8)));
    v.extend([
        0.0,
        -0.0,
        1.0,
        -1.0,
        709.782_712_893_383_9,
        709.782_712_893_384,
        -745.133_219_101_941_1,
        -745.133_219_101_941_2,
        -708.396_418_532_264_1,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]);
    v
}

fn log1p_points() -> Vec<f64> {
    let mut p = Points(2);
    let mut v: Vec<f64> = (0..400_000).map(|_| p.any_finite().abs()).collect();
    v.extend((0..200_000).map(|_| -p.uniform(0.0, 1.0)));
    // Every exponent below 1 in magnitude, both signs.
    v.extend((0..200_000).map(|_| {
        let x = p.any_finite();
        if x.abs() < 1.0 {
            x
        } else {
            1.0 / x
        }
    }));
    // Near -1, where 1 + x loses most bits, and near 0 and the reduction's boundaries.
    v.extend((0..50_000).map(|_| -1.0 + p.uniform(0.0, 1e-3)));
    v.extend((0..50_000).map(|_| p.uniform(-0.3, 0.5)));
    v.extend([
        0.0,
        -0.0,
        -1.0,
        -1.0 + f64::EPSILON / 2.0,
        -0.5,
        std::f64::consts::SQRT_2 - 1.0,
        std::f64::consts::FRAC_1_SQRT_2 - 1.0,
        1.0,
        1e-300,
        -1e-300,
        5e-324,
        -5e-324,
        9_007_199_254_740_992.0,
        f64::MAX,
        f64::INFINITY,
        f64::NAN,
    ]);
    v
}

#[test]
fn exp_is_within_two_ulp_of_the_standard_library() {
    let worst = check("exp", &exp_points(), math::exp, math::exp_slice, f64::exp);
    eprintln!("exp: at most {worst} ulp");
}

#[test]
fn ln_is_within_two_ulp_of_the_standard_library() {
    let mut p = Points(5);
    let mut points: Vec<f64> = (0..600_000).map(|_| p.any_finite().abs()).collect();
    points.extend((0..200_000).map(|_| p.uniform(0.5, 2.0)));
    points.extend((0..50_000).map(|_| f64::from_bits(p.next() % (1u64 << 52))));
    points.extend([
        1.0,
        2.0,
        0.5,
        std::f64::consts::E,
        std::f64::consts::SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        0.0,
        -0.0,
        -1.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]);
    let worst = check("ln", &points, math::ln, math::ln_slice, f64::ln);
    eprintln!("ln: at most {worst} ulp");
}

#[test]
fn log1p_is_within_two_ulp_of_the_standard_library() {
    let worst = check(
        "log1p",
        &log1p_points(),
        math::log1p,
        math::log1p_slice,
        f64::ln_1p,
    );
    eprintln!("log1p: at most {worst} ulp");
}

#[test]
fn softplus_is_within_two_ulp_of_its_definition() {
    let mut p = Points(3);
    let mut points: Vec<f64> = (0..400_000).map(|_| p.uniform(-750.0, 750.0)).collect();
    points.extend((0..200_000).map(|_| p.uniform(-40.0, 40.0)));
    points.extend((0..200_000).map(|_| p.any_finite()));
    points.extend([
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        36.0,
        -36.0,
    ]);
    // ln(1 + e^x) through the standard library, in the form that loses nothing to overflow or
    // cancellation.
    let reference = |x: f64| {
        if x > 0.0 {
            x + (-x).exp().ln_1p()
        } else {
            x.exp().ln_1p()
        }
    };
    let worst = check(
        "softplus",
        &points,
        math::softplus,
        math::softplus_slice,
        reference,
    );
    eprintln!("softplus: at most {worst} ulp");
}

#[test]
fn special_values_are_exact() {
    const INF: f64 = f64::INFINITY;
    const NEG_INF: f64 = f64::NEG_INFINITY;
    const NAN: f64 = f64::NAN;
    assert_eq!(math::exp(NEG_INF), 0.0);
    assert_eq!(math::exp(INF), INF);
    assert_eq!(math::exp(710.0), INF);
    assert_eq!(math::exp(-746.0), 0.0);
    assert_eq!(math::exp(0.0), 1.0);
    assert_eq!(math::exp(-0.0), 1.0);
    assert!(math::exp(NAN).is_nan());
    // The smallest subnormal is reached, not flushed to zero.
    assert_eq!(math::exp(-744.5), 5e-324);
    assert_eq!(math::ln(0.0), NEG_INF);
    assert_eq!(math::ln(-0.0), NEG_INF);
    assert!(math::ln(-1e-300).is_nan());
    assert_eq!(math::ln(1.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(math::ln(INF), INF);
    assert!(math::ln(NAN).is_nan());
    assert_eq!(math::log1p(-1.0), NEG_INF);
    assert!(math::log1p(-1.5).is_nan());
    assert!(math::log1p(NEG_INF).is_nan());
    assert!(math::log1p(NAN).is_nan());
    assert_eq!(math::log1p(INF), INF);
    assert_eq!(math::log1p(0.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(math::log1p(-0.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(math::log1p(5e-324), 5e-324);
    assert_eq!(math::softplus(INF), INF);
    assert_eq!(math::softplus(NEG_INF), 0.0);
    assert!(math::softplus(NAN).is_nan());
    assert_eq!(math::log_add_exp(NEG_INF, NEG_INF), NEG_INF);
    assert_eq!(math::log_add_exp(INF, INF), INF);
    assert_eq!(math::log_add_exp(INF, NEG_INF), INF);
    assert_eq!(math::log_add_exp(-3.0, NEG_INF), -3.0);
    assert!(math::log_add_exp(NAN, 1.0).is_nan());
    assert_eq!(math::log_sum_exp(&[]), NEG_INF);
    assert_eq!(math::log_sum_exp(&[NEG_INF, NEG_INF]), NEG_INF);
    assert_eq!(math::log_sum_exp(&[1.0, INF]), INF);
    assert!(math::log_sum_exp(&[1.0, NAN]).is_nan());
}

#[test]
fn log_add_exp_and_log_sum_exp_agree_with_their_definitions() {
    let mut p = Points(4);
    for _ in 0..100_000 {
        let (a, b) = (p.uniform(-800.0, 800.0), p.uniform(-800.0, 800.0));
        let m = a.max(b);
        let reference = m + (-(a - b).abs()).exp().ln_1p();
        assert!(ulps(math::log_add_exp(a, b), reference) <= 2, "{a} {b}");
    }
    // Sums of many terms: against the sum in order with the standard library, to the rounding of
    // a sum of n terms (n ulp of the sum, relative to the logarithm's size).
    for n in [1usize, 3, 8, 17, 1000] {
        let x: Vec<f64> = (0..n).map(|_| p.uniform(-30.0, 30.0) + 500.0).collect();
        let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let reference = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let got = math::log_sum_exp(&x);
        assert!(
            (got - reference).abs() <= n as f64 * f64::EPSILON * reference.abs(),
            "n = {n}: {got} vs {reference}"
        );
    }
}
