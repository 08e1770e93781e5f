//! `nuts_warmup.png`: what warm-up does. NUTS with diagonal mass adaptation on a 10-D Gaussian
//! whose standard deviations run from 0.1 to 10 (4 chains, 1000 warm-up steps, 1000 draws, seed
//! 3). Left: each chain's step size through warm-up, with the ends of the slow windows, where
//! the mass matrix is re-estimated. Right: the tree depth, averaged over the chains, over warm-up
//! and sampling.

use super::canvas::{self, Image, INK, PALETTE};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use ebm_samplers::warmup::WindowSchedule;
use plotters::prelude::*;

const D: usize = 10;
const CHAINS: usize = 4;
const WARMUP: usize = 1000;
const DRAWS: usize = 1000;

pub fn render() -> Result<Image> {
    let dev = Cpu::default();
    let sd: Vec<f64> = (0..D)
        .map(|i| 10f64.powf(-1.0 + 2.0 * i as f64 / 9.0))
        .collect();
    let mut cov = vec![0.0; D * D];
    for i in 0..D {
        cov[i * D + i] = sd[i] * sd[i];
    }
    let model = GaussianModel::<D, f64>::from_slices(&dev, &[0.0; D], &cov)?;
    let x0: Batch<D, f64> = Cpu::seed_from_u64(3).sample_normal_like(&(CHAINS, Const::<D>));
    let run = Warmup {
        n_warmup: WARMUP,
        n_draws: DRAWS,
        seed: 3,
        progress: false,
        ..Warmup::default()
    }
    .run(&Nuts::default(), &model, &x0)?;
    let (init, base, term) = Warmup::default().windows;
    let windows = WindowSchedule::new(WARMUP, init, base, term).window_ends;
    let depth: Vec<(f64, f64)> = run
        .warmup
        .stats
        .info
        .chunks_exact(CHAINS)
        .chain(run.sampling.stats.info.chunks_exact(CHAINS))
        .enumerate()
        .map(|(t, infos)| {
            let mean = infos.iter().map(|i| f64::from(i.tree_depth)).sum::<f64>() / CHAINS as f64;
            (t as f64 + 1.0, mean)
        })
        .collect();
    // A running mean over 25 draws makes the level readable.
    let smooth: Vec<(f64, f64)> = depth
        .windows(25)
        .map(|w| (w[24].0, w.iter().map(|p| p.1).sum::<f64>() / 25.0))
        .collect();
    let max_depth = depth.iter().map(|p| p.1).fold(0.0, f64::max);

    canvas::draw(900, 420, |root| {
        let root = root.titled(
            "NUTS warm-up on a 10-D Gaussian with scales 0.1 to 10 (diagonal mass)",
            canvas::title_font(),
        )?;
        let (left, right) = root.split_horizontally(450);

        let steps: Vec<f64> = run.warmup_step_sizes.clone();
        let (lo, hi) = steps
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        let mut chart = ChartBuilder::on(&left)
            .caption(
                "Step size per chain during warm-up",
                canvas::panel_title_font(),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(54)
            .build_cartesian_2d(0.0..WARMUP as f64, (lo * 0.8..hi * 1.25).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("warm-up step")
            .y_desc("step size (log scale)")
            .axis_desc_style(canvas::axis_font())
            .label_style(canvas::tick_font())
            .axis_style(INK)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&canvas::tick)
            .y_label_formatter(&canvas::tick)
            .draw()?;
        for &end in &windows {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(end as f64, lo * 0.8), (end as f64, hi * 1.25)],
                INK.mix(0.35).stroke_width(1),
            )))?;
        }
        for c in 0..CHAINS {
            let colour = PALETTE[c % PALETTE.len()];
            let series: Vec<(f64, f64)> = steps
                .iter()
                .skip(c)
                .step_by(CHAINS)
                .enumerate()
                .map(|(t, &e)| (t as f64 + 1.0, e))
                .collect();
            chart
                .draw_series(LineSeries::new(series, colour.stroke_width(1)))?
                .label(format!("chain {c}: tuned {:.3}", run.step_sizes[c]))
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 20, ly)], colour.stroke_width(3))
                });
        }
        canvas::style_legend(&mut chart, SeriesLabelPosition::LowerRight)?;

        let total = (WARMUP + DRAWS) as f64;
        let mut chart = ChartBuilder::on(&right)
            .caption("Tree depth (mean over chains)", canvas::panel_title_font())
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(54)
            .build_cartesian_2d(0.0..total, 0.0..(max_depth + 1.0).ceil())?;
        canvas::style_mesh(
            &mut chart,
            "transition (warm-up, then sampling)",
            "tree depth",
        )?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, 0.0), (WARMUP as f64, (max_depth + 1.0).ceil())],
                INK.mix(0.06).filled(),
            )))?
            .label("warm-up")
            .legend(|(lx, ly)| {
                Rectangle::new([(lx, ly - 5), (lx + 20, ly + 5)], INK.mix(0.15).filled())
            });
        chart.draw_series(
            depth
                .iter()
                .map(|&p| Circle::new(p, 1, PALETTE[0].mix(0.35).filled())),
        )?;
        chart
            .draw_series(LineSeries::new(smooth, PALETTE[3].stroke_width(2)))?
            .label(format!(
                "running mean over 25; sampling mean {:.2}",
                run.sampling.stats.mean_tree_depth()
            ))
            .legend(|(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], PALETTE[3].stroke_width(3))
            });
        canvas::style_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
