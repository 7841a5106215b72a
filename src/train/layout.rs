//! Where each tensor sits in the packed buffers of the fused training steps (CPU and GPU), and
//! a run's state in that packing: parameters, Adam's moments and the weights' running average,
//! to and from a checkpoint. Plain arithmetic, tested natively.

use super::checkpoint::Checkpoint;
use super::config::TrainConfig;
use crate::error::WeightsError;
use crate::weights::{NamedTensor, Snapshot};

/// Offsets (in f32 elements) of every layer's tensors in the packed buffers of an MLP with
/// layer widths `widths` (784, hidden..., 10) trained at batch size `batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub widths: Vec<usize>,
    pub batch: usize,
    /// Per layer: the weight (`fan_in × fan_out`, row-major) and bias offsets in `params`.
    pub weight: Vec<usize>,
    pub bias: Vec<usize>,
    pub params_len: usize,
    /// Per layer: where its input (`batch × fan_in`) sits in `acts`; layer 0's is the batch.
    pub input: Vec<usize>,
    pub acts_len: usize,
    /// Per layer: where its output's gradient (`batch × fan_out`) sits in `deltas`.
    pub delta: Vec<usize>,
    pub deltas_len: usize,
}

impl Layout {
    pub fn new(widths: &[usize], batch: usize) -> Self {
        let layers = widths.len() - 1;
        let (mut weight, mut bias, mut input, mut delta) = (vec![], vec![], vec![], vec![]);
        let (mut p, mut a, mut d) = (0, 0, 0);
        for l in 0..layers {
            let (fan_in, fan_out) = (widths[l], widths[l + 1]);
            weight.push(p);
            p += fan_in * fan_out;
            bias.push(p);
            p += fan_out;
            input.push(a);
            a += batch * fan_in;
            delta.push(d);
            d += batch * fan_out;
        }
        Self {
            widths: widths.to_vec(),
            batch,
            weight,
            bias,
            params_len: p,
            input,
            acts_len: a,
            delta,
            deltas_len: d,
        }
    }

    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// The tensors' names and shapes in packing order (burn's `layers.N.weight` / `.bias`).
    pub fn names(&self) -> Vec<(String, Vec<usize>)> {
        (0..self.layers())
            .flat_map(|l| {
                [
                    (format!("layers.{l}.weight"), vec![self.widths[l], self.widths[l + 1]]),
                    (format!("layers.{l}.bias"), vec![self.widths[l + 1]]),
                ]
            })
            .collect()
    }

    /// Packs named tensors (in any order) into one buffer; a missing or misshapen one is named.
    pub fn pack(&self, tensors: &[NamedTensor]) -> Result<Vec<f32>, String> {
        let mut out = Vec::with_capacity(self.params_len);
        for (name, shape) in self.names() {
            let (_, s, v) = tensors
                .iter()
                .find(|(n, _, _)| *n == name)
                .ok_or_else(|| format!("{name} is missing"))?;
            if *s != shape || v.len() != shape.iter().product::<usize>() {
                return Err(format!("{name} has shape {s:?}, expected {shape:?}"));
            }
            out.extend_from_slice(v);
        }
        Ok(out)
    }

    /// The inverse of `pack`.
    pub fn unpack(&self, packed: &[f32]) -> Vec<NamedTensor> {
        let mut at = 0;
        self.names()
            .into_iter()
            .map(|(name, shape)| {
                let len: usize = shape.iter().product();
                let values = packed.get(at..at + len).map(<[f32]>::to_vec).unwrap_or_default();
                at += len;
                (name, shape, values)
            })
            .collect()
    }
}

/// A run's parameters and optimiser state, packed by a `Layout`.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    pub params: Vec<f32>,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    /// The running average of `params` (empty when the run keeps none).
    pub avg: Vec<f32>,
}

impl Packed {
    /// A new run from `weights`: zero moments, the average (when `averaging`) at the weights.
    pub fn fresh(layout: &Layout, weights: &Snapshot, averaging: bool) -> Result<Self, WeightsError> {
        let params = layout.pack(&weights.tensors).map_err(WeightsError::Mismatch)?;
        Ok(Self {
            avg: if averaging { params.clone() } else { Vec::new() },
            m: vec![0.0; layout.params_len],
            v: vec![0.0; layout.params_len],
            params,
        })
    }

    /// The state a checkpoint holds, every tensor checked against the layout.
    pub fn from_checkpoint(layout: &Layout, c: &Checkpoint) -> Result<Self, WeightsError> {
        let shaped = |pick: fn(&(String, Vec<f32>, Vec<f32>)) -> &Vec<f32>| -> Vec<NamedTensor> {
            c.moments
                .iter()
                .map(|t| (t.0.clone(), shape_of(&c.weights, &t.0), pick(t).clone()))
                .collect()
        };
        let pack = |tensors: &[NamedTensor]| layout.pack(tensors).map_err(WeightsError::Mismatch);
        let averaging = c.config.average > 0.0;
        Ok(Self {
            params: pack(&c.trained_weights().tensors)?,
            m: pack(&shaped(|t| &t.1))?,
            v: pack(&shaped(|t| &t.2))?,
            avg: if averaging {
                pack(&c.weights.tensors)?
            } else {
                Vec::new()
            },
        })
    }

    /// The parameters the run reports: the average when it keeps one.
    pub fn reported(&self) -> &[f32] {
        if self.avg.is_empty() { &self.params } else { &self.avg }
    }

    /// The run's state after `epoch` epochs and `steps` steps as a checkpoint.
    pub fn to_checkpoint(
        &self,
        layout: &Layout,
        config: &TrainConfig,
        epoch: usize,
        steps: u64,
        train_limit: Option<usize>,
    ) -> Checkpoint {
        let moments = layout
            .unpack(&self.m)
            .into_iter()
            .zip(layout.unpack(&self.v))
            .map(|((name, _, m), (_, _, v))| (name, m, v))
            .collect();
        let trained = (!self.avg.is_empty()).then(|| {
            layout
                .unpack(&self.params)
                .into_iter()
                .map(|(n, _, v)| (n, v))
                .collect()
        });
        Checkpoint {
            config: config.clone(),
            epoch,
            adam_steps: steps,
            train_limit,
            weights: layout.snapshot(config, self.reported()),
            trained,
            moments,
        }
    }
}

impl Layout {
    /// Packed parameters as a model of `config`'s shape.
    pub fn snapshot(&self, config: &TrainConfig, packed: &[f32]) -> Snapshot {
        Snapshot {
            config: config.model.clone(),
            tensors: self.unpack(packed),
            metadata: Default::default(),
        }
    }
}

fn shape_of(snapshot: &Snapshot, name: &str) -> Vec<usize> {
    snapshot
        .tensors
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, s, _)| s.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_mlp_packs_in_order() {
        let l = Layout::new(&[784, 256, 128, 64, 10], 64);
        assert_eq!(l.weight, vec![0, 200_960, 233_856, 242_112]);
        assert_eq!(l.bias, vec![200_704, 233_728, 242_048, 242_752]);
        assert_eq!(l.params_len, 242_762);
        assert_eq!(l.input, vec![0, 64 * 784, 64 * (784 + 256), 64 * (784 + 256 + 128)]);
        assert_eq!(l.deltas_len, 64 * (256 + 128 + 64 + 10));
        let tensors: Vec<NamedTensor> = l
            .names()
            .into_iter()
            .enumerate()
            .map(|(i, (n, s))| {
                let len = s.iter().product();
                (n, s, vec![i as f32; len])
            })
            .collect();
        let packed = l.pack(&tensors).unwrap();
        assert_eq!(l.unpack(&packed), tensors);
        assert!(l.pack(&tensors[1..]).unwrap_err().contains("layers.0.weight"));
    }
}
