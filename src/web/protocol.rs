//! Messages between the page and the training worker. The worker posts `Ready` first; the page
//! sends nothing before it (earlier messages would be lost).

use serde::{Deserialize, Serialize};

use crate::train::TrainConfig;

/// Which compute backend the page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// WebGPU when the browser gives an adapter and a device, else CPU.
    #[default]
    Auto,
    WebGpu,
    Cpu,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedFile {
    pub name: String,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// Continue a run from a saved model at the start of `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResumeFrom {
    #[serde(with = "serde_bytes")]
    pub weights: Vec<u8>,
    pub epoch: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Dataset files: the four IDX files (gzipped or not) or two Kaggle CSVs.
    LoadData {
        files: Vec<NamedFile>,
    },
    Start {
        config: TrainConfig,
        #[serde(default)]
        backend: BackendChoice,
        /// Train on a seeded random subset of this many images (quick runs, tests).
        #[serde(default)]
        train_limit: Option<usize>,
        #[serde(default)]
        test_limit: Option<usize>,
        #[serde(default)]
        resume: Option<ResumeFrom>,
    },
    Pause,
    Resume,
    Stop,
    /// One test image, for the page's classifier (answered with `FromWorker::TestImage`).
    TestImage {
        index: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendInfo {
    /// "webgpu" or "cpu".
    pub name: String,
    /// Adapter description (vendor, architecture, whether it is a software fallback).
    pub adapter: String,
    /// Why WebGPU is not used, when it is not.
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub batch: usize,
    pub batches_per_epoch: usize,
    pub steps: u64,
    /// Over the batches since the previous progress message.
    pub loss: f64,
    pub accuracy: f64,
    /// Over the epoch so far.
    pub epoch_loss: f64,
    pub epoch_accuracy: f64,
    pub samples_per_sec: f64,
    pub eta_seconds: f64,
    pub learning_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub confusion: [[u32; 10]; 10],
    pub per_class_accuracy: [f64; 10],
    /// Predictions for the sample grid images (same order as `DataLoaded::grid_labels`).
    pub grid_predictions: Vec<u8>,
    pub seconds: f64,
    pub samples_per_sec: f64,
    /// The model after this epoch, as a safetensors file.
    #[serde(with = "serde_bytes")]
    pub weights: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    Ready,
    DataLoaded {
        train: usize,
        test: usize,
        /// Test images shown in the prediction grid: 784 bytes each.
        #[serde(with = "serde_bytes")]
        grid_pixels: Vec<u8>,
        grid_labels: Vec<u8>,
    },
    Backend(BackendInfo),
    Started {
        train: usize,
        test: usize,
        batches_per_epoch: usize,
        epoch: usize,
    },
    Progress(Progress),
    /// Boxed: the report (confusion matrix, per-class accuracy) dwarfs every other message.
    Epoch(Box<EpochReport>),
    TestImage {
        index: usize,
        label: u8,
        /// 784 bytes, as in the dataset.
        #[serde(with = "serde_bytes")]
        pixels: Vec<u8>,
    },
    Paused,
    Resumed,
    Stopped,
    Finished,
    /// `fatal`: the worker cannot go on (the page should restart it).
    Error {
        message: String,
        fatal: bool,
    },
}

/// How many test images the prediction grid shows.
pub const GRID_IMAGES: usize = 32;
