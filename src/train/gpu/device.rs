//! A GPU for the GPU engine, through wgpu: WebGPU in the browser, Vulkan, Metal or DX12 natively
//! (a software Vulkan device such as lavapipe counts). The device is watched: once it is lost,
//! or reports an error it was not asked about, `lost_reason` says why and runs on it stop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// What the adapter is.
#[derive(Debug, Clone, Serialize)]
pub struct GpuInfo {
    pub name: String,
    pub device_type: String,
    pub backend: String,
    /// A CPU implementation (lavapipe, SwiftShader, WARP), not a GPU.
    pub software: bool,
}

struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: GpuInfo,
    lost: Arc<Mutex<Option<String>>>,
    /// Bytes of buffers the engines hold on the device now.
    held: AtomicU64,
}

/// A wgpu device and its queue (cheap to clone: one device).
#[derive(Clone)]
pub struct GpuDevice(Arc<Inner>);

impl GpuDevice {
    /// The first adapter wgpu offers (the browser's WebGPU in a page) and a device on it.
    pub async fn new() -> Result<Self, String> {
        let backends = if cfg!(target_arch = "wasm32") {
            wgpu::Backends::BROWSER_WEBGPU
        } else {
            wgpu::Backends::PRIMARY
        };
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("no GPU adapter: {e}"))?;
        let info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("fashion-mlp"),
                required_limits: wgpu::Limits::default(),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("the GPU device could not be created: {e}"))?;
        let lost = Arc::new(Mutex::new(None::<String>));
        let on_lost = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = on_lost.lock() {
                let detail = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                l.get_or_insert(format!("the GPU device was lost ({reason:?}{detail})"));
            }
        });
        let on_error = lost.clone();
        device.on_uncaptured_error(Arc::new(move |error| {
            if let Ok(mut l) = on_error.lock() {
                l.get_or_insert(format!("the GPU reported an error: {error}"));
            }
        }));
        let device_type = format!("{:?}", info.device_type);
        Ok(Self(Arc::new(Inner {
            info: GpuInfo {
                software: info.device_type == wgpu::DeviceType::Cpu,
                name: info.name,
                device_type,
                backend: format!("{:?}", info.backend),
            },
            device,
            queue,
            lost,
            held: AtomicU64::new(0),
        })))
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.0.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.0.queue
    }

    pub fn info(&self) -> &GpuInfo {
        &self.0.info
    }

    /// Why the device is gone, once it is.
    pub fn lost_reason(&self) -> Option<String> {
        self.0.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Bytes of buffers the engines hold on the device now.
    pub fn bytes_held(&self) -> u64 {
        self.0.held.load(Ordering::Relaxed)
    }

    /// Books `bytes` more (or fewer, `release`) held by an engine.
    pub(super) fn hold(&self, bytes: u64) {
        self.0.held.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn release(&self, bytes: u64) {
        self.0.held.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Destroys the device, as a driver reset would (the tests of the loss path).
    pub fn destroy(&self) {
        self.0.device.destroy();
    }
}
