//! What a GPU training step costs, measured on a real device (natively and in the browser's
//! worker): dispatches per step and milliseconds per step at a batch size. Printed by `fashion
//! bench --gpu-costs` and the browser's GPU bench.

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Result;
use crate::train::config::TrainConfig;
use crate::train::engine::{Compute, Engine, EngineKind};
use crate::train::session::Clock;

#[derive(Debug, Clone, Serialize)]
pub struct StepCost {
    pub engine: EngineKind,
    pub batch_size: usize,
    /// Dispatches per training step (a chunk's sum of its results not counted).
    pub kernels_per_step: usize,
    pub ms_per_step: f64,
    /// Each kernel's milliseconds (each dispatched a few times alone).
    pub kernels: Vec<(String, f64)>,
}

/// Dispatches and time per step on `compute`, over `steps` steps after a warm-up chunk (which
/// compiles the kernels).
pub async fn step_cost(
    config: &TrainConfig,
    train: &Dataset,
    compute: &Compute,
    steps: usize,
    clock: &Clock,
) -> Result<StepCost> {
    let mut config = config.clone();
    config.epochs = 1;
    let subset = train.sample((steps + 4) * config.batch_size, config.seed);
    let mut engine = Engine::start(&config, &subset, &subset.take(1), compute, None).await?;
    engine.run(2).await?;
    let started = clock();
    let done = engine.run(steps).await?.batches;
    let ms = clock() - started;
    let (kernels_per_step, kernels) = match &engine {
        Engine::Gpu(t) => (t.kernels_per_step(), t.profile(steps.max(2), clock).await?),
        _ => (0, Vec::new()),
    };
    Ok(StepCost {
        engine: engine.kind(),
        batch_size: config.batch_size,
        kernels_per_step,
        ms_per_step: ms / done as f64,
        kernels,
    })
}
