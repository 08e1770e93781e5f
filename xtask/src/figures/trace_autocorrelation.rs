//! `trace_autocorrelation.png`: trace plots of one chain and the autocorrelation of the chains, for
//! Langevin dynamics, MALA and HMC on the guide's Gaussian at temperature 1.
//!
//! 100 chains from `N(0, I)` run 4000 steps each (seed 42); the trace panels show the first 400
//! steps of chain 0, the autocorrelation is estimated over all chains after the first 500 steps and
//! the effective sample size comes from `ebm_samplers::diagnostics::ess_bulk`.

use super::canvas::{self, Image, Root, INK, PALETTE};
use super::langevin_basic::{COV, INIT_SEED, MEAN, RUN_SEED};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use plotters::prelude::*;

const N_CHAINS: usize = 100;
const N_STEPS: usize = 4000;
const BURN_IN: usize = 500;
const TRACE_STEPS: usize = 400;
const MAX_LAG: usize = 40;
/// The coordinate shown: `x2`, the one with the larger variance.
const DIM: usize = 1;

/// One sampler's draws of coordinate `DIM`, `[chain][step]`.
struct Run {
    label: String,
    colour: RGBColor,
    chains: Vec<Vec<f64>>,
}

fn draws<S: Sampler>(sampler: &S, label: String, colour: RGBColor) -> Result<Run> {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, MEAN, COV)?;
    let x0: Batch<2> = Cpu::seed_from_u64(INIT_SEED).sample_normal_like(&(N_CHAINS, Const::<2>));
    let out = sampler.run(
        &model,
        &x0,
        &RunOptions::new(N_STEPS).seed(RUN_SEED).trace(1),
    )?;
    let trajectory = out.trace.ok_or("a trajectory was requested")?;
    let chains = (0..N_CHAINS)
        .map(|c| {
            trajectory
                .chain(c)
                .map(|states| states.chunks_exact(2).map(|p| f64::from(p[DIM])).collect())
                .ok_or("chain index in range")
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(Run {
        label,
        colour,
        chains,
    })
}

/// The autocorrelation at lags `0..=max_lag` of chains pooled around their common mean.
fn autocorrelation(chains: &[&[f64]], max_lag: usize) -> Vec<f64> {
    let n: usize = chains.iter().map(|c| c.len()).sum();
    let mean = chains.iter().flat_map(|c| c.iter()).sum::<f64>() / n as f64;
    let cov = |lag: usize| {
        let (mut sum, mut count) = (0.0, 0usize);
        for c in chains {
            for t in 0..c.len().saturating_sub(lag) {
                sum += (c[t] - mean) * (c[t + lag] - mean);
                count += 1;
            }
        }
        sum / count as f64
    };
    let var = cov(0);
    (0..=max_lag).map(|lag| cov(lag) / var).collect()
}

pub fn render() -> Result<Image> {
    let runs = [
        draws(
            &LangevinDynamics::new(0.1, 1.0)?,
            "Langevin, step 0.1".into(),
            PALETTE[0],
        )?,
        draws(&Mala::new(1.0, 1.0)?, "MALA, step 1".into(), PALETTE[1])?,
        draws(
            &HamiltonianMonteCarlo::new(0.1, 10)?,
            "HMC, step 0.1, 10 leapfrog".into(),
            PALETTE[2],
        )?,
    ];

    let mut curves = Vec::new();
    for run in &runs {
        let kept: Vec<&[f64]> = run.chains.iter().map(|c| &c[BURN_IN..]).collect();
        let ess = ebm_samplers::diagnostics::ess_bulk(&kept)?;
        let per_thousand = ess / (kept.len() * kept[0].len()) as f64 * 1000.0;
        curves.push((
            format!("{} (ESS {per_thousand:.0} per 1000 draws)", run.label),
            autocorrelation(&kept, MAX_LAG),
        ));
    }

    canvas::draw(800, 640, |root| {
        let root = root.titled(
            "Trace and autocorrelation of x\u{2082} on the Gaussian (temperature 1)",
            canvas::title_font(),
        )?;
        let (top, bottom) = root.split_vertically(330);
        for (run, area) in runs.iter().zip(top.split_evenly((3, 1))) {
            trace_panel(&area, run)?;
        }

        let mut chart = ChartBuilder::on(&bottom)
            .margin(12)
            .margin_top(18)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..MAX_LAG as f64 + 0.5, -0.2..1.05)?;
        canvas::style_mesh(&mut chart, "lag (steps)", "autocorrelation")?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, 0.0), (MAX_LAG as f64 + 0.5, 0.0)],
            INK.mix(0.6),
        )))?;
        for (run, (label, acf)) in runs.iter().zip(&curves) {
            let colour = run.colour;
            let points: Vec<(f64, f64)> = acf
                .iter()
                .enumerate()
                .map(|(k, &r)| (k as f64, r))
                .collect();
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?
                .label(label.as_str())
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 20, ly)], colour.stroke_width(3))
                });
        }
        canvas::style_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// One trace panel: the first `TRACE_STEPS` states of chain 0 and the target mean.
fn trace_panel(area: &Root<'_>, run: &Run) -> Result<()> {
    let mean = f64::from(MEAN[DIM]);
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(22)
        .margin_top(24)
        .x_label_area_size(24)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..TRACE_STEPS as f64, -6.0..4.0)?;
    chart
        .configure_mesh()
        .label_style(canvas::tick_font())
        .axis_style(INK)
        .bold_line_style(INK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&canvas::tick)
        .y_label_formatter(&canvas::tick)
        .x_labels(9)
        .y_labels(3)
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        [(0.0, mean), (TRACE_STEPS as f64, mean)],
        5,
        4,
        INK.mix(0.7).stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        run.chains[0][..TRACE_STEPS]
            .iter()
            .enumerate()
            .map(|(t, &v)| ((t + 1) as f64, v)),
        run.colour.stroke_width(1),
    ))?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let base = area.get_base_pixel();
    area.draw(&Text::new(
        format!(
            "{}: chain 1, steps 1-{TRACE_STEPS} (dashed: target mean)",
            run.label
        ),
        (px.start - base.0, py.start - base.1 - 20),
        canvas::tick_font().color(&canvas::darken(run.colour, 0.15)),
    ))?;
    Ok(())
}
