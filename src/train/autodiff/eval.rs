//! Using a burn model: evaluation on a labelled set (loss, accuracy, confusion matrix, every
//! prediction) and class probabilities for given images. Reads are asynchronous and batched.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};

use super::device_set::DeviceSet;
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::error::{ConfigError, Error, Result};
use crate::metrics::EvalReport;
use crate::model::Mlp;

/// Rows per forward pass during evaluation: bounds device memory on WebGPU.
const EVAL_ROWS: usize = 2_000;

/// Loss, accuracy, confusion matrix and every prediction of `model` on `set`, read in one go.
pub async fn evaluate(model: &Mlp, set: &DeviceSet) -> Result<EvalReport> {
    let device = set.y.device();
    let model = model.valid().to_device(&device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let n = set.len();
    if n == 0 {
        return Ok(EvalReport::new(0.0, &[], Vec::new()));
    }
    let mut loss_sum = Tensor::<1>::zeros([1], &device);
    let mut preds: Vec<Tensor<1, Int>> = Vec::new();
    for start in (0..n).step_by(EVAL_ROWS) {
        let end = (start + EVAL_ROWS).min(n);
        let logits = model.forward(set.rows(start..end));
        let y = set.y.clone().slice(start..end);
        loss_sum = loss_sum + loss_fn.forward(logits.clone(), y).mul_scalar((end - start) as f64);
        preds.push(logits.argmax(1).reshape([end - start]));
    }
    let data = Transaction::default()
        .register(loss_sum)
        .register(Tensor::cat(preds, 0))
        .execute_async()
        .await
        .map_err(|e| Error::Device(format!("{e:?}")))?;
    let loss = data[0].iter::<f64>().next().unwrap_or(f64::NAN) / n as f64;
    let predictions = data[1]
        .iter::<i64>()
        .map(|p| p.clamp(0, NUM_CLASSES as i64 - 1) as u8)
        .collect();
    Ok(EvalReport::new(loss, &set.labels, predictions))
}

/// Class probabilities for images given as `[0, 1]` floats, 784 per image.
pub async fn predict(model: &Mlp, pixels: &[f32], device: &Device) -> Result<Vec<[f32; NUM_CLASSES]>> {
    let n = pixels.len() / IMAGE_PIXELS;
    if n == 0 || !pixels.len().is_multiple_of(IMAGE_PIXELS) {
        return Err(ConfigError::Invalid(format!(
            "expected a multiple of {IMAGE_PIXELS} pixels, got {}",
            pixels.len()
        ))
        .into());
    }
    let device = device.clone().without_autodiff();
    let model = model.valid().to_device(&device);
    let x = Tensor::from_data(TensorData::new(pixels.to_vec(), [n, IMAGE_PIXELS]), &device);
    let data = model
        .probabilities(x)
        .into_data_async()
        .await
        .map_err(|e| Error::Device(format!("{e:?}")))?;
    let flat: Vec<f32> = data.iter::<f32>().collect();
    Ok(flat
        .chunks_exact(NUM_CLASSES)
        .map(|c| std::array::from_fn(|i| c[i]))
        .collect())
}

/// Loss, accuracy and confusion matrix of `model` on images given as `[0, 1]` floats (784 per
/// image) with their labels: for inputs that are not dataset images (drawings).
pub async fn evaluate_pixels(model: &Mlp, pixels: &[f32], labels: &[u8], device: &Device) -> Result<EvalReport> {
    let probs = predict(model, pixels, device).await?;
    let mut loss = 0.0f64;
    let mut predictions = Vec::with_capacity(probs.len());
    for (p, &label) in probs.iter().zip(labels) {
        loss -= (p[label as usize].max(1e-12) as f64).ln();
        let best = (0..NUM_CLASSES).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        predictions.push(best as u8);
    }
    Ok(EvalReport::new(loss / labels.len().max(1) as f64, labels, predictions))
}
