//! The reference engine's optimiser state as burn tensors: each parameter's Adam moments and the
//! weights' running average, applied with burn's ops (the formulas of `ops::Adam` in the CPU
//! engine), and read into or out of the packing every engine checkpoints through.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData, Transaction};

use crate::error::{Error, Result};
use crate::model::Mlp;
use crate::train::adam::{AdamStep, BETA1, BETA2};
use crate::train::average::decay_at;
use crate::train::layout::{Layout, Packed};

/// One parameter's moments, on the training device (without autodiff).
#[derive(Debug, Clone)]
pub struct Moments<const D: usize> {
    pub m: Tensor<D>,
    pub v: Tensor<D>,
}

impl<const D: usize> Moments<D> {
    /// Applies one step to `param` (without autodiff) given its gradient; returns the new value.
    pub fn update(&mut self, param: Tensor<D>, grad: Tensor<D>, step: &AdamStep) -> Tensor<D> {
        let grad = grad + param.clone().mul_scalar(step.weight_decay);
        self.m = self.m.clone().mul_scalar(BETA1 as f32) + grad.clone().mul_scalar((1.0 - BETA1) as f32);
        self.v = self.v.clone().mul_scalar(BETA2 as f32) + grad.square().mul_scalar((1.0 - BETA2) as f32);
        let denom = self.v.clone().sqrt().add_scalar(step.eps_t);
        param - self.m.clone().mul_scalar(step.lr_t).div(denom)
    }
}

/// The moments of one `Linear` layer.
#[derive(Debug, Clone)]
pub struct LayerMoments {
    pub weight: Moments<2>,
    pub bias: Moments<1>,
}

/// The averaged weight and bias of every layer, on the training device (without autodiff).
#[derive(Debug, Clone)]
pub struct Average {
    pub layers: Vec<(Tensor<2>, Tensor<1>)>,
}

impl Average {
    /// Folds `model`'s current weights in, after step `step` (1-based).
    pub fn update(&mut self, model: &Mlp, decay: f64, step: u64) {
        let decay = decay_at(decay, step);
        let keep = decay as f32;
        let take = (1.0 - decay) as f32;
        for ((w, b), layer) in self.layers.iter_mut().zip(&model.layers) {
            *w = w.clone().mul_scalar(keep) + layer.weight.val().without_autodiff().mul_scalar(take);
            if let Some(bias) = &layer.bias {
                *b = b.clone().mul_scalar(keep) + bias.val().without_autodiff().mul_scalar(take);
            }
        }
    }

    /// The averaged weights as a model shaped like `like`, for evaluation and saving.
    pub fn model(&self, like: &Mlp) -> Mlp {
        let mut model = like.valid();
        for (layer, (w, b)) in model.layers.iter_mut().zip(&self.layers) {
            layer.weight = Param::from_tensor(w.clone());
            layer.bias = Some(Param::from_tensor(b.clone()));
        }
        model
    }
}

/// Every layer's weight and bias tensors from a packed buffer, on `device`.
pub fn layers_from(layout: &Layout, packed: &[f32], device: &Device) -> Vec<(Tensor<2>, Tensor<1>)> {
    (0..layout.layers())
        .map(|l| {
            let (fan_in, fan_out) = (layout.widths[l], layout.widths[l + 1]);
            let w = &packed[layout.weight[l]..layout.weight[l] + fan_in * fan_out];
            let b = &packed[layout.bias[l]..layout.bias[l] + fan_out];
            (
                Tensor::from_data(TensorData::new(w.to_vec(), [fan_in, fan_out]), device),
                Tensor::from_data(TensorData::new(b.to_vec(), [fan_out]), device),
            )
        })
        .collect()
}

/// The moments packed in `state` as tensors on `device`.
pub fn moments_from(layout: &Layout, state: &Packed, device: &Device) -> Vec<LayerMoments> {
    layers_from(layout, &state.m, device)
        .into_iter()
        .zip(layers_from(layout, &state.v, device))
        .map(|((wm, bm), (wv, bv))| LayerMoments {
            weight: Moments { m: wm, v: wv },
            bias: Moments { m: bm, v: bv },
        })
        .collect()
}

/// Reads tensors from their device in one transaction and packs them layer by layer (weight,
/// bias), as `Layout` packs them.
pub async fn read_packed(layers: Vec<(Tensor<2>, Tensor<1>)>) -> Result<Vec<f32>> {
    let tx = layers
        .into_iter()
        .fold(Transaction::default(), |tx, (w, b)| tx.register(w).register(b));
    let data = tx
        .execute_async()
        .await
        .map_err(|e| Error::Device(format!("reading the training state: {e:?}")))?;
    Ok(data
        .into_iter()
        .flat_map(|d| d.iter::<f32>().collect::<Vec<f32>>())
        .collect())
}

/// A model's weight and bias tensors, layer by layer, without autodiff.
pub fn model_layers(model: &Mlp) -> Vec<(Tensor<2>, Tensor<1>)> {
    model
        .layers
        .iter()
        .map(|l| {
            let bias = l
                .bias
                .as_ref()
                .map(|b| b.val())
                .unwrap_or_else(|| Tensor::zeros([l.weight.dims()[1]], &l.weight.device()));
            (l.weight.val().without_autodiff(), bias.without_autodiff())
        })
        .collect()
}

/// The reference engine's state at a step: parameters, moments and average, read in one go
/// into the common packing.
pub async fn packed(model: &Mlp, moments: &[LayerMoments], average: Option<&Average>) -> Result<Packed> {
    let mut layers = model_layers(model);
    layers.extend(moments.iter().map(|m| (m.weight.m.clone(), m.bias.m.clone())));
    layers.extend(moments.iter().map(|m| (m.weight.v.clone(), m.bias.v.clone())));
    if let Some(a) = average {
        layers.extend(a.layers.iter().cloned());
    }
    let all = read_packed(layers).await?;
    let len = all.len() / if average.is_some() { 4 } else { 3 };
    let part = |i: usize| all[i * len..(i + 1) * len].to_vec();
    Ok(Packed {
        params: part(0),
        m: part(1),
        v: part(2),
        avg: if average.is_some() { part(3) } else { Vec::new() },
    })
}
