//! What each fuzz target does with its input, shared by the cargo-fuzz targets (`fuzz/`) and the
//! replay test (`tests/native/fuzz_replay.rs`), so CI runs exactly the code that was fuzzed on every kept
//! input. Each function must return for any bytes: an `Err` is a fine answer, a panic, a hang or
//! an allocation beyond the limits (checked by the fuzz targets' allocator) is a finding.

use arbitrary::Unstructured;
use fashion_mlp::data::{bundle, csv, idx};
use fashion_mlp::draw::{self, Bitmap, Layout};
use fashion_mlp::teach::UserSet;
use fashion_mlp::train::checkpoint::Checkpoint;
use fashion_mlp::weights::{self, pytorch};

use super::shapes;

/// The targets, by the name of their fuzz binary and corpus folder.
pub const TARGETS: [(&str, fn(&[u8])); 14] = [
    ("idx", idx_file),
    ("gzip", gzip_stream),
    ("csv", csv_file),
    ("bundle", dropped_files),
    ("picture", picture),
    ("safetensors", model_file),
    ("pytorch", pytorch_file),
    // Structure-aware: the input drives `arbitrary`, which builds a well-formed, hostile file.
    ("pickle", shaped_pickle),
    ("zip", shaped_zip),
    ("legacy", shaped_legacy),
    ("checkpoint", shaped_checkpoint),
    ("rows", shaped_csv),
    ("dims", shaped_idx),
    ("png", shaped_picture),
];

/// The names a user's file may carry; the first input byte picks one, because the readers look
/// at the name (a `.gz` that is not gzip, a file that says train or test).
const NAMES: [&str; 8] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "fashion-mnist_train.csv",
    "fashion-mnist_test.csv",
    "data.bin",
    "model.safetensors",
];

fn name_and_body(data: &[u8]) -> (&'static str, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (NAMES[b as usize % NAMES.len()], rest),
        None => (NAMES[0], data),
    }
}

/// An IDX file, raw or gzipped, read as images and as labels.
pub fn idx_file(data: &[u8]) {
    let (name, body) = name_and_body(data);
    let _ = idx::peek_magic(name, body);
    let _ = idx::parse_images(name, body);
    let _ = idx::parse_labels(name, body);
}

/// A gzip member header followed by the input as the deflate stream: the fuzzer spends its time
/// inside the inflater and the length checks around it, not on finding the magic bytes.
pub fn gzip_stream(data: &[u8]) {
    let mut file = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
    file.extend_from_slice(data);
    let _ = idx::parse_images("train-images-idx3-ubyte.gz", &file);
    let _ = idx::parse_labels("train-labels-idx1-ubyte.gz", &file);
}

/// A Kaggle CSV.
pub fn csv_file(data: &[u8]) {
    let (name, body) = name_and_body(data);
    let _ = csv::parse(name, body);
}

/// A drop of up to four files: the input split at `||`, each part led by its name byte.
pub fn dropped_files(data: &[u8]) {
    let mut files = Vec::new();
    let mut rest = data;
    while files.len() < 4 && !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"||").unwrap_or(rest.len());
        let (name, body) = name_and_body(&rest[..end]);
        files.push((name.to_string(), body.to_vec()));
        rest = rest.get(end + 2..).unwrap_or(&[]);
    }
    let _ = bundle::from_files(&files);
}

/// A picture: width and height (one byte each, under 96 so that one execution stays well under a
/// millisecond and ten million fit in an afternoon), the layout, then pixels, which may be too
/// few or too many for the size.
pub fn picture(data: &[u8]) {
    let [w, h, layout, pixels @ ..] = data else { return };
    let layout = if layout & 1 == 0 { Layout::Gray } else { Layout::Rgba };
    let bitmap = Bitmap {
        width: usize::from(*w % 96),
        height: usize::from(*h % 96),
        layout,
        data: pixels,
    };
    let _ = draw::prepare_picture(&bitmap);
    let _ = draw::prepare_drawing(&bitmap, f32::from(*w % 24));
}

/// Any model file, as "Load model…" and `--model` read it (this project's safetensors, a
/// checkpoint, PyTorch weights).
pub fn model_file(data: &[u8]) {
    let (name, body) = name_and_body(data);
    let _ = weights::read_model_file(name, body);
}

/// A PyTorch file through the pickle reader and the name mapping directly.
pub fn pytorch_file(data: &[u8]) {
    if let Ok(tensors) = pytorch::read("model.pt", data) {
        let _ = pytorch::to_model_layers(&tensors);
    }
}

/// A pickle program (with repetitions of its own instructions) as the `data.pkl` of an honest
/// torch zip.
pub fn shaped_pickle(data: &[u8]) {
    if let Ok(file) = shapes::pickle_zip(&mut Unstructured::new(data)) {
        pytorch_file(&file);
    }
}

/// A torch zip whose central records may point twice at one entry, overlap or lie.
pub fn shaped_zip(data: &[u8]) {
    if let Ok(file) = shapes::torch_zip(&mut Unstructured::new(data)) {
        pytorch_file(&file);
    }
}

/// A legacy torch.save stream.
pub fn shaped_legacy(data: &[u8]) {
    if let Ok(file) = shapes::legacy_stream(&mut Unstructured::new(data)) {
        pytorch_file(&file);
    }
}

/// A training checkpoint, read as a checkpoint and as a model file.
pub fn shaped_checkpoint(data: &[u8]) {
    if let Ok(file) = shapes::checkpoint(&mut Unstructured::new(data)) {
        let _ = Checkpoint::from_bytes(&file);
        let _ = weights::read_model_file("run.ckpt", &file);
    }
}

/// A Kaggle-layout CSV, read as a dataset and as a drawing set.
pub fn shaped_csv(data: &[u8]) {
    if let Ok(file) = shapes::csv(&mut Unstructured::new(data)) {
        let _ = csv::parse("fashion-mnist_train.csv", &file);
        let _ = UserSet::from_bytes("drawings.csv", &file);
    }
}

/// An IDX file whose dimensions may promise more than it holds.
pub fn shaped_idx(data: &[u8]) {
    if let Ok((name, file)) = shapes::idx(&mut Unstructured::new(data)) {
        let _ = idx::parse_images(name, &file);
        let _ = idx::parse_labels(name, &file);
    }
}

/// A PNG or PGM of any declared size, as `fashion predict` reads it, with the decoder's memory
/// set under the fuzz allocator's one-allocation limit (the CLI allows 256 MiB: a 48-megapixel
/// photo), so that a decoder ignoring its limit is caught.
pub fn shaped_picture(data: &[u8]) {
    const FUZZ_DECODED: u64 = 48 << 20;
    if let Ok(file) = shapes::picture(&mut Unstructured::new(data)) {
        let _ = fashion_mlp::picture::read_picture(&file, None, FUZZ_DECODED);
        let _ = fashion_mlp::picture::read_picture(&file, Some(3.0), FUZZ_DECODED);
    }
}
