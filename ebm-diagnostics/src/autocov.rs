//! Autocovariances of many chains by zero-padded FFT.
//!
//! Only the sum of the autocovariances over chains is needed, and that is the
//! inverse transform of the summed power spectra, so each diagnostic costs one
//! forward transform per pair of chains and a single inverse transform.
//!
//! Two real centred chains `a` and `b` are transformed together as the complex
//! sequence `z = a + i b`. The inverse transform of `|Z_k|^2` is the circular
//! autocorrelation `sum_s conj(z_s) z_{s+t}`, whose real part is
//! `r_a(t) + r_b(t)` (the cross terms only enter the imaginary part). Zero
//! padding to `L >= 2n` makes the circular correlations equal the linear ones
//! for lags `0..n`.

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

type Plan = Arc<dyn Fft<f64>>;

/// FFT plans and buffers, reused across chains, ESS computations and
/// dimensions.
pub(crate) struct AutocovFft {
    planner: FftPlanner<f64>,
    plans: Option<(usize, Plan, Plan)>,
    buf: Vec<Complex<f64>>,
    power: Vec<f64>,
    scratch: Vec<Complex<f64>>,
}

impl std::fmt::Debug for AutocovFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutocovFft")
            .field("len", &self.plans.as_ref().map(|p| p.0))
            .finish()
    }
}

impl Default for AutocovFft {
    fn default() -> Self {
        Self {
            planner: FftPlanner::new(),
            plans: None,
            buf: Vec::new(),
            power: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

/// Smallest `2^a 3^b` that is at least `target` (rustfft is fastest on such
/// lengths).
pub(crate) fn fast_len(target: usize) -> usize {
    let target = target.max(1);
    let mut best = usize::MAX;
    let mut p3: usize = 1;
    loop {
        let mut v = p3;
        while v < target {
            match v.checked_mul(2) {
                Some(w) => v = w,
                None => break,
            }
        }
        if v >= target {
            best = best.min(v);
        }
        match p3.checked_mul(3) {
            Some(w) if p3 < target => p3 = w,
            _ => break,
        }
    }
    best
}

impl AutocovFft {
    fn plans(&mut self, len: usize) -> (Plan, Plan) {
        match &self.plans {
            Some((l, f, i)) if *l == len => (Arc::clone(f), Arc::clone(i)),
            _ => {
                let f = self.planner.plan_fft_forward(len);
                let i = self.planner.plan_fft_inverse(len);
                self.plans = Some((len, Arc::clone(&f), Arc::clone(&i)));
                (f, i)
            }
        }
    }

    /// For `m` chains of `n` draws stored contiguously in `chains`, overwrites
    /// `sum` (resized to `n`) with the sum over chains of the biased
    /// autocovariance `acov_c[t] = (1/n) sum_s (x_s - mean_c)(x_{s+t} - mean_c)`
    /// for `t in 0..n`, and `means` with the chain means.
    pub(crate) fn acov_sum(
        &mut self,
        chains: &[f64],
        m: usize,
        n: usize,
        sum: &mut Vec<f64>,
        means: &mut Vec<f64>,
    ) {
        debug_assert_eq!(chains.len(), m * n);
        sum.clear();
        sum.resize(n, 0.0);
        means.clear();
        means.extend(
            chains
                .chunks_exact(n)
                .map(|c| c.iter().sum::<f64>() / n as f64),
        );
        if n == 0 {
            return;
        }
        let len = fast_len(2 * n);
        let (fwd, inv) = self.plans(len);
        let scratch_len = fwd
            .get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len());
        if self.scratch.len() < scratch_len {
            self.scratch.resize(scratch_len, Complex::new(0.0, 0.0));
        }
        self.buf.clear();
        self.buf.resize(len, Complex::new(0.0, 0.0));
        self.power.clear();
        self.power.resize(len, 0.0);
        let scratch = &mut self.scratch[..scratch_len];

        for (pair, pair_means) in chains.chunks(2 * n).zip(means.chunks(2)) {
            let a = &pair[..n];
            let mean_a = pair_means[0];
            match (pair.get(n..), pair_means.get(1)) {
                (Some(b), Some(&mean_b)) if b.len() == n => {
                    for ((z, &x), &y) in self.buf.iter_mut().zip(a).zip(b) {
                        *z = Complex::new(x - mean_a, y - mean_b);
                    }
                }
                _ => {
                    for (z, &x) in self.buf.iter_mut().zip(a) {
                        *z = Complex::new(x - mean_a, 0.0);
                    }
                }
            }
            for z in &mut self.buf[n..] {
                *z = Complex::new(0.0, 0.0);
            }
            fwd.process_with_scratch(&mut self.buf, scratch);
            for (p, z) in self.power.iter_mut().zip(&self.buf) {
                *p += z.norm_sqr();
            }
        }
        for (z, &p) in self.buf.iter_mut().zip(&self.power) {
            *z = Complex::new(p, 0.0);
        }
        inv.process_with_scratch(&mut self.buf, scratch);
        // rustfft does not normalise: divide by L, and by n for the biased
        // autocovariance.
        let scale = 1.0 / (len as f64 * n as f64);
        for (s, z) in sum.iter_mut().zip(&self.buf[..n]) {
            *s = z.re * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_len_is_smallest_3_smooth_power() {
        assert_eq!(fast_len(1), 1);
        assert_eq!(fast_len(5), 6);
        assert_eq!(fast_len(7), 8);
        assert_eq!(fast_len(10), 12);
        assert_eq!(fast_len(17), 18);
        assert_eq!(fast_len(1_000_000), 1_048_576);
        assert_eq!(fast_len(1_990_000), 1_990_656);
    }

    /// Direct O(n^2) biased autocovariance, written from the definition.
    fn direct(x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let mean = x.iter().sum::<f64>() / n as f64;
        (0..n)
            .map(|t| {
                (0..n - t)
                    .map(|s| (x[s] - mean) * (x[s + t] - mean))
                    .sum::<f64>()
                    / n as f64
            })
            .collect()
    }

    #[test]
    fn matches_direct_sum_for_odd_and_even_chain_counts() {
        let data: Vec<f64> = (0..7 * 13)
            .map(|i| ((i * 37 % 101) as f64).sin() * 3.0 + (i % 5) as f64)
            .collect();
        for m in [1usize, 2, 3, 7] {
            let n = 13;
            let chains = &data[..m * n];
            let mut fft = AutocovFft::default();
            let (mut sum, mut means) = (Vec::new(), Vec::new());
            fft.acov_sum(chains, m, n, &mut sum, &mut means);
            let mut expected = vec![0.0; n];
            for c in chains.chunks_exact(n) {
                for (e, d) in expected.iter_mut().zip(direct(c)) {
                    *e += d;
                }
            }
            for (t, (got, want)) in sum.iter().zip(&expected).enumerate() {
                assert!(
                    (got - want).abs() < 1e-12 * expected[0].abs(),
                    "m={m} lag {t}: {got} vs {want}"
                );
            }
            assert_eq!(means.len(), m);
        }
    }
}
