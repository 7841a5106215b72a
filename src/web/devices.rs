//! The worker's compute devices: the CPU always, WebGPU (in the module built with the `gpu`
//! feature) when the browser gives an adapter and a device, set up once per worker. The wgpu
//! device is watched: a lost device (`device.lost`) or an uncaptured error ends the run with a
//! GPU error, and the page continues on the CPU from the last checkpoint.

use std::cell::RefCell;
use std::rc::Rc;

use super::protocol::{Backend, BackendChoice, BackendInfo, Measured};
use crate::data::Dataset;
use crate::error::ErrorKind;
use crate::train::cpu::CpuOptions;
use crate::train::race::{Trial, samples_per_sec};
use crate::train::session::{Clock, Failure};
use crate::train::{Compute, TrainConfig};

/// A device chosen for a run, with what to tell the user.
pub struct Chosen {
    pub compute: Compute,
    pub info: BackendInfo,
}

impl Chosen {
    pub fn label(&self) -> &'static str {
        match self.info.backend {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

#[derive(Clone)]
struct Gpu {
    #[cfg(feature = "gpu")]
    device: crate::train::gpu::GpuDevice,
    adapter: String,
}

#[derive(Default)]
struct Inner {
    /// `None` until the first run asks; then the device or why there is none.
    gpu: Option<Result<Gpu, String>>,
    /// Auto's verdict, measured once per worker.
    measured: Option<Measured>,
}

/// Shared by the worker's message handler and its run.
#[derive(Clone, Default)]
pub struct Devices {
    inner: Rc<RefCell<Inner>>,
}

fn cpu_info(reason: Option<String>, measured: Option<Measured>) -> BackendInfo {
    BackendInfo {
        backend: Backend::Cpu,
        adapter: format!("the CPU ({})", CpuOptions::best().describe()),
        fallback_reason: reason,
        measured,
    }
}

impl Devices {
    /// The device for a run: the CPU, WebGPU, or (Auto) whichever trains `config` faster on
    /// this data, measured once per worker. `measuring` is called before a measurement starts.
    pub async fn choose(
        &self,
        choice: BackendChoice,
        config: &TrainConfig,
        train: &Dataset,
        measuring: impl FnOnce(),
    ) -> Result<Chosen, Failure> {
        let cpu = Compute::Cpu(CpuOptions::best());
        if choice == BackendChoice::Cpu {
            return Ok(Chosen {
                compute: cpu,
                info: cpu_info(Some("CPU chosen in the settings".into()), None),
            });
        }
        if let Some(reason) = self.lost_reason() {
            if choice == BackendChoice::WebGpu {
                return Err(gpu_failure(format!("the GPU was lost earlier: {reason}")));
            }
            return Ok(Chosen {
                compute: cpu,
                info: cpu_info(Some(format!("the GPU was lost: {reason}")), None),
            });
        }
        let gpu = match self.gpu().await {
            Ok(gpu) => gpu,
            Err(reason) if choice == BackendChoice::WebGpu => {
                return Err(gpu_failure(format!("WebGPU is not available: {reason}")));
            }
            Err(reason) => {
                return Ok(Chosen {
                    compute: cpu,
                    info: cpu_info(Some(reason), None),
                });
            }
        };
        let webgpu = |measured| Chosen {
            compute: gpu.compute(),
            info: BackendInfo {
                backend: Backend::WebGpu,
                adapter: gpu.adapter.clone(),
                fallback_reason: None,
                measured,
            },
        };
        if choice == BackendChoice::WebGpu {
            return Ok(webgpu(None));
        }
        let known = self.inner.borrow().measured.clone();
        let measured = match known {
            Some(m) => m,
            None => {
                measuring();
                let clock: Clock = Box::new(super::now_ms);
                let trial = Trial::QUICK;
                let on_gpu = samples_per_sec(config, train, &gpu.compute(), trial, &clock)
                    .await
                    .map_err(|e| Failure::from(&e))?;
                let on_cpu = samples_per_sec(config, train, &cpu, trial, &clock)
                    .await
                    .map_err(|e| Failure::from(&e))?;
                let m = Measured {
                    webgpu_samples_per_sec: on_gpu,
                    cpu_samples_per_sec: on_cpu,
                };
                self.inner.borrow_mut().measured = Some(m.clone());
                m
            }
        };
        if measured.webgpu_samples_per_sec >= measured.cpu_samples_per_sec {
            Ok(webgpu(Some(measured)))
        } else {
            let reason = format!(
                "measured WebGPU ({}) at {:.0} samples/s and the CPU at {:.0}: the CPU is faster",
                gpu.adapter, measured.webgpu_samples_per_sec, measured.cpu_samples_per_sec
            );
            Ok(Chosen {
                compute: cpu,
                info: cpu_info(Some(reason), Some(measured)),
            })
        }
    }

    /// Training samples per second of `config` on `backend` (Auto's measurement, asked by the
    /// page, which compares the backends of its workers).
    pub async fn measure(&self, backend: Backend, config: &TrainConfig, train: &Dataset) -> Result<f64, Failure> {
        let compute = match backend {
            Backend::Cpu => Compute::Cpu(CpuOptions::best()),
            Backend::WebGpu => {
                if let Some(reason) = self.lost_reason() {
                    return Err(gpu_failure(format!("the GPU was lost earlier: {reason}")));
                }
                self.gpu().await.map_err(gpu_failure)?.compute()
            }
        };
        self.measure_on(&compute, config, train).await
    }

    /// Training samples per second of `config` on `compute`.
    pub async fn measure_on(&self, compute: &Compute, config: &TrainConfig, train: &Dataset) -> Result<f64, Failure> {
        let clock: Clock = Box::new(super::now_ms);
        samples_per_sec(config, train, compute, Trial::QUICK, &clock)
            .await
            .map_err(|e| Failure::from(&e))
    }

    async fn gpu(&self) -> Result<Gpu, String> {
        let known = self.inner.borrow().gpu.clone();
        if let Some(known) = known {
            return known;
        }
        let fresh = self.init_gpu().await;
        self.inner.borrow_mut().gpu = Some(fresh.clone());
        fresh
    }

    #[cfg(feature = "gpu")]
    async fn init_gpu(&self) -> Result<Gpu, String> {
        let adapter = super::gpu::probe_adapter().await?;
        let device = crate::train::gpu::GpuDevice::new()
            .await
            .map_err(|e| format!("WebGPU device initialisation failed: {e}"))?;
        Ok(Gpu { device, adapter })
    }

    #[cfg(not(feature = "gpu"))]
    async fn init_gpu(&self) -> Result<Gpu, String> {
        Err("this build has no WebGPU support".into())
    }

    /// The GPU, when it has been set up.
    #[cfg(feature = "gpu")]
    fn known_gpu(&self) -> Option<Gpu> {
        self.inner.borrow().gpu.clone().and_then(Result::ok)
    }

    /// Why the GPU is gone, once it is.
    #[cfg(feature = "gpu")]
    pub fn lost_reason(&self) -> Option<String> {
        self.known_gpu().and_then(|g| g.device.lost_reason())
    }

    #[cfg(not(feature = "gpu"))]
    pub fn lost_reason(&self) -> Option<String> {
        None
    }

    /// Destroys the WebGPU device, as a driver reset would (tests of the loss path).
    pub fn lose_gpu(&self) {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = self.known_gpu() {
            gpu.device.destroy();
        }
    }

    /// What a training step costs on this worker's GPU: dispatches and milliseconds per step at
    /// batch 64, 256 and 1024.
    #[cfg(feature = "gpu")]
    pub async fn gpu_costs(&self, train: &Dataset) -> Result<serde_json::Value, String> {
        use crate::train::gpu::probe;
        let gpu = self.gpu().await?;
        let clock: Clock = Box::new(super::now_ms);
        let mut steps = Vec::new();
        for batch_size in [64, 256, 1024] {
            let config = TrainConfig {
                batch_size,
                ..TrainConfig::reference()
            };
            let n = if batch_size > 256 { 3 } else { 6 };
            let cost = probe::step_cost(&config, train, &gpu.compute(), n, &clock)
                .await
                .map_err(|e| e.to_string())?;
            steps.push(cost);
        }
        Ok(serde_json::json!({ "adapter": gpu.adapter, "steps": steps }))
    }

    #[cfg(not(feature = "gpu"))]
    pub async fn gpu_costs(&self, _: &Dataset) -> Result<serde_json::Value, String> {
        Err("this build has no WebGPU support".into())
    }

    /// Bytes the GPU engine holds on the GPU, when there is one.
    #[cfg(feature = "gpu")]
    pub fn gpu_bytes_in_use(&self) -> Option<f64> {
        self.known_gpu().map(|g| g.device.bytes_held() as f64)
    }

    #[cfg(not(feature = "gpu"))]
    pub fn gpu_bytes_in_use(&self) -> Option<f64> {
        None
    }
}

impl Gpu {
    #[cfg(feature = "gpu")]
    fn compute(&self) -> Compute {
        Compute::Gpu(self.device.clone())
    }

    #[cfg(not(feature = "gpu"))]
    fn compute(&self) -> Compute {
        unreachable!("a build without the `gpu` feature never has a GPU")
    }
}

fn gpu_failure(message: String) -> Failure {
    Failure {
        kind: ErrorKind::Gpu,
        message,
    }
}
