//! Patch (ebm): vectorisable CPU loops for element-wise kernels.
//!
//! - `f32` `tanh`, `exp` and `sigmoid` over whole slices, written without calls into libm so that
//!   the compiler turns them into SIMD code (and, on x86-64 with AVX2, run from a copy compiled for
//!   8 lanes). Relative error below `1e-6` of the exact value.
//! - Row-wise iteration over strided operands: the innermost dimension is walked with plain loops
//!   (stride 1 or 0, i.e. broadcast) instead of computing a multi-dimensional index per element.

use std::any::TypeId;

/// `xs` as `f32`s when `E` is `f32`.
#[inline(always)]
pub(crate) fn as_f32_mut<E: 'static>(xs: &mut [E]) -> Option<&mut [f32]> {
    if TypeId::of::<E>() == TypeId::of::<f32>() {
        // SAFETY: `E` is `f32`, checked just above; same length, alignment and validity.
        Some(unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr() as *mut f32, xs.len()) })
    } else {
        None
    }
}

macro_rules! simd_slice_fn {
    ($name:ident, $avx2:ident, $portable:ident, $scalar:ident) => {
        /// Applies the scalar function to every element, vectorised.
        pub(crate) fn $name(xs: &mut [f32]) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    unsafe { $avx2(xs) };
                    return;
                }
            }
            $portable(xs)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2(xs: &mut [f32]) {
            $portable(xs)
        }

        #[inline(always)]
        fn $portable(xs: &mut [f32]) {
            for v in xs.iter_mut() {
                *v = $scalar(*v);
            }
        }
    };
}

simd_slice_fn!(tanh_f32_slice, tanh_avx2, tanh_portable, tanh_f32);
simd_slice_fn!(exp_f32_slice, exp_avx2, exp_portable, exp_f32);
simd_slice_fn!(sigmoid_f32_slice, sigmoid_avx2, sigmoid_portable, sigmoid_f32);

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that k * LN2_HI is exact for the k that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
// Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
const ROUND: f32 = 12_582_912.0;

/// `exp(r)` on `|r| <= ln 2 / 2` by its Taylor polynomial to degree 7 (truncation below `6e-9`),
/// and `k`, the power of two to scale it by, for `y = k ln 2 + r`.
#[inline(always)]
fn reduce(y: f32) -> (f32, f32) {
    let k = (y * LOG2E + ROUND) - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    (k, r)
}

#[inline(always)]
fn expm1_poly(r: f32) -> f32 {
    r * (1.0
        + r * (0.5
            + r * (1.0 / 6.0
                + r * (1.0 / 24.0
                    + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))))
}

/// `2^k` for an integral `k` in `[-126, 127]`. The integer is read from the low bits of
/// `1.5 * 2^23 + k` rather than converted with `as i32`, whose saturating conversion became scalar
/// code inside the vectorised loops.
#[inline(always)]
fn pow2(k: f32) -> f32 {
    let ki = ((k + ROUND).to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    f32::from_bits((ki.wrapping_add(127) << 23) as u32)
}

/// `tanh(x) = sign(x) * (-t / (2 + t))` with `t = expm1(-2|x|)`, which has no cancellation near 0.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs().min(10.0);
    let (k, r) = reduce(-2.0 * a);
    let two_k = pow2(k);
    let t = two_k * expm1_poly(r) + (two_k - 1.0);
    let y = (-t / (2.0 + t)).copysign(x);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `exp(x) = 2^k exp(r)`, the power of two applied in two halves so that results down to the
/// smallest subnormal and up to infinity come out right.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let c = x.max(-104.0).min(89.0);
    let (k, r) = reduce(c);
    let k1 = (k * 0.5).trunc();
    let k2 = k - k1;
    let y = ((1.0 + expm1_poly(r)) * pow2(k1)) * pow2(k2);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `1 / (1 + exp(-x))`.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// Up to this rank, shapes are walked row by row; dfdx's largest rank is 6.
const MAX_RANK: usize = 8;

/// A shape and the strides of two operands, for walking the output row by row.
pub(crate) struct Rows {
    dims: [usize; MAX_RANK],
    a: [usize; MAX_RANK],
    b: [usize; MAX_RANK],
    rank: usize,
}

impl Rows {
    pub(crate) fn new(
        dims: impl IntoIterator<Item = usize>,
        a: impl IntoIterator<Item = usize>,
        b: impl IntoIterator<Item = usize>,
    ) -> Self {
        let mut rows = Rows {
            dims: [1; MAX_RANK],
            a: [0; MAX_RANK],
            b: [0; MAX_RANK],
            rank: 0,
        };
        for (i, d) in dims.into_iter().enumerate() {
            rows.dims[i] = d;
            rows.rank = i + 1;
        }
        for (i, s) in a.into_iter().enumerate() {
            rows.a[i] = s;
        }
        for (i, s) in b.into_iter().enumerate() {
            rows.b[i] = s;
        }
        rows
    }

    /// The length of a row (the innermost dimension; 1 for a scalar).
    pub(crate) fn len(&self) -> usize {
        if self.rank == 0 {
            1
        } else {
            self.dims[self.rank - 1]
        }
    }

    /// The innermost strides of the two operands.
    pub(crate) fn inner(&self) -> (usize, usize) {
        if self.rank == 0 {
            (0, 0)
        } else {
            (self.a[self.rank - 1], self.b[self.rank - 1])
        }
    }

    /// Calls `f(row, a_offset, b_offset)` for every row in order, `row` counting from 0.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let outer = self.rank.saturating_sub(1);
        let count: usize = self.dims[..outer].iter().product();
        if count == 0 || self.len() == 0 {
            return;
        }
        let mut idx = [0usize; MAX_RANK];
        let (mut ao, mut bo) = (0usize, 0usize);
        for row in 0..count {
            f(row, ao, bo);
            // Advance the odometer over the outer dimensions.
            let mut d = outer;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                ao += self.a[d];
                bo += self.b[d];
                if idx[d] < self.dims[d] {
                    break;
                }
                ao -= self.a[d] * idx[d];
                bo -= self.b[d] * idx[d];
                idx[d] = 0;
            }
        }
    }
}
