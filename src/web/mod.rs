//! The only part of the crate that knows about JavaScript. Compiled for wasm32 only.
//! - `worker`: the training worker (a module Web Worker drives it with `protocol` messages).
//! - `page`: what the page's own small module needs (a CPU model for instant predictions).
//! - `gpu`: WebGPU detection and burn's async WebGPU initialisation, with fallback reasons.

pub mod charts;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod page;
pub mod protocol;
pub mod worker;

use wasm_bindgen::JsValue;

/// Serialises a message as plain JS objects (maps become objects, u64 become numbers).
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from_str(&e.to_string()))
}

/// Milliseconds since the epoch (workers and pages alike; `Instant` panics on wasm32).
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}
