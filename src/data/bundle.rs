//! Turning the files a user drops (any mix of the four IDX files, gzipped or not, or two Kaggle
//! CSVs) into a training and a test set, telling which file is which by content and name.

use std::io::{BufRead, Read};

use crate::error::{DataError, grouped};

use super::{Dataset, idx};

/// The largest IDX file read (gzipped or not): the training images, raw, are 47,040,016 bytes.
pub const MAX_IDX_FILE_BYTES: u64 = 48 << 20;

/// A dropped file's contents: its bytes, or a stream (the page's worker reads a user's file in
/// slices, so a CSV of any size costs one slice and the rows so far) with its first bytes and
/// its size.
pub enum Content<'a> {
    Bytes(&'a [u8]),
    Stream {
        head: Vec<u8>,
        len: u64,
        reader: Box<dyn BufRead + 'a>,
    },
}

impl Content<'_> {
    fn head(&self) -> &[u8] {
        match self {
            Content::Bytes(bytes) => bytes,
            Content::Stream { head, .. } => head,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Images,
    Labels,
    Csv,
}

struct Part {
    name: String,
    role: Role,
    test: Option<bool>,
    dataset: Option<Dataset>,
    images: Option<idx::IdxImages>,
    labels: Option<Vec<u8>>,
}

fn split_hint(name: &str) -> Option<bool> {
    let lower = name.to_ascii_lowercase();
    if lower.contains("t10k") || lower.contains("test") {
        Some(true)
    } else if lower.contains("train") {
        Some(false)
    } else {
        None
    }
}

/// A CSV by name, or text bytes in a file whose name does not say IDX. A file named like an IDX
/// file (.gz, ubyte, idx) is read as one, so its errors speak of IDX, not of CSV columns.
fn is_csv(name: &str, bytes: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        return !idx::is_gzip(bytes);
    }
    let idx_named = lower.ends_with(".gz") || lower.contains("ubyte") || lower.contains("idx");
    !idx_named && !idx::is_gzip(bytes) && bytes.first().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Which IDX kind the name says ("...labels...", "...images..."), if it says.
fn named_kind(name: &str) -> Option<idx::Kind> {
    let lower = name.to_ascii_lowercase();
    if lower.contains("label") {
        Some(idx::Kind::Labels)
    } else if lower.contains("image") {
        Some(idx::Kind::Images)
    } else {
        None
    }
}

fn parse_part(name: &str, content: Content) -> Result<Part, DataError> {
    let test = split_hint(name);
    if is_csv(name, content.head()) {
        let dataset = match content {
            Content::Bytes(bytes) => Dataset::from_csv(name, bytes)?,
            Content::Stream { reader, .. } => Dataset::from_csv(name, reader)?,
        };
        return Ok(Part {
            name: name.into(),
            role: Role::Csv,
            test,
            dataset: Some(dataset),
            images: None,
            labels: None,
        });
    }
    let read;
    let bytes = match content {
        Content::Bytes(bytes) => bytes,
        Content::Stream { len, reader, .. } => {
            if len > MAX_IDX_FILE_BYTES {
                return Err(DataError::Io {
                    file: name.into(),
                    reason: format!(
                        "{} bytes, over the limit of {} for an IDX file (the training images are 47,040,016)",
                        grouped(len as usize),
                        grouped(MAX_IDX_FILE_BYTES as usize)
                    ),
                });
            }
            let mut bytes = Vec::with_capacity(len as usize);
            reader
                .take(MAX_IDX_FILE_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| DataError::Io {
                    file: name.into(),
                    reason: e.to_string(),
                })?;
            read = bytes;
            &read
        }
    };
    // The magic number says what the file holds; a name that says otherwise is an error of its own.
    let found = idx::peek_magic(name, bytes)?.and_then(idx::Kind::of_magic);
    let named = named_kind(name);
    if let (Some(n), Some(f)) = (named, found)
        && n != f
    {
        return Err(DataError::WrongKind {
            file: name.into(),
            named: n.noun(),
            found: f.noun(),
        });
    }
    if found.or(named) == Some(idx::Kind::Labels) {
        let labels = idx::parse_labels(name, bytes)?;
        return Ok(Part {
            name: name.into(),
            role: Role::Labels,
            test,
            dataset: None,
            images: None,
            labels: Some(labels),
        });
    }
    let images = idx::parse_images(name, bytes)?;
    Ok(Part {
        name: name.into(),
        role: Role::Images,
        test,
        dataset: None,
        images: Some(images),
        labels: None,
    })
}

fn count(p: &Part) -> usize {
    p.dataset
        .as_ref()
        .map(Dataset::len)
        .or(p.images.as_ref().map(|i| i.count))
        .or(p.labels.as_ref().map(Vec::len))
        .unwrap_or(0)
}

/// Builds `(train, test)` from named files: four IDX files, or two CSVs.
pub fn from_files(files: &[(String, Vec<u8>)]) -> Result<(Dataset, Dataset), DataError> {
    from_contents(files.iter().map(|(n, b)| (n.clone(), Content::Bytes(b))).collect())
}

/// `from_files` for files given as bytes or streams.
pub fn from_contents(files: Vec<(String, Content)>) -> Result<(Dataset, Dataset), DataError> {
    let mut parts = files
        .into_iter()
        .map(|(n, c)| parse_part(&n, c))
        .collect::<Result<Vec<_>, _>>()?;
    // Files whose names don't say train or test: the larger set of a kind is the training set.
    for role in [Role::Images, Role::Labels, Role::Csv] {
        let of_role: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].role == role).collect();
        if of_role.len() == 2 && of_role.iter().any(|&i| parts[i].test.is_none()) {
            let (a, b) = (of_role[0], of_role[1]);
            let a_is_test = count(&parts[a]) < count(&parts[b]);
            parts[a].test = Some(a_is_test);
            parts[b].test = Some(!a_is_test);
        }
    }
    let mut take = |role: Role, test: bool| -> Option<Part> {
        let i = parts.iter().position(|p| p.role == role && p.test == Some(test))?;
        Some(parts.remove(i))
    };
    let mut split = |test: bool| -> Result<Dataset, DataError> {
        let which = if test { "test" } else { "training" };
        if let Some(csv) = take(Role::Csv, test) {
            return csv.dataset.ok_or(DataError::CsvNoRows { file: csv.name });
        }
        match (take(Role::Images, test), take(Role::Labels, test)) {
            (Some(img), Some(lab)) => {
                let images = img.images.ok_or(DataError::Empty { file: img.name.clone() })?;
                let labels = lab.labels.ok_or(DataError::Empty { file: lab.name.clone() })?;
                if images.count != labels.len() {
                    return Err(DataError::CountMismatch {
                        images: images.count,
                        labels: labels.len(),
                    });
                }
                Dataset::new(images.pixels, labels)
            }
            (None, _) => Err(DataError::Missing {
                dir: "the chosen files".into(),
                what: format!("{which} images (an IDX images file or a CSV)"),
            }),
            (_, None) => Err(DataError::Missing {
                dir: "the chosen files".into(),
                what: format!("{which} labels (an IDX labels file)"),
            }),
        }
    };
    let train = split(false)?;
    let test = split(true)?;
    Ok((train, test))
}
