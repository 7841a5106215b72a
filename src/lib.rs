//! Fashion-MNIST MLP: one core (data, model, training, metrics, weights, drawing preprocessing)
//! for two shells, a native CLI (`src/bin/fashion`) and a wasm layer for the browser (`web`).

pub mod backend;
pub mod data;
pub mod draw;
pub mod drawings;
pub mod error;
pub mod facts;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod infer;
pub mod metrics;
pub mod model;
pub mod noise;
pub mod train;
pub mod web;
pub mod weights;

pub use error::{Error, ErrorKind, Result};
