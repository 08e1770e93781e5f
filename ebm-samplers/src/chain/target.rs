//! The model as the chains see it: energies and gradients at host positions.

use super::points::Points;
use ebm_core::energy::RowEnergy;
use ebm_core::prelude::*;

/// The model as a kernel sees it: energies and gradients at host positions.
///
/// It decides once, when it is built, how to evaluate: through the model's host path
/// ([`Energy::host_energy_and_gradient`]) when the chains live on dfdx's `Cpu` device and the model
/// says it has one ([`Energy::has_host_path`]), else through tensors on the state's device.
pub struct Target<'m, const D: usize, E: Real, Dev: Device<E>, M: ?Sized> {
    model: &'m M,
    dev: Dev,
    buffer: Option<Batch<D, E, Dev>>,
    host: bool,
    evaluations: u64,
}

impl<'m, const D: usize, E: Real, Dev: Device<E>, M: Energy<D, E, Dev> + ?Sized>
    Target<'m, D, E, Dev, M>
{
    /// The model `model` evaluated on `dev`.
    ///
    /// When the evaluations go through tensors on dfdx's `Cpu`, this turns on the device's
    /// allocation cache (shared by every clone of `dev`): each evaluation allocates the same
    /// buffers as the one before, and reusing them instead of returning them to the system saves
    /// a page fault per page, which for a neural energy is a large part of the time. The cache
    /// keeps what one evaluation frees; `dev.empty_cache()` returns it.
    pub fn new(model: &'m M, dev: &Dev) -> Self {
        let host = ebm_core::is_cpu::<Dev>() && model.has_host_path();
        if !host {
            if let Some(cpu) = (dev as &dyn std::any::Any).downcast_ref::<Cpu>() {
                cpu.enable_cache();
            }
        }
        Self {
            model,
            dev: dev.clone(),
            buffer: None,
            host,
            evaluations: 0,
        }
    }

    /// The model.
    pub fn model(&self) -> &M {
        self.model
    }

    /// Whether evaluations go through the model's host path rather than tensors.
    pub fn uses_host_path(&self) -> bool {
        self.host
    }

    /// The number of batch evaluations made so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The model's [`RowEnergy`] when evaluations go through the host path and the model offers
    /// one ([`Energy::row_energy`]): a kernel may then evaluate blocks of chains from several
    /// threads, and counts each pass over the batch with [`Target::count_evaluations`].
    pub fn row_energy(&self) -> Option<&'m dyn RowEnergy<E>> {
        if self.host {
            self.model.row_energy()
        } else {
            None
        }
    }

    /// Counts `n` batch evaluations made through [`Target::row_energy`].
    pub fn count_evaluations(&mut self, n: u64) {
        self.evaluations += n;
    }

    /// Fills the energies `p.e` and gradients `p.g` at the positions `p.x`.
    ///
    /// # Errors
    /// [`Error::ModelShape`] when the model returns the wrong number of rows, and
    /// [`Error::HostPathRefused`] when a model that announced a host path refuses a call.
    pub fn evaluate(&mut self, p: &mut Points<E>) -> Result<()> {
        self.evaluate_into(&p.x, &mut p.e, &mut p.g)
    }

    /// Energies and gradients at the row-major positions `x` into `e` (one per row) and `g`.
    ///
    /// # Errors
    /// As [`Target::evaluate`], and [`Error::LengthMismatch`] when the buffers do not match `x`.
    pub fn evaluate_into(&mut self, x: &[E], e: &mut [E], g: &mut [E]) -> Result<()> {
        self.eval(x, e, g, false)
    }

    /// Gradients at the row-major positions `x` into `g`. `e` (one entry per row) may or may not
    /// receive the energies: the tensor path calls [`Energy::gradient`], which can be cheaper.
    ///
    /// # Errors
    /// As [`Target::evaluate_into`].
    pub fn gradient_into(&mut self, x: &[E], e: &mut [E], g: &mut [E]) -> Result<()> {
        self.eval(x, e, g, true)
    }

    fn eval(&mut self, x: &[E], e: &mut [E], g: &mut [E], gradient_only: bool) -> Result<()> {
        let n = e.len();
        if x.len() != n * D || g.len() != n * D {
            return Err(Error::LengthMismatch {
                name: "positions".into(),
                expected: n * D,
                actual: x.len().max(g.len()),
                reason: format!("{n} rows of dimension {D} for positions and gradients"),
            });
        }
        self.evaluations += 1;
        if self.host {
            return if self.model.host_energy_and_gradient(x, e, g) {
                Ok(())
            } else {
                Err(Error::HostPathRefused)
            };
        }
        let buffer = match &mut self.buffer {
            Some(b) if b.shape().0 == n => b,
            slot => slot.insert(self.dev.zeros_like(&(n, Const::<D>))),
        };
        buffer.copy_from(x);
        if gradient_only {
            return super::streams::read_rows("gradients", &self.model.gradient(buffer), n, g);
        }
        let (et, gt) = self.model.energy_and_gradient(buffer);
        super::streams::read_rows("energies", &et, n, e)?;
        super::streams::read_rows("gradients", &gt, n, g)
    }
}
