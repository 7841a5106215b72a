//! The model's forward pass on the host, straight from a snapshot's tensors. The page answers its
//! predictions with it, so the page's own module carries no tensor library (burn lives in the
//! worker's module, which trains). It computes what `Mlp::forward` computes in inference: per layer
//! `x·W + b` with `W` as `[in, out]`, ReLU between layers, no dropout, then softmax. A test holds
//! it to burn's answers on the whole real test set (tests/native/host_forward.rs).

use super::Snapshot;
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::error::WeightsError;

/// One dense layer: `weight` row-major `[fan_in, fan_out]`.
#[derive(Debug, Clone)]
struct Dense {
    fan_in: usize,
    fan_out: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// A snapshot's layers, ready to evaluate.
#[derive(Debug, Clone)]
pub struct HostModel {
    layers: Vec<Dense>,
}

impl HostModel {
    /// The layers `layers.0`, `layers.1`... of `snapshot`, each checked to chain from 784 inputs
    /// to 10 outputs (a snapshot read from a file already is; this keeps a hand-built one honest).
    pub fn new(snapshot: &Snapshot) -> Result<Self, WeightsError> {
        let mut layers = Vec::new();
        let mut fan_in = IMAGE_PIXELS;
        for i in 0..snapshot.config.widths().len() - 1 {
            let (_, ws, wv) = snapshot.tensor(&format!("layers.{i}.weight"))?;
            let (_, bs, bv) = snapshot.tensor(&format!("layers.{i}.bias"))?;
            let fan_out = bs.first().copied().unwrap_or(0);
            if ws[..] != [fan_in, fan_out] || bs.len() != 1 || wv.len() != fan_in * fan_out || bv.len() != fan_out {
                return Err(WeightsError::Mismatch(format!(
                    "layer {i} has weight {ws:?} and bias {bs:?}, which do not chain from width {fan_in}"
                )));
            }
            layers.push(Dense {
                fan_in,
                fan_out,
                weight: wv.clone(),
                bias: bv.clone(),
            });
            fan_in = fan_out;
        }
        if fan_in != NUM_CLASSES {
            return Err(WeightsError::Mismatch(format!(
                "the last layer has {fan_in} outputs, expected {NUM_CLASSES}"
            )));
        }
        Ok(Self { layers })
    }

    /// Layer widths, input to output (784, hidden..., 10).
    pub fn widths(&self) -> Vec<usize> {
        let mut widths = vec![IMAGE_PIXELS];
        widths.extend(self.layers.iter().map(|l| l.fan_out));
        widths
    }

    /// Class probabilities, 10 per image, for images of 784 pixels in [0, 1] laid back to back.
    /// A trailing partial image is ignored; the caller checks the length.
    pub fn probabilities(&self, pixels: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(pixels.len() / IMAGE_PIXELS * NUM_CLASSES);
        let last = self.layers.len() - 1;
        for image in pixels.chunks_exact(IMAGE_PIXELS) {
            let mut x = image.to_vec();
            for (i, layer) in self.layers.iter().enumerate() {
                x = layer.apply(&x);
                if i != last {
                    x.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
            out.extend(softmax(&x));
        }
        out
    }
}

impl HostModel {
    /// What pushed the answer toward `class` for one image of 784 pixels in [0, 1]: gradient ×
    /// input of the class's log-probability, per pixel (positive: toward `class`, negative:
    /// away from it; zero where the pixel is blank). A forward pass and one backward pass.
    pub fn attribution(&self, image: &[f32], class: usize) -> Result<Vec<f32>, WeightsError> {
        if image.len() != IMAGE_PIXELS || class >= NUM_CLASSES {
            return Err(WeightsError::Mismatch(format!(
                "attribution takes {IMAGE_PIXELS} pixels and a class below {NUM_CLASSES}, got {} pixels and class {class}",
                image.len()
            )));
        }
        // Each layer's input, kept for the backward pass (ReLU's mask is where it is positive).
        let mut inputs = vec![image.to_vec()];
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let mut y = layer.apply(inputs.last().map(Vec::as_slice).unwrap_or_default());
            if i != last {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            inputs.push(y);
        }
        // d log p_class / d logits = onehot(class) - p.
        let p = softmax(inputs.last().map(Vec::as_slice).unwrap_or_default());
        let mut grad: Vec<f32> = p
            .iter()
            .enumerate()
            .map(|(c, &pc)| f32::from(c == class) - pc)
            .collect();
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let x = &inputs[i];
            grad = layer
                .weight
                .chunks_exact(layer.fan_out)
                .zip(x)
                .map(|(row, &xi)| {
                    // Below the first layer, a ReLU output that was zero passes no gradient.
                    if i > 0 && xi <= 0.0 {
                        0.0
                    } else {
                        row.iter().zip(&grad).map(|(w, g)| w * g).sum()
                    }
                })
                .collect();
        }
        Ok(grad.iter().zip(image).map(|(g, x)| g * x).collect())
    }

    /// The first layer's weights as one image per unit: `fan_out` images of 784 values, unit
    /// after unit (the file keeps them `[784, fan_out]`).
    pub fn first_layer_images(&self) -> Vec<f32> {
        let Some(first) = self.layers.first() else {
            return Vec::new();
        };
        (0..first.fan_out)
            .flat_map(|j| first.weight.iter().skip(j).step_by(first.fan_out).copied())
            .collect()
    }
}

impl Dense {
    /// `x·W + b`, accumulated row by row of `W` (contiguous, so it vectorises); zero inputs,
    /// most of a Fashion-MNIST image and half of the ReLU outputs, are skipped.
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut y = self.bias.clone();
        for (&xi, row) in x.iter().zip(self.weight.chunks_exact(self.fan_out)).take(self.fan_in) {
            if xi != 0.0 {
                y.iter_mut().zip(row).for_each(|(acc, w)| *acc += xi * w);
            }
        }
        y
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}
