//! What each fuzz target does with its input, shared by the cargo-fuzz targets (`fuzz/`) and the
//! replay test (`tests/native/fuzz_replay.rs`), so CI runs exactly the code that was fuzzed on every kept
//! input. Each function must return for any bytes: an `Err` is a fine answer, a panic, a hang or
//! an allocation beyond the limits (checked by the fuzz targets' allocator) is a finding.

use fashion_mlp::data::{bundle, csv, idx};
use fashion_mlp::draw::{self, Bitmap, Layout};
use fashion_mlp::weights::{self, pytorch};

/// The targets, by the name of their fuzz binary and corpus folder.
pub const TARGETS: [(&str, fn(&[u8])); 7] = [
    ("idx", idx_file),
    ("gzip", gzip_stream),
    ("csv", csv_file),
    ("bundle", dropped_files),
    ("picture", picture),
    ("safetensors", model_file),
    ("pytorch", pytorch_file),
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
