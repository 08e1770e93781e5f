//! The computations behind every public diagnostic.
//!
//! An [`Engine`] holds one dimension's draws (`values[chain * n + draw]`) and
//! reusable work buffers. Results that several diagnostics share (the sorted
//! draws, the rank-normalised split chains) are computed once per dimension
//! and cached until the next load.
//!
//! Conventions, following Vehtari et al. (2021) as ArviZ implements them:
//!
//! * Split chains: chain `c` of `n` draws gives the halves `0..n/2` and
//!   `n - n/2..n`; for odd `n` the middle draw belongs to neither. The split
//!   layout stores all first halves (chain order) and then all second halves,
//!   each of `half = n / 2` draws, `2 m half = S` values in all.
//! * Ranks are pooled over the `S` split values, ties get their average rank
//!   and `z = Phi^-1((r - 3/8) / (S + 1/4))`.
//! * Folding ranks the split values by `|x - median|`, the median being that
//!   of the split values; distances are compared exactly (see
//!   [`Engine::fold_order`]).

use crate::autocov::AutocovFft;
use crate::draws::{validate_chains, Draws};
use crate::error::DiagnosticsError;
use statrs::function::erf::erfc_inv;

/// Marks a draw that the split leaves out (the middle draw of an odd chain).
const DROPPED: usize = usize::MAX;

/// Result of the autocorrelation analysis of one set of split chains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tau {
    /// All values are equal (to within a few ulps of their magnitude): the
    /// ESS is defined as the number of values.
    Constant,
    /// Integrated autocorrelation time (floored), or NaN.
    Value(f64),
}

impl Tau {
    /// Effective sample size for `total` values.
    pub(crate) fn ess(self, total: usize) -> f64 {
        match self {
            Tau::Constant => total as f64,
            Tau::Value(tau) => total as f64 / tau,
        }
    }

    /// Effective sample size divided by the number of values.
    pub(crate) fn relative(self) -> f64 {
        match self {
            Tau::Constant => 1.0,
            Tau::Value(tau) => 1.0 / tau,
        }
    }
}

/// Reusable state for the diagnostics of one dimension at a time.
#[derive(Debug, Default)]
pub(crate) struct Engine {
    m: usize,
    n: usize,
    values: Vec<f64>,
    /// All `m n` values (with `-0.0` turned into `0.0`) in increasing order,
    /// each with its index in the split layout or [`DROPPED`].
    sorted: Vec<(f64, usize)>,
    sorted_ok: bool,
    /// Split positions in order of increasing `|x - median|`, each with a
    /// group number that is shared exactly by equal distances.
    folded: Vec<(f64, usize)>,
    /// Rank-normalised split chains.
    z: Vec<f64>,
    z_ok: bool,
    /// `ztab[r - 1]` is the normal score of integer rank `r` out of `ztab_s`.
    ztab: Vec<f64>,
    ztab_s: usize,
    /// General split-layout work buffer.
    split: Vec<f64>,
    acov: Vec<f64>,
    means: Vec<f64>,
    rho: Vec<f64>,
    fft: AutocovFft,
}

impl Engine {
    /// Validates and loads one dimension given as one slice per chain.
    pub(crate) fn load_chains(&mut self, chains: &[&[f64]]) -> Result<(), DiagnosticsError> {
        let n = validate_chains(chains)?;
        self.values.clear();
        self.values.reserve(chains.len() * n);
        for c in chains {
            self.values.extend_from_slice(c);
        }
        self.reset(chains.len(), n);
        Ok(())
    }

    /// Loads dimension `dim` of already validated draws.
    pub(crate) fn load_dimension<T: Copy + Into<f64>>(&mut self, draws: &Draws<'_, T>, dim: usize) {
        draws.copy_dimension(dim, &mut self.values);
        self.reset(draws.n_chains(), draws.n_draws());
    }

    fn reset(&mut self, m: usize, n: usize) {
        self.m = m;
        self.n = n;
        self.sorted_ok = false;
        self.z_ok = false;
    }

    fn half(&self) -> usize {
        self.n / 2
    }

    /// Number of values in the split chains.
    pub(crate) fn split_len(&self) -> usize {
        2 * self.m * self.half()
    }

    /// Index in the split layout of draw `d` of chain `c`, or [`DROPPED`].
    fn split_pos(&self, c: usize, d: usize) -> usize {
        let half = self.half();
        if d < half {
            c * half + d
        } else if d >= self.n - half {
            (self.m + c) * half + (d - (self.n - half))
        } else {
            DROPPED
        }
    }

    /// Writes `f(x)` for the split chains into `self.split`.
    fn fill_split(&mut self, f: impl Fn(f64) -> f64) {
        let (m, n, half) = (self.m, self.n, self.half());
        self.split.clear();
        self.split.resize(2 * m * half, 0.0);
        let (first, second) = self.split.split_at_mut(m * half);
        for (c, chain) in self.values.chunks_exact(n).enumerate() {
            let dst = &mut first[c * half..(c + 1) * half];
            for (o, &x) in dst.iter_mut().zip(&chain[..half]) {
                *o = f(x);
            }
            let dst = &mut second[c * half..(c + 1) * half];
            for (o, &x) in dst.iter_mut().zip(&chain[n - half..]) {
                *o = f(x);
            }
        }
    }

    fn ensure_sorted(&mut self) {
        if self.sorted_ok {
            return;
        }
        let mut sorted = std::mem::take(&mut self.sorted);
        sorted.clear();
        sorted.reserve(self.values.len());
        for c in 0..self.m {
            for d in 0..self.n {
                // Adding 0.0 turns -0.0 into 0.0 so that the total order used
                // for sorting agrees with numeric equality for ties.
                sorted.push((self.values[c * self.n + d] + 0.0, self.split_pos(c, d)));
            }
        }
        sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        self.sorted = sorted;
        self.sorted_ok = true;
    }

    fn ensure_ztab(&mut self, s: usize) {
        if self.ztab_s == s && self.ztab.len() == s {
            return;
        }
        self.ztab.clear();
        self.ztab.resize(s, 0.0);
        // Scores are antisymmetric: rank r and rank S + 1 - r have
        // probabilities p and 1 - p. Evaluating the lower half only is both
        // faster and more accurate than evaluating p close to 1.
        for i in 0..s.div_ceil(2) {
            let z = normal_score((i + 1) as f64, s);
            self.ztab[i] = z;
            self.ztab[s - 1 - i] = -z;
        }
        if s % 2 == 1 {
            self.ztab[s / 2] = 0.0;
        }
        self.ztab_s = s;
    }

    fn ensure_z(&mut self) {
        if self.z_ok {
            return;
        }
        self.ensure_sorted();
        let s = self.split_len();
        self.ensure_ztab(s);
        self.z.clear();
        self.z.resize(s, 0.0);
        assign_scores(&self.sorted, &self.ztab, s, &mut self.z);
        self.z_ok = true;
    }

    /// Orders the split values by their distance to the median of the split
    /// values, writing `(group, position)` pairs to `self.folded` with equal
    /// `group` for exactly equal distances.
    ///
    /// With `m1 <= m2` the two middle values and `mid = (m1 + m2) / 2`, a value
    /// `l` of the lower half and a value `r` of the upper half compare as
    /// `mid - l` against `r - mid`, i.e. as `m1 + m2` against `l + r`; that
    /// comparison is made exactly. Below the median the distance falls as the
    /// value rises and above it the distance rises, so merging the reversed
    /// lower half with the upper half sorts the distances without a sort.
    fn fold_order(&mut self) {
        self.ensure_sorted();
        let s = self.split_len();
        // Cut so that the lower part holds the s / 2 smallest split values.
        let mut cut = 0;
        let mut seen = 0;
        while seen < s / 2 {
            if self.sorted[cut].1 != DROPPED {
                seen += 1;
            }
            cut += 1;
        }
        let (left, right) = self.sorted.split_at(cut);
        let kept = |e: &&(f64, usize)| e.1 != DROPPED;
        let mut lower = left.iter().rev().filter(kept).peekable();
        let mut upper = right.iter().filter(kept).peekable();
        let m1 = lower.peek().map_or(0.0, |e| e.0);
        let m2 = upper.peek().map_or(0.0, |e| e.0);
        let centre = ExactSum::new(m1, m2);

        self.folded.clear();
        self.folded.reserve(s);
        let mut group = 0.0f64;
        // Previous element: (value, from the lower half).
        let mut prev: Option<(f64, bool)> = None;
        loop {
            let (&(v, pos), take_lower) = match (lower.peek(), upper.peek()) {
                (None, None) => break,
                (Some(&l), None) => (l, true),
                (None, Some(&r)) => (r, false),
                // The lower value is at least as close when l + r >= m1 + m2.
                (Some(&l), Some(&r)) => {
                    if ExactSum::new(l.0, r.0).cmp_to(&centre).is_ge() {
                        (l, true)
                    } else {
                        (r, false)
                    }
                }
            };
            if take_lower {
                lower.next();
            } else {
                upper.next();
            }
            if let Some((pv, p_lower)) = prev {
                let tied = if p_lower == take_lower {
                    pv == v
                } else {
                    ExactSum::new(pv, v).cmp_to(&centre).is_eq()
                };
                if !tied {
                    group += 1.0;
                }
            }
            prev = Some((v, take_lower));
            self.folded.push((group, pos));
        }
    }

    /// Quantile of all `m n` draws (including any middle draws that the split
    /// leaves out) by linear interpolation between order statistics at
    /// position `(m n - 1) p` (type 7, numpy's default).
    fn quantile(&mut self, p: f64) -> f64 {
        let t = self.values.len();
        let h = (t - 1) as f64 * p;
        let k = (h.floor() as usize).min(t - 1);
        let gamma = h - k as f64;
        let (lo, hi) = if self.sorted_ok {
            (self.sorted[k].0, self.sorted[(k + 1).min(t - 1)].0)
        } else {
            let buf = &mut self.split;
            buf.clear();
            buf.extend_from_slice(&self.values);
            let (_, &mut lo, right) = buf.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
            // Everything right of the k-th order statistic is at least as large.
            let hi = if right.is_empty() {
                lo
            } else {
                right.iter().copied().fold(f64::INFINITY, f64::min)
            };
            (lo, hi)
        };
        lerp(lo, hi, gamma)
    }

    /// Autocorrelation analysis of `self.split` (`2 m` chains of `half`).
    fn split_tau(&mut self, raw: bool) -> Tau {
        let (m2, half) = (2 * self.m, self.half());
        let buf = &mut self.split;
        let (lo, hi) = min_max(buf);
        if is_constant(lo, hi) {
            return Tau::Constant;
        }
        if raw {
            let f = pow2_normaliser(lo.abs().max(hi.abs()));
            if f != 1.0 {
                buf.iter_mut().for_each(|x| *x *= f);
            }
        }
        self.fft
            .acov_sum(buf, m2, half, &mut self.acov, &mut self.means);
        let inv_m = 1.0 / m2 as f64;
        self.acov.iter_mut().for_each(|a| *a *= inv_m);
        let nf = half as f64;
        let mean_var = self.acov[0] * nf / (nf - 1.0);
        let mut var_plus = mean_var * (nf - 1.0) / nf;
        if m2 > 1 {
            var_plus += var_ddof1(&self.means);
        }
        Tau::Value(geyer_tau(
            &self.acov,
            mean_var,
            var_plus,
            m2 * half,
            &mut self.rho,
        ))
    }

    /// Bulk-ESS: ESS of the rank-normalised split chains.
    pub(crate) fn bulk_tau(&mut self) -> Tau {
        self.ensure_z();
        std::mem::swap(&mut self.split, &mut self.z);
        let tau = self.split_tau(false);
        std::mem::swap(&mut self.split, &mut self.z);
        tau
    }

    /// ESS of the indicator `x <= quantile(p)` over the split chains.
    pub(crate) fn quantile_tau(&mut self, p: f64) -> Tau {
        let q = self.quantile(p);
        self.fill_split(|x| if x <= q { 1.0 } else { 0.0 });
        self.split_tau(false)
    }

    /// Tail-ESS: the smaller of the quantile ESS at 5 % and 95 %.
    pub(crate) fn ess_tail(&mut self) -> f64 {
        let s = self.split_len();
        let low = self.quantile_tau(0.05).ess(s);
        let high = self.quantile_tau(0.95).ess(s);
        if high < low {
            high
        } else {
            low
        }
    }

    /// ESS of the raw split chains (the ESS that governs the MCSE of the mean).
    pub(crate) fn mean_tau(&mut self) -> Tau {
        self.fill_split(|x| x);
        self.split_tau(true)
    }

    /// Rank-normalised split R-hat: the larger of the split R-hat of the
    /// normal scores and of the folded normal scores. With `guard`, fewer
    /// than two chains give NaN.
    pub(crate) fn rhat_rank(&mut self, guard: bool) -> f64 {
        if guard && self.m < 2 {
            return f64::NAN;
        }
        self.ensure_z();
        let (m2, half) = (2 * self.m, self.half());
        let bulk = rhat_of_split(&self.z, m2, half, &mut self.means);

        self.fold_order();
        let s = self.split_len();
        self.split.clear();
        self.split.resize(s, 0.0);
        assign_scores(&self.folded, &self.ztab, s, &mut self.split);
        let tail = rhat_of_split(&self.split, m2, half, &mut self.means);
        if tail > bulk {
            tail
        } else {
            bulk
        }
    }

    /// Classic split R-hat of the raw values (no rank normalisation).
    pub(crate) fn rhat_split(&mut self) -> f64 {
        if self.m < 2 {
            return f64::NAN;
        }
        let max_abs = self.values.iter().fold(0.0f64, |a, &x| a.max(x.abs()));
        let f = pow2_normaliser(max_abs);
        self.fill_split(|x| x * f);
        rhat_of_split(&self.split, 2 * self.m, self.half(), &mut self.means)
    }

    /// Mean and standard deviation (ddof 1) of all `m n` draws.
    pub(crate) fn mean_sd(&self) -> (f64, f64) {
        let max_abs = self.values.iter().fold(0.0f64, |a, &x| a.max(x.abs()));
        let f = pow2_normaliser(max_abs);
        let t = self.values.len() as f64;
        let mean = self.values.iter().map(|&x| x * f).sum::<f64>() / t;
        let ss = self
            .values
            .iter()
            .map(|&x| {
                let d = x * f - mean;
                d * d
            })
            .sum::<f64>();
        ((mean / f), (ss / (t - 1.0)).sqrt() / f)
    }
}

/// Normal score of (possibly averaged) rank `r` among `s` values.
fn normal_score(r: f64, s: usize) -> f64 {
    let p = (r - 0.375) / (s as f64 + 0.25);
    // Phi^-1(p) = -sqrt(2) erfc^-1(2p); p lies strictly inside (0, 1).
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

/// Writes the normal score of each value's average rank to `out[pos]`, given
/// values in increasing order with their split positions (or [`DROPPED`]).
fn assign_scores(order: &[(f64, usize)], ztab: &[f64], s: usize, out: &mut [f64]) {
    let mut below = 0usize;
    let mut i = 0;
    while i < order.len() {
        let v = order[i].0;
        let mut j = i + 1;
        while j < order.len() && order[j].0 == v {
            j += 1;
        }
        let group = &order[i..j];
        let k = group.iter().filter(|e| e.1 != DROPPED).count();
        if k > 0 {
            // Ranks below+1 ..= below+k, average (2 below + k + 1) / 2.
            let twice = 2 * below + k + 1;
            let z = if twice % 2 == 0 {
                ztab[twice / 2 - 1]
            } else {
                normal_score(twice as f64 * 0.5, s)
            };
            for e in group {
                if e.1 != DROPPED {
                    out[e.1] = z;
                }
            }
            below += k;
        }
        i = j;
    }
}

/// Geyer's initial positive then initial monotone sequence estimate of the
/// integrated autocorrelation time, from the chain-averaged autocovariances.
///
/// `rho[t] = 1 - (mean_var - acov[t]) / var_plus` (Vehtari et al. 2021,
/// eq. 10). Pairs `rho[t] + rho[t+1]` (`t` even) are accumulated while their
/// sum is positive; the first non-positive pair ends the sum, except that its
/// even member is kept once when it is positive. The pair sums are then made
/// non-increasing. `tau = -1 + 2 sum_{t <= T} rho[t] + rho[T + 1]`, floored at
/// `1 / log10(total)`.
fn geyer_tau(acov: &[f64], mean_var: f64, var_plus: f64, total: usize, rho: &mut Vec<f64>) -> f64 {
    let n = acov.len();
    let rho_at = |t: usize| 1.0 - (mean_var - acov[t]) / var_plus;
    rho.clear();
    rho.resize(n, 0.0);
    rho[0] = 1.0;
    let mut even = 1.0;
    let mut odd = rho_at(1);
    rho[1] = odd;
    // Invariant: rho[0..t+1] holds accepted values; the pair (t+1, t+2) is next.
    let mut t = 1;
    while t + 3 < n && even + odd > 0.0 {
        even = rho_at(t + 1);
        odd = rho_at(t + 2);
        if even + odd >= 0.0 {
            rho[t + 1] = even;
            rho[t + 2] = odd;
        }
        t += 2;
    }
    // Values rho[0..last] enter the sum twice, rho[last] once (last = t - 1).
    let last = t - 1;
    if even > 0.0 {
        rho[last] = even;
    }
    let mut u = 1;
    while u + 3 <= last {
        let prev = rho[u - 1] + rho[u];
        if rho[u + 1] + rho[u + 2] > prev {
            rho[u + 1] = prev / 2.0;
            rho[u + 2] = rho[u + 1];
        }
        u += 2;
    }
    if rho.iter().any(|r| r.is_nan()) {
        return f64::NAN;
    }
    let tau = -1.0 + 2.0 * rho[..last].iter().sum::<f64>() + rho[last];
    let floor = 1.0 / (total as f64).log10();
    if tau.is_nan() {
        f64::NAN
    } else if tau < floor {
        floor
    } else {
        tau
    }
}

/// Split R-hat of `m` chains of `n` values stored contiguously:
/// `sqrt((B / W + n - 1) / n)` with `B = n var(chain means)` and `W` the mean
/// within-chain variance (both ddof 1). NaN when every chain is constant at
/// the same value, infinite when chains are constant at different values.
fn rhat_of_split(buf: &[f64], m: usize, n: usize, means: &mut Vec<f64>) -> f64 {
    means.clear();
    let mut within = 0.0;
    for c in buf.chunks_exact(n) {
        let mean = c.iter().sum::<f64>() / n as f64;
        let ss = c.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>();
        within += ss / (n as f64 - 1.0);
        means.push(mean);
    }
    within /= m as f64;
    let between = n as f64 * var_ddof1(means);
    ((between / within + n as f64 - 1.0) / n as f64).sqrt()
}

/// Sample variance with ddof 1 (two-pass). Needs at least two values.
fn var_ddof1(x: &[f64]) -> f64 {
    let k = x.len() as f64;
    let mean = x.iter().sum::<f64>() / k;
    x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / (k - 1.0)
}

fn min_max(x: &[f64]) -> (f64, f64) {
    x.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// True when the spread `hi - lo` is within a few ulps of the magnitude.
///
/// ArviZ uses the absolute test `hi - lo < 1e-15`; for normal scores and
/// indicators (the inputs of bulk- and tail-ESS) the two tests agree, and
/// for raw draws this one keeps the ESS of the mean independent of the units.
fn is_constant(lo: f64, hi: f64) -> bool {
    hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs())
}

/// A power of two that brings values of magnitude `max_abs` near 1, so that
/// sums of squares and power spectra can neither overflow nor underflow.
/// Multiplying by a power of two is exact and commutes with rounding, so the
/// scale-free diagnostics (ESS, R-hat) are unchanged bit for bit, and mean and
/// sd are recovered exactly by dividing by the same factor.
fn pow2_normaliser(max_abs: f64) -> f64 {
    if max_abs > 0.0 && max_abs.is_finite() {
        let e = max_abs.log2().round().clamp(-1020.0, 1020.0) as i32;
        2f64.powi(-e)
    } else {
        1.0
    }
}

/// `a + t (b - a)` for `0 <= t <= 1`, evaluated from the nearer end (as
/// numpy does) so that `t = 0` gives `a` and `t = 1` gives `b` exactly.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if a == b || t == 0.0 {
        a
    } else if !d.is_finite() {
        (1.0 - t) * a + t * b
    } else if t < 0.5 {
        a + d * t
    } else {
        b - d * (1.0 - t)
    }
}

/// The exact sum of two doubles as an unevaluated pair `hi + lo`, with
/// `hi = fl(a + b)` (Knuth's two-sum). Sums that overflow are formed from the
/// halves of the operands instead; both sides of a comparison are then halved.
#[derive(Debug, Clone, Copy)]
struct ExactSum {
    hi: f64,
    lo: f64,
    halved: bool,
}

impl ExactSum {
    fn new(a: f64, b: f64) -> Self {
        let (hi, lo) = two_sum(a, b);
        if hi.is_finite() {
            Self {
                hi,
                lo,
                halved: false,
            }
        } else {
            let (hi, lo) = two_sum(a * 0.5, b * 0.5);
            Self {
                hi,
                lo,
                halved: true,
            }
        }
    }

    fn halve(self) -> Self {
        if self.halved {
            self
        } else {
            Self {
                hi: self.hi * 0.5,
                lo: self.lo * 0.5,
                halved: true,
            }
        }
    }

    /// Exact comparison of the two sums. Rounding to nearest is monotone, so
    /// `fl(x) > fl(y)` implies `x > y`; with equal leading parts the exact
    /// rounding errors decide.
    fn cmp_to(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = if self.halved == other.halved {
            (*self, *other)
        } else {
            (self.halve(), other.halve())
        };
        cmp_f64(a.hi, b.hi).then(cmp_f64(a.lo, b.lo))
    }
}

/// Numeric comparison (`-0.0 == 0.0`); the operands are never NaN here.
fn cmp_f64(x: f64, y: f64) -> std::cmp::Ordering {
    if x < y {
        std::cmp::Ordering::Less
    } else if x > y {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

/// `(fl(a + b), exact error)`.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(chains: &[&[f64]]) -> Engine {
        let mut e = Engine::default();
        e.load_chains(chains).unwrap();
        e
    }

    #[test]
    fn split_positions_drop_the_middle_of_odd_chains() {
        let a = [0.0, 1.0, 2.0, 3.0, 4.0];
        let b = [10.0, 11.0, 12.0, 13.0, 14.0];
        let mut e = engine(&[&a, &b]);
        e.fill_split(|x| x);
        // First halves of both chains, then second halves.
        assert_eq!(e.split, vec![0.0, 1.0, 10.0, 11.0, 3.0, 4.0, 13.0, 14.0]);
        assert_eq!(e.split_pos(0, 2), DROPPED);
        assert_eq!(e.split_pos(1, 4), 7);
    }

    #[test]
    fn average_ranks_for_ties() {
        // Split layout of [[3, 1, 2, 2]] is [3, 1, 2, 2]: ranks 4, 1, 2.5, 2.5.
        let a = [3.0, 1.0, 2.0, 2.0];
        let mut e = engine(&[&a]);
        e.ensure_z();
        let expected: Vec<f64> = [4.0, 1.0, 2.5, 2.5]
            .iter()
            .map(|&r| normal_score(r, 4))
            .collect();
        assert_eq!(e.z, expected);
        // Normal scores of ranks 1 and 4 of 4: p = 0.625 / 4.25 and 1 - p;
        // reference value from Python's statistics.NormalDist().inv_cdf.
        assert!(
            (e.z[1] - (-1.049_131_397_963_971_1)).abs() < 1e-12,
            "{}",
            e.z[1]
        );
        assert_eq!(e.z[0], -e.z[1]);
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        let a = [0.0, -0.0, 1.0, 2.0];
        let mut e = engine(&[&a]);
        e.ensure_z();
        assert_eq!(e.z[0], e.z[1]);
    }

    #[test]
    fn type7_quantile_interpolates_linearly() {
        let a: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let mut e = engine(&[&a]);
        // (n - 1) p = 0.45: between the 1st and 2nd smallest.
        assert!((e.quantile(0.05) - 1.45).abs() < 1e-12);
        assert!((e.quantile(0.95) - 9.55).abs() < 1e-12);
        assert_eq!(e.quantile(0.0), 1.0);
        assert_eq!(e.quantile(1.0), 10.0);
        // Same answers from the sorted path.
        e.ensure_sorted();
        assert!((e.quantile(0.05) - 1.45).abs() < 1e-12);
        assert!((e.quantile(0.95) - 9.55).abs() < 1e-12);
    }

    /// Folded order as (position, group) pairs sorted by position.
    fn fold_groups(chains: &[&[f64]]) -> Vec<(usize, f64)> {
        let mut e = engine(chains);
        e.fold_order();
        let mut g: Vec<(usize, f64)> = e.folded.iter().map(|&(g, p)| (p, g)).collect();
        g.sort_by_key(|x| x.0);
        g
    }

    #[test]
    fn folding_ties_are_exact() {
        // One chain of four: split positions follow the chain order. Middle
        // values 0.1 and 0.7: in floating point |0.1 - 0.4| and |0.7 - 0.4|
        // differ, exactly they are equal. -2.0 and 3.0 are 2.4 and 2.6 away.
        let g = fold_groups(&[&[0.7, -2.0, 0.1, 3.0]]);
        let groups: Vec<f64> = g.iter().map(|x| x.1).collect();
        assert_eq!(groups, vec![0.0, 1.0, 0.0, 2.0]);
        // Cross-side tie away from the middle: -1 + 1.75 = 0.25 + 0.5.
        let g = fold_groups(&[&[0.5, -1.0, 0.25, 1.75]]);
        let groups: Vec<f64> = g.iter().map(|x| x.1).collect();
        assert_eq!(groups, vec![0.0, 1.0, 0.0, 1.0]);
        // Ties of equal values on one side.
        let g = fold_groups(&[&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0]]);
        let groups: Vec<f64> = g.iter().map(|x| x.1).collect();
        // Halves [0, 0, 1] and [1, 5, 5]; median 1, distances 1, 1, 0, 0, 4, 4.
        assert_eq!(groups, vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
    }

    #[test]
    fn folding_skips_dropped_draws() {
        // Split values {1, 2, 4, 5} and {100, 101, 103, 104}; 3 and 102 are
        // dropped. Median 52.5: distances 51.5 (5), 47.5 (100), ...
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [100.0, 101.0, 102.0, 103.0, 104.0];
        let mut e = engine(&[&a, &b]);
        e.fold_order();
        assert_eq!(e.folded.len(), 8);
        let order: Vec<usize> = e.folded.iter().map(|x| x.1).collect();
        // Positions: chain 0 halves at 0,1 (1, 2) and 4,5 (4, 5); chain 1 at
        // 2,3 (100, 101) and 6,7 (103, 104). 5 and 100 tie at 47.5 from 52.5.
        assert_eq!(order, vec![5, 2, 4, 3, 1, 6, 0, 7]);
        let groups: Vec<f64> = e.folded.iter().map(|x| x.0).collect();
        assert_eq!(groups, vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    }

    #[test]
    fn hand_computed_split_rhat() {
        // Halves [1,2],[2,3] then [3,4],[4,5]: means 1.5, 2.5, 3.5, 4.5, each
        // within variance 0.5. var(means) = 5/3, B = 2 * 5/3, W = 0.5,
        // R-hat = sqrt((B / W + 1) / 2) = sqrt(23 / 6).
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [2.0, 3.0, 4.0, 5.0];
        let mut e = engine(&[&a, &b]);
        let r = e.rhat_split();
        assert!((r - (23.0f64 / 6.0).sqrt()).abs() < 1e-14, "{r}");
    }

    #[test]
    fn geyer_on_known_autocorrelations() {
        // acov = rho^t with var_plus = mean_var = 1: rho_t = acov_t. For
        // rho = 0.5 and a long sequence, tau = (1 + rho) / (1 - rho) = 3 up
        // to the truncated tail (pairs stay positive to the end).
        let acov: Vec<f64> = (0..200).map(|t| 0.5f64.powi(t)).collect();
        let mut rho = Vec::new();
        let tau = geyer_tau(&acov, 1.0, 1.0, 1_000_000, &mut rho);
        assert!((tau - 3.0).abs() < 1e-12, "{tau}");
        // A sequence 1, -0.2, then zeros: pair (rho2, rho3) = 0 ends the
        // positive run immediately after one step. tau = -1 + 2 (1 - 0.2) = 0.6,
        // then the floor 1 / log10(100) = 0.5 does not apply.
        let mut acov = vec![0.0; 50];
        acov[0] = 1.0;
        acov[1] = -0.2;
        let tau = geyer_tau(&acov, 1.0, 1.0, 100, &mut rho);
        assert!((tau - 0.6).abs() < 1e-12, "{tau}");
        // Strong antithetic sequence: floored.
        acov[1] = -0.9;
        let tau = geyer_tau(&acov, 1.0, 1.0, 100, &mut rho);
        assert_eq!(tau, 0.5);
    }

    #[test]
    fn constant_input_is_defined() {
        let a = [2.5; 6];
        let mut e = engine(&[&a, &a]);
        assert_eq!(e.bulk_tau(), Tau::Constant);
        assert_eq!(e.mean_tau().ess(e.split_len()), 12.0);
        assert_eq!(e.ess_tail(), 12.0);
        assert!(e.rhat_rank(true).is_nan());
        assert_eq!(e.mean_sd(), (2.5, 0.0));
    }

    #[test]
    fn scale_helpers() {
        assert_eq!(pow2_normaliser(1.0), 1.0);
        assert_eq!(pow2_normaliser(0.0), 1.0);
        let f = pow2_normaliser(1e300);
        assert!(f * 1e300 > 0.5 && f * 1e300 < 2.0);
        let f = pow2_normaliser(5e-324);
        assert!(f.is_finite() && f * 5e-324 > 0.0);
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 1.0), 3.0);
        assert_eq!(lerp(-f64::MAX, f64::MAX, 0.5), 0.0);
        let big = ExactSum::new(f64::MAX, f64::MAX);
        assert!(big.halved);
        assert!(ExactSum::new(1.0, 1e-30)
            .cmp_to(&ExactSum::new(1.0, 0.0))
            .is_gt());
        assert!(big.cmp_to(&ExactSum::new(1.0, 2.0)).is_gt());
        assert!(is_constant(1.0, 1.0 + f64::EPSILON));
        assert!(!is_constant(1e-300, 2e-300));
    }
}
