//! A [`ChainState`] as plain data, to save a state and rebuild it exactly, for example to resume a
//! run after a crash.

use super::points::Points;
use super::state::ChainState;
use ebm_core::check;
use ebm_core::prelude::*;
use rand_chacha::ChaCha8Rng;

/// Everything a [`ChainState`] holds, as plain host data: enough to rebuild it bit for bit with
/// [`ChainState::from_snapshot`].
///
/// Each chain's random stream is kept as its ChaCha8 seed, stream number and word position
/// (`ChaCha8Rng::get_seed`, `get_stream`, `get_word_pos`), which place the stream exactly where it
/// was. A state rebuilt from a snapshot continues with exactly the draws the original would have
/// given.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
///
/// let x0: Batch<2, f64> = Cpu::default().zeros_like(&(4, Const::<2>));
/// let mala = Mala::new(0.5, 1.0)?;
/// let model = Harmonic::default();
/// let mut state = mala.init(&model, &x0, 3)?;
/// mala.run_from(&model, &mut state, &RunOptions::new(10))?;
/// let snapshot = state.snapshot();
/// let mut copy = ChainState::<2, f64>::from_snapshot(&snapshot, &Cpu::default())?;
/// mala.run_from(&model, &mut state, &RunOptions::new(10))?;
/// mala.run_from(&model, &mut copy, &RunOptions::new(10))?;
/// assert_eq!(state.positions(), copy.positions());
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StateSnapshot<E> {
    /// The dimension `D` of the state.
    pub dim: usize,
    /// Positions, row-major `(n_chains, dim)`.
    pub positions: Vec<E>,
    /// One energy per chain.
    pub energies: Vec<E>,
    /// Gradients, row-major `(n_chains, dim)`.
    pub gradients: Vec<E>,
    /// Each chain's ChaCha8 seed.
    pub rng_seeds: Vec<[u8; 32]>,
    /// Each chain's ChaCha8 stream number.
    pub rng_streams: Vec<u64>,
    /// Each chain's position in its stream, in 32-bit words.
    pub rng_word_pos: Vec<u128>,
    /// The number of steps the state had taken.
    pub steps: u64,
    /// Each chain's step size.
    pub step_sizes: Vec<f64>,
    /// Each chain's temperature.
    pub temperatures: Vec<f64>,
    /// The relative step-size jitter ([`ChainState::set_step_size_jitter`]).
    pub step_size_jitter: f64,
}

impl<E> StateSnapshot<E> {
    /// The number of chains.
    pub fn n_chains(&self) -> usize {
        self.energies.len()
    }
}

impl<const D: usize, E: Real, Dev: Device<E>> ChainState<D, E, Dev> {
    /// The state as plain data; [`ChainState::from_snapshot`] rebuilds it.
    pub fn snapshot(&self) -> StateSnapshot<E> {
        StateSnapshot {
            dim: D,
            positions: self.points.x.clone(),
            energies: self.points.e.clone(),
            gradients: self.points.g.clone(),
            rng_seeds: self.rngs.iter().map(|r| r.get_seed()).collect(),
            rng_streams: self.rngs.iter().map(|r| r.get_stream()).collect(),
            rng_word_pos: self.rngs.iter().map(|r| r.get_word_pos()).collect(),
            steps: self.steps,
            step_sizes: self.step_size.clone(),
            temperatures: self.temperature.clone(),
            step_size_jitter: self.jitter,
        }
    }

    /// Rebuilds a state from a snapshot, on `dev`. The energies and gradients are taken as stored,
    /// not evaluated again.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming the first field whose length does not fit `D` and the number
    /// of chains (or `dim` when the snapshot was taken for another dimension),
    /// [`Error::EmptyBatch`] for a snapshot without chains, [`Error::NonFiniteState`] for a
    /// non-finite position, and [`Error::InvalidParameter`] for an invalid step size or temperature.
    pub fn from_snapshot(snapshot: &StateSnapshot<E>, dev: &Dev) -> Result<Self> {
        let n = snapshot.n_chains();
        if snapshot.dim != D {
            return Err(Error::LengthMismatch {
                name: "dim".into(),
                expected: D,
                actual: snapshot.dim,
                reason: "the snapshot was taken for another dimension".into(),
            });
        }
        if n == 0 {
            return Err(Error::EmptyBatch {
                name: "snapshot".into(),
            });
        }
        let lengths = [
            ("positions", snapshot.positions.len(), n * D),
            ("gradients", snapshot.gradients.len(), n * D),
            ("rng_seeds", snapshot.rng_seeds.len(), n),
            ("rng_streams", snapshot.rng_streams.len(), n),
            ("rng_word_pos", snapshot.rng_word_pos.len(), n),
            ("step_sizes", snapshot.step_sizes.len(), n),
            ("temperatures", snapshot.temperatures.len(), n),
        ];
        for (name, actual, expected) in lengths {
            if actual != expected {
                return Err(Error::LengthMismatch {
                    name: name.into(),
                    expected,
                    actual,
                    reason: format!("{n} chains of dimension {D}"),
                });
            }
        }
        if let Some(i) = snapshot.positions.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteState {
                chain: i / D,
                dim: i % D,
                value: snapshot.positions[i].as_f64(),
            });
        }
        for (c, (&h, &t)) in snapshot
            .step_sizes
            .iter()
            .zip(&snapshot.temperatures)
            .enumerate()
        {
            check::positive(&format!("step_size[{c}]"), h)?;
            check::non_negative(&format!("temperature[{c}]"), t)?;
        }
        if !(0.0..1.0).contains(&snapshot.step_size_jitter) {
            return Err(Error::invalid(
                "step_size_jitter",
                snapshot.step_size_jitter,
                "must lie in [0, 1)",
            ));
        }
        let rngs = (0..n)
            .map(|c| {
                let mut rng = <ChaCha8Rng as rand::SeedableRng>::from_seed(snapshot.rng_seeds[c]);
                rng.set_stream(snapshot.rng_streams[c]);
                rng.set_word_pos(snapshot.rng_word_pos[c]);
                rng
            })
            .collect();
        Ok(Self {
            points: Points {
                x: snapshot.positions.clone(),
                e: snapshot.energies.clone(),
                g: snapshot.gradients.clone(),
            },
            rngs,
            steps: snapshot.steps,
            step_size: snapshot.step_sizes.clone(),
            temperature: snapshot.temperatures.clone(),
            jitter: snapshot.step_size_jitter,
            params_version: 0,
            dev: dev.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use ebm_models::Harmonic;

    #[test]
    fn a_rebuilt_state_continues_bit_for_bit() {
        let x0: Batch<3, f32> = Cpu::default().sample_normal_like(&(16, Const::<3>));
        let model = Harmonic::<f32>::default();
        for seed in [0u64, 9] {
            let hmc = HamiltonianMonteCarlo::new(0.2, 3).unwrap();
            let mut state = hmc.init(&model, &x0, seed).unwrap();
            state.set_step_size(2, 0.05).unwrap();
            hmc.run_from(&model, &mut state, &RunOptions::new(7).progress(false))
                .unwrap();
            let snap = state.snapshot();
            assert_eq!(snap.n_chains(), 16);
            let mut copy = ChainState::<3, f32>::from_snapshot(&snap, &Cpu::default()).unwrap();
            assert_eq!(copy.snapshot(), snap);
            let opts = RunOptions::new(11).trace(1).progress(false);
            let a = hmc.run_from(&model, &mut state, &opts).unwrap();
            let b = hmc.run_from(&model, &mut copy, &opts).unwrap();
            assert_eq!(a.trace, b.trace);
            assert_eq!(state.snapshot(), copy.snapshot());
        }
    }

    #[test]
    fn a_snapshot_for_another_shape_is_refused() {
        let x0: Batch<2, f64> = Cpu::default().zeros_like(&(3, Const::<2>));
        let state = ChainState::new(&x0, 1, 0.1, 1.0).unwrap();
        let mut snap = state.snapshot();
        let err = ChainState::<3, f64>::from_snapshot(&snap, &Cpu::default()).unwrap_err();
        assert!(err.to_string().contains("dim"), "{err}");
        snap.rng_streams.pop();
        let err = ChainState::<2, f64>::from_snapshot(&snap, &Cpu::default()).unwrap_err();
        assert!(err.to_string().contains("rng_streams"), "{err}");
    }
}
