//! What the figures share: the bundled font, colours, an in-memory RGB canvas, PNG encoding and
//! decoding, axis styling, and pixel-exact filled contours of an energy.

use super::backend::Canvas;
use super::Result;
use ebm_core::dfdx::tensor::TensorFromVec;
use ebm_core::prelude::{Batch, Const, Cpu, Energy};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

/// The font every figure draws its text with, compiled into the binary so that rendering does not
/// depend on the fonts installed on the machine.
pub(super) const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name the bundled font is registered under (plotters' default family).
pub const FAMILY: &str = "sans-serif";

/// Registers the bundled font with plotters, which measures text with it when laying out charts
/// (other styles fall back to this one). The text itself is drawn by [`super::backend::Canvas`].
pub fn register_font() -> Result<()> {
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| "the bundled font xtask/assets/DejaVuSans.ttf could not be parsed")?;
    Ok(())
}

/// Text of `size` pixels in the bundled font.
pub fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&INK)
}

/// Figure titles.
pub fn title_font() -> TextStyle<'static> {
    text(22)
}

/// Panel titles in multi-panel figures.
pub fn panel_title_font() -> TextStyle<'static> {
    text(19)
}

/// Axis descriptions.
pub fn axis_font() -> TextStyle<'static> {
    text(18)
}

/// Tick labels and legends.
pub fn tick_font() -> TextStyle<'static> {
    text(16)
}

/// Near-black for text and axes.
pub const INK: RGBColor = RGBColor(30, 30, 30);
/// A categorical palette: blue, orange, green, red, purple.
pub const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// A rendered figure: `width x height` pixels, RGB, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// The root drawing area of a canvas.
pub type Root<'a> = DrawingArea<Canvas<'a>, Shift>;

/// A 2-D chart with `f64` axes.
pub type Chart<'a, 'b> = ChartContext<'a, Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws on a white `width x height` canvas held in memory and returns its pixels.
pub fn draw(width: u32, height: u32, paint: impl FnOnce(&Root<'_>) -> Result<()>) -> Result<Image> {
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = Canvas::new(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        paint(&root)?;
        root.present()?;
    }
    Ok(Image { width, height, rgb })
}

/// Encodes an image as an 8-bit RGB PNG.
pub fn encode_png(image: &Image) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, image.width, image.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&image.rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// Decodes a PNG into 8-bit RGB pixels (grey levels are expanded, alpha is dropped).
pub fn decode_png(bytes: &[u8]) -> Result<Image> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("the PNG is too large")?];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        other => return Err(format!("unexpected PNG colour type {other:?}").into()),
    };
    Ok(Image {
        width: info.width,
        height: info.height,
        rgb,
    })
}

/// Grid lines, axis descriptions and tick labels in the figures' common style.
pub fn style_mesh(chart: &mut Chart<'_, '_>, x_desc: &str, y_desc: &str) -> Result<()> {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(axis_font())
        .label_style(tick_font())
        .axis_style(INK)
        .bold_line_style(INK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()?;
    Ok(())
}

/// A tick label: at most two decimals, trailing zeros dropped, a true minus sign.
pub fn tick(v: &f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".into(),
        _ => s.replacen('-', "\u{2212}", 1),
    }
}

/// A legend in the figures' common style.
pub fn style_legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, Canvas<'b>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(tick_font())
        .background_style(WHITE.mix(0.85))
        .border_style(INK.mix(0.4))
        .margin(8)
        .draw()?;
    Ok(())
}

/// Draws a polyline of width `width` segment by segment. (plotters joins a wide polyline with
/// miters, which turn into long spikes at the sharp corners of a noisy chain.)
pub fn polyline(
    chart: &Chart<'_, '_>,
    points: &[(f64, f64)],
    colour: RGBColor,
    width: u32,
) -> Result<()> {
    let area = chart.plotting_area();
    for pair in points.windows(2) {
        area.draw(&PathElement::new(
            vec![pair[0], pair[1]],
            colour.stroke_width(width),
        ))?;
    }
    if width > 2 {
        for &p in points {
            area.draw(&Circle::new(p, width / 2, colour.filled()))?;
        }
    }
    Ok(())
}

/// An inclusive-exclusive range padded by `pad` times its length on both sides.
pub fn padded(lo: f64, hi: f64, pad: f64) -> Range<f64> {
    let d = (hi - lo).max(1e-9) * pad;
    lo - d..hi + d
}

/// The bounding box of points, each axis padded by 8%.
pub fn bounds(points: &[(f64, f64)]) -> (Range<f64>, Range<f64>) {
    let fold = |f: fn(&(f64, f64)) -> f64| {
        points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x0, x1) = fold(|p| p.0);
    let (y0, y1) = fold(|p| p.1);
    (padded(x0, x1, 0.08), padded(y0, y1, 0.08))
}

/// The rows of a batch of 2-D points, as `f64` pairs.
pub fn points(batch: &Batch<2>) -> Vec<(f64, f64)> {
    batch
        .as_vec()
        .chunks_exact(2)
        .map(|p| (f64::from(p[0]), f64::from(p[1])))
        .collect()
}

/// Points of the ellipse `{ mean + L u : |u| = radius }` for the Cholesky factor `L` of the 2x2
/// covariance `cov`. The unit circle is traced with the rational parametrisation
/// `((1 - t^2) / (1 + t^2), 2t / (1 + t^2))`, so no trigonometric function is involved.
pub fn ellipse(mean: [f64; 2], cov: [[f64; 2]; 2], radius: f64) -> Vec<(f64, f64)> {
    let l00 = cov[0][0].sqrt();
    let l10 = cov[1][0] / l00;
    let l11 = (cov[1][1] - l10 * l10).sqrt();
    const PER_QUADRANT: usize = 48;
    let quadrant: Vec<(f64, f64)> = (0..PER_QUADRANT)
        .map(|i| {
            let t = i as f64 / PER_QUADRANT as f64;
            ((1.0 - t * t) / (1.0 + t * t), 2.0 * t / (1.0 + t * t))
        })
        .collect();
    let mut unit = Vec::with_capacity(4 * PER_QUADRANT + 1);
    for q in 0..4 {
        unit.extend(quadrant.iter().map(|&(c, s)| match q {
            0 => (c, s),
            1 => (-s, c),
            2 => (-c, -s),
            _ => (s, -c),
        }));
    }
    unit.push(unit[0]);
    unit.into_iter()
        .map(|(a, b)| {
            let (a, b) = (a * radius, b * radius);
            (mean[0] + l00 * a, mean[1] + l10 * a + l11 * b)
        })
        .collect()
}

/// The pixels of a chart's plotting area and the data coordinates of their centres.
pub struct PixelGrid {
    pub width: usize,
    pub height: usize,
    /// Row-major `(x, y)` pairs, one per pixel, flattened: `[x0, y0, x1, y1, ...]`.
    pub coords: Vec<f64>,
}

impl PixelGrid {
    /// The plotting area of `chart`, whose axes span `x` and `y`.
    pub fn of(chart: &Chart<'_, '_>, x: &Range<f64>, y: &Range<f64>) -> Self {
        let (width, height) = chart.plotting_area().dim_in_pixel();
        let (width, height) = (width as usize, height as usize);
        let mut coords = Vec::with_capacity(width * height * 2);
        for row in 0..height {
            let v = y.end - (row as f64 + 0.5) / height as f64 * (y.end - y.start);
            for col in 0..width {
                let u = x.start + (col as f64 + 0.5) / width as f64 * (x.end - x.start);
                coords.extend([u, v]);
            }
        }
        Self {
            width,
            height,
            coords,
        }
    }

    /// The energy of `model` at every pixel centre, evaluated in `f64` as one batch.
    pub fn energies<M: Energy<2, f64, Cpu>>(&self, model: &M) -> Vec<f64> {
        let dev = Cpu::default();
        let n = self.width * self.height;
        let x: Batch<2, f64> = dev.tensor_from_vec(self.coords.clone(), (n, Const::<2>));
        model.energy(x).as_vec()
    }

    /// Paints a filled contour into the plotting area of `chart`: `levels[i]` (in `0..n_levels`)
    /// picks the colour of pixel `i` from `colour(level / (n_levels - 1))`, and pixels where the
    /// level changes are darkened into a thin contour line.
    pub fn paint_levels(
        &self,
        chart: &Chart<'_, '_>,
        levels: &[usize],
        n_levels: usize,
        colour: impl Fn(f64) -> RGBColor,
    ) -> Result<()> {
        let area = chart.plotting_area().strip_coord_spec();
        let palette: Vec<RGBColor> = (0..n_levels)
            .map(|l| colour(l as f64 / (n_levels - 1).max(1) as f64))
            .collect();
        let (w, h) = (self.width, self.height);
        for row in 0..h {
            for col in 0..w {
                let i = row * w + col;
                let l = levels[i];
                let edge =
                    (col + 1 < w && levels[i + 1] != l) || (row + 1 < h && levels[i + w] != l);
                let c = palette[l];
                let c = if edge { darken(c, 0.3) } else { c };
                area.draw_pixel((col as i32, row as i32), &c)?;
            }
        }
        Ok(())
    }
}

/// Quantises `values` into `n_levels` equal-width levels between `lo` and `hi` (values outside
/// are clamped).
pub fn quantise(values: &[f64], lo: f64, hi: f64, n_levels: usize) -> Vec<usize> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    values
        .iter()
        .map(|&v| {
            let t = ((v - lo) / span).clamp(0.0, 1.0);
            ((t * n_levels as f64) as usize).min(n_levels - 1)
        })
        .collect()
}

/// `c` moved towards black by `amount` (0 keeps it, 1 is black).
pub fn darken(c: RGBColor, amount: f64) -> RGBColor {
    let f = |v: u8| (f64::from(v) * (1.0 - amount)).round() as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// `c` moved towards white by `amount` (0 keeps it, 1 is white).
pub fn lighten(c: RGBColor, amount: f64) -> RGBColor {
    let f = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * amount).round() as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// A perceptually ordered colour map from dark blue-violet (`t = 0`) through teal and green to
/// yellow (`t = 1`), interpolated linearly between ten stops.
pub fn colour_map(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 10] = [
        (68, 1, 84),
        (72, 40, 120),
        (62, 74, 137),
        (49, 104, 142),
        (38, 130, 142),
        (31, 158, 137),
        (53, 183, 121),
        (109, 205, 89),
        (180, 222, 44),
        (253, 231, 37),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A vertical colour bar for `n_levels` levels spanning `levels.0..levels.1`, drawn in `area`
/// beside `main`, whose plotting area it matches in height.
pub fn colour_bar(
    area: &Root<'_>,
    main: &Chart<'_, '_>,
    (lo, hi): (f64, f64),
    n_levels: usize,
    colour: impl Fn(f64) -> RGBColor,
    desc: &str,
) -> Result<()> {
    let (_, rows) = main.plotting_area().get_pixel_range();
    let (_, area_rows) = area.get_pixel_range();
    let mut chart = ChartBuilder::on(area)
        .margin_top((rows.start - area_rows.start).max(0) as u32)
        .margin_bottom((area_rows.end - rows.end).max(0) as u32)
        .margin_right(8)
        .y_label_area_size(0)
        .right_y_label_area_size(46)
        .build_cartesian_2d(0.0..1.0, lo..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .disable_y_mesh()
        .y_desc(desc)
        .axis_desc_style(axis_font())
        .label_style(tick_font())
        .axis_style(INK)
        .y_labels(6)
        .draw()?;
    let step = (hi - lo) / n_levels as f64;
    chart.draw_series((0..n_levels).map(|l| {
        let c = colour(l as f64 / (n_levels - 1).max(1) as f64);
        let y0 = lo + step * l as f64;
        Rectangle::new([(0.0, y0), (1.0, y0 + step)], c.filled())
    }))?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, lo), (1.0, hi)],
        INK.stroke_width(1),
    )))?;
    Ok(())
}
