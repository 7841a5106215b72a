//! The training run's randomness (dropout masks, flip choices), drawn on the host from a small
//! seeded generator and uploaded as plain tensors.
//!
//! Why not burn's `Dropout` and `Tensor::random`: on the CPU backends they sample every element
//! through a general distribution sampler, which measured ~14% of a batch-64 step; here one
//! 64-bit draw yields four masks. It also makes a run reproducible from (seed, epoch) alone,
//! identical on every backend, and independent of the backend's global RNG.

use burn::tensor::{Tensor, TensorData};
use rand::{Rng, RngCore, SeedableRng, rngs::SmallRng};

use burn::tensor::Device;

/// Random draws for one epoch of a run.
pub struct Noise {
    rng: SmallRng,
}

impl Noise {
    /// The draws of epoch `epoch` (0-based) of the run seeded `seed`: a run resumed at an epoch
    /// boundary sees the same masks as an uninterrupted one.
    pub fn for_epoch(seed: u64, epoch: usize) -> Self {
        let mixed = seed.wrapping_mul(0xD134_2543_DE82_EF95) ^ (epoch as u64).wrapping_add(0x5851_F42D_4C95_7F2D);
        Self {
            rng: SmallRng::seed_from_u64(mixed),
        }
    }

    /// Inverted dropout: `x` with each element zeroed with probability `prob` and the rest scaled
    /// by 1 / (1 - prob), so the expected activation is unchanged and inference needs no scaling.
    pub fn dropout(&mut self, x: Tensor<2>, prob: f64) -> Tensor<2> {
        if prob <= 0.0 {
            return x;
        }
        let [rows, cols] = x.dims();
        let mask = self.mask(rows * cols, prob);
        let device = x.device();
        x * Tensor::from_data(TensorData::new(mask, [rows, cols]), &device)
    }

    /// `rows` choices, each true with probability one half (which images to mirror).
    pub fn coin_flips(&mut self, rows: usize) -> Vec<bool> {
        (0..rows).map(|_| self.rng.random::<bool>()).collect()
    }

    /// `n` mask values: 0 with probability `prob`, else 1 / (1 - prob). 16-bit resolution.
    fn mask(&mut self, n: usize, prob: f64) -> Vec<f32> {
        let threshold = (prob.clamp(0.0, 1.0) * 65_536.0).round() as u32;
        let keep = (1.0 / (1.0 - prob)) as f32;
        let mut out = Vec::with_capacity(n + 3);
        while out.len() < n {
            let bits = self.rng.next_u64();
            for k in 0..4 {
                let draw = ((bits >> (16 * k)) & 0xffff) as u32;
                out.push(if draw >= threshold { keep } else { 0.0 });
            }
        }
        out.truncate(n);
        out
    }
}

/// The device's flip choices as a `[rows, 1, 1]` bool tensor, for `mask_where`.
pub fn flips_tensor(flips: &[bool], device: &Device) -> Tensor<3, burn::tensor::Bool> {
    Tensor::from_data(TensorData::new(flips.to_vec(), [flips.len(), 1, 1]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_the_asked_share_and_keep_the_mean() {
        let mut noise = Noise::for_epoch(7, 0);
        let m = noise.mask(100_000, 0.2);
        let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        let mean = m.iter().map(|&v| v as f64).sum::<f64>() / m.len() as f64;
        assert!((dropped - 0.2).abs() < 0.01, "{dropped}");
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
    }

    #[test]
    fn epochs_and_seeds_draw_differently_and_repeatably() {
        let draw = |seed, epoch| Noise::for_epoch(seed, epoch).mask(64, 0.5);
        assert_eq!(draw(1, 3), draw(1, 3));
        assert_ne!(draw(1, 3), draw(1, 4));
        assert_ne!(draw(1, 3), draw(2, 3));
    }
}
