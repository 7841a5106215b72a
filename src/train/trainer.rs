//! Training on burn's autodiff as a resumable state machine: `run(n)` advances at most `n`
//! batches and returns what they measured, keeping model, Adam's moments, epoch, cursor and
//! shuffle order in between, so a browser worker can train in small chunks and stay responsive.
//! Every read of device values is asynchronous and batched into one transaction per call.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};

use super::adam::{AdamStep, LayerMoments, Moments};
use super::augment::{self, BatchNoise};
use super::average::Average;
use super::checkpoint::Checkpoint;
use super::config::TrainConfig;
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::error::{ConfigError, Error, Result};
use crate::model::Mlp;
use crate::noise::{self, Stream};

use super::cursor::{Chunk, Cursor, Position, Totals};

/// The training state machine on burn's autodiff (any burn device). Batches are put together on
/// the host (`augment::batch`) and uploaded: on the CPU that is a copy, and the GPU's own trainer
/// is the fused one.
pub struct Trainer {
    config: TrainConfig,
    device: Device,
    model: Mlp,
    moments: Vec<LayerMoments>,
    average: Option<Average>,
    loss: burn::nn::loss::CrossEntropyLoss,
    pixels: Vec<u8>,
    labels: Vec<i64>,
    cursor: Cursor,
}

impl Trainer {
    /// Starts a run on `device` (autodiff is enabled on it here) with a fresh model.
    pub fn new(config: TrainConfig, train: &Dataset, device: &Device) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        let model = super::engine::seeded_model(&config, &device)?;
        Self::with_state(config, model, None, train, &device, 0)
    }

    /// Continues a run from a checkpoint: weights, Adam's moments and step count, epoch.
    pub fn resume(checkpoint: &Checkpoint, train: &Dataset, device: &Device) -> Result<Self> {
        let config = checkpoint.config.clone();
        config.validate()?;
        let device = device.clone().autodiff();
        let model = checkpoint.trained_weights().to_model(&device)?.train();
        let moments = checkpoint.moments_on(&device.clone().without_autodiff())?;
        let average = checkpoint.average_on(&device.clone().without_autodiff())?;
        let position = Position::start(checkpoint.epoch, train.len(), config.batch_size);
        if position.steps != checkpoint.adam_steps {
            return Err(ConfigError::Invalid(format!(
                "the checkpoint took {} steps in {} epochs, but this training set gives {} steps an epoch",
                checkpoint.adam_steps, checkpoint.epoch, position.batches_per_epoch
            ))
            .into());
        }
        Self::with_state(config, model, Some((moments, average)), train, &device, checkpoint.epoch)
    }

    /// Continues training `model` from the start of `epoch` with fresh optimiser moments (a
    /// model file without optimiser state).
    pub fn from_model(config: TrainConfig, model: Mlp, train: &Dataset, device: &Device, epoch: usize) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        let model = model.to_device(&device).train();
        Self::with_state(config, model, None, train, &device, epoch)
    }

    fn with_state(
        config: TrainConfig,
        model: Mlp,
        state: Option<(Vec<LayerMoments>, Option<Average>)>,
        train: &Dataset,
        device: &Device,
        epoch: usize,
    ) -> Result<Self> {
        if train.is_empty() {
            return Err(ConfigError::Invalid("the training set is empty".into()).into());
        }
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing as f32);
        let loss = CrossEntropyLossConfig::new().with_smoothing(smoothing).init(device);
        let position = Position::start(epoch, train.len(), config.batch_size);
        let (moments, average) = state.unwrap_or_else(|| {
            let moments = model
                .layers
                .iter()
                .map(|l| LayerMoments {
                    weight: Moments::zeros_like(&l.weight.val()),
                    bias: Moments::zeros_like(&bias_of(l)),
                })
                .collect();
            (moments, None)
        });
        let average = match average {
            Some(a) => Some(a),
            None if config.average > 0.0 => Some(Average::of(&model)),
            None => None,
        };
        Ok(Self {
            cursor: Cursor::new(position, train.len(), config.seed),
            pixels: train.pixels().to_vec(),
            labels: train.labels().iter().map(|&l| l as i64).collect(),
            config,
            device: device.clone(),
            model,
            moments,
            average,
            loss,
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

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &Mlp {
        &self.model
    }

    /// Adam's moments, layer by layer.
    pub fn moments(&self) -> &[LayerMoments] {
        &self.moments
    }

    /// The running average of the weights, when the recipe keeps one.
    pub fn average(&self) -> Option<&Average> {
        self.average.as_ref()
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

    /// One optimiser step on the next batch; returns the batch's summed loss and hit count
    /// (still on the device).
    fn step(&mut self) -> (Tensor<1>, Tensor<1, Int>, u64) {
        let p = self.cursor.position;
        let (start, end) = p.batch_rows(self.config.batch_size, self.labels.len());
        let images = &self.cursor.order[start..end];
        let noise = BatchNoise::new(&self.config, p.epoch, p.batch);
        let x = Tensor::<2>::from_data(
            TensorData::new(augment::batch(&self.pixels, images, &noise), [end - start, IMAGE_PIXELS]),
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
            noise::apply_dropout(h, key, dropout)
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
        let lr = self.config.learning_rate_at(p.steps + todo as u64 - 1, p.batches_per_epoch);
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
