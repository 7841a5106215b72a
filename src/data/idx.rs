//! The IDX format (big-endian header: magic, then one u32 per dimension, then u8 payload), raw
//! or gzipped, as the Fashion-MNIST distribution ships it.

use std::io::Read;

use crate::error::DataError;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest payload a real file can hold; a corrupt header must not make us allocate gigabytes.
const MAX_DECOMPRESSED: u64 = 256 * 1024 * 1024;

/// Decoded IDX image file: `count` images of `rows x cols` bytes each.
#[derive(Debug, Clone)]
pub struct IdxImages {
    pub count: usize,
    pub rows: u32,
    pub cols: u32,
    pub pixels: Vec<u8>,
}

/// Gunzips `bytes` when they start with the gzip magic; returns them unchanged otherwise.
pub fn maybe_gunzip(file: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty { file: file.into() });
    }
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            file: file.into(),
            reason: e.to_string(),
        })?;
    Ok(out)
}

fn header(file: &str, bytes: &[u8], dims: usize) -> Result<(u32, Vec<u32>), DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty { file: file.into() });
    }
    let need = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(DataError::TruncatedHeader {
            file: file.into(),
            len: bytes.len(),
            need,
        });
    }
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let magic = word(0);
    if bytes.len() < need {
        return Ok((magic, Vec::new()));
    }
    Ok((magic, (0..dims).map(|d| word(4 + 4 * d)).collect()))
}

fn check_payload(file: &str, payload: &[u8], expected: usize) -> Result<(), DataError> {
    match payload.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::TruncatedPayload {
            file: file.into(),
            expected,
            found: payload.len(),
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            file: file.into(),
            extra: payload.len() - expected,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Parses an IDX3 image file (raw or gzipped); images must be 28x28.
pub fn parse_images(file: &str, bytes: &[u8]) -> Result<IdxImages, DataError> {
    let raw = maybe_gunzip(file, bytes)?;
    let (magic, dims) = header(file, &raw, 3)?;
    if magic != IMAGES_MAGIC {
        return Err(DataError::BadMagic {
            file: file.into(),
            expected: "images",
            found: magic,
            magic: IMAGES_MAGIC,
        });
    }
    if dims.len() != 3 {
        return Err(DataError::TruncatedHeader {
            file: file.into(),
            len: raw.len(),
            need: 16,
        });
    }
    let (count, rows, cols) = (dims[0] as usize, dims[1], dims[2]);
    if rows != 28 || cols != 28 {
        return Err(DataError::BadDimensions {
            file: file.into(),
            rows,
            cols,
        });
    }
    let payload = &raw[16..];
    let expected = count.checked_mul(784).ok_or(DataError::TruncatedPayload {
        file: file.into(),
        expected: usize::MAX,
        found: payload.len(),
    })?;
    check_payload(file, payload, expected)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: payload.to_vec(),
    })
}

/// Parses an IDX1 label file (raw or gzipped); every label must be a class 0..=9.
pub fn parse_labels(file: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let raw = maybe_gunzip(file, bytes)?;
    let (magic, dims) = header(file, &raw, 1)?;
    if magic != LABELS_MAGIC {
        return Err(DataError::BadMagic {
            file: file.into(),
            expected: "labels",
            found: magic,
            magic: LABELS_MAGIC,
        });
    }
    if dims.len() != 1 {
        return Err(DataError::TruncatedHeader {
            file: file.into(),
            len: raw.len(),
            need: 8,
        });
    }
    let payload = &raw[8..];
    check_payload(file, payload, dims[0] as usize)?;
    if let Some((index, &label)) = payload.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(DataError::BadLabel {
            file: file.into(),
            index,
            label,
        });
    }
    Ok(payload.to_vec())
}

/// Encodes images as an IDX3 file (used by tests and by tools that export subsets).
pub fn encode_images(pixels: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [IMAGES_MAGIC, count as u32, 28, 28] {
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
