//! Turning the files a user drops (any mix of the four IDX files, gzipped or not, or two Kaggle
//! CSVs) into a training and a test set, telling which file is which by content and name.

use crate::error::DataError;

use super::{Dataset, idx};

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

fn is_csv(name: &str, bytes: &[u8]) -> bool {
    name.to_ascii_lowercase().ends_with(".csv") || bytes.first().is_some_and(|b| b.is_ascii_alphanumeric() && *b != 0)
}

fn parse_part(name: &str, bytes: &[u8]) -> Result<Part, DataError> {
    let test = split_hint(name);
    if is_csv(name, bytes) {
        let dataset = Dataset::from_csv(name, bytes)?;
        return Ok(Part {
            name: name.into(),
            role: Role::Csv,
            test,
            dataset: Some(dataset),
            images: None,
            labels: None,
        });
    }
    let raw = idx::maybe_gunzip(name, bytes)?;
    if raw.len() >= 4 && raw[..4] == [0, 0, 8, 1] {
        let labels = idx::parse_labels(name, &raw)?;
        return Ok(Part {
            name: name.into(),
            role: Role::Labels,
            test,
            dataset: None,
            images: None,
            labels: Some(labels),
        });
    }
    let images = idx::parse_images(name, &raw)?;
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
    let mut parts = files
        .iter()
        .map(|(n, b)| parse_part(n, b))
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
