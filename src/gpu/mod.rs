//! The fused training step for the MLP on burn's own GPU runtime (cubecl kernels on the wgpu
//! device burn initialised: WebGPU in the browser, Vulkan/Metal/DX12 natively). burn's autodiff
//! needs dozens of small kernels and allocations a step; this needs `3L` launches (12 for the
//! reference MLP) into buffers allocated once, which is what decides speed on a GPU where each
//! dispatch costs tens of microseconds. It is checked against burn's autodiff on the CPU
//! (tests/native/gpu_step.rs) and draws the same dropout masks (`crate::noise`).

pub mod kernels;
pub mod layout;
pub mod probe;
pub mod trainer;

pub use trainer::FusedTrainer;
