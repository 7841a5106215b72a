//! The reference MLP: 784 -> hidden layers (ReLU, dropout) -> 10 logits. Pure burn, no web code.
//! Its shape (`MlpConfig`) needs no burn: the page's module reads it from model files too.

#[cfg(feature = "ml")]
use burn::module::Module;
#[cfg(feature = "ml")]
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
#[cfg(feature = "ml")]
use burn::tensor::activation::softmax;
#[cfg(feature = "ml")]
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::error::ConfigError;

/// Shape of the network. Defaults are the reference model's: 784-256-128-64-10, dropout 0.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    pub hidden: Vec<usize>,
    pub dropout: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256, 128, 64],
            dropout: 0.2,
        }
    }
}

impl MlpConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hidden.is_empty() || self.hidden.len() > 8 {
            return Err(ConfigError::Invalid("give between 1 and 8 hidden layers".into()));
        }
        if let Some(h) = self.hidden.iter().find(|&&h| h == 0 || h > 8192) {
            return Err(ConfigError::Invalid(format!(
                "hidden layer size {h} must be within 1..=8192"
            )));
        }
        if !self.dropout.is_finite() || !(0.0..1.0).contains(&self.dropout) {
            return Err(ConfigError::Invalid(format!(
                "dropout {} must be within [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }

    /// All layer widths, input to output (784, hidden..., 10).
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![IMAGE_PIXELS];
        w.extend(&self.hidden);
        w.push(NUM_CLASSES);
        w
    }

    /// A freshly initialised model on `device` (weights follow the device's seed).
    #[cfg(feature = "ml")]
    pub fn init(&self, device: &Device) -> Result<Mlp, ConfigError> {
        self.validate()?;
        let widths = self.widths();
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Ok(Mlp {
            layers,
            activation: Relu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
        })
    }
}

/// The network. `layers.N.weight` is `[in, out]`, `layers.N.bias` is `[out]`.
#[cfg(feature = "ml")]
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    activation: Relu,
    dropout: Dropout,
}

#[cfg(feature = "ml")]
impl Mlp {
    /// Logits `[batch, 10]` for inputs `[batch, 784]` scaled to [0, 1] (inference: no dropout).
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.forward_with(input, |h| h)
    }

    /// Logits in training: `dropout` is applied to each hidden layer's activations (the trainer
    /// draws the masks, see `noise`).
    pub fn forward_with(&self, input: Tensor<2>, mut dropout: impl FnMut(Tensor<2>) -> Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = input;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i != last {
                x = dropout(self.activation.forward(x));
            }
        }
        x
    }

    /// Class probabilities `[batch, 10]`.
    pub fn probabilities(&self, input: Tensor<2>) -> Tensor<2> {
        softmax(self.forward(input), 1)
    }

    /// The layer widths this model was built with (784, hidden..., 10).
    pub fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.layers.iter().map(|l| l.weight.dims()[0]).collect();
        if let Some(last) = self.layers.last() {
            w.push(last.weight.dims()[1]);
        }
        w
    }

    pub fn dropout(&self) -> f64 {
        self.dropout.prob
    }
}
