//! Fashion-MNIST MLP: one core (data, model, training, metrics, weights, drawing preprocessing)
//! for two shells, a native CLI (`src/bin/fashion`) and a wasm layer for the browser (`web`).
//!
//! Without the `ml` feature (the page's own module) only what needs no tensor library is built:
//! data, drawing preprocessing, errors, facts, metrics, the recipes, weights files and their
//! plain forward pass.

#[cfg(feature = "ml")]
pub mod backend;
pub mod data;
pub mod draw;
#[cfg(feature = "ml")]
pub mod drawings;
pub mod error;
pub mod facts;
#[cfg(feature = "gpu")]
pub mod gpu;
#[cfg(feature = "ml")]
pub mod infer;
pub mod metrics;
pub mod model;
#[cfg(feature = "ml")]
pub mod noise;
pub mod portable_math;
pub mod train;
pub mod web;
pub mod weights;

pub use error::{Error, ErrorKind, Result};
