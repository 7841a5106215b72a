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

/// The native GPU device (Vulkan, Metal or DX12 through wgpu; a software Vulkan device such as
/// lavapipe counts). burn's runtime initialises once per process, so the outcome is kept.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub fn native_gpu() -> Result<Device, String> {
    native_gpu_with_info().map(|(d, _)| d)
}

/// What wgpu found natively: the adapter's name, type and API.
#[derive(Debug, Clone, Serialize)]
pub struct GpuInfo {
    pub name: String,
    pub device_type: String,
    pub backend: String,
    /// A CPU implementation (lavapipe, SwiftShader, WARP), not a GPU.
    pub software: bool,
}

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub fn native_gpu_with_info() -> Result<(Device, GpuInfo), String> {
    static GPU: std::sync::OnceLock<Result<(Device, GpuInfo), String>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| {
        let (device, setup) = Device::wgpu_options()
            .init_with_setup()
            .map_err(|e| format!("no usable GPU for the wgpu backend: {e}"))?;
        let info = setup.adapter.get_info();
        let device_type = format!("{:?}", info.device_type);
        Ok((
            device,
            GpuInfo {
                software: device_type == "Cpu",
                name: info.name,
                device_type,
                backend: format!("{:?}", info.backend),
            },
        ))
    })
    .clone()
}

/// burn's ndarray device (the reference engine's, and tests').
#[allow(deprecated)]
pub fn cpu() -> Device {
    Device::ndarray()
}

/// Whether `device` (with or without autodiff) computes on the CPU (ndarray or flex).
pub fn is_cpu(device: &Device) -> bool {
    use burn_dispatch::DispatchDevice;
    match device.clone().without_autodiff().as_dispatch() {
        DispatchDevice::NdArray(_) => true,
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        _ => false,
    }
}
