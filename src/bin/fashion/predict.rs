//! `fashion predict`: class probabilities for an image file or a test-set image.

use fashion_mlp::data::dataset::Split;
use fashion_mlp::data::{CLASS_NAMES, Dataset};
use fashion_mlp::draw::{Bitmap, Layout, prepare_drawing, prepare_picture};
use fashion_mlp::train::cpu::{CpuOptions, Evaluator};

use crate::cli::PredictArgs;
use crate::common;

pub fn run(args: PredictArgs) -> Result<(), String> {
    let model = common::read_snapshot(&args.model)?;
    let mut evaluator =
        Evaluator::new(&model, CpuOptions::best()).map_err(|e| format!("{}: {e}", args.model.display()))?;
    let (pixels, label) = match (&args.image, args.index) {
        (_, Some(i)) => {
            let test = Dataset::load_idx_dir(&args.data_dir, Split::Test).map_err(|e| e.to_string())?;
            let img = test
                .image(i)
                .ok_or_else(|| format!("index {i} is past the {} test images", test.len()))?;
            (img.iter().map(|&p| p as f32 / 255.0).collect(), Some(test.labels()[i]))
        }
        (Some(path), None) => (read_image(path, args.brush)?, None),
        (None, None) => return Err("give an image file or --index".into()),
    };
    let probs = evaluator.probabilities(&pixels);
    let probs = probs.first().ok_or("no prediction")?;
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    if args.json {
        let out = serde_json::json!({
            "predicted": ranked[0].0,
            "class": CLASS_NAMES[ranked[0].0],
            "probabilities": probs,
            "label": label,
        });
        println!("{out}");
        return Ok(());
    }
    if let Some(l) = label {
        println!("true class: {l} {}", CLASS_NAMES[l as usize]);
    }
    for (c, p) in ranked {
        println!(
            "{c} {:<12} {:>6.2}% {}",
            CLASS_NAMES[c],
            p * 100.0,
            "#".repeat((p * 40.0).round() as usize)
        );
    }
    Ok(())
}

/// Any PNG/PGM: framed like a dataset image by the core's drawing preprocessing (a 28x28
/// picture is taken as it is), exactly as the page treats an uploaded picture; with `brush`, as
/// the page treats what is drawn on its pad.
fn read_image(path: &std::path::Path, brush: Option<f32>) -> Result<Vec<f32>, String> {
    if let Some(b) = brush.filter(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(format!("the brush width {b} must be a positive number of pixels"));
    }
    let img = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_rgba8();
    let (width, height) = (img.width() as usize, img.height() as usize);
    let bitmap = Bitmap {
        width,
        height,
        layout: Layout::Rgba,
        data: img.as_raw(),
    };
    match brush {
        Some(brush) => prepare_drawing(&bitmap, brush),
        None => prepare_picture(&bitmap),
    }
    .map(|p| p.pixels)
    .map_err(|e| format!("{}: {e}", path.display()))
}
