//! Typed errors for every layer of the core. The shells (CLI, wasm) turn them into text with
//! `Display`; nothing in the core panics on input a user or the network controls.

use thiserror::Error;

/// A dataset file could not be read or did not hold what it claims to.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    #[error("{file}: cannot read the file: {reason}")]
    Io { file: String, reason: String },
    #[error("{file}: the file is empty")]
    Empty { file: String },
    #[error("{file}: corrupt gzip data: {reason}")]
    Gzip { file: String, reason: String },
    #[error("{file}: not an IDX {expected} file (magic number 0x{found:08x}, expected 0x{magic:08x})")]
    BadMagic {
        file: String,
        expected: &'static str,
        found: u32,
        magic: u32,
    },
    #[error("{file}: the header is truncated ({len} bytes, need {need})")]
    TruncatedHeader { file: String, len: usize, need: usize },
    #[error("{file}: images are {rows}x{cols}, expected 28x28")]
    BadDimensions { file: String, rows: u32, cols: u32 },
    #[error("{file}: truncated payload: the header announces {expected} bytes of data but the file has {found}")]
    TruncatedPayload {
        file: String,
        expected: usize,
        found: usize,
    },
    #[error("{file}: {extra} unexpected bytes after the announced data")]
    TrailingBytes { file: String, extra: usize },
    #[error("{file}: label {label} of item {index} is outside 0..=9")]
    BadLabel { file: String, index: usize, label: u8 },
    #[error("images and labels disagree: {images} images but {labels} labels")]
    CountMismatch { images: usize, labels: usize },
    #[error("{file}, line {line}: expected 785 columns (label + 784 pixels), found {found}")]
    CsvColumns { file: String, line: usize, found: usize },
    #[error("{file}, line {line}, column {column}: '{cell}' is not a whole number")]
    CsvNotNumber {
        file: String,
        line: usize,
        column: usize,
        cell: String,
    },
    #[error("{file}, line {line}: label {value} is outside 0..=9")]
    CsvLabel { file: String, line: usize, value: i64 },
    #[error("{file}, line {line}, column {column}: pixel {value} is outside 0..=255")]
    CsvPixel {
        file: String,
        line: usize,
        column: usize,
        value: i64,
    },
    #[error("{file}: no data rows")]
    CsvNoRows { file: String },
    #[error("{what}: no such file in {dir}")]
    Missing { dir: String, what: String },
}

/// A weights file does not fit the model, or the model could not be serialised.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WeightsError {
    #[error("not a valid safetensors model file: {0}")]
    Format(String),
    #[error("the model file does not match this model: {0}")]
    Mismatch(String),
    #[error("could not read the model's parameters from the device: {0}")]
    Readback(String),
}

/// Configuration values that cannot train or build a model.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// A picture that cannot become the model's input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DrawError {
    #[error("the picture is blank: draw something first")]
    Blank,
    #[error("the picture is {width}x{height} pixels; it must be 1 to 16384 pixels on each side")]
    Size { width: usize, height: usize },
    #[error("the picture's pixel buffer has {found} bytes, expected {expected}")]
    Length { expected: usize, found: usize },
}

/// Everything the core can fail with.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Draw(#[from] DrawError),
    #[error("the compute device failed: {0}")]
    Device(String),
    #[error("image: {0}")]
    Image(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
