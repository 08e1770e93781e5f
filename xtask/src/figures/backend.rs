//! The drawing backend of the figures: plotters' in-memory bitmap, with text laid out and
//! rasterised here from the bundled font.
//!
//! plotters' own `ab_glyph` text path places each glyph at a whole-pixel pen position and ignores
//! its left side bearing and vertical offset, which leaves uneven letter spacing and raised
//! punctuation. This backend forwards every shape to [`BitMapBackend`] and draws text itself:
//! fractional pen positions, kerning, glyphs on a common baseline, anti-aliased coverage blended
//! over the canvas. Everything is integer or IEEE `f32` arithmetic, so the pixels do not depend on
//! the machine.

use ab_glyph::{point, Font, FontRef, Glyph, PxScale, ScaleFont};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};
use std::collections::BTreeMap;
use std::sync::OnceLock;

type BitMapBackendError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

/// The bundled font, parsed once.
fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(super::canvas::FONT).expect("the bundled font parses")
    })
}

/// Text laid out on one line: glyphs positioned with the baseline at `ascent` below the top.
struct Line {
    glyphs: Vec<Glyph>,
    width: f32,
    height: f32,
}

/// Lays out `text` at `size` pixels from descender to ascender.
fn layout(text: &str, size: f64) -> Line {
    // The scale plotters itself uses for a font of this size (the height from descender to
    // ascender is `size` pixels), so that the layouts it computes agree with the drawn text.
    let scale = PxScale::from(size as f32);
    let scaled = font().as_scaled(scale);
    let ascent = scaled.ascent();
    let mut pen = 0.0f32;
    let mut previous = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            pen += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(scale, point(pen, ascent)));
        pen += scaled.h_advance(id);
        previous = Some(id);
    }
    Line {
        glyphs,
        width: pen,
        height: ascent - scaled.descent(),
    }
}

/// [`BitMapBackend`] with the text drawing described in the module documentation.
pub struct Canvas<'a> {
    inner: BitMapBackend<'a>,
}

impl<'a> Canvas<'a> {
    /// Draws into `rgb`, a `width x height` row-major RGB buffer.
    pub fn new(rgb: &'a mut [u8], (width, height): (u32, u32)) -> Self {
        Self {
            inner: BitMapBackend::with_buffer(rgb, (width, height)),
        }
    }
}

type DrawResult = Result<(), DrawingErrorKind<BitMapBackendError>>;

impl DrawingBackend for Canvas<'_> {
    type ErrorType = BitMapBackendError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> DrawResult {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> DrawResult {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> DrawResult {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> DrawResult {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> DrawResult {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> DrawResult {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let line = layout(text, style.size());
        Ok((line.width.ceil() as u32, line.height.ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> DrawResult {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let line = layout(text, style.size());
        let (width, height) = (line.width.ceil() as i32, line.height.ceil() as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -width / 2,
            HPos::Right => -width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        // Coverage summed per pixel, so that the anti-aliased edges of neighbouring glyphs that
        // share a pixel are blended once.
        let mut coverage: BTreeMap<(i32, i32), f32> = BTreeMap::new();
        for glyph in line.glyphs {
            if let Some(outline) = font().outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|x, y, c| {
                    *coverage
                        .entry((y0 + y as i32, x0 + x as i32))
                        .or_insert(0.0) += c;
                });
            }
        }
        for ((y, x), c) in coverage {
            if c <= 0.0 {
                continue;
            }
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && x < w as i32 && y < h as i32 {
                let alpha = color.alpha * f64::from(c.min(1.0));
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha,
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}
