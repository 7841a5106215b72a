//! A running average of the weights (exponential, per step): the model a run reports and saves
//! when its recipe averages. The average of the path's last few thousand steps generalises a
//! little better than the path's last point; the fused GPU step keeps the same average with the
//! same formula, `avg = avg·d + w·(1 - d)` with `d = decay_at(decay, step)`.

use burn::module::{Module, Param};
use burn::tensor::Tensor;

use crate::model::Mlp;

/// The decay used after step `step` (1-based) of a run averaging with `decay`: the recipe's decay,
/// held lower early on (`(1 + t) / (10 + t)`, as TensorFlow's moving averages do) so that the
/// average follows training from the first epochs instead of sitting on the initial weights for
/// the first thousand steps.
pub fn decay_at(decay: f64, step: u64) -> f64 {
    let t = step as f64;
    decay.min((1.0 + t) / (10.0 + t))
}

/// The averaged weight and bias of every layer, on the training device (without autodiff).
#[derive(Debug, Clone)]
pub struct Average {
    pub layers: Vec<(Tensor<2>, Tensor<1>)>,
}

impl Average {
    /// Starts the average at `model`'s weights.
    pub fn of(model: &Mlp) -> Self {
        Self {
            layers: model
                .layers
                .iter()
                .map(|l| {
                    let bias = l.bias.as_ref().map(|b| b.val()).unwrap_or_else(|| {
                        Tensor::zeros([l.weight.dims()[1]], &l.weight.device())
                    });
                    (l.weight.val().without_autodiff(), bias.without_autodiff())
                })
                .collect(),
        }
    }

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
