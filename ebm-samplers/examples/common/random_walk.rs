//! Random-walk Metropolis written against the public `Kernel` trait: what a sampler of your own
//! looks like.

use ebm_core::prelude::*;
use ebm_samplers::{
    metropolis_accept, Adaptable, ChainState, Kernel, MassMatrix, Points, StepInfo, Target,
};

/// Random-walk Metropolis: chain `c` proposes `y = x + h_c sqrt(T_c) xi`, `xi ~ N(0, I)`, and moves
/// there with probability `min(1, exp(-(E(y) - E(x)) / T_c))`.
#[derive(Debug, Clone, Copy)]
pub struct RandomWalk {
    /// The proposal's standard deviation at temperature 1 (the chains' initial step size).
    pub scale: f64,
}

/// The buffers a step reuses.
#[derive(Default)]
pub struct Buffers<E> {
    proposal: Option<Points<E>>,
    log_ratio: Vec<f64>,
}

impl Kernel for RandomWalk {
    type Workspace<E: Real> = Buffers<E>;

    fn initial_step_size(&self) -> f64 {
        self.scale
    }

    fn initial_temperature(&self) -> f64 {
        1.0
    }

    fn metropolis_adjusted(&self) -> bool {
        true
    }

    fn step<const D: usize, E, Dev, M>(
        &self,
        target: &mut Target<'_, D, E, Dev, M>,
        state: &mut ChainState<D, E, Dev>,
        ws: &mut Buffers<E>,
        info: &mut [StepInfo],
    ) -> Result<()>
    where
        E: Real,
        Dev: Device<E>,
        M: Energy<D, E, Dev> + ?Sized,
    {
        let n = state.n_chains();
        let proposal = ws.proposal.get_or_insert_with(|| Points::zeros(n, D));
        ws.log_ratio.resize(n, 0.0);
        let parts = state.parts_mut();
        // Each chain draws only from its own stream.
        for (c, rng) in parts.rngs.iter_mut().enumerate() {
            let s = E::of(parts.step_sizes[c] * parts.temperatures[c].sqrt());
            for i in c * D..(c + 1) * D {
                proposal.x[i] = parts.points.x[i] + s * E::standard_normal(rng);
            }
        }
        target.evaluate(proposal)?;
        for (c, ratio) in ws.log_ratio.iter_mut().enumerate() {
            let de = proposal.e[c].as_f64() - parts.points.e[c].as_f64();
            *ratio = -de / parts.temperatures[c];
        }
        metropolis_accept(state, proposal, &ws.log_ratio, f64::INFINITY, info);
        info.iter_mut().for_each(|i| i.grad_evals = 1);
        Ok(())
    }
}

/// Warm-up tunes the proposal's scale by dual averaging, starting from `scale`: the walk has no
/// gradient, so there is no leapfrog step-size search, and no mass matrix.
impl Adaptable for RandomWalk {
    /// 0.234, the optimum for random-walk Metropolis in high dimension (Roberts, Gelman and
    /// Gilks 1997).
    fn default_target_accept(&self) -> f64 {
        0.234
    }

    fn with_adapted_mass(&self, _mass: MassMatrix) -> Option<Result<Self>> {
        None
    }

    fn mass_matrix(&self) -> Option<&MassMatrix> {
        None
    }

    fn uses_gradient(&self) -> bool {
        false
    }
}
