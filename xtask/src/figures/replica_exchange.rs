//! `replica_exchange.png`: the guide's four wells at temperature 0.01. Left, the mass of each well
//! by quadrature, by plain Langevin with the guide's settings and by replica exchange (the
//! `replica_exchange` example's run). Right, the swap acceptance of each adjacent pair of the tuned
//! ladder.

use crate::wells;

use super::canvas::{self, Image, INK, PALETTE};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianMixture;
use plotters::prelude::*;

pub fn render() -> Result<Image> {
    let dev = Cpu::default();
    let model = GaussianMixture::<2, f64>::four_modes(&dev);
    let quadrature = wells::quadrature_masses(wells::TEMPERATURE);
    let plain = wells::plain_langevin(&model)?;
    let run = wells::replica_exchange(&model, wells::LADDERS, wells::SCANS, wells::EXPLORE_STEPS)?;
    let swaps = &run.swaps;

    canvas::draw(900, 420, |root| {
        let root = root.titled(
            "Four wells at temperature 0.01: replica exchange",
            canvas::title_font(),
        )?;
        let (left, right) = root.split_horizontally(500);

        let mut chart = ChartBuilder::on(&left)
            .caption("Mass per well", canvas::panel_title_font())
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(54)
            .build_cartesian_2d(-0.5..3.5, 0.0..0.75)?;
        chart
            .configure_mesh()
            .x_desc("well centre (weights 1, 1, 0.8, 0.8)")
            .y_desc("mass")
            .axis_desc_style(canvas::axis_font())
            .label_style(canvas::tick_font())
            .axis_style(INK)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_labels(4)
            .x_label_formatter(&|v: &f64| {
                let w = v.round();
                if (v - w).abs() > 1e-6 || !(0.0..4.0).contains(&w) {
                    return String::new();
                }
                let w = w as usize;
                format!("({}, {})", wells::CENTERS[w][0], wells::CENTERS[w][1])
            })
            .y_label_formatter(&canvas::tick)
            .draw()?;
        let series = [
            ("quadrature", quadrature, INK.mix(0.7)),
            (
                "plain Langevin (guide's settings)",
                plain,
                PALETTE[3].mix(1.0),
            ),
            ("replica exchange", run.fractions, PALETTE[0].mix(1.0)),
        ];
        for (s, (label, values, colour)) in series.iter().enumerate() {
            let colour = *colour;
            chart
                .draw_series(values.iter().enumerate().map(|(w, &v)| {
                    let x0 = w as f64 - 0.35 + 0.235 * s as f64;
                    Rectangle::new([(x0, 0.0), (x0 + 0.21, v)], colour.filled())
                }))?
                .label(*label)
                .legend(move |(lx, ly)| {
                    Rectangle::new([(lx, ly - 5), (lx + 20, ly + 5)], colour.filled())
                });
        }
        canvas::style_legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        let k = swaps.acceptance_rate.len();
        let mut chart = ChartBuilder::on(&right)
            .caption(
                format!(
                    "Swap acceptance, tuned ladder (Lambda {:.2})",
                    swaps.barrier()
                ),
                canvas::panel_title_font(),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(54)
            .build_cartesian_2d(-0.5..k as f64 - 0.5, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("adjacent pair (i, i + 1), from the cold end")
            .y_desc("swap acceptance")
            .axis_desc_style(canvas::axis_font())
            .label_style(canvas::tick_font())
            .axis_style(INK)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_labels(k)
            .x_label_formatter(&|v: &f64| {
                let i = v.round();
                if (v - i).abs() > 1e-6 || i < 0.0 {
                    String::new()
                } else {
                    format!("{i}")
                }
            })
            .y_label_formatter(&canvas::tick)
            .draw()?;
        chart.draw_series(swaps.acceptance_rate.iter().enumerate().map(|(i, &a)| {
            Rectangle::new(
                [(i as f64 - 0.35, 0.0), (i as f64 + 0.35, a)],
                PALETTE[0].filled(),
            )
        }))?;
        Ok(())
    })
}
