//! WebGPU: ask the browser for an adapter, to report what it is (a software fallback adapter is
//! always named as such) or why there is none. burn then initialises its own device from it.

use js_sys::{Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn text(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string().filter(|s| !s.is_empty())
}

/// Describes the browser's WebGPU adapter, or says why there is none.
pub async fn probe_adapter() -> Result<String, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser does not expose WebGPU (navigator.gpu is missing)".into());
    }
    let request = get(&gpu, "requestAdapter")
        .dyn_into::<js_sys::Function>()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function".to_string())?;
    let promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into::<Promise>()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("the browser has WebGPU but offers no adapter".into());
    }
    let info = get(&adapter, "info");
    let mut parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|k| text(&info, k))
        .collect();
    let fallback = get(&info, "isFallbackAdapter")
        .as_bool()
        .or(get(&adapter, "isFallbackAdapter").as_bool());
    if fallback == Some(true) {
        parts.push("software fallback adapter".into());
    }
    if parts.is_empty() {
        parts.push("unnamed adapter".into());
    }
    Ok(parts.join(", "))
}
