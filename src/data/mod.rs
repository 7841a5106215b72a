//! Fashion-MNIST data: the file formats users have (IDX, optionally gzipped; Kaggle CSV) and the
//! in-memory dataset with seeded shuffling.

pub mod bundle;
pub mod csv;
pub mod dataset;
pub mod idx;

pub use dataset::{CLASS_NAMES, Dataset, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
