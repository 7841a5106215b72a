//! The model shipped in models/ is the one its README describes.

use fashion_mlp::data::dataset::Split;
use fashion_mlp::train::cpu::{CpuOptions, Evaluator};
use fashion_mlp::weights::Snapshot;

#[test]
fn ready_model_loads_and_keeps_its_accuracy() {
    let model = Snapshot::from_safetensors(&crate::ready_bytes()).unwrap();
    assert_eq!(model.config.widths(), vec![784, 256, 128, 64, 10]);
    assert_eq!(model.metadata.get("test_accuracy").map(String::as_str), Some("0.9043"));
    let test = crate::real(Split::Test);
    let report = Evaluator::new(&model, CpuOptions::best()).unwrap().evaluate(&test);
    assert!((report.accuracy - 0.9043).abs() < 1e-4, "{}", report.accuracy);
}
