//! What a training session says and is told: the typed events a run streams to its shell (see
//! `session` for their order), the setup a run starts from, and the run's state.

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::config::TrainConfig;
use super::engine::EngineKind;
use crate::data::NUM_CLASSES;
use crate::error::{Error, ErrorKind};

/// Milliseconds from some fixed origin; the shells supply it (`Instant` natively, `Date.now()`
/// in the browser, where `Instant` panics), tests a fake one.
pub type Clock = Box<dyn Fn() -> f64>;

/// What a run is asked to do, besides its configuration.
#[derive(Debug, Clone, Default)]
pub struct SessionSetup {
    pub config: TrainConfig,
    /// Train on a seeded subset of this many images.
    pub train_limit: Option<usize>,
    /// Evaluate on a seeded subset of this many test images (the watched ones always included).
    pub test_limit: Option<usize>,
    /// Test images whose predictions every epoch report lists (the page's grid), by index.
    pub watch: Vec<usize>,
    /// Continue this run instead of starting a new one.
    pub resume: Option<Checkpoint>,
    /// Where the model is trained, recorded in the files it writes ("fashion CLI (ndarray)").
    pub trained_on: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub train: usize,
    pub test: usize,
    pub batches_per_epoch: usize,
    /// Epochs already done (non-zero when resuming).
    pub epoch: usize,
    pub epochs: usize,
    pub engine: EngineKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The epoch in progress, 1-based (the one just finished at an epoch's end).
    pub epoch: usize,
    pub epochs: usize,
    /// Batches of that epoch done.
    pub batch: usize,
    pub batches_per_epoch: usize,
    pub steps: u64,
    /// Over the batches since the previous progress event.
    pub loss: f64,
    pub accuracy: f64,
    /// Over the epoch so far.
    pub epoch_loss: f64,
    pub epoch_accuracy: f64,
    pub samples_per_sec: f64,
    pub eta_seconds: f64,
    pub learning_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub confusion: [[u32; NUM_CLASSES]; NUM_CLASSES],
    pub per_class_accuracy: [f64; NUM_CLASSES],
    /// Predictions for the watched test images, in `SessionSetup::watch` order.
    pub watched_predictions: Vec<u8>,
    /// Wall time of the epoch's training (evaluation excluded).
    pub seconds: f64,
    pub samples_per_sec: f64,
    /// The model after this epoch, as a safetensors file with its training metadata.
    #[serde(with = "serde_bytes")]
    pub weights: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointReady {
    /// Epochs completed.
    pub epoch: usize,
    /// The checkpoint file (weights, optimiser state, configuration).
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        Failure {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started(Started),
    Progress(Progress),
    Epoch(Box<EpochReport>),
    Checkpoint(CheckpointReady),
    Paused,
    Resumed,
    /// Stopped on request; the last checkpoint is the one of `epoch`.
    Stopped {
        epoch: usize,
    },
    Finished {
        epoch: usize,
        test_accuracy: f64,
    },
    Failed(Failure),
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    Stopped,
    Finished,
    Failed,
}

impl RunState {
    /// Still running or paused (not ended).
    pub fn is_live(self) -> bool {
        matches!(self, RunState::Running | RunState::Paused)
    }
}
