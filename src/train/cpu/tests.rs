//! The CPU engine's promise, checked without data files or burn (so it also runs on any target,
//! e.g. an aarch64 build under qemu): every instruction set this machine has computes the same
//! bits for the same rounding, the best one here is a vector one (NEON on aarch64, AVX on
//! x86-64), and a batch split in two shards trains what the shards added up train.

use super::{CpuOptions, CpuTrainer, Isa, Kernels, Rounding};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::train::init::initial_weights;
use crate::train::{Checkpoint, TrainConfig};

/// 300 images of seeded noise with a class-dependent bright band, so the model has something
/// to learn, and labels 0-9 in turn.
fn synthetic() -> Dataset {
    let n = 300;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut pixels = Vec::with_capacity(n * IMAGE_PIXELS);
    for i in 0..n {
        let band = (i % 10) * 2;
        for p in 0..IMAGE_PIXELS {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 96) as u8;
            pixels.push(if (p / 28) / 3 * 2 == band {
                200u8.saturating_add(noise / 4)
            } else {
                noise
            });
        }
    }
    Dataset::new(pixels, (0..n).map(|i| (i % 10) as u8).collect()).unwrap()
}

const ALL: [Isa; 5] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Simd128, Isa::Scalar];

fn train(kernels: Kernels, shards: usize) -> Checkpoint {
    let data = synthetic();
    let config = TrainConfig {
        epochs: 2,
        batch_size: 64, // 300 = 4 × 64 + 44: a ragged last batch too
        augment_flip: true,
        augment_shift: 2,
        input_dropout: 0.1,
        label_smoothing: 0.1,
        seed: 3,
        ..TrainConfig::improved()
    };
    let weights = initial_weights(&config).unwrap();
    let options = CpuOptions {
        kernels,
        threads: 1,
        shards,
    };
    let mut trainer = CpuTrainer::start(&config, &data, &data.take(10), &weights, None, options).unwrap();
    while trainer.position().epoch < config.epochs {
        trainer.run(100).unwrap();
    }
    trainer.checkpoint(None)
}

#[test]
fn every_instruction_set_here_trains_the_same_bits() {
    let best = Kernels::best();
    if cfg!(target_arch = "aarch64") {
        assert_eq!(best.isa, Isa::Neon, "aarch64 trains with NEON");
    }
    if Isa::Avx2.available() {
        assert_ne!(best.isa, Isa::Scalar, "x86-64 with AVX2 trains with vectors");
    }
    for rounding in [Rounding::Fused, Rounding::Separate] {
        let isas: Vec<Kernels> = ALL
            .into_iter()
            .filter_map(|isa| Kernels::new(isa, rounding).ok())
            .collect();
        // Scalars never fuse: with one fused set only (NEON on aarch64) there is nothing to compare.
        if rounding == Rounding::Separate {
            assert!(isas.len() >= 2, "scalar and at least one vector set");
        }
        let Some(first) = isas.first().map(|k| train(*k, 1)) else {
            continue;
        };
        for k in &isas[1..] {
            assert!(
                train(*k, 1) == first,
                "{:?} and {:?} ({rounding:?}) trained different bits",
                isas[0].isa,
                k.isa
            );
        }
    }
}

#[test]
fn two_shards_train_alike_on_every_instruction_set() {
    let shards = ALL
        .into_iter()
        .filter_map(|isa| Kernels::new(isa, Rounding::Separate).ok())
        .map(|k| train(k, 2))
        .collect::<Vec<_>>();
    assert!(shards.windows(2).all(|w| w[0] == w[1]));
}
