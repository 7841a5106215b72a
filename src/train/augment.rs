//! A training batch as the model sees it: the images of this epoch's shuffle, each mirrored
//! left-right and shifted by a few pixels where the run's noise says so, scaled to [0, 1]. This is
//! the reference the GPU's `gather` kernel reproduces pixel for pixel.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::noise::{self, Stream};

/// How one image of a batch is moved: mirrored first, then shifted by `(dx, dy)` pixels (what
/// moves off the frame is lost, what comes in is black).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub mirrored: bool,
    pub dx: i32,
    pub dy: i32,
}

/// The draws of one batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchNoise {
    pub flip_key: u32,
    pub shift_key: u32,
    pub flip: bool,
    pub max_shift: u32,
}

impl BatchNoise {
    pub fn new(seed: u64, epoch: usize, batch: usize, flip: bool, max_shift: u32) -> Self {
        Self {
            flip_key: noise::key(seed, epoch, batch, Stream::Flip),
            shift_key: noise::key(seed, epoch, batch, Stream::Shift),
            flip,
            max_shift,
        }
    }

    /// Where image `row` of the batch goes.
    pub fn placement(&self, row: usize) -> Placement {
        let mirrored = self.flip && noise::flipped(self.flip_key, row);
        if self.max_shift == 0 {
            return Placement { mirrored, dx: 0, dy: 0 };
        }
        let span = 2 * self.max_shift + 1;
        let bits = noise::bits(self.shift_key, row as u32);
        Placement {
            mirrored,
            dx: (bits % span) as i32 - self.max_shift as i32,
            dy: ((bits >> 16) % span) as i32 - self.max_shift as i32,
        }
    }
}

/// The batch of `images` (rows of the training set, 784 bytes each) as `[rows, 784]` floats.
pub fn batch(pixels: &[u8], images: &[i64], noise: &BatchNoise) -> Vec<f32> {
    let side = IMAGE_SIDE as i32;
    let mut out = vec![0.0f32; images.len() * IMAGE_PIXELS];
    for (row, &image) in images.iter().enumerate() {
        let src = &pixels[image as usize * IMAGE_PIXELS..(image as usize + 1) * IMAGE_PIXELS];
        let dst = &mut out[row * IMAGE_PIXELS..(row + 1) * IMAGE_PIXELS];
        let Placement { mirrored, dx, dy } = noise.placement(row);
        for y in 0..side {
            let sy = y - dy;
            if !(0..side).contains(&sy) {
                continue;
            }
            for x in 0..side {
                let sx = x - dx;
                if !(0..side).contains(&sx) {
                    continue;
                }
                let sx = if mirrored { side - 1 - sx } else { sx };
                dst[(y * side + x) as usize] = src[(sy * side + sx) as usize] as f32 / 255.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_augmentation_is_the_plain_scaled_image() {
        let pixels: Vec<u8> = (0..2 * IMAGE_PIXELS).map(|i| (i % 251) as u8).collect();
        let out = batch(&pixels, &[1, 0], &BatchNoise::new(1, 0, 0, false, 0));
        assert_eq!(out[..IMAGE_PIXELS], pixels[IMAGE_PIXELS..].iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn shifts_and_flips_move_a_single_pixel_where_they_say() {
        let mut pixels = vec![0u8; IMAGE_PIXELS];
        pixels[5 * IMAGE_SIDE + 3] = 255; // (x 3, y 5)
        let noise = BatchNoise::new(9, 2, 7, true, 2);
        let images = vec![0i64; 64];
        let out = batch(&pixels, &images, &noise);
        let mut seen = std::collections::HashSet::new();
        for row in 0..64 {
            let p = noise.placement(row);
            assert!(p.dx.abs() <= 2 && p.dy.abs() <= 2);
            seen.insert((p.mirrored, p.dx, p.dy));
            let x = if p.mirrored { IMAGE_SIDE as i32 - 1 - 3 } else { 3 } + p.dx;
            let y = 5 + p.dy;
            let img = &out[row * IMAGE_PIXELS..(row + 1) * IMAGE_PIXELS];
            assert_eq!(img[(y * IMAGE_SIDE as i32 + x) as usize], 1.0, "row {row}: {p:?}");
            assert_eq!(img.iter().filter(|&&v| v > 0.0).count(), 1);
        }
        assert!(seen.len() > 20, "placements vary: {}", seen.len());
    }
}
