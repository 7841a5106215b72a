//! What a GPU training step costs, measured on a real device (natively and in the browser's
//! worker): kernels launched per step by an engine, and the time of one matmul as burn runs it.
//! Printed by `fashion bench --gpu-costs` and the browser's GPU bench.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::{Device, Distribution, Tensor, Transaction};
use cubecl::logging::{LaunchObservation, LaunchObserver};
use serde::Serialize;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::config::TrainConfig;
use crate::train::engine::{Compute, Engine, EngineKind};
use crate::train::session::Clock;

#[derive(Default)]
struct Counter(AtomicUsize);

impl LaunchObserver for Counter {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepCost {
    pub engine: EngineKind,
    pub batch_size: usize,
    /// Kernel launches per training step (a chunk's read of its results included, shared out).
    pub kernels_per_step: f64,
    pub ms_per_step: f64,
}

/// Kernels and time per step on `compute`, over `steps` steps after a warm-up chunk.
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
    let counter = Arc::new(Counter::default());
    let started = clock();
    let done = {
        let _watch = LaunchObservation::new(counter.clone());
        engine.run(steps).await?.batches
    };
    let ms = clock() - started;
    Ok(StepCost {
        engine: engine.kind(),
        batch_size: config.batch_size,
        kernels_per_step: counter.0.load(Ordering::Relaxed) as f64 / done as f64,
        ms_per_step: ms / done as f64,
    })
}

/// Milliseconds of one `m × k` by `k × n` matmul as burn runs it on `device` (mean of `reps`
/// matmuls whose results are all read back in one go, after one untimed run that compiles the
/// kernel), and the kernels launched per matmul.
pub async fn matmul_ms(device: &Device, [m, k, n]: [usize; 3], reps: usize, clock: &Clock) -> Result<(f64, f64)> {
    let a = Tensor::<2>::random([m, k], Distribution::Default, device);
    let b = Tensor::<2>::random([k, n], Distribution::Default, device);
    let read = |ts: Vec<Tensor<2>>| async move {
        ts.into_iter()
            .fold(Transaction::default(), |tx, t| tx.register(t))
            .execute_async()
            .await
            .map_err(|e| Error::Device(format!("{e:?}")))
    };
    read(vec![a.clone().matmul(b.clone())]).await?;
    let counter = Arc::new(Counter::default());
    let started = clock();
    {
        let _watch = LaunchObservation::new(counter.clone());
        read((0..reps).map(|_| a.clone().matmul(b.clone())).collect()).await?;
    }
    let kernels = counter.0.load(Ordering::Relaxed) as f64 / reps as f64;
    Ok(((clock() - started) / reps as f64, kernels))
}
