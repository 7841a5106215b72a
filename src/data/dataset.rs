//! The in-memory dataset: raw u8 pixels and labels, validated once at load time.

use std::path::Path;

use crate::error::DataError;

use super::{csv, idx};

pub const IMAGE_SIDE: usize = 28;
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
pub const NUM_CLASSES: usize = 10;
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// File names of the official distribution, as the setup installs them.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte.gz";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte.gz";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

/// Which half of the official distribution to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Images (u8, row-major 28x28 each) with their labels; `pixels.len() == 784 * labels.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl Dataset {
    /// Builds a dataset, checking that images and labels agree and labels are classes.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Result<Self, DataError> {
        if !pixels.len().is_multiple_of(IMAGE_PIXELS) || pixels.len() / IMAGE_PIXELS != labels.len() {
            return Err(DataError::CountMismatch {
                images: pixels.len() / IMAGE_PIXELS,
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
            return Err(DataError::BadLabel {
                file: "labels".into(),
                index,
                label,
            });
        }
        Ok(Self { pixels, labels })
    }

    /// Parses an IDX image file and an IDX label file (each raw or gzipped).
    pub fn from_idx(images_name: &str, images: &[u8], labels_name: &str, labels: &[u8]) -> Result<Self, DataError> {
        let images = idx::parse_images(images_name, images)?;
        let labels = idx::parse_labels(labels_name, labels)?;
        if images.count != labels.len() {
            return Err(DataError::CountMismatch {
                images: images.count,
                labels: labels.len(),
            });
        }
        Self::new(images.pixels, labels)
    }

    /// Parses a Kaggle CSV file, held in memory (`&[u8]`) or streamed.
    pub fn from_csv(name: &str, reader: impl std::io::BufRead) -> Result<Self, DataError> {
        let data = csv::read(name, reader)?;
        Self::new(data.pixels, data.labels)
    }

    /// Loads one split of the official `.gz` files from `dir`.
    pub fn load_idx_dir(dir: &Path, split: Split) -> Result<Self, DataError> {
        let (images, labels) = match split {
            Split::Train => (TRAIN_IMAGES, TRAIN_LABELS),
            Split::Test => (TEST_IMAGES, TEST_LABELS),
        };
        let read = |name: &str| -> Result<Vec<u8>, DataError> {
            let path = dir.join(name);
            if !path.exists() {
                return Err(DataError::Missing {
                    dir: dir.display().to_string(),
                    what: name.into(),
                });
            }
            std::fs::read(&path).map_err(|e| DataError::Io {
                file: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        let image_path = dir.join(images).display().to_string();
        let label_path = dir.join(labels).display().to_string();
        Self::from_idx(&image_path, &read(images)?, &label_path, &read(labels)?)
    }

    /// Loads a CSV file from disk.
    pub fn load_csv(path: &Path) -> Result<Self, DataError> {
        let name = path.display().to_string();
        // Streamed: a file of any size is refused at its first bad line or past 60,000 rows
        // without being held whole.
        let file = std::fs::File::open(path).map_err(|e| DataError::Io {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        Self::from_csv(&name, std::io::BufReader::with_capacity(1 << 16, file))
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The raw 28x28 bytes of image `i`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        self.pixels.get(i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS)
    }

    /// How many images each class has.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The first `n` images (all of them when `n >= len`).
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            pixels: self.pixels[..n * IMAGE_PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// A seeded random subset of `n` images, so small runs still see every class.
    pub fn sample(&self, n: usize, seed: u64) -> Self {
        let order: Vec<usize> = shuffled_indices(self.len(), seed)
            .into_iter()
            .map(|i| i as usize)
            .collect();
        self.select(&order[..n.min(self.len())])
    }

    /// The images at `indices`, in that order; indices past the end are skipped.
    pub fn select(&self, indices: &[usize]) -> Self {
        let indices: Vec<usize> = indices.iter().copied().filter(|&i| i < self.len()).collect();
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        for &i in &indices {
            pixels.extend_from_slice(&self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Self { pixels, labels }
    }

    /// Pixels scaled to [0, 1], as the model expects them.
    pub fn scaled_pixels(&self) -> Vec<f32> {
        self.pixels.iter().map(|&p| p as f32 / 255.0).collect()
    }
}

/// A reproducible permutation of `0..n` (ChaCha8: the same on every platform).
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<u32> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    order
}
