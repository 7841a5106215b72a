//! The GPU engine (feature `gpu`): the whole training step fused into `3L` kernel launches (12
//! for the reference MLP) on burn's own GPU runtime (cubecl kernels on the wgpu device burn
//! initialised: WebGPU in the browser, Vulkan/Metal/DX12 natively), into buffers allocated once,
//! which is what decides speed on a GPU where each dispatch costs tens of microseconds. It draws
//! the same masks as every engine (`noise`) and is tested against burn's autodiff
//! (tests/native/engines.rs).

pub mod kernels;
pub mod probe;
pub mod trainer;

pub use trainer::GpuTrainer;
