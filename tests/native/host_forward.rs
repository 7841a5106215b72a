//! The page's plain forward pass (`weights::host`) answers what burn's model answers: the same
//! probabilities to float rounding on every real test image, for the shipped model and for a
//! PyTorch file, and a mangled snapshot is an error, not a wrong answer.

use fashion_mlp::data::NUM_CLASSES;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::weights::{self, host::HostModel};

fn assert_same_answers(snapshot: &weights::Snapshot) {
    let device = fashion_mlp::backend::cpu();
    let model = snapshot.to_model(&device).unwrap();
    let pixels = crate::real(Split::Test).scaled_pixels();
    let burn = pollster::block_on(fashion_mlp::train::autodiff::eval::predict(&model, &pixels, &device)).unwrap();
    let host = HostModel::new(snapshot).unwrap();
    assert_eq!(host.widths(), model.widths());
    let ours = host.probabilities(&pixels);
    assert_eq!(ours.len(), burn.len() * NUM_CLASSES);
    let mut worst = 0f32;
    let mut disagree = 0;
    let argmax = |p: &[f32]| (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    for (b, o) in burn.iter().zip(ours.chunks_exact(NUM_CLASSES)) {
        worst = b.iter().zip(o).map(|(x, y)| (x - y).abs()).fold(worst, f32::max);
        disagree += usize::from(argmax(b) != argmax(o));
    }
    println!(
        "host vs burn on {} images: largest gap {worst:.2e}, {disagree} top classes differ",
        burn.len()
    );
    assert!(worst < 1e-5, "largest probability gap {worst}");
    // A top class may only differ where two classes tie to float rounding.
    assert!(disagree <= 2, "{disagree} images get another top class");
}

#[test]
fn the_shipped_model_answers_as_burn_does() {
    assert_same_answers(&weights::read_model_file("ready.safetensors", &crate::ready_bytes()).unwrap());
}

#[test]
fn a_pytorch_file_answers_as_burn_does() {
    let bytes = std::fs::read(crate::repo_file("tests/fixtures/pytorch/sequential.pt")).unwrap();
    assert_same_answers(&weights::read_model_file("sequential.pt", &bytes).unwrap());
}

#[test]
fn a_snapshot_that_does_not_chain_is_an_error() {
    let mut snapshot = weights::read_model_file("ready.safetensors", &crate::ready_bytes()).unwrap();
    snapshot.tensors.retain(|(name, _, _)| name != "layers.2.bias");
    let err = HostModel::new(&snapshot).unwrap_err();
    assert!(err.to_string().contains("layers.2.bias is missing"), "{err}");
    let mut snapshot = weights::read_model_file("ready.safetensors", &crate::ready_bytes()).unwrap();
    snapshot.tensors[2].1 = vec![128, 64];
    let err = HostModel::new(&snapshot).unwrap_err();
    assert!(err.to_string().contains("do not chain"), "{err}");
}
