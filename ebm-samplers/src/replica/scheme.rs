//! Which pairs of neighbouring temperatures try to swap at each scan.

/// Which neighbouring pairs of a ladder try to swap at each scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SwapScheme {
    /// Deterministic even-odd: pairs `(0, 1), (2, 3), ...` at even scans and `(1, 2), (3, 4), ...`
    /// at odd ones. Non-reversible: replicas travel the ladder in straight runs rather than a
    /// random walk, which is what makes round trips fast (Syed, Bouchard-Cote, Deligiannidis and
    /// Doucet, JRSS-B 2022). The default.
    #[default]
    NonReversible,
    /// Stochastic even-odd: each ladder picks the even or the odd pairs at random at each scan.
    /// Reversible; replicas diffuse along the ladder.
    Reversible,
    /// No swaps: every replica stays at its temperature (for comparisons and tests).
    Off,
}
