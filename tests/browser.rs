//! In-browser tests (wasm-bindgen-test in headless Chromium with SwiftShader WebGPU): a few
//! training steps lower the loss on the CPU backend and on WebGPU, the two agree, and nothing
//! reads tensors synchronously (that would panic on WebGPU).
#![cfg(target_arch = "wasm32")]

use burn::tensor::Device;
use fashion_mlp::data::Dataset;
use fashion_mlp::model::MlpConfig;
use fashion_mlp::train::{LrSchedule, TrainConfig, Trainer};
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
            dropout: 0.0,
        },
        epochs: 1,
        batch_size: 64,
        learning_rate: 0.003,
        schedule: LrSchedule::Constant,
        weight_decay: 0.0,
        label_smoothing: 0.0,
        augment_flip: false,
        seed: 7,
    }
}

/// Losses of each chunk of 2 batches, starting from the same weights on any device.
async fn losses(device: &Device, initial: &[u8]) -> Vec<f64> {
    let (model, _) = weights::from_bytes(initial, device).unwrap();
    let mut trainer = Trainer::resume(config(), model, &synthetic(), device, 0).unwrap();
    let mut out = Vec::new();
    while !trainer.is_finished() {
        out.push(trainer.run(2).await.unwrap().stats.loss);
    }
    out
}

async fn initial_weights() -> Vec<u8> {
    let cpu = fashion_mlp::backend::cpu();
    cpu.seed(3);
    let model = config().model.init(&cpu).unwrap();
    weights::to_bytes(&model, Default::default()).await.unwrap()
}

#[wasm_bindgen_test]
async fn cpu_steps_lower_the_loss() {
    let l = losses(&fashion_mlp::backend::cpu(), &initial_weights().await).await;
    assert_eq!(l.len(), 5);
    assert!(l[4] < l[0] * 0.7, "{l:?}");
}

#[wasm_bindgen_test]
async fn webgpu_steps_lower_the_loss_and_agree_with_the_cpu() {
    let adapter = fashion_mlp::web::gpu::probe_adapter()
        .await
        .expect("run with --enable-unsafe-webgpu");
    web_sys::console::log_1(&format!("WebGPU adapter: {adapter}").into());
    let gpu = fashion_mlp::web::gpu::init_device().await.unwrap();
    let initial = initial_weights().await;
    let on_gpu = losses(&gpu, &initial).await;
    let on_cpu = losses(&fashion_mlp::backend::cpu(), &initial).await;
    assert!(on_gpu[4] < on_gpu[0] * 0.7, "{on_gpu:?}");
    for (g, c) in on_gpu.iter().zip(&on_cpu) {
        assert!((g - c).abs() < 2e-3 * c.max(1.0), "WebGPU {on_gpu:?} vs CPU {on_cpu:?}");
    }
    // Evaluation and saving read the device asynchronously: no panic on WebGPU.
    let (model, _) = weights::from_bytes(&initial, &gpu).unwrap();
    let set = fashion_mlp::train::DeviceSet::upload(&synthetic(), &gpu);
    let report = fashion_mlp::train::evaluate(&model, &set).await.unwrap();
    assert_eq!(report.confusion.total(), 640);
    let bytes = weights::to_bytes(&model, Default::default()).await.unwrap();
    let read = |b: &[u8]| weights::Snapshot::from_safetensors(b).unwrap().tensors;
    assert_eq!(read(&bytes), read(&initial));
}
