//! A trajectory's ends and the tree being built: leapfrog steps with the point chosen so far.

use super::spans::Slot;
use super::spans::Spans;
use super::sums::dot;
use crate::chain::all_finite;
use crate::kernels::kernel::Divergence;
use ebm_core::prelude::*;

/// The first half kick and the drift of a leapfrog step with a mass that is not dense, in one
/// pass: `p -= hs g`, `x += (step m_i^-1) p`, and the new `x` into `row` too (the values of
/// [`PreparedMass::drift`]). Returns whether the new `x` is finite.
#[inline(always)]
pub(super) fn kick_and_drift<E: Real>(
    front: &mut End<E>,
    hs: E,
    step: E,
    inv: &[E],
    row: &mut [E],
) -> bool {
    let d = row.len();
    let (x, p, g) = (&mut front.x[..d], &mut front.p[..d], &front.g[..d]);
    let inv = &inv[..d];
    let lanes = x.iter_mut().zip(p.iter_mut()).zip(g);
    for (((x, p), g), (m, o)) in lanes.zip(inv.iter().zip(row.iter_mut())) {
        *p -= hs * *g;
        *x += step * *m * *p;
        *o = *x;
    }
    all_finite(row)
}

/// The second half kick of a leapfrog step with a mass that is not dense, and the new point's
/// entry, in one pass: the gradient `g` into the front, `p -= hs g`, `p64 = p` and the velocity
/// `v64 = m^-1 p` in `f64`. Returns `p . v`, summed as [`dot`] sums, and whether `g` is finite.
#[inline(always)]
pub(super) fn kick_and_point<E: Real>(
    front: &mut End<E>,
    g: &[E],
    hs: E,
    inv64: &[f64],
    p64: &mut [f64],
    v64: &mut [f64],
) -> (f64, bool) {
    let d = g.len();
    let (p, fg) = (&mut front.p[..d], &mut front.g[..d]);
    let (inv64, p64, v64) = (&inv64[..d], &mut p64[..d], &mut v64[..d]);
    // Simple loops, each of which vectorises.
    fg.copy_from_slice(g);
    for (p, g) in p.iter_mut().zip(g) {
        *p -= hs * *g;
    }
    let finite = all_finite(g);
    for ((o, v), (p, m)) in p64.iter_mut().zip(v64.iter_mut()).zip(p.iter().zip(inv64)) {
        *o = p.as_f64();
        *v = m * *o;
    }
    (dot(p64, v64), finite)
}

pub(super) fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    a.max(b) + (-(a - b).abs()).exp().ln_1p()
}

/// One end of a trajectory: position, momentum, gradient, energy.
#[derive(Debug)]
pub(super) struct End<E> {
    pub(super) x: Vec<E>,
    pub(super) p: Vec<E>,
    pub(super) g: Vec<E>,
    pub(super) e: E,
}

impl<E: Clone> Clone for End<E> {
    fn clone(&self) -> Self {
        Self {
            x: self.x.clone(),
            p: self.p.clone(),
            g: self.g.clone(),
            e: self.e.clone(),
        }
    }
    /// Into the buffers already held (the derived `clone_from` would allocate new ones).
    fn clone_from(&mut self, source: &Self) {
        self.x.clone_from(&source.x);
        self.p.clone_from(&source.p);
        self.g.clone_from(&source.g);
        self.e = source.e.clone();
    }
}

/// Everything one chain's tree holds during a transition.
#[derive(Debug, Clone)]
pub(super) struct Tree<E> {
    pub(super) h0: f64,
    pub(super) left: End<E>,
    pub(super) right: End<E>,
    /// The points and sums of the U-turn checks.
    pub(super) spans: Spans,
    /// The whole trajectory, in spatial order (begin is the left end).
    pub(super) traj: Slot,
    pub(super) log_w: f64,
    pub(super) sample_x: Vec<E>,
    pub(super) sample_g: Vec<E>,
    pub(super) sample_e: E,
    pub(super) sample_delta: f64,
    pub(super) moved: bool,
    // The subtree being built.
    pub(super) dir: i8,
    pub(super) front: End<E>,
    /// The subtree's completed stretches, in the order they were made.
    pub(super) stack: Vec<Slot>,
    pub(super) sub_log_w: f64,
    pub(super) sub_x: Vec<E>,
    pub(super) sub_g: Vec<E>,
    pub(super) sub_e: E,
    pub(super) sub_delta: f64,
    pub(super) sub_alive: bool,
    // Outcome.
    pub(super) done: bool,
    pub(super) depth: u32,
    pub(super) n_leapfrog: u32,
    pub(super) accept_sum: f64,
    /// Sum of the symmetric acceptance statistic over the trajectory's points.
    pub(super) symmetric_sum: f64,
    pub(super) divergence: Option<Divergence>,
    pub(super) hit_max: bool,
    /// Whether the front point's position is finite (checked in the drift's pass).
    pub(super) x_finite: bool,
}

impl<E: Real> End<E> {
    pub(super) fn empty() -> Self {
        Self {
            x: Vec::new(),
            p: Vec::new(),
            g: Vec::new(),
            e: E::zero(),
        }
    }
}

impl<E: Real> Tree<E> {
    /// The leapfrog step `eps` in the subtree's direction.
    pub(super) fn signed(&self, eps: E) -> E {
        if self.dir > 0 {
            eps
        } else {
            -eps
        }
    }

    pub(super) fn empty() -> Self {
        Self {
            h0: 0.0,
            left: End::empty(),
            right: End::empty(),
            spans: Spans::default(),
            traj: Slot::point(0),
            log_w: 0.0,
            sample_x: Vec::new(),
            sample_g: Vec::new(),
            sample_e: E::zero(),
            sample_delta: 0.0,
            moved: false,
            dir: 1,
            front: End::empty(),
            stack: Vec::new(),
            sub_log_w: f64::NEG_INFINITY,
            sub_x: Vec::new(),
            sub_g: Vec::new(),
            sub_e: E::zero(),
            sub_delta: 0.0,
            sub_alive: false,
            done: false,
            depth: 0,
            n_leapfrog: 0,
            accept_sum: 0.0,
            symmetric_sum: 0.0,
            divergence: None,
            hit_max: false,
            x_finite: true,
        }
    }
}
