//! `f64_math`: elements per second of `ebm_kernels::math`'s vectorised `exp`, `ln`, `log1p` and
//! `softplus` against the standard library's (the system's mathematical library, one value at a
//! time), over the same arguments in the same sitting.
//!
//! The arguments are 65 536 values spread over the range where each function does real work
//! (`exp` on `[-40, 40]`, `ln` on `[1e-3, 1e3]`, `log1p` on `(-1, 1e3]`, `softplus` on `[-40, 40]`), small enough to stay
//! in cache; each function is timed over many passes (each restoring the arguments first, a copy in
//! both timings) and the fastest of several trials is kept.

use super::hardware::seconds_per_call;
use ebm_kernels::math;
use serde_json::{json, Map, Value};

/// The case's name, for `--case`.
pub const CASE: &str = "f64_math";

const N: usize = 1 << 16;

/// Spreads `N` values over `[lo, hi]` in a scrambled order.
fn arguments(lo: f64, hi: f64) -> Vec<f64> {
    (0..N)
        .map(|i| {
            let j = (i * 40_503) % N;
            lo + (hi - lo) * (j as f64 + 0.5) / N as f64
        })
        .collect()
}

pub fn run() -> Result<Map<String, Value>, String> {
    type Pair = (&'static str, fn(&mut [f64]), fn(f64) -> f64, f64, f64);
    let cases: [Pair; 4] = [
        ("exp", math::exp_slice, f64::exp, -40.0, 40.0),
        ("ln", math::ln_slice, f64::ln, 1e-3, 1e3),
        ("log1p", math::log1p_slice, f64::ln_1p, -0.999, 1e3),
        (
            "softplus",
            math::softplus_slice,
            |x| (if x > 0.0 { x } else { 0.0 }) + (-x.abs()).exp().ln_1p(),
            -40.0,
            40.0,
        ),
    ];
    println!();
    println!("{CASE}: elements per second, {N} arguments in cache, fastest of 5 trials");
    let mut out = Map::new();
    for (name, ours, libm, lo, hi) in cases {
        let x = arguments(lo, hi);
        let mut buf = x.clone();
        let t_ours = seconds_per_call(5, 50, || {
            buf.copy_from_slice(&x);
            ours(std::hint::black_box(&mut buf));
        });
        let t_libm = seconds_per_call(5, 50, || {
            buf.copy_from_slice(&x);
            for v in std::hint::black_box(&mut buf).iter_mut() {
                *v = libm(*v);
            }
        });
        let (r_ours, r_libm) = (N as f64 / t_ours, N as f64 / t_libm);
        println!(
            "  {name:<9} ebm_kernels {:>8.0} M/s   std (libm) {:>8.0} M/s   {:>5.2}x",
            r_ours / 1e6,
            r_libm / 1e6,
            r_ours / r_libm
        );
        out.insert(
            format!("{CASE}_{name}"),
            json!({ "ebm_per_s": r_ours, "libm_per_s": r_libm, "speedup": r_ours / r_libm }),
        );
    }
    Ok(out)
}
