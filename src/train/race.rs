//! Measuring a device's training speed on the real data, so that Auto can keep the faster
//! backend instead of guessing (a software GPU adapter is often far slower than the CPU).

use super::config::TrainConfig;
use super::engine::{Compute, Engine};
use super::session::Clock;
use crate::data::Dataset;
use crate::error::Result;

/// How much a measurement trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    /// Images of the training set used (a seeded subset: uploading all 60,000 would dominate).
    pub images: usize,
    /// Untimed batches first (a GPU compiles its kernels then).
    pub warmup_batches: usize,
    /// Timed batches at most...
    pub max_batches: usize,
    /// ...and at least this long, when the device is fast.
    pub min_ms: f64,
}

impl Trial {
    pub const QUICK: Self = Self {
        images: 4_096,
        warmup_batches: 2,
        max_batches: 24,
        min_ms: 600.0,
    };
}

/// Training samples per second of `config`'s model and batch size on `compute`.
pub async fn samples_per_sec(
    config: &TrainConfig,
    train: &Dataset,
    compute: &Compute,
    trial: Trial,
    clock: &Clock,
) -> Result<f64> {
    let mut config = config.clone();
    config.epochs = 1;
    let subset = train.sample(trial.images, config.seed);
    // Nothing is evaluated: one test image stands for the test set.
    let mut engine = Engine::start(&config, &subset, &subset.take(1), compute, None).await?;
    let batches_per_epoch = engine.position().batches_per_epoch;
    engine
        .run(trial.warmup_batches.min(batches_per_epoch.saturating_sub(1)).max(1))
        .await?;
    // Timed in chunks, as a run trains: one read of the results per chunk, not per batch.
    let (mut samples, mut batches, mut took) = (0u64, 0usize, 0.0f64);
    let mut next = 2;
    while !engine.is_finished() {
        let started = clock();
        let chunk = engine.run(next).await?;
        took += clock() - started;
        samples += chunk.stats.samples;
        batches += chunk.batches;
        if took >= trial.min_ms || batches >= trial.max_batches {
            break;
        }
        let per_batch = took / batches as f64;
        next = (((trial.min_ms - took) / per_batch.max(1e-3)).ceil() as usize).clamp(1, trial.max_batches - batches);
    }
    Ok(samples as f64 * 1000.0 / took.max(1e-3))
}
