//! `energy_landscapes.png`: the energy of every built-in model of `ebm-models` in two dimensions,
//! with default parameters (the guide's parameters for the Gaussian and the mixture).
//!
//! Each panel is a filled contour of `log(1 + E - E_min)` over the panel, scaled to the panel's own
//! range (dark is low energy); white crosses mark the global minima.

use super::canvas::{self, Image, PixelGrid, INK};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::{
    Ackley, DoubleWell, GaussianMixture, GaussianModel, Harmonic, Himmelblau, Rastrigin, Rosenbrock,
};
use plotters::prelude::*;
use std::ops::Range;

const N_LEVELS: usize = 12;

struct Panel {
    name: &'static str,
    x: Range<f64>,
    y: Range<f64>,
    minima: &'static [(f64, f64)],
    energies: fn(&PixelGrid) -> Result<Vec<f64>>,
}

const PANELS: [Panel; 8] = [
    Panel {
        name: "GaussianModel",
        x: -3.0..5.0,
        y: -5.0..3.0,
        minima: &[(1.0, -1.0)],
        energies: |g| {
            let dev = Cpu::default();
            Ok(g.energies(&GaussianModel::<2, f64>::new(
                &dev,
                [1.0, -1.0],
                [[1.0, 0.5], [0.5, 2.0]],
            )?))
        },
    },
    Panel {
        name: "GaussianMixture",
        x: -3.0..3.0,
        y: -3.0..3.0,
        minima: &[],
        energies: |g| Ok(g.energies(&GaussianMixture::<2, f64>::four_modes(&Cpu::default()))),
    },
    Panel {
        name: "Harmonic",
        x: -3.0..3.0,
        y: -3.0..3.0,
        minima: &[(0.0, 0.0)],
        energies: |g| Ok(g.energies(&Harmonic::<f64>::default())),
    },
    Panel {
        name: "DoubleWell",
        x: -2.0..2.0,
        y: -2.0..2.0,
        minima: &[(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)],
        energies: |g| Ok(g.energies(&DoubleWell::<f64>::default())),
    },
    Panel {
        name: "Rosenbrock",
        x: -2.0..2.0,
        y: -1.0..3.0,
        minima: &[(1.0, 1.0)],
        energies: |g| Ok(g.energies(&Rosenbrock::<f64>::default())),
    },
    Panel {
        name: "Rastrigin",
        x: -5.0..5.0,
        y: -5.0..5.0,
        minima: &[(0.0, 0.0)],
        energies: |g| Ok(g.energies(&Rastrigin::<f64>::default())),
    },
    Panel {
        name: "Ackley",
        x: -5.0..5.0,
        y: -5.0..5.0,
        minima: &[(0.0, 0.0)],
        energies: |g| Ok(g.energies(&Ackley::<f64>::default())),
    },
    Panel {
        name: "Himmelblau",
        x: -5.0..5.0,
        y: -5.0..5.0,
        minima: &[
            (3.0, 2.0),
            (-2.805_118, 3.131_312),
            (-3.779_310, -3.283_186),
            (3.584_428, -1.848_126),
        ],
        energies: |g| Ok(g.energies(&Himmelblau)),
    },
];

pub fn render() -> Result<Image> {
    canvas::draw(800, 470, |root| {
        let root = root.titled(
            "Energy landscapes of the built-in models (dark = low energy)",
            canvas::title_font(),
        )?;
        for (panel, area) in PANELS.iter().zip(root.split_evenly((2, 4))) {
            let mut chart = ChartBuilder::on(&area)
                .caption(panel.name, canvas::panel_title_font())
                .margin(6)
                .margin_right(10)
                .x_label_area_size(22)
                .y_label_area_size(30)
                .build_cartesian_2d(panel.x.clone(), panel.y.clone())?;
            let grid = PixelGrid::of(&chart, &panel.x, &panel.y);
            let energies = (panel.energies)(&grid)?;
            let lo = energies.iter().copied().fold(f64::INFINITY, f64::min);
            let scaled: Vec<f64> = energies.iter().map(|&e| (e - lo).ln_1p()).collect();
            let hi = scaled.iter().copied().fold(0.0, f64::max);
            let levels = canvas::quantise(&scaled, 0.0, hi, N_LEVELS);
            grid.paint_levels(&chart, &levels, N_LEVELS, canvas::colour_map)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .label_style(canvas::text(13))
                .x_label_formatter(&canvas::tick)
                .y_label_formatter(&canvas::tick)
                .axis_style(INK)
                .x_labels(5)
                .y_labels(5)
                .draw()?;
            for &m in panel.minima {
                chart.draw_series(std::iter::once(Cross::new(m, 4, WHITE.stroke_width(2))))?;
            }
        }
        Ok(())
    })
}
