//! The model shipped in models/ is the one its README describes.

use fashion_mlp::data::dataset::Split;
use fashion_mlp::infer::evaluate;
use fashion_mlp::train::DeviceSet;

#[test]
fn ready_model_loads_and_keeps_its_accuracy() {
    let bytes = crate::ready_bytes();
    let device = fashion_mlp::backend::cpu();
    let (model, meta) = fashion_mlp::weights::from_bytes(&bytes, &device).unwrap();
    assert_eq!(model.widths(), vec![784, 256, 128, 64, 10]);
    assert_eq!(meta.get("test_accuracy").map(String::as_str), Some("0.9043"));
    let test = crate::real(Split::Test);
    let report = pollster::block_on(evaluate(&model, &DeviceSet::upload(&test, &device))).unwrap();
    assert!((report.accuracy - 0.9043).abs() < 1e-4, "{}", report.accuracy);
}
