//! The training run's randomness (dropout masks, flip choices) as a counter-based hash of
//! (seed, epoch, batch, stream, position): no generator state to carry, so every backend draws
//! the same masks (the GPU kernels evaluate the same two functions), and a run resumed at any
//! batch draws exactly what an uninterrupted one would.
//!
//! The host mixes the 64-bit coordinates into one 32-bit key per (batch, stream); the value at a
//! position is then `bits(key, position)`, which needs only 32-bit integer operations (WGSL has
//! no 64-bit integers).

/// Which draw of a batch a key is for: dropout after hidden layer `l` is `Stream::Dropout(l)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Dropout(usize),
    Flip,
    Shift,
    /// Which training images are replaced by their drawings (`drawings::mix_into`).
    Drawing,
    /// Which input pixels are dropped (`TrainConfig::input_dropout`).
    InputDropout,
    /// Layer `l`'s initial weight and bias (`train::init`).
    Init(usize),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Dropout(l) => l as u64,
            Stream::Flip => 0x100,
            Stream::Shift => 0x101,
            Stream::Drawing => 0x102,
            Stream::InputDropout => 0x103,
            Stream::Init(l) => 0x200 + l as u64,
        }
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mix.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A bijective 32-bit mix with low bias ("lowbias32", C. Wellons); the GPU kernels use the
/// same constants.
pub const fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The 32-bit key of one draw: batch `batch` (0-based, within epoch `epoch`) of the run seeded
/// `seed`.
pub fn key(seed: u64, epoch: usize, batch: usize, stream: Stream) -> u32 {
    let mut h = mix64(seed ^ 0x6A09_E667_F3BC_C908);
    h = mix64(h ^ epoch as u64);
    h = mix64(h ^ batch as u64);
    h = mix64(h ^ stream.id());
    (h ^ (h >> 32)) as u32
}

/// 32 random bits at `position` of the draw `key`.
pub const fn bits(key: u32, position: u32) -> u32 {
    mix32(key ^ mix32(position))
}

/// Dropout with probability `prob`: a position is dropped when `bits < threshold`.
pub fn drop_threshold(prob: f64) -> u32 {
    (prob.clamp(0.0, 1.0) * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// Whether dropout with `threshold` (`drop_threshold`) drops `position` of the draw `key`: the
/// one rule every dropout (hidden layers, input pixels) follows, on the CPU as in the kernels.
pub fn dropped(key: u32, position: u32, threshold: u32) -> bool {
    bits(key, position) < threshold
}

/// The factor kept activations are scaled by (inverted dropout: inference needs no scaling).
pub fn keep_scale(prob: f64) -> f32 {
    (1.0 / (1.0 - prob)) as f32
}

/// Whether image `row` of a batch is mirrored (one half of the images, at random).
pub fn flipped(key: u32, row: usize) -> bool {
    bits(key, row as u32) >> 31 == 1
}

/// The dropout mask of a `[rows, cols]` activation: 0 or `keep_scale(prob)` per element.
pub fn dropout_mask(key: u32, rows: usize, cols: usize, prob: f64) -> Vec<f32> {
    let threshold = drop_threshold(prob);
    let keep = keep_scale(prob);
    (0..(rows * cols) as u32)
        .map(|i| if dropped(key, i, threshold) { 0.0 } else { keep })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_the_asked_share_and_keep_the_mean() {
        let m = dropout_mask(key(7, 0, 0, Stream::Dropout(0)), 1000, 100, 0.2);
        let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        let mean = m.iter().map(|&v| v as f64).sum::<f64>() / m.len() as f64;
        assert!((dropped - 0.2).abs() < 0.01, "{dropped}");
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
    }

    #[test]
    fn every_coordinate_changes_the_draw_and_repeats_exactly() {
        let draw = |seed, epoch, batch, stream| dropout_mask(key(seed, epoch, batch, stream), 8, 8, 0.5);
        let base = draw(1, 3, 5, Stream::Dropout(0));
        assert_eq!(base, draw(1, 3, 5, Stream::Dropout(0)));
        for other in [
            draw(2, 3, 5, Stream::Dropout(0)),
            draw(1, 4, 5, Stream::Dropout(0)),
            draw(1, 3, 6, Stream::Dropout(0)),
            draw(1, 3, 5, Stream::Dropout(1)),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn flips_are_fair() {
        let k = key(3, 1, 2, Stream::Flip);
        let n = (0..10_000).filter(|&r| flipped(k, r)).count();
        assert!((4_800..5_200).contains(&n), "{n}");
    }

    #[test]
    fn neighbouring_positions_are_independent() {
        // Adjacent bits of consecutive positions agree about half the time.
        let k = key(9, 0, 0, Stream::Dropout(2));
        let same = (0..20_000u32)
            .filter(|&i| (bits(k, i) ^ bits(k, i + 1)) >> 31 == 0)
            .count();
        assert!((9_500..10_500).contains(&same), "{same}");
    }
}
