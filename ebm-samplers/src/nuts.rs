//! The No-U-Turn Sampler: multinomial sampling along trajectories that double until they turn back.

use crate::hmc::Step;
use crate::kernel::{
    check_threshold, Divergence, Kernel, StepInfo, Target, DEFAULT_MAX_ENERGY_ERROR,
};
use crate::mala::check_positive_temperatures;
use crate::mass::{MassMatrix, PreparedMass};
use crate::state::{ChainState, Points};
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
        })
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

    /// The mass matrix.
    pub fn mass(&self) -> &MassMatrix {
        &self.mass
    }
}

impl Default for Nuts {
    /// Step size 1 (warm-up tunes it), maximum depth 10, identity mass, divergence threshold 1000.
    fn default() -> Self {
        Self {
            step_size: 1.0,
            max_depth: 10,
            mass: MassMatrix::Identity,
            max_energy_error: DEFAULT_MAX_ENERGY_ERROR,
        }
    }
}

/// Stretches of trajectory for the U-turn checks, stored flat: slot `k` holds its summed momentum
/// `rho` and the momenta and velocities at its two ends, in the order the points were made
/// (`[rho | p_begin | v_begin | p_end | v_end]`, `5 D` values), so no step allocates.
#[derive(Debug, Clone, Default)]
struct Spans {
    d: usize,
    sizes: Vec<usize>,
    data: Vec<f64>,
}

/// `a . b` with four partial sums, so the additions do not wait on each other.
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

impl Spans {
    fn reset(&mut self, d: usize) {
        self.d = d;
        self.sizes.clear();
    }

    fn len(&self) -> usize {
        self.sizes.len()
    }

    fn top_size(&self) -> Option<usize> {
        self.sizes.last().copied()
    }

    fn slot(&self, k: usize) -> &[f64] {
        &self.data[k * 5 * self.d..(k + 1) * 5 * self.d]
    }

    fn grow(&mut self) -> usize {
        let k = self.sizes.len();
        let need = (k + 1) * 5 * self.d;
        if self.data.len() < need {
            self.data.resize(need, 0.0);
        }
        k
    }

    /// Pushes a single point with momentum `p` and velocity `v`.
    fn push_leaf(&mut self, p: &[f64], v: &[f64]) {
        let d = self.d;
        let k = self.grow();
        let slot = &mut self.data[k * 5 * d..(k + 1) * 5 * d];
        slot[..d].copy_from_slice(p);
        slot[d..2 * d].copy_from_slice(p);
        slot[2 * d..3 * d].copy_from_slice(v);
        slot[3 * d..4 * d].copy_from_slice(p);
        slot[4 * d..].copy_from_slice(v);
        self.sizes.push(1);
    }

    /// Pushes a copy of a slot.
    fn push_slot(&mut self, src: &[f64], size: usize) {
        let d = self.d;
        let k = self.grow();
        self.data[k * 5 * d..(k + 1) * 5 * d].copy_from_slice(src);
        self.sizes.push(size);
    }

    /// Puts a copy of a slot, its ends swapped, below the single slot held (which moves up).
    fn prepend_reversed(&mut self, src: &[f64], size: usize) {
        debug_assert_eq!(self.sizes.len(), 1);
        let d = self.d;
        self.grow();
        self.data.copy_within(..5 * d, 5 * d);
        let slot = &mut self.data[..5 * d];
        slot[..d].copy_from_slice(&src[..d]);
        slot[d..3 * d].copy_from_slice(&src[3 * d..5 * d]);
        slot[3 * d..].copy_from_slice(&src[d..3 * d]);
        self.sizes.insert(0, size);
    }

    /// Joins the top two slots (the upper follows the lower) and reports whether the result turns
    /// back: the generalised criterion on the whole, and on each half extended by the neighbouring
    /// point of the other (Stan's checks across subtrees).
    fn join_top(&mut self) -> bool {
        let d = self.d;
        let k = self.sizes.len();
        debug_assert!(k >= 2);
        let (lower, upper) = self.data[(k - 2) * 5 * d..k * 5 * d].split_at_mut(5 * d);
        let (ra, rest) = lower.split_at_mut(d);
        let (pba, rest) = rest.split_at_mut(d);
        let (vba, rest) = rest.split_at_mut(d);
        let (pea, vea) = rest.split_at_mut(d);
        let (rb, rest) = upper.split_at(d);
        let (pbb, rest) = rest.split_at(d);
        let (vbb, rest) = rest.split_at(d);
        let (peb, veb) = rest.split_at(d);
        let _ = pba;
        let turns = |x: f64, y: f64| x <= 0.0 || y <= 0.0;
        // The six products of the three checks in one pass: the whole, rho = ra + rb, against
        // the outer velocities; the lower half extended by the upper's first point; the upper
        // half extended by the lower's last point. rho is left in ra.
        let s = uturn_sums(ra, [rb, pbb, pea, vba, vbb, vea, veb]);
        let whole = turns(s[0], s[1]);
        let left = turns(s[2], s[3]);
        let right = turns(s[4], s[5]);
        pea.copy_from_slice(peb);
        vea.copy_from_slice(veb);
        let size = self.sizes[k - 2] + self.sizes[k - 1];
        self.sizes.pop();
        self.sizes[k - 2] = size;
        whole || left || right
    }
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
#[derive(Debug, Clone)]
struct End<E> {
    x: Vec<E>,
    p: Vec<E>,
    g: Vec<E>,
    e: E,
}

/// Everything one chain's tree holds during a transition.
#[derive(Debug, Clone)]
struct Tree<E> {
    h0: f64,
    left: End<E>,
    right: End<E>,
    /// The whole trajectory as one slot, in spatial order (begin is the left end).
    span: Spans,
    log_w: f64,
    sample_x: Vec<E>,
    sample_g: Vec<E>,
    sample_e: E,
    sample_delta: f64,
    moved: bool,
    // The subtree being built.
    dir: i8,
    front: End<E>,
    stack: Spans,
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
    fn empty() -> Self {
        Self {
            h0: 0.0,
            left: End::empty(),
            right: End::empty(),
            span: Spans::default(),
            log_w: 0.0,
            sample_x: Vec::new(),
            sample_g: Vec::new(),
            sample_e: E::zero(),
            sample_delta: 0.0,
            moved: false,
            dir: 1,
            front: End::empty(),
            stack: Spans::default(),
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
        }
    }
}

/// Buffers and per-chain constants of a NUTS step.
#[derive(Debug, Clone)]
pub struct NutsWorkspace<E> {
    mass: Option<PreparedMass<E>>,
    eps: Vec<E>,
    sqrt_temperature: Vec<E>,
    temperature: Vec<f64>,
    version: Option<(u64, usize)>,
    trees: Vec<Tree<E>>,
    active: Vec<usize>,
    batch: Option<Points<E>>,
    scratch_f64: Vec<f64>,
    scratch_v: Vec<f64>,
    /// The active chains' momenta, steps and velocities, side by side (dense masses).
    rows_p: Vec<E>,
    steps: Vec<E>,
    rows_v: Vec<f64>,
}

impl<E> Default for NutsWorkspace<E> {
    fn default() -> Self {
        Self {
            mass: None,
            eps: Vec::new(),
            sqrt_temperature: Vec::new(),
            temperature: Vec::new(),
            version: None,
            trees: Vec::new(),
            active: Vec::new(),
            batch: None,
            scratch_f64: Vec::new(),
            scratch_v: Vec::new(),
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
            self.mass = Some(nuts.mass.prepare::<E>(D)?);
        }
        let key = (state.params_version(), state.n_chains());
        if self.version == Some(key) {
            return Ok(());
        }
        check_positive_temperatures(state.temperatures())?;
        self.eps = state.step_sizes().iter().map(|&h| E::of(h)).collect();
        self.temperature = state.temperatures().to_vec();
        self.sqrt_temperature = self.temperature.iter().map(|t| E::of(t.sqrt())).collect();
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
        ws.refresh(self, state)?;
        let n = state.n_chains();
        let NutsWorkspace {
            mass: Some(mass),
            eps,
            sqrt_temperature,
            temperature,
            trees,
            active,
            batch,
            scratch_f64,
            scratch_v,
            rows_p,
            steps,
            rows_v,
            ..
        } = ws
        else {
            return Ok(());
        };
        scratch_f64.resize(D, 0.0);
        scratch_v.resize(D, 0.0);
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
            for (o, v) in scratch_f64.iter_mut().zip(&start.p) {
                *o = v.as_f64();
            }
            mass.velocity(&start.p, scratch_v);
            tree.h0 = cur.e[c].as_f64() + 0.5 * dot(scratch_f64, scratch_v);
            tree.right.clone_from(&tree.left);
            tree.span.reset(D);
            tree.span.push_leaf(scratch_f64, scratch_v);
            tree.stack.reset(D);
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
                tree.stack.reset(D);
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
                // Half kick and drift for the active chains, then one evaluation of their rows.
                // A dense mass multiplies the momenta of all active chains at once (each row's
                // result is the one a single-row product gives).
                let m = active.len();
                let pts = batch.get_or_insert_with(|| Points::zeros(m, D));
                pts.resize(m, D);
                let dense = mass.is_dense();
                if dense {
                    rows_p.clear();
                    steps.clear();
                }
                for (k, &c) in active.iter().enumerate() {
                    let tree = &mut trees[c];
                    let step = if tree.dir > 0 { eps[c] } else { -eps[c] };
                    let hs = step * half;
                    for (p, g) in tree.front.p.iter_mut().zip(&tree.front.g) {
                        *p -= hs * *g;
                    }
                    if dense {
                        rows_p.extend_from_slice(&tree.front.p);
                        steps.push(step);
                    } else {
                        mass.drift(&mut tree.front.x, &tree.front.p, step);
                    }
                    pts.x[k * D..(k + 1) * D].copy_from_slice(&tree.front.x);
                }
                if dense {
                    mass.drift_batch(&mut pts.x, rows_p, Step::PerChain(steps), D);
                    for (k, &c) in active.iter().enumerate() {
                        trees[c].front.x.copy_from_slice(&pts.x[k * D..(k + 1) * D]);
                    }
                }
                target.evaluate(pts)?;
                for (k, &c) in active.iter().enumerate() {
                    let tree = &mut trees[c];
                    let step = if tree.dir > 0 { eps[c] } else { -eps[c] };
                    let hs = step * half;
                    tree.front.g.copy_from_slice(&pts.g[k * D..(k + 1) * D]);
                    tree.front.e = pts.e[k];
                    for (p, g) in tree.front.p.iter_mut().zip(&tree.front.g) {
                        *p -= hs * *g;
                    }
                }
                if dense {
                    rows_p.clear();
                    for &c in active.iter() {
                        rows_p.extend_from_slice(&trees[c].front.p);
                    }
                    rows_v.resize(m * D, 0.0);
                    mass.velocity_rows(rows_p, D, rows_v);
                }
                for (k, &c) in active.iter().enumerate() {
                    let tree = &mut trees[c];
                    if dense {
                        scratch_v.copy_from_slice(&rows_v[k * D..(k + 1) * D]);
                    } else {
                        mass.velocity(&tree.front.p, scratch_v);
                    }
                    self.after_leaf(tree, temperature[c], &mut rngs[c], scratch_f64, scratch_v);
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
                    tree.sample_x.clone_from(&tree.sub_x);
                    tree.sample_g.clone_from(&tree.sub_g);
                    tree.sample_e = tree.sub_e;
                    tree.sample_delta = tree.sub_delta;
                    tree.moved = true;
                }
                tree.log_w = log_add_exp(tree.log_w, tree.sub_log_w);
                // The subtree is the stack's single slot, in the order it was made; put the
                // trajectory and the subtree side by side in spatial order and join them.
                let sub_size = tree.stack.top_size().unwrap_or(1);
                if tree.dir > 0 {
                    tree.right.clone_from(&tree.front);
                    tree.span.push_slot(tree.stack.slot(0), sub_size);
                } else {
                    tree.left.clone_from(&tree.front);
                    tree.span.prepend_reversed(tree.stack.slot(0), sub_size);
                }
                let turning = tree.span.join_top();
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
}

impl Nuts {
    /// Bookkeeping after a chain's leapfrog step: energy error, divergence, multinomial choice
    /// within the subtree, and the U-turn checks of every subtree that this point completes.
    ///
    /// `v64` holds the front point's velocity `M^-1 p`.
    fn after_leaf<E: Real, R: Rng>(
        &self,
        tree: &mut Tree<E>,
        temperature: f64,
        rng: &mut R,
        p64: &mut [f64],
        v64: &[f64],
    ) {
        tree.n_leapfrog += 1;
        // The velocity serves both the kinetic energy p . v / 2 and the U-turn checks.
        for (o, v) in p64.iter_mut().zip(&tree.front.p) {
            *o = v.as_f64();
        }
        let h = tree.front.e.as_f64() + 0.5 * dot(p64, v64);
        let delta = (h - tree.h0) / temperature;
        // Without early exits, so the scans vectorise.
        let all_finite = |v: &[E]| v.iter().fold(true, |ok, x| ok & x.is_finite());
        let finite = delta.is_finite() && all_finite(&tree.front.x) && all_finite(&tree.front.g);
        if !finite {
            tree.divergence = Some(Divergence::NonFinite);
            tree.sub_alive = false;
            return;
        }
        tree.accept_sum += (-delta).min(0.0).exp();
        // 2 min(1, r) / (1 + r) with r = e^-delta is 2 / (1 + e^|delta|).
        tree.symmetric_sum += 2.0 / (1.0 + delta.abs().exp());
        if delta > self.max_energy_error {
            tree.divergence = Some(Divergence::EnergyError);
            tree.sub_alive = false;
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
        tree.stack.push_leaf(p64, v64);
        while tree.stack.len() >= 2
            && tree.stack.sizes[tree.stack.len() - 2] == tree.stack.sizes[tree.stack.len() - 1]
        {
            if tree.stack.join_top() {
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
