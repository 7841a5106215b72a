//! Using a model on the CPU with the training step's kernels: loss, accuracy and every
//! prediction on a labelled set, or class probabilities, a block of images at a time.

use super::CpuOptions;
use super::step::Step;
use crate::data::{Dataset, IMAGE_PIXELS, NUM_CLASSES};
use crate::error::WeightsError;
use crate::metrics::EvalReport;
use crate::train::layout::Layout;
use crate::weights::Snapshot;

/// Images per forward pass.
const BLOCK: usize = 256;

/// A model ready to evaluate on the CPU.
pub struct Evaluator {
    step: Step,
    params: Vec<f32>,
}

impl Evaluator {
    pub fn new(model: &Snapshot, options: CpuOptions) -> Result<Self, WeightsError> {
        let layout = Layout::new(&model.config.widths(), BLOCK);
        let params = layout.pack(&model.tensors).map_err(WeightsError::Mismatch)?;
        Ok(Self {
            step: Step::new(options.kernels, options.threads, layout),
            params,
        })
    }

    /// Loss, accuracy, confusion matrix and every prediction on `data`.
    pub fn evaluate(&mut self, data: &Dataset) -> EvalReport {
        evaluate(&mut self.step, &self.params, data)
    }

    /// The same for images given as `[0, 1]` floats (784 per image) with their labels.
    pub fn evaluate_pixels(&mut self, pixels: &[f32], labels: &[u8]) -> EvalReport {
        let mut scorer = Scorer::new(labels);
        forward_blocks(
            &mut self.step,
            &self.params,
            labels.len(),
            |from, input| input.copy_from_slice(&pixels[from * IMAGE_PIXELS..from * IMAGE_PIXELS + input.len()]),
            |row, z| scorer.score(row, z),
        );
        scorer.report(labels)
    }

    /// Class probabilities of images given as `[0, 1]` floats, 784 per image.
    pub fn probabilities(&mut self, pixels: &[f32]) -> Vec<[f32; NUM_CLASSES]> {
        let n = pixels.len() / IMAGE_PIXELS;
        let mut out = Vec::with_capacity(n);
        forward_blocks(
            &mut self.step,
            &self.params,
            n,
            |from, input| input.copy_from_slice(&pixels[from * IMAGE_PIXELS..from * IMAGE_PIXELS + input.len()]),
            |_, z| out.push(softmax(z)),
        );
        out
    }
}

/// Evaluates `params` (packed for `step`'s layout) on `data`, in blocks of the layout's batch.
pub fn evaluate(step: &mut Step, params: &[f32], data: &Dataset) -> EvalReport {
    let labels = data.labels();
    let pixels = data.pixels();
    let mut scorer = Scorer::new(labels);
    forward_blocks(
        step,
        params,
        labels.len(),
        |from, input| {
            let src = &pixels[from * IMAGE_PIXELS..from * IMAGE_PIXELS + input.len()];
            for (x, &p) in input.iter_mut().zip(src) {
                *x = p as f32 / 255.0;
            }
        },
        |row, z| scorer.score(row, z),
    );
    scorer.report(labels)
}

/// Runs `n` images through the model a block at a time: `fill(first, input)` writes a block's
/// inputs, `each(image, logits)` takes each image's logits.
fn forward_blocks(
    step: &mut Step,
    params: &[f32],
    n: usize,
    mut fill: impl FnMut(usize, &mut [f32]),
    mut each: impl FnMut(usize, &[f32]),
) {
    let block = step.layout().batch;
    for from in (0..n).step_by(block) {
        let rows = block.min(n - from);
        fill(from, step.input_mut(rows));
        let logits = step.forward(params, rows, None);
        for (r, z) in logits.chunks_exact(NUM_CLASSES).enumerate() {
            each(from + r, z);
        }
    }
}

/// Summed cross-entropy and the predictions of a labelled set, image by image.
struct Scorer<'a> {
    labels: &'a [u8],
    loss: f64,
    predictions: Vec<u8>,
}

impl<'a> Scorer<'a> {
    fn new(labels: &'a [u8]) -> Self {
        Self {
            labels,
            loss: 0.0,
            predictions: Vec::with_capacity(labels.len()),
        }
    }

    fn score(&mut self, image: usize, z: &[f32]) {
        let best = argmax(z);
        let top = z[best];
        let log_total = libm::logf(z.iter().map(|&v| libm::expf(v - top)).sum());
        let label = self.labels[image] as usize;
        self.loss -= (z[label] - top - log_total) as f64;
        self.predictions.push(best as u8);
    }

    fn report(self, labels: &[u8]) -> EvalReport {
        let n = labels.len().max(1) as f64;
        EvalReport::new(self.loss / n, labels, self.predictions)
    }
}

/// The first largest logit's class (ties go to the lower class, as burn's argmax does).
fn argmax(z: &[f32]) -> usize {
    (1..z.len()).fold(0, |best, c| if z[c] > z[best] { c } else { best })
}

fn softmax(z: &[f32]) -> [f32; NUM_CLASSES] {
    let top = z[argmax(z)];
    let mut p = [0.0f32; NUM_CLASSES];
    for (out, &v) in p.iter_mut().zip(z) {
        *out = libm::expf(v - top);
    }
    let total: f32 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= total);
    p
}
