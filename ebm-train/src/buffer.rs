//! The replay buffer of persistent contrastive divergence, as TorchEBM 0.8.9 keeps it
//! (`torchebm/core/base_loss.py`): stratified picks, a few starts nudged by noise, and end points
//! written first in, first out at a running pointer rather than back where they came from.

use crate::error::{invalid, Result};
use rand::Rng;
use rand_distr::StandardNormal;

/// A buffer of `size` points of dimension `dim`, row-major.
///
/// ```
/// use ebm_train::buffer::ReplayBuffer;
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut buf = ReplayBuffer::noise(100, 2, 0.01, &mut rng)?;
/// let picks = buf.stratified_picks(10, &mut rng)?;
/// // One pick in each stretch of 100 / 10 = 10 slots.
/// assert!(picks.iter().enumerate().all(|(i, &p)| p / 10 == i));
/// buf.write_fifo(&vec![1.0; 2 * 10]);
/// assert_eq!(buf.pointer(), 10);
/// # Ok::<(), ebm_train::TrainError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayBuffer {
    points: Vec<f32>,
    dim: usize,
    ptr: usize,
}

impl ReplayBuffer {
    /// `size` points drawn from `scale N(0, I)`.
    ///
    /// # Errors
    /// [`crate::TrainError::InvalidParameter`] for `size = 0`, `dim = 0` or a scale that is not
    /// finite and non-negative.
    pub fn noise(size: usize, dim: usize, scale: f32, rng: &mut impl Rng) -> Result<Self> {
        if size == 0 {
            return Err(invalid(
                "buffer_size",
                0,
                "the buffer needs at least one point",
            ));
        }
        if dim == 0 {
            return Err(invalid("dim", 0, "points need at least one coordinate"));
        }
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(invalid("scale", scale, "must be finite and non-negative"));
        }
        let points = (0..size * dim)
            .map(|_| scale * rng.sample::<f32, _>(StandardNormal))
            .collect();
        Ok(Self {
            points,
            dim,
            ptr: 0,
        })
    }

    /// A buffer holding `points` (row-major, `dim` values each), the write pointer at 0.
    ///
    /// # Errors
    /// [`crate::TrainError::InvalidParameter`] for `dim = 0` or a length that is not a positive
    /// multiple of `dim`.
    pub fn from_points(points: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || points.is_empty() || points.len() % dim != 0 {
            return Err(invalid(
                "points",
                format!("{} values, dim {dim}", points.len()),
                "must be a positive number of points of `dim` values",
            ));
        }
        Ok(Self {
            points,
            dim,
            ptr: 0,
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len() / self.dim
    }

    /// Whether the buffer holds no point (never true for a constructed buffer).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Coordinates per point.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Where the next write starts.
    pub fn pointer(&self) -> usize {
        self.ptr
    }

    /// Moves the write pointer (a checkpoint's); `ptr` below [`ReplayBuffer::len`].
    pub(crate) fn set_pointer(&mut self, ptr: usize) {
        self.ptr = ptr % self.len();
    }

    /// All points, row-major.
    pub fn points(&self) -> &[f32] {
        &self.points
    }

    /// All points, row-major, to change in place (the initial sampling of the buffer).
    pub fn points_mut(&mut self) -> &mut [f32] {
        &mut self.points
    }

    /// `batch` indices, the `i`-th uniform in `[stride i, stride (i + 1))` with `stride = len /
    /// batch` (so the last `len % batch` slots are never picked, as in TorchEBM).
    ///
    /// # Errors
    /// [`crate::TrainError::InvalidParameter`] unless `1 <= batch <= len`.
    pub fn stratified_picks(&self, batch: usize, rng: &mut impl Rng) -> Result<Vec<usize>> {
        if batch == 0 || batch > self.len() {
            return Err(invalid(
                "batch",
                batch,
                "picks need 1 <= batch <= the buffer's size",
            ));
        }
        let stride = self.len() / batch;
        Ok((0..batch)
            .map(|i| (stride * i + rng.gen_range(0..stride)) % self.len())
            .collect())
    }

    /// The points at `picks`, row-major.
    pub fn gather(&self, picks: &[usize]) -> Vec<f32> {
        picks
            .iter()
            .flat_map(|&i| &self.points[i * self.dim..(i + 1) * self.dim])
            .copied()
            .collect()
    }

    /// Writes `points` (row-major, a whole number of points) at the pointer, wrapping at the end,
    /// and moves the pointer past them.
    ///
    /// # Panics
    /// Never for lengths that are whole numbers of points; a trailing partial point is ignored.
    pub fn write_fifo(&mut self, points: &[f32]) {
        for p in points.chunks_exact(self.dim) {
            let at = self.ptr * self.dim;
            self.points[at..at + self.dim].copy_from_slice(p);
            self.ptr = (self.ptr + 1) % self.len();
        }
    }
}

/// Adds `scale N(0, I)` to `count` distinct points of `x` (row-major, `dim` values each), chosen
/// uniformly at random: TorchEBM's "new samples" among a batch of persistent starts.
pub fn nudge(x: &mut [f32], dim: usize, count: usize, scale: f32, rng: &mut impl Rng) {
    let n = x.len() / dim.max(1);
    let count = count.min(n);
    // A partial Fisher-Yates shuffle picks `count` distinct rows.
    let mut rows: Vec<usize> = (0..n).collect();
    for i in 0..count {
        let j = rng.gen_range(i..n);
        rows.swap(i, j);
    }
    for &r in &rows[..count] {
        for v in &mut x[r * dim..(r + 1) * dim] {
            *v += scale * rng.sample::<f32, _>(StandardNormal);
        }
    }
}
