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

/// The largest picture `predict` decodes: a side, and the decoder's memory.
const MAX_DECODED_SIDE: u32 = 16_384;
const MAX_DECODED_BYTES: u64 = 256 << 20;
/// Photos are scaled down to this many pixels a side before preprocessing (as the page does).
const PICTURE_SIDE: u32 = 1024;

/// Any PNG/PGM: framed like a dataset image by the core's drawing preprocessing (a 28x28
/// picture is taken as it is), exactly as the page treats an uploaded picture; with `brush`, as
/// the page treats what is drawn on its pad.
fn read_image(path: &std::path::Path, brush: Option<f32>) -> Result<Vec<f32>, String> {
    if let Some(b) = brush.filter(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(format!("the brush width {b} must be a positive number of pixels"));
    }
    let at = |e: String| format!("{}: {e}", path.display());
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| at(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| at(e.to_string()))?;
    // The decoder checks the picture's declared size against these before it allocates.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => at(format!(
            "the picture is too large to read (at most {MAX_DECODED_SIDE} pixels a side and {} MiB decoded): scale it down first",
            MAX_DECODED_BYTES >> 20
        )),
        e => at(e.to_string()),
    })?;
    // A photo is scaled down before it is widened to RGBA (and to floats): 1024 pixels a side
    // is plenty for a 28x28 result, as the page does. A drawing keeps its size: the brush width
    // is in its pixels.
    let img = if brush.is_none() && img.width().max(img.height()) > PICTURE_SIDE {
        img.thumbnail(PICTURE_SIDE, PICTURE_SIDE)
    } else {
        img
    };
    let img = img.to_rgba8();
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
