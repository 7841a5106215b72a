//! The Kaggle Fashion-MNIST CSV: an optional header row, then one row per image with the label
//! followed by 784 pixel values 0-255.

use crate::error::DataError;

use super::IMAGE_PIXELS;

/// Pixels (row-major, `count * 784`) and labels parsed from a CSV file.
#[derive(Debug, Clone)]
pub struct CsvData {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// The longest line a row may have: 785 numbers of up to three digits, quoted, with spaces, is
/// under 6 KB; anything far beyond that is not a row of this dataset.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

fn is_header(line: &str) -> bool {
    line.split(',')
        .next()
        .map(|c| c.trim().trim_matches('"').parse::<i64>().is_err())
        .unwrap_or(false)
}

/// Parses the whole CSV text. Lines are numbered from 1 as an editor shows them.
pub fn parse(file: &str, bytes: &[u8]) -> Result<CsvData, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty { file: file.into() });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::Io {
        file: file.into(),
        reason: format!("not UTF-8 text ({e})"),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(DataError::CsvLineTooLong {
                file: file.into(),
                line: line_no,
                bytes: line.len(),
                limit: MAX_LINE_BYTES,
            });
        }
        if i == 0 && is_header(line) {
            continue;
        }
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
                labels.push(value as u8);
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
    }
    if labels.is_empty() {
        return Err(DataError::CsvNoRows { file: file.into() });
    }
    Ok(CsvData { pixels, labels })
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
