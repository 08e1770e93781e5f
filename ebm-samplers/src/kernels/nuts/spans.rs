//! The U-turn bookkeeping of a tree: the ends and summed momenta of its stretches, in pooled
//! buffers.

use super::sums::displacement_sums;
use super::sums::uturn_sums;
use super::sums::uturn_sums_pair;
use ebm_core::prelude::*;

/// Vectors of one length in one buffer, reused through a free list, so that no step allocates
/// once the buffer has grown to a tree's needs.
#[derive(Debug, Clone, Default)]
pub(super) struct Pool {
    pub(super) width: usize,
    pub(super) used: usize,
    pub(super) data: Vec<f64>,
    pub(super) free: Vec<u32>,
}

impl Pool {
    /// Forgets every entry; the entries now hold `width` values each.
    pub(super) fn reset(&mut self, width: usize) {
        self.width = width;
        self.used = 0;
        self.free.clear();
    }

    /// A free entry (its values are whatever was there).
    pub(super) fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            return i;
        }
        let i = self.used;
        self.used += 1;
        let need = self.used * self.width;
        if self.data.len() < need {
            self.data.resize(need, 0.0);
        }
        u32::try_from(i).expect("a tree holds far fewer than 2^32 entries")
    }

    pub(super) fn release(&mut self, i: u32) {
        self.free.push(i);
    }

    pub(super) fn get(&self, i: u32) -> &[f64] {
        let (w, i) = (self.width, i as usize);
        &self.data[i * w..(i + 1) * w]
    }

    pub(super) fn get_mut(&mut self, i: u32) -> &mut [f64] {
        let (w, i) = (self.width, i as usize);
        &mut self.data[i * w..(i + 1) * w]
    }

    /// Entry `a` to write and entry `b` to read (`a != b`).
    pub(super) fn pair(&mut self, a: u32, b: u32) -> (&mut [f64], &[f64]) {
        debug_assert_ne!(a, b);
        let (w, a, b) = (self.width, a as usize, b as usize);
        if a < b {
            let (lo, hi) = self.data.split_at_mut(b * w);
            (&mut lo[a * w..(a + 1) * w], &hi[..w])
        } else {
            let (lo, hi) = self.data.split_at_mut(a * w);
            (&mut hi[..w], &lo[b * w..(b + 1) * w])
        }
    }
}

/// A stretch of trajectory for the U-turn checks: its number of points, the entries of its first
/// and last points (in the stretch's order) and of its summed momentum `rho`; a single point has
/// no `rho` entry, its sum being its momentum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Slot {
    pub(super) size: usize,
    pub(super) begin: u32,
    pub(super) end: u32,
    pub(super) rho: Option<u32>,
}

impl Slot {
    pub(super) fn point(i: u32) -> Self {
        Self {
            size: 1,
            begin: i,
            end: i,
            rho: None,
        }
    }

    /// The same stretch read the other way.
    pub(super) fn reversed(self) -> Self {
        Self {
            begin: self.end,
            end: self.begin,
            ..self
        }
    }
}

/// What a tree's U-turn checks need: the momentum and velocity `[p | v]` of each point that is
/// the end of a stretch, and each stretch's summed momentum. A point is written once, when it is
/// made, and joining two stretches only adds their sums: the inner points' entries go back to the
/// pool.
#[derive(Debug, Clone, Default)]
pub(super) struct Spans {
    pub(super) d: usize,
    pub(super) points: Pool,
    pub(super) rhos: Pool,
    /// [`UTurn::Position`]: each point's entry also holds its position, `[p | v | x]`.
    pub(super) positions: bool,
    /// The stretches being joined were made backward in time, so their order is the reverse of
    /// the trajectory's (the position criterion needs the trajectory's order).
    pub(super) backward: bool,
}

impl Spans {
    pub(super) fn reset(&mut self, d: usize, positions: bool) {
        self.d = d;
        self.positions = positions;
        self.backward = false;
        self.points.reset(if positions { 3 * d } else { 2 * d });
        self.rhos.reset(d);
    }

    /// A new point's entry, and its momentum and velocity to fill in.
    pub(super) fn new_point(&mut self) -> (u32, &mut [f64], &mut [f64]) {
        let i = self.points.alloc();
        let d = self.d;
        let (p, v) = self.points.get_mut(i)[..2 * d].split_at_mut(d);
        (i, p, v)
    }

    /// Records point `i`'s position (for [`UTurn::Position`]; nothing otherwise).
    pub(super) fn set_position<E: Real>(&mut self, i: u32, x: &[E]) {
        if self.positions {
            let d = self.d;
            for (o, v) in self.points.get_mut(i)[2 * d..].iter_mut().zip(x) {
                *o = v.as_f64();
            }
        }
    }

    /// The position criterion between points `a` and `b`, `a` made first: the displacement from
    /// the earlier to the later point in the trajectory's order against the momentum at each.
    pub(super) fn displacement_turns(&self, a: u32, b: u32) -> bool {
        let d = self.d;
        let (a, b) = if self.backward { (b, a) } else { (a, b) };
        let (ea, eb) = (self.points.get(a), self.points.get(b));
        let [sa, sb] = displacement_sums([&ea[..d], &eb[..d], &ea[2 * d..], &eb[2 * d..]]);
        sa < 0.0 || sb < 0.0
    }

    /// [`Spans::join`] by the position criterion: the whole, and each half extended by the
    /// neighbouring point of the other (as nuts-rs checks).
    pub(super) fn join_by_position(&mut self, lower: Slot, upper: Slot) -> (Slot, bool) {
        let mut turning = self.displacement_turns(lower.begin, upper.end);
        if lower.size > 1 || upper.size > 1 {
            turning = turning
                || self.displacement_turns(lower.end, upper.end)
                || self.displacement_turns(lower.begin, upper.begin);
        }
        (self.joined(lower, upper, None), turning)
    }

    /// The stretch `lower` then `upper` with summed momentum `rho`; the entries of the points
    /// that are now inside it go back to the pool.
    pub(super) fn joined(&mut self, lower: Slot, upper: Slot, rho: Option<u32>) -> Slot {
        if lower.end != lower.begin {
            self.points.release(lower.end);
        }
        if upper.begin != upper.end {
            self.points.release(upper.begin);
        }
        Slot {
            size: lower.size + upper.size,
            begin: lower.begin,
            end: upper.end,
            rho,
        }
    }

    /// Joins `lower` and `upper` (the upper follows the lower) and reports whether the result
    /// turns back: the generalised criterion on the whole, and on each half extended by the
    /// neighbouring point of the other (Stan's checks across subtrees). For two single points the
    /// three checks are one.
    pub(super) fn join(&mut self, lower: Slot, upper: Slot) -> (Slot, bool) {
        if self.positions {
            return self.join_by_position(lower, upper);
        }
        let d = self.d;
        let turns = |x: f64, y: f64| x <= 0.0 || y <= 0.0;
        if lower.rho.is_none() && upper.rho.is_none() {
            let r = self.rhos.alloc();
            let (pa, va) = self.points.get(lower.begin)[..2 * d].split_at(d);
            let (pb, vb) = self.points.get(upper.begin)[..2 * d].split_at(d);
            let s = uturn_sums_pair(self.rhos.get_mut(r), [pa, pb, va, vb]);
            return (self.joined(lower, upper, Some(r)), turns(s[0], s[1]));
        }
        let ra = match lower.rho {
            Some(r) => r,
            None => {
                let r = self.rhos.alloc();
                let p = &self.points.get(lower.begin)[..d];
                self.rhos.get_mut(r).copy_from_slice(p);
                r
            }
        };
        // Each entry's momentum and velocity (a position, if any, follows them).
        let points = &self.points;
        let pv = |i: u32| &points.get(i)[..2 * d];
        let (lb, le) = (pv(lower.begin), pv(lower.end));
        let (ub, ue) = (pv(upper.begin), pv(upper.end));
        let (ra_values, rb) = match upper.rho {
            Some(r) => self.rhos.pair(ra, r),
            None => (self.rhos.get_mut(ra), &ub[..d]),
        };
        // The six products of the three checks in one pass: the whole, rho = ra + rb, against
        // the outer velocities; the lower half extended by the upper's first point; the upper
        // half extended by the lower's last point. rho is left in ra.
        let s = uturn_sums(
            ra_values,
            [
                rb,
                &ub[..d],
                &le[..d],
                &lb[d..],
                &ub[d..],
                &le[d..],
                &ue[d..],
            ],
        );
        let turning = turns(s[0], s[1]) || turns(s[2], s[3]) || turns(s[4], s[5]);
        if let Some(r) = upper.rho {
            self.rhos.release(r);
        }
        (self.joined(lower, upper, Some(ra)), turning)
    }
}
