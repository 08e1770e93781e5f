//! The hardware floor of a case: what the machine takes, measured in the same run, for the case's
//! matrix products, transcendentals and normal draws alone,
//! `sum(flop / product rate) + tanh / tanh rate + draws / normal rate`.
//!
//! Each product shape's rate is the best sustained `f32` rate of these routines on that exact
//! shape and layout, `(rows x k) (k x n)` with the case's own matrix (read transposed where the
//! case reads it so), the rows split in halves (or thirds, ...) over rayon's threads with one
//! single-threaded call per part, all parts timed together in one parallel region, and on one
//! thread alone: `gemm` (`Parallelism::None`),
//! `matrixmultiply::sgemm`, the library's `ebm_core::dense` kernel (row-major matrices only) and,
//! for products with a side of at most 8, plain vectorised loops.
//! The tanh rate is `ebm_kernels::math::tanh_f32_slice` over one evaluation's activations split
//! the same way. The normal rate is the library's generator (ChaCha8 per chain,
//! `standard_normal_f32`) drawing per chain on the same threads.
//!
//! Everything else a run does (bias additions, derivative products, updates, bookkeeping) counts
//! as free: the floor is a bound no implementation reaches, and a case's ratio to it says how much
//! is left.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

/// One kind of product a case does: `(rows x k) (k x n)`, `count` times per run.
pub struct Product {
    /// What the product is, for the report.
    pub label: &'static str,
    /// Rows of the left factor (the chains).
    pub rows: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of the result.
    pub n: usize,
    /// The right factor as the case stores it: row-major `k x n`, or row-major `n x k` read
    /// transposed when `transposed`.
    pub matrix: Vec<f32>,
    /// Whether `matrix` is read transposed.
    pub transposed: bool,
    /// Number of such products in one run.
    pub count: f64,
}

impl Product {
    fn flop(&self) -> f64 {
        2.0 * (self.rows * self.k * self.n) as f64 * self.count
    }

    /// The right factor's (row, column) strides.
    fn strides(&self) -> (usize, usize) {
        if self.transposed {
            (1, self.k)
        } else {
            (self.n, 1)
        }
    }
}

/// The work of a case that has a hardware floor.
pub struct Work {
    /// Its products.
    pub products: Vec<Product>,
    /// Hyperbolic tangents in one run, and how many one evaluation takes at once.
    pub tanh: f64,
    pub tanh_block: usize,
    /// Normal draws in one run, over `chains` chains.
    pub draws: f64,
    pub chains: usize,
}

impl Work {
    /// A dense case: `products` products `(rows x d) (d x d)` by `matrix` (row-major) and `draws`
    /// normal draws.
    pub fn dense(rows: usize, d: usize, matrix: Vec<f32>, products: f64, draws: f64) -> Self {
        Self {
            products: vec![Product {
                label: "x B",
                rows,
                k: d,
                n: d,
                matrix,
                transposed: false,
                count: products,
            }],
            tanh: 0.0,
            tanh_block: 0,
            draws,
            chains: rows,
        }
    }

    /// What identifies the work: cases with the same key do the same arithmetic.
    pub fn key(&self) -> String {
        let shapes: Vec<String> = self
            .products
            .iter()
            .map(|p| format!("{}x{}x{}{}*{}", p.rows, p.k, p.n, p.transposed, p.count))
            .collect();
        format!(
            "{} + {} tanh + {} normals",
            shapes.join(" "),
            self.tanh,
            self.draws
        )
    }

    /// Floating-point operations of the products in one run.
    pub fn flop(&self) -> f64 {
        self.products.iter().map(Product::flop).sum()
    }
}

/// Measured rates and the floor they give.
pub struct Floor {
    /// The products' flop over their time at the best rate of each shape, in flop/s.
    pub flops: f64,
    /// Each product's best routine and threads.
    pub routine: String,
    /// Normal draws per second.
    pub normals: f64,
    /// Hyperbolic tangents per second (0 when the case has none).
    pub tanh: f64,
    /// The floor in ms.
    pub ms: f64,
    /// Every product's every routine's rate, for the record.
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

#[derive(Clone, Copy, PartialEq)]
enum Routine {
    Gemm,
    MatrixMultiply,
    Library,
    /// For a product with at most [`NARROW`] inner or outer columns, where the general routines'
    /// packing costs more than the arithmetic: a loop of row updates (`k` small) or dot products
    /// (`n` small) that the compiler vectorises along the long side.
    Narrow,
}

/// The widest side a [`Routine::Narrow`] product may have.
const NARROW: usize = 8;

/// `out = x B` by [`Routine::Narrow`]'s loops, compiled for AVX2 and FMA where the processor has
/// them.
fn narrow_product(
    x: &[f32],
    b: &[f32],
    strides: (usize, usize),
    k: usize,
    n: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the processor has the features the function is compiled for.
        unsafe { narrow_product_avx2(x, b, strides, k, n, out) };
        return;
    }
    narrow_product_body(x, b, strides, k, n, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn narrow_product_avx2(
    x: &[f32],
    b: &[f32],
    strides: (usize, usize),
    k: usize,
    n: usize,
    out: &mut [f32],
) {
    narrow_product_body(x, b, strides, k, n, out)
}

/// `out = x B` by [`Routine::Narrow`]'s loops, `B` entry `(i, j)` at `b[i * rs + j * cs]`.
#[inline(always)]
fn narrow_product_body(
    x: &[f32],
    b: &[f32],
    (rs, cs): (usize, usize),
    k: usize,
    n: usize,
    out: &mut [f32],
) {
    if k <= NARROW {
        // Each output row is a sum of `k` rows of B; B's rows gathered once.
        let rows_b: Vec<Vec<f32>> = (0..k)
            .map(|i| (0..n).map(|j| b[i * rs + j * cs]).collect())
            .collect();
        for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(k)) {
            o.fill(0.0);
            for (&xi, bi) in xr.iter().zip(&rows_b) {
                o.iter_mut()
                    .zip(bi)
                    .for_each(|(v, &w)| *v = xi.mul_add(w, *v));
            }
        }
    } else {
        // Each output entry is a dot product with a column of B; columns gathered once.
        let cols_b: Vec<Vec<f32>> = (0..n)
            .map(|j| (0..k).map(|i| b[i * rs + j * cs]).collect())
            .collect();
        for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(k)) {
            for (v, bj) in o.iter_mut().zip(&cols_b) {
                let mut acc = [0.0f32; 8];
                let (xc, bc) = (xr.chunks_exact(8), bj.chunks_exact(8));
                let tail: f32 = xc
                    .remainder()
                    .iter()
                    .zip(bc.remainder())
                    .map(|(a, b)| a * b)
                    .sum();
                for (xa, ba) in xc.zip(bc) {
                    for ((a, &xv), &bv) in acc.iter_mut().zip(xa).zip(ba) {
                        *a = xv.mul_add(bv, *a);
                    }
                }
                *v = acc.iter().sum::<f32>() + tail;
            }
        }
    }
}

/// `out = x B` for the rows `x` of `p`'s shape, on the calling thread.
fn product(routine: Routine, p: &Product, x: &[f32], out: &mut [f32]) {
    let (rows, k, n) = (x.len() / p.k, p.k, p.n);
    let (rs, cs) = p.strides();
    // SAFETY: `x` is rows x k, `p.matrix` k x n under the strides `(rs, cs)` and `out` rows x n,
    // all contiguous.
    unsafe {
        match routine {
            Routine::Gemm => {
                super::floor::gemm_rm_with(1, rows, n, k, out, x, k, 1, &p.matrix, rs, cs)
            }
            Routine::MatrixMultiply => matrixmultiply::sgemm(
                rows,
                k,
                n,
                1.0,
                x.as_ptr(),
                k as isize,
                1,
                p.matrix.as_ptr(),
                rs as isize,
                cs as isize,
                0.0,
                out.as_mut_ptr(),
                n as isize,
                1,
            ),
            Routine::Library => ebm_core::dense::rows_times_matrix(x, &p.matrix, k, n, out)
                .expect("consistent lengths"),
            Routine::Narrow => narrow_product(x, &p.matrix, (rs, cs), k, n, out),
        }
    }
}

/// Seconds per round of `f` over every part of `parts` at once, one part per thread: each part
/// runs `reps` calls inside one parallel region (so no fork-join between calls is timed), and a
/// round takes the whole region's time over `reps`; the minimum over `trials` regions.
fn concurrent_seconds<P: Send>(
    parts: &mut [P],
    trials: usize,
    reps: usize,
    f: impl Fn(&mut P) + Sync,
) -> f64 {
    let mut region = |reps: usize| {
        let t = Instant::now();
        if parts.len() == 1 {
            (0..reps).for_each(|_| f(&mut parts[0]));
        } else {
            parts.par_iter_mut().with_max_len(1).for_each(|p| {
                for _ in 0..reps {
                    f(p);
                }
            });
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    region(1);
    (0..trials)
        .map(|_| region(reps))
        .fold(f64::INFINITY, f64::min)
}

/// Flop/s of `routine` on `p`'s shape with the rows split over `threads` parts, each part
/// multiplied in calls of at most `block` rows.
fn product_rate(routine: Routine, p: &Product, threads: usize, block: usize) -> f64 {
    let part = p.rows.div_ceil(threads).max(1);
    let mut parts: Vec<(Vec<f32>, Vec<f32>)> = (0..p.rows)
        .step_by(part)
        .map(|start| {
            let rows = part.min(p.rows - start);
            let x = (start * p.k..(start + rows) * p.k)
                .map(|i| ((i as f32) * 0.618).sin())
                .collect();
            (x, vec![0.0f32; rows * p.n])
        })
        .collect();
    let secs = concurrent_seconds(&mut parts, 5, 20, |(x, out)| {
        for (xb, ob) in x.chunks(block * p.k).zip(out.chunks_mut(block * p.n)) {
            product(routine, p, xb, ob);
        }
        std::hint::black_box(out);
    });
    2.0 * (p.rows * p.k * p.n) as f64 / secs
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

/// Rows per call in the blocked measurements: a block's activations stay in the first-level cache,
/// as in the library's row blocks.
const BLOCK_ROWS: usize = 64;

/// Hyperbolic tangents per second: `block` values at once, split over `threads` parts, each part
/// in calls of at most `chunk` values.
fn tanh_rate(block: usize, threads: usize, chunk: usize) -> f64 {
    let part = block.div_ceil(threads).max(1);
    let mut parts: Vec<Vec<f32>> = (0..block)
        .step_by(part)
        .map(|start| {
            (start..(start + part).min(block))
                .map(|i| ((i as f32) * 0.618).sin() * 3.0)
                .collect()
        })
        .collect();
    // In place, call after call: the arguments shrink towards zero but stay normal numbers over
    // these few calls, and the function has no branch on its argument.
    let secs = concurrent_seconds(&mut parts, 5, 20, |v| {
        v.chunks_mut(chunk)
            .for_each(ebm_kernels::math::tanh_f32_slice);
        std::hint::black_box(v);
    });
    block as f64 / secs
}

/// Measures the machine now on `work`'s shapes and returns its floor.
pub fn measure(work: &Work) -> Floor {
    let threads = rayon::current_num_threads().max(1);
    let mut counts = vec![1];
    if threads > 1 {
        counts.push(threads);
    }
    let mut rates = Vec::new();
    let mut routines = Vec::new();
    let mut product_secs = 0.0;
    for p in &work.products {
        let mut best = (String::new(), 0.0);
        for (name, routine) in [
            ("gemm", Routine::Gemm),
            ("matrixmultiply", Routine::MatrixMultiply),
            ("ebm dense", Routine::Library),
            ("narrow loop", Routine::Narrow),
        ] {
            if (routine == Routine::Library && p.transposed)
                || (routine == Routine::Narrow && p.k.min(p.n) > NARROW)
            {
                continue;
            }
            for &t in &counts {
                for block in [BLOCK_ROWS, p.rows] {
                    let r = product_rate(routine, p, t, block);
                    let name = if block < p.rows {
                        format!("{}: {name} x{t} by {block} rows", p.label)
                    } else {
                        format!("{}: {name} x{t}", p.label)
                    };
                    if r > best.1 {
                        best = (name.clone(), r);
                    }
                    rates.push((name, r));
                }
            }
        }
        product_secs += p.flop() / best.1;
        routines.push(best.0);
    }
    let normals = normal_rate(work.chains, 2000);
    let tanh = if work.tanh > 0.0 {
        let row = work.tanh_block / work.chains.max(1);
        counts
            .iter()
            .flat_map(|&t| {
                [BLOCK_ROWS * row, work.tanh_block].map(|c| tanh_rate(work.tanh_block, t, c.max(1)))
            })
            .fold(0.0, f64::max)
    } else {
        0.0
    };
    let tanh_secs = if work.tanh > 0.0 {
        work.tanh / tanh
    } else {
        0.0
    };
    let ms = (product_secs + tanh_secs + work.draws / normals) * 1e3;
    Floor {
        flops: work.flop() / product_secs,
        routine: routines.join("; "),
        normals,
        tanh,
        ms,
        rates,
    }
}
