//! The training worker: message plumbing around the core. JS (`www/train-worker.js`) loads this
//! module in a module Web Worker and calls `run_worker`; from then on every message is handled
//! here. A run is a core `Session`: this file forwards Pause/Resume/Stop to it, yields to the
//! event loop between its chunks, and posts its events as messages.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use js_sys::SharedArrayBuffer;

use super::exchange::SharedExchange;
use super::protocol::{Backend, BackendChoice, FromWorker, GRID_IMAGES, NamedFile, Shard, ToWorker};
use super::{now_ms, to_js};
use crate::data::dataset::shuffled_indices;
use crate::data::{Dataset, bundle};
use crate::error::{Error, ErrorKind, TeachError, WeightsError};
use crate::teach::{TeachEvent, TeachOptions, Teacher, UserSet};
use crate::train::chunking::ChunkPolicy;
use crate::train::cpu::{CpuOptions, Partner};
use crate::train::layout::Layout;
use crate::train::session::{Event, Failure, Session, SessionSetup};
use crate::train::{Checkpoint, Compute, TrainConfig};
use crate::weights::Snapshot;

/// Pause, Resume and Stop, queued until the run loop looks (between chunks).
#[derive(Debug, Clone, Copy)]
enum Control {
    Pause,
    Resume,
    Stop,
}

#[derive(Default)]
struct State {
    train: Option<Dataset>,
    test: Option<Dataset>,
    grid: Vec<usize>,
    running: bool,
    controls: Vec<Control>,
    devices: super::devices::Devices,
}

type Shared = Rc<RefCell<State>>;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(msg: &FromWorker) {
    let value = match to_js(msg) {
        Ok(v) => v,
        Err(e) => JsValue::from_str(&format!("serialisation failed: {e:?}")),
    };
    if let Err(e) = scope().post_message_with_transfer(&value, &transferable(&value)) {
        web_sys::console::error_2(&"postMessage failed".into(), &e);
    }
}

/// The buffers of a message's byte fields (model and checkpoint files, images): each is a copy
/// out of this module's memory, so it is moved to the page instead of copied again.
fn transferable(message: &JsValue) -> js_sys::Array {
    let buffers = js_sys::Array::new();
    if let Some(object) = message.dyn_ref::<js_sys::Object>() {
        for value in js_sys::Object::values(object).iter() {
            if let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() {
                buffers.push(&bytes.buffer());
            }
        }
    }
    buffers
}

fn post_error(kind: ErrorKind, message: impl Into<String>, fatal: bool) {
    post(&FromWorker::Error {
        kind,
        message: message.into(),
        fatal,
    });
}

fn post_failure(f: Failure) {
    post_error(f.kind, f.message, false);
}

/// Entry point: installs the message handler and announces readiness.
#[wasm_bindgen]
pub fn run_worker() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        // A panic leaves the module unusable: tell the page, which keeps the last good model.
        post_error(
            ErrorKind::Worker,
            format!("the training worker crashed: {}", super::panic_message(info)),
            true,
        );
    }));
    let state: Shared = Rc::new(RefCell::new(State::default()));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let incoming = super::read_to_worker(&event.data());
        match incoming.msg {
            Ok(msg) => handle(&state, msg, incoming.attached),
            Err(e) => post_error(ErrorKind::Config, format!("unreadable message: {e}"), false),
        }
    });
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(&FromWorker::Ready);
}

/// The CPU engine computing shard `shard` of each batch of `config`'s run, its partner linked
/// through `exchange`.
fn shared_cpu(shard: Shard, exchange: Option<&SharedArrayBuffer>, config: &TrainConfig) -> Result<Compute, Failure> {
    let refused = |message: String| Failure {
        kind: ErrorKind::Worker,
        message,
    };
    let buffer = exchange
        .ok_or_else(|| refused("two CPU workers need a SharedArrayBuffer (a cross-origin isolated page)".into()))?;
    if shard.count != 2 {
        return Err(refused(format!(
            "{} CPU workers: only pairs are supported",
            shard.count
        )));
    }
    // The gradient, then the loss and hits.
    let len = Layout::new(&config.model.widths(), 1).params_len + 2;
    let link = SharedExchange::new(buffer, shard.index, len).map_err(refused)?;
    let options = CpuOptions {
        shards: shard.count,
        ..CpuOptions::best()
    };
    Ok(Compute::CpuShard(
        options,
        Partner {
            index: shard.index,
            link: Rc::new(RefCell::new(link)),
        },
    ))
}

fn handle(state: &Shared, msg: ToWorker, attached: super::Attached) {
    let super::Attached {
        exchange,
        files: handles,
        file,
    } = attached;
    match msg {
        ToWorker::LoadData { files } => load_data(state, files, handles),
        ToWorker::Start {
            config,
            backend,
            train_limit,
            test_limit,
            checkpoint,
            reason,
            measured,
            shard,
        } => {
            {
                let mut s = state.borrow_mut();
                if s.running {
                    return post_error(ErrorKind::Config, "training is already running", false);
                }
                if s.train.is_none() {
                    return post_error(ErrorKind::Data, "load a dataset before training", false);
                }
                s.running = true;
                s.controls.clear();
            }
            let state = state.clone();
            spawn_local(async move {
                let request = Request {
                    config,
                    backend,
                    train_limit,
                    test_limit,
                    checkpoint,
                    reason,
                    measured,
                    shard,
                    exchange,
                };
                if let Err(f) = train(&state, request).await {
                    post_failure(f);
                }
                state.borrow_mut().running = false;
            });
        }
        ToWorker::Measure { config, backend, shard } => {
            let Some(train) = state.borrow().train.clone() else {
                return post_error(ErrorKind::Data, "load a dataset before measuring", false);
            };
            if state.borrow().running {
                return post_error(ErrorKind::Config, "training is running", false);
            }
            let devices = state.borrow().devices.clone();
            spawn_local(async move {
                let measured = match shard {
                    Some(shard) => match shared_cpu(shard, exchange.as_ref(), &config) {
                        Ok(compute) => devices.measure_on(&compute, &config, &train).await,
                        Err(f) => Err(f),
                    },
                    None => devices.measure(backend, &config, &train).await,
                };
                match measured {
                    Ok(samples_per_sec) => post(&FromWorker::Measured {
                        backend,
                        samples_per_sec,
                    }),
                    Err(f) => post_error(f.kind, f.message, false),
                }
            });
        }
        ToWorker::ReadModel { name, bytes } => {
            super::fault::check(&name);
            match crate::weights::read_model_file(&name, &bytes).and_then(|snapshot| snapshot.to_safetensors()) {
                Ok(bytes) => post(&FromWorker::ModelRead { name, bytes }),
                Err(e) => post_error(ErrorKind::ModelFile, e.to_string(), false),
            }
        }
        ToWorker::InjectPanic { file_name } => super::fault::arm(file_name),
        ToWorker::ReadDrawings { name, bytes } => match {
            super::fault::check(&name);
            // A user's file comes as itself, read here (the page never holds it whole).
            match file.map(|f| read_whole(f, crate::teach::user_set::MAX_FILE_BYTES)) {
                Some(Ok(read)) => UserSet::from_bytes(&name, &read),
                Some(Err(e)) => Err(TeachError::Format {
                    file: name.clone(),
                    reason: e.to_string(),
                }),
                None => UserSet::from_bytes(&name, &bytes),
            }
        } {
            Ok(set) => post(&FromWorker::DrawingsRead {
                name,
                labels: set.drawings.iter().map(|d| d.label).collect(),
                pixels: set.drawings.iter().flat_map(|d| d.pixels.iter().copied()).collect(),
                strokes: set.strokes(),
            }),
            Err(e) => post_error(ErrorKind::Drawings, e.to_string(), false),
        },
        ToWorker::Teach {
            model,
            drawings,
            options,
            backend,
        } => {
            {
                let mut s = state.borrow_mut();
                if s.running {
                    return post_error(ErrorKind::Drawings, "stop training before teaching", false);
                }
                s.running = true;
                s.controls.clear();
            }
            let state = state.clone();
            spawn_local(async move {
                let backend = backend.unwrap_or(Backend::Cpu);
                if let Err(f) = teach(&state, &model, &drawings, options.unwrap_or_default(), backend).await {
                    post_failure(f);
                }
                state.borrow_mut().running = false;
            });
        }
        ToWorker::Pause {} => queue(state, Control::Pause),
        ToWorker::Resume {} => queue(state, Control::Resume),
        ToWorker::Stop {} => queue(state, Control::Stop),
        ToWorker::TestImage { index } => {
            let s = state.borrow();
            let Some(test) = s.test.as_ref() else {
                return post_error(ErrorKind::Data, "load a dataset before picking a test image", false);
            };
            match test.image(index) {
                Some(pixels) => post(&FromWorker::TestImage {
                    index,
                    label: test.labels()[index],
                    pixels: pixels.to_vec(),
                }),
                None => post_error(
                    ErrorKind::Data,
                    format!("there is no test image {index}: the test set has {} images", test.len()),
                    false,
                ),
            }
        }
        ToWorker::Debug { hook } => debug(state, &hook),
    }
}

fn queue(state: &Shared, control: Control) {
    let mut s = state.borrow_mut();
    if s.running {
        s.controls.push(control);
    }
}

/// Parses dropped or downloaded files. On failure the dataset already loaded stays in use.
fn load_data(state: &Shared, files: Vec<NamedFile>, mut handles: Vec<Option<web_sys::File>>) {
    if state.borrow().running {
        return post_error(ErrorKind::Data, "stop training before loading another dataset", false);
    }
    handles.resize(files.len(), None);
    let from_disk = handles.iter().any(Option::is_some);
    let mut contents = Vec::new();
    for (f, handle) in files.iter().zip(handles) {
        let content = match handle {
            // A user's file: read in slices as the reader asks for them.
            Some(file) => match streamed(file) {
                Ok(content) => content,
                Err(e) => return post_error(ErrorKind::Data, format!("{}: {e}", f.name), false),
            },
            None => bundle::Content::Bytes(&f.bytes),
        };
        contents.push((f.name.clone(), content));
    }
    match bundle::from_contents(contents) {
        Ok((train, test)) => {
            let grid: Vec<usize> = shuffled_indices(test.len(), 2024)
                .into_iter()
                .take(GRID_IMAGES)
                .map(|i| i as usize)
                .collect();
            let shown = test.select(&grid);
            let files = if from_disk {
                as_idx_files(&train, &test)
            } else {
                Vec::new()
            };
            post(&FromWorker::DataLoaded {
                train: train.len(),
                test: test.len(),
                grid_pixels: shown.pixels().to_vec(),
                grid_labels: shown.labels().to_vec(),
                files,
            });
            let mut s = state.borrow_mut();
            s.train = Some(train);
            s.test = Some(test);
            s.grid = grid;
        }
        Err(e) => post_error(ErrorKind::Data, e.to_string(), false),
    }
}

/// A dataset as the four raw IDX files (what the page hands other workers).
fn as_idx_files(train: &Dataset, test: &Dataset) -> Vec<NamedFile> {
    use crate::data::idx::{encode_images, encode_labels};
    let file = |name: &str, bytes: Vec<u8>| NamedFile {
        name: name.into(),
        bytes,
    };
    vec![
        file("train-images-idx3-ubyte", encode_images(train.pixels(), train.len())),
        file("train-labels-idx1-ubyte", encode_labels(train.labels())),
        file("t10k-images-idx3-ubyte", encode_images(test.pixels(), test.len())),
        file("t10k-labels-idx1-ubyte", encode_labels(test.labels())),
    ]
}

/// A `File`'s bytes, at most `limit` and one more (so that a reader can say it is too large).
fn read_whole(file: web_sys::File, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let chunks = super::file_chunks::FileChunks::new(file)?;
    let mut bytes = Vec::with_capacity((chunks.len() as usize).min(limit + 1));
    chunks.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A `File` as a stream, with its first bytes (which say gzip, IDX or text) and its size.
fn streamed(file: web_sys::File) -> std::io::Result<bundle::Content<'static>> {
    use std::io::BufRead;
    let mut chunks = super::file_chunks::FileChunks::new(file)?;
    let head = chunks.fill_buf()?.iter().take(8).copied().collect();
    Ok(bundle::Content::Stream {
        head,
        len: chunks.len(),
        reader: Box::new(chunks),
    })
}

fn debug(state: &Shared, hook: &str) {
    match hook {
        "lose_gpu" => state.borrow().devices.lose_gpu(),
        "memory" => {
            let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
            let bytes = memory
                .buffer()
                .dyn_into::<js_sys::ArrayBuffer>()
                .map(|b| b.byte_length() as f64)
                .unwrap_or(f64::NAN);
            post(&FromWorker::Memory {
                wasm_bytes: bytes,
                gpu_bytes: state.borrow().devices.gpu_bytes_in_use(),
            });
        }
        "gpu_costs" => {
            let state = state.clone();
            spawn_local(async move {
                let train = state.borrow().train.clone();
                let devices = state.borrow().devices.clone();
                let report = match train {
                    Some(train) => devices.gpu_costs(&train).await,
                    None => Err("load a dataset first".into()),
                };
                match report {
                    Ok(report) => post(&FromWorker::Diagnostics {
                        hook: "gpu_costs".into(),
                        report,
                    }),
                    Err(message) => post_error(ErrorKind::Gpu, message, false),
                }
            });
        }
        other => post_error(ErrorKind::Config, format!("unknown debug hook '{other}'"), false),
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
pub(crate) async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

struct Request {
    config: crate::train::TrainConfig,
    backend: BackendChoice,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    checkpoint: Option<Vec<u8>>,
    reason: Option<String>,
    measured: Option<super::protocol::Measured>,
    shard: Option<Shard>,
    exchange: Option<SharedArrayBuffer>,
}

fn failure(e: &Error) -> Failure {
    Failure::from(e)
}

async fn train(state: &Shared, request: Request) -> Result<(), Failure> {
    let resume = match &request.checkpoint {
        // Its own kind: the page reports a model file the user loaded apart from a run that
        // cannot continue.
        Some(bytes) => Some(Checkpoint::from_bytes(bytes).map_err(|e| Failure {
            kind: ErrorKind::Checkpoint,
            message: format!(
                "The run's last checkpoint cannot be continued: {}",
                match e {
                    WeightsError::Mismatch(why) => why,
                    e => e.to_string(),
                }
            ),
        })?),
        None => None,
    };
    let config = resume.as_ref().map_or(request.config.clone(), |c| c.config.clone());
    config.validate().map_err(|e| failure(&e.into()))?;
    let (train_set, test_set, grid) = {
        let s = state.borrow();
        let no_data = || Failure {
            kind: ErrorKind::Data,
            message: "no dataset".into(),
        };
        (
            s.train.clone().ok_or_else(no_data)?,
            s.test.clone().ok_or_else(no_data)?,
            s.grid.clone(),
        )
    };
    let devices = state.borrow().devices.clone();
    let mut chosen = devices
        .choose(request.backend, &config, &train_set, || post(&FromWorker::Measuring))
        .await?;
    if request.reason.is_some() {
        chosen.info.fallback_reason = request.reason.filter(|_| chosen.info.backend == Backend::Cpu);
    }
    if request.measured.is_some() {
        chosen.info.measured = request.measured;
    }
    if let Some(shard) = request.shard.filter(|_| chosen.info.backend == Backend::Cpu) {
        chosen.compute = shared_cpu(shard, request.exchange.as_ref(), &config)?;
        chosen.info.adapter = format!("the CPU, two workers ({})", CpuOptions::best().describe());
    }
    post(&FromWorker::Backend(chosen.info.clone()));
    let setup = SessionSetup {
        config,
        train_limit: request.train_limit,
        test_limit: request.test_limit,
        watch: grid,
        resume,
        trained_on: format!("browser ({})", chosen.label()),
        ..SessionSetup::default()
    };
    let mut session = Session::start(
        setup,
        &train_set,
        &test_set,
        &chosen.compute,
        if chosen.info.backend == Backend::WebGpu {
            ChunkPolicy::INTERACTIVE_GPU
        } else {
            ChunkPolicy::INTERACTIVE
        },
        Box::new(now_ms),
    )
    .await
    .map_err(|e| failure(&e))?;
    let on_gpu = chosen.info.backend == Backend::WebGpu;
    loop {
        next_task().await;
        let controls: Vec<Control> = state.borrow_mut().controls.drain(..).collect();
        for control in controls {
            let event = match control {
                Control::Pause => session.pause(),
                Control::Resume => session.resume(),
                Control::Stop => session.stop(),
            };
            if let Some(e) = event {
                post_event(e);
            }
        }
        if !session.state().is_live() {
            return Ok(());
        }
        // A lost device concerns only runs on it: a run moved to the CPU goes on.
        if let Some(lost) = devices.lost_reason().filter(|_| on_gpu) {
            return Err(Failure {
                kind: ErrorKind::Gpu,
                message: lost,
            });
        }
        if session.state() == crate::train::session::RunState::Paused {
            sleep(50).await;
            continue;
        }
        for event in session.advance().await {
            // A read that failed because the device is gone says less than the loss itself.
            let event = match (event, devices.lost_reason().filter(|_| on_gpu)) {
                (Event::Failed(_), Some(lost)) => Event::Failed(Failure {
                    kind: ErrorKind::Gpu,
                    message: lost,
                }),
                (event, _) => event,
            };
            post_event(event);
        }
    }
}

/// Steps of one teaching chunk between two looks at Stop (a few tens of ms on the CPU).
const TEACH_CHUNK: usize = 20;

/// Teaches `model` the drawing set `drawings` on `backend` (the page's Auto picks it as for a
/// run; on a software adapter the CPU, where a teaching of a few hundred steps ends before
/// WebGPU has compiled its kernels), posting progress and the taught model; Stop cancels,
/// leaving everything as it was.
async fn teach(
    state: &Shared,
    model: &[u8],
    drawings: &[u8],
    options: TeachOptions,
    backend: Backend,
) -> Result<(), Failure> {
    let model = Snapshot::from_safetensors(model).map_err(|e| failure(&e.into()))?;
    let set = UserSet::from_bytes("your drawings", drawings).map_err(|e| failure(&e.into()))?;
    let (train, test) = {
        let s = state.borrow();
        match (s.train.clone(), s.test.clone()) {
            (Some(train), Some(test)) => (train, test),
            _ => {
                return Err(Failure {
                    kind: ErrorKind::Data,
                    message: "load the dataset before teaching: it replays Fashion-MNIST images".into(),
                });
            }
        }
    };
    let compute = match backend {
        Backend::Cpu => Compute::Cpu(CpuOptions::best()),
        Backend::WebGpu => {
            let devices = state.borrow().devices.clone();
            let chosen = devices
                .choose(BackendChoice::WebGpu, &TrainConfig::improved(), &train, || ())
                .await?;
            chosen.compute
        }
    };
    let mut teacher = Teacher::new(&model, &set, train, test, options, compute).map_err(|e| failure(&e))?;
    loop {
        next_task().await;
        let stop = state
            .borrow_mut()
            .controls
            .drain(..)
            .any(|c| matches!(c, Control::Stop));
        if stop {
            return Err(failure(&TeachError::Cancelled.into()));
        }
        let advanced = match teacher.advance(TEACH_CHUNK).await {
            Ok(advanced) => advanced,
            Err(e) => {
                // A read that failed because the device is gone says less than the loss itself,
                // which the device reports a moment after the failed read.
                if backend == Backend::WebGpu {
                    sleep(100).await;
                    if let Some(lost) = state.borrow().devices.lost_reason() {
                        return Err(Failure {
                            kind: ErrorKind::Gpu,
                            message: format!("{lost}; the model in use is unchanged"),
                        });
                    }
                }
                return Err(failure(&e));
            }
        };
        match advanced {
            TeachEvent::Progress {
                steps_done,
                steps_total,
            } => post(&FromWorker::Teaching {
                steps_done,
                steps_total,
            }),
            TeachEvent::Done(taught) => {
                let weights = taught.model.to_safetensors().map_err(|e| failure(&e.into()))?;
                post(&FromWorker::Taught {
                    report: taught.report,
                    weights,
                });
                return Ok(());
            }
        }
    }
}

fn post_event(event: Event) {
    let msg = match event {
        Event::Started(s) => FromWorker::Started(s),
        Event::Progress(p) => FromWorker::Progress(p),
        Event::Epoch(r) => FromWorker::Epoch(r),
        Event::Checkpoint(c) => FromWorker::Checkpoint(c),
        Event::Paused => FromWorker::Paused,
        Event::Resumed => FromWorker::Resumed,
        Event::Stopped { epoch } => FromWorker::Stopped { epoch },
        Event::Finished { epoch, test_accuracy } => FromWorker::Finished { epoch, test_accuracy },
        Event::Failed(f) => FromWorker::Error {
            kind: f.kind,
            message: f.message,
            fatal: false,
        },
    };
    post(&msg);
}
