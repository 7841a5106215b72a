//! The CPU step's kernels, written once over `Simd` and compiled for each instruction set
//! (`isa.rs` picks one): a hidden layer forward (matmul, bias, ReLU, dropout), the logits, a
//! hidden layer's delta, and a layer's gradient with its Adam update, all through `gemm`; and
//! the input dropout of a batch. Each kernel takes a range of output columns, so that threads
//! can share a layer without changing any result.
//!
//! The arithmetic is the fused GPU step's (`train::gpu::kernels`), operation for operation.

use std::ops::Range;

use super::gemm::{Epilogue, Strided, gemm, load_part, store_part};
use super::simd::{Simd, noise_bits};

/// A dropout draw: element `q` of the output is dropped when `bits(key, first + q) <
/// threshold`, kept units scaled by `keep` (threshold 0: no dropout). `first` is where this part
/// of the batch starts in the draw: 0 for a whole batch, its first row times the width for a
/// shard of it (so a batch split across workers draws what it would draw whole).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    pub key: u32,
    pub threshold: u32,
    pub keep: f32,
    pub first: u32,
}

impl Dropout {
    /// Nothing dropped (inference, or a rate of 0).
    pub const NONE: Self = Self {
        key: 0,
        threshold: 0,
        keep: 1.0,
        first: 0,
    };

    /// Dropout at rate `prob` drawn from `key` (`noise::drop_threshold`, `noise::keep_scale`).
    pub fn new(key: u32, prob: f64) -> Self {
        Self {
            key,
            threshold: crate::noise::drop_threshold(prob),
            keep: crate::noise::keep_scale(prob),
            first: 0,
        }
    }

    /// The same draw, for a part of the batch starting at element `first`.
    pub fn from(self, first: usize) -> Self {
        Self {
            first: first as u32,
            ..self
        }
    }
}

/// The per-step scalars of Adam and of the weights' running average (`train::adam::AdamStep`,
/// `train::average::decay_at`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamScalars {
    pub lr_t: f32,
    pub eps_t: f32,
    pub weight_decay: f32,
    pub avg_keep: f32,
    pub avg_take: f32,
}

/// `out = dropout(relu(x·w + bias))`, with `out` `rows × width`.
struct Hidden {
    out: *mut f32,
    width: usize,
    bias: *const f32,
    dropout: Dropout,
}

impl<S: Simd> Epilogue<S> for Hidden {
    #[inline(always)]
    unsafe fn finish(&self, i: usize, j: usize, n: usize, acc: S::F) {
        unsafe {
            let mut h = S::relu(S::add(acc, load_part::<S>(self.bias.add(j), n)));
            let d = self.dropout;
            if d.threshold > 0 {
                let bits = noise_bits::<S>(d.key, d.first.wrapping_add((i * self.width + j) as u32));
                h = S::keep_unless_below(bits, d.threshold, S::mul(h, S::splat(d.keep)));
            }
            store_part::<S>(self.out.add(i * self.width + j), h, n);
        }
    }
}

/// `out = x·w + bias` (the logits).
struct Affine {
    out: *mut f32,
    width: usize,
    bias: *const f32,
}

impl<S: Simd> Epilogue<S> for Affine {
    #[inline(always)]
    unsafe fn finish(&self, i: usize, j: usize, n: usize, acc: S::F) {
        unsafe {
            let v = S::add(acc, load_part::<S>(self.bias.add(j), n));
            store_part::<S>(self.out.add(i * self.width + j), v, n);
        }
    }
}

/// `out = acc` (a gradient kept for summing with other shards' before Adam).
struct Store {
    out: *mut f32,
    width: usize,
}

impl<S: Simd> Epilogue<S> for Store {
    #[inline(always)]
    unsafe fn finish(&self, i: usize, j: usize, n: usize, acc: S::F) {
        unsafe { store_part::<S>(self.out.add(i * self.width + j), acc, n) }
    }
}

/// A hidden layer's delta: `out = (δ_next·Wᵀ)·keep` where the layer's output `h` is positive
/// (kept by dropout and by ReLU), else 0.
struct Masked {
    out: *mut f32,
    width: usize,
    h: *const f32,
    keep: f32,
}

impl<S: Simd> Epilogue<S> for Masked {
    #[inline(always)]
    unsafe fn finish(&self, i: usize, j: usize, n: usize, acc: S::F) {
        unsafe {
            let at = i * self.width + j;
            let v = S::where_positive(load_part::<S>(self.h.add(at), n), S::mul(acc, S::splat(self.keep)));
            store_part::<S>(self.out.add(at), v, n);
        }
    }
}

/// Adam on parameters `(i, j)` of a `? × width` tensor given their gradient, then the running
/// average (PyTorch's Adam with L2 weight decay, bias corrections folded into `lr_t`, `eps_t`).
struct Adam {
    params: *mut f32,
    m: *mut f32,
    v: *mut f32,
    /// Null when the run keeps no average.
    avg: *mut f32,
    width: usize,
    s: AdamScalars,
}

impl<S: Simd> Epilogue<S> for Adam {
    #[inline(always)]
    unsafe fn finish(&self, i: usize, j: usize, n: usize, grad: S::F) {
        use crate::train::adam::{BETA1, BETA2};
        unsafe {
            let at = i * self.width + j;
            let s = self.s;
            let p = load_part::<S>(self.params.add(at), n);
            let g = S::add(grad, S::mul(S::splat(s.weight_decay), p));
            let m1 = S::add(
                S::mul(load_part::<S>(self.m.add(at), n), S::splat(BETA1 as f32)),
                S::mul(g, S::splat((1.0 - BETA1) as f32)),
            );
            let v1 = S::add(
                S::mul(load_part::<S>(self.v.add(at), n), S::splat(BETA2 as f32)),
                S::mul(S::mul(g, g), S::splat((1.0 - BETA2) as f32)),
            );
            store_part::<S>(self.m.add(at), m1, n);
            store_part::<S>(self.v.add(at), v1, n);
            let next = S::sub(
                p,
                S::div(S::mul(m1, S::splat(s.lr_t)), S::add(S::sqrt(v1), S::splat(s.eps_t))),
            );
            store_part::<S>(self.params.add(at), next, n);
            if !self.avg.is_null() {
                let a = load_part::<S>(self.avg.add(at), n);
                let a1 = S::add(S::mul(a, S::splat(s.avg_keep)), S::mul(next, S::splat(s.avg_take)));
                store_part::<S>(self.avg.add(at), a1, n);
            }
        }
    }
}

/// Pointers into the step's buffers for one kernel call. The step (`step.rs`) checks every
/// length before it makes one; kernels then only index inside them.
#[derive(Clone, Copy)]
pub struct Ptrs {
    pub x: *const f32,
    pub w: *const f32,
    pub b: *const f32,
    pub out: *mut f32,
    pub aux: *const f32,
}

// SAFETY: threads given the same `Ptrs` write disjoint column ranges (see `step.rs`).
unsafe impl Send for Ptrs {}
unsafe impl Sync for Ptrs {}

/// Adam's buffers for one layer: weight `fan_in × fan_out` and bias (each with moments and
/// average), and the layer's input `x` and output delta `d`.
#[derive(Clone, Copy)]
pub struct AdamPtrs {
    pub w: *mut f32,
    pub wm: *mut f32,
    pub wv: *mut f32,
    pub wa: *mut f32,
    pub b: *mut f32,
    pub bm: *mut f32,
    pub bv: *mut f32,
    pub ba: *mut f32,
    pub x: *const f32,
    pub d: *const f32,
}

// SAFETY: as for `Ptrs`.
unsafe impl Send for AdamPtrs {}
unsafe impl Sync for AdamPtrs {}

/// The shape of one layer in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub rows: usize,
    pub fan_in: usize,
    pub fan_out: usize,
}

/// `out = dropout(relu(x·w + b))` for the columns `cols` (`x`: `rows × fan_in`, `w`:
/// `fan_in × fan_out`, `out`: `rows × fan_out`).
#[inline(always)]
pub unsafe fn hidden<S: Simd, const MR: usize, const NV: usize>(
    p: Ptrs,
    s: Shape,
    cols: Range<usize>,
    dropout: Dropout,
) {
    let out = Hidden {
        out: p.out,
        width: s.fan_out,
        bias: p.b,
        dropout,
    };
    unsafe { gemm::<S, _, MR, NV>(s.rows, cols, s.fan_in, x_rows(p.x, s.fan_in), p.w, s.fan_out, &out) }
}

/// `out = x·w + b` for the columns `cols`.
#[inline(always)]
pub unsafe fn logits<S: Simd, const MR: usize, const NV: usize>(p: Ptrs, s: Shape, cols: Range<usize>) {
    let out = Affine {
        out: p.out,
        width: s.fan_out,
        bias: p.b,
    };
    unsafe { gemm::<S, _, MR, NV>(s.rows, cols, s.fan_in, x_rows(p.x, s.fan_in), p.w, s.fan_out, &out) }
}

/// A hidden layer's delta for its columns `cols`: `x` is the next layer's delta (`rows ×
/// fan_out`), `w` the next layer's weight transposed (`fan_out × fan_in`), `aux` the layer's
/// output `h` (`rows × fan_in`), `out` the delta (`rows × fan_in`).
#[inline(always)]
pub unsafe fn delta<S: Simd, const MR: usize, const NV: usize>(p: Ptrs, s: Shape, cols: Range<usize>, keep: f32) {
    let out = Masked {
        out: p.out,
        width: s.fan_in,
        h: p.aux,
        keep,
    };
    unsafe { gemm::<S, _, MR, NV>(s.rows, cols, s.fan_out, x_rows(p.x, s.fan_out), p.w, s.fan_in, &out) }
}

/// The gradient of a layer's weight (`xᵀ·d`) and bias (`Σ_r d`) for its columns `cols`, each
/// applied by Adam as it is finished.
#[inline(always)]
pub unsafe fn adam<S: Simd, const MR: usize, const NV: usize>(
    p: AdamPtrs,
    s: Shape,
    cols: Range<usize>,
    a: AdamScalars,
) {
    let weight = Adam {
        params: p.w,
        m: p.wm,
        v: p.wv,
        avg: p.wa,
        width: s.fan_out,
        s: a,
    };
    let bias = Adam {
        params: p.b,
        m: p.bm,
        v: p.bv,
        avg: p.ba,
        width: s.fan_out,
        s: a,
    };
    unsafe { weight_and_bias::<S, _, MR, NV>(p, s, cols, &weight, &bias) }
}

/// The gradient of a layer's weight (`xᵀ·d`, into `w`) and bias (`Σ_r d`, into `b`) for its
/// columns `cols`, kept for summing with the other shards' (`AdamPtrs::w` and `b` are the
/// gradient's buffers here; the moments are not touched).
#[inline(always)]
pub unsafe fn grads<S: Simd, const MR: usize, const NV: usize>(p: AdamPtrs, s: Shape, cols: Range<usize>) {
    let weight = Store {
        out: p.w,
        width: s.fan_out,
    };
    let bias = Store {
        out: p.b,
        width: s.fan_out,
    };
    unsafe { weight_and_bias::<S, _, MR, NV>(p, s, cols, &weight, &bias) }
}

/// The products behind a layer's gradient for its columns `cols`: the weight's (`xᵀ·d`) and the
/// bias's (`Σ_r d`), each finished by its own epilogue.
#[inline(always)]
unsafe fn weight_and_bias<S: Simd, E: Epilogue<S>, const MR: usize, const NV: usize>(
    p: AdamPtrs,
    s: Shape,
    cols: Range<usize>,
    weight: &E,
    bias: &E,
) {
    let xt = Strided {
        ptr: p.x,
        row: 1,
        col: s.fan_in,
    };
    unsafe {
        gemm::<S, _, MR, NV>(s.fan_in, cols.clone(), s.rows, xt, p.d, s.fan_out, weight);
        gemm::<S, _, 1, NV>(1, cols, s.rows, Strided::ones(), p.d, s.fan_out, bias);
    }
}

/// Adam (and the running average) on `len` packed parameters given their summed gradient: the
/// update `adam`'s epilogue applies, element by element.
#[inline(always)]
pub unsafe fn adam_apply<S: Simd>(p: AdamPtrs, grads: *const f32, len: usize, a: AdamScalars) {
    let update = Adam {
        params: p.w,
        m: p.wm,
        v: p.wv,
        avg: p.wa,
        width: 0,
        s: a,
    };
    unsafe {
        let mut j = 0;
        while j < len {
            let n = S::LANES.min(len - j);
            Epilogue::<S>::finish(&update, 0, j, n, load_part::<S>(grads.add(j), n));
            j += S::LANES;
        }
    }
}

/// The input dropout of a batch laid out as `len` floats from `x`: position `q` is zeroed when
/// `bits(key, q) < threshold`, else scaled by `keep` (`train::augment` is the reference).
#[inline(always)]
pub unsafe fn input_dropout<S: Simd>(x: *mut f32, len: usize, d: Dropout) {
    unsafe {
        let mut q = 0;
        while q < len {
            let n = S::LANES.min(len - q);
            let v = S::mul(load_part::<S>(x.add(q), n), S::splat(d.keep));
            let v = S::keep_unless_below(noise_bits::<S>(d.key, d.first.wrapping_add(q as u32)), d.threshold, v);
            store_part::<S>(x.add(q), v, n);
            q += S::LANES;
        }
    }
}

fn x_rows(x: *const f32, width: usize) -> Strided {
    Strided {
        ptr: x,
        row: width,
        col: 1,
    }
}
