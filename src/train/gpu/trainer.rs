//! The GPU engine: the whole run's state lives in a few GPU buffers (the packed training set and
//! labels, the epoch's shuffle order, the parameters, Adam's moments, the weights' average,
//! activations, deltas and per-sample statistics). A chunk of steps is one command buffer: each
//! step's scalars go up in one write, every step's `3L` dispatches read theirs at their own
//! offset, and the chunk ends with one small read of its summed loss and hits. The state goes in
//! and out in the packing every engine shares (`Layout`, `Packed`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use wgpu::util::DeviceExt;

use super::device::GpuDevice;
use super::wgsl::{self, Buffer, Groups, Kernel, STEP_BYTES, Sizes};
use crate::data::Dataset;
use crate::error::{ConfigError, Error, Result};
use crate::metrics::EvalReport;
use crate::noise::{self, Stream};
use crate::train::adam::AdamStep;
use crate::train::augment::BatchNoise;
use crate::train::average::decay_at;
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::cpu::{CpuOptions, Evaluator};
use crate::train::cursor::{Chunk, Cursor, Position, Totals, epoch_order};
use crate::train::layout::{Layout, Packed};
use crate::weights::Snapshot;

/// The largest batch the GPU engine takes (a batch's rows are one dispatch's workgroups).
pub const MAX_BATCH: usize = 8_192;
/// Steps in one chunk at most (their scalars share one buffer).
pub const MAX_CHUNK: usize = 2_047;
/// Bytes between two steps' scalars (WebGPU's alignment of dynamic uniform offsets).
const STEP_STRIDE: usize = 256;
/// Bytes of one chunk's scalars (two slots: the chunk running and the one queued behind it).
const SLOT_BYTES: usize = (MAX_CHUNK + 1) * STEP_STRIDE;

const BUFFERS: [Buffer; 12] = [
    Buffer::TrainX,
    Buffer::Labels,
    Buffer::Order,
    Buffer::Params,
    Buffer::M,
    Buffer::V,
    Buffer::Avg,
    Buffer::Acts,
    Buffer::Deltas,
    Buffer::Stats,
    Buffer::Sums,
    Buffer::Batch,
];

/// A compiled kernel bound to the run's buffers.
struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: Groups,
}

pub struct GpuTrainer {
    config: TrainConfig,
    gpu: GpuDevice,
    layout: Layout,
    train_len: usize,
    /// Where the reported chunks have brought the run.
    cursor: Cursor,
    /// Where the next chunk to queue starts (ahead of `cursor` by the chunks in flight).
    submitted: Position,
    in_flight: VecDeque<InFlight>,
    /// The state an epoch-ending chunk copied out, with the epoch it starts.
    epoch_state: Mutex<Option<(usize, Packed)>>,
    test: Dataset,
    /// The epoch whose shuffle `Order` holds.
    order_epoch: usize,
    /// The scalars' slot the last chunk used.
    slot: usize,
    ahead: bool,
    buffers: Vec<wgpu::Buffer>,
    steps: wgpu::Buffer,
    kernels: Vec<Pipeline>,
    /// The kernels' names, in dispatch order.
    names: Vec<String>,
    sum: Pipeline,
}

#[cfg(not(target_arch = "wasm32"))]
fn device_error(e: impl std::fmt::Display) -> Error {
    Error::Device(e.to_string())
}

impl GpuTrainer {
    /// A trainer on `gpu` for a new run from `weights` (`resume: None`) or one continued from a
    /// checkpoint, evaluating on `test` (on the CPU).
    pub fn start(
        config: &TrainConfig,
        train: &Dataset,
        test: &Dataset,
        weights: &Snapshot,
        resume: Option<&Checkpoint>,
        gpu: &GpuDevice,
    ) -> Result<Self> {
        config.validate()?;
        if train.is_empty() {
            return Err(ConfigError::Invalid("the training set is empty".into()).into());
        }
        if !Self::supports(config) {
            return Err(ConfigError::Invalid(format!(
                "the GPU engine takes hidden layer widths that are multiples of 4, at most {} hidden layers and batches of at most {MAX_BATCH} images",
                wgsl::MAX_HIDDEN
            ))
            .into());
        }
        if let Some(reason) = gpu.lost_reason() {
            return Err(Error::Device(reason));
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
        let sizes = Sizes::of(config, layout.clone(), train.len());
        let cursor = Cursor::new(position, train.len(), config.seed);
        let device = gpu.device();
        let words: Vec<u32> = train
            .pixels()
            .chunks_exact(wgsl::PIXELS_PER_WORD)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let labels: Vec<u32> = train.labels().iter().map(|&l| l as u32).collect();
        let order: Vec<u32> = cursor.order.iter().map(|&i| i as u32).collect();
        let avg = if state.avg.is_empty() {
            vec![0.0]
        } else {
            state.avg.clone()
        };
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let buffers: Vec<wgpu::Buffer> = BUFFERS
            .iter()
            .map(|&b| {
                let bytes = |values: &[u8]| {
                    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(&format!("{b:?}")),
                        contents: values,
                        usage,
                    })
                };
                match b {
                    Buffer::TrainX => bytes(as_bytes_u32(&words)),
                    Buffer::Labels => bytes(as_bytes_u32(&labels)),
                    Buffer::Order => bytes(as_bytes_u32(&order)),
                    Buffer::Params => bytes(as_bytes(&state.params)),
                    Buffer::M => bytes(as_bytes(&state.m)),
                    Buffer::V => bytes(as_bytes(&state.v)),
                    Buffer::Avg => bytes(as_bytes(&avg)),
                    other => device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&format!("{other:?}")),
                        size: (sizes.len(other) * 4) as u64,
                        usage,
                        mapped_at_creation: false,
                    }),
                }
            })
            .collect();
        let steps = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("steps"),
            size: (2 * SLOT_BYTES) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let (step_kernels, sum_kernel) = wgsl::kernels(&sizes);
        let compile = |k: &Kernel| compile(gpu, k, &buffers, &steps);
        let kernels = step_kernels.iter().map(compile).collect();
        let names = step_kernels.iter().map(|k| k.name.clone()).collect();
        let sum = compile(&sum_kernel);
        if let Some(reason) = gpu.lost_reason() {
            return Err(Error::Device(reason));
        }
        let trainer = Self {
            config: config.clone(),
            gpu: gpu.clone(),
            train_len: train.len(),
            test: test.clone(),
            order_epoch: epoch,
            submitted: cursor.position,
            in_flight: VecDeque::new(),
            epoch_state: Mutex::new(None),
            slot: 0,
            ahead: false,
            cursor,
            layout,
            buffers,
            steps,
            kernels,
            names,
            sum,
        };
        gpu.hold(trainer.gpu_bytes());
        Ok(trainer)
    }

    /// Whether the GPU engine takes this configuration (widths in fours, batches it can hold).
    pub fn supports(config: &TrainConfig) -> bool {
        config.model.hidden.iter().all(|h| h % 4 == 0)
            && config.model.hidden.len() <= wgsl::MAX_HIDDEN
            && config.batch_size <= MAX_BATCH
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn position(&self) -> Position {
        self.cursor.position
    }

    /// Dispatches one training step takes.
    pub fn kernels_per_step(&self) -> usize {
        self.kernels.len()
    }

    /// Bytes of GPU memory the run holds (all of it allocated at the start).
    pub fn gpu_bytes(&self) -> u64 {
        self.buffers.iter().map(wgpu::Buffer::size).sum::<u64>() + self.steps.size()
    }

    fn buffer(&self, b: Buffer) -> &wgpu::Buffer {
        &self.buffers[BUFFERS.iter().position(|&x| x == b).unwrap_or(0)]
    }

    /// Queue each chunk's successor before waiting for the chunk (see `run`). A session turns
    /// it on: it reads the state only at epoch ends, where the epoch-ending chunk's own copy
    /// stands. Elsewhere a read would see the queued chunk's steps too.
    pub fn queue_ahead(&mut self) {
        self.ahead = true;
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch, and
    /// reports them. Queuing ahead (`queue_ahead`), the next chunk is submitted before this
    /// one's read is awaited (into the next epoch too: an epoch-ending chunk copies the run's
    /// state out in its own command buffer), so the GPU never idles while the shell handles a
    /// report. The steps and their order are the same either way.
    pub async fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        if self.cursor.position.epoch >= self.config.epochs {
            return Err(ConfigError::Invalid("training already finished".into()).into());
        }
        if let Some(reason) = self.gpu.lost_reason() {
            return Err(Error::Device(reason));
        }
        if self.in_flight.is_empty() {
            self.submit(max_batches);
        }
        if self.ahead && self.in_flight.len() < 2 && self.submitted.epoch < self.config.epochs {
            self.submit(max_batches);
        }
        let Some(chunk) = self.in_flight.pop_front() else {
            return Err(Error::Device("no chunk was submitted".into()));
        };
        let mut values = self.collect(chunk.read).await?.into_iter();
        let sums = values.next().unwrap_or_default();
        let totals = Totals {
            loss: sums.first().copied().unwrap_or(f32::NAN) as f64,
            correct: sums.get(1).copied().unwrap_or(0.0) as f64,
            samples: chunk.samples as u64,
        };
        self.cursor.position.batch += chunk.batches;
        self.cursor.position.steps += chunk.batches as u64;
        if !totals.loss.is_finite() {
            return Err(Error::Diverged);
        }
        if chunk.ends_epoch {
            let state = self.unpack_state(values);
            if let Ok(mut kept) = self.epoch_state.lock() {
                *kept = Some((self.cursor.position.epoch + 1, state));
            }
        }
        Ok(self
            .cursor
            .finish_chunk(chunk.batches, totals, &self.config, chunk.learning_rate))
    }

    /// Queues the next chunk (at most `max_batches` steps from `submitted`, never past its
    /// epoch's end) with the copy of its summed loss and hits, and of the whole state when it
    /// ends an epoch, and starts mapping that copy.
    fn submit(&mut self, max_batches: usize) {
        let queue = self.gpu.queue();
        let p0 = self.submitted;
        if self.order_epoch != p0.epoch {
            let order: Vec<u32> = epoch_order(self.train_len, self.config.seed, p0.epoch)
                .iter()
                .map(|&i| i as u32)
                .collect();
            queue.write_buffer(self.buffer(Buffer::Order), 0, as_bytes_u32(&order));
            self.order_epoch = p0.epoch;
        }
        let todo = max_batches.clamp(1, MAX_CHUNK).min(p0.batches_per_epoch - p0.batch);
        let (from, _) = p0.batch_rows(self.config.batch_size, self.train_len);
        let mut params = vec![0u8; (todo + 1) * STEP_STRIDE];
        let mut rows = Vec::with_capacity(todo);
        let mut learning_rate = self.config.learning_rate;
        let mut samples = 0usize;
        for s in 0..todo {
            let p = Position {
                batch: p0.batch + s,
                steps: p0.steps + s as u64,
                ..p0
            };
            let (start, end) = p.batch_rows(self.config.batch_size, self.train_len);
            let (step, lr) = StepParams::of(&self.config, p, start, end - start);
            step.write(&mut params[s * STEP_STRIDE..]);
            rows.push(end - start);
            samples += end - start;
            learning_rate = lr;
        }
        StepParams {
            rows: samples as u32,
            start: from as u32,
            ..StepParams::default()
        }
        .write(&mut params[todo * STEP_STRIDE..]);
        // Two slots, alternating: the chunk queued ahead never writes over the scalars of the
        // one still running.
        self.slot ^= 1;
        let base = self.slot * SLOT_BYTES;
        queue.write_buffer(&self.steps, base as u64, &params);
        let mut encoder = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("chunk") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("steps"),
                timestamp_writes: None,
            });
            for (s, &r) in rows.iter().enumerate() {
                for k in &self.kernels {
                    dispatch(&mut pass, k, (base + s * STEP_STRIDE) as u32, r);
                }
            }
            dispatch(&mut pass, &self.sum, (base + todo * STEP_STRIDE) as u32, 1);
        }
        let ends_epoch = p0.batch + todo == p0.batches_per_epoch;
        let mut which = vec![Buffer::Sums];
        if ends_epoch {
            which.extend(self.state_buffers());
        }
        let read = self.copy_out(&mut encoder, &which);
        let read = self.start_read(read, queue.submit([encoder.finish()]));
        self.in_flight.push_back(InFlight {
            read,
            batches: todo,
            samples,
            learning_rate,
            ends_epoch,
        });
        self.submitted.batch += todo;
        self.submitted.steps += todo as u64;
        if ends_epoch {
            self.submitted.epoch += 1;
            self.submitted.batch = 0;
        }
    }

    /// The buffers a checkpoint holds: weights, Adam's moments and the average if kept.
    fn state_buffers(&self) -> Vec<Buffer> {
        let mut which = vec![Buffer::Params, Buffer::M, Buffer::V];
        if self.config.average > 0.0 {
            which.push(Buffer::Avg);
        }
        which
    }

    /// The state from the values of `state_buffers`, in their order.
    fn unpack_state(&self, mut values: impl Iterator<Item = Vec<f32>>) -> Packed {
        let mut next = || values.next().unwrap_or_default();
        Packed {
            params: next(),
            m: next(),
            v: next(),
            avg: if self.config.average > 0.0 { next() } else { Vec::new() },
        }
    }

    /// Milliseconds of each of a step's kernels (as named in `wgsl`), each dispatched `reps`
    /// times in a row with the last chunk's first step's scalars (on a warmed-up run).
    pub async fn profile(&self, reps: usize, clock: &dyn Fn() -> f64) -> Result<Vec<(String, f64)>> {
        let rows = self.config.batch_size.min(self.train_len);
        let mut out = Vec::new();
        for (k, name) in self.kernels.iter().zip(&self.names) {
            let started = clock();
            let mut encoder = self
                .gpu
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profile") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("profile"),
                    timestamp_writes: None,
                });
                for _ in 0..reps {
                    dispatch(&mut pass, k, 0, rows);
                }
            }
            self.gpu.queue().submit([encoder.finish()]);
            self.read(&[Buffer::Sums]).await?;
            out.push((name.clone(), (clock() - started) / reps as f64));
        }
        Ok(out)
    }

    /// Records the copy of `which` into a new mappable buffer at the end of `encoder`.
    fn copy_out(&self, encoder: &mut wgpu::CommandEncoder, which: &[Buffer]) -> (wgpu::Buffer, Vec<u64>) {
        let sizes: Vec<u64> = which.iter().map(|&b| self.buffer(b).size()).collect();
        let staging = self.gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("read"),
            size: sizes.iter().sum(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut at = 0;
        for (&b, &size) in which.iter().zip(&sizes) {
            encoder.copy_buffer_to_buffer(self.buffer(b), 0, &staging, at, size);
            at += size;
        }
        (staging, sizes)
    }

    /// Starts mapping a copy once `submission` (which made it) is done.
    fn start_read(&self, (staging, sizes): (wgpu::Buffer, Vec<u64>), submission: wgpu::SubmissionIndex) -> Read {
        let mapped = Mapped::default();
        let done = mapped.0.clone();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            Mapped::finish(&done, result.map_err(|e| e.to_string()))
        });
        Read {
            staging,
            sizes,
            mapped,
            submission,
        }
    }

    /// Waits for a read started by `start_read` and returns its buffers' values.
    async fn collect(&self, read: Read) -> Result<Vec<Vec<f32>>> {
        let Read {
            staging,
            sizes,
            mapped,
            submission,
        } = read;
        // Natively nothing moves unless polled: wait for this submission only (a chunk queued
        // behind it keeps running).
        #[cfg(not(target_arch = "wasm32"))]
        self.gpu
            .device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(device_error)?;
        #[cfg(target_arch = "wasm32")]
        drop(submission);
        mapped.await.map_err(|e| match self.gpu.lost_reason() {
            Some(reason) => Error::Device(reason),
            None => Error::Device(format!("reading from the GPU failed: {e}")),
        })?;
        let values = {
            let bytes = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Device(format!("reading from the GPU failed: {e}")))?;
            let mut at = 0usize;
            sizes
                .iter()
                .map(|&size| {
                    let part = &bytes[at..at + size as usize];
                    at += size as usize;
                    part.chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect()
                })
                .collect()
        };
        staging.unmap();
        Ok(values)
    }

    /// The values of `which` after all work queued so far, read from the GPU in one go.
    async fn read(&self, which: &[Buffer]) -> Result<Vec<Vec<f32>>> {
        let mut encoder = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read") });
        let copy = self.copy_out(&mut encoder, which);
        let read = self.start_read(copy, self.gpu.queue().submit([encoder.finish()]));
        self.collect(read).await
    }

    /// The run's state where it stands: kept from the epoch-ending chunk's own copy when the run
    /// stands at that boundary (a chunk queued since has changed the buffers), else read now.
    async fn state(&self) -> Result<Packed> {
        let p = self.cursor.position;
        if let Ok(kept) = self.epoch_state.lock()
            && let Some((epoch, state)) = kept.as_ref()
            && *epoch == p.epoch
            && p.batch == 0
        {
            return Ok(state.clone());
        }
        let read = self.read(&self.state_buffers()).await?;
        Ok(self.unpack_state(read.into_iter()))
    }

    /// The model the run reports (the average when the recipe keeps one).
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let state = self.state().await?;
        let packed = if self.config.average > 0.0 {
            &state.avg
        } else {
            &state.params
        };
        Ok(self.layout.snapshot(&self.config, packed))
    }

    /// The reported model on the test set, evaluated on the CPU.
    pub async fn evaluate(&self) -> Result<EvalReport> {
        let mut evaluator = Evaluator::new(&self.snapshot().await?, CpuOptions::best())?;
        Ok(evaluator.evaluate(&self.test))
    }

    /// Weights, moments, average and position.
    pub async fn checkpoint(&self, train_limit: Option<usize>) -> Result<Checkpoint> {
        let state = self.state().await?;
        let p = self.cursor.position;
        Ok(state.to_checkpoint(&self.layout, &self.config, p.epoch, p.steps, train_limit))
    }
}

impl Drop for GpuTrainer {
    fn drop(&mut self) {
        self.gpu.release(self.gpu_bytes());
    }
}

fn dispatch(pass: &mut wgpu::ComputePass<'_>, k: &Pipeline, offset: u32, rows: usize) {
    let (x, y, z) = k.groups.for_rows(rows);
    pass.set_pipeline(&k.pipeline);
    pass.set_bind_group(0, &k.bind_group, &[offset]);
    pass.dispatch_workgroups(x, y, z);
}

/// Compiles `kernel` and binds it to the run's buffers (its step's scalars at a dynamic offset).
fn compile(gpu: &GpuDevice, kernel: &Kernel, buffers: &[wgpu::Buffer], steps: &wgpu::Buffer) -> Pipeline {
    let device = gpu.device();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&kernel.name),
        source: wgpu::ShaderSource::Wgsl(kernel.source.as_str().into()),
    });
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: true,
            min_binding_size: wgpu::BufferSize::new(STEP_BYTES as u64),
        },
        count: None,
    }];
    entries.extend(
        kernel
            .buffers
            .iter()
            .enumerate()
            .map(|(i, &(_, write))| wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: !write },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }),
    );
    let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&kernel.name),
        entries: &entries,
    });
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&kernel.name),
        bind_group_layouts: &[Some(&bind_layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&kernel.name),
        layout: Some(&layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let mut bindings = vec![wgpu::BindGroupEntry {
        binding: 0,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: steps,
            offset: 0,
            size: wgpu::BufferSize::new(STEP_BYTES as u64),
        }),
    }];
    bindings.extend(
        kernel
            .buffers
            .iter()
            .enumerate()
            .map(|(i, &(b, _))| wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: buffers[BUFFERS.iter().position(|&x| x == b).unwrap_or(0)].as_entire_binding(),
            }),
    );
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(&kernel.name),
        layout: &bind_layout,
        entries: &bindings,
    });
    Pipeline {
        pipeline,
        bind_group,
        groups: kernel.groups,
    }
}

/// One step's scalars, in the order of WGSL's `Step` (`wgsl::COMMON`).
#[derive(Debug, Clone, Copy, Default)]
struct StepParams {
    rows: u32,
    start: u32,
    flip_key: u32,
    shift_key: u32,
    in_key: u32,
    inv_rows: f32,
    lr_t: f32,
    eps_t: f32,
    avg_keep: f32,
    avg_take: f32,
    keys: [u32; 8],
}

impl StepParams {
    /// The scalars of the step at position `p`, whose batch is rows `start..start + rows` of the
    /// epoch's order; and its learning rate.
    fn of(c: &TrainConfig, p: Position, start: usize, rows: usize) -> (Self, f64) {
        let lr = c.learning_rate_at(p.steps, p.batches_per_epoch);
        let adam = AdamStep::new(lr, p.steps + 1, c.weight_decay);
        let n = BatchNoise::new(c, p.epoch, p.batch);
        let decay = decay_at(c.average, p.steps + 1);
        let mut keys = [0u32; 8];
        for (l, key) in keys.iter_mut().enumerate().take(c.model.hidden.len()) {
            *key = noise::key(c.seed, p.epoch, p.batch, Stream::Dropout(l));
        }
        let step = Self {
            rows: rows as u32,
            start: start as u32,
            flip_key: n.flip_key,
            shift_key: n.shift_key,
            in_key: n.input_drop_key,
            inv_rows: 1.0 / rows as f32,
            lr_t: adam.lr_t,
            eps_t: adam.eps_t,
            avg_keep: decay as f32,
            avg_take: (1.0 - decay) as f32,
            keys,
        };
        (step, lr)
    }

    fn write(&self, out: &mut [u8]) {
        let words: [u32; 20] = [
            self.rows,
            self.start,
            self.flip_key,
            self.shift_key,
            self.in_key,
            self.inv_rows.to_bits(),
            self.lr_t.to_bits(),
            self.eps_t.to_bits(),
            self.avg_keep.to_bits(),
            self.avg_take.to_bits(),
            0,
            0,
            self.keys[0],
            self.keys[1],
            self.keys[2],
            self.keys[3],
            self.keys[4],
            self.keys[5],
            self.keys[6],
            self.keys[7],
        ];
        for (w, chunk) in words.iter().zip(out.chunks_exact_mut(4)) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
    }
}

fn as_bytes(values: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte is a valid u8; the length is in bytes.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}

fn as_bytes_u32(values: &[u32]) -> &[u8] {
    // SAFETY: as for `as_bytes`.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}

/// A chunk queued on the GPU, not yet reported.
struct InFlight {
    read: Read,
    batches: usize,
    samples: usize,
    learning_rate: f64,
    ends_epoch: bool,
}

/// A copy out of the GPU being mapped.
struct Read {
    staging: wgpu::Buffer,
    sizes: Vec<u64>,
    mapped: Mapped,
    submission: wgpu::SubmissionIndex,
}

/// A buffer mapping in flight: resolves when wgpu calls back.
#[derive(Default)]
struct Mapped(Arc<Mutex<MapState>>);

#[derive(Default)]
struct MapState {
    done: Option<std::result::Result<(), String>>,
    waker: Option<Waker>,
}

impl Mapped {
    fn finish(state: &Mutex<MapState>, result: std::result::Result<(), String>) {
        if let Ok(mut s) = state.lock() {
            s.done = Some(result);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl Future for Mapped {
    type Output = std::result::Result<(), String>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(mut s) = self.0.lock() else {
            return Poll::Ready(Err("the mapping's state was poisoned".into()));
        };
        match s.done.take() {
            Some(result) => Poll::Ready(result),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
