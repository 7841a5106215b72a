//! The trainer a device gets. On the CPU (and wherever asked) it is burn's autodiff; on a GPU
//! it is the fused training step (`crate::gpu`), a dozen kernels per step. Both read and write
//! the same burn `Mlp`, apply the same Adam and draw the same dropout masks, so a run's numbers
//! do not depend on which one trained it beyond float rounding.

use std::collections::HashMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::config::TrainConfig;
use super::device_set::DeviceSet;
use super::cursor::{Chunk, Position};
use super::trainer::Trainer;
use crate::data::Dataset;
use crate::error::Result;
use crate::metrics::EvalReport;
use crate::model::Mlp;
use crate::weights;

/// Which training step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// The fused GPU step on a GPU device, burn's autodiff elsewhere.
    #[default]
    Auto,
    /// burn's autodiff on any device (the reference the fused step is checked against).
    Autodiff,
    /// The fused GPU step (an error on a CPU device).
    Fused,
}

#[cfg(feature = "gpu")]
fn fused_supports(config: &TrainConfig) -> bool {
    crate::gpu::FusedTrainer::supports(config)
}

#[cfg(not(feature = "gpu"))]
fn fused_supports(_: &TrainConfig) -> bool {
    false
}

impl std::str::FromStr for StepKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(StepKind::Auto),
            "autodiff" => Ok(StepKind::Autodiff),
            "fused" => Ok(StepKind::Fused),
            other => Err(format!("unknown step '{other}' (expected auto, autodiff or fused)")),
        }
    }
}

/// A run's trainer.
pub enum Engine {
    Autodiff(Box<Trainer>),
    #[cfg(feature = "gpu")]
    Fused(Box<crate::gpu::FusedTrainer>),
}

/// The model a new run starts from: initialised on the CPU from the seed, so every backend
/// starts a seeded run from the same weights.
pub fn initial_model(config: &TrainConfig) -> Result<Mlp> {
    seeded_model(config, &crate::backend::cpu())
}

/// A model drawn from `config.seed` by `device`'s generator, its parameters drawn now.
///
/// burn draws parameters lazily, on the device where they are first read: moved to a GPU
/// untouched, they would be drawn there by the GPU's own generator (burn's autodiff step on WebGPU
/// and Vulkan started from other weights than the CPU's). And the CPU backend's generator is one
/// per process, so seeding and drawing hold a lock: two runs started at once on two threads (the
/// native tests) would otherwise interleave their seeds and draws.
pub fn seeded_model(config: &TrainConfig, device: &Device) -> Result<Mlp> {
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(config.seed);
    let model = config.model.init(device)?;
    for layer in &model.layers {
        let _ = layer.weight.val();
        if let Some(bias) = &layer.bias {
            let _ = bias.val();
        }
    }
    Ok(model)
}

impl Engine {
    /// A trainer for a new run (`resume: None`) or one continued from a checkpoint.
    pub async fn start(
        config: &TrainConfig,
        train: &Dataset,
        device: &Device,
        resume: Option<&Checkpoint>,
        step: StepKind,
    ) -> Result<Self> {
        let fused = match step {
            StepKind::Autodiff => false,
            StepKind::Fused => true,
            StepKind::Auto => !crate::backend::is_cpu(device) && fused_supports(config),
        };
        if fused {
            #[cfg(feature = "gpu")]
            {
                let trainer = crate::gpu::FusedTrainer::start(config, train, device, resume).await?;
                return Ok(Engine::Fused(Box::new(trainer)));
            }
            #[cfg(not(feature = "gpu"))]
            return Err(crate::error::ConfigError::Invalid("this build has no GPU support".into()).into());
        }
        let trainer = match resume {
            Some(c) => Trainer::resume(c, train, device)?,
            None => {
                config.validate()?;
                Trainer::from_model(config.clone(), initial_model(config)?, train, device, 0)?
            }
        };
        Ok(Engine::Autodiff(Box::new(trainer)))
    }

    pub fn kind(&self) -> StepKind {
        match self {
            Engine::Autodiff(_) => StepKind::Autodiff,
            #[cfg(feature = "gpu")]
            Engine::Fused(_) => StepKind::Fused,
        }
    }

    pub fn config(&self) -> &TrainConfig {
        match self {
            Engine::Autodiff(t) => t.config(),
            #[cfg(feature = "gpu")]
            Engine::Fused(t) => t.config(),
        }
    }

    pub fn position(&self) -> Position {
        match self {
            Engine::Autodiff(t) => t.position(),
            #[cfg(feature = "gpu")]
            Engine::Fused(t) => t.position(),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.position().epoch >= self.config().epochs
    }

    /// Trains at most `max_batches` batches, never past the end of the current epoch.
    pub async fn run(&mut self, max_batches: usize) -> Result<Chunk> {
        match self {
            Engine::Autodiff(t) => t.run(max_batches).await,
            #[cfg(feature = "gpu")]
            Engine::Fused(t) => t.run(max_batches).await,
        }
    }

    /// The device evaluation sets go to (without autodiff).
    pub fn eval_device(&self) -> Device {
        match self {
            Engine::Autodiff(t) => t.eval_device(),
            #[cfg(feature = "gpu")]
            Engine::Fused(t) => t.device(),
        }
    }

    /// The model the run reports (the weights' running average when the recipe averages), as a
    /// burn module on the training device: the model of record.
    pub async fn model(&self) -> Result<Mlp> {
        match self {
            Engine::Autodiff(t) => Ok(t.model_of_record()),
            #[cfg(feature = "gpu")]
            Engine::Fused(t) => t.model().await,
        }
    }

    pub async fn evaluate(&self, set: &DeviceSet) -> Result<EvalReport> {
        crate::infer::evaluate(&self.model().await?, set).await
    }

    /// The current model as a safetensors file carrying `metadata`.
    pub async fn model_bytes(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
        Ok(weights::to_bytes(&self.model().await?, metadata).await?)
    }

    /// The run's full state (only meaningful at an epoch boundary, where resuming is exact).
    pub async fn checkpoint(&self, train_limit: Option<usize>) -> Result<Checkpoint> {
        match self {
            Engine::Autodiff(t) => {
                let trained = weights::snapshot(t.model()).await?;
                let (weights, trained) = match t.average() {
                    Some(_) => (
                        weights::snapshot(&t.model_of_record()).await?,
                        Some(trained.tensors.into_iter().map(|(n, _, v)| (n, v)).collect()),
                    ),
                    None => (trained, None),
                };
                Ok(Checkpoint {
                    config: t.config().clone(),
                    epoch: t.position().epoch,
                    adam_steps: t.position().steps,
                    train_limit,
                    weights,
                    trained,
                    moments: Checkpoint::read_moments(t.moments()).await?,
                })
            }
            #[cfg(feature = "gpu")]
            Engine::Fused(t) => t.checkpoint(train_limit).await,
        }
    }
}
