//! The hardware floor of the dense cases: what the machine takes, measured in the same run, for the
//! case's matrix products and normal draws alone, `flop / product rate + draws / normal rate`.
//!
//! The product rate is the best sustained `f32` rate of three routines on the case's exact shapes,
//! `(rows x d) (d x d)` with the case's own matrix, the rows split in halves (or thirds, ...) over
//! rayon's threads with one single-threaded call per part, and on one thread alone: `gemm`
//! (`Parallelism::None`), `matrixmultiply::sgemm` and the library's `ebm_core::dense` kernel. The
//! normal rate is the library's generator (ChaCha8 per chain, `standard_normal_f32`) drawing per
//! chain on the same threads.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

/// The work of a dense case: its products and its normal draws.
pub struct DenseWork {
    /// Rows of one product (the chains).
    pub rows: usize,
    /// Dimension: every product is `(rows x d) (d x d)`.
    pub d: usize,
    /// The matrix of the products, row-major `d x d`, as the library multiplies by it.
    pub matrix: Vec<f32>,
    /// Number of products in one run.
    pub products: f64,
    /// Normal draws in one run.
    pub draws: f64,
}

impl DenseWork {
    pub fn flop(&self) -> f64 {
        2.0 * (self.rows * self.d * self.d) as f64 * self.products
    }
}

/// Measured rates and the floor they give.
pub struct Floor {
    /// Best product rate in flop/s, and the routine and threads that gave it.
    pub flops: f64,
    pub routine: String,
    /// Normal draws per second.
    pub normals: f64,
    /// `flop / flops + draws / normals`, in ms.
    pub ms: f64,
    /// Every routine's rate, for the record.
    pub rates: Vec<(String, f64)>,
}

/// Seconds per call of `f`, the minimum over `trials` timings of `reps` calls each.
pub fn seconds_per_call(trials: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..trials)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[derive(Clone, Copy)]
enum Routine {
    Gemm,
    MatrixMultiply,
    Library,
}

/// `out = x B` for `x` (`rows x d`) on the calling thread.
fn product(routine: Routine, x: &[f32], b: &[f32], d: usize, out: &mut [f32]) {
    let rows = x.len() / d;
    // SAFETY: `x` is rows x d, `b` d x d and `out` rows x d, all row-major and contiguous.
    unsafe {
        match routine {
            Routine::Gemm => super::floor::gemm_rm_with(1, rows, d, d, out, x, d, 1, b, d, 1),
            Routine::MatrixMultiply => matrixmultiply::sgemm(
                rows,
                d,
                d,
                1.0,
                x.as_ptr(),
                d as isize,
                1,
                b.as_ptr(),
                d as isize,
                1,
                0.0,
                out.as_mut_ptr(),
                d as isize,
                1,
            ),
            Routine::Library => {
                ebm_core::dense::rows_times_matrix(x, b, d, d, out).expect("consistent lengths")
            }
        }
    }
}

/// Flop/s of `routine` on `work`'s shape with the rows split over `threads` parts.
fn product_rate(
    routine: Routine,
    work: &DenseWork,
    x: &[f32],
    out: &mut [f32],
    threads: usize,
) -> f64 {
    let d = work.d;
    let part = work.rows.div_ceil(threads) * d;
    let secs = seconds_per_call(3, 20, || {
        if threads == 1 {
            product(routine, x, &work.matrix, d, out);
        } else {
            x.par_chunks(part)
                .zip(out.par_chunks_mut(part))
                .for_each(|(xp, op)| product(routine, xp, &work.matrix, d, op));
        }
        std::hint::black_box(&mut *out);
    });
    2.0 * (work.rows * d * d) as f64 / secs
}

/// Normal draws per second: `chains` ChaCha8 streams, `per_chain` draws each, over rayon's threads.
fn normal_rate(chains: usize, per_chain: usize) -> f64 {
    let base = ChaCha8Rng::seed_from_u64(7);
    let mut rngs: Vec<ChaCha8Rng> = (0..chains)
        .map(|c| {
            let mut r = base.clone();
            r.set_stream(c as u64);
            r
        })
        .collect();
    let mut buf = vec![0.0f32; chains * per_chain];
    let secs = seconds_per_call(3, 1, || {
        buf.par_chunks_mut(per_chain)
            .zip(rngs.par_iter_mut())
            .for_each(|(row, r)| {
                row.iter_mut()
                    .for_each(|v| *v = ebm_core::normal::standard_normal_f32(r))
            });
        std::hint::black_box(&mut buf);
    });
    (chains * per_chain) as f64 / secs
}

/// Measures the machine now on `work`'s shapes and returns its floor.
pub fn measure(work: &DenseWork) -> Floor {
    let threads = rayon::current_num_threads().max(1);
    let x: Vec<f32> = (0..work.rows * work.d)
        .map(|i| ((i as f32) * 0.618).sin())
        .collect();
    let mut out = vec![0.0f32; x.len()];
    let mut rates = Vec::new();
    for (name, routine) in [
        ("gemm", Routine::Gemm),
        ("matrixmultiply", Routine::MatrixMultiply),
        ("ebm dense", Routine::Library),
    ] {
        let mut counts = vec![1];
        if threads > 1 {
            counts.push(threads);
        }
        for t in counts {
            let r = product_rate(routine, work, &x, &mut out, t);
            rates.push((format!("{name} x{t}"), r));
        }
    }
    let (routine, flops) =
        rates
            .iter()
            .cloned()
            .fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let normals = normal_rate(work.rows, 2000);
    let ms = (work.flop() / flops + work.draws / normals) * 1e3;
    Floor {
        flops,
        routine,
        normals,
        ms,
        rates,
    }
}
