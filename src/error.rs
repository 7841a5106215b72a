//! Typed errors for every layer of the core. The shells (CLI, wasm) turn them into text with
//! `Display`; nothing in the core panics on input a user or the network controls.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A count as people write it: 2,000,000,000.
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The longest name, key or class name a message quotes.
const SHOWN_CHARS: usize = 60;

/// `text` as a message quotes it: at most `SHOWN_CHARS` characters, then how long it really is
/// (a hostile file's names can be megabytes).
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

/// A dataset file could not be read or did not hold what it claims to.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    #[error("{file}: cannot read the file: {reason}")]
    Io { file: String, reason: String },
    #[error("{file}: the file is empty")]
    Empty { file: String },
    #[error("{file}: corrupt gzip data: {reason}")]
    Gzip { file: String, reason: String },
    #[error("{file}: not a gzip file (gzip starts with the bytes 1f 8b, this file with {start})")]
    NotGzip { file: String, start: String },
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
    #[error("{file}: truncated: the header announces {} {what} but the file holds {}", grouped(*expected), grouped(*found))]
    TruncatedPayload {
        file: String,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{file}: unexpected data after the {} {what} the header announces", grouped(*count))]
    TrailingBytes {
        file: String,
        what: &'static str,
        count: usize,
    },
    #[error("{file}: the header announces {} {what}; a Fashion-MNIST file holds at most {}", grouped(*count), grouped(*max))]
    TooMany {
        file: String,
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{file}: named like an IDX {named} file but it holds {found}")]
    WrongKind {
        file: String,
        named: &'static str,
        found: &'static str,
    },
    #[error("{file}: label {label} of item {index} is outside 0..=9")]
    BadLabel { file: String, index: usize, label: u8 },
    #[error("images and labels disagree: {} images but {} labels", grouped(*images), grouped(*labels))]
    CountMismatch { images: usize, labels: usize },
    #[error("{file}, line {line}: expected 785 columns (label + 784 pixels), found {found}")]
    CsvColumns { file: String, line: usize, found: usize },
    #[error("{file}, line {line}: more than 785 columns (label + 784 pixels); the rest of the line was not read")]
    CsvTooManyColumns { file: String, line: usize },
    #[error("{file}, line {line}: {}{bytes} bytes long, over the limit of {limit} for a row of 785 numbers", if *more { "more than " } else { "" })]
    CsvLineTooLong {
        file: String,
        line: usize,
        bytes: usize,
        limit: usize,
        /// The line goes on past `bytes` (it was not read to its end).
        more: bool,
    },
    #[error("{file}, line {line}: one row more than the {} images a Fashion-MNIST file holds at most", grouped(*max))]
    CsvTooManyRows { file: String, line: usize, max: usize },
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
    #[error("not a model file this app can read: {0}")]
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
    #[error("the picture is {width}x{height} pixels; it must have 1 to 4096x4096 pixels: scale it down first")]
    Size { width: usize, height: usize },
    #[error("the picture's pixel buffer has {found} bytes, expected {expected}")]
    Length { expected: usize, found: usize },
}

/// A set of the user's drawings that cannot be read or cannot teach.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TeachError {
    #[error("{file}: not a drawing set this app can read: {reason}")]
    Format { file: String, reason: String },
    #[error("{file}: the drawings were labelled for another class list ({found}); this model's classes are {}", crate::data::CLASS_NAMES.join(", "))]
    OtherClasses { file: String, found: String },
    #[error("there are no drawings to learn from: label some with \"That's a ...\" first")]
    Empty,
    #[error(
        "all {count} drawings are labelled {class}: label drawings of at least two classes, or the model only learns to answer {class}"
    )]
    OneClass { count: usize, class: String },
    #[error("teaching was cancelled; the model in use is unchanged")]
    Cancelled,
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
    #[error(transparent)]
    Teach(#[from] TeachError),
    #[error("the compute device failed: {0}")]
    Device(String),
    #[error("the training loss became NaN or infinite (try a lower learning rate)")]
    Diverged,
    #[error("image: {0}")]
    Image(String),
    /// The worker sharing the batches stopped answering (the page's two CPU workers).
    #[error("the other training worker stopped: {0}")]
    Partner(String),
}

/// What kind of thing failed, carried across the page/worker boundary so each shell can react
/// (keep the dataset, keep the model, switch to the CPU, restart the worker...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A dataset file is unreadable or not what it claims.
    Data,
    /// A model or checkpoint file does not fit.
    ModelFile,
    /// The checkpoint a run was asked to continue from does not fit (the run stops; the page
    /// keeps the run and its model).
    Checkpoint,
    /// A setting cannot train.
    Config,
    /// A picture cannot be classified.
    Picture,
    /// The user's drawings cannot be read or cannot teach.
    Drawings,
    /// The GPU failed or was lost.
    Gpu,
    /// Training diverged (NaN or infinite loss).
    Diverged,
    /// The worker itself crashed or could not start (raised by the page).
    Worker,
    /// The browser's storage refused a read or write (raised by the page).
    Storage,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Data(_) => ErrorKind::Data,
            Error::Weights(WeightsError::Readback(_)) => ErrorKind::Gpu,
            Error::Weights(_) => ErrorKind::ModelFile,
            Error::Config(_) => ErrorKind::Config,
            Error::Draw(_) | Error::Image(_) => ErrorKind::Picture,
            Error::Teach(_) => ErrorKind::Drawings,
            Error::Partner(_) => ErrorKind::Worker,
            Error::Device(_) => ErrorKind::Gpu,
            Error::Diverged => ErrorKind::Diverged,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
