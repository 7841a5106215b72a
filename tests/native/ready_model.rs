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

/// The e2e test's hand-drawn outlines (painted by Chromium into PNGs by
/// scripts/render-drawings.py), read as the page reads its pad: the shipped model names each.
#[test]
fn ready_model_reads_the_hand_drawn_outlines() {
    use fashion_mlp::data::CLASS_NAMES;
    use fashion_mlp::draw::{Bitmap, Layout, prepare_drawing};
    let device = fashion_mlp::backend::cpu();
    let (model, _) = fashion_mlp::weights::from_bytes(&crate::ready_bytes(), &device).unwrap();
    let outlines: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(crate::repo_file("tests/fixtures/drawings/outlines.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(outlines.len(), 4);
    for garment in outlines.keys() {
        let png = crate::repo_file(&format!("tests/fixtures/drawings/{}.png", garment.replace('/', "-")));
        let img = image::open(&png).unwrap().to_rgba8();
        let bitmap = Bitmap {
            width: img.width() as usize,
            height: img.height() as usize,
            layout: Layout::Rgba,
            data: img.as_raw(),
        };
        let input = prepare_drawing(&bitmap, fashion_mlp::drawings::PAD_BRUSH).unwrap().pixels;
        let probs = pollster::block_on(fashion_mlp::infer::predict(&model, &input, &device)).unwrap();
        let (top, p) = probs[0].iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        eprintln!("{garment} outline: {} {:.1}%", CLASS_NAMES[top], p * 100.0);
        assert_eq!(CLASS_NAMES[top], garment, "the {garment} outline reads as {}", CLASS_NAMES[top]);
    }
}
