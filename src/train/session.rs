//! A whole training run as a stream of typed events. The session owns the engine, the test set,
//! the chunk sizing and the run's state (running, paused, stopped, finished, failed); the
//! shells only call `advance` in a loop, forward Pause/Resume/Stop, and translate the events
//! (worker messages in the browser, progress bars or JSON lines in the CLI).
//!
//! Events of a run, in order: `Started`, then per chunk a `Progress`, and at each epoch's end an
//! `Epoch` report followed by a `Checkpoint`; `Paused`/`Resumed` whenever asked; and at the end
//! exactly one of `Finished`, `Stopped` or `Failed`.

use std::collections::HashMap;

use super::chunking::{ChunkPolicy, RateMeter};
use super::config::TrainConfig;
use super::engine::{Compute, Engine};
use crate::data::Dataset;
use crate::data::dataset::shuffled_indices;
use crate::error::Error;
use crate::weights::{self, Snapshot};

pub use super::events::*;

pub struct Session {
    engine: Engine,
    test_len: usize,
    watch_positions: Vec<usize>,
    train_len: usize,
    train_limit: Option<usize>,
    trained_on: String,
    policy: ChunkPolicy,
    clock: Clock,
    next_batches: usize,
    rate: RateMeter,
    epoch_started_ms: f64,
    state: RunState,
    announced: bool,
    last_accuracy: f64,
}

impl Session {
    /// Sets a run up on `compute`: subsets, and the engine (a fresh model or the checkpoint's
    /// state) with its test set. Nothing is trained yet.
    pub async fn start(
        setup: SessionSetup,
        train: &Dataset,
        test: &Dataset,
        compute: &Compute,
        policy: ChunkPolicy,
        clock: Clock,
    ) -> Result<Self, Error> {
        Self::start_from(setup, train, test, compute, None, policy, clock).await
    }

    /// As `start`, with a new run beginning from `weights` instead of the seeded ones.
    pub async fn start_from(
        setup: SessionSetup,
        train: &Dataset,
        test: &Dataset,
        compute: &Compute,
        weights: Option<&Snapshot>,
        policy: ChunkPolicy,
        clock: Clock,
    ) -> Result<Self, Error> {
        let config = match &setup.resume {
            Some(c) => c.config.clone(),
            None => setup.config.clone(),
        };
        config.validate()?;
        let train_limit = match &setup.resume {
            Some(c) => c.train_limit,
            None => setup.train_limit,
        };
        let train = match train_limit {
            Some(n) if n < train.len() => train.sample(n, config.seed),
            _ => train.clone(),
        };
        let train = crate::drawings::mix_into(train, config.augment_drawings, config.seed);
        let (test, watch_positions) = test_subset(test, setup.test_limit, &setup.watch, config.seed);
        let mut engine = match weights {
            Some(w) => Engine::from_weights(&config, &train, &test, compute, w, setup.resume.as_ref()).await?,
            None => Engine::start(&config, &train, &test, compute, setup.resume.as_ref()).await?,
        };
        // A session reads the state only at epoch ends.
        engine.queue_ahead();
        let now = clock();
        Ok(Self {
            engine,
            test_len: test.len(),
            watch_positions,
            train_len: train.len(),
            train_limit,
            trained_on: setup.trained_on,
            next_batches: policy.first,
            policy,
            clock,
            rate: RateMeter::default(),
            epoch_started_ms: now,
            state: RunState::Running,
            announced: false,
            last_accuracy: f64::NAN,
        })
    }

    pub fn state(&self) -> RunState {
        self.state
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &TrainConfig {
        self.engine.config()
    }

    /// Pauses a running session (no-op otherwise).
    pub fn pause(&mut self) -> Option<Event> {
        (self.state == RunState::Running).then(|| {
            self.state = RunState::Paused;
            Event::Paused
        })
    }

    /// Resumes a paused session (no-op otherwise).
    pub fn resume(&mut self) -> Option<Event> {
        (self.state == RunState::Paused).then(|| {
            self.state = RunState::Running;
            Event::Resumed
        })
    }

    /// Ends a live session; the last checkpoint (of the last complete epoch) stands.
    pub fn stop(&mut self) -> Option<Event> {
        self.state.is_live().then(|| {
            self.state = RunState::Stopped;
            Event::Stopped {
                epoch: self.engine.position().epoch,
            }
        })
    }

    /// The next events of a running session: `Started` on the first call, then one chunk of
    /// training (with an epoch's report and checkpoint when it ends one). Nothing when the
    /// session is paused or over.
    pub async fn advance(&mut self) -> Vec<Event> {
        if self.state != RunState::Running {
            return Vec::new();
        }
        if !self.announced {
            self.announced = true;
            let p = self.engine.position();
            self.epoch_started_ms = (self.clock)();
            return vec![Event::Started(Started {
                train: self.train_len,
                test: self.test_len,
                batches_per_epoch: p.batches_per_epoch,
                epoch: p.epoch,
                epochs: self.config().epochs,
                engine: self.engine.kind(),
            })];
        }
        match self.train_chunk().await {
            Ok(events) => events,
            Err(e) => {
                self.state = RunState::Failed;
                vec![Event::Failed(Failure::from(&e))]
            }
        }
    }

    async fn train_chunk(&mut self) -> Result<Vec<Event>, Error> {
        let started = (self.clock)();
        let chunk = self.engine.run(self.next_batches).await?;
        let took = (self.clock)() - started;
        let rate = self.rate.observe(chunk.stats.samples, took);
        self.next_batches = self.policy.next(took, chunk.batches);
        let config = self.engine.config();
        let p = chunk.position;
        let remaining = (config.epochs * p.batches_per_epoch) as f64 - p.steps as f64;
        let mut events = vec![Event::Progress(Progress {
            epoch: if chunk.epoch_finished { p.epoch } else { p.epoch + 1 },
            epochs: config.epochs,
            batch: if chunk.epoch_finished {
                p.batches_per_epoch
            } else {
                p.batch
            },
            batches_per_epoch: p.batches_per_epoch,
            steps: p.steps,
            loss: chunk.stats.loss,
            accuracy: chunk.stats.accuracy,
            epoch_loss: chunk.epoch_stats.loss,
            epoch_accuracy: chunk.epoch_stats.accuracy,
            samples_per_sec: rate,
            eta_seconds: remaining * config.batch_size as f64 / rate.max(1e-9),
            learning_rate: chunk.learning_rate,
        })];
        if chunk.epoch_finished {
            let seconds = ((self.clock)() - self.epoch_started_ms) / 1000.0;
            let report = self.epoch_report(&chunk, seconds).await?;
            self.last_accuracy = report.test_accuracy;
            let extra = HashMap::from([("test_accuracy".to_string(), format!("{:.4}", report.test_accuracy))]);
            let checkpoint = self.engine.checkpoint(self.train_limit).await?;
            events.push(Event::Epoch(Box::new(report)));
            events.push(Event::Checkpoint(CheckpointReady {
                epoch: p.epoch,
                bytes: checkpoint.to_bytes(extra)?,
            }));
            self.epoch_started_ms = (self.clock)();
        }
        if chunk.finished {
            self.state = RunState::Finished;
            events.push(Event::Finished {
                epoch: p.epoch,
                test_accuracy: self.last_accuracy,
            });
        }
        Ok(events)
    }

    async fn epoch_report(&mut self, chunk: &super::Chunk, seconds: f64) -> Result<EpochReport, Error> {
        let eval = self.engine.evaluate().await?;
        let config = self.engine.config();
        let p = chunk.position;
        let mut model = self.engine.snapshot().await?;
        model.metadata = weights::training_metadata(config, p.epoch, eval.accuracy, &self.trained_on);
        Ok(EpochReport {
            epoch: p.epoch,
            epochs: config.epochs,
            train_loss: chunk.epoch_stats.loss,
            train_accuracy: chunk.epoch_stats.accuracy,
            test_loss: eval.loss,
            test_accuracy: eval.accuracy,
            confusion: eval.confusion.matrix,
            per_class_accuracy: eval.per_class_accuracy,
            watched_predictions: self
                .watch_positions
                .iter()
                .map(|&i| eval.predictions.get(i).copied().unwrap_or(0))
                .collect(),
            seconds,
            samples_per_sec: chunk.epoch_stats.samples as f64 / seconds.max(1e-9),
            weights: model.to_safetensors()?,
        })
    }
}

/// The test set a run evaluates on: all of it, or a seeded subset of `limit` images that starts
/// with the watched ones. Returns the set and where each watched image sits in it.
pub fn test_subset(test: &Dataset, limit: Option<usize>, watch: &[usize], seed: u64) -> (Dataset, Vec<usize>) {
    let watch: Vec<usize> = watch.iter().copied().filter(|&i| i < test.len()).collect();
    match limit {
        Some(n) if n < test.len() => {
            let mut keep = watch.clone();
            keep.extend(
                shuffled_indices(test.len(), seed)
                    .into_iter()
                    .map(|i| i as usize)
                    .filter(|i| !watch.contains(i))
                    .take(n.saturating_sub(watch.len())),
            );
            (test.select(&keep), (0..watch.len()).collect())
        }
        _ => (test.clone(), watch),
    }
}
