//! The fused trainer: the whole run's state lives in a few GPU buffers on burn's own wgpu
//! runtime (the packed training set and labels, the epoch's shuffle order, the parameters,
//! Adam's moments, activations, deltas and per-sample statistics); a step is `3L` kernel
//! launches with nothing read back, and a chunk ends with one small read of its summed loss and
//! hits. The run's state goes in and out in the packing every engine shares (`Layout`,
//! `Packed`): checkpoints, the reported model, and evaluation on the CPU.

use burn::tensor::Device;
use cubecl::prelude::*;

use super::kernels;
use crate::data::Dataset;
use crate::error::{ConfigError, Error, Result};
use crate::metrics::EvalReport;
use crate::noise::{self, Stream};
use crate::train::adam::AdamStep;
use crate::train::augment::BatchNoise;
use crate::train::autodiff::device_set::pack_pixels;
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::cpu::{CpuOptions, Evaluator};
use crate::train::cursor::{Chunk, Cursor, Position, Totals};
use crate::train::layout::{Layout, Packed};
use crate::weights::Snapshot;

/// Units per workgroup (WebGPU allows 256; 64 keeps SwiftShader's task split even).
const WORKGROUP: u32 = 64;
/// The largest batch the fused step takes (one dispatch covers a batch's words).
pub const MAX_BATCH: usize = 8_192;

type Handle = cubecl::server::Handle;

/// The cubecl client of a burn wgpu device (the same queue burn itself uses), or `None` for
/// other devices.
pub fn wgpu_client(device: &Device) -> Option<cubecl::client::Client> {
    use burn_dispatch::DispatchDevice;
    match device.as_dispatch().clone().inner() {
        DispatchDevice::Cube(cube) if matches!(cube, cubecl::Device::Wgpu(_)) => Some(cube.client()),
        _ => None,
    }
}

fn device_error(e: impl std::fmt::Debug) -> Error {
    Error::Device(format!("{e:?}"))
}

pub struct GpuTrainer {
    config: TrainConfig,
    device: Device,
    client: cubecl::client::Client,
    layout: Layout,
    train_len: usize,
    cursor: Cursor,
    test: Dataset,
    /// The epoch whose shuffle `order` holds.
    order_epoch: usize,
    train_x: Handle,
    labels: Handle,
    order: Handle,
    params: Handle,
    m: Handle,
    v: Handle,
    /// The running average of the weights (a placeholder when the recipe does not average).
    avg: Handle,
    acts: Handle,
    deltas: Handle,
    stats: Handle,
    sums: Handle,
}

impl GpuTrainer {
    /// A trainer on the wgpu `device` for a new run from `weights` (`resume: None`) or one
    /// continued from a checkpoint, evaluating on `test` (on the CPU).
    pub async fn start(
        config: &TrainConfig,
        train: &Dataset,
        test: &Dataset,
        weights: &Snapshot,
        resume: Option<&Checkpoint>,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let device = device.clone().without_autodiff();
        let client = wgpu_client(&device)
            .ok_or_else(|| ConfigError::Invalid("the fused step needs a wgpu (GPU) device".into()))?;
        if train.is_empty() {
            return Err(ConfigError::Invalid("the training set is empty".into()).into());
        }
        if !Self::supports(config) {
            return Err(ConfigError::Invalid(
                "the fused GPU step needs hidden layer widths that are multiples of 4".into(),
            )
            .into());
        }
        if config.batch_size > MAX_BATCH {
            return Err(ConfigError::Invalid(format!(
                "the fused GPU step takes batches of at most {MAX_BATCH} images"
            ))
            .into());
        }
        let layout = Layout::new(&config.model.widths(), config.batch_size.min(train.len()));
        let (state, epoch) = match resume {
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
        // The kernels take a placeholder where the run keeps no average.
        let avg = if state.avg.is_empty() {
            vec![0.0]
        } else {
            state.avg.clone()
        };
        let words: Vec<u32> = pack_pixels(train.pixels()).into_iter().map(|w| w as u32).collect();
        let labels: Vec<u32> = train.labels().iter().map(|&l| l as u32).collect();
        let cursor = Cursor::new(position, train.len(), config.seed);
        let order: Vec<u32> = cursor.order.iter().map(|&i| i as u32).collect();
        let f32s = |v: &[f32]| client.create_from_slice(f32::as_bytes(v));
        let u32s = |v: &[u32]| client.create_from_slice(u32::as_bytes(v));
        Ok(Self {
            train_x: u32s(&words),
            labels: u32s(&labels),
            order: u32s(&order),
            params: f32s(&state.params),
            m: f32s(&state.m),
            v: f32s(&state.v),
            avg: f32s(&avg),
            acts: client.empty(layout.acts_len * 4),
            deltas: client.empty(layout.deltas_len * 4),
            stats: client.empty(train.len() * 2 * 4),
            sums: client.empty(2 * 4),
            order_epoch: epoch,
            train_len: train.len(),
            test: test.clone(),
            cursor,
            layout,
            config: config.clone(),
            device,
            client,
        })
    }

    /// Whether the fused step takes this configuration (widths in fours, batches it can hold);
    /// otherwise a GPU run uses burn's autodiff.
    pub fn supports(config: &TrainConfig) -> bool {
        config.model.hidden.iter().all(|h| h % 4 == 0) && config.batch_size <= MAX_BATCH
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn position(&self) -> Position {
        self.cursor.position
    }

    /// The wgpu device (without autodiff).
    pub fn device(&self) -> Device {
        self.device.clone()
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch: the
    /// launches of every step, then one read of the chunk's loss and hits.
    pub async fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        if self.cursor.position.epoch >= self.config.epochs {
            return Err(ConfigError::Invalid("training already finished".into()).into());
        }
        if self.order_epoch != self.cursor.position.epoch {
            let order: Vec<u32> = self.cursor.order.iter().map(|&i| i as u32).collect();
            self.order = self.client.create_from_slice(u32::as_bytes(&order));
            self.order_epoch = self.cursor.position.epoch;
        }
        let todo = self.cursor.chunk_len(max_batches);
        let p = self.cursor.position;
        let (from, _) = p.batch_rows(self.config.batch_size, self.train_len);
        let mut samples = 0u64;
        let mut lr = self.config.learning_rate;
        for _ in 0..todo {
            lr = self.step();
            let (start, end) = self.cursor.position.batch_rows(self.config.batch_size, self.train_len);
            samples += (end - start) as u64;
            self.cursor.position.batch += 1;
            self.cursor.position.steps += 1;
        }
        let to = from + samples as usize;
        unsafe {
            kernels::sum_stats::launch_unchecked(
                &self.client,
                CubeCount::Static(1, 1, 1),
                CubeDim::new_1d(1),
                BufferArg::from_raw_parts(self.stats.clone(), self.train_len * 2),
                BufferArg::from_raw_parts(self.sums.clone(), 2),
                from as u32,
                to as u32,
            );
        }
        let bytes = self
            .client
            .read_async(vec![self.sums.clone()])
            .await
            .map_err(device_error)?;
        let sums = f32::from_bytes(&bytes[0]);
        let totals = Totals {
            loss: sums.first().copied().unwrap_or(f32::NAN) as f64,
            correct: sums.get(1).copied().unwrap_or(0.0) as f64,
            samples,
        };
        if !totals.loss.is_finite() {
            return Err(Error::Diverged);
        }
        Ok(self.cursor.finish_chunk(todo, totals, &self.config, lr))
    }

    /// Launches one training step on the next batch; returns its learning rate.
    fn step(&self) -> f64 {
        let c = &self.config;
        let l = &self.layout;
        let w = &l.widths;
        let layers = l.layers();
        let p = self.cursor.position;
        let (start, end) = p.batch_rows(c.batch_size, self.train_len);
        let rows = (end - start) as u32;
        let lr = c.learning_rate_at(p.steps, p.batches_per_epoch);
        let adam = AdamStep::new(lr, p.steps + 1, c.weight_decay);
        let threshold = noise::drop_threshold(c.model.dropout);
        let keep = noise::keep_scale(c.model.dropout);
        let batch_noise = BatchNoise::new(c, p.epoch, p.batch);
        let units = |n: usize| CubeCount::Static(n.div_ceil(WORKGROUP as usize) as u32, 1, 1);
        let dim = CubeDim::new_1d(WORKGROUP);
        let tiles = |a: usize, b: usize| a.div_ceil(kernels::TILE as usize) * b.div_ceil(kernels::TILE as usize);
        let rows_of_4 = (rows as usize).div_ceil(4);
        // Workgroups of WORKGROUP columns by one row block each.
        let columns =
            |cols: usize, blocks: usize| CubeCount::Static(cols.div_ceil(WORKGROUP as usize) as u32, blocks as u32, 1);
        let buf = |h: &Handle, len: usize| unsafe { BufferArg::from_raw_parts(h.clone(), len) };
        let client = &self.client;
        let (acts, params, deltas) = (l.acts_len, l.params_len, l.deltas_len);
        let averaging = c.average > 0.0;
        let decay = crate::train::average::decay_at(c.average, p.steps + 1);
        let (avg_keep, avg_take) = if averaging {
            (decay as f32, (1.0 - decay) as f32)
        } else {
            (1.0, 0.0)
        };
        let avg_len = if averaging { params } else { 1 };
        // SAFETY (every launch below): each kernel guards its writes by `rows` and the layer's
        // widths, and reads only clamped indices inside the buffers sized by `Layout`.
        unsafe {
            kernels::gather::launch_unchecked(
                client,
                units(rows as usize * crate::data::IMAGE_PIXELS),
                dim,
                buf(&self.train_x, self.train_len * 196),
                buf(&self.order, self.train_len),
                buf(&self.acts, acts),
                rows,
                start as u32,
                batch_noise.flip_key,
                batch_noise.flip as u32,
                batch_noise.shift_key,
                batch_noise.max_shift,
                batch_noise.input_drop_key,
                batch_noise.input_drop_threshold,
                batch_noise.input_keep,
            );
            for k in 0..layers - 1 {
                kernels::dense::launch_unchecked(
                    client,
                    columns(w[k + 1] / 4, rows_of_4),
                    dim,
                    buf(&self.acts, acts / 4),
                    buf(&self.params, params / 4),
                    rows,
                    w[k] as u32,
                    w[k + 1] as u32,
                    l.input[k] as u32,
                    l.input[k + 1] as u32,
                    l.weight[k] as u32,
                    l.bias[k] as u32,
                    threshold,
                    keep,
                    noise::key(c.seed, p.epoch, p.batch, Stream::Dropout(k)),
                );
            }
            let last = layers - 1;
            kernels::head::launch_unchecked(
                client,
                units(rows as usize),
                dim,
                buf(&self.acts, acts),
                buf(&self.params, params),
                buf(&self.deltas, deltas),
                buf(&self.stats, self.train_len * 2),
                buf(&self.labels, self.train_len),
                buf(&self.order, self.train_len),
                rows,
                w[last] as u32,
                l.input[last] as u32,
                l.weight[last] as u32,
                l.bias[last] as u32,
                l.delta[last] as u32,
                start as u32,
                start as u32,
                c.label_smoothing as f32,
                1.0 / rows as f32,
            );
            for k in (0..layers - 1).rev() {
                kernels::backward::launch_unchecked(
                    client,
                    units(tiles(rows as usize, w[k + 1])),
                    dim,
                    buf(&self.acts, acts),
                    buf(&self.params, params),
                    buf(&self.deltas, deltas),
                    rows,
                    w[k + 1] as u32,
                    w[k + 2] as u32,
                    l.input[k + 1] as u32,
                    l.delta[k + 1] as u32,
                    l.delta[k] as u32,
                    l.weight[k + 1] as u32,
                    keep,
                );
            }
            for k in 0..layers {
                kernels::adam::launch_unchecked(
                    client,
                    columns(w[k + 1], w[k].div_ceil(kernels::ROWS as usize) + 1),
                    dim,
                    buf(&self.params, params),
                    buf(&self.m, params),
                    buf(&self.v, params),
                    buf(&self.avg, avg_len),
                    buf(&self.acts, acts),
                    buf(&self.deltas, deltas),
                    rows,
                    w[k] as u32,
                    w[k + 1] as u32,
                    l.input[k] as u32,
                    l.delta[k] as u32,
                    l.weight[k] as u32,
                    l.bias[k] as u32,
                    adam.lr_t,
                    adam.eps_t,
                    adam.weight_decay,
                    avg_keep,
                    avg_take,
                );
            }
        }
        lr
    }

    async fn read(&self, handles: Vec<Handle>) -> Result<Vec<Vec<f32>>> {
        let bytes = self.client.read_async(handles).await.map_err(device_error)?;
        Ok(bytes.iter().map(|b| f32::from_bytes(b).to_vec()).collect())
    }

    /// The buffer holding the model the run reports: the average when the recipe averages.
    fn of_record(&self) -> Handle {
        if self.config.average > 0.0 {
            self.avg.clone()
        } else {
            self.params.clone()
        }
    }

    /// The model the run reports, read from the device.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let packed = self.read(vec![self.of_record()]).await?;
        Ok(self.layout.snapshot(&self.config, &packed[0]))
    }

    /// The reported model on the test set, evaluated on the CPU.
    pub async fn evaluate(&self) -> Result<EvalReport> {
        let mut evaluator = Evaluator::new(&self.snapshot().await?, CpuOptions::best())?;
        Ok(evaluator.evaluate(&self.test))
    }

    /// Weights, moments, average and position in one read.
    pub async fn checkpoint(&self, train_limit: Option<usize>) -> Result<Checkpoint> {
        let averaging = self.config.average > 0.0;
        let mut handles = vec![self.params.clone(), self.m.clone(), self.v.clone()];
        if averaging {
            handles.push(self.avg.clone());
        }
        let mut read = self.read(handles).await?.into_iter();
        let mut next = || read.next().unwrap_or_default();
        let state = Packed {
            params: next(),
            m: next(),
            v: next(),
            avg: if averaging { next() } else { Vec::new() },
        };
        let p = self.cursor.position;
        Ok(state.to_checkpoint(&self.layout, &self.config, p.epoch, p.steps, train_limit))
    }
}
