//! `langevin_basic.png`: the guide's first example, Langevin dynamics on the 2-D Gaussian.
//!
//! The same run as `cargo run --release --example langevin_basic`: 1000 particles from `N(0, I)`
//! (dfdx's `Cpu::seed_from_u64(0)`), `LangevinDynamics::new(0.1, 0.1)`, 100 steps with seed 42.

use super::canvas::{self, Image, INK, PALETTE};
use super::Result;
use ebm_core::prelude::*;
use ebm_models::GaussianModel;
use ebm_samplers::prelude::*;
use plotters::prelude::*;

/// The guide's Gaussian: mean and covariance.
pub const MEAN: [f32; 2] = [1.0, -1.0];
pub const COV: [[f32; 2]; 2] = [[1.0, 0.5], [0.5, 2.0]];
/// Particles of the guide's Gaussian examples.
pub const N_PARTICLES: usize = 1000;
/// Seed of the initial particles (dfdx's CPU device) and of the samplers' streams.
pub const INIT_SEED: u64 = 0;
pub const RUN_SEED: u64 = 42;

/// Radius, in standard deviations of the target, of the ellipse holding 95% of a 2-D Gaussian's
/// mass: `sqrt(chi2_2^-1(0.95)) = sqrt(-2 ln 0.05)`.
pub const RADIUS_95: f64 = 2.447_746_830_680_816;

pub fn render() -> Result<Image> {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, MEAN, COV)?;
    let sampler = LangevinDynamics::new(0.1, 0.1)?;
    let x0: Batch<2> = Cpu::seed_from_u64(INIT_SEED).sample_normal_like(&(N_PARTICLES, Const::<2>));
    let samples = sampler.sample(&model, &x0, 100, RUN_SEED)?;
    scatter(
        "Samples from GaussianModel via Langevin Dynamics",
        &canvas::points(&samples),
        PALETTE[0],
        "1000 samples (step 0.1, noise 0.1, 100 steps)",
        None,
        sampler.temperature(),
        "target N(\u{3bc}, 0.01 \u{3a3}): 95% region",
    )
}

/// A scatter of samples of the guide's Gaussian with the 95% ellipse of its target at temperature
/// `temperature` (covariance `temperature * COV`), on equal axes.
pub fn scatter(
    title: &str,
    samples: &[(f64, f64)],
    colour: RGBColor,
    samples_label: &str,
    note: Option<String>,
    temperature: f64,
    target_label: &str,
) -> Result<Image> {
    let cov = COV.map(|row| row.map(|v| f64::from(v) * temperature));
    let mean = MEAN.map(f64::from);
    let ring = canvas::ellipse(mean, cov, RADIUS_95);
    let (x, y) = canvas::bounds(&samples.iter().chain(&ring).copied().collect::<Vec<_>>());
    // Equal scales on both axes, so the ellipse keeps its shape.
    let half = (x.end - x.start).max(y.end - y.start) / 2.0;
    let (cx, cy) = ((x.start + x.end) / 2.0, (y.start + y.end) / 2.0);
    // Head room for the legend above the samples.
    let (x, y) = (cx - half..cx + half, cy - half..cy + half * 1.3);
    let (x, y) = (x.start - half * 0.15..x.end + half * 0.15, y);

    canvas::draw(600, 600, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, canvas::title_font())
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x.clone(), y.clone())?;
        canvas::style_mesh(&mut chart, "x\u{2081}", "x\u{2082}")?;
        chart
            .draw_series(
                samples
                    .iter()
                    .map(|&p| Circle::new(p, 2, colour.mix(0.5).filled())),
            )?
            .label(samples_label)
            .legend(move |(lx, ly)| Circle::new((lx + 10, ly), 3, colour.mix(0.7).filled()));
        chart
            .draw_series(DashedLineSeries::new(
                ring.iter().copied(),
                6,
                4,
                INK.stroke_width(2),
            ))?
            .label(target_label)
            .legend(|(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], INK.stroke_width(2))
            });
        if let Some(note) = note {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(note)
                .legend(|(lx, ly)| EmptyElement::at((lx, ly)));
        }
        canvas::style_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
