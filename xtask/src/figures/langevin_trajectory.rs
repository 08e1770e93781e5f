//! `langevin_trajectory.png`: five Langevin chains on the four-mode landscape, drawn over a filled
//! contour of its energy.
//!
//! `GaussianMixture::four_modes` (centres `(+-1.5, +-1.5)`, weights `1, 1, 0.8, 0.8`),
//! `LangevinDynamics::new(0.1, 0.1)`, five chains from the origin, 200 steps with seed 42, every
//! state kept.

use super::canvas::{self, Image, PixelGrid, INK};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianMixture;
use ebm_samplers::prelude::*;
use plotters::prelude::*;

const N_CHAINS: usize = 5;
const N_STEPS: usize = 200;
const SEED: u64 = 42;
/// Filled-contour levels of the energy.
const N_LEVELS: usize = 14;
/// How far the colour map is washed towards white, so that the chains stand out.
const WASH: f64 = 0.1;

pub fn render() -> Result<Image> {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f32>::four_modes(&dev);
    let sampler = LangevinDynamics::new(0.1, 0.1)?;
    let x0: Batch<2> = dev.zeros_like(&(N_CHAINS, Const::<2>));
    let out = sampler.run(&model, &x0, &RunOptions::new(N_STEPS).seed(SEED).trace(1))?;
    let trajectory = out.trace.ok_or("a trajectory was requested")?;
    let paths: Vec<Vec<(f64, f64)>> = (0..trajectory.n_chains())
        .map(|c| {
            std::iter::once((0.0, 0.0))
                .chain((0..trajectory.n_kept()).filter_map(|k| {
                    trajectory
                        .point(c, k)
                        .map(|p| (f64::from(p[0]), f64::from(p[1])))
                }))
                .collect()
        })
        .collect();

    let landscape = GaussianMixture::<2, f64>::four_modes(&dev);
    let (x, y) = (-3.0..3.0, -3.0..3.0);
    let colour = |t: f64| canvas::lighten(canvas::colour_map(t), WASH);

    canvas::draw(700, 600, |root| {
        let (left, right) = root.split_horizontally(610);
        let mut chart = ChartBuilder::on(&left)
            .caption(
                "Langevin dynamics on a four-mode energy",
                canvas::title_font(),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(50)
            .build_cartesian_2d(x.clone(), y.clone())?;

        let grid = PixelGrid::of(&chart, &x, &y);
        let energies = grid.energies(&landscape);
        let (lo, hi) = energy_range(&energies);
        let levels = canvas::quantise(&energies, lo, hi, N_LEVELS);
        grid.paint_levels(&chart, &levels, N_LEVELS, colour)?;

        chart
            .configure_mesh()
            .x_desc("x\u{2081}")
            .y_desc("x\u{2082}")
            .axis_desc_style(canvas::axis_font())
            .label_style(canvas::tick_font())
            .axis_style(INK)
            .disable_mesh()
            .x_label_formatter(&canvas::tick)
            .y_label_formatter(&canvas::tick)
            .x_labels(7)
            .y_labels(7)
            .draw()?;

        for (c, path) in paths.iter().enumerate() {
            canvas::polyline(&chart, path, CHAINS[c % CHAINS.len()], 2)?;
        }
        for (c, path) in paths.iter().enumerate() {
            let end = *path.last().ok_or("paths are not empty")?;
            chart.draw_series(std::iter::once(Circle::new(end, 6, INK.filled())))?;
            chart.draw_series(std::iter::once(Circle::new(
                end,
                4,
                CHAINS[c % CHAINS.len()].filled(),
            )))?;
        }
        chart.draw_series(std::iter::once(Circle::new((0.0, 0.0), 6, WHITE.filled())))?;
        chart
            .draw_series(std::iter::once(Circle::new(
                (0.0, 0.0),
                6,
                INK.stroke_width(2),
            )))?
            .label("start of all chains")
            .legend(|(lx, ly)| {
                EmptyElement::at((lx + 10, ly))
                    + Circle::new((0, 0), 5, WHITE.filled())
                    + Circle::new((0, 0), 5, INK.stroke_width(2))
            });
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("end of each chain")
            .legend(|(lx, ly)| {
                EmptyElement::at((lx + 10, ly))
                    + Circle::new((0, 0), 6, INK.filled())
                    + Circle::new((0, 0), 4, CHAINS[0].filled())
            });
        canvas::style_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;

        canvas::colour_bar(&right, &chart, (lo, hi), N_LEVELS, colour, "energy E(x)")?;
        Ok(())
    })
}

/// Chain colours that stand out on the landscape.
const CHAINS: [RGBColor; 5] = [
    RGBColor(230, 30, 40),
    RGBColor(255, 150, 0),
    RGBColor(255, 255, 255),
    RGBColor(0, 0, 0),
    RGBColor(255, 60, 200),
];

/// The range of the energies, rounded outwards to tenths.
fn energy_range(energies: &[f64]) -> (f64, f64) {
    let lo = energies.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = energies.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    ((lo * 10.0).floor() / 10.0, (hi * 10.0).ceil() / 10.0)
}
