//! A training batch as the model sees it: the images of this epoch's shuffle, each mirrored
//! left-right and shifted by a few pixels where the run's noise says so, scaled to [0, 1], with
//! the input dropout's pixels zeroed. This is the reference the GPU's `gather` kernel reproduces
//! pixel for pixel.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::noise::{self, Stream};
use crate::train::TrainConfig;

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
    pub input_drop_key: u32,
    /// `noise::drop_threshold` of the input dropout (0: none).
    pub input_drop_threshold: u32,
    pub input_keep: f32,
}

impl BatchNoise {
    /// The draws of batch `batch` of epoch `epoch` of the run `config`.
    pub fn new(config: &TrainConfig, epoch: usize, batch: usize) -> Self {
        let key = |stream| noise::key(config.seed, epoch, batch, stream);
        Self {
            flip_key: key(Stream::Flip),
            shift_key: key(Stream::Shift),
            flip: config.augment_flip,
            max_shift: config.augment_shift,
            input_drop_key: key(Stream::InputDropout),
            input_drop_threshold: noise::drop_threshold(config.input_dropout),
            input_keep: noise::keep_scale(config.input_dropout),
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
    let mut out = vec![0.0f32; images.len() * IMAGE_PIXELS];
    place(pixels, images, 0, noise, &mut out);
    if noise.input_drop_threshold > 0 {
        for (i, v) in out.iter_mut().enumerate() {
            let dropped = noise::dropped(noise.input_drop_key, i as u32, noise.input_drop_threshold);
            *v = if dropped { 0.0 } else { *v * noise.input_keep };
        }
    }
    out
}

/// The batch's images scaled to [0, 1], each mirrored and shifted as its placement says, into
/// `out` (`[rows, 784]`): everything `batch` does but the input dropout, which the CPU step
/// applies with its vector kernels. `images` may be a part of the batch that starts at row
/// `first_row` (a worker's shard): each image is placed as it would be in the whole batch.
pub fn place(pixels: &[u8], images: &[i64], first_row: usize, noise: &BatchNoise, out: &mut [f32]) {
    let side = IMAGE_SIDE as i32;
    for (at, &image) in images.iter().enumerate() {
        let row = first_row + at;
        let src = &pixels[image as usize * IMAGE_PIXELS..(image as usize + 1) * IMAGE_PIXELS];
        let dst = &mut out[at * IMAGE_PIXELS..(at + 1) * IMAGE_PIXELS];
        let placement = noise.placement(row);
        if placement == Placement::default() {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s as f32 / 255.0;
            }
            continue;
        }
        let Placement { mirrored, dx, dy } = placement;
        dst.fill(0.0);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of seed `seed` that moves nothing.
    fn plain(seed: u64) -> TrainConfig {
        TrainConfig {
            seed,
            ..TrainConfig::reference()
        }
    }

    #[test]
    fn no_augmentation_is_the_plain_scaled_image() {
        let pixels: Vec<u8> = (0..2 * IMAGE_PIXELS).map(|i| (i % 251) as u8).collect();
        let out = batch(&pixels, &[1, 0], &BatchNoise::new(&plain(1), 0, 0));
        assert_eq!(
            out[..IMAGE_PIXELS],
            pixels[IMAGE_PIXELS..]
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn shifts_and_flips_move_a_single_pixel_where_they_say() {
        let mut pixels = vec![0u8; IMAGE_PIXELS];
        pixels[5 * IMAGE_SIDE + 3] = 255; // (x 3, y 5)
        let config = TrainConfig {
            augment_flip: true,
            augment_shift: 2,
            ..plain(9)
        };
        let noise = BatchNoise::new(&config, 2, 7);
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

    #[test]
    fn input_dropout_zeroes_its_share_and_keeps_the_mean() {
        let pixels = vec![255u8; IMAGE_PIXELS];
        let images = vec![0i64; 100];
        let config = TrainConfig {
            input_dropout: 0.1,
            ..plain(3)
        };
        let out = batch(&pixels, &images, &BatchNoise::new(&config, 1, 4));
        let dropped = out.iter().filter(|&&v| v == 0.0).count() as f64 / out.len() as f64;
        let mean = out.iter().map(|&v| v as f64).sum::<f64>() / out.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "{dropped}");
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
        assert!(out.iter().all(|&v| v == 0.0 || v == noise::keep_scale(0.1)));
        // Another batch drops other pixels.
        assert_ne!(out, batch(&pixels, &images, &BatchNoise::new(&config, 1, 5)));
    }
}
