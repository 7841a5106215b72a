#![cfg(not(target_arch = "wasm32"))]
//! The native integration tests, one test binary: each binary of its own linked and specialised
//! burn again at opt-level 3, minutes of a cold CI build. `cargo test --release --test native
//! <module>::` runs one file's tests (e.g. `drawings::`). Memory limits live apart, in
//! tests/bounded_memory.rs, whose counting allocator would count every test here.

mod cli;
mod data_errors;
mod draw;
mod drawings;
mod engines;
mod fuzz_replay;
mod host_forward;
mod pytorch;
mod ready_model;
mod real_data;
mod session;
mod teach;
mod training;
mod weights_errors;

use std::path::{Path, PathBuf};

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::model::{Mlp, MlpConfig};
use fashion_mlp::train::TrainConfig;

/// The real Fashion-MNIST files the setup installs.
pub fn data_dir() -> PathBuf {
    std::env::var("FASHION_DATA_DIR")
        .unwrap_or_else(|_| fashion_mlp::facts::DEFAULT_DATA_DIR.into())
        .into()
}

pub fn real(split: Split) -> Dataset {
    Dataset::load_idx_dir(&data_dir(), split).expect("run the setup: the dataset is missing")
}

/// A file of this repository: of the checkout cargo runs the tests in (its CARGO_MANIFEST_DIR at
/// run time). The path compiled in names the checkout that built this binary, and a build cache
/// shared between checkouts (CI's, outside the clone) may hand over a binary built in another.
pub fn repo_file(path: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(), PathBuf::from)
        .join(path)
}

/// The shipped model's bytes (models/ready.safetensors).
pub fn ready_bytes() -> Vec<u8> {
    std::fs::read(repo_file("models/ready.safetensors")).expect("models/ready.safetensors")
}

/// A burn model of this shape with the initial weights of a run seeded `seed`.
pub fn model(shape: MlpConfig, seed: u64) -> Mlp {
    let config = TrainConfig {
        model: shape,
        seed,
        ..TrainConfig::default()
    };
    fashion_mlp::train::init::initial_weights(&config)
        .expect("valid shape")
        .to_model(&fashion_mlp::backend::cpu())
        .expect("a model")
}
