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

/// One independent random stream per chain: ChaCha8 seeded with `seed_from_u64(seed)`, stream
/// `first + c` for chain `c` of the batch (its global index in a run split into shards). A chain's
/// draws do not depend on how chains are spread over threads or shards.
pub(crate) fn chain_rngs(seed: u64, first: u64, n_chains: usize) -> Vec<ChaCha8Rng> {
    let base = ChaCha8Rng::seed_from_u64(seed);
    (0..n_chains)
        .map(|c| {
            let mut rng = base.clone();
            rng.set_stream(first + c as u64);
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
