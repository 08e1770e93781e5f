//! `acceptance_rate.png`: how the acceptance rate of HMC and MALA falls as the step size grows, on
//! the guide's Gaussian at temperature 1.
//!
//! Left: the fraction of 1000 chains whose proposal was accepted at each of 100 HMC steps (10
//! leapfrog steps), for five step sizes. Right: the acceptance rate averaged over the run, for HMC
//! and MALA over a range of step sizes, with the 60-90% band the guide recommends.

use super::canvas::{self, Image, INK, PALETTE};
use super::langevin_basic::{COV, INIT_SEED, MEAN, N_PARTICLES, RUN_SEED};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use plotters::prelude::*;

const N_STEPS: usize = 100;
const LEAPFROG: usize = 10;
/// Step sizes of the per-step panel.
const PER_STEP: [f64; 5] = [0.2, 1.0, 1.2, 1.7, 1.8];
/// Step sizes of the sweep.
const SWEEP: [f64; 20] = [
    0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.75,
    1.8, 2.0,
];

/// Per-step acceptance rates of one run of `sampler`.
fn per_step<S: Sampler>(sampler: &S) -> Result<Vec<f64>> {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, MEAN, COV)?;
    let x0: Batch<2> = Cpu::seed_from_u64(INIT_SEED).sample_normal_like(&(N_PARTICLES, Const::<2>));
    let out = sampler.run(
        &model,
        &x0,
        &RunOptions::new(N_STEPS).seed(RUN_SEED).diagnostics(true),
    )?;
    let diagnostics = out.diagnostics.ok_or("diagnostics were requested")?;
    Ok(diagnostics
        .acceptance_rate()
        .ok_or("Metropolis-adjusted samplers record acceptance rates")?
        .to_vec())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

pub fn render() -> Result<Image> {
    let hmc_per_step = PER_STEP
        .iter()
        .map(|&h| per_step(&HamiltonianMonteCarlo::new(h, LEAPFROG)?))
        .collect::<Result<Vec<_>>>()?;
    let hmc_sweep = SWEEP
        .iter()
        .map(|&h| {
            Ok((
                h,
                mean(&per_step(&HamiltonianMonteCarlo::new(h, LEAPFROG)?)?),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mala_sweep = SWEEP
        .iter()
        .map(|&h| Ok((h, mean(&per_step(&Mala::new(h, 1.0)?)?))))
        .collect::<Result<Vec<_>>>()?;

    canvas::draw(800, 420, |root| {
        let root = root.titled(
            "Acceptance rate and step size (Gaussian, temperature 1)",
            canvas::title_font(),
        )?;
        let (left, right) = root.split_horizontally(400);

        let mut chart = ChartBuilder::on(&left)
            .caption(
                "HMC (10 leapfrog steps), per step",
                canvas::panel_title_font(),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(54)
            .build_cartesian_2d(0.0..N_STEPS as f64 + 1.0, 0.0..1.05)?;
        canvas::style_mesh(&mut chart, "step", "fraction of chains accepted")?;
        for (i, (h, rates)) in PER_STEP.iter().zip(&hmc_per_step).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    rates.iter().enumerate().map(|(t, &a)| ((t + 1) as f64, a)),
                    colour.stroke_width(2),
                ))?
                .label(format!("step {h}: mean {:.2}", mean(rates)))
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 20, ly)], colour.stroke_width(3))
                });
        }
        canvas::style_legend(&mut chart, SeriesLabelPosition::MiddleLeft)?;

        let (x0, x1) = (0.015, 2.6);
        let mut chart = ChartBuilder::on(&right)
            .caption("Mean acceptance vs step size", canvas::panel_title_font())
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(54)
            .build_cartesian_2d((x0..x1).log_scale(), 0.0..1.05)?;
        chart
            .configure_mesh()
            .x_desc("step size (log scale)")
            .y_desc("mean acceptance rate")
            .axis_desc_style(canvas::axis_font())
            .label_style(canvas::tick_font())
            .axis_style(INK)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&canvas::tick)
            .draw()?;
        let band = RGBColor(44, 160, 44);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.6), (x1, 0.9)],
                band.mix(0.15).filled(),
            )))?
            .label("60-90%: the usual target")
            .legend(move |(lx, ly)| {
                Rectangle::new([(lx, ly - 5), (lx + 20, ly + 5)], band.mix(0.3).filled())
            });
        for (label, sweep, colour) in [
            ("HMC, 10 leapfrog steps", &hmc_sweep, PALETTE[0]),
            ("MALA, noise scale 1", &mala_sweep, PALETTE[3]),
        ] {
            chart.draw_series(LineSeries::new(
                sweep.iter().copied(),
                colour.stroke_width(2),
            ))?;
            chart
                .draw_series(sweep.iter().map(|&p| Circle::new(p, 3, colour.filled())))?
                .label(label)
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 20, ly)], colour.stroke_width(3))
                });
        }
        canvas::style_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    })
}
