//! The per-chain constants the kernels derive from a state's step sizes and temperatures, kept
//! in their workspaces and rebuilt only when those settings change.

use crate::chain::ChainState;
use ebm_core::prelude::*;

/// Every chain's step size and temperature in the forms the kernels compute with.
///
/// Rebuilt when the state's settings change ([`ChainState::params_version`]) or its number of
/// chains does; a warm-up changes the step sizes at every draw, so the buffers are refilled in
/// place.
#[derive(Debug, Clone)]
pub(crate) struct ChainSettings<E> {
    /// The step size `h` per chain.
    pub step: Vec<E>,
    /// Whether every chain has the same step size.
    pub uniform_step: bool,
    /// The temperature `T` per chain.
    pub temperature: Vec<f64>,
    /// `sqrt(T)` per chain, scaling the momenta of tempered chains.
    pub sqrt_temperature: Vec<E>,
    /// `(h, sqrt(2 h T), T > 0)` per chain: a Langevin step's drift, its noise's standard
    /// deviation and whether it draws noise.
    pub langevin: Vec<(E, E, bool)>,
    /// The state's settings version and chain count the constants were built from.
    key: Option<(u64, usize)>,
}

impl<E> Default for ChainSettings<E> {
    fn default() -> Self {
        Self {
            step: Vec::new(),
            uniform_step: false,
            temperature: Vec::new(),
            sqrt_temperature: Vec::new(),
            langevin: Vec::new(),
            key: None,
        }
    }
}

impl<E: Real> ChainSettings<E> {
    /// Brings the constants up to date with `state` and says whether they were rebuilt.
    ///
    /// # Errors
    /// When `adjusted` (a kernel with a Metropolis test), [`Error::InvalidParameter`] naming the
    /// first chain whose temperature is not above 0.
    pub fn refresh<const D: usize, Dev: Device<E>>(
        &mut self,
        state: &ChainState<D, E, Dev>,
        adjusted: bool,
    ) -> Result<bool> {
        let key = (state.params_version(), state.n_chains());
        if self.key == Some(key) {
            return Ok(false);
        }
        let (h, t) = (state.step_sizes(), state.temperatures());
        if adjusted {
            check_positive_temperatures(t)?;
        }
        refill(&mut self.step, h.iter().map(|&h| E::of(h)));
        self.uniform_step = self.step.windows(2).all(|w| w[0] == w[1]);
        refill(&mut self.temperature, t.iter().copied());
        refill(
            &mut self.sqrt_temperature,
            t.iter().map(|t| E::of(t.sqrt())),
        );
        let langevin = h
            .iter()
            .zip(t)
            .map(|(&h, &t)| (E::of(h), E::of(t.sqrt() * (2.0 * h).sqrt()), t > 0.0));
        refill(&mut self.langevin, langevin);
        self.key = Some(key);
        Ok(true)
    }
}

/// Replaces the contents of `v` with `values`, keeping its allocation.
fn refill<T>(v: &mut Vec<T>, values: impl Iterator<Item = T>) {
    v.clear();
    v.extend(values);
}

/// Checks that every chain of a Metropolis-adjusted kernel has a temperature above 0.
pub(crate) fn check_positive_temperatures(temperatures: &[f64]) -> Result<()> {
    for (c, &t) in temperatures.iter().enumerate() {
        if t <= 0.0 {
            return Err(Error::invalid(
                format!("temperature[{c}]"),
                t,
                "a Metropolis-adjusted kernel needs a temperature above 0",
            ));
        }
    }
    Ok(())
}
