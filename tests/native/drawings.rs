//! The shipped model reads drawings as people draw them: test images drawn on the pad as filled
//! silhouettes and as outlines (the pad's stroke width, empty inside), read back through the pad's
//! preprocessing. Filling closed outlines (and trimming the line to its inner half) brings the
//! outline figure within 2 points of the silhouette figure; without it, outlines are mostly
//! misread.

use fashion_mlp::data::dataset::Split;
use fashion_mlp::drawings::{Rendering, as_drawing};
use rayon::prelude::*;

fn accuracy(rendering: Rendering, fill: bool, images: usize) -> f64 {
    let test = crate::real(Split::Test).sample(images, 11);
    let drawn: Vec<(Vec<f32>, u8)> = (0..test.len())
        .into_par_iter()
        .map(|i| {
            (
                as_drawing(test.image(i).unwrap(), rendering, fill).expect("every test image has a garment"),
                test.labels()[i],
            )
        })
        .collect();
    let pixels: Vec<f32> = drawn.iter().flat_map(|(p, _)| p.iter().copied()).collect();
    let labels: Vec<u8> = drawn.iter().map(|(_, l)| *l).collect();
    let model = fashion_mlp::weights::Snapshot::from_safetensors(&crate::ready_bytes()).unwrap();
    let options = fashion_mlp::train::cpu::CpuOptions::best();
    fashion_mlp::train::cpu::Evaluator::new(&model, options)
        .unwrap()
        .evaluate_pixels(&pixels, &labels)
        .accuracy
}

#[test]
fn outlines_read_almost_as_well_as_silhouettes() {
    // The whole test set for the figures compared (a subset's luck moves them by a point).
    let silhouette = accuracy(Rendering::Silhouette, true, 10_000);
    let outline = accuracy(Rendering::Outline, true, 10_000);
    let unfilled = accuracy(Rendering::Outline, false, 2_000);
    eprintln!(
        "test images drawn on the pad: silhouette {silhouette:.4}, outline {outline:.4}, outline without filling {unfilled:.4} (2,000 images)"
    );
    assert!(silhouette > 0.7, "{silhouette}");
    assert!(
        outline >= silhouette - 0.02,
        "outline {outline} vs silhouette {silhouette}"
    );
    assert!(unfilled < outline - 0.2, "filling matters: {unfilled} vs {outline}");
}
