//! Dense products of a batch of rows with one matrix, `out = x B`, in `f32` and `f64`: the kernel
//! behind `ebm_core::dense` (closed-form energies, mass matrices) and behind the CPU matrix products
//! of `ebm-dfdx`, the patched dfdx that the ebm crates build with (`vendor/dfdx/PATCHES.md`).
//!
//! Every entry is computed the same way whatever the batch around it: a chain of fused
//! multiply-adds over `k` in order, starting from `+0`,
//!
//! ```text
//! acc = +0;  for j in 0..k { acc = fma(x[r][j], b[j][c], acc) }
//! ```
//!
//! so a row's result does not depend on how many rows are multiplied at once, or on how a batch is
//! split over threads. Within one block of `k` this is the arithmetic of the `gemm` crate's FMA
//! micro-kernels (their accumulators start at zero and take one fused multiply-add per step of
//! `k`); `gemm` splits long `k` into blocks whose partial sums it adds, and sends some thin shapes
//! to other kernels, so results can differ from `gemm`'s in the last bits. On x86-64 without FMA
//! each product is rounded before it is added (as `gemm`'s scalar kernel does).
//!
//! The kernel is written for the shapes of sampling, many short rows times a small matrix: a block
//! of rows against a block of columns held in registers over the whole of `k` (AVX-512 where the
//! processor and compiler have it, else AVX2), the last columns through masked loads, with no
//! packing and no threads. Callers split large batches over threads by rows.
//!
//! [`math`] has `f64` `exp`, `log1p`, `softplus` and log-sum-exp written to run in vector
//! registers, within 2 units in the last place.
//!
//! ```
//! let x = [1.0f32, 2.0, 3.0, 4.0]; // two rows
//! let b = [1.0f32, 0.5, 0.0, 2.0]; // 2 x 2
//! let mut out = [0.0f32; 4];
//! ebm_kernels::rows_times_matrix(&x, &b, 2, 2, &mut out)?;
//! assert_eq!(out, [1.0, 4.5, 3.0, 9.5]);
//! # Ok::<(), ebm_kernels::ShapeError>(())
//! ```

#![deny(missing_docs)]

pub mod math;

std::thread_local! {
    static SINGLE_THREAD_PRODUCTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the calling thread marked as evaluating one block of a batch that its caller
/// already spreads over threads. Matrix-product code that consults [`single_thread_products`] (the
/// CPU products of `ebm-dfdx`, the patched dfdx) then multiplies on the calling
/// thread with [`rows_times_matrix`] instead of handing parts of each product to other threads.
/// The mark is lifted when `f` returns or unwinds; calls nest.
///
/// ```
/// assert!(!ebm_kernels::single_thread_products());
/// let inside = ebm_kernels::with_single_thread_products(ebm_kernels::single_thread_products);
/// assert!(inside);
/// assert!(!ebm_kernels::single_thread_products());
/// ```
pub fn with_single_thread_products<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = SINGLE_THREAD_PRODUCTS.try_with(|c| c.set(self.0));
        }
    }
    let before = SINGLE_THREAD_PRODUCTS
        .try_with(|c| c.replace(true))
        .unwrap_or(false);
    let _restore = Restore(before);
    f()
}

/// Whether the calling thread is inside [`with_single_thread_products`].
pub fn single_thread_products() -> bool {
    SINGLE_THREAD_PRODUCTS
        .try_with(|c| c.get())
        .unwrap_or(false)
}

/// The element types of the kernel, `f32` and `f64` (sealed).
pub trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    /// `0`.
    const ZERO: Self;
    /// `self * b + c`, rounded once.
    fn fused(self, b: Self, c: Self) -> Self;
    /// `self * b`.
    fn times(self, b: Self) -> Self;
    /// `self + b`.
    fn plus(self, b: Self) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! element {
    ($t:ty) => {
        impl Element for $t {
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn fused(self, b: Self, c: Self) -> Self {
                self.mul_add(b, c)
            }
            #[inline(always)]
            fn times(self, b: Self) -> Self {
                self * b
            }
            #[inline(always)]
            fn plus(self, b: Self) -> Self {
                self + b
            }
        }
    };
}
element!(f32);
element!(f64);

/// Buffers whose lengths do not fit a `(rows x k) (k x n)` product: which argument, the length it
/// needed, the length it had, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` has {actual} entries where {expected} were needed: {reason}")]
pub struct ShapeError {
    /// The argument: `"b"`, `"x"` or `"out"`.
    pub name: &'static str,
    /// The length it needed.
    pub expected: usize,
    /// The length it had.
    pub actual: usize,
    /// What the length follows from.
    pub reason: String,
}

/// `out = x B` for row-major `x` (`rows x k`), `b` (`k x n`) and `out` (`rows x n`), each entry a
/// chain of fused multiply-adds over `k` in order (see the [crate documentation](crate)).
///
/// # Errors
/// A [`ShapeError`] naming `b` unless it has `k * n` entries, `x` unless its length is a multiple
/// of `k` (and `k` is at least 1), or `out` unless it has `n` entries per row of `x`.
pub fn rows_times_matrix<E: Element>(
    x: &[E],
    b: &[E],
    k: usize,
    n: usize,
    out: &mut [E],
) -> Result<(), ShapeError> {
    if b.len() != k * n {
        return Err(ShapeError {
            name: "b",
            expected: k * n,
            actual: b.len(),
            reason: format!("a {k} x {n} matrix, row-major"),
        });
    }
    let rows = x.len().checked_div(k).unwrap_or(0);
    if k == 0 || x.len() % k != 0 {
        return Err(ShapeError {
            name: "x",
            expected: rows * k,
            actual: x.len(),
            reason: format!("whole rows of {k} values (k must be at least 1)"),
        });
    }
    if out.len() != rows * n {
        return Err(ShapeError {
            name: "out",
            expected: rows * n,
            actual: out.len(),
            reason: format!("{rows} rows of {n} values"),
        });
    }
    // SAFETY: the lengths were checked above.
    unsafe { product(x, b, rows, k, n, out) };
    Ok(())
}

/// Whether this processor runs the vectorised fused multiply-add kernel.
pub fn has_fma_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// # Safety
/// `x` has `rows * k` entries, `b` `k * n`, `out` `rows * n`.
unsafe fn product<E: Element>(x: &[E], b: &[E], rows: usize, k: usize, n: usize, out: &mut [E]) {
    #[cfg(all(target_arch = "x86_64", ebm_avx512))]
    if std::arch::is_x86_feature_detected!("avx512f") {
        use std::any::TypeId;
        if TypeId::of::<E>() == TypeId::of::<f32>() {
            x86_512::product_f32(
                x.as_ptr().cast(),
                b.as_ptr().cast(),
                rows,
                k,
                n,
                out.as_mut_ptr().cast(),
            );
            return;
        }
        if TypeId::of::<E>() == TypeId::of::<f64>() {
            x86_512::product_f64(
                x.as_ptr().cast(),
                b.as_ptr().cast(),
                rows,
                k,
                n,
                out.as_mut_ptr().cast(),
            );
            return;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if has_fma_kernel() {
        use std::any::TypeId;
        if TypeId::of::<E>() == TypeId::of::<f32>() {
            x86::product_f32(
                x.as_ptr().cast(),
                b.as_ptr().cast(),
                rows,
                k,
                n,
                out.as_mut_ptr().cast(),
            );
            return;
        }
        if TypeId::of::<E>() == TypeId::of::<f64>() {
            x86::product_f64(
                x.as_ptr().cast(),
                b.as_ptr().cast(),
                rows,
                k,
                n,
                out.as_mut_ptr().cast(),
            );
            return;
        }
    }
    portable(x, b, rows, k, n, out);
}

/// The same chains without vector registers: fused on targets other than x86-64 (where `mul_add`
/// is one instruction on every processor with floating point), rounded product then sum on x86-64
/// without FMA.
fn portable<E: Element>(x: &[E], b: &[E], rows: usize, k: usize, n: usize, out: &mut [E]) {
    let fused = !cfg!(target_arch = "x86_64");
    for r in 0..rows {
        let xr = &x[r * k..(r + 1) * k];
        let or = &mut out[r * n..(r + 1) * n];
        or.iter_mut().for_each(|o| *o = E::ZERO);
        for (j, &xv) in xr.iter().enumerate() {
            let br = &b[j * n..(j + 1) * n];
            if fused {
                or.iter_mut()
                    .zip(br)
                    .for_each(|(o, &bv)| *o = xv.fused(bv, *o));
            } else {
                or.iter_mut()
                    .zip(br)
                    .for_each(|(o, &bv)| *o = o.plus(xv.times(bv)));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `R` rows times `V` vectors of columns, accumulated in registers over the whole of `k`; with
    /// `MASKED`, one vector of which only the lanes set in `mask` are read and written.
    macro_rules! kernel {
        ($product:ident, $tile:ident, $t:ty, $w:expr, $zero:ident, $load:ident, $store:ident,
         $maskload:ident, $maskstore:ident, $splat:ident, $fma:ident, $lane:ty) => {
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            unsafe fn $tile<const R: usize, const V: usize, const MASKED: bool>(
                x: *const $t,
                k: usize,
                b: *const $t,
                n: usize,
                out: *mut $t,
                mask: __m256i,
            ) {
                let mut acc = [[$zero(); V]; R];
                for j in 0..k {
                    let brow = b.add(j * n);
                    let mut bv = [$zero(); V];
                    for (v, slot) in bv.iter_mut().enumerate() {
                        *slot = if MASKED {
                            $maskload(brow.add($w * v), mask)
                        } else {
                            $load(brow.add($w * v))
                        };
                    }
                    for (r, row) in acc.iter_mut().enumerate() {
                        let a = $splat(*x.add(r * k + j));
                        for (slot, &bj) in row.iter_mut().zip(&bv) {
                            *slot = $fma(a, bj, *slot);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    for (v, &a) in row.iter().enumerate() {
                        if MASKED {
                            $maskstore(out.add(r * n + $w * v), mask, a);
                        } else {
                            $store(out.add(r * n + $w * v), a);
                        }
                    }
                }
            }

            /// `R` rows against every column of `b`: two-vector tiles, one vector, one masked.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            unsafe fn rows_block<const R: usize>(
                x: *const $t,
                b: *const $t,
                k: usize,
                n: usize,
                out: *mut $t,
            ) {
                let none = _mm256_setzero_si256();
                let mut c = 0;
                while c + 2 * $w <= n {
                    $tile::<R, 2, false>(x, k, b.add(c), n, out.add(c), none);
                    c += 2 * $w;
                }
                if c + $w <= n {
                    $tile::<R, 1, false>(x, k, b.add(c), n, out.add(c), none);
                    c += $w;
                }
                if c < n {
                    let mut lanes = [0 as $lane; $w];
                    lanes[..n - c].iter_mut().for_each(|l| *l = -1);
                    let mask = _mm256_loadu_si256(lanes.as_ptr().cast());
                    $tile::<R, 1, true>(x, k, b.add(c), n, out.add(c), mask);
                }
            }

            /// # Safety
            /// Requires AVX2 and FMA; `x` has `rows * k` entries, `b` `k * n`, `out` `rows * n`.
            #[target_feature(enable = "avx2,fma")]
            pub(crate) unsafe fn $product(
                x: *const $t,
                b: *const $t,
                rows: usize,
                k: usize,
                n: usize,
                out: *mut $t,
            ) {
                let mut r = 0;
                while r + 6 <= rows {
                    rows_block::<6>(x.add(r * k), b, k, n, out.add(r * n));
                    r += 6;
                }
                let (x, out) = (x.add(r * k), out.add(r * n));
                match rows - r {
                    5 => rows_block::<5>(x, b, k, n, out),
                    4 => rows_block::<4>(x, b, k, n, out),
                    3 => rows_block::<3>(x, b, k, n, out),
                    2 => rows_block::<2>(x, b, k, n, out),
                    1 => rows_block::<1>(x, b, k, n, out),
                    _ => {}
                }
            }
        };
    }

    mod f32k {
        use super::*;
        kernel!(
            product_f32,
            tile_f32,
            f32,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_storeu_ps,
            _mm256_maskload_ps,
            _mm256_maskstore_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            i32
        );
    }
    mod f64k {
        use super::*;
        kernel!(
            product_f64,
            tile_f64,
            f64,
            4,
            _mm256_setzero_pd,
            _mm256_loadu_pd,
            _mm256_storeu_pd,
            _mm256_maskload_pd,
            _mm256_maskstore_pd,
            _mm256_set1_pd,
            _mm256_fmadd_pd,
            i64
        );
    }
    pub(crate) use f32k::product_f32;
    pub(crate) use f64k::product_f64;
}

/// The same kernel on 512-bit registers (AVX-512F, whose fused multiply-add rounds as FMA's): eight
/// rows against 48 columns (`f32`; 24 for `f64`), the last columns through a lane mask.
#[cfg(all(target_arch = "x86_64", ebm_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust 1.89 or later (build.rs)
mod x86_512 {
    use std::arch::x86_64::*;

    macro_rules! kernel512 {
        ($product:ident, $tile:ident, $t:ty, $w:expr, $mask:ty, $zero:ident, $load:ident,
         $store:ident, $maskload:ident, $maskstore:ident, $splat:ident, $fma:ident) => {
            #[target_feature(enable = "avx512f")]
            #[inline]
            unsafe fn $tile<const R: usize, const V: usize>(
                x: *const $t,
                k: usize,
                b: *const $t,
                n: usize,
                out: *mut $t,
                mask: Option<$mask>,
            ) {
                let mut acc = [[$zero(); V]; R];
                for j in 0..k {
                    let brow = b.add(j * n);
                    let mut bv = [$zero(); V];
                    for (v, slot) in bv.iter_mut().enumerate() {
                        *slot = match mask {
                            Some(m) => $maskload(m, brow.add($w * v)),
                            None => $load(brow.add($w * v)),
                        };
                    }
                    for (r, row) in acc.iter_mut().enumerate() {
                        let a = $splat(*x.add(r * k + j));
                        for (slot, &bj) in row.iter_mut().zip(&bv) {
                            *slot = $fma(a, bj, *slot);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    for (v, &a) in row.iter().enumerate() {
                        match mask {
                            Some(m) => $maskstore(out.add(r * n + $w * v), m, a),
                            None => $store(out.add(r * n + $w * v), a),
                        }
                    }
                }
            }

            #[target_feature(enable = "avx512f")]
            #[inline]
            unsafe fn rows_block<const R: usize>(
                x: *const $t,
                b: *const $t,
                k: usize,
                n: usize,
                out: *mut $t,
            ) {
                let mut c = 0;
                while c + 3 * $w <= n {
                    $tile::<R, 3>(x, k, b.add(c), n, out.add(c), None);
                    c += 3 * $w;
                }
                while c + $w <= n {
                    $tile::<R, 1>(x, k, b.add(c), n, out.add(c), None);
                    c += $w;
                }
                if c < n {
                    let mask = ((1u32 << (n - c)) - 1) as $mask;
                    $tile::<R, 1>(x, k, b.add(c), n, out.add(c), Some(mask));
                }
            }

            /// # Safety
            /// Requires AVX-512F; `x` has `rows * k` entries, `b` `k * n`, `out` `rows * n`.
            #[target_feature(enable = "avx512f")]
            pub(crate) unsafe fn $product(
                x: *const $t,
                b: *const $t,
                rows: usize,
                k: usize,
                n: usize,
                out: *mut $t,
            ) {
                let mut r = 0;
                while r + 8 <= rows {
                    rows_block::<8>(x.add(r * k), b, k, n, out.add(r * n));
                    r += 8;
                }
                let (x, out) = (x.add(r * k), out.add(r * n));
                match rows - r {
                    7 => rows_block::<7>(x, b, k, n, out),
                    6 => rows_block::<6>(x, b, k, n, out),
                    5 => rows_block::<5>(x, b, k, n, out),
                    4 => rows_block::<4>(x, b, k, n, out),
                    3 => rows_block::<3>(x, b, k, n, out),
                    2 => rows_block::<2>(x, b, k, n, out),
                    1 => rows_block::<1>(x, b, k, n, out),
                    _ => {}
                }
            }
        };
    }

    mod f32k {
        use super::*;
        kernel512!(
            product_f32,
            tile_f32,
            f32,
            16,
            __mmask16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_storeu_ps,
            _mm512_maskz_loadu_ps,
            _mm512_mask_storeu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps
        );
    }
    mod f64k {
        use super::*;
        kernel512!(
            product_f64,
            tile_f64,
            f64,
            8,
            __mmask8,
            _mm512_setzero_pd,
            _mm512_loadu_pd,
            _mm512_storeu_pd,
            _mm512_maskz_loadu_pd,
            _mm512_mask_storeu_pd,
            _mm512_set1_pd,
            _mm512_fmadd_pd
        );
    }
    pub(crate) use f32k::product_f32;
    pub(crate) use f64k::product_f64;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], b: &[f32], k: usize, n: usize, fused: bool) -> Vec<f32> {
        let rows = x.len() / k;
        let mut out = vec![0.0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let mut acc = 0.0f32;
                for j in 0..k {
                    acc = if fused {
                        x[r * k + j].mul_add(b[j * n + c], acc)
                    } else {
                        acc + x[r * k + j] * b[j * n + c]
                    };
                }
                out[r * n + c] = acc;
            }
        }
        out
    }

    fn values(len: usize, a: f32) -> Vec<f32> {
        (0..len).map(|i| (a * i as f32 + 0.3).sin() * 3.7).collect()
    }

    #[test]
    fn every_entry_is_an_ordered_chain_of_fused_multiply_adds() {
        let fused = has_fma_kernel() || !cfg!(target_arch = "x86_64");
        // Shapes that exercise full tiles, single vectors, single columns and the row remainder.
        for &(rows, k, n) in &[
            (1, 1, 1),
            (7, 100, 100),
            (5, 13, 29),
            (4, 3, 24),
            (9, 17, 7),
        ] {
            let (x, b) = (values(rows * k, 0.71), values(k * n, 1.37));
            let mut out = vec![f32::NAN; rows * n];
            rows_times_matrix(&x, &b, k, n, &mut out).unwrap();
            let want = reference(&x, &b, k, n, fused);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&want), "shape {rows} x {k} x {n}");
        }
    }

    #[test]
    fn a_row_gives_the_same_bits_alone_and_in_a_batch() {
        let (k, n) = (100, 100);
        let (x, b) = (values(11 * k, 0.37), values(k * n, 0.91));
        let mut all = vec![0.0f32; 11 * n];
        rows_times_matrix(&x, &b, k, n, &mut all).unwrap();
        for r in 0..11 {
            let mut one = vec![0.0f32; n];
            rows_times_matrix(&x[r * k..(r + 1) * k], &b, k, n, &mut one).unwrap();
            assert_eq!(one, all[r * n..(r + 1) * n], "row {r}");
        }
    }

    #[test]
    fn f64_matches_the_plain_sum_to_rounding() {
        let (rows, k, n) = (6, 37, 23);
        let x: Vec<f64> = (0..rows * k).map(|i| (0.3 * i as f64).cos()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (0.7 * i as f64).sin()).collect();
        let mut out = vec![0.0; rows * n];
        rows_times_matrix(&x, &b, k, n, &mut out).unwrap();
        for r in 0..rows {
            for c in 0..n {
                let s: f64 = (0..k).map(|j| x[r * k + j] * b[j * n + c]).sum();
                assert!((s - out[r * n + c]).abs() < 1e-12, "({r}, {c})");
            }
        }
    }
}
