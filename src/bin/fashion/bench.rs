//! `fashion bench`: training and inference samples/s per backend, batch size and thread count,
//! on the real training set, one JSON object per line.

use std::time::Instant;

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::train::cpu::{CpuOptions, Evaluator};
use fashion_mlp::train::{Compute, Engine, EngineKind, TrainConfig};
use serde_json::json;

use crate::cli::{BenchArgs, CpuArgs};
use crate::common;

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.gpu_costs {
        return gpu_costs(&args);
    }
    if args.gpu_info {
        return gpu_info();
    }
    let mut threads = args.threads.clone();
    threads.sort_unstable();
    threads.dedup();
    // Thread pools (rayon's, matrixmultiply's) are sized once per process: one process per count.
    if threads.len() > 1 {
        for &t in &threads {
            run_child(&args, t)?;
        }
        return Ok(());
    }
    let t = threads.first().copied().unwrap_or(1);
    let train = Dataset::load_idx_dir(&args.data_dir, Split::Train).map_err(|e| e.to_string())?;
    let test = Dataset::load_idx_dir(&args.data_dir, Split::Test).map_err(|e| e.to_string())?;
    let cpu = common::cpu_options(&CpuArgs {
        threads: None,
        isa: args.isa,
        rounding: args.rounding,
        shards: args.shards,
    })?;
    for &backend in &args.backends {
        let compute = backend.compute(cpu)?;
        for &bs in &args.batch_sizes {
            let result = measure(&train, &test, &compute, cpu, bs, args.samples)?;
            let line = json!({
                "backend": backend.name(),
                "engine": result.engine,
                "kernels": matches!(compute, Compute::Cpu(_)).then(|| cpu.describe()),
                "threads": t,
                "batch_size": bs,
                "train_samples_per_sec": result.train_rate,
                "ms_per_step": result.ms_per_step,
                "inference_samples_per_sec": result.infer_rate,
            });
            println!("{line}");
        }
    }
    Ok(())
}

fn run_child(args: &BenchArgs, threads: usize) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let list = |v: &[String]| v.join(",");
    let backends: Vec<String> = args.backends.iter().map(|b| b.name().to_string()).collect();
    let sizes: Vec<String> = args.batch_sizes.iter().map(|b| b.to_string()).collect();
    let mut command = std::process::Command::new(exe);
    command
        .arg("bench")
        .arg("--data-dir")
        .arg(&args.data_dir)
        .args(["--backends", &list(&backends), "--batch-sizes", &list(&sizes)])
        .args([
            "--threads",
            &threads.to_string(),
            "--samples",
            &args.samples.to_string(),
        ]);
    if let Some(isa) = args.isa {
        command.args(["--isa", &format!("{isa:?}").to_lowercase()]);
    }
    command.args(["--shards", &args.shards.to_string()]);
    if let Some(r) = args.rounding {
        command.args([
            "--rounding",
            if r == crate::cli::RoundingArg::Fused {
                "fused"
            } else {
                "separate"
            },
        ]);
    }
    let status = command.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the {threads}-thread measurement failed"));
    }
    Ok(())
}

struct Measured {
    engine: EngineKind,
    train_rate: f64,
    ms_per_step: f64,
    infer_rate: f64,
}

fn measure(
    train: &Dataset,
    test: &Dataset,
    compute: &Compute,
    cpu: CpuOptions,
    bs: usize,
    samples: usize,
) -> Result<Measured, String> {
    let config = TrainConfig {
        batch_size: bs,
        ..TrainConfig::reference()
    };
    let mut trainer =
        pollster::block_on(Engine::start(&config, train, &test.take(1), compute, None)).map_err(|e| e.to_string())?;
    let warmup = 20;
    pollster::block_on(trainer.run(warmup)).map_err(|e| e.to_string())?;
    let steps = (samples / bs).max(1);
    let started = Instant::now();
    let mut done = 0;
    while done < steps {
        let chunk = pollster::block_on(trainer.run((steps - done).min(200))).map_err(|e| e.to_string())?;
        done += chunk.batches;
    }
    let secs = started.elapsed().as_secs_f64();
    let model = pollster::block_on(trainer.snapshot()).map_err(|e| e.to_string())?;
    let mut evaluator = Evaluator::new(&model, cpu).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let _ = evaluator.evaluate(test);
    Ok(Measured {
        engine: trainer.kind(),
        train_rate: (done * bs) as f64 / secs,
        ms_per_step: secs * 1000.0 / done as f64,
        infer_rate: test.len() as f64 / started.elapsed().as_secs_f64(),
    })
}

/// What a GPU training step costs on the native wgpu device: dispatches and milliseconds per
/// step of the GPU engine at each batch size.
#[cfg(feature = "gpu")]
fn gpu_costs(args: &BenchArgs) -> Result<(), String> {
    use fashion_mlp::train::gpu::probe;
    let train = Dataset::load_idx_dir(&args.data_dir, Split::Train).map_err(|e| e.to_string())?;
    let gpu = fashion_mlp::backend::native_gpu()?;
    println!(
        "{}",
        json!({ "where": "native", "measure": "adapter", "adapter": gpu.info() })
    );
    let origin = Instant::now();
    let clock: fashion_mlp::train::session::Clock = Box::new(move || origin.elapsed().as_secs_f64() * 1000.0);
    for &bs in &args.batch_sizes {
        let config = TrainConfig {
            batch_size: bs,
            ..TrainConfig::reference()
        };
        let cost = pollster::block_on(probe::step_cost(
            &config,
            &train,
            &Compute::Gpu(gpu.clone()),
            20,
            &clock,
        ))
        .map_err(|e| e.to_string())?;
        println!(
            "{}",
            json!({ "where": "native", "backend": "wgpu", "measure": "step", "cost": cost })
        );
    }
    Ok(())
}

#[cfg(feature = "gpu")]
fn gpu_info() -> Result<(), String> {
    println!("{}", json!(fashion_mlp::backend::native_gpu()?.info()));
    Ok(())
}

#[cfg(not(feature = "gpu"))]
fn gpu_info() -> Result<(), String> {
    Err("this build has no GPU support (built without the `gpu` feature)".into())
}

#[cfg(not(feature = "gpu"))]
fn gpu_costs(_: &BenchArgs) -> Result<(), String> {
    Err("this build has no GPU support (built without the `gpu` feature)".into())
}
