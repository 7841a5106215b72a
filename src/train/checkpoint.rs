//! A run's full state at an epoch boundary: the weights, Adam's moments and step count, the
//! configuration and which training subset it used. One safetensors file: the model the run
//! reports under the usual names (so any model reader loads a checkpoint as that model), the
//! weights being trained as `train.<name>` when the reported model is their running average, and
//! the moments as `adam.m.<name>` / `adam.v.<name>`, with the rest in the metadata. The CLI's
//! `--resume` reads it, and the page keeps the latest one in IndexedDB.

use std::collections::HashMap;

use super::config::TrainConfig;
use crate::error::WeightsError;
use crate::weights::{self, Snapshot};

const MOMENT_M: &str = "adam.m.";
const MOMENT_V: &str = "adam.v.";
const TRAINED: &str = "train.";
const KIND_KEY: &str = "kind";
const KIND_VALUE: &str = "checkpoint";

/// The state of a run after `epoch` complete epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub config: TrainConfig,
    /// Epochs completed.
    pub epoch: usize,
    /// Adam's step count (steps taken so far).
    pub adam_steps: u64,
    /// Train on a seeded subset of this many images (as the run did).
    pub train_limit: Option<usize>,
    /// The model the run reports: the running average of the weights when the recipe averages.
    pub weights: Snapshot,
    /// The weights being trained, when `weights` is their average: `(name, values)`.
    pub trained: Option<Vec<(String, Vec<f32>)>>,
    /// `(parameter name, first moment, second moment)`, shaped like the parameter.
    pub moments: Vec<(String, Vec<f32>, Vec<f32>)>,
}

impl Checkpoint {
    /// The weights to continue training from: the trained ones, whatever the run reports.
    pub fn trained_weights(&self) -> Snapshot {
        let mut snap = self.weights.clone();
        if let Some(trained) = &self.trained {
            for (name, _, values) in &mut snap.tensors {
                if let Some((_, v)) = trained.iter().find(|(n, _)| n == name) {
                    *values = v.clone();
                }
            }
        }
        snap
    }

    /// The checkpoint as a safetensors file; `extra` goes into its metadata (metrics, provenance).
    pub fn to_bytes(&self, extra: HashMap<String, String>) -> Result<Vec<u8>, WeightsError> {
        let mut snap = self.weights.clone();
        for (name, values) in self.trained.iter().flatten() {
            let shape = shape_of(&self.weights, name)?;
            snap.tensors.push((format!("{TRAINED}{name}"), shape, values.clone()));
        }
        for (name, m, v) in &self.moments {
            let shape = shape_of(&self.weights, name)?;
            snap.tensors
                .push((format!("{MOMENT_M}{name}"), shape.clone(), m.clone()));
            snap.tensors.push((format!("{MOMENT_V}{name}"), shape, v.clone()));
        }
        snap.metadata.extend(extra);
        snap.metadata
            .extend(weights::run_metadata(&self.config, self.epoch, self.train_limit));
        snap.metadata.insert(KIND_KEY.into(), KIND_VALUE.into());
        snap.metadata.insert("adam_steps".into(), self.adam_steps.to_string());
        snap.to_safetensors()
    }

    /// Reads a checkpoint file; a plain model file is refused (it has no optimiser state).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let (weights, extra) = Snapshot::from_safetensors_with_extra(bytes)?;
        let meta = &weights.metadata;
        if meta.get(KIND_KEY).map(String::as_str) != Some(KIND_VALUE) {
            return Err(WeightsError::Mismatch(
                "this is a model file, not a training checkpoint (it has no optimiser state)".into(),
            ));
        }
        let field = |key: &str| {
            meta.get(key)
                .ok_or_else(|| WeightsError::Mismatch(format!("the checkpoint's metadata lacks '{key}'")))
        };
        let number = |key: &str| -> Result<u64, WeightsError> {
            field(key)?
                .parse()
                .map_err(|_| WeightsError::Mismatch(format!("the checkpoint's '{key}' is not a number")))
        };
        let config: TrainConfig = serde_json::from_str(field("train_config")?)
            .map_err(|e| WeightsError::Mismatch(format!("the checkpoint's training configuration: {e}")))?;
        if config.model.hidden != weights.config.hidden {
            return Err(WeightsError::Mismatch(format!(
                "the checkpoint's configuration has hidden layers {:?} but its weights {:?}",
                config.model.hidden, weights.config.hidden
            )));
        }
        let train_limit = match meta.get("train_limit").map(String::as_str) {
            None | Some("") | Some("all") => None,
            Some(n) => Some(
                n.parse()
                    .map_err(|_| WeightsError::Mismatch("the checkpoint's 'train_limit' is not a number".into()))?,
            ),
        };
        // Each parameter's training state, shaped exactly like the parameter: a transposed or
        // cut tensor is refused here, never reshaped by an engine.
        let state_of = |prefix: &str, name: &str, shape: &[usize]| {
            let (_, s, v) = extra
                .iter()
                .find(|(n, _, _)| *n == format!("{prefix}{name}"))
                .ok_or_else(|| WeightsError::Mismatch(format!("{prefix}{name} is missing")))?;
            if s != shape || v.len() != shape.iter().product::<usize>() {
                return Err(WeightsError::Mismatch(format!(
                    "{prefix}{name} has shape {s:?} ({} values), but {name} has shape {shape:?}",
                    v.len()
                )));
            }
            Ok(v.clone())
        };
        let mut moments = Vec::new();
        for (name, shape, _) in &weights.tensors {
            moments.push((
                name.clone(),
                state_of(MOMENT_M, name, shape)?,
                state_of(MOMENT_V, name, shape)?,
            ));
        }
        let trained = if extra.iter().any(|(n, _, _)| n.starts_with(TRAINED)) {
            let mut trained = Vec::new();
            for (name, shape, _) in &weights.tensors {
                trained.push((name.clone(), state_of(TRAINED, name, shape)?));
            }
            Some(trained)
        } else {
            None
        };
        Ok(Self {
            trained,
            epoch: number("epochs")? as usize,
            adam_steps: number("adam_steps")?,
            train_limit,
            config,
            weights,
            moments,
        })
    }
}

fn shape_of(snapshot: &Snapshot, name: &str) -> Result<Vec<usize>, WeightsError> {
    snapshot
        .tensors
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, s, _)| s.clone())
        .ok_or_else(|| WeightsError::Mismatch(format!("no parameter {name} for its training state")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::init::initial_weights;

    fn checkpoint() -> Checkpoint {
        let config = TrainConfig::improved();
        let weights = initial_weights(&config).unwrap();
        Checkpoint {
            trained: Some(weights.tensors.iter().map(|(n, _, v)| (n.clone(), v.clone())).collect()),
            moments: weights
                .tensors
                .iter()
                .map(|(n, _, v)| (n.clone(), vec![0.0; v.len()], vec![0.0; v.len()]))
                .collect(),
            config,
            epoch: 1,
            adam_steps: 469,
            train_limit: None,
            weights,
        }
    }

    /// The checkpoint's file with `tensor`'s declared shape and values replaced.
    fn altered(tensor: &str, shape: Vec<usize>, values: Option<Vec<f32>>) -> Vec<u8> {
        let bytes = checkpoint().to_bytes(HashMap::new()).unwrap();
        let (mut snap, extra) = Snapshot::from_safetensors_with_extra(&bytes).unwrap();
        snap.tensors.extend(extra);
        let t = snap.tensors.iter_mut().find(|(n, _, _)| n == tensor).unwrap();
        t.1 = shape;
        if let Some(v) = values {
            t.2 = v;
        }
        snap.to_safetensors().unwrap()
    }

    #[test]
    fn training_state_must_have_its_parameters_shape() {
        let bytes = checkpoint().to_bytes(HashMap::new()).unwrap();
        let back = Checkpoint::from_bytes(&bytes).unwrap();
        assert!(
            back.moments == checkpoint().moments && back.trained == checkpoint().trained,
            "the state comes back"
        );
        // Transposed: the same number of values, so only the shape tells.
        let err = Checkpoint::from_bytes(&altered("train.layers.0.weight", vec![256, 784], None)).unwrap_err();
        assert!(
            err.to_string().contains("train.layers.0.weight has shape [256, 784]"),
            "{err}"
        );
        assert!(
            err.to_string().contains("layers.0.weight has shape [784, 256]"),
            "{err}"
        );
        let err = Checkpoint::from_bytes(&altered("adam.v.layers.3.bias", vec![4], Some(vec![0.0; 4]))).unwrap_err();
        assert!(
            err.to_string()
                .contains("adam.v.layers.3.bias has shape [4] (4 values)"),
            "{err}"
        );
    }

    #[test]
    fn training_state_must_be_f32() {
        use safetensors::{Dtype, SafeTensors, tensor::TensorView};
        let bytes = checkpoint().to_bytes(HashMap::new()).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let target = "adam.m.layers.1.bias";
        let halves = vec![0u8; 128 * 2];
        let views: Vec<(String, TensorView)> = file
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                if name == target {
                    let half = TensorView::new(Dtype::F16, view.shape().to_vec(), &halves).unwrap();
                    (name, half)
                } else {
                    (name, view)
                }
            })
            .collect();
        let halved = safetensors::serialize(views, header.metadata().clone()).unwrap();
        let err = Checkpoint::from_bytes(&halved).unwrap_err();
        assert!(
            err.to_string().contains("adam.m.layers.1.bias is F16, expected F32"),
            "{err}"
        );
    }
}
