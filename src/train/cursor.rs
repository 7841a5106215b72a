//! Where a run stands and what its batches measured, shared by every engine (burn's autodiff
//! trainer and the fused GPU step): the position in the run, the epoch's shuffle order, and the
//! running loss and accuracy totals a chunk reports.

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use crate::data::dataset::shuffled_indices;

/// Where a run stands; a checkpoint at an epoch boundary resumes it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Epochs completed.
    pub epoch: usize,
    /// Next batch within the current epoch.
    pub batch: usize,
    pub batches_per_epoch: usize,
    /// Optimiser steps taken since the run began.
    pub steps: u64,
}

impl Position {
    pub fn start(epoch: usize, train_len: usize, batch_size: usize) -> Self {
        let batches_per_epoch = train_len.div_ceil(batch_size);
        Self {
            epoch,
            batch: 0,
            batches_per_epoch,
            steps: (epoch * batches_per_epoch) as u64,
        }
    }

    /// Rows `[start, end)` of this epoch's shuffle order that the next batch takes.
    pub fn batch_rows(&self, batch_size: usize, train_len: usize) -> (usize, usize) {
        let start = self.batch * batch_size;
        (start, (start + batch_size).min(train_len))
    }
}

/// Mean loss and accuracy over some training batches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    pub loss: f64,
    pub accuracy: f64,
    pub samples: u64,
}

/// Sums over training batches, turned into means when reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub loss: f64,
    pub correct: f64,
    pub samples: u64,
}

impl Totals {
    pub fn add(&mut self, other: Totals) {
        self.loss += other.loss;
        self.correct += other.correct;
        self.samples += other.samples;
    }

    pub fn stats(&self) -> TrainStats {
        let n = self.samples.max(1) as f64;
        TrainStats {
            loss: self.loss / n,
            accuracy: self.correct / n,
            samples: self.samples,
        }
    }
}

/// What one `run` call did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub batches: usize,
    /// Over this chunk's batches only.
    pub stats: TrainStats,
    /// Over the epoch so far (the whole epoch when `epoch_finished`).
    pub epoch_stats: TrainStats,
    pub epoch_finished: bool,
    /// All configured epochs are done.
    pub finished: bool,
    pub position: Position,
    pub learning_rate: f64,
}

/// The cursor a run keeps between chunks, shared by every engine: position, this epoch's
/// shuffle order and the epoch's running totals.
pub struct Cursor {
    pub position: Position,
    pub order: Vec<i64>,
    pub epoch_totals: Totals,
}

impl Cursor {
    pub fn new(position: Position, train_len: usize, seed: u64) -> Self {
        Self {
            order: epoch_order(train_len, seed, position.epoch),
            position,
            epoch_totals: Totals::default(),
        }
    }

    /// How many batches the next chunk takes: at most `max`, never past the epoch's end.
    pub fn chunk_len(&self, max: usize) -> usize {
        max.max(1).min(self.position.batches_per_epoch - self.position.batch)
    }

    /// Books a finished chunk; at the epoch's end moves to the next epoch's shuffle.
    pub fn finish_chunk(&mut self, batches: usize, totals: Totals, config: &TrainConfig, lr: f64) -> Chunk {
        self.epoch_totals.add(totals);
        let epoch_stats = self.epoch_totals.stats();
        let epoch_finished = self.position.batch == self.position.batches_per_epoch;
        if epoch_finished {
            self.position.epoch += 1;
            self.position.batch = 0;
            self.epoch_totals = Totals::default();
            self.order = epoch_order(self.order.len(), config.seed, self.position.epoch);
        }
        Chunk {
            batches,
            stats: totals.stats(),
            epoch_stats,
            epoch_finished,
            finished: self.position.epoch >= config.epochs,
            position: self.position,
            learning_rate: lr,
        }
    }
}

/// This epoch's shuffle: derived from (seed, epoch) alone, so a resumed run reshuffles the same.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<i64> {
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    shuffled_indices(n, mixed).into_iter().map(i64::from).collect()
}
