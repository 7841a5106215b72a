//! Facts the core, the page and the CLI share, each written once. The page reads them from its
//! own module (`facts()` in `web::page`) instead of keeping copies: the image size, the class
//! names, the official dataset's file names and sizes, the recipes and the palette.

use serde::Serialize;

pub use crate::data::dataset::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
pub use crate::data::{CLASS_NAMES, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::train::{Recipe, TrainConfig};

/// Images in the official training and test sets.
/// Where Debian's `dataset-fashion-mnist` package puts the four IDX files (the CLI's and the
/// tests' default; the scripts' is FASHION_DATA_DIR in scripts/build/setup.sh).
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

pub const TRAIN_SIZE: usize = 60_000;
pub const TEST_SIZE: usize = 10_000;

/// The official files, in the order the page fetches them.
pub const DATASET_FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The colours that mean something (a series, right or wrong), as CSS hex strings. The page sets
/// them as CSS custom properties (`--accent` ...), its canvases and the charts read them here.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Palette {
    /// Live training curve, buttons, progress bars.
    pub accent: &'static str,
    /// Per-epoch training points.
    pub accent_soft: &'static str,
    /// Test curves.
    pub test: &'static str,
    /// Right predictions and strong classes.
    pub ok: &'static str,
    /// Wrong predictions.
    pub bad: &'static str,
    /// Weak classes (per-class accuracy below 75%).
    pub warn: &'static str,
    /// Label text on a right / wrong prediction.
    pub ok_text: &'static str,
    pub bad_text: &'static str,
    /// Chart and canvas backgrounds, grid lines, text.
    pub chart_bg: &'static str,
    pub chart_grid: &'static str,
    pub chart_text: &'static str,
    pub muted: &'static str,
}

pub const PALETTE: Palette = Palette {
    accent: "#4f9dff",
    accent_soft: "#9cc7ff",
    test: "#ffb454",
    ok: "#3ecf8e",
    bad: "#ff5c5c",
    warn: "#ff8c5a",
    ok_text: "#b9f6d8",
    bad_text: "#ffc2c2",
    chart_bg: "#151b2b",
    chart_grid: "#2a3348",
    chart_text: "#c8d0e0",
    muted: "#9aa4b8",
};

/// A recipe as the page's settings form shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeInfo {
    pub id: &'static str,
    pub summary: &'static str,
    pub config: TrainConfig,
}

/// Everything above, for the page.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub image_side: usize,
    pub image_pixels: usize,
    pub class_names: [&'static str; NUM_CLASSES],
    pub dataset_files: [&'static str; 4],
    pub train_size: usize,
    pub test_size: usize,
    /// The drawing pad's side in pixels and its default brush width: what `drawings` renders
    /// dataset images as, so the page's pad draws alike.
    pub pad_side: usize,
    pub pad_brush: f32,
    /// The largest drawing set file read: the page refuses a larger one before reading it.
    pub drawing_set_max_bytes: usize,
    pub recipes: Vec<RecipeInfo>,
    pub default_recipe: &'static str,
    pub palette: Palette,
}

pub fn facts() -> Facts {
    Facts {
        image_side: IMAGE_SIDE,
        image_pixels: IMAGE_PIXELS,
        class_names: CLASS_NAMES,
        dataset_files: DATASET_FILES,
        train_size: TRAIN_SIZE,
        test_size: TEST_SIZE,
        pad_side: crate::drawings::PAD_SIDE,
        pad_brush: crate::drawings::PAD_BRUSH,
        drawing_set_max_bytes: crate::teach::user_set::MAX_FILE_BYTES,
        recipes: Recipe::ALL
            .iter()
            .map(|r| RecipeInfo {
                id: r.name(),
                summary: r.summary(),
                config: r.config(),
            })
            .collect(),
        default_recipe: Recipe::default().name(),
        palette: PALETTE,
    }
}

/// A palette colour as RGB bytes (for canvas drawing in Rust).
pub fn rgb(hex: &str) -> (u8, u8, u8) {
    let c = hex.trim_start_matches('#');
    let p = |i: usize| {
        c.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(200)
    };
    (p(0), p(2), p(4))
}
