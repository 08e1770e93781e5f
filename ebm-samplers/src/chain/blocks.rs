//! Blocks of chains for models that offer a [`RowEnergy`](ebm_core::energy::RowEnergy): a kernel
//! runs each block's whole transition on one thread, so a step costs one pass over rayon's threads
//! instead of one per evaluation and per loop over the batch. Each chain's arithmetic is the same
//! whatever the blocks, so draws do not depend on the number of threads.

use super::points::Points;
use rayon::prelude::*;

/// About this many coordinates per block: a block's positions, gradients and momenta stay in the
/// second-level cache, and a batch of a thousand 100-D chains makes a dozen blocks for the threads
/// to share.
const BLOCK_ELEMENTS: usize = 8192;

/// Chains per block for dimension `d`.
pub(crate) fn block_rows(d: usize) -> usize {
    (BLOCK_ELEMENTS / d.max(1)).max(1)
}

/// Runs `f` on every block, over rayon's threads when there is more than one, and returns the
/// results in block order.
pub(crate) fn run_blocks<T: Send, R: Send>(
    blocks: Vec<T>,
    f: impl Fn(T) -> R + Sync + Send,
) -> Vec<R> {
    if blocks.len() > 1 {
        blocks.into_par_iter().map(f).collect()
    } else {
        blocks.into_iter().map(f).collect()
    }
}

/// A block of [`Points`]: positions, energies and gradients of consecutive chains.
pub(crate) struct PointsMut<'a, E> {
    pub x: &'a mut [E],
    pub e: &'a mut [E],
    pub g: &'a mut [E],
}

impl<E: ebm_core::Real> PointsMut<'_, E> {
    /// Whether chain `c`'s energy, position and gradient are all finite.
    #[inline]
    pub fn row_finite(&self, c: usize, d: usize) -> bool {
        self.e[c].is_finite()
            && self.x[c * d..(c + 1) * d].iter().all(|v| v.is_finite())
            && self.g[c * d..(c + 1) * d].iter().all(|v| v.is_finite())
    }

    /// Copies chain `c` (position, energy, gradient) from `other`.
    #[inline]
    pub fn copy_row_from(&mut self, other: &PointsMut<'_, E>, c: usize, d: usize) {
        self.x[c * d..(c + 1) * d].copy_from_slice(&other.x[c * d..(c + 1) * d]);
        self.g[c * d..(c + 1) * d].copy_from_slice(&other.g[c * d..(c + 1) * d]);
        self.e[c] = other.e[c];
    }
}

/// `p` cut into blocks of `rows` chains of dimension `d`.
pub(crate) fn split_points<E>(p: &mut Points<E>, rows: usize, d: usize) -> Vec<PointsMut<'_, E>> {
    p.x.chunks_mut(rows * d)
        .zip(p.e.chunks_mut(rows))
        .zip(p.g.chunks_mut(rows * d))
        .map(|((x, e), g)| PointsMut { x, e, g })
        .collect()
}
