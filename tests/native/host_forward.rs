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

/// The class's log-probability in f64, straight from the snapshot's tensors (the reference the
/// attribution is differentiated against, free of f32 rounding).
fn log_probability(snapshot: &weights::Snapshot, image: &[f32], class: usize) -> f64 {
    let layers = snapshot.config.widths().len() - 1;
    let mut x: Vec<f64> = image.iter().map(|&v| f64::from(v)).collect();
    for l in 0..layers {
        let (_, shape, w) = snapshot.tensor(&format!("layers.{l}.weight")).unwrap();
        let (_, _, b) = snapshot.tensor(&format!("layers.{l}.bias")).unwrap();
        let mut y: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
        for (i, xi) in x.iter().enumerate() {
            for (j, yj) in y.iter_mut().enumerate() {
                *yj += xi * f64::from(w[i * shape[1] + j]);
            }
        }
        if l + 1 < layers {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        x = y;
    }
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = x.iter().map(|v| (v - max).exp()).sum();
    x[class] - max - sum.ln()
}

/// Gradient × input, checked against central differences of the class's log-probability (in
/// f64) on real test images with the shipped model (a ReLU network is piecewise linear: a
/// difference that straddles a kink may miss, so a few may); and the first layer's images are
/// its weight's columns.
#[test]
fn attribution_is_the_gradient_of_the_log_probability_times_the_input() {
    let snapshot = weights::read_model_file("ready.safetensors", &crate::ready_bytes()).unwrap();
    let host = HostModel::new(&snapshot).unwrap();
    let pixels = crate::real(Split::Test).take(3).scaled_pixels();
    let log_p = |image: &[f32], class: usize| log_probability(&snapshot, image, class);
    let (mut checked, mut missed, mut large) = (0, 0, 0);
    for image in pixels.chunks_exact(784) {
        let probs = host.probabilities(image);
        let top = (0..NUM_CLASSES).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap();
        for class in [top, (top + 1) % NUM_CLASSES] {
            let a = host.attribution(image, class).unwrap();
            assert_eq!(a.len(), 784);
            for i in (0..784).filter(|&i| image[i] > 0.2).step_by(17) {
                let eps = 1e-3f32;
                let (mut up, mut down) = (image.to_vec(), image.to_vec());
                up[i] += eps;
                down[i] -= eps;
                let numeric = (log_p(&up, class) - log_p(&down, class)) / (2.0 * f64::from(eps)) * f64::from(image[i]);
                checked += 1;
                large += usize::from(numeric.abs() > 1e-3);
                missed += usize::from((numeric - f64::from(a[i])).abs() > 2e-5 + 0.02 * numeric.abs());
            }
            assert!(
                a.iter().zip(image).all(|(v, x)| *x != 0.0 || *v == 0.0),
                "blank pixels carry nothing"
            );
        }
    }
    println!("attribution vs finite differences: {missed} of {checked} pixels differ ({large} above 1e-3)");
    assert!(
        large > checked / 4,
        "the check needs pixels that matter: {large} of {checked}"
    );
    assert!(missed * 10 <= checked, "{missed} of {checked} pixels differ");
    assert!(host.attribution(&pixels[..10], 0).is_err());
    let images = host.first_layer_images();
    let (_, _, w) = snapshot.tensor("layers.0.weight").unwrap();
    assert_eq!(images.len(), 784 * 256);
    assert_eq!(images[3 * 784 + 100], w[100 * 256 + 3]);
}
