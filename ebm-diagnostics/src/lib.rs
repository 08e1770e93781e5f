//! MCMC convergence diagnostics (in progress).
