//! `training.png`: energies trained by contrastive divergence on three of the toy data sets
//! (`docs/training.md`). Per row: the training data, the learned density `exp(-E) / Z`
//! (normalised over the panel's pixels), and negatives drawn from the trained model as in training
//! (20 MALA steps from data points) over a pale copy of the density.
//!
//! Each model is the benchmark's (an MLP 2-128-128-1 with SiLU) trained with the benchmark's best
//! configuration (`PcdConfig::cd_from_data`: CD-20 from the data batch, MALA `h = 0.01`,
//! `alpha = 0.05`, batch 256) but Adam's rate held at `1e-3`, for `ITERATIONS` iterations, half the
//! benchmark's, from 5000 points, seed 0.

use super::canvas::{self, Image, INK, PALETTE};
use super::Result;
use ebm_core::prelude::*;
use ebm_samplers::Mala;
use ebm_samplers::Sampler;
use ebm_train::cd::{PcdConfig, PcdTrainer};
use ebm_train::data::Toy;
use ebm_train::nn::{build_network, MlpEnergy, SiluMlp};
use plotters::prelude::*;
use std::ops::Range;

const ITERATIONS: usize = 2000;
const N_LEVELS: usize = 14;
/// Points drawn in the data and negatives panels.
const SHOWN: usize = 1500;
/// Negatives drawn for the third column.
const NEGATIVES: usize = 1500;

struct Row {
    name: &'static str,
    toy: Toy,
    range: Range<f64>,
}

/// A trained model with its training data and final buffer.
struct Trained {
    model: MlpEnergy<2>,
    data: Vec<(f64, f64)>,
    negatives: Vec<(f64, f64)>,
}

fn train(toy: &Toy) -> Result<Trained> {
    let data: Vec<f32> = toy.sample(5000, 0)?.into_iter().flatten().collect();
    // The benchmark's recipe at a constant rate: over half the benchmark's iterations its decaying
    // rate would stop before the moons and the roll take shape.
    let config = PcdConfig {
        lr_schedule: None,
        ..PcdConfig::cd_from_data(ITERATIONS)
    };
    let mut trainer = PcdTrainer::<2, _, _>::new(
        build_network::<SiluMlp<2, 128>>(0),
        Mala::new(0.01, 1.0)?,
        data.clone(),
        config,
        0,
    )?;
    for _ in 0..ITERATIONS {
        trainer.step()?;
    }
    // Every k-th point, so that data stored in order (one moon, then the other) shows whole.
    let pairs = |v: &[f32]| -> Vec<(f64, f64)> {
        let every = (v.len() / 2).div_ceil(SHOWN).max(1);
        v.chunks_exact(2)
            .step_by(every)
            .map(|p| (f64::from(p[0]), f64::from(p[1])))
            .collect()
    };
    // The negatives of one more iteration's batch: 20 MALA steps from data points.
    let model = trainer.energy()?;
    let every = data.len() / 2 / NEGATIVES;
    let starts: Vec<f32> = data
        .chunks_exact(2)
        .step_by(every.max(1))
        .take(NEGATIVES)
        .flatten()
        .copied()
        .collect();
    let x0: Batch<2> = Cpu::default().tensor_from_vec(starts, (NEGATIVES, Const::<2>));
    let negatives = pairs(&Mala::new(0.01, 1.0)?.sample(&model, &x0, 20, 1)?.as_vec());
    Ok(Trained {
        model,
        data: pairs(&data),
        negatives,
    })
}

pub fn render() -> Result<Image> {
    let rows = [
        Row {
            name: "ring of eight Gaussians",
            toy: Toy::ring8(),
            range: -3.0..3.0,
        },
        Row {
            name: "two moons",
            toy: Toy::TwoMoons { noise: 0.05 },
            range: -1.6..2.6,
        },
        Row {
            name: "swiss roll",
            toy: Toy::SwissRoll {
                noise: 0.05,
                arclength: 1.5,
            },
            range: -2.0..2.0,
        },
    ];
    let trained: Vec<Trained> = rows.iter().map(|r| train(&r.toy)).collect::<Result<_>>()?;

    canvas::draw(900, 960, |root| {
        let root = root.titled(
            "Energies trained by contrastive divergence (MLP 2-128-128-1, CD-20 from data, MALA)",
            canvas::title_font(),
        )?;
        let areas = root.split_evenly((3, 3));
        for (r, (row, t)) in rows.iter().zip(&trained).enumerate() {
            let range = row.range.clone();
            let titles = [
                format!("{}: data", row.name),
                "learned density exp(-E) / Z".to_string(),
                "negatives: 20 MALA steps from data".to_string(),
            ];
            for (c, title) in titles.iter().enumerate() {
                let area = &areas[3 * r + c];
                let mut chart = ChartBuilder::on(area)
                    .caption(title, canvas::panel_title_font())
                    .margin(6)
                    .margin_right(12)
                    .x_label_area_size(22)
                    .y_label_area_size(30)
                    .build_cartesian_2d(range.clone(), range.clone())?;
                if c > 0 {
                    let grid = canvas::PixelGrid::of(&chart, &range, &range);
                    let points: Vec<[f32; 2]> = grid
                        .coords
                        .chunks_exact(2)
                        .map(|p| [p[0] as f32, p[1] as f32])
                        .collect();
                    let energies = ebm_train::eval::energies(&t.model, &points);
                    let lo = energies.iter().copied().fold(f64::INFINITY, f64::min);
                    let density: Vec<f64> = energies.iter().map(|&e| (lo - e).exp()).collect();
                    let levels = canvas::quantise(&density, 0.0, 1.0, N_LEVELS);
                    // Bright is dense; under the negatives the density is a pale backdrop.
                    grid.paint_levels(&chart, &levels, N_LEVELS, |v| {
                        if c == 1 {
                            canvas::colour_map(v)
                        } else {
                            canvas::lighten(canvas::colour_map(v), 0.8)
                        }
                    })?;
                }
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .label_style(canvas::tick_font())
                    .axis_style(INK)
                    .x_labels(5)
                    .y_labels(5)
                    .x_label_formatter(&canvas::tick)
                    .y_label_formatter(&canvas::tick)
                    .draw()?;
                let (points, colour) = match c {
                    0 => (&t.data, PALETTE[0]),
                    2 => (&t.negatives, PALETTE[3]),
                    _ => continue,
                };
                chart.draw_series(
                    points
                        .iter()
                        .filter(|(x, y)| range.contains(x) && range.contains(y))
                        .map(|&p| Circle::new(p, 1, colour.mix(0.6).filled())),
                )?;
            }
        }
        Ok(())
    })
}
