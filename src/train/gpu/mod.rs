//! The GPU engine (feature `gpu`): the whole training step fused into `3L` dispatches (12 for
//! the reference MLP) of WGSL kernels written for this network (`wgsl`), on wgpu (`device`:
//! WebGPU in the browser, Vulkan/Metal/DX12 natively), into buffers allocated once (`trainer`),
//! a chunk of steps per command buffer. It draws the same masks as every engine (`noise`) and is
//! tested against burn's autodiff (tests/native/engines.rs) and in the browser
//! (tests/browser.rs).

pub mod device;
pub mod probe;
pub mod trainer;
pub mod wgsl;

pub use device::{GpuDevice, GpuInfo};
pub use trainer::GpuTrainer;
