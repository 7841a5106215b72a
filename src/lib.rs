//! Fashion-MNIST MLP: one core (data, model, training, metrics, weights, drawing preprocessing)
//! for two shells, a native CLI (`src/bin/fashion`) and a wasm layer for the browser (`web`).

pub mod backend;
pub mod data;
pub mod draw;
pub mod error;
pub mod metrics;
pub mod model;
pub mod noise;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod weights;

pub use error::{Error, Result};
