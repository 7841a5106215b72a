//! The engine a run trains on, chosen by `Compute`: the CPU engine (`cpu`, everywhere), the GPU
//! engine (`gpu`, feature `gpu`) or burn's autodiff (`autodiff`, feature `ml`, the reference).
//! All three start from the same weights (`init`), draw the same batches and masks and apply
//! the same Adam, checkpoint in the same packing, and differ only by float rounding.

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::config::TrainConfig;
use super::cpu::{CpuOptions, CpuTrainer};
use super::cursor::{Chunk, Position};
use super::init::initial_weights;
use crate::data::Dataset;
use crate::error::Result;
use crate::metrics::EvalReport;
use crate::weights::Snapshot;

/// Where a run computes.
#[derive(Clone)]
pub enum Compute {
    /// The CPU engine.
    Cpu(CpuOptions),
    /// The CPU engine sharing each batch with another worker (`options.shards` parts).
    CpuShard(CpuOptions, super::cpu::Partner),
    /// The GPU engine.
    #[cfg(feature = "gpu")]
    Gpu(super::gpu::GpuDevice),
    /// burn's autodiff on any burn device (the reference).
    #[cfg(feature = "ml")]
    Autodiff(burn::tensor::Device),
}

/// Which engine trains a run (what the shells report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Cpu,
    Gpu,
    Autodiff,
}

/// A run's engine.
pub enum Engine {
    Cpu(Box<CpuTrainer>),
    #[cfg(feature = "gpu")]
    Gpu(Box<super::gpu::GpuTrainer>),
    #[cfg(feature = "ml")]
    Autodiff(Box<super::autodiff::Trainer>),
}

/// Calls the same method on whichever engine it is.
macro_rules! each {
    ($self:expr, $t:ident => $e:expr) => {
        match $self {
            Engine::Cpu($t) => $e,
            #[cfg(feature = "gpu")]
            Engine::Gpu($t) => $e,
            #[cfg(feature = "ml")]
            Engine::Autodiff($t) => $e,
        }
    };
}

impl Engine {
    /// An engine for a new run (`resume: None`, from `initial_weights`) or one continued from a
    /// checkpoint, training on `train` and evaluating on `test`.
    pub async fn start(
        config: &TrainConfig,
        train: &Dataset,
        test: &Dataset,
        compute: &Compute,
        resume: Option<&Checkpoint>,
    ) -> Result<Self> {
        let fresh;
        let weights = match resume {
            Some(c) => &c.weights,
            None => {
                fresh = initial_weights(config)?;
                &fresh
            }
        };
        Self::from_weights(config, train, test, compute, weights, resume).await
    }

    /// As `start`, a new run beginning from `weights` instead of the seeded ones (fine-tuning).
    pub async fn from_weights(
        config: &TrainConfig,
        train: &Dataset,
        test: &Dataset,
        compute: &Compute,
        weights: &Snapshot,
        resume: Option<&Checkpoint>,
    ) -> Result<Self> {
        Ok(match compute {
            Compute::Cpu(options) => Engine::Cpu(Box::new(CpuTrainer::start(
                config, train, test, weights, resume, *options,
            )?)),
            Compute::CpuShard(options, partner) => {
                let mut trainer = CpuTrainer::start(config, train, test, weights, resume, *options)?;
                trainer.set_partner(partner.clone());
                Engine::Cpu(Box::new(trainer))
            }
            #[cfg(feature = "gpu")]
            Compute::Gpu(gpu) => Engine::Gpu(Box::new(super::gpu::GpuTrainer::start(
                config, train, test, weights, resume, gpu,
            )?)),
            #[cfg(feature = "ml")]
            Compute::Autodiff(device) => Engine::Autodiff(Box::new(super::autodiff::Trainer::start(
                config, train, test, weights, resume, device,
            )?)),
        })
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::Cpu(_) => EngineKind::Cpu,
            #[cfg(feature = "gpu")]
            Engine::Gpu(_) => EngineKind::Gpu,
            #[cfg(feature = "ml")]
            Engine::Autodiff(_) => EngineKind::Autodiff,
        }
    }

    pub fn config(&self) -> &TrainConfig {
        each!(self, t => t.config())
    }

    pub fn position(&self) -> Position {
        each!(self, t => t.position())
    }

    pub fn is_finished(&self) -> bool {
        self.position().epoch >= self.config().epochs
    }

    /// Lets the engine queue work ahead of what it has reported (the GPU engine queues the next
    /// chunk before waiting for this one). Only the state at epoch ends is then exact.
    pub fn queue_ahead(&mut self) {
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(t) = self {
            t.queue_ahead();
        }
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch.
    pub async fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        match self {
            Engine::Cpu(t) => t.run(max_batches),
            #[cfg(feature = "gpu")]
            Engine::Gpu(t) => t.run(max_batches).await,
            #[cfg(feature = "ml")]
            Engine::Autodiff(t) => t.run(max_batches).await,
        }
    }

    /// The model the run reports (the weights' running average when the recipe keeps one).
    pub async fn snapshot(&self) -> Result<Snapshot> {
        match self {
            Engine::Cpu(t) => Ok(t.snapshot()),
            #[cfg(feature = "gpu")]
            Engine::Gpu(t) => t.snapshot().await,
            #[cfg(feature = "ml")]
            Engine::Autodiff(t) => t.snapshot().await,
        }
    }

    /// The reported model on the test set.
    pub async fn evaluate(&mut self) -> Result<EvalReport> {
        match self {
            Engine::Cpu(t) => Ok(t.evaluate()),
            #[cfg(feature = "gpu")]
            Engine::Gpu(t) => t.evaluate().await,
            #[cfg(feature = "ml")]
            Engine::Autodiff(t) => t.evaluate().await,
        }
    }

    /// The run's full state (only meaningful at an epoch boundary, where resuming is exact).
    pub async fn checkpoint(&self, train_limit: Option<usize>) -> Result<Checkpoint> {
        match self {
            Engine::Cpu(t) => Ok(t.checkpoint(train_limit)),
            #[cfg(feature = "gpu")]
            Engine::Gpu(t) => t.checkpoint(train_limit).await,
            #[cfg(feature = "ml")]
            Engine::Autodiff(t) => t.checkpoint(train_limit).await,
        }
    }
}
