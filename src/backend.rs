//! Choosing a burn device by name. The CPU backend is ndarray (the product's choice); flex is
//! available behind the `flex` feature for comparison.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// A compute backend the core can train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Ndarray,
    #[cfg(feature = "flex")]
    Flex,
    Wgpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            #[cfg(feature = "flex")]
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        }
    }

    /// A CPU device; WebGPU needs an async initialisation and is set up by the shells.
    #[allow(deprecated)] // ndarray is the chosen CPU backend; flex is measured beside it.
    pub fn cpu_device(self) -> Option<Device> {
        match self {
            Backend::Ndarray => Some(Device::ndarray()),
            #[cfg(feature = "flex")]
            Backend::Flex => Some(Device::flex()),
            Backend::Wgpu => None,
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ndarray" | "cpu" => Ok(Backend::Ndarray),
            #[cfg(feature = "flex")]
            "flex" => Ok(Backend::Flex),
            "wgpu" | "webgpu" | "gpu" => Ok(Backend::Wgpu),
            other => Err(format!(
                "unknown backend '{other}' (expected ndarray, wgpu{})",
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

/// The CPU device used for the host-side model copy and for tests.
pub fn cpu() -> Device {
    Backend::Ndarray.cpu_device().expect("ndarray is always compiled in")
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
