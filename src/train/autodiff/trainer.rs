//! burn's autodiff as a resumable training engine: the reference every fused engine is tested
//! against (tests/native/engines.rs), and a CLI option (`--backend ndarray`). `run(n)` advances at
//! most `n` batches, keeping model, Adam's moments, epoch, cursor and shuffle order in between.
//! Every read of device values is asynchronous and batched into one transaction per call.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};

use super::device_set::DeviceSet;
use super::state::{self, Average, LayerMoments};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::error::{ConfigError, Error, Result};
use crate::metrics::EvalReport;
use crate::model::Mlp;
use crate::noise::{self, Stream};
use crate::train::adam::AdamStep;
use crate::train::augment::{self, BatchNoise};
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::cursor::{Chunk, Cursor, Position, Totals};
use crate::train::layout::{Layout, Packed};
use crate::weights::Snapshot;

/// The training state machine on burn's autodiff (any burn device). Batches are put together on
/// the host (`augment::batch`) and uploaded.
pub struct Trainer {
    config: TrainConfig,
    device: Device,
    layout: Layout,
    model: Mlp,
    moments: Vec<LayerMoments>,
    average: Option<Average>,
    loss: burn::nn::loss::CrossEntropyLoss,
    pixels: Vec<u8>,
    labels: Vec<i64>,
    cursor: Cursor,
    test: DeviceSet,
}

impl Trainer {
    /// A trainer on `device` (autodiff is enabled on it here) for a new run from `weights`
    /// (`resume: None`) or one continued from a checkpoint, evaluating on `test`.
    pub fn start(
        config: &TrainConfig,
        train: &Dataset,
        test: &Dataset,
        weights: &Snapshot,
        resume: Option<&Checkpoint>,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        if train.is_empty() {
            return Err(ConfigError::Invalid("the training set is empty".into()).into());
        }
        let layout = Layout::new(&config.model.widths(), config.batch_size.min(train.len()));
        let (packed, epoch) = match resume {
            Some(c) => (Packed::from_checkpoint(&layout, c)?, c.epoch),
            None => (Packed::fresh(&layout, weights, config.average > 0.0)?, 0),
        };
        let position = Position::start(epoch, train.len(), config.batch_size);
        if let Some(c) = resume.filter(|c| c.adam_steps != position.steps) {
            return Err(ConfigError::Invalid(format!(
                "the checkpoint took {} steps in {} epochs, but this training set gives {} steps an epoch",
                c.adam_steps, c.epoch, position.batches_per_epoch
            ))
            .into());
        }
        let plain = device.clone().without_autodiff();
        let device = device.clone().autodiff();
        let model = layout.snapshot(config, &packed.params).to_model(&device)?.train();
        let average = (!packed.avg.is_empty()).then(|| Average {
            layers: state::layers_from(&layout, &packed.avg, &plain),
        });
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing as f32);
        Ok(Self {
            moments: state::moments_from(&layout, &packed, &plain),
            loss: CrossEntropyLossConfig::new().with_smoothing(smoothing).init(&device),
            cursor: Cursor::new(position, train.len(), config.seed),
            pixels: train.pixels().to_vec(),
            labels: train.labels().iter().map(|&l| l as i64).collect(),
            test: DeviceSet::upload(test, &plain),
            config: config.clone(),
            device,
            layout,
            model,
            average,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn position(&self) -> Position {
        self.cursor.position
    }

    pub fn is_finished(&self) -> bool {
        self.cursor.position.epoch >= self.config.epochs
    }

    /// The model a run reports and saves: the averaged weights when the recipe averages,
    /// else the trained ones (on the trainer's device, without autodiff).
    pub fn model_of_record(&self) -> Mlp {
        match &self.average {
            Some(a) => a.model(&self.model),
            None => self.model.valid(),
        }
    }

    /// The device the trainer runs on, without autodiff (for evaluation sets).
    pub fn eval_device(&self) -> Device {
        self.device.clone().without_autodiff()
    }

    /// The model the run reports, read from the device.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let packed = state::read_packed(state::model_layers(&self.model_of_record())).await?;
        Ok(self.layout.snapshot(&self.config, &packed))
    }

    /// The reported model on the test set.
    pub async fn evaluate(&self) -> Result<EvalReport> {
        super::eval::evaluate(&self.model_of_record(), &self.test).await
    }

    /// The run's full state, read from the device in one go.
    pub async fn checkpoint(&self, train_limit: Option<usize>) -> Result<Checkpoint> {
        let packed = state::packed(&self.model, &self.moments, self.average.as_ref()).await?;
        let p = self.cursor.position;
        Ok(packed.to_checkpoint(&self.layout, &self.config, p.epoch, p.steps, train_limit))
    }

    /// One optimiser step on the next batch; returns the batch's summed loss and hit count
    /// (still on the device).
    fn step(&mut self) -> (Tensor<1>, Tensor<1, Int>, u64) {
        let p = self.cursor.position;
        let (start, end) = p.batch_rows(self.config.batch_size, self.labels.len());
        let images = &self.cursor.order[start..end];
        let noise = BatchNoise::new(&self.config, p.epoch, p.batch);
        let x = Tensor::<2>::from_data(
            TensorData::new(
                augment::batch(&self.pixels, images, &noise),
                [end - start, IMAGE_PIXELS],
            ),
            &self.device,
        );
        let labels: Vec<i64> = images.iter().map(|&i| self.labels[i as usize]).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [end - start]), &self.device);
        let dropout = self.config.model.dropout;
        let seed = self.config.seed;
        let mut layer = 0;
        let logits = self.model.forward_with(x, |h| {
            let key = noise::key(seed, p.epoch, p.batch, Stream::Dropout(layer));
            layer += 1;
            apply_dropout(h, key, dropout)
        });
        let loss = self.loss.forward(logits.clone(), y.clone());
        let rows = (end - start) as u64;
        let loss_sum = loss.clone().without_autodiff().mul_scalar(rows as f64);
        let hits = logits
            .without_autodiff()
            .argmax(1)
            .reshape([rows as usize])
            .equal(y.without_autodiff())
            .int()
            .sum();
        let mut grads = loss.backward();
        let lr = self.config.learning_rate_at(p.steps, p.batches_per_epoch);
        let adam = AdamStep::new(lr, p.steps + 1, self.config.weight_decay);
        for (layer, moments) in self.model.layers.iter_mut().zip(&mut self.moments) {
            let w = layer.weight.val();
            if let Some(g) = w.grad_remove(&mut grads) {
                let next = moments.weight.update(w.without_autodiff(), g, &adam);
                layer.weight = layer.weight.clone().map(|_| next.autodiff().require_grad());
            }
            let b = bias_of(layer);
            if let Some(g) = b.grad_remove(&mut grads) {
                let next = moments.bias.update(b.without_autodiff(), g, &adam);
                layer.bias = layer.bias.clone().map(|p| p.map(|_| next.autodiff().require_grad()));
            }
        }
        if let Some(average) = &mut self.average {
            average.update(&self.model, self.config.average, p.steps + 1);
        }
        self.cursor.position.batch += 1;
        self.cursor.position.steps += 1;
        (loss_sum, hits, rows)
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch.
    pub async fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        if self.is_finished() {
            return Err(ConfigError::Invalid("training already finished".into()).into());
        }
        let todo = self.cursor.chunk_len(max_batches);
        let p = self.cursor.position;
        let lr = self
            .config
            .learning_rate_at(p.steps + todo as u64 - 1, p.batches_per_epoch);
        let eval_device = self.eval_device();
        let mut loss_sum = Tensor::<1>::zeros([1], &eval_device);
        let mut correct = Tensor::<1, Int>::zeros([1], &eval_device);
        let mut samples = 0u64;
        for _ in 0..todo {
            let (l, c, rows) = self.step();
            loss_sum = loss_sum + l;
            correct = correct + c;
            samples += rows;
        }
        let data = Transaction::default()
            .register(loss_sum)
            .register(correct)
            .execute_async()
            .await
            .map_err(|e| Error::Device(format!("{e:?}")))?;
        let totals = Totals {
            loss: data[0].iter::<f64>().next().unwrap_or(f64::NAN),
            correct: data[1].iter::<f64>().next().unwrap_or(0.0),
            samples,
        };
        if !totals.loss.is_finite() {
            return Err(Error::Diverged);
        }
        Ok(self.cursor.finish_chunk(todo, totals, &self.config, lr))
    }
}

/// A layer's bias (the model always has one; burn's type makes it optional).
fn bias_of(layer: &burn::nn::Linear) -> Tensor<1> {
    match &layer.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([layer.weight.dims()[1]], &layer.weight.device()),
    }
}

/// `x` (`[rows, cols]`) with the dropout mask of `key` at rate `prob` applied (`noise`'s rule).
fn apply_dropout(x: Tensor<2>, key: u32, prob: f64) -> Tensor<2> {
    if prob <= 0.0 {
        return x;
    }
    let [rows, cols] = x.dims();
    let mask = noise::dropout_mask(key, rows, cols, prob);
    let device = x.device();
    x * Tensor::from_data(TensorData::new(mask, [rows, cols]), &device)
}
