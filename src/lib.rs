//! Fashion-MNIST MLP: one core (data, model, training, metrics, weights, drawing preprocessing)
//! for two shells, a native CLI (`src/bin/fashion`) and a wasm layer for the browser (`web`).
//!
//! Without the `ml` feature (the page's own module) everything but burn is built: data, drawing
//! preprocessing, errors, facts, metrics, weights files and their plain forward pass, and the
//! training session with the CPU engine. `ml` adds burn (the reference engine and the CLI),
//! `gpu` the GPU engine.

#[cfg(feature = "ml")]
pub mod backend;
pub mod data;
pub mod draw;
pub mod drawings;
pub mod error;
pub mod facts;
pub mod metrics;
pub mod model;
pub mod noise;
#[cfg(not(target_arch = "wasm32"))]
pub mod picture;
pub mod teach;
pub mod train;
pub mod web;
pub mod weights;

pub use error::{Error, ErrorKind, Result};
