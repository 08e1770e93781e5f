//! Ladders: checking them, and re-spacing them by the swap rejection rates.

use ebm_core::prelude::*;

/// The most temperatures [`ReplicaExchange::geometric`] makes (ladders of hundreds are large).
pub(super) const MAX_TEMPERATURES: usize = 1 << 16;

/// Checks a ladder: at least two temperatures, the first 1, strictly increasing and finite.
pub(super) fn check_ladder(t: &[f64]) -> Result<()> {
    if t.len() < 2 {
        return Err(Error::invalid(
            "temperatures",
            format!("{t:?}"),
            "a ladder needs at least 2 temperatures",
        ));
    }
    if t[0] != 1.0 {
        return Err(Error::invalid(
            "temperatures[0]",
            t[0],
            "the ladder starts at temperature 1, the target itself",
        ));
    }
    for i in 1..t.len() {
        if !(t[i].is_finite() && t[i] > t[i - 1]) {
            return Err(Error::invalid(
                format!("temperatures[{i}]"),
                t[i],
                format!(
                    "must be finite and greater than temperatures[{}] = {}",
                    i - 1,
                    t[i - 1]
                ),
            ));
        }
    }
    Ok(())
}

/// New temperatures that split the cumulative barrier evenly: `Lambda(beta)` is interpolated
/// linearly in the inverse temperature between the ladder's points, and the `k`-th new inverse
/// temperature is where it reaches `k / K` of the total.
pub(super) fn respace(temperatures: &[f64], rejection: &[f64]) -> Vec<f64> {
    let k = temperatures.len() - 1;
    let beta: Vec<f64> = temperatures.iter().map(|t| 1.0 / t).collect();
    let mut lambda = vec![0.0; k + 1];
    for i in 0..k {
        lambda[i + 1] = lambda[i] + rejection[i].clamp(0.0, 1.0);
    }
    let total = lambda[k];
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return temperatures.to_vec();
    }
    let mut out = temperatures.to_vec();
    let mut j = 0;
    for (i, t) in out.iter_mut().enumerate().take(k).skip(1) {
        let target = total * i as f64 / k as f64;
        while j + 1 < k && lambda[j + 1] < target {
            j += 1;
        }
        let span = lambda[j + 1] - lambda[j];
        let f = if span > 0.0 {
            (target - lambda[j]) / span
        } else {
            0.0
        };
        *t = 1.0 / (beta[j] + f * (beta[j + 1] - beta[j]));
    }
    out
}
