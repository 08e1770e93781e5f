//! The No-U-Turn Sampler: multinomial sampling along trajectories that double until they turn back.

use crate::hmc::Step;
use crate::kernel::{
    check_threshold, Divergence, Kernel, StepInfo, Target, DEFAULT_MAX_ENERGY_ERROR,
};
use crate::mala::check_positive_temperatures;
use crate::mass::{MassMatrix, PreparedMass};
use crate::state::{all_finite, ChainState, Points};
use ebm_core::check;
use ebm_core::prelude::*;
use rand::Rng;

/// The No-U-Turn Sampler (Hoffman and Gelman 2014) with multinomial sampling along the trajectory
/// and the generalised U-turn criterion (Betancourt 2017), as in Stan.
///
/// Each transition draws a momentum `p ~ N(0, M)` and builds a trajectory by doubling: a new
/// subtree of `1, 2, 4, ...` leapfrog steps is added at a random end, until the trajectory turns
/// back on itself (checked on every subtree and across neighbouring subtrees), a step diverges
/// (energy error above the threshold, 1000 by default, or not finite), or the tree reaches its
/// maximum depth (10 by default: at most 1023 leapfrog steps). The next state is drawn from all
/// points of the trajectory in proportion to `exp(-H)`, favouring the newest subtree. The
/// trajectory length adapts to the target at every draw; only the step size (and the mass
/// matrix) need tuning, which [`warmup`](crate::warmup) does.
///
/// In a batch, chains build their trees in lock-step and each stops when its own tree
/// terminates; only the chains still building are evaluated. Each chain draws its directions and
/// multinomial choices from its own stream, so its draws do not depend on the batch or the
/// threads. A chain at temperature `T` targets `exp(-E / T)`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::GaussianModel;
/// use ebm_samplers::prelude::*;
///
/// let dev = Cpu::default();
/// let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]])?;
/// let x0: Batch<2, f64> = dev.zeros_like(&(4, Const::<2>));
/// let out = Nuts::new(0.5)?.run(&model, &x0, &RunOptions::new(200).seed(1).trace(1))?;
/// assert!(out.summary().unwrap().max_r_hat() < 1.1);
/// assert_eq!(out.chain_stats.unwrap().total_divergences(), 0);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Nuts {
    step_size: f64,
    max_depth: u32,
    mass: MassMatrix,
    max_energy_error: f64,
    uturn: UTurn,
    warmup_uturn: UTurn,
}

/// The test that ends a NUTS trajectory when it turns back on itself. Both are checked on every
/// subtree and across neighbouring subtrees (each half extended by the other's nearest point).
///
/// ```
/// use ebm_samplers::prelude::*;
///
/// let nuts = Nuts::default().with_uturn(UTurn::Position);
/// assert_eq!(nuts.uturn(), UTurn::Position);
/// assert_eq!(Nuts::default().uturn(), UTurn::Momentum);
/// // Warm-up's trajectories end by the position criterion unless told otherwise.
/// assert_eq!(Nuts::default().warmup_uturn(), UTurn::Position);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UTurn {
    /// Betancourt's generalised criterion (2017), as in Stan and the default: a stretch turns
    /// when its summed momentum `rho` points against the velocity `M^-1 p` at either end.
    #[default]
    Momentum,
    /// The criterion of Hoffman and Gelman (2014) in the mass matrix's metric, as in nuts-rs:
    /// a stretch turns when its displacement `x_end - x_begin` points against the momentum `p` at
    /// either end. Where the mass matrix does not whiten the target it stops earlier: on the
    /// benchmark's 100-D Gaussian with correlations 0.9 and a diagonal mass, 49 leapfrog steps
    /// per draw instead of 79, at about the same effective sample size per gradient.
    Position,
}

impl Nuts {
    /// NUTS with leapfrog step `step_size`, maximum tree depth 10 and an identity mass matrix.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `step_size` is finite and greater than 0.
    pub fn new(step_size: f64) -> Result<Self> {
        check::positive("step_size", step_size)?;
        Ok(Self {
            step_size,
            max_depth: 10,
            mass: MassMatrix::Identity,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
            uturn: UTurn::Momentum,
            warmup_uturn: UTurn::Position,
        })
    }

    /// The same sampler ending its trajectories by `uturn` (default [`UTurn::Momentum`]); during
    /// [`Warmup`](crate::Warmup) it uses [`Nuts::warmup_uturn`] instead.
    pub fn with_uturn(mut self, uturn: UTurn) -> Self {
        self.uturn = uturn;
        self
    }

    /// The U-turn criterion.
    pub fn uturn(&self) -> UTurn {
        self.uturn
    }

    /// The same sampler ending its trajectories by `uturn` during [`Warmup`](crate::Warmup)
    /// (default [`UTurn::Position`]); the draws after warm-up use [`Nuts::uturn`].
    ///
    /// Both criteria leave the target invariant, and warm-up's draws are discarded: they only
    /// carry the chains into the typical set and feed the step-size and mass estimates. The
    /// position criterion ends trajectories earlier where the mass matrix does not whiten the
    /// target, which is the rule during warm-up, at about the same effective sample size per
    /// gradient. On the benchmark's 100-D Gaussian with correlations 0.9 (diagonal adaptation,
    /// 4 chains, `cargo xtask bench` rows `diag` and `mwarm`) warm-up takes 212 544 gradient
    /// evaluations instead of 324 084; on the 100-D Gaussian with scales 0.1 to 10 and on the
    /// logistic regression, where the mass matrix whitens the target, the two cost about the
    /// same.
    ///
    /// ```
    /// use ebm_samplers::prelude::*;
    ///
    /// let stan_like = Nuts::default().with_warmup_uturn(UTurn::Momentum);
    /// assert_eq!(stan_like.warmup_uturn(), UTurn::Momentum);
    /// assert_eq!(stan_like.uturn(), UTurn::Momentum);
    /// ```
    pub fn with_warmup_uturn(mut self, uturn: UTurn) -> Self {
        self.warmup_uturn = uturn;
        self
    }

    /// The U-turn criterion during warm-up.
    pub fn warmup_uturn(&self) -> UTurn {
        self.warmup_uturn
    }

    /// The same sampler with maximum tree depth `depth` (at most `2^depth - 1` leapfrog steps).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `1 <= depth <= 30`.
    pub fn with_max_depth(mut self, depth: u32) -> Result<Self> {
        if !(1..=30).contains(&depth) {
            return Err(Error::invalid(
                "max_depth",
                depth,
                "must be between 1 and 30",
            ));
        }
        self.max_depth = depth;
        Ok(self)
    }

    /// The same sampler with mass matrix `mass`.
    ///
    /// # Errors
    /// As [`MassMatrix::validate`].
    pub fn with_mass(mut self, mass: MassMatrix) -> Result<Self> {
        mass.validate()?;
        self.mass = mass;
        Ok(self)
    }

    /// The same sampler flagging a transition as divergent when an energy error along the
    /// trajectory exceeds `threshold` (default 1000).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `threshold` is greater than 0.
    pub fn with_divergence_threshold(mut self, threshold: f64) -> Result<Self> {
        self.max_energy_error = check_threshold(threshold)?;
        Ok(self)
    }

    /// The initial step size.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The maximum tree depth.
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// The energy error above which a transition counts as divergent.
    pub fn divergence_threshold(&self) -> f64 {
        self.max_energy_error
    }

    /// The mass matrix.
    pub fn mass(&self) -> &MassMatrix {
        &self.mass
    }
}

impl Default for Nuts {
    /// Step size 1 (warm-up tunes it), maximum depth 10, identity mass, divergence threshold 1000,
    /// the momentum U-turn criterion (the position criterion during warm-up).
    fn default() -> Self {
        Self {
            step_size: 1.0,
            max_depth: 10,
            mass: MassMatrix::Identity,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
            uturn: UTurn::Momentum,
            warmup_uturn: UTurn::Position,
        }
    }
}

/// Vectors of one length in one buffer, reused through a free list, so that no step allocates
/// once the buffer has grown to a tree's needs.
#[derive(Debug, Clone, Default)]
struct Pool {
    width: usize,
    used: usize,
    data: Vec<f64>,
    free: Vec<u32>,
}

impl Pool {
    /// Forgets every entry; the entries now hold `width` values each.
    fn reset(&mut self, width: usize) {
        self.width = width;
        self.used = 0;
        self.free.clear();
    }

    /// A free entry (its values are whatever was there).
    fn alloc(&mut self) -> u32 {
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

    fn release(&mut self, i: u32) {
        self.free.push(i);
    }

    fn get(&self, i: u32) -> &[f64] {
        let (w, i) = (self.width, i as usize);
        &self.data[i * w..(i + 1) * w]
    }

    fn get_mut(&mut self, i: u32) -> &mut [f64] {
        let (w, i) = (self.width, i as usize);
        &mut self.data[i * w..(i + 1) * w]
    }

    /// Entry `a` to write and entry `b` to read (`a != b`).
    fn pair(&mut self, a: u32, b: u32) -> (&mut [f64], &[f64]) {
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
struct Slot {
    size: usize,
    begin: u32,
    end: u32,
    rho: Option<u32>,
}

impl Slot {
    fn point(i: u32) -> Self {
        Self {
            size: 1,
            begin: i,
            end: i,
            rho: None,
        }
    }

    /// The same stretch read the other way.
    fn reversed(self) -> Self {
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
struct Spans {
    d: usize,
    points: Pool,
    rhos: Pool,
    /// [`UTurn::Position`]: each point's entry also holds its position, `[p | v | x]`.
    positions: bool,
    /// The stretches being joined were made backward in time, so their order is the reverse of
    /// the trajectory's (the position criterion needs the trajectory's order).
    backward: bool,
}

impl Spans {
    fn reset(&mut self, d: usize, positions: bool) {
        self.d = d;
        self.positions = positions;
        self.backward = false;
        self.points.reset(if positions { 3 * d } else { 2 * d });
        self.rhos.reset(d);
    }

    /// A new point's entry, and its momentum and velocity to fill in.
    fn new_point(&mut self) -> (u32, &mut [f64], &mut [f64]) {
        let i = self.points.alloc();
        let d = self.d;
        let (p, v) = self.points.get_mut(i)[..2 * d].split_at_mut(d);
        (i, p, v)
    }

    /// Records point `i`'s position (for [`UTurn::Position`]; nothing otherwise).
    fn set_position<E: Real>(&mut self, i: u32, x: &[E]) {
        if self.positions {
            let d = self.d;
            for (o, v) in self.points.get_mut(i)[2 * d..].iter_mut().zip(x) {
                *o = v.as_f64();
            }
        }
    }

    /// The position criterion between points `a` and `b`, `a` made first: the displacement from
    /// the earlier to the later point in the trajectory's order against the momentum at each.
    fn displacement_turns(&self, a: u32, b: u32) -> bool {
        let d = self.d;
        let (a, b) = if self.backward { (b, a) } else { (a, b) };
        let (ea, eb) = (self.points.get(a), self.points.get(b));
        let [sa, sb] = displacement_sums([&ea[..d], &eb[..d], &ea[2 * d..], &eb[2 * d..]]);
        sa < 0.0 || sb < 0.0
    }

    /// [`Spans::join`] by the position criterion: the whole, and each half extended by the
    /// neighbouring point of the other (as nuts-rs checks).
    fn join_by_position(&mut self, lower: Slot, upper: Slot) -> (Slot, bool) {
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
    fn joined(&mut self, lower: Slot, upper: Slot, rho: Option<u32>) -> Slot {
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
    fn join(&mut self, lower: Slot, upper: Slot) -> (Slot, bool) {
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

/// `(x_b - x_a) . p_a` and `(x_b - x_a) . p_b` (`abx = [p_a, p_b, x_a, x_b]`), in four lanes of
/// coordinates `4 k + l` with the rest in lane 0; the displacement is formed once for both.
fn displacement_sums(abx: [&[f64]; 4]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { displacement_sums_avx2(abx) };
        }
    }
    displacement_sums_portable(abx)
}

/// [`displacement_sums_portable`] compiled for AVX2: the same lanes and the same separate
/// multiplies and adds, so the same bits, in 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn displacement_sums_avx2(abx: [&[f64]; 4]) -> [f64; 2] {
    displacement_sums_portable(abx)
}

#[inline(always)]
fn displacement_sums_portable(abx: [&[f64]; 4]) -> [f64; 2] {
    let [pa, pb, xa, xb] = abx;
    let d = pa.len();
    assert!(abx.iter().all(|v| v.len() == d), "slices of one length");
    let (mut sa, mut sb) = ([0.0f64; 4], [0.0f64; 4]);
    let lanes = xa
        .chunks_exact(4)
        .zip(xb.chunks_exact(4))
        .zip(pa.chunks_exact(4).zip(pb.chunks_exact(4)));
    for ((xa, xb), (pa, pb)) in lanes {
        for l in 0..4 {
            let dx = xb[l] - xa[l];
            sa[l] += dx * pa[l];
            sb[l] += dx * pb[l];
        }
    }
    for i in d / 4 * 4..d {
        let dx = xb[i] - xa[i];
        sa[0] += dx * pa[i];
        sb[0] += dx * pb[i];
    }
    let sum = |s: [f64; 4]| (s[0] + s[1]) + (s[2] + s[3]);
    [sum(sa), sum(sb)]
}

/// The two sums of the U-turn check of two single points `a` then `b`, writing `rho = p_a + p_b`
/// into `rho`: `v_a . rho` and `v_b . rho` (`ab = [p_a, p_b, v_a, v_b]`). These are the first two
/// of [`uturn_sums`] for two points, to the last bit: the same four lanes, in the same order.
fn uturn_sums_pair(rho: &mut [f64], ab: [&[f64]; 4]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { uturn_sums_pair_avx2(rho, ab) };
        }
    }
    uturn_sums_pair_portable(rho, ab)
}

/// [`uturn_sums_pair_portable`] compiled for AVX2: the same lanes and the same separate
/// multiplies and adds, so the same bits, in 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn uturn_sums_pair_avx2(rho: &mut [f64], ab: [&[f64]; 4]) -> [f64; 2] {
    uturn_sums_pair_portable(rho, ab)
}

/// Four lanes per sum, lane `l` taking the coordinates `4 k + l`, the rest into lane 0.
#[inline(always)]
fn uturn_sums_pair_portable(rho: &mut [f64], ab: [&[f64]; 4]) -> [f64; 2] {
    let [pa, pb, va, vb] = ab;
    let d = rho.len();
    assert!(ab.iter().all(|v| v.len() == d), "slices of one length");
    let (mut sa, mut sb) = ([0.0f64; 4], [0.0f64; 4]);
    let lanes = rho
        .chunks_exact_mut(4)
        .zip(pa.chunks_exact(4).zip(pb.chunks_exact(4)))
        .zip(va.chunks_exact(4).zip(vb.chunks_exact(4)));
    for ((r, (pa, pb)), (va, vb)) in lanes {
        for l in 0..4 {
            r[l] = pa[l] + pb[l];
            sa[l] += va[l] * r[l];
            sb[l] += vb[l] * r[l];
        }
    }
    for i in d / 4 * 4..d {
        rho[i] = pa[i] + pb[i];
        sa[0] += va[i] * rho[i];
        sb[0] += vb[i] * rho[i];
    }
    let sum = |s: [f64; 4]| (s[0] + s[1]) + (s[2] + s[3]);
    [sum(sa), sum(sb)]
}

/// The six sums of the U-turn checks of a join, in one pass over the coordinates, leaving
/// `rho = ra + rb` in `ra`: `vba . rho`, `veb . rho` (the whole), `vba . (ra + pbb)`,
/// `vbb . (ra + pbb)` (the lower half with the upper's first point), `vea . (rb + pea)`,
/// `veb . (rb + pea)` (the upper half with the lower's last point).
///
/// Four lanes per sum, so the additions of neighbouring coordinates do not wait on each other. On
/// x86-64 processors with AVX2 the lanes run in 256-bit registers; the sums are the same to the
/// last bit either way (the lanes and their order are fixed, and no multiply-add is fused).
fn uturn_sums(ra: &mut [f64], rest: [&[f64]; 7]) -> [f64; 6] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { uturn_sums_avx2(ra, rest) };
        }
    }
    uturn_sums_portable(ra, rest)
}

/// [`uturn_sums_portable`] in 256-bit registers: lane `l` of each register is lane `l` of the
/// portable accumulators, and every operation is the same separate multiply and add.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn uturn_sums_avx2(ra: &mut [f64], rest: [&[f64]; 7]) -> [f64; 6] {
    use std::arch::x86_64::*;
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    let d = ra.len();
    assert!(rest.iter().all(|v| v.len() == d), "slices of one length");
    let full = d / 4 * 4;
    let mut acc = [_mm256_setzero_pd(); 6];
    let mut c = 0;
    while c < full {
        // SAFETY: c + 4 <= full <= d, the length of every slice (asserted above); unaligned
        // loads and stores.
        unsafe {
            let ld = |v: &[f64]| _mm256_loadu_pd(v.as_ptr().add(c));
            let (a, b, pb, pe) = (ld(ra), ld(rb), ld(pbb), ld(pea));
            let rho = _mm256_add_pd(a, b);
            let left = _mm256_add_pd(a, pb);
            let right = _mm256_add_pd(b, pe);
            let (vb0, vb1, ve0, ve1) = (ld(vba), ld(vbb), ld(vea), ld(veb));
            acc[0] = _mm256_add_pd(acc[0], _mm256_mul_pd(vb0, rho));
            acc[1] = _mm256_add_pd(acc[1], _mm256_mul_pd(ve1, rho));
            acc[2] = _mm256_add_pd(acc[2], _mm256_mul_pd(vb0, left));
            acc[3] = _mm256_add_pd(acc[3], _mm256_mul_pd(vb1, left));
            acc[4] = _mm256_add_pd(acc[4], _mm256_mul_pd(ve0, right));
            acc[5] = _mm256_add_pd(acc[5], _mm256_mul_pd(ve1, right));
            _mm256_storeu_pd(ra.as_mut_ptr().add(c), rho);
        }
        c += 4;
    }
    let mut lanes = [[0.0f64; 4]; 6];
    for (out, a) in lanes.iter_mut().zip(acc) {
        // SAFETY: `out` holds four f64.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), a) };
    }
    uturn_tail(ra, rest, full, &mut lanes);
    lanes.map(|v| (v[0] + v[1]) + (v[2] + v[3]))
}

/// The coordinates from `full` on, into lane 0.
#[inline(always)]
fn uturn_tail(ra: &mut [f64], rest: [&[f64]; 7], full: usize, acc: &mut [[f64; 4]; 6]) {
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    for i in full..ra.len() {
        let rho = ra[i] + rb[i];
        let left = ra[i] + pbb[i];
        let right = rb[i] + pea[i];
        acc[0][0] += vba[i] * rho;
        acc[1][0] += veb[i] * rho;
        acc[2][0] += vba[i] * left;
        acc[3][0] += vbb[i] * left;
        acc[4][0] += vea[i] * right;
        acc[5][0] += veb[i] * right;
        ra[i] = rho;
    }
}

/// The portable loop: four lanes per sum, lane `l` taking the coordinates `4 k + l`.
// One index runs over eight slices and six accumulators at once.
#[allow(clippy::needless_range_loop)]
fn uturn_sums_portable(ra: &mut [f64], rest: [&[f64]; 7]) -> [f64; 6] {
    let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
    let d = ra.len();
    let full = d / 4 * 4;
    let mut acc = [[0.0f64; 4]; 6];
    for c in (0..full).step_by(4) {
        for l in 0..4 {
            let i = c + l;
            let rho = ra[i] + rb[i];
            let left = ra[i] + pbb[i];
            let right = rb[i] + pea[i];
            acc[0][l] += vba[i] * rho;
            acc[1][l] += veb[i] * rho;
            acc[2][l] += vba[i] * left;
            acc[3][l] += vbb[i] * left;
            acc[4][l] += vea[i] * right;
            acc[5][l] += veb[i] * right;
            ra[i] = rho;
        }
    }
    uturn_tail(ra, rest, full, &mut acc);
    acc.map(|v| (v[0] + v[1]) + (v[2] + v[3]))
}

/// `a . b` with four partial sums, so the additions do not wait on each other.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The first half kick and the drift of a leapfrog step with a mass that is not dense, in one
/// pass: `p -= hs g`, `x += (step m_i^-1) p`, and the new `x` into `row` too (the values of
/// [`PreparedMass::drift`]). Returns whether the new `x` is finite.
#[inline(always)]
fn kick_and_drift<E: Real>(front: &mut End<E>, hs: E, step: E, inv: &[E], row: &mut [E]) -> bool {
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
fn kick_and_point<E: Real>(
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

fn log_add_exp(a: f64, b: f64) -> f64 {
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
struct End<E> {
    x: Vec<E>,
    p: Vec<E>,
    g: Vec<E>,
    e: E,
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
struct Tree<E> {
    h0: f64,
    left: End<E>,
    right: End<E>,
    /// The points and sums of the U-turn checks.
    spans: Spans,
    /// The whole trajectory, in spatial order (begin is the left end).
    traj: Slot,
    log_w: f64,
    sample_x: Vec<E>,
    sample_g: Vec<E>,
    sample_e: E,
    sample_delta: f64,
    moved: bool,
    // The subtree being built.
    dir: i8,
    front: End<E>,
    /// The subtree's completed stretches, in the order they were made.
    stack: Vec<Slot>,
    sub_log_w: f64,
    sub_x: Vec<E>,
    sub_g: Vec<E>,
    sub_e: E,
    sub_delta: f64,
    sub_alive: bool,
    // Outcome.
    done: bool,
    depth: u32,
    n_leapfrog: u32,
    accept_sum: f64,
    /// Sum of the symmetric acceptance statistic over the trajectory's points.
    symmetric_sum: f64,
    divergence: Option<Divergence>,
    hit_max: bool,
    /// Whether the front point's position is finite (checked in the drift's pass).
    x_finite: bool,
}

impl<E: Real> End<E> {
    fn empty() -> Self {
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
    fn signed(&self, eps: E) -> E {
        if self.dir > 0 {
            eps
        } else {
            -eps
        }
    }

    fn empty() -> Self {
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

/// Buffers and per-chain constants of a NUTS step.
#[derive(Debug, Clone)]
pub struct NutsWorkspace<E> {
    mass: Option<PreparedMass<E>>,
    /// For a mass that is not dense, its inverse per coordinate, as `E` for the drift and as
    /// `f64` for the velocity (the values the mass's own products use).
    diagonal: Option<(Vec<E>, Vec<f64>)>,
    eps: Vec<E>,
    sqrt_temperature: Vec<E>,
    temperature: Vec<f64>,
    version: Option<(u64, usize)>,
    trees: Vec<Tree<E>>,
    active: Vec<usize>,
    batch: Option<Points<E>>,
    /// The active chains' momenta, steps and velocities, side by side (dense masses).
    rows_p: Vec<E>,
    steps: Vec<E>,
    rows_v: Vec<f64>,
}

impl<E> Default for NutsWorkspace<E> {
    fn default() -> Self {
        Self {
            mass: None,
            diagonal: None,
            eps: Vec::new(),
            sqrt_temperature: Vec::new(),
            temperature: Vec::new(),
            version: None,
            trees: Vec::new(),
            active: Vec::new(),
            batch: None,
            rows_p: Vec::new(),
            steps: Vec::new(),
            rows_v: Vec::new(),
        }
    }
}

impl<E: Real> NutsWorkspace<E> {
    fn refresh<const D: usize, Dev: Device<E>>(
        &mut self,
        nuts: &Nuts,
        state: &ChainState<D, E, Dev>,
    ) -> Result<()> {
        if self.mass.is_none() {
            let mass = nuts.mass.prepare::<E>(D)?;
            self.diagonal = mass.diagonal_inverse(D);
            self.mass = Some(mass);
        }
        let key = (state.params_version(), state.n_chains());
        if self.version == Some(key) {
            return Ok(());
        }
        check_positive_temperatures(state.temperatures())?;
        // Into the buffers held: a warm-up changes the step sizes at every draw.
        self.eps.clear();
        self.eps
            .extend(state.step_sizes().iter().map(|&h| E::of(h)));
        self.temperature.clear();
        self.temperature.extend_from_slice(state.temperatures());
        self.sqrt_temperature.clear();
        let roots = self.temperature.iter().map(|t| E::of(t.sqrt()));
        self.sqrt_temperature.extend(roots);
        self.version = Some(key);
        Ok(())
    }
}

impl Kernel for Nuts {
    type Workspace<E: Real> = NutsWorkspace<E>;

    fn initial_step_size(&self) -> f64 {
        self.step_size
    }

    fn initial_temperature(&self) -> f64 {
        1.0
    }

    fn metropolis_adjusted(&self) -> bool {
        true
    }

    fn check_dimension(&self, d: usize) -> Result<()> {
        self.mass.prepare::<f64>(d).map(|_| ())
    }

    fn step<const D: usize, E, Dev, M>(
        &self,
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
        ws: &mut Self::Workspace<E>,
        info: &mut [StepInfo],
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                return unsafe { self.transition_avx2(target, state, ws, info) };
            }
        }
        self.transition(target, state, ws, info)
    }
}

impl Nuts {
    /// [`Nuts::transition`] compiled for AVX2: the per-coordinate loops of the leapfrog steps and
    /// their bookkeeping run four `f64` (eight `f32`) at a time. Multiplies and adds stay separate,
    /// so the draws are the same to the last bit as without AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn transition_avx2<const D: usize, E, Dev, M>(
        &self,
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
        ws: &mut NutsWorkspace<E>,
        info: &mut [StepInfo],
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.transition(target, state, ws, info)
    }

    /// One transition of every chain: see [`Nuts`].
    #[inline(always)]
    fn transition<const D: usize, E, Dev, M>(
        &self,
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
        ws: &mut NutsWorkspace<E>,
        info: &mut [StepInfo],
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        ws.refresh(self, state)?;
        let n = state.n_chains();
        let NutsWorkspace {
            mass: Some(mass),
            diagonal,
            eps,
            sqrt_temperature,
            temperature,
            trees,
            active,
            batch,
            rows_p,
            steps,
            rows_v,
            ..
        } = ws
        else {
            return Ok(());
        };
        let (cur, rngs) = state.points_and_rngs_mut();

        // Start every chain's tree at its current point with a fresh momentum. The trees keep
        // their buffers from one transition to the next.
        if trees.len() != n {
            trees.clear();
            trees.resize_with(n, Tree::empty);
        }
        for (c, tree) in trees.iter_mut().enumerate() {
            let rows = c * D..(c + 1) * D;
            let start = &mut tree.left;
            start.p.clear();
            start
                .p
                .extend((0..D).map(|_| E::standard_normal(&mut rngs[c])));
            mass.momentum(&mut start.p);
            if sqrt_temperature[c] != E::one() {
                start.p.iter_mut().for_each(|v| *v *= sqrt_temperature[c]);
            }
            start.x.clear();
            start.x.extend_from_slice(&cur.x[rows.clone()]);
            start.g.clear();
            start.g.extend_from_slice(&cur.g[rows]);
            start.e = cur.e[c];
            tree.spans.reset(D, self.uturn == UTurn::Position);
            let (i, p64, v64) = tree.spans.new_point();
            for (o, v) in p64.iter_mut().zip(&start.p) {
                *o = v.as_f64();
            }
            mass.velocity(&start.p, v64);
            tree.h0 = cur.e[c].as_f64() + 0.5 * dot(p64, v64);
            tree.spans.set_position(i, &tree.left.x);
            tree.traj = Slot::point(i);
            tree.stack.clear();
            tree.right.clone_from(&tree.left);
            tree.log_w = 0.0;
            tree.sample_x.clone_from(&tree.left.x);
            tree.sample_g.clone_from(&tree.left.g);
            tree.sample_e = tree.left.e;
            tree.sample_delta = 0.0;
            tree.moved = false;
            tree.sub_alive = false;
            tree.done = false;
            tree.depth = 0;
            tree.n_leapfrog = 0;
            tree.accept_sum = 0.0;
            tree.symmetric_sum = 0.0;
            tree.divergence = None;
            tree.hit_max = false;
        }

        let half = E::of(0.5);
        for depth in 0..self.max_depth {
            // Each chain still building picks a direction and starts a subtree at that end.
            let mut any = false;
            for (c, tree) in trees.iter_mut().enumerate() {
                if tree.done {
                    continue;
                }
                any = true;
                tree.dir = if rngs[c].gen::<bool>() { 1 } else { -1 };
                if tree.dir > 0 {
                    tree.front.clone_from(&tree.right);
                } else {
                    tree.front.clone_from(&tree.left);
                }
                tree.stack.clear();
                tree.spans.backward = tree.dir < 0;
                tree.sub_log_w = f64::NEG_INFINITY;
                tree.sub_alive = true;
            }
            if !any {
                break;
            }
            for _leaf in 0..(1usize << depth) {
                active.clear();
                active.extend((0..n).filter(|&c| !trees[c].done && trees[c].sub_alive));
                if active.is_empty() {
                    break;
                }
                let m = active.len();
                let pts = batch.get_or_insert_with(|| Points::zeros(m, D));
                pts.resize(m, D);
                if let Some((inv, inv64)) = diagonal {
                    // Half kick and drift for the active chains, one evaluation of their rows,
                    // then the second half kick, each chain's coordinates in one pass each.
                    for (k, &c) in active.iter().enumerate() {
                        let tree = &mut trees[c];
                        let step = tree.signed(eps[c]);
                        let row = &mut pts.x[k * D..(k + 1) * D];
                        tree.x_finite =
                            kick_and_drift(&mut tree.front, step * half, step, inv, row);
                    }
                    target.evaluate(pts)?;
                    for (k, &c) in active.iter().enumerate() {
                        let tree = &mut trees[c];
                        let step = tree.signed(eps[c]);
                        tree.front.e = pts.e[k];
                        // The new point's momentum and velocity go straight into its entry.
                        let (i, p64, v64) = tree.spans.new_point();
                        let row = &pts.g[k * D..(k + 1) * D];
                        let (pv, g_finite) =
                            kick_and_point(&mut tree.front, row, step * half, inv64, p64, v64);
                        let finite = tree.x_finite && g_finite;
                        tree.spans.set_position(i, &tree.front.x);
                        self.after_leaf(tree, i, pv, finite, temperature[c], &mut rngs[c]);
                    }
                    continue;
                }
                // A dense mass multiplies the momenta of all active chains at once (each row's
                // result is the one a single-row product gives).
                rows_p.clear();
                steps.clear();
                for (k, &c) in active.iter().enumerate() {
                    let tree = &mut trees[c];
                    let step = tree.signed(eps[c]);
                    let hs = step * half;
                    for (p, g) in tree.front.p.iter_mut().zip(&tree.front.g) {
                        *p -= hs * *g;
                    }
                    rows_p.extend_from_slice(&tree.front.p);
                    steps.push(step);
                    pts.x[k * D..(k + 1) * D].copy_from_slice(&tree.front.x);
                }
                mass.drift_batch(&mut pts.x, rows_p, Step::PerChain(steps), D);
                target.evaluate(pts)?;
                rows_p.clear();
                for (k, &c) in active.iter().enumerate() {
                    let tree = &mut trees[c];
                    let step = tree.signed(eps[c]);
                    let hs = step * half;
                    tree.front.x.copy_from_slice(&pts.x[k * D..(k + 1) * D]);
                    tree.front.g.copy_from_slice(&pts.g[k * D..(k + 1) * D]);
                    tree.front.e = pts.e[k];
                    for (p, g) in tree.front.p.iter_mut().zip(&tree.front.g) {
                        *p -= hs * *g;
                    }
                    rows_p.extend_from_slice(&tree.front.p);
                }
                rows_v.resize(m * D, 0.0);
                mass.velocity_rows(rows_p, D, rows_v);
                for (k, &c) in active.iter().enumerate() {
                    let tree = &mut trees[c];
                    let (i, p64, v64) = tree.spans.new_point();
                    for (o, v) in p64.iter_mut().zip(&tree.front.p) {
                        *o = v.as_f64();
                    }
                    v64.copy_from_slice(&rows_v[k * D..(k + 1) * D]);
                    let pv = dot(p64, v64);
                    let finite = pts.row_finite(k, D);
                    tree.spans.set_position(i, &tree.front.x);
                    self.after_leaf(tree, i, pv, finite, temperature[c], &mut rngs[c]);
                }
            }
            // Merge the finished subtrees into their trajectories.
            for (c, tree) in trees.iter_mut().enumerate() {
                if tree.done {
                    continue;
                }
                if !tree.sub_alive {
                    tree.done = true;
                    continue;
                }
                tree.depth = depth + 1;
                // Biased progressive sampling: favour the new subtree.
                let u: f64 = rngs[c].gen();
                if u.ln() < tree.sub_log_w - tree.log_w {
                    // The subtree's sample is rewritten by the next subtree's first point.
                    std::mem::swap(&mut tree.sample_x, &mut tree.sub_x);
                    std::mem::swap(&mut tree.sample_g, &mut tree.sub_g);
                    tree.sample_e = tree.sub_e;
                    tree.sample_delta = tree.sub_delta;
                    tree.moved = true;
                }
                tree.log_w = log_add_exp(tree.log_w, tree.sub_log_w);
                // The subtree is the stack's single stretch, in the order it was made; put the
                // trajectory and the subtree side by side in spatial order and join them. The
                // front becomes the new end (and is rewritten when the next subtree starts).
                let sub = tree.stack[0];
                let (lower, upper) = if tree.dir > 0 {
                    std::mem::swap(&mut tree.right, &mut tree.front);
                    (tree.traj, sub)
                } else {
                    std::mem::swap(&mut tree.left, &mut tree.front);
                    (sub.reversed(), tree.traj)
                };
                // The trajectory and the subtree, side by side, are in the trajectory's order.
                tree.spans.backward = false;
                let (traj, turning) = tree.spans.join(lower, upper);
                tree.traj = traj;
                if turning {
                    tree.done = true;
                } else if tree.depth == self.max_depth {
                    tree.done = true;
                    tree.hit_max = true;
                }
            }
        }

        // The drawn points become the chains' states.
        for (c, (tree, info)) in trees.iter().zip(info.iter_mut()).enumerate() {
            let rows = c * D..(c + 1) * D;
            cur.x[rows.clone()].copy_from_slice(&tree.sample_x);
            cur.g[rows].copy_from_slice(&tree.sample_g);
            cur.e[c] = tree.sample_e;
            let steps = tree.n_leapfrog.max(1);
            info.log_accept_ratio = (tree.accept_sum / steps as f64).ln();
            info.trajectory_symmetric_accept = Some(tree.symmetric_sum / steps as f64);
            info.accepted = tree.moved;
            info.energy_error = tree.sample_delta;
            info.grad_evals = tree.n_leapfrog;
            info.divergence = tree.divergence;
            info.tree_depth = tree.depth;
            info.hit_max_depth = tree.hit_max;
        }
        Ok(())
    }

    /// Bookkeeping after a chain's leapfrog step: energy error, divergence, multinomial choice
    /// within the subtree, and the U-turn checks of every subtree that this point completes.
    ///
    /// Point `point` of the tree's spans holds the front point's momentum and velocity `M^-1 p`
    /// (which serves both the kinetic energy and the U-turn checks), `pv` is their product
    /// `p . v`, and `finite` says whether the front's position and gradient are finite.
    #[inline(always)]
    fn after_leaf<E: Real, R: Rng>(
        &self,
        tree: &mut Tree<E>,
        point: u32,
        pv: f64,
        finite: bool,
        temperature: f64,
        rng: &mut R,
    ) {
        tree.n_leapfrog += 1;
        let h = tree.front.e.as_f64() + 0.5 * pv;
        let delta = (h - tree.h0) / temperature;
        if !(finite && delta.is_finite()) {
            tree.divergence = Some(Divergence::NonFinite);
            tree.sub_alive = false;
            tree.spans.points.release(point);
            return;
        }
        tree.accept_sum += (-delta).min(0.0).exp();
        // 2 min(1, r) / (1 + r) with r = e^-delta is 2 / (1 + e^|delta|).
        tree.symmetric_sum += 2.0 / (1.0 + delta.abs().exp());
        if delta > self.max_energy_error {
            tree.divergence = Some(Divergence::EnergyError);
            tree.sub_alive = false;
            tree.spans.points.release(point);
            return;
        }
        // Multinomial sampling within the subtree, point by point.
        // The new point replaces the subtree's sample with probability w / (W + w), W the
        // subtree's weight so far: 1 / (1 + e^(log W - log w)).
        let log_w = -delta;
        let take = if tree.sub_log_w == f64::NEG_INFINITY {
            tree.sub_log_w = log_w;
            1.0
        } else {
            let a = tree.sub_log_w - log_w;
            let e = (-a.abs()).exp();
            tree.sub_log_w = tree.sub_log_w.max(log_w) + e.ln_1p();
            if a > 0.0 {
                e / (1.0 + e)
            } else {
                1.0 / (1.0 + e)
            }
        };
        let u: f64 = rng.gen();
        if u < take {
            tree.sub_x.clone_from(&tree.front.x);
            tree.sub_g.clone_from(&tree.front.g);
            tree.sub_e = tree.front.e;
            tree.sub_delta = delta;
        }
        // Join the new point with the completed subtrees of its size, checking each join.
        tree.stack.push(Slot::point(point));
        while let [.., lower, upper] = tree.stack[..] {
            if lower.size != upper.size {
                break;
            }
            tree.stack.truncate(tree.stack.len() - 2);
            let (joined, turning) = tree.spans.join(lower, upper);
            tree.stack.push(joined);
            if turning {
                tree.sub_alive = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The straightforward sums, one coordinate after another.
    fn naive(ra: &[f64], rest: [&[f64]; 7]) -> [f64; 6] {
        let [rb, pbb, pea, vba, vbb, vea, veb] = rest;
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let add = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
        let (rho, left, right) = (add(ra, rb), add(ra, pbb), add(rb, pea));
        [
            dot(vba, &rho),
            dot(veb, &rho),
            dot(vba, &left),
            dot(vbb, &left),
            dot(vea, &right),
            dot(veb, &right),
        ]
    }

    /// For each length that exercises the lanes and the tail, four vectors of that length with
    /// coordinates uniform in (-2, 2).
    fn four_vectors(seed: u64) -> impl Iterator<Item = (usize, Vec<Vec<f64>>)> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        [1, 2, 3, 4, 5, 7, 8, 13, 100].into_iter().map(move |d| {
            let v = (0..4)
                .map(|_| (0..d).map(|_| rng.gen_range(-2.0..2.0)).collect())
                .collect();
            (d, v)
        })
    }

    #[test]
    fn the_pair_sums_are_the_six_sums_of_two_single_points() {
        for (d, v) in four_vectors(6) {
            let (pa, pb, va, vb) = (&v[0], &v[1], &v[2], &v[3]);
            // A single point's stretch: rho = p, and both ends are the point.
            let mut ra = pa.clone();
            let six = uturn_sums(&mut ra, [pb, pb, pa, va, vb, va, vb]);
            let mut rho = vec![0.0; d];
            let two = uturn_sums_pair(&mut rho, [pa, pb, va, vb]);
            let mut rho_portable = vec![0.0; d];
            let portable = uturn_sums_pair_portable(&mut rho_portable, [pa, pb, va, vb]);
            assert_eq!(two.map(f64::to_bits), [six[0].to_bits(), six[1].to_bits()]);
            // The checks across the halves are the whole's for two points.
            assert_eq!(six[2].to_bits(), six[0].to_bits());
            assert_eq!(six[5].to_bits(), six[1].to_bits());
            assert_eq!(two.map(f64::to_bits), portable.map(f64::to_bits));
            assert_eq!(rho, ra);
            assert_eq!(rho_portable, ra);
        }
    }

    #[test]
    fn the_displacement_sums_are_the_two_dot_products_bit_for_bit_on_every_path() {
        for (d, v) in four_vectors(11) {
            let (pa, pb, xa, xb) = (&v[0], &v[1], &v[2], &v[3]);
            let fast = displacement_sums([pa, pb, xa, xb]);
            let portable = displacement_sums_portable([pa, pb, xa, xb]);
            assert_eq!(
                fast.map(f64::to_bits),
                portable.map(f64::to_bits),
                "d = {d}"
            );
            let dx: Vec<f64> = xa.iter().zip(xb).map(|(a, b)| b - a).collect();
            let dot = |p: &[f64]| dx.iter().zip(p).map(|(x, y)| x * y).sum::<f64>();
            for (s, want) in fast.iter().zip([dot(pa), dot(pb)]) {
                assert!(
                    (s - want).abs() < 1e-12 * (1.0 + want.abs()),
                    "d = {d}: {s} vs {want}"
                );
            }
        }
    }

    #[test]
    fn joining_stretches_returns_inner_points_to_the_pool() {
        let d = 3;
        let mut spans = Spans::default();
        spans.reset(d, false);
        let point = |spans: &mut Spans, k: f64| {
            let (i, p, v) = spans.new_point();
            p.iter_mut().for_each(|x| *x = k);
            v.iter_mut().for_each(|x| *x = k);
            Slot::point(i)
        };
        let (a, b) = (point(&mut spans, 1.0), point(&mut spans, 2.0));
        let (ab, turning) = spans.join(a, b);
        assert!(!turning);
        let (c, e) = (point(&mut spans, 3.0), point(&mut spans, 4.0));
        let (ce, _) = spans.join(c, e);
        let (whole, turning) = spans.join(ab, ce);
        assert!(!turning);
        assert_eq!((whole.size, whole.begin, whole.end), (4, a.begin, e.end));
        // rho is the sum of the four momenta.
        assert_eq!(spans.rhos.get(whole.rho.unwrap()), &[10.0; 3]);
        // The two inner points and the upper sum went back, and are handed out again.
        assert_eq!(spans.points.free.len(), 2);
        assert_eq!(spans.rhos.free.len(), 1);
        let before = spans.points.used;
        point(&mut spans, 5.0);
        point(&mut spans, 6.0);
        assert_eq!(spans.points.used, before);
        // A momentum pointing back turns the trajectory.
        let f = point(&mut spans, -10.0);
        let (_, turning) = spans.join(whole.reversed(), f);
        assert!(turning);
    }

    #[test]
    fn the_position_criterion_reads_stretches_in_the_trajectorys_order() {
        let d = 3;
        let mut spans = Spans::default();
        spans.reset(d, true);
        let point = |spans: &mut Spans, x: f64, p: f64| {
            let (i, pp, v) = spans.new_point();
            pp.iter_mut().for_each(|o| *o = p);
            v.iter_mut().for_each(|o| *o = p);
            spans.set_position(i, &[x; 3]);
            Slot::point(i)
        };
        // Forward in time: x grows along p, no turn.
        let (a, b) = (point(&mut spans, 0.0, 1.0), point(&mut spans, 0.1, 1.0));
        let (ab, turning) = spans.join(a, b);
        assert!(!turning);
        assert_eq!(
            (ab.size, ab.begin, ab.end, ab.rho),
            (2, a.begin, b.begin, None)
        );
        // Made backward in time: x falls while p still points up. Read in the trajectory's order
        // this does not turn; read in the order made it would.
        let (c, e) = (point(&mut spans, 0.0, 1.0), point(&mut spans, -0.1, 1.0));
        spans.backward = true;
        assert!(!spans.join(c, e).1);
        let (f, g) = (point(&mut spans, 0.0, 1.0), point(&mut spans, -0.1, 1.0));
        spans.backward = false;
        assert!(spans.join(f, g).1);
        // A momentum against the displacement turns the whole, and the join of longer stretches
        // returns the inner points.
        let (h, k) = (point(&mut spans, 0.2, 1.0), point(&mut spans, 0.3, -1.0));
        let (hk, _) = spans.join(h, k);
        let free = spans.points.free.len();
        let (_, turning) = spans.join(ab, hk);
        assert!(turning);
        assert_eq!(spans.points.free.len(), free + 2);
    }

    /// The fused leapfrog passes against the mass's own kick, drift, velocity and `dot`.
    fn check_fused<E: Real>(mass: MassMatrix, d: usize, seed: u64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut draw =
            |n: usize| -> Vec<E> { (0..n).map(|_| E::of(rng.gen_range(-2.0..2.0))).collect() };
        let prepared = mass.prepare::<E>(d).unwrap();
        let (inv, inv64) = prepared.diagonal_inverse(d).unwrap();
        let (hs, step) = (E::of(0.15), E::of(0.3));
        let start = End {
            x: draw(d),
            p: draw(d),
            g: draw(d),
            e: E::zero(),
        };
        let g_new = draw(d);
        // The plain way.
        let mut plain = start.clone();
        plain
            .p
            .iter_mut()
            .zip(&plain.g)
            .for_each(|(p, g)| *p -= hs * *g);
        prepared.drift(&mut plain.x, &plain.p, step);
        plain.g.clone_from(&g_new);
        plain
            .p
            .iter_mut()
            .zip(&plain.g)
            .for_each(|(p, g)| *p -= hs * *g);
        let p64: Vec<f64> = plain.p.iter().map(|v| v.as_f64()).collect();
        let mut v64 = vec![0.0; d];
        prepared.velocity(&plain.p, &mut v64);
        let pv = dot(&p64, &v64);
        // The fused way.
        let mut fused = start.clone();
        let mut row = vec![E::zero(); d];
        assert!(kick_and_drift(&mut fused, hs, step, &inv, &mut row));
        assert_eq!(row, fused.x);
        let (mut fp, mut fv) = (vec![0.0; d], vec![0.0; d]);
        let (fpv, finite) = kick_and_point(&mut fused, &g_new, hs, &inv64, &mut fp, &mut fv);
        assert!(finite);
        assert_eq!((fused.x, fused.p, fused.g), (plain.x, plain.p, plain.g));
        assert_eq!((fp, fv), (p64, v64));
        assert_eq!(fpv.to_bits(), pv.to_bits());
    }

    #[test]
    fn the_fused_leapfrog_passes_give_the_masses_own_values() {
        for d in [1, 3, 4, 7, 100] {
            let masses = [
                MassMatrix::Identity,
                MassMatrix::Scalar(2.7),
                MassMatrix::Diagonal((0..d).map(|i| 0.3 + i as f64).collect()),
            ];
            for (k, mass) in masses.into_iter().enumerate() {
                check_fused::<f64>(mass.clone(), d, k as u64);
                check_fused::<f32>(mass, d, 10 + k as u64);
            }
        }
        assert!(MassMatrix::Dense(vec![1.0, 0.0, 0.0, 1.0])
            .prepare::<f64>(2)
            .unwrap()
            .diagonal_inverse(2)
            .is_none());
    }

    #[test]
    fn a_non_finite_position_or_gradient_is_reported() {
        // 13 coordinates: one pass of eight lanes and a remainder of five, a bad value in each.
        let d = 13;
        let fresh = || End {
            x: vec![1.0f64; d],
            p: vec![0.5; d],
            g: vec![0.1; d],
            e: 0.0,
        };
        let (inv, inv64) = (vec![1.0; d], vec![1.0; d]);
        let mut row = vec![0.0; d];
        assert!(kick_and_drift(&mut fresh(), 0.1, 0.2, &inv, &mut row));
        for (i, bad) in [(3, f64::INFINITY), (12, f64::NAN), (7, f64::NEG_INFINITY)] {
            let mut front = fresh();
            front.x[i] = bad;
            assert!(
                !kick_and_drift(&mut front, 0.1, 0.2, &inv, &mut row),
                "x[{i}]"
            );
            let (mut p64, mut v64) = (vec![0.0; d], vec![0.0; d]);
            let mut g = vec![0.0; d];
            assert!(kick_and_point(&mut fresh(), &g, 0.1, &inv64, &mut p64, &mut v64).1);
            g[i] = bad;
            let (_, finite) = kick_and_point(&mut fresh(), &g, 0.1, &inv64, &mut p64, &mut v64);
            assert!(!finite, "g[{i}]");
        }
    }

    /// The transition compiled for AVX2 against the plain one, from the same state: the same
    /// draws to the last bit, with a diagonal and a dense mass, in `f64` and `f32`.
    #[cfg(target_arch = "x86_64")]
    fn check_avx2_transition<E: Real>(mass: MassMatrix)
    where
        Cpu: Device<E>,
    {
        use crate::kernel::Target;
        use ebm_models::GaussianModel;
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this processor: nothing to compare");
            return;
        }
        let dev = Cpu::default();
        let cov = [2.0, 0.3, 0.1, 0.3, 1.0, 0.2, 0.1, 0.2, 0.5];
        let model = GaussianModel::<3, E>::from_slices(
            &dev,
            &[E::of(1.0), E::zero(), E::of(-1.0)],
            &cov.map(E::of),
        )
        .unwrap();
        let x0: Batch<3, E> = dev.zeros_like(&(5, Const::<3>));
        let nuts = Nuts::new(0.4).unwrap().with_mass(mass).unwrap();
        let mut plain_state = nuts.init(&model, &x0, 11).unwrap();
        let mut avx_state = plain_state.clone();
        let (mut t1, mut t2) = (Target::new(&model, &dev), Target::new(&model, &dev));
        let (mut w1, mut w2) = (NutsWorkspace::default(), NutsWorkspace::default());
        let (mut i1, mut i2) = (vec![StepInfo::default(); 5], vec![StepInfo::default(); 5]);
        for _ in 0..40 {
            nuts.transition(&mut t1, &mut plain_state, &mut w1, &mut i1)
                .unwrap();
            // SAFETY: the CPU supports AVX2, checked above.
            unsafe { nuts.transition_avx2(&mut t2, &mut avx_state, &mut w2, &mut i2) }.unwrap();
            assert_eq!(i1, i2);
        }
        let bits = |s: &ChainState<3, E, Cpu>| {
            s.positions()
                .iter()
                .map(|v| v.as_f64().to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&plain_state), bits(&avx_state));
        // The chains moved.
        assert!(plain_state.positions().iter().any(|v| *v != E::zero()));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_transition_gives_the_plain_draws() {
        let dense = MassMatrix::Dense(vec![2.0, 0.5, 0.0, 0.5, 1.0, 0.1, 0.0, 0.1, 0.8]);
        let diagonal = MassMatrix::Diagonal(vec![0.5, 1.0, 2.0]);
        for mass in [diagonal, dense] {
            check_avx2_transition::<f64>(mass.clone());
            check_avx2_transition::<f32>(mass);
        }
    }

    #[test]
    fn the_u_turn_sums_agree_with_the_plain_sums_and_across_instruction_sets() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for d in [1, 2, 3, 4, 5, 7, 8, 13, 100] {
            let v: Vec<Vec<f64>> = (0..8)
                .map(|_| (0..d).map(|_| rng.gen_range(-2.0..2.0)).collect())
                .collect();
            let rest: [&[f64]; 7] = std::array::from_fn(|k| v[k + 1].as_slice());
            let want = naive(&v[0], rest);
            let (mut a, mut b) = (v[0].clone(), v[0].clone());
            let fast = uturn_sums(&mut a, rest);
            let portable = uturn_sums_portable(&mut b, rest);
            // The dispatched loop (AVX2 where the processor has it) and the portable one agree
            // to the last bit, sums and rho alike.
            assert_eq!(
                fast.map(f64::to_bits),
                portable.map(f64::to_bits),
                "d = {d}"
            );
            assert_eq!(a, b);
            for (x, y) in fast.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                    "d = {d}: {x} vs {y}"
                );
            }
            for i in 0..d {
                assert_eq!(a[i], v[0][i] + v[1][i]);
            }
        }
    }
}
