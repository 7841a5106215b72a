//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fashion_mlp::backend::Backend;
use fashion_mlp::train::Recipe;
use fashion_mlp::train::cpu::{Isa, Rounding};

/// Where the setup script installs the official dataset.
use fashion_mlp::facts::DEFAULT_DATA_DIR;

#[derive(Parser)]
#[command(
    name = "fashion",
    version,
    about = "Train, evaluate and use a Fashion-MNIST MLP (on the CPU, a GPU through wgpu, or burn's autodiff)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model and optionally save it
    Train(TrainArgs),
    /// Evaluate a saved model on the test set: accuracy, confusion matrix, per-class table
    Eval(EvalArgs),
    /// Class probabilities for an image file (PNG/PGM) or a test-set index
    Predict(PredictArgs),
    /// Training and inference throughput, printed as JSON
    Bench(BenchArgs),
    /// Write a model for another framework (PyTorch's nn.Sequential names and layout)
    Export(ExportArgs),
    /// Teach a model your drawings (the page's exported set, or a Kaggle-layout CSV), with a
    /// replay of Fashion-MNIST; prints accuracy on the drawings and the test set before and after
    Finetune(FinetuneArgs),
    /// Write a drawing set of training images drawn as a person draws them on the pad (what
    /// `finetune --drawings` and the page's import read)
    Drawings(DrawingsArgs),
}

#[derive(Args)]
pub struct FinetuneArgs {
    /// The model to teach: this project's, a checkpoint, or PyTorch weights
    #[arg(long)]
    pub model: PathBuf,
    /// The drawings: a set exported by the page (.json) or a Kaggle-layout CSV (label, 784
    /// pixels 0-255) of 28x28 inputs
    #[arg(long)]
    pub drawings: PathBuf,
    /// Where to write the taught model (safetensors)
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Times each drawing is seen
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Fashion-MNIST training images replayed per drawing seen
    #[arg(long)]
    pub replay: Option<f64>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Folds of the drawings for the held-out measurement (0: no measurement)
    #[arg(long)]
    pub folds: Option<usize>,
    /// Decay of the running average of the weights that becomes the taught model (0: off)
    #[arg(long)]
    pub average: Option<f64>,
    /// Also score the model before and after on this drawing set (e.g. `fashion drawings
    /// --from-test`), never taught from
    #[arg(long)]
    pub score: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// One JSON line with the figures instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DrawingsArgs {
    /// How the images are drawn: outline (a stroke around the garment, nothing inside) or
    /// silhouette (filled)
    #[arg(long, default_value = "outline")]
    pub rendering: fashion_mlp::drawings::Rendering,
    /// Drawings of each class
    #[arg(long, default_value_t = 20)]
    pub per_class: usize,
    /// Draw test images instead of training images
    #[arg(long)]
    pub from_test: bool,
    /// Which images (a seeded choice)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, env = "FASHION_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Where to write the set (JSON, as the page exports it)
    #[arg(long, short)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    /// safetensors with nn.Sequential names (0.weight, 0.bias, 3.weight...), weights [out, in]
    Pytorch,
    /// this project's own safetensors layout
    Safetensors,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A model file: this project's, a training checkpoint, or PyTorch weights
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value = "pytorch")]
    pub format: ExportFormat,
    /// Where to write the result
    #[arg(long, short)]
    pub out: PathBuf,
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// Directory with the four IDX .gz files
    #[arg(long, env = "FASHION_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Kaggle CSV for training (instead of the IDX files)
    #[arg(long, requires = "test_csv")]
    pub train_csv: Option<PathBuf>,
    /// Kaggle CSV for testing
    #[arg(long)]
    pub test_csv: Option<PathBuf>,
    /// Use a seeded random subset of this many training images
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use a seeded random subset of this many test images
    #[arg(long)]
    pub test_limit: Option<usize>,
}

#[derive(Args, Clone)]
pub struct DeviceArgs {
    /// Compute backend: cpu (the CPU engine), wgpu (the GPU engine through Vulkan/Metal/DX12), or
    /// ndarray (burn's autodiff on the CPU: the reference, slower)
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
    #[command(flatten)]
    pub cpu: CpuArgs,
}

/// How the CPU engine computes.
#[derive(Args, Clone)]
pub struct CpuArgs {
    /// CPU threads (1 = single-threaded; default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// The CPU engine's instruction set: avx512, avx2, neon or scalar (default: the best here)
    #[arg(long)]
    pub isa: Option<Isa>,
    /// fused (one rounding per multiply-add, where the CPU has FMA) or separate (two, as a browser
    /// without relaxed SIMD computes: the same bits as the page there)
    #[arg(long, value_enum)]
    pub rounding: Option<RoundingArg>,
    /// Compute each batch's gradient in this many parts, added up before Adam: 2 is what the
    /// page's two CPU workers compute (default 1)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub shards: u8,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RoundingArg {
    Fused,
    Separate,
}

impl From<RoundingArg> for Rounding {
    fn from(r: RoundingArg) -> Self {
        match r {
            RoundingArg::Fused => Rounding::Fused,
            RoundingArg::Separate => Rounding::Separate,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Schedule {
    Constant,
    Cosine,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Starting point for every hyperparameter below: reference (the original PyTorch recipe) or
    /// improved (the default)
    #[arg(long, default_value = "improved")]
    pub recipe: Recipe,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Hidden layer sizes, e.g. 256,128,64
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Random left-right flips of training images (true/false)
    #[arg(long)]
    pub flip: Option<bool>,
    /// Random shifts of training images by up to this many pixels (0: none)
    #[arg(long)]
    pub shift: Option<u32>,
    /// Zero each input pixel of a training image with this probability (0: none)
    #[arg(long)]
    pub input_dropout: Option<f64>,
    /// Report and save a running average of the weights with this decay per step (0: off)
    #[arg(long)]
    pub average: Option<f64>,
    /// Replace this fraction of the training images by their pad drawings (0: none)
    #[arg(long)]
    pub drawings: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the trained model here (safetensors)
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Write a checkpoint (weights, optimiser state, settings) here after every epoch
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue the run saved in this checkpoint (its settings; --epochs may extend it)
    #[arg(long, conflicts_with_all = ["recipe", "batch_size", "lr", "schedule", "dropout", "hidden", "weight_decay", "label_smoothing", "flip", "shift", "input_dropout", "average", "drawings", "seed"])]
    pub resume: Option<PathBuf>,
    /// One JSON object per epoch on stdout instead of progress bars
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A model file: this project's (`train --save`), a checkpoint, or PyTorch weights (.pt,
    /// .pth, safetensors) of the same architecture
    #[arg(long)]
    pub model: PathBuf,
    /// Evaluate the test images drawn as a person draws them on the page's pad (outline or
    /// silhouette), through the pad's preprocessing
    #[arg(long)]
    pub as_drawings: Option<fashion_mlp::drawings::Rendering>,
    /// With --as-drawings: read the drawings without filling closed outlines (the page fills
    /// them), to measure what filling does
    #[arg(long, requires = "as_drawings")]
    pub no_fill: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluation runs on the CPU engine
    #[command(flatten)]
    pub cpu: CpuArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PredictArgs {
    /// A model file: this project's, a checkpoint, or PyTorch weights of the same architecture
    #[arg(long)]
    pub model: PathBuf,
    /// A PNG or PGM image (any size; colour is turned to grey)
    #[arg(conflicts_with = "index", required_unless_present = "index")]
    pub image: Option<PathBuf>,
    /// Read the image as a drawing on the page's pad made with a brush this many pixels wide
    /// (closed outlines are filled, as the page does); without it, as an uploaded picture
    #[arg(long, requires = "image")]
    pub brush: Option<f32>,
    /// Classify test-set image number N instead of a file
    #[arg(long)]
    pub index: Option<usize>,
    /// Directory with the IDX files (for --index)
    #[arg(long, env = "FASHION_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, env = "FASHION_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Backends to measure
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub backends: Vec<Backend>,
    /// Batch sizes to measure
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    pub batch_sizes: Vec<usize>,
    /// Thread counts to measure (the CPU backends)
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// The CPU engine's instruction set (default: the best here)
    #[arg(long)]
    pub isa: Option<Isa>,
    /// The CPU engine's rounding (default: fused where the CPU has FMA)
    #[arg(long, value_enum)]
    pub rounding: Option<RoundingArg>,
    /// The CPU engine's shards per batch (see `train --shards`)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub shards: u8,
    /// Training samples per measurement (after a warm-up)
    #[arg(long, default_value_t = 30_000)]
    pub samples: usize,
    /// Instead: what a GPU step costs (dispatches and milliseconds per step of the GPU engine at
    /// each batch size), on the wgpu backend
    #[arg(long)]
    pub gpu_costs: bool,
    /// Instead: what wgpu finds natively (adapter name, type, API; whether it is a software one)
    #[arg(long)]
    pub gpu_info: bool,
}
