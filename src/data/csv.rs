//! The Kaggle Fashion-MNIST CSV: an optional header row, then one row per image with the label
//! followed by 784 pixel values 0-255.

use std::io::{BufRead, Read};

use crate::error::DataError;

use super::IMAGE_PIXELS;
use super::idx::MAX_ITEMS;

/// Pixels (row-major, `count * 784`) and labels parsed from a CSV file.
#[derive(Debug, Clone)]
pub struct CsvData {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// The longest line a row may have: 785 numbers of up to three digits, quoted, with spaces, is
/// under 6 KB; anything far beyond that is not a row of this dataset.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// How far past the limit a line too long is read to say how long it is (a line of 400 MB is
/// "more than" this, without reading it all).
const MEASURED_LINE_BYTES: usize = 64 << 20;

fn is_header(line: &str) -> bool {
    line.split(',')
        .next()
        .map(|c| c.trim().trim_matches('"').parse::<i64>().is_err())
        .unwrap_or(false)
}

/// Parses a CSV file held in memory (the page's files). Lines are numbered from 1 as an editor
/// shows them.
pub fn parse(file: &str, bytes: &[u8]) -> Result<CsvData, DataError> {
    read(file, bytes)
}

/// Parses a CSV file line by line from `reader` (the CLI streams it from disk): at most one
/// line of `MAX_LINE_BYTES` and the rows so far are held, whatever the file's size.
pub fn read(file: &str, mut reader: impl BufRead) -> Result<CsvData, DataError> {
    let io = |e: std::io::Error| DataError::Io {
        file: file.into(),
        reason: e.to_string(),
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut line_no = 0;
    let mut empty = true;
    loop {
        buf.clear();
        // One byte past the limit (and its line end) tells a line too long without reading it
        // all; the first line may start with a 3-byte BOM besides.
        let bom = if line_no == 0 { 3 } else { 0 };
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 2 + bom)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if read == 0 {
            break;
        }
        empty = false;
        line_no += 1;
        let ended = buf.last() == Some(&b'\n');
        let mut bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if line_no == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        if bytes.len() > MAX_LINE_BYTES {
            let (rest, more) = if ended {
                (0, false)
            } else {
                skip_line(&mut reader, MEASURED_LINE_BYTES - bytes.len()).map_err(io)?
            };
            return Err(DataError::CsvLineTooLong {
                file: file.into(),
                line: line_no,
                bytes: bytes.len() + rest,
                limit: MAX_LINE_BYTES,
                more,
            });
        }
        let line = std::str::from_utf8(bytes).map_err(|e| DataError::Io {
            file: file.into(),
            reason: format!("line {line_no} is not UTF-8 text ({e})"),
        })?;
        if line.trim().is_empty() || (line_no == 1 && is_header(line)) {
            continue;
        }
        if labels.len() == MAX_ITEMS {
            return Err(DataError::CsvTooManyRows {
                file: file.into(),
                line: line_no,
                max: MAX_ITEMS,
            });
        }
        let label = parse_row(file, line_no, line, &mut pixels)?;
        labels.push(label);
    }
    if empty {
        return Err(DataError::Empty { file: file.into() });
    }
    if labels.is_empty() {
        return Err(DataError::CsvNoRows { file: file.into() });
    }
    Ok(CsvData { pixels, labels })
}

/// Reads past the rest of a line, at most `budget` bytes of it, without keeping it; returns
/// its length (without its line end, "\n" or "\r\n") and whether it goes on past the budget.
fn skip_line(reader: &mut impl BufRead, budget: usize) -> std::io::Result<(usize, bool)> {
    let mut skipped = 0;
    let mut last = None;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((skipped, false));
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let before = if end > 0 { chunk.get(end - 1).copied() } else { last };
                reader.consume(end + 1);
                return Ok((skipped + end - usize::from(before == Some(b'\r')), false));
            }
            None if skipped + chunk.len() > budget => return Ok((skipped, true)),
            None => {
                let n = chunk.len();
                last = chunk.last().copied();
                reader.consume(n);
                skipped += n;
            }
        }
    }
}

/// One data row: its pixels appended to `pixels`, its label returned.
fn parse_row(file: &str, line_no: usize, line: &str, pixels: &mut Vec<u8>) -> Result<u8, DataError> {
    // The cells are checked as they come: a line of a million commas costs nothing.
    let mut cells: [&str; IMAGE_PIXELS + 1] = [""; IMAGE_PIXELS + 1];
    let mut found = 0;
    for cell in line.split(',') {
        if found == cells.len() {
            return Err(DataError::CsvTooManyColumns {
                file: file.into(),
                line: line_no,
            });
        }
        cells[found] = cell;
        found += 1;
    }
    if found != IMAGE_PIXELS + 1 {
        return Err(DataError::CsvColumns {
            file: file.into(),
            line: line_no,
            found,
        });
    }
    let mut label = 0;
    for (column, cell) in cells.iter().enumerate() {
        let cell = cell.trim().trim_matches('"');
        let value: i64 = cell.parse().map_err(|_| DataError::CsvNotNumber {
            file: file.into(),
            line: line_no,
            column: column + 1,
            cell: cell.chars().take(20).collect(),
        })?;
        if column == 0 {
            if !(0..=9).contains(&value) {
                return Err(DataError::CsvLabel {
                    file: file.into(),
                    line: line_no,
                    value,
                });
            }
            label = value as u8;
        } else {
            if !(0..=255).contains(&value) {
                return Err(DataError::CsvPixel {
                    file: file.into(),
                    line: line_no,
                    column: column + 1,
                    value,
                });
            }
            pixels.push(value as u8);
        }
    }
    Ok(label)
}

/// Writes images and labels as a Kaggle-style CSV with its header row.
pub fn encode(pixels: &[u8], labels: &[u8]) -> String {
    let mut out = String::from("label");
    for p in 1..=IMAGE_PIXELS {
        out.push_str(&format!(",pixel{p}"));
    }
    out.push('\n');
    for (row, label) in pixels.chunks(IMAGE_PIXELS).zip(labels) {
        out.push_str(&label.to_string());
        for p in row {
            out.push(',');
            out.push_str(&p.to_string());
        }
        out.push('\n');
    }
    out
}
