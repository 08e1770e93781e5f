//! One NUTS transition for a batch of chains in lock-step, and its workspace.

use super::settings::Nuts;
use super::settings::UTurn;
use super::spans::Slot;
use super::sums::dot;
use super::tree::kick_and_drift;
use super::tree::kick_and_point;
use super::tree::log_add_exp;
use super::tree::Tree;
use crate::chain::{ChainState, Points, Target};
use crate::kernels::chain_settings::ChainSettings;
use crate::kernels::kernel::{Divergence, Kernel, StepInfo};
use crate::kernels::mass::{PreparedMass, Step};
use ebm_core::prelude::*;
use rand::Rng;

/// Buffers and per-chain constants of a NUTS step.
#[derive(Debug, Clone)]
pub struct NutsWorkspace<E> {
    pub(super) mass: Option<PreparedMass<E>>,
    /// For a mass that is not dense, its inverse per coordinate, as `E` for the drift and as
    /// `f64` for the velocity (the values the mass's own products use).
    pub(super) diagonal: Option<(Vec<E>, Vec<f64>)>,
    pub(super) settings: ChainSettings<E>,
    pub(super) trees: Vec<Tree<E>>,
    pub(super) active: Vec<usize>,
    pub(super) batch: Option<Points<E>>,
    /// The active chains' momenta, steps and velocities, side by side (dense masses).
    pub(super) rows_p: Vec<E>,
    pub(super) steps: Vec<E>,
    pub(super) rows_v: Vec<f64>,
}

impl<E> Default for NutsWorkspace<E> {
    fn default() -> Self {
        Self {
            mass: None,
            diagonal: None,
            settings: ChainSettings::default(),
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
    pub(super) fn refresh<const D: usize, Dev: Device<E>>(
        &mut self,
        nuts: &Nuts,
        state: &ChainState<D, E, Dev>,
    ) -> Result<()> {
        if self.mass.is_none() {
            let mass = nuts.mass.prepare::<E>(D)?;
            self.diagonal = mass.diagonal_inverse(D);
            self.mass = Some(mass);
        }
        self.settings.refresh(state, true).map(|_| ())
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
    pub(super) unsafe fn transition_avx2<const D: usize, E, Dev, M>(
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
    pub(super) fn transition<const D: usize, E, Dev, M>(
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
            settings,
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
        let ChainSettings {
            step: eps,
            sqrt_temperature,
            temperature,
            ..
        } = &*settings;
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
    pub(super) fn after_leaf<E: Real, R: Rng>(
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
