//! `fashion predict`: class probabilities for an image file or a test-set image.

use fashion_mlp::data::dataset::Split;
use fashion_mlp::data::{CLASS_NAMES, Dataset};
use fashion_mlp::picture::{MAX_DECODED_BYTES, read_picture};
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

/// A picture file: at most this many bytes are read (a 16,384-pixel-square PNG of one colour is
/// far smaller; a photo this large is not something to classify).
const MAX_FILE_BYTES: u64 = 256 << 20;

fn read_image(path: &std::path::Path, brush: Option<f32>) -> Result<Vec<f32>, String> {
    let at = |e: String| format!("{}: {e}", path.display());
    let size = std::fs::metadata(path).map_err(|e| at(e.to_string()))?.len();
    if size > MAX_FILE_BYTES {
        return Err(at(format!(
            "{} MiB is too large for a picture (at most {} MiB)",
            size >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| at(e.to_string()))?;
    read_picture(&bytes, brush, MAX_DECODED_BYTES).map_err(at)
}
