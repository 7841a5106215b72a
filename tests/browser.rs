//! In-browser tests (wasm-bindgen-test in a dedicated worker of headless Chromium with
//! SwiftShader's WebGPU): burn's autodiff trains on the CPU backend and on WebGPU alike, the fused
//! WebGPU step agrees with burn's autodiff on the CPU step by step (gradients and parameters, a
//! ragged last batch included), and nothing reads tensors synchronously (that would panic on
//! WebGPU).
#![cfg(target_arch = "wasm32")]

use burn::tensor::Device;
use fashion_mlp::data::Dataset;
use fashion_mlp::model::MlpConfig;
use fashion_mlp::train::engine::StepKind;
use fashion_mlp::train::{Engine, LrSchedule, TrainConfig};
use fashion_mlp::weights;
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

async fn gpu() -> Device {
    let adapter = fashion_mlp::web::gpu::probe_adapter()
        .await
        .expect("run with --enable-unsafe-webgpu");
    web_sys::console::log_1(&format!("WebGPU adapter: {adapter}").into());
    thread_local!(static GPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) });
    if let Some(d) = GPU.with(|g| g.borrow().clone()) {
        return d;
    }
    let d = Device::wgpu_options().init_async().await.unwrap();
    GPU.with(|g| *g.borrow_mut() = Some(d.clone()));
    d
}

/// Losses of each batch of one epoch (640 images in batches of 100: the last one is ragged).
async fn losses(device: &Device, step: StepKind) -> (Vec<f64>, Engine) {
    let mut engine = Engine::start(&config(), &synthetic(), device, None, step).await.unwrap();
    let mut out = Vec::new();
    while !engine.is_finished() {
        out.push(engine.run(1).await.unwrap().stats.loss);
    }
    (out, engine)
}

#[wasm_bindgen_test]
async fn cpu_steps_lower_the_loss() {
    let (l, _) = losses(&fashion_mlp::backend::cpu(), StepKind::Autodiff).await;
    assert_eq!(l.len(), 7);
    // Seven steps of a small net with shifts, flips, dropout and smoothing: 2.32 -> 1.84 measured.
    assert!(l[6] < l[0] * 0.85, "{l:?}");
}

// burn's own autodiff step on WebGPU starts from the CPU's weights (burn draws parameters lazily,
// on the device where they are first read; `initial_model` reads them on the CPU) and stays with
// it. The product's WebGPU training uses the fused step (the test below); burn's autodiff runs on
// a GPU only for shapes the fused step does not take.
#[wasm_bindgen_test]
async fn burn_autodiff_on_webgpu_agrees_with_the_cpu() {
    let gpu = gpu().await;
    let (on_gpu, _) = losses(&gpu, StepKind::Autodiff).await;
    let (on_cpu, _) = losses(&fashion_mlp::backend::cpu(), StepKind::Autodiff).await;
    for (g, c) in on_gpu.iter().zip(&on_cpu) {
        assert!((g - c).abs() < 2e-3 * c.max(1.0), "WebGPU {on_gpu:?} vs CPU {on_cpu:?}");
    }
}

#[wasm_bindgen_test]
async fn the_fused_webgpu_step_agrees_with_burn_autodiff_on_the_cpu() {
    let gpu = gpu().await;
    let (fused, fused_engine) = losses(&gpu, StepKind::Fused).await;
    let (cpu, cpu_engine) = losses(&fashion_mlp::backend::cpu(), StepKind::Autodiff).await;
    assert_eq!(fused_engine.kind(), StepKind::Fused);
    for (f, c) in fused.iter().zip(&cpu) {
        assert!((f - c).abs() < 1e-4 * c, "fused WebGPU {fused:?} vs CPU {cpu:?}");
    }
    // After the epoch (7 steps, the last of 40 images), gradients and parameters still agree.
    let a = fused_engine.checkpoint(None).await.unwrap();
    let b = cpu_engine.checkpoint(None).await.unwrap();
    for ((name, _, f), (_, _, c)) in a.weights.tensors.iter().zip(&b.weights.tensors) {
        let scale = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let gap = f.iter().zip(c).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(gap <= 1e-3 * scale, "{name}: {gap} of {scale}");
    }
    for ((name, fm, _), (_, cm, _)) in a.moments.iter().zip(&b.moments) {
        let scale = cm.iter().fold(0f32, |m, v| m.max(v.abs()));
        let gap = fm.iter().zip(cm).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(gap <= 1e-4 * scale, "{name}'s first moment: {gap} of {scale}");
    }
}

#[wasm_bindgen_test]
async fn evaluating_and_saving_read_webgpu_asynchronously() {
    let gpu = gpu().await;
    let cpu = fashion_mlp::backend::cpu();
    cpu.seed(3);
    let model = config().model.init(&cpu).unwrap();
    let initial = weights::to_bytes(&model, Default::default()).await.unwrap();
    let (model, _) = weights::from_bytes(&initial, &gpu).unwrap();
    let set = fashion_mlp::train::DeviceSet::upload(&synthetic(), &gpu);
    let report = fashion_mlp::infer::evaluate(&model, &set).await.unwrap();
    assert_eq!(report.confusion.total(), 640);
    let bytes = weights::to_bytes(&model, Default::default()).await.unwrap();
    let read = |b: &[u8]| weights::Snapshot::from_safetensors(b).unwrap().tensors;
    assert_eq!(read(&bytes), read(&initial));
}

