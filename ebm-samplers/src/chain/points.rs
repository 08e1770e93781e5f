//! Positions with their energies and gradients: what a kernel reads and writes.

use ebm_core::prelude::*;

/// Positions with their energies and gradients, on the host, one chain per row.
///
/// `x` and `g` are row-major `(n_chains, D)`, `e` has one entry per chain. Kernels use it for the
/// current state and for proposals ([`Target::evaluate`](crate::Target::evaluate) fills `e` and `g`
/// from `x`).
#[derive(Debug, Clone, PartialEq)]
pub struct Points<E> {
    /// Positions, row-major `(n_chains, D)`.
    pub x: Vec<E>,
    /// One energy per chain.
    pub e: Vec<E>,
    /// Gradients of the energy, row-major `(n_chains, D)`.
    pub g: Vec<E>,
}

impl<E: Real> Points<E> {
    /// `n_chains` zero points of dimension `d`.
    pub fn zeros(n_chains: usize, d: usize) -> Self {
        Self {
            x: vec![E::zero(); n_chains * d],
            e: vec![E::zero(); n_chains],
            g: vec![E::zero(); n_chains * d],
        }
    }

    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.e.len()
    }

    /// Resizes to `n_chains` points of dimension `d` (new entries are zero).
    pub fn resize(&mut self, n_chains: usize, d: usize) {
        self.x.resize(n_chains * d, E::zero());
        self.e.resize(n_chains, E::zero());
        self.g.resize(n_chains * d, E::zero());
    }

    /// Copies chain `c` (position, energy, gradient) from `other`.
    #[inline]
    pub fn copy_row_from(&mut self, other: &Self, c: usize, d: usize) {
        self.x[c * d..(c + 1) * d].copy_from_slice(&other.x[c * d..(c + 1) * d]);
        self.g[c * d..(c + 1) * d].copy_from_slice(&other.g[c * d..(c + 1) * d]);
        self.e[c] = other.e[c];
    }

    /// Whether chain `c`'s energy, position and gradient are all finite.
    #[inline(always)]
    pub fn row_finite(&self, c: usize, d: usize) -> bool {
        self.e[c].is_finite()
            && all_finite(&self.x[c * d..(c + 1) * d])
            && all_finite(&self.g[c * d..(c + 1) * d])
    }
}

/// Whether every value of `v` is finite: `v - v` is 0 for a finite value and NaN otherwise, summed
/// in eight lanes (a pass of vector additions, where testing each value was not vectorised).
#[inline(always)]
// `x - x` is the test itself.
#[allow(clippy::eq_op)]
pub(crate) fn all_finite<E: Real>(v: &[E]) -> bool {
    let mut acc = [E::zero(); 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += c[l] - c[l];
        }
    }
    for &x in chunks.remainder() {
        acc[0] += x - x;
    }
    acc.iter().all(|a| a.is_finite())
}
