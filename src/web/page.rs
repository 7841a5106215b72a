//! What the page itself runs: a copy of the model that answers predictions at once, even while
//! the worker trains (a plain forward pass, `weights::host`: this module carries no burn).

use wasm_bindgen::prelude::*;

use crate::data::IMAGE_PIXELS;
use crate::draw::{self, Bitmap, Layout};
use crate::error::DrawError;
use crate::weights::{self, host::HostModel};

/// A model on the page's CPU, loaded from a model file.
#[wasm_bindgen]
pub struct Classifier {
    model: HostModel,
    snapshot: weights::Snapshot,
}

#[wasm_bindgen]
impl Classifier {
    /// Loads a model file named `name`: this project's, a training checkpoint, or PyTorch weights
    /// of the same architecture. A wrong or corrupt file is an error and nothing changes.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], name: &str) -> Result<Classifier, JsError> {
        super::fault::check(name);
        let snapshot = weights::read_model_file(name, bytes).map_err(|e| JsError::new(&e.to_string()))?;
        let model = HostModel::new(&snapshot).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Classifier { model, snapshot })
    }

    /// The model as this project's safetensors file (a PyTorch file loaded here becomes one).
    pub fn model_bytes(&self) -> Result<Vec<u8>, JsError> {
        self.snapshot.to_safetensors().map_err(|e| JsError::new(&e.to_string()))
    }

    /// The model as a safetensors file PyTorch's reference `nn.Sequential` loads.
    pub fn pytorch_bytes(&self) -> Result<Vec<u8>, JsError> {
        self.snapshot
            .to_pytorch_safetensors()
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// Probabilities of the ten classes for 784 pixels scaled to [0, 1] (or several images
    /// back to back: 10 probabilities each).
    pub fn predict(&self, pixels: &[f32]) -> Result<Vec<f32>, JsError> {
        if pixels.is_empty() || !pixels.len().is_multiple_of(IMAGE_PIXELS) {
            return Err(JsError::new(&format!(
                "expected a multiple of {IMAGE_PIXELS} pixels, got {}",
                pixels.len()
            )));
        }
        Ok(self.model.probabilities(pixels))
    }

    /// The text metadata stored in the file (accuracy, epochs, recipe...), as a plain object.
    pub fn metadata(&self) -> Result<JsValue, JsError> {
        super::to_js(&self.snapshot.metadata).map_err(|e| JsError::new(&format!("{e:?}")))
    }

    /// What pushed the answer toward `class` for one image (784 pixels in [0, 1]): gradient ×
    /// input of the class's log-probability, per pixel (`weights::host`).
    pub fn attribution(&self, pixels: &[f32], class: usize) -> Result<Vec<f32>, JsError> {
        self.model
            .attribution(pixels, class)
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// The first layer's weights as 784-pixel images, one per unit, unit after unit.
    pub fn first_layer_images(&self) -> Vec<f32> {
        self.model.first_layer_images()
    }

    /// Layer widths, e.g. [784, 256, 128, 64, 10].
    pub fn widths(&self) -> Vec<u32> {
        self.model.widths().into_iter().map(|w| w as u32).collect()
    }
}

/// A drawing pad's RGBA pixels, drawn with a brush `brush` pixels wide -> the model's 784 inputs,
/// framed like a Fashion-MNIST product, closed outlines filled. `undefined` when nothing is
/// drawn (a blank pad is not a garment).
#[wasm_bindgen]
pub fn prepare_drawing(rgba: &[u8], width: usize, height: usize, brush: f32) -> Result<Option<Vec<f32>>, JsError> {
    prepared(draw::prepare_drawing(&rgba_bitmap(rgba, width, height), brush))
}

/// An uploaded picture's RGBA pixels -> the model's 784 inputs. A 28x28 picture is taken as it is
/// (the CLI's `predict` does the same); `undefined` when the picture is blank.
#[wasm_bindgen]
pub fn prepare_picture(rgba: &[u8], width: usize, height: usize) -> Result<Option<Vec<f32>>, JsError> {
    prepared(draw::prepare_picture(&rgba_bitmap(rgba, width, height)))
}

fn rgba_bitmap(data: &[u8], width: usize, height: usize) -> Bitmap<'_> {
    Bitmap {
        width,
        height,
        layout: Layout::Rgba,
        data,
    }
}

fn prepared(result: Result<draw::Prepared, DrawError>) -> Result<Option<Vec<f32>>, JsError> {
    match result {
        Ok(p) => Ok(Some(p.pixels)),
        Err(DrawError::Blank) => Ok(None),
        Err(e) => Err(JsError::new(&e.to_string())),
    }
}

/// The facts the page shares with the core (image size, class names, dataset files and sizes,
/// recipes, palette), as a plain object.
/// The user's drawings as a drawing set file (the page's export): `labels`, 784 pixels (0-255)
/// a drawing in `pixels`, and each drawing's strokes (`{brush, strokes}` or null) in `strokes`.
#[wasm_bindgen]
pub fn drawing_set_file(labels: &[u8], pixels: &[u8], strokes: JsValue) -> Result<Vec<u8>, JsError> {
    let data = crate::data::Dataset::new(pixels.to_vec(), labels.to_vec()).map_err(|e| JsError::new(&e.to_string()))?;
    let strokes: Vec<Option<crate::teach::Strokes>> = if strokes.is_undefined() || strokes.is_null() {
        Vec::new()
    } else {
        serde_wasm_bindgen::from_value(strokes).map_err(|e| JsError::new(&format!("the drawings' strokes: {e}")))?
    };
    Ok(crate::teach::UserSet::from_dataset(&data)
        .with_strokes(strokes)
        .to_json())
}

#[wasm_bindgen]
pub fn facts() -> Result<JsValue, JsError> {
    super::to_js(&crate::facts::facts()).map_err(|e| JsError::new(&format!("{e:?}")))
}

/// Installs a panic hook that prints Rust panics to the console readably and tells the page (a
/// `fashion-panic` event with the message: a panicked module is unusable, and the page replaces
/// it), and gives the page's CSS its palette (`--accent`, `--ok`, ...) before anything is drawn.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        if let Some(window) = web_sys::window() {
            let init = web_sys::CustomEventInit::new();
            init.set_detail(&JsValue::from_str(&super::panic_message(info)));
            if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("fashion-panic", &init) {
                let _ = window.dispatch_event(&event);
            }
        }
    }));
    set_palette();
}

/// Test interface only: the next `Classifier` made from a file of this name panics (see
/// `fault`).
#[wasm_bindgen]
pub fn inject_panic(file_name: String) {
    super::fault::arm(file_name);
}

fn set_palette() {
    let Some(style) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        .map(|e| e.style())
    else {
        return; // not a page (the worker or a test runner)
    };
    let palette = serde_json::to_value(crate::facts::PALETTE).unwrap_or_default();
    if let Some(colors) = palette.as_object() {
        for (name, color) in colors {
            if let Some(color) = color.as_str() {
                let _ = style.set_property(&format!("--{}", name.replace('_', "-")), color);
            }
        }
    }
}

/// The kind of a page-to-worker message as the worker reads it (`"start"`, `"pause"`, ...), with
/// `"+exchange"` when it carried a shared buffer and `"+file"` when it carried a user's `File`;
/// an error says why the worker would refuse it.
/// The page's message builders (www/js/messages.js) are tested against it.
#[wasm_bindgen]
pub fn read_to_worker(message: JsValue) -> Result<String, JsError> {
    let incoming = super::read_to_worker(&message);
    let attached = incoming.attached;
    let msg = incoming.msg.map_err(|e| JsError::new(&e.to_string()))?;
    let kind = serde_json::to_value(&msg)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let files = if attached.file.is_some() || attached.files.iter().any(Option::is_some) {
        "+file"
    } else {
        ""
    };
    Ok(if attached.exchange.is_some() {
        format!("{kind}+exchange{files}")
    } else {
        format!("{kind}{files}")
    })
}
