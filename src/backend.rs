//! The backends the CLI can train on, by name: the CPU engine (`cpu`, the product's), the GPU
//! engine on whatever wgpu finds (`wgpu`), and burn's autodiff on its CPU backends (`ndarray`,
//! and `flex` behind the feature of that name), the reference the engines are tested against.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::Compute;
use crate::train::cpu::CpuOptions;

/// A compute backend the CLI can train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Cpu,
    Wgpu,
    Ndarray,
    #[cfg(feature = "flex")]
    Flex,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Ndarray => "ndarray",
            #[cfg(feature = "flex")]
            Backend::Flex => "flex",
        }
    }

    /// Where a run on this backend computes (the GPU is set up here, once per process).
    #[allow(deprecated)] // ndarray is burn's CPU backend the reference runs on; flex is measured beside it.
    pub fn compute(self, cpu: CpuOptions) -> Result<Compute, String> {
        match self {
            Backend::Cpu => Ok(Compute::Cpu(cpu)),
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Wgpu => native_gpu().map(Compute::Gpu),
            #[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
            Backend::Wgpu => Err("this build has no GPU support (built without the `gpu` feature)".into()),
            Backend::Ndarray => Ok(Compute::Autodiff(Device::ndarray())),
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Compute::Autodiff(Device::flex())),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(Backend::Wgpu),
            "ndarray" => Ok(Backend::Ndarray),
            #[cfg(feature = "flex")]
            "flex" => Ok(Backend::Flex),
            other => Err(format!(
                "unknown backend '{other}' (expected cpu, wgpu or ndarray{})",
                if cfg!(feature = "flex") { " or flex" } else { "" }
            )),
        }
    }
}

/// The native GPU (Vulkan, Metal or DX12 through wgpu; a software Vulkan device such as lavapipe
/// counts), set up once per process.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub fn native_gpu() -> Result<crate::train::gpu::GpuDevice, String> {
    static GPU: std::sync::OnceLock<Result<crate::train::gpu::GpuDevice, String>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| pollster::block_on(crate::train::gpu::GpuDevice::new()))
        .clone()
}

/// burn's ndarray device (the reference engine's, and tests').
#[allow(deprecated)]
pub fn cpu() -> Device {
    Device::ndarray()
}
