//! The only part of the crate that knows about JavaScript.
//! - `protocol`: the page/worker messages (plain serde types, also compiled natively to test them).
//! - `worker`: the training worker: message plumbing around a core `Session`.
//! - `devices`: the worker's CPU and WebGPU devices, Auto's measurement, GPU loss.
//! - `exchange`: the link through which two CPU workers add up their halves of each batch.
//! - `gpu`: WebGPU adapter detection, with the reasons shown when there is none.
//! - `page`: what the page's own small module exports (a CPU model, preprocessing, the facts).
//! - `fault`: a real panic on demand, for the tests of recovery from one.
//! - `file_chunks`: a user's file read in slices by a worker.

pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod devices;
#[cfg(target_arch = "wasm32")]
pub mod exchange;
#[cfg(target_arch = "wasm32")]
mod fault;
#[cfg(target_arch = "wasm32")]
mod file_chunks;
#[cfg(all(target_arch = "wasm32", feature = "gpu"))]
pub mod gpu;
#[cfg(target_arch = "wasm32")]
pub mod page;
#[cfg(target_arch = "wasm32")]
pub mod worker;

/// What a panic says, for the user (where it happened goes to the console with the rest).
#[cfg(target_arch = "wasm32")]
pub(crate) fn panic_message(info: &std::panic::PanicHookInfo) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Serialises a message as plain JS objects (maps become objects, u64 become numbers, byte
/// buffers `Uint8Array`s: a model file as an array of numbers costs the page a hundred
/// milliseconds to receive).
#[cfg(target_arch = "wasm32")]
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible().serialize_bytes_as_arrays(false))
        .map_err(|e| wasm_bindgen::JsValue::from_str(&e.to_string()))
}

/// A page-to-worker message as the worker reads it: what it carries that is not a serde value
/// taken off, the rest parsed into `ToWorker`.
#[cfg(target_arch = "wasm32")]
pub(crate) struct Incoming {
    pub msg: Result<protocol::ToWorker, serde_wasm_bindgen::Error>,
    pub attached: Attached,
}

/// The JS objects a message carries beside its serde fields.
#[cfg(target_arch = "wasm32")]
#[derive(Default)]
pub(crate) struct Attached {
    /// The SharedArrayBuffer of a Start or Measure of two CPU workers.
    pub exchange: Option<js_sys::SharedArrayBuffer>,
    /// For each of a LoadData's files, the user's `File` when it came as one (read in slices).
    pub files: Vec<Option<web_sys::File>>,
    /// A ReadDrawings' user file, read here instead of in the page.
    pub file: Option<web_sys::File>,
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn read_to_worker(data: &wasm_bindgen::JsValue) -> Incoming {
    use wasm_bindgen::JsCast;
    let take = |object: &js_sys::Object, key: &str| {
        let key = wasm_bindgen::JsValue::from_str(key);
        let value = js_sys::Reflect::get(object, &key).ok()?;
        let _ = js_sys::Reflect::delete_property(object, &key);
        Some(value)
    };
    let object = data.dyn_ref::<js_sys::Object>();
    let exchange = object
        .and_then(|o| take(o, "exchange"))
        .and_then(|v| v.dyn_into::<js_sys::SharedArrayBuffer>().ok());
    let files = object
        .and_then(|o| js_sys::Reflect::get(o, &"files".into()).ok())
        .and_then(|v| v.dyn_into::<js_sys::Array>().ok())
        .map(|list| {
            list.iter()
                .map(|f| {
                    f.dyn_ref::<js_sys::Object>()
                        .and_then(|f| take(f, "file"))
                        .and_then(|v| v.dyn_into::<web_sys::File>().ok())
                })
                .collect()
        })
        .unwrap_or_default();
    let file = object
        .and_then(|o| take(o, "file"))
        .and_then(|v| v.dyn_into::<web_sys::File>().ok());
    Incoming {
        msg: serde_wasm_bindgen::from_value(data.clone()),
        attached: Attached { exchange, files, file },
    }
}

/// Milliseconds since the epoch (workers and pages alike; `Instant` panics on wasm32).
#[cfg(target_arch = "wasm32")]
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}
