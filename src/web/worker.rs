//! The training worker. JS (`www/train-worker.js`) loads this module in a module Web Worker and
//! calls `run_worker`; from then on every message is handled here. Training advances in chunks
//! sized to ~150 ms, yielding to the worker's event loop in between so Pause/Stop are seen at once.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use super::protocol::{
    BackendChoice, BackendInfo, EpochReport, FromWorker, GRID_IMAGES, Progress, ResumeFrom, ToWorker,
};
use super::{now_ms, to_js};
use crate::data::dataset::shuffled_indices;
use crate::data::{Dataset, bundle};
use crate::train::{DeviceSet, TrainConfig, Trainer};
use crate::weights;

/// Target wall time of one chunk of batches.
const CHUNK_MS: f64 = 150.0;

#[derive(Default)]
struct State {
    train: Option<Dataset>,
    test: Option<Dataset>,
    grid: Vec<usize>,
    running: bool,
    paused: bool,
    stop: bool,
    /// burn's WebGPU runtime initialises once per worker.
    gpu: Option<Result<(Device, String), String>>,
}

type Shared = Rc<RefCell<State>>;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(msg: &FromWorker) {
    let transfer_free = match to_js(msg) {
        Ok(v) => v,
        Err(e) => JsValue::from_str(&format!("serialisation failed: {e:?}")),
    };
    if let Err(e) = scope().post_message(&transfer_free) {
        web_sys::console::error_2(&"postMessage failed".into(), &e);
    }
}

fn post_error(message: impl Into<String>, fatal: bool) {
    post(&FromWorker::Error {
        message: message.into(),
        fatal,
    });
}

/// Entry point: installs the message handler and announces readiness.
#[wasm_bindgen]
pub fn run_worker() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        // A panic leaves the module unusable: tell the page, which keeps the last good model.
        post_error(format!("the training worker crashed: {info}"), true);
    }));
    let state: Shared = Rc::new(RefCell::new(State::default()));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        match serde_wasm_bindgen::from_value::<ToWorker>(event.data()) {
            Ok(msg) => handle(&state, msg),
            Err(e) => post_error(format!("unreadable message: {e}"), false),
        }
    });
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(&FromWorker::Ready);
}

fn handle(state: &Shared, msg: ToWorker) {
    match msg {
        ToWorker::LoadData { files } => {
            if state.borrow().running {
                return post_error("stop training before loading another dataset", false);
            }
            let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes)).collect();
            match bundle::from_files(&files) {
                Ok((train, test)) => {
                    let grid: Vec<usize> = shuffled_indices(test.len(), 2024)
                        .into_iter()
                        .take(GRID_IMAGES)
                        .map(|i| i as usize)
                        .collect();
                    let shown = test.select(&grid);
                    post(&FromWorker::DataLoaded {
                        train: train.len(),
                        test: test.len(),
                        grid_pixels: shown.pixels().to_vec(),
                        grid_labels: shown.labels().to_vec(),
                    });
                    let mut s = state.borrow_mut();
                    s.train = Some(train);
                    s.test = Some(test);
                    s.grid = grid;
                }
                Err(e) => post_error(e.to_string(), false),
            }
        }
        ToWorker::Start {
            config,
            backend,
            train_limit,
            test_limit,
            resume,
        } => {
            {
                let mut s = state.borrow_mut();
                if s.running {
                    return post_error("training is already running", false);
                }
                if s.train.is_none() {
                    return post_error("load a dataset before training", false);
                }
                s.running = true;
                s.paused = false;
                s.stop = false;
            }
            let state = state.clone();
            spawn_local(async move {
                if let Err(message) = train(&state, config, backend, train_limit, test_limit, resume).await {
                    post_error(message, false);
                }
                state.borrow_mut().running = false;
            });
        }
        ToWorker::Pause => {
            let mut s = state.borrow_mut();
            if s.running && !s.paused {
                s.paused = true;
                post(&FromWorker::Paused);
            }
        }
        ToWorker::Resume => {
            let mut s = state.borrow_mut();
            if s.running && s.paused {
                s.paused = false;
                post(&FromWorker::Resumed);
            }
        }
        ToWorker::Stop => state.borrow_mut().stop = true,
        ToWorker::TestImage { index } => {
            let s = state.borrow();
            let Some(test) = s.test.as_ref() else {
                return post_error("load a dataset before picking a test image", false);
            };
            match test.image(index) {
                Some(pixels) => post(&FromWorker::TestImage {
                    index,
                    label: test.labels()[index],
                    pixels: pixels.to_vec(),
                }),
                None => post_error(
                    format!("there is no test image {index}: the test set has {} images", test.len()),
                    false,
                ),
            }
        }
    }
}

/// Lets the worker's event loop run (incoming messages) before the next chunk, without a timer:
/// nested timers are clamped to 4 ms, which a chunk of 150 ms would pay every time. A message to
/// ourselves through one long-lived channel is the next task at once.
async fn next_task() {
    thread_local! {
        static CHANNEL: Option<(web_sys::MessageChannel, Rc<RefCell<Option<js_sys::Function>>>)> = {
            let waiting: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
            web_sys::MessageChannel::new().ok().map(|channel| {
                let w = waiting.clone();
                let wake = Closure::<dyn FnMut()>::new(move || {
                    if let Some(resolve) = w.borrow_mut().take() {
                        let _ = resolve.call0(&JsValue::NULL);
                    }
                });
                channel.port1().set_onmessage(Some(wake.as_ref().unchecked_ref()));
                wake.forget();
                (channel, waiting)
            })
        };
    }
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        CHANNEL.with(|c| match c {
            Some((channel, waiting)) => {
                *waiting.borrow_mut() = Some(resolve);
                let _ = channel.port2().post_message(&JsValue::NULL);
            }
            None => {
                let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
            }
        })
    });
    let _ = JsFuture::from(promise).await;
}

/// Waits `ms` milliseconds (while paused).
async fn yield_now(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

async fn choose_device(state: &Shared, choice: BackendChoice) -> Result<(Device, BackendInfo), String> {
    let cpu = |reason: Option<String>| {
        (
            crate::backend::cpu(),
            BackendInfo {
                name: "cpu".into(),
                adapter: "ndarray on the CPU (WebAssembly SIMD)".into(),
                fallback_reason: reason,
            },
        )
    };
    if choice == BackendChoice::Cpu {
        return Ok(cpu(Some("CPU chosen in the settings".into())));
    }
    let known = state.borrow().gpu.clone();
    let gpu = match known {
        Some(known) => known,
        None => {
            let fresh = init_gpu().await;
            state.borrow_mut().gpu = Some(fresh.clone());
            fresh
        }
    };
    match (gpu, choice) {
        (Ok((device, adapter)), _) => Ok((
            device,
            BackendInfo {
                name: "webgpu".into(),
                adapter,
                fallback_reason: None,
            },
        )),
        (Err(reason), BackendChoice::WebGpu) => Err(format!("WebGPU is not available: {reason}")),
        (Err(reason), _) => Ok(cpu(Some(reason))),
    }
}

#[cfg(feature = "gpu")]
async fn init_gpu() -> Result<(Device, String), String> {
    let adapter = super::gpu::probe_adapter().await?;
    let device = super::gpu::init_device().await?;
    Ok((device, adapter))
}

#[cfg(not(feature = "gpu"))]
async fn init_gpu() -> Result<(Device, String), String> {
    Err("this build has no WebGPU support".into())
}

async fn train(
    state: &Shared,
    config: TrainConfig,
    choice: BackendChoice,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    resume: Option<ResumeFrom>,
) -> Result<(), String> {
    config.validate().map_err(|e| e.to_string())?;
    let (device, info) = choose_device(state, choice).await?;
    let trained_on = format!("browser ({})", info.name);
    post(&FromWorker::Backend(info));
    let (train_set, test_set, grid) = {
        let s = state.borrow();
        let train = s.train.clone().ok_or("no dataset")?;
        let test = s.test.clone().ok_or("no dataset")?;
        (train, test, s.grid.clone())
    };
    let train_set = match train_limit {
        Some(n) => train_set.sample(n, config.seed),
        None => train_set,
    };
    // The grid's images are always evaluated, so a test subset starts with them.
    let (test_set, grid_pos): (Dataset, Vec<usize>) = match test_limit {
        Some(n) if n < test_set.len() => {
            let mut keep = grid.clone();
            keep.extend(
                shuffled_indices(test_set.len(), config.seed)
                    .into_iter()
                    .map(|i| i as usize)
                    .filter(|i| !grid.contains(i))
                    .take(n.saturating_sub(grid.len())),
            );
            (test_set.select(&keep), (0..grid.len()).collect())
        }
        _ => (test_set, grid),
    };
    let mut trainer = match resume {
        Some(r) => {
            let (model, _) = weights::from_bytes(&r.weights, &device).map_err(|e| e.to_string())?;
            Trainer::resume(config.clone(), model, &train_set, &device, r.epoch)
        }
        None => Trainer::new(config.clone(), &train_set, &device),
    }
    .map_err(|e| e.to_string())?;
    let test_device = DeviceSet::upload(&test_set, &trainer.eval_device());
    let position = trainer.position();
    post(&FromWorker::Started {
        train: train_set.len(),
        test: test_set.len(),
        batches_per_epoch: position.batches_per_epoch,
        epoch: position.epoch,
    });

    let mut batches = 2usize;
    let mut rate = 0.0f64;
    let mut epoch_started = now_ms();
    while !trainer.is_finished() {
        next_task().await;
        if state.borrow().stop {
            post(&FromWorker::Stopped);
            return Ok(());
        }
        if state.borrow().paused {
            yield_now(50).await;
            continue;
        }
        let started = now_ms();
        let chunk = trainer.run(batches).await.map_err(|e| e.to_string())?;
        let took = (now_ms() - started).max(1.0);
        let chunk_rate = chunk.stats.samples as f64 * 1000.0 / took;
        rate = if rate == 0.0 {
            chunk_rate
        } else {
            0.7 * rate + 0.3 * chunk_rate
        };
        // Aim each chunk at CHUNK_MS so progress is steady and control messages are prompt.
        let per_batch = took / chunk.batches as f64;
        batches = ((CHUNK_MS / per_batch).round() as usize).clamp(1, 500);
        let p = chunk.position;
        let remaining = (config.epochs * p.batches_per_epoch) as f64 - p.steps as f64;
        post(&FromWorker::Progress(Progress {
            epoch: if chunk.epoch_finished { p.epoch } else { p.epoch + 1 },
            epochs: config.epochs,
            batch: if chunk.epoch_finished {
                p.batches_per_epoch
            } else {
                p.batch
            },
            batches_per_epoch: p.batches_per_epoch,
            steps: p.steps,
            loss: chunk.stats.loss,
            accuracy: chunk.stats.accuracy,
            epoch_loss: chunk.epoch_stats.loss,
            epoch_accuracy: chunk.epoch_stats.accuracy,
            samples_per_sec: rate,
            eta_seconds: remaining * config.batch_size as f64 / rate.max(1e-9),
            learning_rate: chunk.learning_rate,
        }));
        if chunk.epoch_finished {
            let seconds = (now_ms() - epoch_started) / 1000.0;
            let eval = trainer.evaluate(&test_device).await.map_err(|e| e.to_string())?;
            let metadata = weights::training_metadata(&config, p.epoch, eval.accuracy, &trained_on);
            let weights = weights::to_bytes(trainer.model(), metadata)
                .await
                .map_err(|e| e.to_string())?;
            post(&FromWorker::Epoch(Box::new(EpochReport {
                epoch: p.epoch,
                epochs: config.epochs,
                train_loss: chunk.epoch_stats.loss,
                train_accuracy: chunk.epoch_stats.accuracy,
                test_loss: eval.loss,
                test_accuracy: eval.accuracy,
                confusion: eval.confusion.matrix,
                per_class_accuracy: eval.per_class_accuracy,
                grid_predictions: grid_pos
                    .iter()
                    .map(|&i| eval.predictions.get(i).copied().unwrap_or(0))
                    .collect(),
                seconds,
                samples_per_sec: chunk.epoch_stats.samples as f64 / seconds.max(1e-9),
                weights,
            })));
            epoch_started = now_ms();
        }
    }
    post(&FromWorker::Finished);
    Ok(())
}
