//! The CPU engine: a run's state in flat buffers (`Packed`), trained a chunk of fused steps at a
//! time (`Step`), with the batches, masks and Adam scalars every engine derives the same way
//! (`augment`, `noise`, `adam`), so a seeded run draws what it would draw on the GPU.

use super::CpuOptions;
use super::Partner;
use super::ops::{AdamScalars, Dropout};
use super::step::{Step, StepInput, StepTotals};
use crate::data::{Dataset, IMAGE_PIXELS};
use crate::error::{ConfigError, Error, Result};
use crate::metrics::EvalReport;
use crate::noise::{self, Stream};
use crate::train::adam::AdamStep;
use crate::train::augment::{self, BatchNoise};
use crate::train::average::decay_at;
use crate::train::checkpoint::Checkpoint;
use crate::train::config::TrainConfig;
use crate::train::cursor::{Chunk, Cursor, Position, Totals};
use crate::train::layout::{Layout, Packed};
use crate::weights::Snapshot;

pub struct CpuTrainer {
    config: TrainConfig,
    options: CpuOptions,
    train: Dataset,
    test: Dataset,
    step: Step,
    state: Packed,
    cursor: Cursor,
    labels: Vec<u8>,
    dropout: Vec<Dropout>,
    /// The batch's summed gradient (and, past the parameters, its loss and hits) when a batch is
    /// split into shards; `spare` takes the next shard's computed here.
    grads: Vec<f32>,
    spare: Vec<f32>,
    /// The worker computing the rest of each batch, when there is one.
    partner: Option<Partner>,
}

impl CpuTrainer {
    /// A trainer for a new run from `weights` (`resume: None`) or one continued from a
    /// checkpoint, evaluating on `test`.
    pub fn start(
        config: &TrainConfig,
        train: &Dataset,
        test: &Dataset,
        weights: &Snapshot,
        resume: Option<&Checkpoint>,
        options: CpuOptions,
    ) -> Result<Self> {
        config.validate()?;
        if train.is_empty() {
            return Err(ConfigError::Invalid("the training set is empty".into()).into());
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
        let sharded = options.shards > 1;
        let grads_len = if sharded { layout.params_len + 2 } else { 0 };
        Ok(Self {
            cursor: Cursor::new(position, train.len(), config.seed),
            grads: vec![0.0; grads_len],
            spare: vec![0.0; grads_len],
            partner: None,
            step: Step::new(options.kernels, options.threads, layout),
            labels: Vec::with_capacity(config.batch_size),
            dropout: Vec::with_capacity(config.model.hidden.len()),
            config: config.clone(),
            options,
            train: train.clone(),
            test: test.clone(),
            state,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn options(&self) -> CpuOptions {
        self.options
    }

    /// Shares each batch with `partner`, which computes the other shards' gradient.
    pub fn set_partner(&mut self, partner: Partner) {
        self.partner = Some(partner);
    }

    pub fn position(&self) -> Position {
        self.cursor.position
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch.
    pub fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        if self.cursor.position.epoch >= self.config.epochs {
            return Err(ConfigError::Invalid("training already finished".into()).into());
        }
        let todo = self.cursor.chunk_len(max_batches);
        let mut totals = Totals::default();
        let mut lr = self.config.learning_rate;
        for _ in 0..todo {
            let (rows, step) = self.step_once()?;
            lr = step;
            totals.loss += rows.loss;
            totals.correct += rows.correct as f64;
            totals.samples += rows.samples;
        }
        if !totals.loss.is_finite() {
            return Err(Error::Diverged);
        }
        Ok(self.cursor.finish_chunk(todo, totals, &self.config, lr))
    }

    /// One step on the next batch; returns what it measured and its learning rate.
    fn step_once(&mut self) -> Result<(Measured, f64)> {
        let c = &self.config.clone();
        let p = self.cursor.position;
        let (start, end) = p.batch_rows(c.batch_size, self.train.len());
        let rows = end - start;
        let batch_noise = BatchNoise::new(c, p.epoch, p.batch);
        self.dropout.clear();
        self.dropout.extend((0..c.model.hidden.len()).map(|l| {
            Dropout::new(
                noise::key(c.seed, p.epoch, p.batch, Stream::Dropout(l)),
                c.model.dropout,
            )
        }));
        let lr = c.learning_rate_at(p.steps, p.batches_per_epoch);
        let adam = AdamStep::new(lr, p.steps + 1, c.weight_decay);
        let decay = decay_at(c.average, p.steps + 1);
        let scalars = AdamScalars {
            lr_t: adam.lr_t,
            eps_t: adam.eps_t,
            weight_decay: adam.weight_decay,
            avg_keep: decay as f32,
            avg_take: (1.0 - decay) as f32,
        };
        let shards = self.options.shards.max(1);
        // The gradient buffers end with the loss and hits the workers exchange beside it.
        let len = self.state.params.len();
        // The shards this worker computes: all of them, or its own when a partner has the rest.
        let mine = match &self.partner {
            Some(partner) => partner.index..partner.index + 1,
            None => 0..shards,
        };
        let mut totals = StepTotals::default();
        let mut first = true;
        for shard in mine {
            let (lo, hi) = (start + rows * shard / shards, start + rows * (shard + 1) / shards);
            let part = self.assemble(lo, hi, start, &batch_noise);
            let input = StepInput {
                rows: hi - lo,
                labels: &self.labels,
                dropout: &self.dropout,
                keep: noise::keep_scale(c.model.dropout),
                label_smoothing: c.label_smoothing as f32,
                adam: scalars,
            };
            let t = if shards == 1 {
                self.step.train(&mut self.state, &input)
            } else if first {
                self.step
                    .shard_gradient(&self.state.params, &input, part, rows, &mut self.grads[..len])
            } else {
                let t = self
                    .step
                    .shard_gradient(&self.state.params, &input, part, rows, &mut self.spare[..len]);
                self.grads[..len]
                    .iter_mut()
                    .zip(&self.spare[..len])
                    .for_each(|(g, s)| *g += s);
                t
            };
            totals.loss += t.loss;
            totals.correct += t.correct;
            first = false;
        }
        if shards > 1 {
            if let Some(partner) = &self.partner {
                // The other worker's shard: its gradient, and its loss and hits behind it.
                let n = self.grads.len() - 2;
                self.grads[n] = totals.loss as f32;
                self.grads[n + 1] = totals.correct as f32;
                partner
                    .link
                    .borrow_mut()
                    .add_others(&mut self.grads)
                    .map_err(Error::Partner)?;
                totals.loss = self.grads[n] as f64;
                totals.correct = self.grads[n + 1] as u64;
            }
            self.step.apply(&mut self.state, &self.grads[..len], scalars);
        }
        self.cursor.position.batch += 1;
        self.cursor.position.steps += 1;
        let measured = Measured {
            loss: totals.loss,
            correct: totals.correct,
            samples: rows as u64,
        };
        Ok((measured, lr))
    }

    /// Puts the batch's rows `lo..hi` (of the epoch's order; the batch starts at `start`) in the
    /// step's input, placed and dropped out as in the whole batch, and their labels in `labels`;
    /// returns the first row's place in the batch.
    fn assemble(&mut self, lo: usize, hi: usize, start: usize, batch_noise: &BatchNoise) -> usize {
        let images = &self.cursor.order[lo..hi];
        let first_row = lo - start;
        let rows = hi - lo;
        augment::place(
            self.train.pixels(),
            images,
            first_row,
            batch_noise,
            self.step.input_mut(rows),
        );
        if batch_noise.input_drop_threshold > 0 {
            let d = Dropout {
                key: batch_noise.input_drop_key,
                threshold: batch_noise.input_drop_threshold,
                keep: batch_noise.input_keep,
                first: 0,
            };
            self.step.input_dropout(rows, d.from(first_row * IMAGE_PIXELS));
        }
        let labels = self.train.labels();
        self.labels.clear();
        self.labels.extend(images.iter().map(|&i| labels[i as usize]));
        first_row
    }

    /// The model the run reports (the weights' running average when the recipe keeps one).
    pub fn snapshot(&self) -> Snapshot {
        self.step.layout().snapshot(&self.config, self.state.reported())
    }

    /// The reported model on the test set.
    pub fn evaluate(&mut self) -> EvalReport {
        super::eval::evaluate(&mut self.step, self.state.reported(), &self.test)
    }

    /// The run's full state (exact to resume at an epoch boundary).
    pub fn checkpoint(&self, train_limit: Option<usize>) -> Checkpoint {
        let p = self.cursor.position;
        self.state
            .to_checkpoint(self.step.layout(), &self.config, p.epoch, p.steps, train_limit)
    }
}

struct Measured {
    loss: f64,
    correct: u64,
    samples: u64,
}
