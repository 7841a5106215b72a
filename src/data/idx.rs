//! The IDX format (big-endian header: magic, then one u32 per dimension, then u8 payload), raw
//! or gzipped, as the Fashion-MNIST distribution ships it.
//!
//! Reading never holds more than the bytes present need: the header is read first, a header that
//! announces more items than any Fashion-MNIST file holds is refused before anything else is
//! inflated, and a gzip stream is inflated only as far as the header says the data goes, plus
//! one byte to notice data that should not be there.

use std::io::Read;

use crate::error::DataError;

use super::{IMAGE_PIXELS, IMAGE_SIDE};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// The most items (images or labels) one file may hold: the official training set's 60,000.
pub const MAX_ITEMS: usize = 60_000;

/// Decoded IDX image file: `count` images of 28x28 bytes each.
#[derive(Debug, Clone)]
pub struct IdxImages {
    pub count: usize,
    pub pixels: Vec<u8>,
}

/// What an IDX file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Images => IMAGES_MAGIC,
            Kind::Labels => LABELS_MAGIC,
        }
    }

    /// The plural noun messages use.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Images => "images",
            Kind::Labels => "labels",
        }
    }

    fn header_len(self) -> usize {
        match self {
            Kind::Images => 16,
            Kind::Labels => 8,
        }
    }

    fn item_len(self) -> usize {
        match self {
            Kind::Images => IMAGE_PIXELS,
            Kind::Labels => 1,
        }
    }

    /// The kind a magic number names, if any.
    pub fn of_magic(magic: u32) -> Option<Kind> {
        match magic {
            IMAGES_MAGIC => Some(Kind::Images),
            LABELS_MAGIC => Some(Kind::Labels),
            _ => None,
        }
    }
}

/// Whether `bytes` start with gzip's magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The first four bytes once gunzipped (or as they are): enough to tell images from labels.
pub fn peek_magic(file: &str, bytes: &[u8]) -> Result<Option<u32>, DataError> {
    let mut head = [0u8; 4];
    let n = read_up_to(file, &mut source(file, bytes)?, &mut head)?;
    Ok((n == 4).then(|| u32::from_be_bytes(head)))
}

/// A reader of the file's contents: gunzipped when it is gzip. A file named `.gz` that is not
/// gzip is refused as such, whatever its bytes look like.
fn source<'a>(file: &str, bytes: &'a [u8]) -> Result<Box<dyn Read + 'a>, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty { file: file.into() });
    }
    if is_gzip(bytes) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(bytes)));
    }
    if file.to_ascii_lowercase().ends_with(".gz") {
        return Err(DataError::NotGzip {
            file: file.into(),
            start: bytes
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    Ok(Box::new(bytes))
}

/// Fills `buf` as far as the data goes; returns how much was read.
fn read_up_to(file: &str, src: &mut dyn Read, buf: &mut [u8]) -> Result<usize, DataError> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(gzip_error(file, e)),
        }
    }
    Ok(filled)
}

fn gzip_error(file: &str, e: std::io::Error) -> DataError {
    DataError::Gzip {
        file: file.into(),
        reason: e.to_string(),
    }
}

/// Reads an IDX file of `kind` (raw or gzipped) and returns its payload.
fn read(file: &str, bytes: &[u8], kind: Kind) -> Result<(usize, Vec<u8>), DataError> {
    let mut src = source(file, bytes)?;
    let mut header = vec![0u8; kind.header_len()];
    let got = read_up_to(file, &mut src, &mut header)?;
    let truncated = || DataError::TruncatedHeader {
        file: file.into(),
        len: got,
        need: kind.header_len(),
    };
    if got < 4 {
        return Err(truncated());
    }
    let word = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let magic = word(0);
    if magic != kind.magic() {
        return Err(DataError::BadMagic {
            file: file.into(),
            expected: kind.noun(),
            found: magic,
            magic: kind.magic(),
        });
    }
    if got < kind.header_len() {
        return Err(truncated());
    }
    let count = word(4) as usize;
    if kind == Kind::Images {
        let (rows, cols) = (word(8), word(12));
        if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
            return Err(DataError::BadDimensions {
                file: file.into(),
                rows,
                cols,
            });
        }
    }
    if count > MAX_ITEMS {
        return Err(DataError::TooMany {
            file: file.into(),
            what: kind.noun(),
            count,
            max: MAX_ITEMS,
        });
    }
    let expected = count * kind.item_len();
    // Room for the one byte that tells trailing data, so reading it never grows the buffer; but
    // never more than the file can hold: its own length when raw, the size a gzip stream's
    // trailer declares (a lie there only makes the buffer grow as the data really comes).
    let declared = if is_gzip(bytes) {
        bytes.len().checked_sub(4).map_or(0, |at| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        })
    } else {
        bytes.len()
    };
    let mut payload = Vec::with_capacity((expected + 1).min(declared.saturating_sub(kind.header_len()) + 1));
    src.take(expected as u64 + 1)
        .read_to_end(&mut payload)
        .map_err(|e| gzip_error(file, e))?;
    if payload.len() < expected {
        return Err(DataError::TruncatedPayload {
            file: file.into(),
            what: kind.noun(),
            expected: count,
            found: payload.len() / kind.item_len(),
        });
    }
    if payload.len() > expected {
        return Err(DataError::TrailingBytes {
            file: file.into(),
            what: kind.noun(),
            count,
        });
    }
    Ok((count, payload))
}

/// Parses an IDX3 image file (raw or gzipped); images must be 28x28.
pub fn parse_images(file: &str, bytes: &[u8]) -> Result<IdxImages, DataError> {
    let (count, pixels) = read(file, bytes, Kind::Images)?;
    Ok(IdxImages { count, pixels })
}

/// Parses an IDX1 label file (raw or gzipped); every label must be a class 0..=9.
pub fn parse_labels(file: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let (_, labels) = read(file, bytes, Kind::Labels)?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(DataError::BadLabel {
            file: file.into(),
            index,
            label,
        });
    }
    Ok(labels)
}

/// Encodes images as an IDX3 file (used by tests and by tools that export subsets).
pub fn encode_images(pixels: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [IMAGES_MAGIC, count as u32, IMAGE_SIDE as u32, IMAGE_SIDE as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX1 file.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}
