//! Test images rendered the way people draw them on the page's pad, to measure the model along
//! the path a drawing takes (`draw::prepare`) rather than on the dataset's own photographs.
//!
//! A Fashion-MNIST image is a photograph of a product; a drawing is a shape made of strokes.
//! Two renderings bracket what people draw: the garment's filled silhouette, and its outline
//! only (a closed line at the pad's stroke width with an empty interior), each drawn on a pad-
//! sized canvas in the pad's ink and then prepared exactly as a drawing is.

use crate::data::{Dataset, IMAGE_PIXELS, IMAGE_SIDE};
use crate::noise::{self, Stream};

/// The pad's canvas side in pixels (www/index.html) and its default brush (www/index.html).
pub const PAD_SIDE: usize = 280;
pub const PAD_BRUSH: f32 = 22.0;
/// The pad's ink level (pad.js INK, #f4f4f4) on black paper.
const INK: u8 = 0xf4;
/// A dataset pixel at or above this is part of the garment.
const GARMENT: u8 = 12;

/// How a test image becomes a drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// The garment's shape, filled with ink.
    Silhouette,
    /// The garment's outline at the pad's stroke width, nothing inside.
    Outline,
}

impl std::str::FromStr for Rendering {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "silhouette" => Ok(Rendering::Silhouette),
            "outline" => Ok(Rendering::Outline),
            other => Err(format!("unknown rendering '{other}' (expected silhouette or outline)")),
        }
    }
}

/// The garment's mask on the 28×28 grid, with enclosed holes filled (a silhouette has none).
fn garment_mask(image: &[u8]) -> Vec<bool> {
    let mask: Vec<bool> = image.iter().map(|&p| p >= GARMENT).collect();
    crate::draw::fill_enclosed(&mask, IMAGE_SIDE, IMAGE_SIDE)
}

/// The mask at pad resolution: bilinear upsampling of the 28×28 mask, cut at one half, which
/// gives the smooth edge a hand would draw rather than 10-pixel steps.
fn upsample(mask: &[bool]) -> Vec<bool> {
    let scale = IMAGE_SIDE as f32 / PAD_SIDE as f32;
    let at = |x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= IMAGE_SIDE as isize || y >= IMAGE_SIDE as isize {
            0.0
        } else if mask[y as usize * IMAGE_SIDE + x as usize] {
            1.0
        } else {
            0.0
        }
    };
    let mut out = vec![false; PAD_SIDE * PAD_SIDE];
    for py in 0..PAD_SIDE {
        let fy = (py as f32 + 0.5) * scale - 0.5;
        let (y0, ty) = (fy.floor() as isize, fy - fy.floor());
        for px in 0..PAD_SIDE {
            let fx = (px as f32 + 0.5) * scale - 0.5;
            let (x0, tx) = (fx.floor() as isize, fx - fx.floor());
            let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
            let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
            out[py * PAD_SIDE + px] = top * (1.0 - ty) + bottom * ty >= 0.5;
        }
    }
    out
}

/// A 28×28 dataset image drawn on a pad-sized canvas as RGBA, the way `draw::prepare` receives
/// the pad's pixels. `None` when the image has no garment pixels to draw.
pub fn render(image: &[u8], rendering: Rendering) -> Option<Vec<u8>> {
    if image.len() != IMAGE_PIXELS {
        return None;
    }
    let shape = upsample(&garment_mask(image));
    if !shape.iter().any(|&s| s) {
        return None;
    }
    let inked: Vec<bool> = match rendering {
        Rendering::Silhouette => shape,
        Rendering::Outline => {
            // The shape's edge: shape pixels next to a non-shape pixel (or the canvas border).
            let edge: Vec<bool> = (0..shape.len())
                .map(|i| {
                    let (x, y) = (i % PAD_SIDE, i / PAD_SIDE);
                    shape[i]
                        && (x == 0
                            || y == 0
                            || x + 1 == PAD_SIDE
                            || y + 1 == PAD_SIDE
                            || !shape[i - 1]
                            || !shape[i + 1]
                            || !shape[i - PAD_SIDE]
                            || !shape[i + PAD_SIDE])
                })
                .collect();
            // A stroke along it, centred on the edge, as wide as the pad's brush.
            crate::draw::distance_to(&edge, PAD_SIDE, PAD_SIDE)
                .into_iter()
                .map(|d| d <= PAD_BRUSH / 2.0)
                .collect()
        }
    };
    let mut rgba = vec![0u8; PAD_SIDE * PAD_SIDE * 4];
    for (i, &ink) in inked.iter().enumerate() {
        let v = if ink { INK } else { 0 };
        rgba[i * 4..i * 4 + 4].copy_from_slice(&[v, v, v, 255]);
    }
    Some(rgba)
}

/// A test image as the model sees it after being drawn on the pad: rendered, then prepared as
/// the page prepares a drawing (`fill`: closed outlines filled, as the page does). `None` when
/// there is nothing to draw.
pub fn as_drawing(image: &[u8], rendering: Rendering, fill: bool) -> Option<Vec<f32>> {
    let rgba = render(image, rendering)?;
    let bitmap = crate::draw::Bitmap {
        width: PAD_SIDE,
        height: PAD_SIDE,
        layout: crate::draw::Layout::Rgba,
        data: &rgba,
    };
    crate::draw::prepare_with(&bitmap, fill.then_some(PAD_BRUSH))
        .ok()
        .map(|p| p.pixels)
}

/// `as_drawing` as dataset pixels (0-255), the form a drawing takes in a training set.
pub fn as_drawing_bytes(image: &[u8], rendering: Rendering, fill: bool) -> Option<Vec<u8>> {
    let drawn = as_drawing(image, rendering, fill)?;
    Some(
        drawn
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect(),
    )
}

/// `train` with the fraction `fraction` of its images (chosen by `seed`) replaced by their
/// drawings, half outlines and half silhouettes, as `as_drawing` gives them to the model.
/// Images with nothing to draw stay as they are.
pub fn mix_into(train: Dataset, fraction: f64, seed: u64) -> Dataset {
    if fraction <= 0.0 {
        return train;
    }
    let key = noise::key(seed, 0, 0, Stream::Drawing);
    let threshold = noise::drop_threshold(fraction);
    let mut pixels = train.pixels().to_vec();
    for (i, image) in pixels.chunks_mut(IMAGE_PIXELS).enumerate() {
        let bits = noise::bits(key, i as u32);
        if bits >= threshold && fraction < 1.0 {
            continue;
        }
        let rendering = if bits & 1 == 0 {
            Rendering::Outline
        } else {
            Rendering::Silhouette
        };
        if let Some(drawn) = as_drawing_bytes(image, rendering, true) {
            image.copy_from_slice(&drawn);
        }
    }
    Dataset::new(pixels, train.labels().to_vec()).unwrap_or(train)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 28×28 image of a hollow square ring of garment pixels (rows/cols 6..22).
    fn ring() -> Vec<u8> {
        let mut img = vec![0u8; IMAGE_PIXELS];
        for y in 6..22 {
            for x in 6..22 {
                let border = y == 6 || y == 21 || x == 6 || x == 21;
                img[y * IMAGE_SIDE + x] = if border { 200 } else { 0 };
            }
        }
        img
    }

    fn ink(rgba: &[u8]) -> usize {
        rgba.chunks(4).filter(|p| p[0] > 0).count()
    }

    #[test]
    fn a_silhouette_is_filled_and_an_outline_is_a_stroke_around_it() {
        let silhouette = render(&ring(), Rendering::Silhouette).unwrap();
        let outline = render(&ring(), Rendering::Outline).unwrap();
        let centre = (PAD_SIDE / 2 * PAD_SIDE + PAD_SIDE / 2) * 4;
        assert_eq!(
            silhouette[centre], INK,
            "the ring's hole is part of the garment's shape"
        );
        assert_eq!(outline[centre], 0, "an outline leaves the inside empty");
        // The square is 160 pad pixels a side: its outline is about 4 × 160 × 22 pixels of ink.
        let stroke = ink(&outline) as f32;
        assert!(
            (0.7 * 4.0 * 160.0 * PAD_BRUSH..1.3 * 4.0 * 160.0 * PAD_BRUSH).contains(&stroke),
            "{stroke}"
        );
        assert!(ink(&silhouette) > ink(&outline));
        assert!(render(&vec![0; IMAGE_PIXELS], Rendering::Outline).is_none());
    }

    #[test]
    fn a_fraction_of_the_training_set_becomes_drawings_chosen_by_the_seed() {
        let images = 400;
        let pixels: Vec<u8> = (0..images).flat_map(|_| ring()).collect();
        let labels: Vec<u8> = (0..images).map(|i| (i % 10) as u8).collect();
        let train = Dataset::new(pixels, labels).unwrap();
        let changed = |d: &Dataset| -> Vec<usize> { (0..images).filter(|&i| d.image(i) != train.image(i)).collect() };
        assert_eq!(mix_into(train.clone(), 0.0, 1).pixels(), train.pixels());
        let all = mix_into(train.clone(), 1.0, 1);
        assert_eq!(changed(&all).len(), images);
        assert_eq!(all.labels(), train.labels(), "a drawing keeps its image's label");
        let tenth = changed(&mix_into(train.clone(), 0.1, 1));
        assert!((25..=55).contains(&tenth.len()), "{} of {images}", tenth.len());
        assert_eq!(
            changed(&mix_into(train.clone(), 0.1, 1)),
            tenth,
            "the same seed draws the same images"
        );
        assert_ne!(
            changed(&mix_into(train.clone(), 0.1, 2)),
            tenth,
            "another seed draws others"
        );
        // A drawing is what the pad gives the model: the ring's hole filled, as a silhouette's.
        let drawn = all.image(0).unwrap();
        assert_eq!(drawn.len(), IMAGE_PIXELS);
        assert!(
            drawn[14 * IMAGE_SIDE + 14] > 128,
            "the inside of a closed outline is filled"
        );
    }
}
