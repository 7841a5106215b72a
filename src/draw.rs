//! A drawing (or any picture) -> the 28x28 input the model expects, framed the way Fashion-MNIST
//! frames its products (its README: trim, longest edge to 28, centre, negate): a light object on
//! black, cropped to the object, its longest side scaled to 28 pixels with the aspect ratio kept,
//! centred, and smoothed.
//!
//! Written once here so the page, the CLI and the tests all see the same image.

use crate::data::IMAGE_SIDE;
use crate::error::DrawError;

/// How the source pixels are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One byte per pixel.
    Gray,
    /// Four bytes per pixel, as a canvas's `getImageData` gives them.
    Rgba,
}

impl Layout {
    fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::Rgba => 4,
        }
    }
}

/// A source bitmap, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Bitmap<'a> {
    pub width: usize,
    pub height: usize,
    pub layout: Layout,
    pub data: &'a [u8],
}

/// The model's input and where the object was found in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// 784 values in [0, 1], row-major, light object on black like the dataset.
    pub pixels: Vec<f32>,
    /// The object's bounding box in the source: x, y, width, height.
    pub source_box: (usize, usize, usize, usize),
    /// Whether the source was dark on light and had to be inverted.
    pub inverted: bool,
}

/// Ink below this share of the strongest ink is background (paper texture, JPEG noise).
const INK_THRESHOLD: f32 = 0.1;
/// A picture whose strongest ink differs from the background by less than this is blank.
const BLANK_CONTRAST: f32 = 0.08;
/// Sources larger than this are refused before anything is widened to floats (the page scales
/// pictures to 1024 a side first, the CLI too; a drawing on the pad is 280 x 280).
pub const MAX_PIXELS: usize = 4096 * 4096;

/// Prepares a drawing from the pad, drawn with a brush `brush` pixels wide: as `prepare`, and an
/// outline that closes on itself is filled, because the dataset's garments are solid shapes and
/// people draw them as outlines (a pair of trousers drawn as a closed line otherwise reads as a
/// dress). The line's centre is where the hand meant the edge, so the line's outer half goes.
pub fn prepare_drawing(bitmap: &Bitmap, brush: f32) -> Result<Prepared, DrawError> {
    prepare_with(bitmap, Some(brush))
}

/// Prepares a bitmap (an uploaded picture) for the model. A blank picture is
/// `DrawError::Blank`, never a garment.
pub fn prepare(bitmap: &Bitmap) -> Result<Prepared, DrawError> {
    prepare_with(bitmap, None)
}

/// The ink level given to the inside of a closed outline, relative to the strongest stroke.
const FILL_LEVEL: f32 = 1.0;
/// Enclosed regions smaller than this share of the largest one are holes (a handle), not filled.
const HOLE_SHARE: f32 = 0.25;

/// `prepare` (`fill: None`) or `prepare_drawing` (`fill: Some(brush)`); both exist to compare.
pub fn prepare_with(bitmap: &Bitmap, fill: Option<f32>) -> Result<Prepared, DrawError> {
    let (w, h) = (bitmap.width, bitmap.height);
    let Reading {
        mut ink,
        inverted,
        strongest,
        ..
    } = read(bitmap)?;
    if let Some(brush) = fill {
        fill_outlines(&mut ink, w, h, strongest, brush);
    }
    let (x0, y0, bw, bh) = bounding_box(&ink, w, h, strongest * INK_THRESHOLD).ok_or(DrawError::Blank)?;
    let crop: Vec<f32> = (y0..y0 + bh)
        .flat_map(|y| ink[y * w + x0..y * w + x0 + bw].iter().map(move |&v| v / strongest))
        .collect();

    // Longest side to 28, aspect kept (as Fashion-MNIST resized its product photos).
    let side = IMAGE_SIDE as f32;
    let scale = side / bw.max(bh) as f32;
    let tw = ((bw as f32 * scale).round() as usize).clamp(1, IMAGE_SIDE);
    let th = ((bh as f32 * scale).round() as usize).clamp(1, IMAGE_SIDE);
    let patch = resample(&crop, bw, bh, tw, th);

    // Centred in the frame by its box, as Fashion-MNIST extended its products' shorter side.
    let (ox, oy) = ((IMAGE_SIDE - tw) / 2, (IMAGE_SIDE - th) / 2);
    let mut frame = vec![0.0f32; IMAGE_SIDE * IMAGE_SIDE];
    for y in 0..th {
        let row = &patch[y * tw..(y + 1) * tw];
        frame[(oy + y) * IMAGE_SIDE + ox..(oy + y) * IMAGE_SIDE + ox + tw].copy_from_slice(row);
    }
    let mut pixels = smooth(&frame);
    // The dataset's products reach full white; keep the strongest pixel at 1 after smoothing.
    let peak = pixels.iter().copied().fold(0.0f32, f32::max);
    if peak > 0.0 {
        pixels.iter_mut().for_each(|p| *p = (*p / peak).clamp(0.0, 1.0));
    }
    Ok(Prepared {
        pixels,
        source_box: (x0, y0, bw, bh),
        inverted,
    })
}

/// Like `prepare`, except that a picture already 28x28 is taken as it is, with only its polarity
/// fixed: it is most likely a dataset image, and reframing would change what the model sees.
pub fn prepare_picture(bitmap: &Bitmap) -> Result<Prepared, DrawError> {
    if bitmap.width != IMAGE_SIDE || bitmap.height != IMAGE_SIDE {
        return prepare(bitmap);
    }
    let Reading { grey, inverted, .. } = read(bitmap)?;
    // The dataset's own scale: ink measured from black (or white when inverted), not stretched.
    let pixels = grey.iter().map(|&g| if inverted { 1.0 - g } else { g }).collect();
    Ok(Prepared {
        pixels,
        source_box: (0, 0, IMAGE_SIDE, IMAGE_SIDE),
        inverted,
    })
}

/// Fills every region the ink encloses and trims the enclosing line to its inner half: a line
/// drawn along an edge with a brush `brush` wide covers the edge ± brush/2. Ink farther from a
/// filled region than a brush width (strokes drawn as parts, not as outlines) stays as it is.
fn fill_outlines(ink: &mut [f32], w: usize, h: usize, strongest: f32, brush: f32) {
    let threshold = strongest * INK_THRESHOLD;
    let Some((bx, by, bw, bh)) = bounding_box(ink, w, h, threshold) else {
        return;
    };
    // Only the ink's box matters, with one blank pixel around it where there is room: a region
    // touching that ring touches the picture's border too (there is no ink outside the box), and
    // a shortest chamfer path between two pixels of the box stays inside it, so working on the
    // box alone gives every value the whole picture would (and a pad drawing is mostly paper).
    let (x0, y0) = (bx.saturating_sub(1), by.saturating_sub(1));
    let (x1, y1) = ((bx + bw + 1).min(w), (by + bh + 1).min(h));
    let (cw, ch) = (x1 - x0, y1 - y0);
    let at = |i: usize| (y0 + i / cw) * w + x0 + i % cw;
    let drawn: Vec<bool> = (0..cw * ch).map(|i| ink[at(i)] > threshold).collect();
    let inside: Vec<bool> = fill_enclosed(&drawn, cw, ch)
        .into_iter()
        .zip(&drawn)
        .map(|(enclosed, &d)| enclosed && !d)
        .collect();
    let inside = without_small_holes(&inside, cw, ch);
    if !inside.iter().any(|&i| i) {
        return;
    }
    let from_inside = distance_to(&inside, cw, ch);
    let half = brush / 2.0;
    for i in 0..cw * ch {
        if inside[i] {
            ink[at(i)] = strongest * FILL_LEVEL;
        } else if drawn[i] && from_inside[i] > half && from_inside[i] <= brush + 1.0 {
            ink[at(i)] = 0.0;
        }
    }
}

/// `inside` keeping only its connected regions of at least `HOLE_SHARE` of the largest one: a
/// bag's handle or the gap inside a strap encloses a small region that is a hole in the garment,
/// not part of it (Fashion-MNIST's bags show their handles open).
fn without_small_holes(inside: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut region = vec![usize::MAX; inside.len()];
    let mut areas = Vec::new();
    for start in 0..inside.len() {
        if !inside[start] || region[start] != usize::MAX {
            continue;
        }
        let id = areas.len();
        let mut area = 0usize;
        let mut stack = vec![start];
        region[start] = id;
        while let Some(i) = stack.pop() {
            area += 1;
            for n in neighbours(i, w, h) {
                if inside[n] && region[n] == usize::MAX {
                    region[n] = id;
                    stack.push(n);
                }
            }
        }
        areas.push(area);
    }
    let largest = areas.iter().copied().max().unwrap_or(0) as f32;
    region
        .iter()
        .map(|&r| r != usize::MAX && areas[r] as f32 >= HOLE_SHARE * largest)
        .collect()
}

/// The 4-connected neighbours of pixel `i` in a `w × h` grid.
fn neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    [
        (x > 0).then(|| i - 1),
        (x + 1 < w).then(|| i + 1),
        (y > 0).then(|| i - w),
        (y + 1 < h).then(|| i + w),
    ]
    .into_iter()
    .flatten()
}

/// `mask` with every region of `false` that does not touch the border set to `true`.
pub fn fill_enclosed(mask: &[bool], width: usize, height: usize) -> Vec<bool> {
    let mut outside = vec![false; mask.len()];
    let mut stack: Vec<usize> = (0..width)
        .flat_map(|x| [x, (height - 1) * width + x])
        .chain((0..height).flat_map(|y| [y * width, y * width + width - 1]))
        .filter(|&i| !mask[i])
        .collect();
    while let Some(i) = stack.pop() {
        if outside[i] || mask[i] {
            continue;
        }
        outside[i] = true;
        stack.extend(neighbours(i, width, height));
    }
    outside.iter().map(|&o| !o).collect()
}

/// Distance (in pixels, chamfer 3-4 approximation of Euclidean) from every pixel to the nearest
/// pixel where `edge` is true.
///
/// Computed on a grid one pixel wider on every side whose border is `FAR`: its neighbours then
/// need no bounds checks, and change nothing (`FAR` plus a step rounds back to `FAR` in f32, and
/// every distance is at most `FAR`), so the result is the plain two-pass chamfer's to the bit.
pub fn distance_to(edge: &[bool], width: usize, height: usize) -> Vec<f32> {
    const FAR: f32 = 1e9;
    let (straight, diagonal) = (1.0f32, std::f32::consts::SQRT_2);
    let pw = width + 2;
    let mut d = vec![FAR; pw * (height + 2)];
    for (y, row) in edge.chunks_exact(width).enumerate() {
        for (x, &e) in row.iter().enumerate() {
            if e {
                d[(y + 1) * pw + x + 1] = 0.0;
            }
        }
    }
    // Each pass takes a row's minimum over the row before it first (independent pixels, which
    // vectorises), then runs along the row; min is exact in any order, so the values are the
    // one-pass chamfer's.
    for y in 1..=height {
        let (before, row) = d.split_at_mut(y * pw);
        let prev = &before[(y - 1) * pw..];
        for x in 1..=width {
            row[x] = row[x]
                .min(prev[x] + straight)
                .min(prev[x - 1] + diagonal)
                .min(prev[x + 1] + diagonal);
        }
        for x in 1..=width {
            row[x] = row[x].min(row[x - 1] + straight);
        }
    }
    for y in (1..=height).rev() {
        let (before, after) = d.split_at_mut((y + 1) * pw);
        let row = &mut before[y * pw..];
        let next = &after[..pw];
        for x in 1..=width {
            row[x] = row[x]
                .min(next[x] + straight)
                .min(next[x + 1] + diagonal)
                .min(next[x - 1] + diagonal);
        }
        for x in (1..=width).rev() {
            row[x] = row[x].min(row[x + 1] + straight);
        }
    }
    (1..=height)
        .flat_map(|y| d[y * pw + 1..y * pw + 1 + width].to_vec())
        .collect()
}

/// A checked bitmap's grey levels and ink, with its polarity; blank pictures stop here.
struct Reading {
    grey: Vec<f32>,
    ink: Vec<f32>,
    inverted: bool,
    strongest: f32,
}

fn read(bitmap: &Bitmap) -> Result<Reading, DrawError> {
    let (w, h) = (bitmap.width, bitmap.height);
    if w == 0 || h == 0 || w.checked_mul(h).is_none_or(|n| n > MAX_PIXELS) {
        return Err(DrawError::Size { width: w, height: h });
    }
    let expected = w * h * bitmap.layout.channels();
    if bitmap.data.len() != expected {
        return Err(DrawError::Length {
            expected,
            found: bitmap.data.len(),
        });
    }
    let grey = luminance(bitmap);
    let (ink, inverted) = ink_on_black(&grey, w, h);
    let strongest = ink.iter().copied().fold(0.0f32, f32::max);
    if strongest < BLANK_CONTRAST {
        return Err(DrawError::Blank);
    }
    Ok(Reading {
        grey,
        ink,
        inverted,
        strongest,
    })
}

/// Grey level in [0, 1]. Transparent pixels count as white paper (a canvas starts transparent).
fn luminance(bitmap: &Bitmap) -> Vec<f32> {
    match bitmap.layout {
        Layout::Gray => bitmap.data.iter().map(|&v| v as f32 / 255.0).collect(),
        Layout::Rgba => bitmap
            .data
            .chunks_exact(4)
            .map(|px| {
                // Grey pixels stay exact, so a grey picture reads the same as RGBA or as grey.
                let y = if px[0] == px[1] && px[1] == px[2] {
                    px[0] as f32 / 255.0
                } else {
                    (0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32) / 255.0
                };
                let a = px[3] as f32 / 255.0;
                y * a + (1.0 - a)
            })
            .collect(),
    }
}

/// Ink in [0, 1] measured from the background, whose level is the median of the border pixels:
/// dark-on-light pictures are inverted so the object is light on black as in the dataset.
fn ink_on_black(grey: &[f32], w: usize, h: usize) -> (Vec<f32>, bool) {
    let mut border: Vec<f32> = Vec::with_capacity(2 * (w + h));
    for x in 0..w {
        border.push(grey[x]);
        border.push(grey[(h - 1) * w + x]);
    }
    for y in 0..h {
        border.push(grey[y * w]);
        border.push(grey[y * w + w - 1]);
    }
    border.sort_by(f32::total_cmp);
    let background = border[border.len() / 2];
    let inverted = background > 0.5;
    let ink = grey
        .iter()
        .map(|&g| {
            if inverted {
                (background - g).max(0.0)
            } else {
                (g - background).max(0.0)
            }
        })
        .collect();
    (ink, inverted)
}

fn bounding_box(ink: &[f32], w: usize, h: usize, threshold: f32) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if ink[y * w + x] > threshold {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    (x0 != usize::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Area-weighted resampling (each target pixel averages the source area it covers), separable.
fn resample(src: &[f32], w: usize, h: usize, tw: usize, th: usize) -> Vec<f32> {
    let rows: Vec<f32> = (0..h)
        .flat_map(|y| resample_line(&src[y * w..(y + 1) * w], tw))
        .collect();
    let mut out = vec![0.0f32; tw * th];
    let mut column = vec![0.0f32; h];
    for x in 0..tw {
        for (y, c) in column.iter_mut().enumerate() {
            *c = rows[y * tw + x];
        }
        for (y, v) in resample_line(&column, th).into_iter().enumerate() {
            out[y * tw + x] = v;
        }
    }
    out
}

fn resample_line(src: &[f32], n: usize) -> Vec<f32> {
    let ratio = src.len() as f64 / n as f64;
    (0..n)
        .map(|i| {
            let (start, end) = (i as f64 * ratio, (i + 1) as f64 * ratio);
            let mut sum = 0.0f64;
            let mut j = start.floor() as usize;
            while (j as f64) < end && j < src.len() {
                let overlap = (end.min(j as f64 + 1.0) - start.max(j as f64)).max(0.0);
                sum += overlap * src[j] as f64;
                j += 1;
            }
            (sum / (end - start)) as f32
        })
        .collect()
}

/// A light 3x3 blur (centre-weighted) so hard pen edges look like the dataset's soft ones.
fn smooth(frame: &[f32]) -> Vec<f32> {
    const K: [[f32; 3]; 3] = [[1.0, 2.0, 1.0], [2.0, 28.0, 2.0], [1.0, 2.0, 1.0]];
    let n = IMAGE_SIDE as isize;
    let mut out = vec![0.0f32; frame.len()];
    for y in 0..n {
        for x in 0..n {
            let (mut sum, mut weight) = (0.0f32, 0.0f32);
            for (dy, row) in K.iter().enumerate() {
                for (dx, &k) in row.iter().enumerate() {
                    let (sx, sy) = (x + dx as isize - 1, y + dy as isize - 1);
                    if (0..n).contains(&sx) && (0..n).contains(&sy) {
                        sum += k * frame[(sy * n + sx) as usize];
                        weight += k;
                    }
                }
            }
            out[(y * n + x) as usize] = sum / weight;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-pass chamfer written plainly, with bounds checks: what `distance_to` computes.
    fn plain_chamfer(mask: &[bool], w: usize, h: usize) -> Vec<f32> {
        let mut d: Vec<f32> = mask.iter().map(|&e| if e { 0.0 } else { 1e9 }).collect();
        let s2 = std::f32::consts::SQRT_2;
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let mut b = d[i];
                if x > 0 {
                    b = b.min(d[i - 1] + 1.0);
                }
                if y > 0 {
                    b = b.min(d[i - w] + 1.0);
                    if x > 0 {
                        b = b.min(d[i - w - 1] + s2);
                    }
                    if x + 1 < w {
                        b = b.min(d[i - w + 1] + s2);
                    }
                }
                d[i] = b;
            }
        }
        for y in (0..h).rev() {
            for x in (0..w).rev() {
                let i = y * w + x;
                let mut b = d[i];
                if x + 1 < w {
                    b = b.min(d[i + 1] + 1.0);
                }
                if y + 1 < h {
                    b = b.min(d[i + w] + 1.0);
                    if x + 1 < w {
                        b = b.min(d[i + w + 1] + s2);
                    }
                    if x > 0 {
                        b = b.min(d[i + w - 1] + s2);
                    }
                }
                d[i] = b;
            }
        }
        d
    }

    #[test]
    fn distances_are_the_plain_chamfers_to_the_bit() {
        let (w, h) = (37, 23);
        for seed in 0..20u32 {
            let mask: Vec<bool> = (0..w * h)
                .map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed * 977) % 97 < 3)
                .collect();
            assert_eq!(distance_to(&mask, w, h), plain_chamfer(&mask, w, h));
        }
    }

    #[test]
    fn enclosed_holes_are_filled_but_open_bays_are_not() {
        let mut mask = vec![false; 25];
        for i in [6, 7, 8, 11, 13, 16, 17, 18] {
            mask[i] = true; // a 3x3 ring around pixel 12
        }
        assert!(fill_enclosed(&mask, 5, 5)[12]);
        mask[17] = false; // open the ring at the bottom
        assert!(!fill_enclosed(&mask, 5, 5)[12]);
    }

    #[test]
    fn small_enclosed_regions_stay_holes() {
        // A 10x6 body and a 2x2 handle hole above it, both enclosed.
        let (w, h) = (12, 12);
        let mut inside = vec![false; w * h];
        for y in 5..11 {
            for x in 1..11 {
                inside[y * w + x] = true;
            }
        }
        for y in 1..3 {
            for x in 5..7 {
                inside[y * w + x] = true;
            }
        }
        let kept = without_small_holes(&inside, w, h);
        assert!(kept[6 * w + 3], "the body is filled");
        assert!(!kept[w + 5], "the handle's hole stays open");
        assert_eq!(kept.iter().filter(|&&k| k).count(), 60);
    }

    #[test]
    fn resample_line_keeps_the_mean() {
        let src = [0.0, 1.0, 1.0, 0.0, 0.5, 0.5, 1.0];
        let out = resample_line(&src, 3);
        let mean_in: f32 = src.iter().sum::<f32>() / src.len() as f32;
        let mean_out: f32 = out.iter().sum::<f32>() / out.len() as f32;
        assert!((mean_in - mean_out).abs() < 1e-5, "{mean_in} vs {mean_out}");
    }

    #[test]
    fn upsampling_a_constant_gives_the_constant() {
        let out = resample_line(&[0.25; 5], 28);
        assert!(out.iter().all(|&v| (v - 0.25).abs() < 1e-6));
    }
}
