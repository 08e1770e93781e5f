//! The one-call summary table.

use crate::draws::Draws;
use crate::engine::Engine;
use crate::error::DiagnosticsError;
use std::fmt;

/// Diagnostics of one dimension, as a row of [`Summary`].
#[derive(Debug, Clone, PartialEq)]
pub struct DimSummary {
    /// Display name, `x[i]` for dimension `i` unless replaced with
    /// [`Summary::with_names`].
    pub name: String,
    /// Mean of all draws.
    pub mean: f64,
    /// Standard deviation of all draws (ddof 1).
    pub sd: f64,
    /// Monte Carlo standard error of the mean: `sd / sqrt(ess_mean)`, where
    /// `ess_mean` is the ESS of the raw split chains.
    pub mcse_mean: f64,
    /// Bulk effective sample size (ESS of the rank-normalised split chains).
    pub ess_bulk: f64,
    /// Tail effective sample size (smaller ESS of the 5 % and 95 % quantile
    /// indicators).
    pub ess_tail: f64,
    /// Rank-normalised split R-hat; NaN with fewer than two chains or when
    /// all draws are equal.
    pub r_hat: f64,
}

/// Per-chain sampler statistics that can be attached to a [`Summary`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChainStats {
    /// Fraction of accepted proposals, in `[0, 1]`, if the sampler has an
    /// accept/reject step.
    pub acceptance_rate: Option<f64>,
    /// Number of divergent transitions.
    pub divergences: usize,
}

/// Per-dimension diagnostics of a set of chains, with optional per-chain
/// sampler statistics. `Display` prints an aligned table.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// One row per dimension, in dimension order.
    pub rows: Vec<DimSummary>,
    /// Number of chains summarised.
    pub n_chains: usize,
    /// Number of draws per chain.
    pub n_draws: usize,
    /// Per-chain statistics, if attached with [`Summary::with_chain_stats`].
    pub chain_stats: Option<Vec<ChainStats>>,
}

/// Computes mean, sd, MCSE of the mean, bulk-ESS, tail-ESS and R-hat for every
/// dimension of `draws`.
///
/// Each dimension is copied once into reusable `f64` buffers; the draws are
/// sorted once per dimension and the sort serves the ranks, the folded ranks,
/// the median and the quantiles.
///
/// # Errors
///
/// None in practice: [`Draws`] is validated on construction. The `Result`
/// keeps room for checks that depend on the diagnostics requested.
pub fn summarize<T: Copy + Into<f64>>(draws: &Draws<'_, T>) -> Result<Summary, DiagnosticsError> {
    let mut engine = Engine::default();
    let rows = (0..draws.n_dims())
        .map(|dim| {
            engine.load_dimension(draws, dim);
            engine.row(format!("x[{dim}]"))
        })
        .collect();
    Ok(Summary {
        rows,
        n_chains: draws.n_chains(),
        n_draws: draws.n_draws(),
        chain_stats: None,
    })
}

impl Engine {
    /// All summary diagnostics of the loaded dimension.
    pub(crate) fn row(&mut self, name: String) -> DimSummary {
        let (mean, sd) = self.mean_sd();
        let s = self.split_len();
        let ess_mean = self.mean_tau().ess(s);
        let ess_bulk = self.bulk_tau().ess(s);
        let ess_tail = self.ess_tail();
        let r_hat = self.rhat_rank(true);
        DimSummary {
            name,
            mean,
            sd,
            mcse_mean: sd / ess_mean.sqrt(),
            ess_bulk,
            ess_tail,
            r_hat,
        }
    }
}

impl Summary {
    /// Attaches one [`ChainStats`] per chain, shown below the table.
    ///
    /// # Errors
    ///
    /// [`DiagnosticsError::ChainStatsCount`] when `stats.len()` differs from
    /// the number of chains, [`DiagnosticsError::InvalidAcceptanceRate`] when
    /// an acceptance rate is NaN or outside `[0, 1]`.
    pub fn with_chain_stats(mut self, stats: Vec<ChainStats>) -> Result<Self, DiagnosticsError> {
        if stats.len() != self.n_chains {
            return Err(DiagnosticsError::ChainStatsCount {
                expected: self.n_chains,
                found: stats.len(),
            });
        }
        for (chain, s) in stats.iter().enumerate() {
            if let Some(value) = s.acceptance_rate {
                if !(0.0..=1.0).contains(&value) {
                    return Err(DiagnosticsError::InvalidAcceptanceRate { chain, value });
                }
            }
        }
        self.chain_stats = Some(stats);
        Ok(self)
    }

    /// Replaces the default `x[i]` row names.
    ///
    /// # Errors
    ///
    /// [`DiagnosticsError::NameCount`] when the number of names differs from
    /// the number of dimensions.
    pub fn with_names<I, S>(mut self, names: I) -> Result<Self, DiagnosticsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.len() != self.rows.len() {
            return Err(DiagnosticsError::NameCount {
                expected: self.rows.len(),
                found: names.len(),
            });
        }
        for (row, name) in self.rows.iter_mut().zip(names) {
            row.name = name;
        }
        Ok(self)
    }

    /// Largest R-hat over the dimensions, ignoring NaN (NaN if all are NaN).
    pub fn max_r_hat(&self) -> f64 {
        self.rows.iter().map(|r| r.r_hat).fold(f64::NAN, f64::max)
    }

    /// Smallest of the bulk- and tail-ESS over all dimensions.
    pub fn min_ess(&self) -> f64 {
        self.rows
            .iter()
            .flat_map(|r| [r.ess_bulk, r.ess_tail])
            .fold(f64::NAN, f64::min)
    }
}

/// Location and scale values: 4 decimals, scientific notation when very
/// small or very large.
fn fmt_value(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        format!("{x}")
    } else if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

fn fmt_ess(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Writes `rows` as columns separated by two spaces; the first column is
/// left-aligned, the others right-aligned.
fn write_table(f: &mut fmt::Formatter<'_>, rows: &[Vec<String>]) -> fmt::Result {
    let n_cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n_cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, (cell, &w)) in row.iter().zip(&widths).enumerate() {
            if c == 0 {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("  {cell:>w$}"));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} chains x {} draws", self.n_chains, self.n_draws)?;
        let mut table = vec![[
            "",
            "mean",
            "sd",
            "mcse_mean",
            "ess_bulk",
            "ess_tail",
            "r_hat",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
        for r in &self.rows {
            table.push(vec![
                r.name.clone(),
                fmt_value(r.mean),
                fmt_value(r.sd),
                fmt_value(r.mcse_mean),
                fmt_ess(r.ess_bulk),
                fmt_ess(r.ess_tail),
                if r.r_hat.is_finite() {
                    format!("{:.3}", r.r_hat)
                } else {
                    format!("{}", r.r_hat)
                },
            ]);
        }
        write_table(f, &table)?;
        if let Some(stats) = &self.chain_stats {
            writeln!(f)?;
            let mut table = vec![vec![
                "chain".to_string(),
                "acceptance".to_string(),
                "divergences".to_string(),
            ]];
            for (i, s) in stats.iter().enumerate() {
                table.push(vec![
                    i.to_string(),
                    s.acceptance_rate
                        .map_or_else(|| "-".to_string(), |a| format!("{a:.3}")),
                    s.divergences.to_string(),
                ]);
            }
            write_table(f, &table)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_summary() -> Summary {
        // 2 chains x 6 draws x 2 dims; dimension 1 is constant.
        let data: Vec<f64> = (0..12)
            .flat_map(|i| [((i * 5) % 12) as f64 * 0.25 - 1.0, 3.0])
            .collect();
        summarize(&Draws::new(&data, 2, 6, 2).unwrap()).unwrap()
    }

    #[test]
    fn constant_dimension_row() {
        let s = small_summary();
        let row = &s.rows[1];
        assert_eq!(row.name, "x[1]");
        assert_eq!((row.mean, row.sd, row.mcse_mean), (3.0, 0.0, 0.0));
        // ESS equals the number of split draws, R-hat is undefined.
        assert_eq!((row.ess_bulk, row.ess_tail), (12.0, 12.0));
        assert!(row.r_hat.is_nan());
    }

    #[test]
    fn display_is_aligned_and_lists_chains() {
        let s = small_summary()
            .with_names(["alpha", "beta"])
            .unwrap()
            .with_chain_stats(vec![
                ChainStats {
                    acceptance_rate: Some(0.8125),
                    divergences: 2,
                },
                ChainStats {
                    acceptance_rate: None,
                    divergences: 0,
                },
            ])
            .unwrap();
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2 chains x 6 draws");
        assert!(lines[1].starts_with(' ') && lines[1].ends_with("r_hat"));
        assert!(lines[2].starts_with("alpha"));
        assert!(lines[3].starts_with("beta") && lines[3].ends_with("NaN"));
        // Right-aligned columns: header and rows end at the same column.
        assert_eq!(lines[1].len(), lines[2].len());
        assert!(lines[3].contains("3.0000"));
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with("chain"));
        assert!(lines[6].contains("0.812") && lines[6].ends_with('2'));
        assert!(lines[7].contains('-') && lines[7].ends_with('0'));
    }

    #[test]
    fn attachments_are_validated() {
        let s = small_summary();
        assert_eq!(
            s.clone().with_chain_stats(vec![ChainStats::default()]),
            Err(DiagnosticsError::ChainStatsCount {
                expected: 2,
                found: 1
            })
        );
        let bad = ChainStats {
            acceptance_rate: Some(1.5),
            divergences: 0,
        };
        assert_eq!(
            s.clone().with_chain_stats(vec![ChainStats::default(), bad]),
            Err(DiagnosticsError::InvalidAcceptanceRate {
                chain: 1,
                value: 1.5
            })
        );
        assert_eq!(
            s.with_names(["only one"]),
            Err(DiagnosticsError::NameCount {
                expected: 2,
                found: 1
            })
        );
    }

    #[test]
    fn extremes_skip_nan_rows() {
        let s = small_summary();
        assert_eq!(s.max_r_hat(), s.rows[0].r_hat);
        assert!(s.min_ess() <= s.rows[0].ess_bulk);
        assert_eq!(fmt_value(1.5e-7), "1.500e-7");
        assert_eq!(fmt_value(-0.25), "-0.2500");
        assert_eq!(fmt_ess(f64::NAN), "NaN");
    }
}
