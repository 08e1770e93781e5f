//! Fast standard normal draws for `f32`: a 128-layer ziggurat (Marsaglia and Tsang, 2000) that spends
//! one 32-bit random word per draw in the common case.
//!
//! The layer index comes from the low 7 bits of the word and the signed abscissa from the other 25, so
//! the two never share bits (the flaw Doornik (2005) found in the original, which reused the index
//! bits). About 98.8% of draws take the fast path: one comparison and one multiplication. The rest
//! take the exact wedge or tail test in `f64`.

use rand::{Rng, RngCore};
use std::sync::OnceLock;

/// Number of layers.
const LAYERS: usize = 128;
/// Right edge of the base layer for 128 layers.
const R: f64 = 3.442_619_855_899;
/// Area of each layer.
const V: f64 = 9.912_563_035_262_17e-3;
/// Scale of the 25-bit signed abscissa.
const SCALE: f64 = 16_777_216.0; // 2^24

struct Tables {
    /// Fast-path bounds on `|j|`, per layer.
    k: [u32; LAYERS],
    /// Abscissa scale per layer (`f32` for the fast path).
    w32: [f32; LAYERS],
    /// Abscissa scale per layer (`f64` for the wedge test).
    w: [f64; LAYERS],
    /// Density `exp(-x_i^2 / 2)` at each layer edge.
    f: [f64; LAYERS],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut k = [0u32; LAYERS];
        let mut w = [0.0f64; LAYERS];
        let mut f = [0.0f64; LAYERS];
        let mut dn = R;
        let mut tn = R;
        let q = V / (-0.5 * dn * dn).exp();
        k[0] = ((dn / q) * SCALE) as u32;
        k[1] = 0;
        w[0] = q / SCALE;
        w[LAYERS - 1] = dn / SCALE;
        f[0] = 1.0;
        f[LAYERS - 1] = (-0.5 * dn * dn).exp();
        for i in (1..LAYERS - 1).rev() {
            dn = (-2.0 * (V / dn + (-0.5 * dn * dn).exp()).ln()).sqrt();
            k[i + 1] = ((dn / tn) * SCALE) as u32;
            tn = dn;
            f[i] = (-0.5 * dn * dn).exp();
            w[i] = dn / SCALE;
        }
        let w32 = w.map(|v| v as f32);
        Tables { k, w32, w, f }
    })
}

/// One standard normal `f32` from `rng`.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let z = ebm_core::normal::standard_normal_f32(&mut rng);
/// assert!(z.is_finite());
/// ```
#[inline]
pub fn standard_normal_f32<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    let t = tables();
    loop {
        let u = rng.next_u32();
        let i = (u as usize) & (LAYERS - 1);
        let j = (u as i32) >> 7;
        if j.unsigned_abs() < t.k[i] {
            return j as f32 * t.w32[i];
        }
        if let Some(z) = slow_path(rng, t, i, j) {
            return z;
        }
    }
}

#[cold]
fn slow_path<R: RngCore + ?Sized>(rng: &mut R, t: &Tables, i: usize, j: i32) -> Option<f32> {
    if i == 0 {
        // The tail beyond R, by Marsaglia's exponential method.
        loop {
            let x = -(1.0 - rng.gen::<f64>()).ln() / R;
            let y = -(1.0 - rng.gen::<f64>()).ln();
            if y + y > x * x {
                let z = R + x;
                return Some(if j > 0 { z } else { -z } as f32);
            }
        }
    }
    let x = j as f64 * t.w[i];
    let u: f64 = rng.gen();
    if t.f[i] + u * (t.f[i - 1] - t.f[i]) < (-0.5 * x * x).exp() {
        Some(x as f32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Standard normal CDF.
    fn phi(x: f64) -> f64 {
        0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
    }

    fn draws(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| standard_normal_f32(&mut rng) as f64)
            .collect()
    }

    #[test]
    fn moments_match_the_standard_normal() {
        let n = 2_000_000;
        let x = draws(n, 1);
        let nf = n as f64;
        let mean = x.iter().sum::<f64>() / nf;
        let m2 = x.iter().map(|v| v * v).sum::<f64>() / nf;
        let m3 = x.iter().map(|v| v * v * v).sum::<f64>() / nf;
        let m4 = x.iter().map(|v| v.powi(4)).sum::<f64>() / nf;
        // Standard errors of the raw moments of N(0, 1): sqrt(Var(X^k) / n) with
        // Var(X) = 1, Var(X^2) = 2, Var(X^3) = 15, Var(X^4) = 96.
        let se = |v: f64| (v / nf).sqrt();
        assert!(mean.abs() < 5.0 * se(1.0), "mean {mean}");
        assert!((m2 - 1.0).abs() < 5.0 * se(2.0), "E[x^2] {m2}");
        assert!(m3.abs() < 5.0 * se(15.0), "E[x^3] {m3}");
        assert!((m4 - 3.0).abs() < 5.0 * se(96.0), "E[x^4] {m4}");
    }

    #[test]
    fn kolmogorov_smirnov_distance_is_small() {
        let n = 200_000;
        let mut x = draws(n, 2);
        x.sort_by(f64::total_cmp);
        let d = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = phi(v);
                (c - i as f64 / n as f64)
                    .abs()
                    .max(((i + 1) as f64 / n as f64 - c).abs())
            })
            .fold(0.0, f64::max);
        // The 0.1% critical value of the KS distance is 1.95 / sqrt(n).
        assert!(d < 1.95 / (n as f64).sqrt(), "KS distance {d}");
    }

    #[test]
    fn tails_beyond_the_base_layer_have_the_right_mass() {
        let n = 4_000_000;
        let x = draws(n, 3);
        let p = 2.0 * (1.0 - phi(R));
        let count = x.iter().filter(|v| v.abs() > R).count() as f64;
        let expect = p * n as f64;
        assert!(
            (count - expect).abs() < 5.0 * expect.sqrt(),
            "{count} vs {expect}"
        );
        assert!(x.iter().any(|v| v.abs() > 4.5), "no draw beyond 4.5 in {n}");
    }
}
