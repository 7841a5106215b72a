//! Messages between the page and the training worker: the whole contract in one file. The
//! worker posts `Ready` first; the page sends nothing before it (earlier messages would be
//! lost). Every message is an object tagged by `type`; fields nobody knows are refused
//! (`deny_unknown_fields`), so a misspelled setting is an error instead of a silent default.
//! Training payloads (`Started`, `Progress`, `EpochReport`, ...) are the core session's events
//! as they are.

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::teach::{TeachOptions, TeachReport};
use crate::train::TrainConfig;
use crate::train::session::{CheckpointReady, EpochReport, Progress, Started};

/// Which compute backend the page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Measure WebGPU against the CPU on the real data and keep the faster; the CPU when the
    /// browser gives no GPU.
    #[default]
    Auto,
    WebGpu,
    Cpu,
}

/// The backend a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    WebGpu,
    Cpu,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedFile {
    pub name: String,
    /// Empty when the page hands the worker the file itself (a user's file, read in slices).
    #[serde(default, with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// A worker's part of each batch: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToWorker {
    /// Dataset files: the four IDX files (gzipped or not) or two Kaggle CSVs. When they do not
    /// make a dataset, the worker keeps the one it had and says so.
    LoadData {
        files: Vec<NamedFile>,
    },
    /// Train a new run (`checkpoint: None`) or continue the one in `checkpoint` (a file from
    /// `FromWorker::Checkpoint`; its own settings and subset apply).
    Start {
        config: TrainConfig,
        #[serde(default)]
        backend: BackendChoice,
        /// Train on a seeded random subset of this many images (quick runs, tests).
        #[serde(default)]
        train_limit: Option<usize>,
        #[serde(default)]
        test_limit: Option<usize>,
        #[serde(default, with = "serde_bytes")]
        checkpoint: Option<Vec<u8>>,
        /// Why the page chose this backend, and what it measured (Auto decides in the page,
        /// which has a worker for each backend).
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        measured: Option<Measured>,
        /// On the CPU: this worker's part of each batch when two workers share it (the page
        /// attaches the link's SharedArrayBuffer as `exchange`).
        #[serde(default)]
        shard: Option<Shard>,
    },
    /// A model file to read (ours, a checkpoint, PyTorch weights), answered with
    /// `FromWorker::ModelRead`: parsed here, in a worker, so that a hostile file can at worst
    /// stall or kill this worker, never the page and its classifier.
    ReadModel {
        name: String,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Test interface only: the next `ReadModel` or `ReadDrawings` of a file of this name panics
    /// (a real panic, for the tests that the page survives one). No answer.
    InjectPanic {
        file_name: String,
    },
    /// A drawing set file the user imports (this app's export or a Kaggle-layout CSV), answered
    /// with `FromWorker::DrawingsRead`: parsed here, off the page's thread, like a model file.
    ReadDrawings {
        name: String,
        /// Empty when the page hands the worker the file itself.
        #[serde(default, with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Teach `model` (safetensors) the user's `drawings` (a drawing set file) with a replay of
    /// the loaded training set, answered with `Teaching` progress and `Taught`; `Stop` cancels.
    Teach {
        #[serde(with = "serde_bytes")]
        model: Vec<u8>,
        #[serde(with = "serde_bytes")]
        drawings: Vec<u8>,
        #[serde(default)]
        options: Option<TeachOptions>,
        /// The engine to teach on, as the page's Auto picked it (the CPU when absent).
        #[serde(default)]
        backend: Option<Backend>,
    },
    /// Training samples per second of `config` on this worker's `backend`, measured on a few
    /// batches of the loaded data (answered with `FromWorker::Measured`).
    Measure {
        config: TrainConfig,
        backend: Backend,
        #[serde(default)]
        shard: Option<Shard>,
    },
    // Empty struct variants, not unit ones: serde ignores stray fields of a unit variant even
    // under deny_unknown_fields.
    Pause {},
    Resume {},
    Stop {},
    /// One test image, for the page's classifier (answered with `FromWorker::TestImage`).
    TestImage {
        index: usize,
    },
    /// Diagnostics for tests and benchmarks (`hook`: "lose_gpu" destroys the WebGPU device,
    /// "memory" reports the worker's memory, "gpu_costs" measures a GPU step on the loaded data).
    Debug {
        hook: String,
    },
}

/// The backend a run uses, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendInfo {
    pub backend: Backend,
    /// What the backend runs on (adapter vendor and architecture, "software fallback adapter").
    pub adapter: String,
    /// Why WebGPU is not used, when it is not.
    pub fallback_reason: Option<String>,
    /// Auto's measurement, when it measured: samples/s of each backend on the real data.
    pub measured: Option<Measured>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub webgpu_samples_per_sec: f64,
    pub cpu_samples_per_sec: f64,
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
        /// When the dataset came from the user's own files: it again, as four raw IDX files, for
        /// the page to hand to other workers (the files on disk may change or go away).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<NamedFile>,
    },
    /// The backend chosen for the run that is starting (Auto may have measured first).
    Backend(BackendInfo),
    /// Auto is measuring the backends (a few seconds).
    Measuring,
    /// Answer to `ToWorker::Measure`.
    Measured {
        backend: Backend,
        samples_per_sec: f64,
    },
    Started(Started),
    Progress(Progress),
    /// Boxed: the report (weights, confusion matrix) dwarfs every other message.
    Epoch(Box<EpochReport>),
    /// The run's full state after an epoch, for an exact resume.
    Checkpoint(CheckpointReady),
    TestImage {
        index: usize,
        label: u8,
        /// 784 bytes, as in the dataset.
        #[serde(with = "serde_bytes")]
        pixels: Vec<u8>,
    },
    Paused,
    Resumed,
    Stopped {
        epoch: usize,
    },
    Finished {
        epoch: usize,
        test_accuracy: f64,
    },
    /// `fatal`: the worker cannot go on (the page restarts it). Whatever failed, the worker
    /// keeps the dataset it had.
    Error {
        kind: ErrorKind,
        message: String,
        fatal: bool,
    },
    /// Answer to `ToWorker::ReadModel`: the model as this project's safetensors file.
    ModelRead {
        name: String,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Answer to `ToWorker::ReadDrawings`: the set's labels and 784 pixels (0-255) a drawing.
    DrawingsRead {
        name: String,
        labels: Vec<u8>,
        #[serde(with = "serde_bytes")]
        pixels: Vec<u8>,
        /// Each drawing's strokes, when the file kept them.
        strokes: Vec<Option<crate::teach::Strokes>>,
    },
    /// A teaching's progress.
    Teaching {
        steps_done: usize,
        steps_total: usize,
    },
    /// The taught model (safetensors) and what teaching did, before and after.
    Taught {
        report: TeachReport,
        #[serde(with = "serde_bytes")]
        weights: Vec<u8>,
    },
    /// Answer to `Debug { hook: "memory" }`.
    Memory {
        wasm_bytes: f64,
        gpu_bytes: Option<f64>,
    },
    /// Answer to other diagnostics (`Debug { hook: "gpu_costs" }`): a measurement as JSON.
    Diagnostics {
        hook: String,
        report: serde_json::Value,
    },
}

/// How many test images the prediction grid shows.
pub const GRID_IMAGES: usize = 32;

impl FromWorker {
    /// Every kind of message a worker posts (its `type` field); www/js/app.js handles each.
    pub const KINDS: [&'static str; 21] = [
        "ready",
        "data_loaded",
        "backend",
        "measuring",
        "measured",
        "started",
        "progress",
        "epoch",
        "checkpoint",
        "test_image",
        "paused",
        "resumed",
        "stopped",
        "finished",
        "error",
        "model_read",
        "drawings_read",
        "teaching",
        "taught",
        "memory",
        "diagnostics",
    ];

    /// This message's `type` (a new variant does not compile until it has one).
    pub fn kind(&self) -> &'static str {
        match self {
            FromWorker::Ready => "ready",
            FromWorker::DataLoaded { .. } => "data_loaded",
            FromWorker::Backend(_) => "backend",
            FromWorker::Measuring => "measuring",
            FromWorker::Measured { .. } => "measured",
            FromWorker::Started(_) => "started",
            FromWorker::Progress(_) => "progress",
            FromWorker::Epoch(_) => "epoch",
            FromWorker::Checkpoint(_) => "checkpoint",
            FromWorker::TestImage { .. } => "test_image",
            FromWorker::Paused => "paused",
            FromWorker::Resumed => "resumed",
            FromWorker::Stopped { .. } => "stopped",
            FromWorker::Finished { .. } => "finished",
            FromWorker::Error { .. } => "error",
            FromWorker::ModelRead { .. } => "model_read",
            FromWorker::DrawingsRead { .. } => "drawings_read",
            FromWorker::Teaching { .. } => "teaching",
            FromWorker::Taught { .. } => "taught",
            FromWorker::Memory { .. } => "memory",
            FromWorker::Diagnostics { .. } => "diagnostics",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_types_are_refused() {
        let ok: ToWorker = serde_json::from_str(r#"{"type": "start", "config": {"epochs": 2}}"#).unwrap();
        assert!(matches!(ok, ToWorker::Start { .. }));
        for bad in [
            r#"{"type": "start", "config": {"epochs": 2}, "bakend": "cpu"}"#,
            r#"{"type": "start", "config": {"epocs": 2}}"#,
            r#"{"type": "start", "config": {"model": {"hiden": [64]}}}"#,
            r#"{"type": "pause", "now": true}"#,
            r#"{"type": "explode"}"#,
        ] {
            assert!(serde_json::from_str::<ToWorker>(bad).is_err(), "{bad}");
        }
    }

    /// The page's side of the worker's messages: each kind serialises with the `type` that
    /// `kind` says, and app.js has a case for every kind.
    #[test]
    fn every_worker_message_kind_is_handled_by_the_page() {
        let samples = [
            FromWorker::Ready,
            FromWorker::DataLoaded {
                train: 1,
                test: 1,
                grid_pixels: vec![0],
                grid_labels: vec![0],
                files: Vec::new(),
            },
            FromWorker::Backend(BackendInfo {
                backend: Backend::Cpu,
                adapter: "cpu".into(),
                fallback_reason: None,
                measured: None,
            }),
            FromWorker::Measuring,
            FromWorker::Measured {
                backend: Backend::WebGpu,
                samples_per_sec: 1.0,
            },
            FromWorker::TestImage {
                index: 0,
                label: 0,
                pixels: vec![0],
            },
            FromWorker::Paused,
            FromWorker::Resumed,
            FromWorker::Stopped { epoch: 1 },
            FromWorker::Finished {
                epoch: 1,
                test_accuracy: 0.5,
            },
            FromWorker::Error {
                kind: ErrorKind::Data,
                message: "m".into(),
                fatal: false,
            },
            FromWorker::ModelRead {
                name: "m".into(),
                bytes: vec![0],
            },
            FromWorker::DrawingsRead {
                name: "d".into(),
                labels: vec![1],
                pixels: vec![0; 784],
                strokes: vec![None],
            },
            FromWorker::Teaching {
                steps_done: 1,
                steps_total: 2,
            },
            FromWorker::Taught {
                report: TeachReport {
                    drawings: 2,
                    folds: 2,
                    drawings_accuracy_before: Some(0.5),
                    drawings_accuracy_after: Some(1.0),
                    test_accuracy_before: 0.9,
                    test_accuracy_after: 0.9,
                    test_images: 10,
                    steps: 3,
                },
                weights: vec![0],
            },
            FromWorker::Memory {
                wasm_bytes: 1.0,
                gpu_bytes: None,
            },
            FromWorker::Diagnostics {
                hook: "h".into(),
                report: serde_json::Value::Null,
            },
        ];
        for m in &samples {
            let value = serde_json::to_value(m).unwrap();
            assert_eq!(value["type"], m.kind(), "{m:?}");
            assert!(FromWorker::KINDS.contains(&m.kind()));
        }
        let app = include_str!("../../www/js/app.js");
        let mut kinds = FromWorker::KINDS.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), FromWorker::KINDS.len());
        for kind in FromWorker::KINDS {
            assert!(
                app.contains(&format!("case '{kind}':")),
                "www/js/app.js has no case for '{kind}'"
            );
        }
    }
}
