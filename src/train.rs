//! Training as a resumable state machine: `run(n)` advances at most `n` batches and returns what
//! they measured, keeping model, optimizer moments, epoch, cursor and shuffle order in between, so
//! a browser worker can train in small chunks and stay responsive. Every read of device values is
//! asynchronous and batched into one transaction per call.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};
use serde::{Deserialize, Serialize};

use crate::data::dataset::shuffled_indices;
use crate::data::{Dataset, IMAGE_PIXELS, IMAGE_SIDE};
use crate::error::{ConfigError, Error, Result};
use crate::metrics::EvalReport;
use crate::model::{Mlp, MlpConfig};
use crate::noise::Noise;

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate throughout (the reference recipe).
    Constant,
    /// Half-cosine decay from the base rate to zero over all epochs.
    #[default]
    Cosine,
}

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub model: MlpConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub schedule: LrSchedule,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    /// Mirror half of the training images left-right each step (clothes are near-symmetric).
    pub augment_flip: bool,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::improved()
    }
}

impl TrainConfig {
    /// The original PyTorch recipe: Adam 0.003 constant, batch 64, dropout 0.2, 50 epochs.
    pub fn reference() -> Self {
        Self {
            model: MlpConfig::default(),
            epochs: 50,
            batch_size: 64,
            learning_rate: 0.003,
            schedule: LrSchedule::Constant,
            weight_decay: 0.0,
            label_smoothing: 0.0,
            augment_flip: false,
            seed: 42,
        }
    }

    /// Same architecture, better recipe: cosine decay, left-right flips, label smoothing.
    pub fn improved() -> Self {
        Self {
            learning_rate: 0.001,
            batch_size: 128,
            schedule: LrSchedule::Cosine,
            label_smoothing: 0.1,
            augment_flip: true,
            ..Self::reference()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.model.validate()?;
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.epochs == 0 || self.epochs > 10_000 {
            return bad(format!("epochs {} must be within 1..=10000", self.epochs));
        }
        if self.batch_size == 0 || self.batch_size > 65_536 {
            return bad(format!("batch size {} must be within 1..=65536", self.batch_size));
        }
        if !self.learning_rate.is_finite() || self.learning_rate <= 0.0 || self.learning_rate > 10.0 {
            return bad(format!("learning rate {} must be within (0, 10]", self.learning_rate));
        }
        if !self.weight_decay.is_finite() || !(0.0..1.0).contains(&self.weight_decay) {
            return bad(format!("weight decay {} must be within [0, 1)", self.weight_decay));
        }
        if !self.label_smoothing.is_finite() || !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "label smoothing {} must be within [0, 1)",
                self.label_smoothing
            ));
        }
        Ok(())
    }
}

/// A labelled set uploaded to a device once; batches are gathered there.
///
/// On a GPU the pixels stay bytes, four to an integer, so the full training set is 47 MB on the
/// device instead of 188 MB of f32 (WebGPU caps a storage binding at 128 MB by default), and a batch
/// is unpacked after gathering. On the CPU memory is plentiful and every op costs per-call
/// overhead, so the pixels are stored as f32 once and a batch is a single gather.
pub struct DeviceSet {
    pixels: Pixels,
    pub y: Tensor<1, Int>,
    pub labels: Vec<u8>,
}

enum Pixels {
    Packed(Tensor<2, Int>),
    Float(Tensor<2>),
}

const WORDS_PER_IMAGE: usize = IMAGE_PIXELS / 4;

impl DeviceSet {
    pub fn upload(data: &Dataset, device: &Device) -> Self {
        let n = data.len();
        let pixels = if crate::backend::is_cpu(device) {
            Pixels::Float(Tensor::from_data(
                TensorData::new(data.scaled_pixels(), [n, IMAGE_PIXELS]),
                device,
            ))
        } else {
            let words: Vec<i32> = data
                .pixels()
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Pixels::Packed(Tensor::from_data(TensorData::new(words, [n, WORDS_PER_IMAGE]), device))
        };
        let y = labels_tensor(data.labels(), device);
        Self {
            pixels,
            y,
            labels: data.labels().to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images at `indices`, as `[n, 784]` floats in [0, 1].
    pub fn gather(&self, indices: Tensor<1, Int>) -> Tensor<2> {
        match &self.pixels {
            Pixels::Packed(words) => unpack(words.clone().select(0, indices)),
            Pixels::Float(x) => x.clone().select(0, indices),
        }
    }

    /// Images `range`, as `[n, 784]` floats in [0, 1].
    pub fn rows(&self, range: std::ops::Range<usize>) -> Tensor<2> {
        match &self.pixels {
            Pixels::Packed(words) => unpack(words.clone().slice(range)),
            Pixels::Float(x) => x.clone().slice(range),
        }
    }
}

/// `[n, 196]` little-endian packed bytes -> `[n, 784]` pixels scaled to [0, 1].
fn unpack(words: Tensor<2, Int>) -> Tensor<2> {
    let n = words.dims()[0];
    let bytes: Vec<Tensor<2, Int>> = (0..4)
        .map(|k| words.clone().bitwise_right_shift_scalar(8 * k).bitwise_and_scalar(0xff))
        .collect();
    Tensor::<2, Int>::stack::<3>(bytes, 2)
        .reshape([n, IMAGE_PIXELS])
        .float()
        .div_scalar(255.0)
}

fn labels_tensor(labels: &[u8], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(v, [labels.len()]), device)
}

/// Where a run stands; enough to resume it with `Trainer::resume`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Epochs completed.
    pub epoch: usize,
    /// Next batch within the current epoch.
    pub batch: usize,
    pub batches_per_epoch: usize,
    pub steps: u64,
}

/// Mean loss and accuracy over some training batches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    pub loss: f64,
    pub accuracy: f64,
    pub samples: u64,
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

/// The training state machine. Owns the model and Adam's moments for the whole run.
pub struct Trainer {
    config: TrainConfig,
    device: Device,
    model: Option<Mlp>,
    optim: ModuleOptimizer,
    loss: burn::nn::loss::CrossEntropyLoss,
    train: DeviceSet,
    order: Tensor<1, Int>,
    noise: Noise,
    position: Position,
    epoch_sums: (f64, f64, u64),
}

impl Trainer {
    /// Starts a run on `device` (autodiff is enabled on it here) with a fresh model.
    pub fn new(config: TrainConfig, train: &Dataset, device: &Device) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = config.model.init(&device)?;
        Self::with_model(config, model, train, &device, 0)
    }

    /// Continues a run from a saved model at the start of `epoch` (Adam restarts its moments;
    /// shuffling and the schedule pick up where they were).
    pub fn resume(config: TrainConfig, model: Mlp, train: &Dataset, device: &Device, epoch: usize) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        device.seed(config.seed.wrapping_add(epoch as u64));
        let model = model.to_device(&device).train();
        Self::with_model(config, model, train, &device, epoch)
    }

    fn with_model(config: TrainConfig, model: Mlp, train: &Dataset, device: &Device, epoch: usize) -> Result<Self> {
        if train.is_empty() {
            return Err(ConfigError::Invalid("the training set is empty".into()).into());
        }
        let mut optim = AdamConfig::new();
        if config.weight_decay > 0.0 {
            optim = optim.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
                config.weight_decay as f32,
            )));
        }
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing as f32);
        let loss = CrossEntropyLossConfig::new().with_smoothing(smoothing).init(device);
        let batches_per_epoch = train.len().div_ceil(config.batch_size);
        let train = DeviceSet::upload(train, device);
        let position = Position {
            epoch,
            batch: 0,
            batches_per_epoch,
            steps: (epoch * batches_per_epoch) as u64,
        };
        let order = epoch_order(train.len(), config.seed, epoch, device);
        let noise = Noise::for_epoch(config.seed, epoch);
        Ok(Self {
            noise,
            config,
            device: device.clone(),
            model: Some(model),
            optim: optim.init(),
            loss,
            train,
            order,
            position,
            epoch_sums: (0.0, 0.0, 0),
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn position(&self) -> Position {
        self.position
    }

    pub fn is_finished(&self) -> bool {
        self.position.epoch >= self.config.epochs
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &Mlp {
        self.model.as_ref().expect("the model is only taken out during a step")
    }

    /// The device the trainer runs on, without autodiff (for evaluation sets).
    pub fn eval_device(&self) -> Device {
        self.device.clone().without_autodiff()
    }

    /// The learning rate of step `step` under the schedule.
    pub fn learning_rate_at(&self, step: u64) -> f64 {
        let base = self.config.learning_rate;
        match self.config.schedule {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let total = (self.config.epochs * self.position.batches_per_epoch) as f64;
                let t = (step as f64 / total).min(1.0);
                base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    fn augment(&mut self, x: Tensor<2>) -> Tensor<2> {
        if !self.config.augment_flip {
            return x;
        }
        let n = x.dims()[0];
        let images = x.reshape([n, IMAGE_SIDE, IMAGE_SIDE]);
        let mirrored = images.clone().flip([2]);
        let pick = crate::noise::flips_tensor(&self.noise.coin_flips(n), &self.device);
        images
            .mask_where(pick.expand([n, IMAGE_SIDE, IMAGE_SIDE]), mirrored)
            .reshape([n, IMAGE_PIXELS])
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch.
    pub async fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        if self.is_finished() {
            return Err(ConfigError::Invalid("training already finished".into()).into());
        }
        let bs = self.config.batch_size;
        let n = self.train.len();
        let todo = max_batches
            .max(1)
            .min(self.position.batches_per_epoch - self.position.batch);
        let eval_device = self.eval_device();
        let mut loss_sum = Tensor::<1>::zeros([1], &eval_device);
        let mut correct = Tensor::<1, Int>::zeros([1], &eval_device);
        let mut samples = 0u64;
        let mut lr = self.learning_rate_at(self.position.steps);
        let dropout = self.config.model.dropout;
        for _ in 0..todo {
            let start = self.position.batch * bs;
            let end = (start + bs).min(n);
            let idx = self.order.clone().slice(start..end);
            let x = self.augment(self.train.gather(idx.clone()));
            let y = self.train.y.clone().select(0, idx);
            let model = self.model.take().expect("model present between steps");
            let noise = &mut self.noise;
            let logits = model.forward_with(x, |h| noise.dropout(h, dropout));
            let loss = self.loss.forward(logits.clone(), y.clone());
            let rows = (end - start) as u64;
            loss_sum = loss_sum + loss.clone().without_autodiff().mul_scalar(rows as f64);
            let hits = logits
                .without_autodiff()
                .argmax(1)
                .reshape([rows as usize])
                .equal(y.without_autodiff());
            correct = correct + hits.int().sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            lr = self.learning_rate_at(self.position.steps);
            self.model = Some(self.optim.step(lr, model, grads));
            self.position.batch += 1;
            self.position.steps += 1;
            samples += rows;
        }
        let data = Transaction::default()
            .register(loss_sum)
            .register(correct)
            .execute_async()
            .await
            .map_err(|e| Error::Device(format!("{e:?}")))?;
        let loss_total = data[0].iter::<f64>().next().unwrap_or(f64::NAN);
        let correct_total = data[1].iter::<f64>().next().unwrap_or(0.0);
        if !loss_total.is_finite() {
            return Err(Error::Device(
                "the training loss became NaN or infinite (try a lower learning rate)".into(),
            ));
        }
        self.epoch_sums.0 += loss_total;
        self.epoch_sums.1 += correct_total;
        self.epoch_sums.2 += samples;
        let stats = TrainStats {
            loss: loss_total / samples as f64,
            accuracy: correct_total / samples as f64,
            samples,
        };
        let (el, ec, es) = self.epoch_sums;
        let epoch_stats = TrainStats {
            loss: el / es as f64,
            accuracy: ec / es as f64,
            samples: es,
        };
        let epoch_finished = self.position.batch == self.position.batches_per_epoch;
        if epoch_finished {
            self.position.epoch += 1;
            self.position.batch = 0;
            self.epoch_sums = (0.0, 0.0, 0);
            self.order = epoch_order(n, self.config.seed, self.position.epoch, &self.device);
            self.noise = Noise::for_epoch(self.config.seed, self.position.epoch);
        }
        Ok(Chunk {
            batches: todo,
            stats,
            epoch_stats,
            epoch_finished,
            finished: self.is_finished(),
            position: self.position,
            learning_rate: lr,
        })
    }

    /// Evaluates the current model on `set` (uploaded with `eval_device()`).
    pub async fn evaluate(&self, set: &DeviceSet) -> Result<EvalReport> {
        evaluate(self.model(), set).await
    }
}

/// This epoch's shuffle: derived from (seed, epoch) alone, so a resumed run reshuffles the same.
fn epoch_order(n: usize, seed: u64, epoch: usize, device: &Device) -> Tensor<1, Int> {
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let order: Vec<i64> = shuffled_indices(n, mixed).into_iter().map(i64::from).collect();
    Tensor::from_data(TensorData::new(order, [n]), device)
}

/// Rows per forward pass during evaluation: bounds device memory on WebGPU.
const EVAL_ROWS: usize = 2_000;

/// Loss, accuracy, confusion matrix and every prediction of `model` on `set`, read in one go.
pub async fn evaluate(model: &Mlp, set: &DeviceSet) -> Result<EvalReport> {
    let device = set.y.device();
    let model = model.valid().to_device(&device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let n = set.len();
    if n == 0 {
        return Ok(EvalReport::new(0.0, &[], Vec::new()));
    }
    let mut loss_sum = Tensor::<1>::zeros([1], &device);
    let mut preds = Vec::new();
    for start in (0..n).step_by(EVAL_ROWS) {
        let end = (start + EVAL_ROWS).min(n);
        let logits = model.forward(set.rows(start..end));
        let y = set.y.clone().slice(start..end);
        loss_sum = loss_sum + loss_fn.forward(logits.clone(), y).mul_scalar((end - start) as f64);
        preds.push(logits.argmax(1).reshape([end - start]));
    }
    let data = Transaction::default()
        .register(loss_sum)
        .register(Tensor::cat(preds, 0))
        .execute_async()
        .await
        .map_err(|e| Error::Device(format!("{e:?}")))?;
    let loss = data[0].iter::<f64>().next().unwrap_or(f64::NAN) / n as f64;
    let predictions = data[1].iter::<i64>().map(|p| p.clamp(0, 9) as u8).collect();
    Ok(EvalReport::new(loss, &set.labels, predictions))
}

/// Class probabilities for images given as `[0, 1]` floats, 784 per image.
pub async fn predict(model: &Mlp, pixels: &[f32], device: &Device) -> Result<Vec<[f32; 10]>> {
    let n = pixels.len() / IMAGE_PIXELS;
    if n == 0 || !pixels.len().is_multiple_of(IMAGE_PIXELS) {
        return Err(ConfigError::Invalid(format!(
            "expected a multiple of {IMAGE_PIXELS} pixels, got {}",
            pixels.len()
        ))
        .into());
    }
    let device = device.clone().without_autodiff();
    let model = model.valid().to_device(&device);
    let x = Tensor::from_data(TensorData::new(pixels.to_vec(), [n, IMAGE_PIXELS]), &device);
    let data = model
        .probabilities(x)
        .into_data_async()
        .await
        .map_err(|e| Error::Device(format!("{e:?}")))?;
    let flat: Vec<f32> = data.iter::<f32>().collect();
    Ok(flat.chunks_exact(10).map(|c| std::array::from_fn(|i| c[i])).collect())
}
