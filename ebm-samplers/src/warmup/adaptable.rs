//! What a kernel needs to be tuned by warm-up, and how the mass matrix is estimated.

use crate::kernels::{HamiltonianMonteCarlo, Kernel, Mala, MassMatrix, Nuts, StepInfo};
use ebm_core::prelude::*;

/// How the mass matrix is adapted during warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MassAdaptation {
    /// Keep the kernel's mass matrix.
    Off,
    /// A diagonal mass from the draws and their gradients (the default): `m_i = sqrt(var(g_i) /
    /// var(x_i))` over the window, the geometric mean of the two estimates of the scale (`1 /
    /// var(x_i)` from the draws, `var(g_i)` from the gradients, equal for a Gaussian), as nutpie
    /// does. For a diagonal Gaussian it is exact up to noise, and it is less noisy than the
    /// draws' variance alone, so it gives more ESS per gradient than [`MassAdaptation::Diagonal`]
    /// (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    #[default]
    GradientDiagonal,
    /// A diagonal mass as Stan estimates it: the inverse of each coordinate's variance over the
    /// window, regularised toward `1e-3` as Stan does.
    Diagonal,
    /// A dense mass: the inverse of the covariance over the window, regularised as Stan does.
    Dense,
    /// A dense mass from the draws and their gradients: the symmetric positive-definite `M` with
    /// `M S_x M = S_g`, where `S_x` and `S_g` are the covariances of the draws and of the
    /// gradients over the window (each regularised toward a multiple of the identity). It is the
    /// matrix geometric mean of the two estimates of the target's precision, `S_x^-1` and `S_g`,
    /// and the dense form of [`MassAdaptation::GradientDiagonal`]; nutpie's low-rank adaptation
    /// rests on the same equation. For a Gaussian target the gradients are `P (x - mu)`, so
    /// `S_g = P S_x P` for any sample and `M` is the precision `P` itself, up to the
    /// regularisation. While a window has fewer pooled draws than twice the dimension, or when
    /// its estimates cannot be factored, it gives the diagonal estimate instead.
    GradientDense,
}

/// A kernel that warm-up can tune: its step size always, its mass matrix if it has one.
pub trait Adaptable: Kernel + Clone {
    /// The acceptance probability the step size is tuned to by default.
    fn default_target_accept(&self) -> f64;

    /// The same kernel with mass matrix `mass`, or `None` when the kernel has no mass matrix.
    ///
    /// # Errors
    /// As [`MassMatrix::validate`].
    fn with_adapted_mass(&self, mass: MassMatrix) -> Option<Result<Self>>;

    /// The kernel's mass matrix, if it has one.
    fn mass_matrix(&self) -> Option<&MassMatrix>;

    /// The kernel's step size that moves like one leapfrog step of size `eps` (the initial
    /// step-size heuristic works in leapfrog steps). The identity by default.
    fn step_size_from_leapfrog(&self, eps: f64) -> f64 {
        eps
    }

    /// The inverse of [`Adaptable::step_size_from_leapfrog`].
    fn leapfrog_from_step_size(&self, step_size: f64) -> f64 {
        step_size
    }

    /// Whether the kernel moves along the gradient (the default). Warm-up's initial step-size
    /// search ([`Warmup::find_initial_step_size`](crate::Warmup::find_initial_step_size)) tries leapfrog steps, which say nothing about
    /// a gradient-free kernel: for one that returns `false` warm-up skips the search and dual
    /// averaging starts from the kernel's own step size.
    fn uses_gradient(&self) -> bool {
        true
    }

    /// The statistic dual averaging drives toward the target: the acceptance probability by
    /// default.
    fn adaptation_statistic(&self, info: &StepInfo) -> f64 {
        info.accept_prob()
    }

    /// The kernel warm-up's transitions run with: the kernel itself by default. Warm-up's draws
    /// are discarded, so a kernel may warm up as a cheaper variant of itself that leaves the same
    /// target invariant (NUTS ends its trajectories by [`Nuts::warmup_uturn`]). The step size
    /// and mass matrix tuned on the variant are handed back to the kernel itself for sampling.
    fn warmup_variant(&self) -> Self {
        self.clone()
    }
}

impl Adaptable for Nuts {
    /// 0.8, as Stan.
    fn default_target_accept(&self) -> f64 {
        0.8
    }
    fn with_adapted_mass(&self, mass: MassMatrix) -> Option<Result<Self>> {
        Some(self.clone().with_mass(mass))
    }
    fn mass_matrix(&self) -> Option<&MassMatrix> {
        Some(self.mass())
    }
    /// The trajectory's mean symmetric acceptance statistic
    /// ([`StepInfo::symmetric_accept_prob`]), as nutpie tunes: it settles on larger step sizes
    /// than the plain mean acceptance, which overshoots the target after warm-up, and gives more
    /// ESS per gradient (measured in the repository's `docs/benchmarks.md`, "Warm-up and NUTS design choices").
    fn adaptation_statistic(&self, info: &StepInfo) -> f64 {
        info.symmetric_accept_prob()
    }
    /// The same sampler ending its trajectories by [`Nuts::warmup_uturn`].
    fn warmup_variant(&self) -> Self {
        let uturn = self.warmup_uturn();
        self.clone().with_uturn(uturn)
    }
}

impl Adaptable for HamiltonianMonteCarlo {
    /// 0.8, as for NUTS.
    fn default_target_accept(&self) -> f64 {
        0.8
    }
    fn with_adapted_mass(&self, mass: MassMatrix) -> Option<Result<Self>> {
        Some(self.clone().with_mass(mass))
    }
    fn mass_matrix(&self) -> Option<&MassMatrix> {
        Some(self.mass())
    }
}

impl Adaptable for Mala {
    /// 0.574, the optimal acceptance of MALA in high dimension (Roberts and Rosenthal 1998).
    fn default_target_accept(&self) -> f64 {
        0.574
    }
    fn with_adapted_mass(&self, _mass: MassMatrix) -> Option<Result<Self>> {
        None
    }
    fn mass_matrix(&self) -> Option<&MassMatrix> {
        None
    }
    /// MALA's step `h` is one leapfrog step of size `sqrt(2 h)`: `h = eps^2 / 2`.
    fn step_size_from_leapfrog(&self, eps: f64) -> f64 {
        0.5 * eps * eps
    }
    fn leapfrog_from_step_size(&self, step_size: f64) -> f64 {
        (2.0 * step_size).sqrt()
    }
}
