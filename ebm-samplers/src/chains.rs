//! Host-side chain state shared by the samplers: validation, per-chain random streams, copies.

use ebm_core::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Below this many coordinates per batch, chain loops run on the calling thread.
pub(crate) const PARALLEL_MIN_ELEMENTS: usize = 8192;

/// Copies the initial particles to the host after checking they are usable.
pub(crate) fn initial_state<const D: usize, E: Real, Dev: Device<E>>(
    x0: &Batch<D, E, Dev>,
) -> Result<Vec<E>> {
    let n = x0.shape().0;
    if n == 0 {
        return Err(Error::EmptyBatch {
            name: "initial particles".into(),
        });
    }
    let mut host = vec![E::zero(); n * D];
    x0.copy_into(&mut host);
    if let Some(i) = host.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteState {
            chain: i / D,
            dim: i % D,
            value: host[i].as_f64(),
        });
    }
    Ok(host)
}

/// One independent random stream per chain: ChaCha8 seeded with `seed_from_u64(seed)`, stream `c` for
/// chain `c`. A chain's draws do not depend on how chains are spread over threads.
pub(crate) fn chain_rngs(seed: u64, n_chains: usize) -> Vec<ChaCha8Rng> {
    let base = ChaCha8Rng::seed_from_u64(seed);
    (0..n_chains)
        .map(|c| {
            let mut rng = base.clone();
            rng.set_stream(c as u64);
            rng
        })
        .collect()
}

/// Checks that a model output has one row per chain and copies it into `buf`.
pub(crate) fn read_rows<S: Shape, E: Real, Dev: Device<E>>(
    what: &str,
    t: &Tensor<S, E, Dev>,
    rows: usize,
    buf: &mut [E],
) -> Result<()> {
    let actual = t.shape().concrete().into_iter().next().unwrap_or(0);
    if actual != rows || t.shape().num_elements() != buf.len() {
        return Err(Error::ModelShape {
            what: what.into(),
            expected: rows,
            actual,
        });
    }
    t.copy_into(buf);
    Ok(())
}

/// Evaluates a model at host positions: through [`Energy::host_energy_and_gradient`] when the batch
/// lives on the `Cpu` device and the model has that path, else through tensors on the batch's device.
pub(crate) struct Evaluator<const D: usize, E: Real, Dev: Device<E>> {
    state: Batch<D, E, Dev>,
    host: bool,
}

impl<const D: usize, E: Real, Dev: Device<E>> Evaluator<D, E, Dev> {
    /// An evaluator whose tensor path reuses the storage of a copy of `x0`.
    pub fn new(x0: &Batch<D, E, Dev>) -> Self {
        Self {
            state: x0.clone(),
            host: ebm_core::is_cpu::<Dev>(),
        }
    }

    /// Energies and gradients at `x` (row-major), into `e` and `g`.
    pub fn energy_and_gradient<M>(
        &mut self,
        model: &M,
        x: &[E],
        e: &mut [E],
        g: &mut [E],
    ) -> Result<()>
    where
        M: Energy<D, E, Dev> + ?Sized,
    {
        if self.try_host(model, x, e, g) {
            return Ok(());
        }
        self.state.copy_from(x);
        let (et, gt) = model.energy_and_gradient(&self.state);
        read_rows("energies", &et, e.len(), e)?;
        read_rows("gradients", &gt, e.len(), g)
    }

    /// Gradients at `x` into `g`; `scratch` (one entry per chain) may receive energies.
    pub fn gradient<M>(&mut self, model: &M, x: &[E], scratch: &mut [E], g: &mut [E]) -> Result<()>
    where
        M: Energy<D, E, Dev> + ?Sized,
    {
        if self.try_host(model, x, scratch, g) {
            return Ok(());
        }
        self.state.copy_from(x);
        read_rows("gradients", &model.gradient(&self.state), scratch.len(), g)
    }

    /// Evaluates through the model's host path while it is available; after the first refusal the
    /// tensor path is used for the rest of the run.
    fn try_host<M>(&mut self, model: &M, x: &[E], e: &mut [E], g: &mut [E]) -> bool
    where
        M: Energy<D, E, Dev> + ?Sized,
    {
        self.host = self.host && model.host_energy_and_gradient(x, e, g);
        self.host
    }

    /// The batch holding `x`, on the initial particles' device.
    pub fn into_batch(mut self, x: &[E]) -> Batch<D, E, Dev> {
        self.state.copy_from(x);
        self.state
    }
}
