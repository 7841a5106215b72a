//! One training step on the CPU, fused: the batch's forward pass (each hidden layer's matmul,
//! bias, ReLU and dropout in one pass over its output), softmax cross-entropy and its gradient,
//! and per layer, from the last, the delta of the layer below and the layer's gradient with its
//! Adam update applied as each block of the gradient is finished. All state lives in flat
//! buffers laid out by `Layout`, as in the GPU's fused step; nothing is allocated per step.
//!
//! With several threads each layer's output columns are shared out; every output is computed
//! exactly as with one thread, so the thread count never changes a result.

use std::ops::Range;

use super::isa::Kernels;
use super::ops::{AdamPtrs, AdamScalars, Dropout, Ptrs, Shape};
use crate::data::NUM_CLASSES;
use crate::train::layout::{Layout, Packed};

/// What one step needs besides the state: the batch (already in the input buffer), its labels,
/// and the step's draws and scalars.
pub struct StepInput<'a> {
    pub rows: usize,
    pub labels: &'a [u8],
    /// One per hidden layer.
    pub dropout: &'a [Dropout],
    pub keep: f32,
    pub label_smoothing: f32,
    pub adam: AdamScalars,
}

/// The step's working memory and the kernels it runs.
pub struct Step {
    kernels: Kernels,
    threads: usize,
    layout: Layout,
    /// Each layer's input (`Layout::input`); layer 0's is the batch.
    acts: Vec<f32>,
    deltas: Vec<f32>,
    logits: Vec<f32>,
    /// A layer's weight transposed, for the delta of the layer below.
    transposed: Vec<f32>,
}

/// Loss summed over a step's rows, and how many rows its prediction got right.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTotals {
    pub loss: f64,
    pub correct: u64,
}

impl Step {
    pub fn new(kernels: Kernels, threads: usize, layout: Layout) -> Self {
        let widths = &layout.widths;
        let transposed = (1..layout.layers())
            .map(|l| widths[l] * widths[l + 1])
            .max()
            .unwrap_or(0);
        Self {
            acts: vec![0.0; layout.acts_len],
            deltas: vec![0.0; layout.deltas_len],
            logits: vec![0.0; layout.batch * NUM_CLASSES],
            transposed: vec![0.0; transposed],
            kernels,
            threads: threads.max(1),
            layout,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The batch's input, `rows × 784` floats, to be filled before `train`.
    pub fn input_mut(&mut self, rows: usize) -> &mut [f32] {
        let width = self.layout.widths[0];
        &mut self.acts[..rows * width]
    }

    /// Zeroes or scales the batch's input pixels as the input dropout says.
    pub fn input_dropout(&mut self, rows: usize, dropout: Dropout) {
        let kernels = self.kernels;
        let input = self.input_mut(rows);
        // SAFETY: the pointer covers the `len` floats of the slice.
        unsafe { kernels.input_dropout(input.as_mut_ptr(), input.len(), dropout) }
    }

    /// The logits (`rows × 10`) of the batch in the input buffer under `params`: dropped out as
    /// `dropout` says (one per hidden layer) in training, not at all in inference (`None`).
    pub fn forward(&mut self, params: &[f32], rows: usize, dropout: Option<&[Dropout]>) -> &[f32] {
        let l = &self.layout;
        let layers = l.layers();
        assert!(rows >= 1 && rows <= l.batch && params.len() == l.params_len);
        assert!(dropout.is_none_or(|d| d.len() == layers - 1));
        let k = self.kernels;
        let w = &l.widths;
        for layer in 0..layers {
            let s = Shape {
                rows,
                fan_in: w[layer],
                fan_out: w[layer + 1],
            };
            let x = self.acts[l.input[layer]..].as_ptr();
            let wp = params[l.weight[layer]..].as_ptr();
            let b = params[l.bias[layer]..].as_ptr();
            if layer + 1 < layers {
                let out = self.acts[l.input[layer + 1]..].as_mut_ptr();
                let p = Ptrs {
                    x,
                    w: wp,
                    b,
                    out,
                    aux: std::ptr::null(),
                };
                let d = dropout.map_or(Dropout::NONE, |d| d[layer]);
                // SAFETY: the layout sizes every buffer for `l.batch >= rows` rows.
                par_cols(self.threads, s.fan_out, k.align(), |cols| unsafe {
                    k.hidden(p, s, cols, d)
                });
            } else {
                let out = self.logits.as_mut_ptr();
                let p = Ptrs {
                    x,
                    w: wp,
                    b,
                    out,
                    aux: std::ptr::null(),
                };
                // SAFETY: as above; `logits` holds `l.batch` rows of 10.
                unsafe { k.logits(p, s, 0..s.fan_out) };
            }
        }
        &self.logits[..rows * NUM_CLASSES]
    }

    /// Layer `layer`'s matrix product over `rows` rows.
    fn shape(&self, rows: usize, layer: usize) -> Shape {
        let w = &self.layout.widths;
        Shape {
            rows,
            fan_in: w[layer],
            fan_out: w[layer + 1],
        }
    }

    /// The loss over the `rows` logits of the forward pass and its gradient, scaled by `scale`
    /// (one over the batch's rows), into the last layer's delta.
    fn head(&mut self, rows: usize, input: &StepInput, scale: f32) -> StepTotals {
        let l = &self.layout;
        let last = l.layers() - 1;
        let delta = &mut self.deltas[l.delta[last]..l.delta[last] + rows * NUM_CLASSES];
        head(
            &self.logits[..rows * NUM_CLASSES],
            input.labels,
            input.label_smoothing,
            scale,
            delta,
        )
    }

    /// The delta of the layer below `layer`: `layer`'s delta back through its weight (as `params`
    /// holds it) and the ReLU and dropout of `layer`'s input.
    fn delta_below(&mut self, params: &[f32], layer: usize, s: Shape, keep: f32) {
        let l = &self.layout;
        transpose(
            &params[l.weight[layer]..l.weight[layer] + s.fan_in * s.fan_out],
            s.fan_in,
            s.fan_out,
            &mut self.transposed,
        );
        let p = Ptrs {
            x: self.deltas[l.delta[layer]..].as_ptr(),
            w: self.transposed.as_ptr(),
            b: std::ptr::null(),
            out: self.deltas[l.delta[layer - 1]..].as_mut_ptr(),
            aux: self.acts[l.input[layer]..].as_ptr(),
        };
        let k = self.kernels;
        // SAFETY: every pointer covers its buffer for this layer's shape (the layout sized them);
        // each thread writes its own columns of `out`.
        par_cols(self.threads, s.fan_in, k.align(), |cols| unsafe {
            k.delta(p, s, cols, keep)
        });
    }

    /// One optimiser step on the batch in the input buffer.
    ///
    /// # Panics
    /// When `state` or `input` do not match the layout (the trainer builds both from it).
    pub fn train(&mut self, state: &mut Packed, input: &StepInput) -> StepTotals {
        let rows = input.rows;
        let len = self.layout.params_len;
        assert!(input.labels.len() == rows && state.m.len() == len && state.v.len() == len);
        assert!(state.avg.is_empty() || state.avg.len() == len);
        self.forward(&state.params, rows, Some(input.dropout));

        let layers = self.layout.layers();
        let k = self.kernels;
        let totals = self.head(rows, input, 1.0 / rows as f32);

        let avg = !state.avg.is_empty();
        for layer in (0..layers).rev() {
            let s = self.shape(rows, layer);
            if layer > 0 {
                // Through this layer's weight before its update.
                self.delta_below(&state.params, layer, s, input.keep);
            }
            let l = &self.layout;
            let (wo, bo) = (l.weight[layer], l.bias[layer]);
            let at = |v: &mut Vec<f32>, o: usize| {
                if v.is_empty() {
                    std::ptr::null_mut()
                } else {
                    v[o..].as_mut_ptr()
                }
            };
            let p = AdamPtrs {
                w: state.params[wo..].as_mut_ptr(),
                wm: state.m[wo..].as_mut_ptr(),
                wv: state.v[wo..].as_mut_ptr(),
                wa: if avg {
                    at(&mut state.avg, wo)
                } else {
                    std::ptr::null_mut()
                },
                b: state.params[bo..].as_mut_ptr(),
                bm: state.m[bo..].as_mut_ptr(),
                bv: state.v[bo..].as_mut_ptr(),
                ba: if avg {
                    at(&mut state.avg, bo)
                } else {
                    std::ptr::null_mut()
                },
                x: self.acts[l.input[layer]..].as_ptr(),
                d: self.deltas[l.delta[layer]..].as_ptr(),
            };
            let a = input.adam;
            // SAFETY: each pointer covers this layer's part of the packed state and buffers; each
            // thread updates its own columns of the weight and bias.
            par_cols(self.threads, s.fan_out, k.align(), |cols| unsafe {
                k.adam(p, s, cols, a)
            });
        }
        totals
    }
}

impl Step {
    /// One shard of a step split across workers: the gradient of the batch's rows `first_row..
    /// first_row + input.rows` (their images in the input buffer, their labels in `input`),
    /// scaled for a batch of `total_rows`, into `grads` (packed like the parameters). The draws
    /// are the whole batch's, so the shards' gradients add up to the batch's.
    pub fn shard_gradient(
        &mut self,
        params: &[f32],
        input: &StepInput,
        first_row: usize,
        total_rows: usize,
        grads: &mut [f32],
    ) -> StepTotals {
        let rows = input.rows;
        let widths = self.layout.widths.clone();
        assert!(grads.len() == self.layout.params_len && input.labels.len() == rows);
        let dropout: Vec<Dropout> = input
            .dropout
            .iter()
            .enumerate()
            .map(|(l, d)| d.from(first_row * widths[l + 1]))
            .collect();
        self.forward(params, rows, Some(&dropout));
        let layers = self.layout.layers();
        let k = self.kernels;
        let totals = self.head(rows, input, 1.0 / total_rows as f32);
        for layer in (0..layers).rev() {
            let s = self.shape(rows, layer);
            if layer > 0 {
                self.delta_below(params, layer, s, input.keep);
            }
            let l = &self.layout;
            let p = AdamPtrs {
                w: grads[l.weight[layer]..].as_mut_ptr(),
                b: grads[l.bias[layer]..].as_mut_ptr(),
                wm: std::ptr::null_mut(),
                wv: std::ptr::null_mut(),
                wa: std::ptr::null_mut(),
                bm: std::ptr::null_mut(),
                bv: std::ptr::null_mut(),
                ba: std::ptr::null_mut(),
                x: self.acts[l.input[layer]..].as_ptr(),
                d: self.deltas[l.delta[layer]..].as_ptr(),
            };
            // SAFETY: `grads` is packed like the parameters; each thread writes its columns.
            par_cols(self.threads, s.fan_out, k.align(), |cols| unsafe {
                k.grads(p, s, cols)
            });
        }
        totals
    }

    /// Adam on every parameter given the batch's summed gradient (the shards' added up).
    pub fn apply(&self, state: &mut Packed, grads: &[f32], adam: AdamScalars) {
        let len = self.layout.params_len;
        assert!(grads.len() == len && state.params.len() == len && state.m.len() == len && state.v.len() == len);
        let avg = if state.avg.is_empty() {
            std::ptr::null_mut()
        } else {
            state.avg.as_mut_ptr()
        };
        let p = AdamPtrs {
            w: state.params.as_mut_ptr(),
            wm: state.m.as_mut_ptr(),
            wv: state.v.as_mut_ptr(),
            wa: avg,
            b: std::ptr::null_mut(),
            bm: std::ptr::null_mut(),
            bv: std::ptr::null_mut(),
            ba: std::ptr::null_mut(),
            x: std::ptr::null(),
            d: std::ptr::null(),
        };
        // SAFETY: every pointer covers the `len` packed parameters (`avg` when it is not null).
        unsafe { self.kernels.adam_apply(p, grads.as_ptr(), len, adam) }
    }
}

/// Softmax cross-entropy of each row of `logits` (10 classes) against its label smoothed by
/// `smoothing`; writes the loss's gradient `(p - target) / rows` to `delta`. The formulas of the
/// GPU's `head` kernel, with libm's `expf` and `logf` (the same bits on every platform).
fn head(logits: &[f32], labels: &[u8], smoothing: f32, inv_rows: f32, delta: &mut [f32]) -> StepTotals {
    let spread = smoothing / NUM_CLASSES as f32;
    let mut totals = StepTotals::default();
    for ((z, d), &label) in logits
        .chunks_exact(NUM_CLASSES)
        .zip(delta.chunks_exact_mut(NUM_CLASSES))
        .zip(labels)
    {
        // The first maximum wins ties, as burn's argmax does.
        let mut best = 0;
        for c in 1..NUM_CLASSES {
            if z[c] > z[best] {
                best = c;
            }
        }
        let top = z[best];
        let mut total = 0.0f32;
        for &v in z {
            total += libm::expf(v - top);
        }
        let log_total = libm::logf(total);
        let mut loss = 0.0f32;
        for c in 0..NUM_CLASSES {
            let log_p = z[c] - top - log_total;
            let target = if c == label as usize {
                spread + (1.0 - smoothing)
            } else {
                spread
            };
            loss -= target * log_p;
            d[c] = (libm::expf(log_p) - target) * inv_rows;
        }
        totals.loss += loss as f64;
        totals.correct += u64::from(best == label as usize);
    }
    totals
}

/// `out` (`cols × rows`) = the transpose of `m` (`rows × cols`).
fn transpose(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    const BLOCK: usize = 16;
    for r0 in (0..rows).step_by(BLOCK) {
        for c0 in (0..cols).step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(rows) {
                for c in c0..(c0 + BLOCK).min(cols) {
                    out[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
}

/// Runs `f` over `0..cols`, cut into at most `threads` ranges that start at multiples of
/// `align`, on rayon's pool (natively; WebAssembly has one thread per worker).
fn par_cols(threads: usize, cols: usize, align: usize, f: impl Fn(Range<usize>) + Sync) {
    let units = cols.div_ceil(align);
    let parts = threads.min(units).max(1);
    if parts == 1 {
        return f(0..cols);
    }
    let per = units.div_ceil(parts);
    let range = |t: usize| (t * per * align).min(cols)..((t + 1) * per * align).min(cols);
    #[cfg(not(target_arch = "wasm32"))]
    rayon::scope(|s| {
        let f = &f;
        for t in 1..parts {
            s.spawn(move |_| f(range(t)));
        }
        f(range(0));
    });
    #[cfg(target_arch = "wasm32")]
    for t in 0..parts {
        f(range(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_columns() {
        let m: Vec<f32> = (0..6 * 35).map(|i| i as f32).collect();
        let mut t = vec![0.0; m.len()];
        transpose(&m, 6, 35, &mut t);
        for r in 0..6 {
            for c in 0..35 {
                assert_eq!(t[c * 6 + r], m[r * 35 + c]);
            }
        }
    }

    #[test]
    fn the_head_gives_the_loss_and_its_gradient() {
        let logits = [0.0f32, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut delta = [0.0f32; 10];
        let t = head(&logits, &[2], 0.0, 1.0, &mut delta);
        let total: f32 = logits.iter().map(|v| v.exp()).sum();
        assert!((t.loss - (total.ln() - 2.0) as f64).abs() < 1e-6, "{t:?}");
        assert_eq!(t.correct, 1);
        assert!((delta[2] - (2.0f32.exp() / total - 1.0)).abs() < 1e-6);
        assert!(delta.iter().sum::<f32>().abs() < 1e-6);
    }
}
