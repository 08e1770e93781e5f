//! Borrowed views of MCMC draws, validated once on construction.

use crate::error::DiagnosticsError;

/// Fewest draws per chain accepted by every diagnostic (as in ArviZ).
pub const MIN_DRAWS: usize = 4;

/// A validated, borrowed view of MCMC draws shaped `[chain][draw][dim]`.
///
/// The draws are not copied: the diagnostics read one dimension at a time
/// into their own `f64` work buffers. `T` is any `Copy` type that converts
/// losslessly into `f64`, in practice `f32` or `f64`.
///
/// Construction checks the shape (at least one chain and one dimension, at
/// least [`MIN_DRAWS`] draws per chain, equal chain lengths) and that every
/// draw is finite, so that the diagnostics themselves cannot fail.
#[derive(Debug, Clone, Copy)]
pub struct Draws<'a, T> {
    storage: Storage<'a, T>,
    n_chains: usize,
    n_draws: usize,
    n_dims: usize,
}

#[derive(Debug, Clone, Copy)]
enum Storage<'a, T> {
    /// One contiguous buffer, index `(chain * n_draws + draw) * n_dims + dim`.
    Flat(&'a [T]),
    /// One slice per chain, one dimension.
    Chains(&'a [&'a [T]]),
}

impl<'a, T: Copy + Into<f64>> Draws<'a, T> {
    /// Wraps a contiguous buffer laid out as `[chain][draw][dim]`, i.e. the
    /// value of dimension `dim` at draw `draw` of chain `chain` sits at index
    /// `(chain * n_draws + draw) * n_dims + dim`.
    ///
    /// # Errors
    ///
    /// [`DiagnosticsError::NoChains`] or [`DiagnosticsError::NoDimensions`]
    /// for a zero count, [`DiagnosticsError::TooFewDraws`] when
    /// `n_draws < 4`, [`DiagnosticsError::ShapeMismatch`] when
    /// `data.len() != n_chains * n_draws * n_dims`, and
    /// [`DiagnosticsError::NonFinite`] for the first NaN or infinite draw.
    pub fn new(
        data: &'a [T],
        n_chains: usize,
        n_draws: usize,
        n_dims: usize,
    ) -> Result<Self, DiagnosticsError> {
        if n_chains == 0 {
            return Err(DiagnosticsError::NoChains);
        }
        if n_dims == 0 {
            return Err(DiagnosticsError::NoDimensions);
        }
        let expected = n_chains
            .checked_mul(n_draws)
            .and_then(|v| v.checked_mul(n_dims));
        if expected != Some(data.len()) {
            return Err(DiagnosticsError::ShapeMismatch {
                len: data.len(),
                n_chains,
                n_draws,
                n_dims,
            });
        }
        if n_draws < MIN_DRAWS {
            return Err(DiagnosticsError::TooFewDraws {
                chain: 0,
                n_draws,
                min: MIN_DRAWS,
            });
        }
        if let Some(i) = data.iter().position(|&v| !v.into().is_finite()) {
            let dim = i % n_dims;
            let draw = (i / n_dims) % n_draws;
            let chain = i / (n_dims * n_draws);
            return Err(DiagnosticsError::NonFinite {
                chain,
                draw,
                dim,
                value: data[i].into(),
            });
        }
        Ok(Self {
            storage: Storage::Flat(data),
            n_chains,
            n_draws,
            n_dims,
        })
    }

    /// Wraps one-dimensional draws given as one slice per chain.
    ///
    /// # Errors
    ///
    /// [`DiagnosticsError::NoChains`] for an empty outer slice,
    /// [`DiagnosticsError::RaggedChains`] when the chains differ in length,
    /// [`DiagnosticsError::TooFewDraws`] when they hold fewer than 4 draws and
    /// [`DiagnosticsError::NonFinite`] for the first NaN or infinite draw.
    pub fn from_chains(chains: &'a [&'a [T]]) -> Result<Self, DiagnosticsError> {
        let n_draws = validate_chains(chains)?;
        Ok(Self {
            storage: Storage::Chains(chains),
            n_chains: chains.len(),
            n_draws,
            n_dims: 1,
        })
    }

    /// Number of chains.
    pub fn n_chains(&self) -> usize {
        self.n_chains
    }

    /// Number of draws in every chain.
    pub fn n_draws(&self) -> usize {
        self.n_draws
    }

    /// Number of dimensions of each draw.
    pub fn n_dims(&self) -> usize {
        self.n_dims
    }

    /// The value at `(chain, draw, dim)` as `f64`, or `None` when an index is
    /// out of range.
    pub fn get(&self, chain: usize, draw: usize, dim: usize) -> Option<f64> {
        if chain >= self.n_chains || draw >= self.n_draws || dim >= self.n_dims {
            return None;
        }
        let v = match self.storage {
            Storage::Flat(data) => data[(chain * self.n_draws + draw) * self.n_dims + dim],
            Storage::Chains(chains) => chains[chain][draw],
        };
        Some(v.into())
    }

    /// Replaces the contents of `out` with dimension `dim`, chain after chain
    /// (`out[chain * n_draws + draw]`). `dim` must be in range.
    pub(crate) fn copy_dimension(&self, dim: usize, out: &mut Vec<f64>) {
        out.clear();
        out.reserve(self.n_chains * self.n_draws);
        match self.storage {
            Storage::Flat(data) => {
                out.extend(
                    data.iter()
                        .skip(dim)
                        .step_by(self.n_dims)
                        .map(|&v| v.into()),
                );
            }
            Storage::Chains(chains) => {
                for chain in chains {
                    out.extend(chain.iter().map(|&v| v.into()));
                }
            }
        }
    }
}

/// Checks one dimension's chains: non-empty, equal lengths of at least
/// [`MIN_DRAWS`], finite. Returns the number of draws per chain.
pub(crate) fn validate_chains<T: Copy + Into<f64>>(
    chains: &[&[T]],
) -> Result<usize, DiagnosticsError> {
    let first = chains.first().ok_or(DiagnosticsError::NoChains)?;
    let n_draws = first.len();
    for (chain, c) in chains.iter().enumerate() {
        if c.len() != n_draws {
            return Err(DiagnosticsError::RaggedChains {
                chain,
                expected: n_draws,
                found: c.len(),
            });
        }
    }
    if n_draws < MIN_DRAWS {
        return Err(DiagnosticsError::TooFewDraws {
            chain: 0,
            n_draws,
            min: MIN_DRAWS,
        });
    }
    for (chain, c) in chains.iter().enumerate() {
        if let Some(draw) = c.iter().position(|&v| !v.into().is_finite()) {
            return Err(DiagnosticsError::NonFinite {
                chain,
                draw,
                dim: 0,
                value: c[draw].into(),
            });
        }
    }
    Ok(n_draws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_layout_indexing() {
        // 2 chains, 4 draws, 3 dims; value encodes its own coordinates.
        let data: Vec<f32> = (0..2)
            .flat_map(|c| {
                (0..4).flat_map(move |d| (0..3).map(move |k| (100 * c + 10 * d + k) as f32))
            })
            .collect();
        let draws = Draws::new(&data, 2, 4, 3).unwrap();
        assert_eq!(draws.get(1, 2, 0), Some(120.0));
        assert_eq!(draws.get(0, 3, 2), Some(32.0));
        assert_eq!(draws.get(2, 0, 0), None);
        let mut buf = Vec::new();
        draws.copy_dimension(1, &mut buf);
        assert_eq!(buf, vec![1.0, 11.0, 21.0, 31.0, 101.0, 111.0, 121.0, 131.0]);
    }

    #[test]
    fn nested_layout_copy() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let chains: [&[f64]; 2] = [&a, &b];
        let draws = Draws::from_chains(&chains).unwrap();
        assert_eq!(
            (draws.n_chains(), draws.n_draws(), draws.n_dims()),
            (2, 4, 1)
        );
        let mut buf = vec![9.0; 3];
        draws.copy_dimension(0, &mut buf);
        assert_eq!(buf, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    }

    #[test]
    fn shape_errors_name_the_parameters() {
        let data = [0.0f64; 24];
        assert_eq!(
            Draws::new(&data, 2, 4, 4).unwrap_err(),
            DiagnosticsError::ShapeMismatch {
                len: 24,
                n_chains: 2,
                n_draws: 4,
                n_dims: 4
            }
        );
        assert_eq!(
            Draws::new(&data, 0, 4, 3).unwrap_err(),
            DiagnosticsError::NoChains
        );
        assert_eq!(
            Draws::new(&data, 2, 12, 0).unwrap_err(),
            DiagnosticsError::NoDimensions
        );
        assert_eq!(
            Draws::new(&data, 8, 3, 1).unwrap_err(),
            DiagnosticsError::TooFewDraws {
                chain: 0,
                n_draws: 3,
                min: 4
            }
        );
        // Overflowing shape products are a mismatch, not a panic.
        assert!(matches!(
            Draws::new(&data, usize::MAX, 2, 2),
            Err(DiagnosticsError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn non_finite_reports_coordinates() {
        let mut data = vec![0.5f32; 2 * 5 * 3];
        data[(5 + 3) * 3 + 2] = f32::INFINITY;
        match Draws::new(&data, 2, 5, 3).unwrap_err() {
            DiagnosticsError::NonFinite {
                chain,
                draw,
                dim,
                value,
            } => {
                assert_eq!((chain, draw, dim), (1, 3, 2));
                assert_eq!(value, f64::INFINITY);
            }
            e => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn nested_validation() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0, 2.0, 3.0, 4.0];
        let c = [1.0, f64::NAN, 3.0, 4.0, 5.0];
        assert_eq!(
            validate_chains::<f64>(&[&a, &b]).unwrap_err(),
            DiagnosticsError::RaggedChains {
                chain: 1,
                expected: 5,
                found: 4
            }
        );
        assert_eq!(
            validate_chains::<f64>(&[]).unwrap_err(),
            DiagnosticsError::NoChains
        );
        match validate_chains::<f64>(&[&a, &c]).unwrap_err() {
            DiagnosticsError::NonFinite { chain, draw, .. } => assert_eq!((chain, draw), (1, 1)),
            e => panic!("unexpected error {e}"),
        }
        assert_eq!(validate_chains::<f64>(&[&a, &a]).unwrap(), 5);
    }
}
