#![cfg(not(target_arch = "wasm32"))]
//! The model shipped in models/ is the one its README describes.

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::infer::evaluate;
use fashion_mlp::train::DeviceSet;

#[test]
fn ready_model_loads_and_keeps_its_accuracy() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/ready.safetensors")).unwrap();
    let device = fashion_mlp::backend::cpu();
    let (model, meta) = fashion_mlp::weights::from_bytes(&bytes, &device).unwrap();
    assert_eq!(model.widths(), vec![784, 256, 128, 64, 10]);
    assert_eq!(meta.get("test_accuracy").map(String::as_str), Some("0.8977"));
    let dir = std::env::var("FASHION_DATA_DIR").unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".into());
    let test = Dataset::load_idx_dir(std::path::Path::new(&dir), Split::Test).unwrap();
    let report = pollster::block_on(evaluate(&model, &DeviceSet::upload(&test, &device))).unwrap();
    assert!((report.accuracy - 0.8977).abs() < 1e-4, "{}", report.accuracy);
}
