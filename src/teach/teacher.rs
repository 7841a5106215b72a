//! "Teach": fine-tunes a model on the user's drawings, mixed with a replay of Fashion-MNIST
//! training images so that it keeps what it knew, and measures what that did before anyone
//! decides to keep it.
//!
//! The measurement is honest about the drawings: they are split into folds (stratified by
//! class, seeded), a model is taught on all folds but one and scored on the one it never saw,
//! and the held-out scores of every fold make "accuracy on your drawings after". The model the
//! user keeps is then taught on every drawing, and scored on the Fashion-MNIST test set.
//! Before/after come from the same drawings and test images, in one run.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::user_set::UserSet;
use crate::data::dataset::shuffled_indices;
use crate::data::{Dataset, NUM_CLASSES};
use crate::error::{Result, TeachError};
use crate::model::MlpConfig;
use crate::train::cpu::{CpuOptions, Evaluator};
use crate::train::{Compute, Engine, LrSchedule, TrainConfig};
use crate::weights::Snapshot;

/// How a model is taught. The defaults are measured (`scripts/bench/teach.sh`, docs/RESULTS.md):
/// with 20 outline drawings a class taught to the shipped model, a rate ten times lower than
/// 0.0003 lost a third as much of the test set for more on the outlines, and a longer teaching
/// or more replay changed neither.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeachOptions {
    /// Times each drawing is seen.
    pub epochs: usize,
    /// Fashion-MNIST training images per drawing seen, drawn afresh (the replay).
    pub replay: f64,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Folds of the drawings for the held-out measurement (fewer when there are fewer drawings;
    /// 0 skips the measurement and teaches on all of them at once).
    pub folds: usize,
    /// The taught model is the running average of the weights with this decay per step,
    /// starting from the model taught (0: the last weights).
    pub average: f64,
    pub seed: u64,
}

impl Default for TeachOptions {
    fn default() -> Self {
        Self {
            epochs: 20,
            replay: 0.5,
            learning_rate: 0.00003,
            batch_size: 64,
            folds: 5,
            average: 0.99,
            seed: 1,
        }
    }
}

impl TeachOptions {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(crate::error::ConfigError::Invalid(m).into());
        if !(1..=1000).contains(&self.epochs) {
            return bad(format!(
                "{} passes over the drawings must be within 1..=1000",
                self.epochs
            ));
        }
        if !self.replay.is_finite() || !(0.0..=100.0).contains(&self.replay) {
            return bad(format!(
                "a replay of {} images per drawing must be within 0..=100",
                self.replay
            ));
        }
        if self.folds == 1 || self.folds > 20 {
            return bad(format!("{} folds: use 0 (no measurement) or 2..=20", self.folds));
        }
        // The rest is a training configuration's.
        self.config(&MlpConfig::default()).validate()?;
        Ok(())
    }

    /// The training configuration of one teaching: constant rate, the improved recipe's
    /// regularisation, no augmentation (the drawings are already what the pad gives the model).
    fn config(&self, model: &MlpConfig) -> TrainConfig {
        let recipe = TrainConfig::improved();
        TrainConfig {
            model: model.clone(),
            epochs: 1,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            schedule: LrSchedule::Constant,
            average: self.average,
            augment_drawings: 0.0,
            seed: self.seed,
            ..recipe
        }
    }
}

/// What teaching did, measured before the model is kept or discarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeachReport {
    pub drawings: usize,
    /// Folds of the held-out measurement (0: none was made).
    pub folds: usize,
    /// Accuracy on the user's drawings: the model before, and models taught without them (each
    /// drawing scored by the model that did not see it). `None` without a measurement.
    pub drawings_accuracy_before: Option<f64>,
    pub drawings_accuracy_after: Option<f64>,
    /// Accuracy on the Fashion-MNIST test set before, and of the model taught on every drawing.
    pub test_accuracy_before: f64,
    pub test_accuracy_after: f64,
    pub test_images: usize,
    /// Training steps of the whole teaching, folds included.
    pub steps: usize,
}

/// What `Teacher::advance` reports.
#[derive(Debug, Clone, PartialEq)]
pub enum TeachEvent {
    Progress { steps_done: usize, steps_total: usize },
    Done(Box<Taught>),
}

/// The taught model and what teaching did.
#[derive(Debug, Clone, PartialEq)]
pub struct Taught {
    pub model: Snapshot,
    pub report: TeachReport,
}

/// One fine-tuning of the plan: on all drawings but fold `Some(i)`, or on every drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Job {
    Fold(usize),
    Final,
}

pub struct Teacher {
    model: Snapshot,
    drawings: Dataset,
    fold_of: Vec<usize>,
    folds: usize,
    replay: Dataset,
    test: Dataset,
    options: TeachOptions,
    compute: Compute,
    jobs: VecDeque<Job>,
    current: Option<(Job, Engine)>,
    held_out_hits: usize,
    steps_done: usize,
    steps_total: usize,
    drawings_before: Option<f64>,
    test_before: f64,
}

impl Teacher {
    /// Plans the teaching of `model` with `set`, replaying images of `replay` and scoring on
    /// `test`. Refuses an empty set or one of a single class.
    pub fn new(
        model: &Snapshot,
        set: &UserSet,
        replay: Dataset,
        test: Dataset,
        options: TeachOptions,
        compute: Compute,
    ) -> Result<Self> {
        options.validate()?;
        set.check_teachable()?;
        if replay.is_empty() && options.replay > 0.0 {
            return Err(crate::error::ConfigError::Invalid(
                "a replay of Fashion-MNIST images needs the training set".into(),
            )
            .into());
        }
        let drawings = set.to_dataset()?;
        let folds = if options.folds == 0 {
            0
        } else {
            options.folds.min(drawings.len())
        };
        let fold_of = stratified_folds(drawings.labels(), folds.max(1), options.seed);
        let mut evaluator = Evaluator::new(model, CpuOptions::best())?;
        let drawings_before = (folds > 0).then(|| evaluator.evaluate(&drawings).accuracy);
        let test_before = evaluator.evaluate(&test).accuracy;
        let mut jobs: VecDeque<Job> = (0..folds).map(Job::Fold).collect();
        jobs.push_back(Job::Final);
        let mut teacher = Self {
            model: model.clone(),
            drawings,
            fold_of,
            folds,
            replay,
            test,
            options,
            compute,
            jobs,
            current: None,
            held_out_hits: 0,
            steps_done: 0,
            steps_total: 0,
            drawings_before,
            test_before,
        };
        teacher.steps_total = teacher.jobs.iter().map(|&j| teacher.steps_of(j)).sum();
        Ok(teacher)
    }

    /// Steps the whole teaching takes.
    pub fn steps_total(&self) -> usize {
        self.steps_total
    }

    /// The drawings a job teaches with.
    fn taught_in(&self, job: Job) -> Vec<usize> {
        (0..self.drawings.len())
            .filter(|&i| job == Job::Final || Job::Fold(self.fold_of[i]) != job)
            .collect()
    }

    /// A job's training set: its drawings `epochs` times over, and as many fresh replay images
    /// as `replay` says, shuffled together by the engine.
    fn training_set(&self, job: Job) -> Dataset {
        let taught = self.taught_in(job);
        let (seen, replayed) = self.mix(taught.len());
        let salt = match job {
            Job::Fold(i) => i as u64 + 1,
            Job::Final => 0,
        };
        let mut rows: Vec<usize> = Vec::with_capacity(seen);
        for _ in 0..self.options.epochs {
            rows.extend(&taught);
        }
        let mine = self.drawings.select(&rows);
        let replay = self
            .replay
            .sample(replayed, self.options.seed.wrapping_mul(31).wrapping_add(salt));
        let mut pixels = mine.pixels().to_vec();
        pixels.extend_from_slice(replay.pixels());
        let mut labels = mine.labels().to_vec();
        labels.extend_from_slice(replay.labels());
        Dataset::new(pixels, labels).unwrap_or(mine)
    }

    /// Drawings seen and images replayed when teaching `taught` drawings.
    fn mix(&self, taught: usize) -> (usize, usize) {
        let seen = taught * self.options.epochs;
        let replayed = ((seen as f64 * self.options.replay).round() as usize).min(self.replay.len());
        (seen, replayed)
    }

    fn steps_of(&self, job: Job) -> usize {
        let (seen, replayed) = self.mix(self.taught_in(job).len());
        (seen + replayed).div_ceil(self.options.batch_size.max(1))
    }

    /// Trains at most `max_batches` more steps; the last call returns the taught model and the
    /// report. Between calls a shell can show progress or drop the teacher (cancel).
    pub async fn advance(&mut self, max_batches: usize) -> Result<TeachEvent> {
        if self.current.is_none() {
            let Some(job) = self.jobs.pop_front() else {
                return Err(TeachError::Cancelled.into());
            };
            let train = self.training_set(job);
            let config = self.options.config(&self.model.config);
            let engine =
                Engine::from_weights(&config, &train, &self.test.take(1), &self.compute, &self.model, None).await?;
            self.current = Some((job, engine));
        }
        let Some((job, engine)) = self.current.as_mut() else {
            return Err(TeachError::Cancelled.into());
        };
        let chunk = engine.run(max_batches).await?;
        self.steps_done += chunk.batches;
        if !chunk.finished {
            return Ok(self.progress());
        }
        let job = *job;
        let taught = engine.snapshot().await?;
        self.current = None;
        let mut evaluator = Evaluator::new(&taught, CpuOptions::best())?;
        match job {
            Job::Fold(i) => {
                let held: Vec<usize> = (0..self.drawings.len()).filter(|&d| self.fold_of[d] == i).collect();
                let report = evaluator.evaluate(&self.drawings.select(&held));
                self.held_out_hits += (report.accuracy * held.len() as f64).round() as usize;
                Ok(self.progress())
            }
            Job::Final => {
                let test_after = evaluator.evaluate(&self.test).accuracy;
                let mut model = taught;
                model.metadata = self.model.metadata.clone();
                model
                    .metadata
                    .insert("taught_drawings".into(), self.drawings.len().to_string());
                model
                    .metadata
                    .insert("test_accuracy".into(), format!("{test_after:.4}"));
                let report = TeachReport {
                    drawings: self.drawings.len(),
                    folds: self.folds,
                    drawings_accuracy_before: self.drawings_before,
                    drawings_accuracy_after: (self.folds > 0)
                        .then(|| self.held_out_hits as f64 / self.drawings.len() as f64),
                    test_accuracy_before: self.test_before,
                    test_accuracy_after: test_after,
                    test_images: self.test.len(),
                    steps: self.steps_done,
                };
                Ok(TeachEvent::Done(Box::new(Taught { model, report })))
            }
        }
    }

    fn progress(&self) -> TeachEvent {
        TeachEvent::Progress {
            steps_done: self.steps_done,
            steps_total: self.steps_total,
        }
    }

    /// The whole teaching at once (the CLI).
    pub async fn run(mut self, mut on_progress: impl FnMut(usize, usize)) -> Result<Taught> {
        loop {
            match self.advance(50).await? {
                TeachEvent::Progress {
                    steps_done,
                    steps_total,
                } => on_progress(steps_done, steps_total),
                TeachEvent::Done(taught) => return Ok(*taught),
            }
        }
    }
}

/// Each drawing's fold: within each class, in a seeded order, folds dealt in turn (so every
/// fold holds about the same share of each class).
fn stratified_folds(labels: &[u8], folds: usize, seed: u64) -> Vec<usize> {
    let mut fold_of = vec![0; labels.len()];
    // One running offset across classes keeps small classes from all landing in fold 0.
    let mut offset = 0;
    let order = shuffled_indices(labels.len(), seed);
    for class in 0..NUM_CLASSES as u8 {
        let mut dealt = 0;
        for &i in &order {
            if labels[i as usize] == class {
                fold_of[i as usize] = (offset + dealt) % folds;
                dealt += 1;
            }
        }
        offset += dealt;
    }
    fold_of
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_hold_every_class_in_turn() {
        let labels: Vec<u8> = (0..60).map(|i| (i % 3) as u8).collect();
        let folds = stratified_folds(&labels, 5, 7);
        for f in 0..5 {
            for c in 0..3 {
                let n = (0..60).filter(|&i| folds[i] == f && labels[i] == c).count();
                assert_eq!(n, 4, "fold {f}, class {c}");
            }
        }
        assert_ne!(folds, stratified_folds(&labels, 5, 8), "the seed chooses the folds");
        // Two drawings of two classes: each in its own fold.
        let two = stratified_folds(&[0, 1], 2, 1);
        assert_ne!(two[0], two[1]);
    }
}
