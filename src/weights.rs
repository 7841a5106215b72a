//! Model weights <-> safetensors bytes. Parameters are read from the device asynchronously in one
//! batch (a synchronous read panics on WebGPU in wasm), then written with the safetensors crate;
//! tensor names follow burn's module paths (`layers.0.weight`), so burn-store reads the files too.

pub mod host;
pub mod pytorch;

use std::collections::HashMap;

#[cfg(feature = "ml")]
use burn::module::Param;
#[cfg(feature = "ml")]
use burn::tensor::{Device, Tensor, TensorData, Transaction};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::error::{WeightsError, clip};
#[cfg(feature = "ml")]
use crate::model::Mlp;
use crate::model::MlpConfig;

const FORMAT_KEY: &str = "format";
/// The largest safetensors header read (its JSON is parsed whole, several times over): this
/// project's model files have one of about 1 KB and its checkpoints about 3 KB; a megabyte
/// names thousands of tensors, far more than any file of this network.
pub(crate) const MAX_SAFETENSORS_HEADER: u64 = 1 << 20;
/// Tensors under these prefixes are a checkpoint's training state (optimiser moments, the weights
/// being trained when the model is their average), not the model's parameters.
const TRAINING_STATE: [&str; 2] = ["adam.", "train."];

/// `(name, shape, values)` of one tensor.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// A tensor's little-endian f32 values; NaN or infinity is refused.
fn f32_values(name: &str, view: &TensorView) -> Result<Vec<f32>, WeightsError> {
    if view.dtype() != Dtype::F32 {
        return Err(WeightsError::Mismatch(format!(
            "{name} is {:?}, expected F32",
            view.dtype()
        )));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(WeightsError::Mismatch(format!("{name} holds NaN or infinite values")));
    }
    Ok(values)
}
const FORMAT_VALUE: &str = "fashion-mlp";

/// The parameters of a model on the host: `(name, shape, values)` for every tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub config: MlpConfig,
    pub tensors: Vec<NamedTensor>,
    /// Free-form facts stored beside the weights (metrics, hyperparameters, provenance).
    pub metadata: HashMap<String, String>,
}

/// Reads every parameter of `model` from its device in one asynchronous transaction.
#[cfg(feature = "ml")]
pub async fn snapshot(model: &Mlp) -> Result<Snapshot, WeightsError> {
    let mut tx = Transaction::default();
    let mut names = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        tx = tx.register(layer.weight.val().without_autodiff());
        names.push(format!("layers.{i}.weight"));
        if let Some(bias) = &layer.bias {
            tx = tx.register(bias.val().without_autodiff());
            names.push(format!("layers.{i}.bias"));
        }
    }
    let data = tx
        .execute_async()
        .await
        .map_err(|e| WeightsError::Readback(format!("{e:?}")))?;
    let tensors = names
        .into_iter()
        .zip(data)
        .map(|(name, d)| {
            let shape = d.shape().to_vec();
            let values = d.iter::<f32>().collect();
            (name, shape, values)
        })
        .collect();
    let widths = model.widths();
    let config = MlpConfig {
        hidden: widths[1..widths.len() - 1].to_vec(),
        dropout: model.dropout(),
    };
    Ok(Snapshot {
        config,
        tensors,
        metadata: HashMap::new(),
    })
}

impl Snapshot {
    /// Serialises to safetensors bytes (little-endian f32), with the metadata in the header.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, WeightsError> {
        let mut meta = self.metadata.clone();
        meta.insert(FORMAT_KEY.into(), FORMAT_VALUE.into());
        meta.insert("dropout".into(), self.config.dropout.to_string());
        serialize(&self.tensors, meta)
    }

    /// Parses safetensors bytes, checking names, shapes and dtypes against an MLP layout. A
    /// training checkpoint reads as its model (the optimiser state is left out).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::from_safetensors_with_extra(bytes).map(|(snap, _)| snap)
    }

    /// Like `from_safetensors`, also returning the training state a checkpoint holds (`adam.*`,
    /// `train.*`).
    pub fn from_safetensors_with_extra(bytes: &[u8]) -> Result<(Self, Vec<NamedTensor>), WeightsError> {
        safetensors_header_fits(bytes).map_err(WeightsError::Format)?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let mut by_name: HashMap<String, TensorView> = st.tensors().into_iter().collect();
        let optimiser_names: Vec<String> = by_name
            .keys()
            .filter(|n| TRAINING_STATE.iter().any(|p| n.starts_with(p)))
            .cloned()
            .collect();
        let mut extra = Vec::new();
        for name in optimiser_names {
            if let Some(view) = by_name.remove(&name) {
                extra.push((name.clone(), view.shape().to_vec(), f32_values(&name, &view)?));
            }
        }
        let layer_count = (0..)
            .take_while(|i| by_name.contains_key(&format!("layers.{i}.weight")))
            .count();
        if layer_count < 2 {
            let mut names: Vec<&String> = by_name.keys().collect();
            names.sort();
            let shown: Vec<String> = names.iter().take(4).map(|s| clip(s)).collect();
            return Err(WeightsError::Mismatch(format!(
                "expected tensors layers.0.weight, layers.1.weight, ...; the file has {}",
                if shown.is_empty() {
                    "no tensors".to_string()
                } else {
                    shown.join(", ")
                }
            )));
        }
        let mut tensors = Vec::new();
        let mut widths = vec![IMAGE_PIXELS];
        for i in 0..layer_count {
            for kind in ["weight", "bias"] {
                let name = format!("layers.{i}.{kind}");
                let view = by_name
                    .remove(&name)
                    .ok_or_else(|| WeightsError::Mismatch(format!("{name} is missing")))?;
                let shape = view.shape().to_vec();
                let fan_in = *widths.last().unwrap_or(&IMAGE_PIXELS);
                let ok = match kind {
                    "weight" => shape.len() == 2 && shape[0] == fan_in && shape[1] > 0,
                    _ => shape.len() == 1 && Some(&shape[0]) == tensors.last().map(|(_, s, _): &NamedTensor| &s[1]),
                };
                if !ok {
                    return Err(WeightsError::Mismatch(format!(
                        "{name} has shape {shape:?}, which does not chain from width {fan_in}"
                    )));
                }
                if kind == "weight" {
                    widths.push(shape[1]);
                }
                let values = f32_values(&name, &view)?;
                tensors.push((name, shape, values));
            }
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(WeightsError::Mismatch(format!("unexpected tensor {}", clip(extra))));
        }
        // Training state only for this model's parameters: `adam.m.`, `adam.v.` or `train.`
        // and a parameter's name (their shapes are the checkpoint reader's to check).
        let stray = extra.iter().map(|(n, _, _)| n).find(|n| {
            let param = ["adam.m.", "adam.v.", "train."].iter().find_map(|p| n.strip_prefix(p));
            !param.is_some_and(|p| tensors.iter().any(|(t, _, _)| t == p))
        });
        if let Some(stray) = stray {
            return Err(WeightsError::Mismatch(format!(
                "unexpected tensor {}: not the training state of one of this model's parameters",
                clip(stray)
            )));
        }
        if widths.last() != Some(&NUM_CLASSES) {
            return Err(WeightsError::Mismatch(format!(
                "the last layer has {} outputs, expected {NUM_CLASSES}",
                widths.last().unwrap_or(&0)
            )));
        }
        let dropout = metadata
            .get("dropout")
            .and_then(|d| d.parse().ok())
            .unwrap_or(MlpConfig::default().dropout);
        let config = MlpConfig {
            hidden: widths[1..widths.len() - 1].to_vec(),
            dropout,
        };
        config.validate().map_err(|e| WeightsError::Mismatch(e.to_string()))?;
        Ok((
            Self {
                config,
                tensors,
                metadata,
            },
            extra,
        ))
    }

    /// The tensor named `name` (`layers.0.weight`...), or an error naming what is missing.
    pub fn tensor(&self, name: &str) -> Result<&NamedTensor, WeightsError> {
        self.tensors
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| WeightsError::Mismatch(format!("{name} is missing")))
    }

    /// Builds a model on `device` holding these parameters.
    #[cfg(feature = "ml")]
    pub fn to_model(&self, device: &Device) -> Result<Mlp, WeightsError> {
        let mut model = self
            .config
            .init(device)
            .map_err(|e| WeightsError::Mismatch(e.to_string()))?;
        for (i, layer) in model.layers.iter_mut().enumerate() {
            let (_, ws, wv) = self.tensor(&format!("layers.{i}.weight"))?;
            let (_, bs, bv) = self.tensor(&format!("layers.{i}.bias"))?;
            let [fan_in, fan_out] = [ws[0], ws[1]];
            if bs[..] != [fan_out] {
                return Err(WeightsError::Mismatch(format!("layer {i} bias shape {bs:?}")));
            }
            layer.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(wv.clone(), [fan_in, fan_out]),
                device,
            ));
            layer.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bv.clone(), [fan_out]),
                device,
            )));
        }
        Ok(model)
    }
}

/// Serialises a model (on any device) to safetensors bytes.
#[cfg(feature = "ml")]
pub async fn to_bytes(model: &Mlp, metadata: HashMap<String, String>) -> Result<Vec<u8>, WeightsError> {
    let mut snap = snapshot(model).await?;
    snap.metadata.extend(metadata);
    snap.to_safetensors()
}

/// Loads a model from this project's safetensors bytes onto `device`.
#[cfg(feature = "ml")]
pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<(Mlp, HashMap<String, String>), WeightsError> {
    let snap = Snapshot::from_safetensors(bytes)?;
    Ok((snap.to_model(device)?, snap.metadata))
}

/// Little-endian f32 tensors and text metadata as a safetensors file.
fn serialize(tensors: &[NamedTensor], metadata: HashMap<String, String>) -> Result<Vec<u8>, WeightsError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.clone(), s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| WeightsError::Format(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| WeightsError::Format(e.to_string()))
}

/// Refuses a safetensors header over `MAX_SAFETENSORS_HEADER` before anything parses it. Bytes
/// that are not safetensors (no `{` after the 8-byte length) pass, for the parser to say so.
pub(crate) fn safetensors_header_fits(bytes: &[u8]) -> Result<(), String> {
    let declared = bytes.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b));
    if bytes.get(8) == Some(&b'{') && declared > MAX_SAFETENSORS_HEADER {
        return Err(format!(
            "its safetensors header is {declared} bytes, over the limit of {MAX_SAFETENSORS_HEADER} \
             (a model of this network has one of about 1 KB)"
        ));
    }
    Ok(())
}

/// Whether safetensors bytes say they were written by this project.
fn is_ours(bytes: &[u8]) -> bool {
    SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, header)| {
            header
                .metadata()
                .as_ref()
                .map(|m| m.get(FORMAT_KEY).map(String::as_str) == Some(FORMAT_VALUE))
        })
        .unwrap_or(false)
}

/// Any model file a user may bring, named `name`: this project's own (a model or a training
/// checkpoint), or PyTorch weights of this architecture (`torch.save(model.state_dict())` as
/// .pt/.pth, or a PyTorch safetensors file, in the usual namings). A file that fits neither is an
/// error that says what is wrong with it; nothing is half-loaded.
pub fn read_model_file(name: &str, bytes: &[u8]) -> Result<Snapshot, WeightsError> {
    // Before the readers below, which parse the header again each.
    safetensors_header_fits(bytes).map_err(WeightsError::Format)?;
    let ours = match Snapshot::from_safetensors(bytes) {
        Ok(snap) => return Ok(snap),
        Err(e) if is_ours(bytes) => return Err(e),
        Err(e) => e,
    };
    let tensors = match pytorch::read(name, bytes) {
        Ok(t) => t,
        // Neither format: say what our own reader saw when the bytes are safetensors.
        Err(_) if SafeTensors::read_metadata(bytes).is_ok() => return Err(ours),
        Err(e) => return Err(e),
    };
    let layers = pytorch::to_model_layers(&tensors)?;
    // PyTorch files are taken for the reference network only: that is what the page trains and
    // what a write-up's checkpoint of "this model" holds; anything else says which it is.
    pytorch::check_widths(&layers, &MlpConfig::default().widths())?;
    let widths = pytorch::widths(&layers);
    let config = MlpConfig {
        hidden: widths[1..widths.len() - 1].to_vec(),
        dropout: MlpConfig::default().dropout,
    };
    config.validate().map_err(|e| WeightsError::Mismatch(e.to_string()))?;
    if let Some((n, _, _)) = layers.iter().find(|(_, _, v)| v.iter().any(|x| !x.is_finite())) {
        return Err(WeightsError::Mismatch(format!("{n} holds NaN or infinite values")));
    }
    Ok(Snapshot {
        config,
        tensors: layers,
        metadata: HashMap::from([("source".to_string(), format!("PyTorch weights ({name})"))]),
    })
}

impl Snapshot {
    /// The model as a safetensors file PyTorch loads into the reference `nn.Sequential`
    /// (Linear, ReLU, Dropout, ...): names `0.weight`, `0.bias`, `3.weight`..., weights `[out, in]`.
    pub fn to_pytorch_safetensors(&self) -> Result<Vec<u8>, WeightsError> {
        let tensors = pytorch::export(&self.tensors, self.config.dropout > 0.0);
        serialize(&tensors, HashMap::from([("format".to_string(), "pt".to_string())]))
    }
}

/// The metadata a trained model file carries, written the same way by the CLI and the browser:
/// completed epochs, test accuracy, the full training configuration, and where it was trained.
pub fn training_metadata(
    config: &crate::train::TrainConfig,
    epochs_done: usize,
    test_accuracy: f64,
    trained_on: &str,
) -> HashMap<String, String> {
    let mut meta = run_metadata(config, epochs_done, None);
    meta.insert("test_accuracy".to_string(), format!("{test_accuracy:.4}"));
    meta.insert("trained_on".to_string(), trained_on.to_string());
    meta
}

/// What a run was: its configuration, completed epochs and training subset.
pub fn run_metadata(
    config: &crate::train::TrainConfig,
    epochs_done: usize,
    train_limit: Option<usize>,
) -> HashMap<String, String> {
    HashMap::from([
        ("epochs".to_string(), epochs_done.to_string()),
        (
            "train_config".to_string(),
            serde_json::to_string(config).unwrap_or_default(),
        ),
        (
            "train_limit".to_string(),
            train_limit.map_or("all".to_string(), |n| n.to_string()),
        ),
    ])
}
