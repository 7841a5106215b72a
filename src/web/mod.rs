//! The only part of the crate that knows about JavaScript.
//! - `protocol`: the page/worker messages (plain serde types, also compiled natively to test them).
//! - `worker`: the training worker: message plumbing around a core `Session`.
//! - `devices`: the worker's CPU and WebGPU devices, Auto's measurement, GPU loss.
//! - `exchange`: the link through which two CPU workers add up their halves of each batch.
//! - `gpu`: WebGPU adapter detection, with the reasons shown when there is none.
//! - `page`: what the page's own small module exports (a CPU model, preprocessing, the facts).
//! - `fault`: a real panic on demand, for the tests of recovery from one.

pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod devices;
#[cfg(target_arch = "wasm32")]
pub mod exchange;
#[cfg(target_arch = "wasm32")]
mod fault;
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

/// A page-to-worker message as the worker reads it: the SharedArrayBuffer a Start or Measure
/// carries as `exchange` (not a serde value) taken off, the rest parsed into `ToWorker`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn read_to_worker(
    data: &wasm_bindgen::JsValue,
) -> (
    Result<protocol::ToWorker, serde_wasm_bindgen::Error>,
    Option<js_sys::SharedArrayBuffer>,
) {
    use wasm_bindgen::JsCast;
    let key = wasm_bindgen::JsValue::from_str("exchange");
    let exchange = data.dyn_ref::<js_sys::Object>().and_then(|object| {
        let value = js_sys::Reflect::get(object, &key).ok()?;
        let _ = js_sys::Reflect::delete_property(object, &key);
        value.dyn_into::<js_sys::SharedArrayBuffer>().ok()
    });
    (serde_wasm_bindgen::from_value(data.clone()), exchange)
}

/// Milliseconds since the epoch (workers and pages alike; `Instant` panics on wasm32).
#[cfg(target_arch = "wasm32")]
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}
