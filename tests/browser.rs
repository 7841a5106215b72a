//! In-browser tests (wasm-bindgen-test in a dedicated worker of headless Chromium with
//! SwiftShader's WebGPU), built as the GPU worker's module is (`--no-default-features --features
//! gpu`): the CPU engine's WebAssembly kernels train, and the GPU engine on WebGPU agrees with
//! them step by step (losses, gradients and parameters, a ragged last batch included); nothing
//! reads WebGPU synchronously (that would panic). The CPU engine in WebAssembly computes what it
//! computes natively to the bit (tests/e2e/parity.test.mjs), where it is checked against burn's
//! autodiff (tests/native/engines.rs).
#![cfg(target_arch = "wasm32")]

use fashion_mlp::data::Dataset;
use fashion_mlp::model::MlpConfig;
use fashion_mlp::train::cpu::CpuOptions;
use fashion_mlp::train::gpu::GpuDevice;
use fashion_mlp::train::{Compute, Engine, EngineKind, LrSchedule, TrainConfig};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// 640 synthetic 28x28 images: class c lights up a band of rows, with seeded noise.
fn synthetic() -> Dataset {
    let mut state = 12345u32;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 60) as u8
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..640 {
        let class = (i % 10) as usize;
        for p in 0..784 {
            let row = p / 28;
            let lit = row / 3 == class || row / 3 == class + 1;
            pixels.push(if lit { 200 + rand() / 2 } else { rand() });
        }
        labels.push(class as u8);
    }
    Dataset::new(pixels, labels).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        model: MlpConfig {
            hidden: vec![64, 32],
            dropout: 0.2,
        },
        epochs: 1,
        batch_size: 100,
        learning_rate: 0.003,
        schedule: LrSchedule::Constant,
        weight_decay: 0.0,
        label_smoothing: 0.1,
        augment_flip: true,
        augment_shift: 2,
        input_dropout: 0.1,
        average: 0.99,
        augment_drawings: 0.0,
        seed: 7,
    }
}

async fn gpu() -> GpuDevice {
    let adapter = fashion_mlp::web::gpu::probe_adapter()
        .await
        .expect("run with --enable-unsafe-webgpu");
    web_sys::console::log_1(&format!("WebGPU adapter: {adapter}").into());
    thread_local!(static GPU: std::cell::RefCell<Option<GpuDevice>> = const { std::cell::RefCell::new(None) });
    if let Some(d) = GPU.with(|g| g.borrow().clone()) {
        return d;
    }
    let d = GpuDevice::new().await.unwrap();
    GPU.with(|g| *g.borrow_mut() = Some(d.clone()));
    d
}

fn cpu() -> Compute {
    Compute::Cpu(CpuOptions::best())
}

/// Losses of each batch of one epoch (640 images in batches of 100: the last one is ragged).
async fn losses(compute: &Compute) -> (Vec<f64>, Engine) {
    let data = synthetic();
    let mut engine = Engine::start(&config(), &data, &data, compute, None).await.unwrap();
    let mut out = Vec::new();
    while !engine.is_finished() {
        out.push(engine.run(1).await.unwrap().stats.loss);
    }
    (out, engine)
}

/// After the epoch (7 steps, the last of 40 images), losses, gradients and parameters of two
/// engines agree within `tolerance` (relative to each tensor's largest magnitude).
async fn agree(a: (Vec<f64>, Engine), b: (Vec<f64>, Engine), tolerance: f32) {
    for (x, y) in a.0.iter().zip(&b.0) {
        assert!((x - y).abs() < 1e-4 * y, "{:?}: {:?} vs {:?}", a.1.kind(), a.0, b.0);
    }
    let a = a.1.checkpoint(None).await.unwrap();
    let b = b.1.checkpoint(None).await.unwrap();
    for ((name, _, f), (_, _, c)) in a.weights.tensors.iter().zip(&b.weights.tensors) {
        let scale = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let gap = f.iter().zip(c).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(gap <= tolerance * 10.0 * scale, "{name}: {gap} of {scale}");
    }
    for ((name, fm, _), (_, cm, _)) in a.moments.iter().zip(&b.moments) {
        let scale = cm.iter().fold(0f32, |m, v| m.max(v.abs()));
        let gap = fm.iter().zip(cm).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(gap <= tolerance * scale, "{name}'s first moment: {gap} of {scale}");
    }
}

#[wasm_bindgen_test]
async fn cpu_steps_lower_the_loss() {
    let (l, engine) = losses(&cpu()).await;
    assert_eq!(engine.kind(), EngineKind::Cpu);
    assert_eq!(l.len(), 7);
    // Seven steps of a small net with shifts, flips, dropout and smoothing: 2.32 -> 1.84 measured.
    assert!(l[6] < l[0] * 0.85, "{l:?}");
}

#[wasm_bindgen_test]
async fn the_webgpu_engine_agrees_with_the_cpu_engine() {
    let gpu = Compute::Gpu(gpu().await);
    let on_gpu = losses(&gpu).await;
    assert_eq!(on_gpu.1.kind(), EngineKind::Gpu);
    agree(on_gpu, losses(&cpu()).await, 1e-4).await;
}

#[wasm_bindgen_test]
async fn evaluating_and_saving_read_webgpu_asynchronously() {
    let gpu = Compute::Gpu(gpu().await);
    let data = synthetic();
    let mut engine = Engine::start(&config(), &data, &data, &gpu, None).await.unwrap();
    let initial = fashion_mlp::train::init::initial_weights(&config()).unwrap();
    assert_eq!(engine.snapshot().await.unwrap().tensors, initial.tensors);
    let report = engine.evaluate().await.unwrap();
    assert_eq!(report.confusion.total(), 640);
    engine.run(2).await.unwrap();
    let checkpoint = engine.checkpoint(None).await.unwrap();
    assert_eq!(checkpoint.adam_steps, 2);
    assert_ne!(checkpoint.weights.tensors, initial.tensors);
}
