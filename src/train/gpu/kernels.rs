//! The fused training step's kernels (cubecl `#[cube]`, compiled to WGSL for WebGPU and to
//! whatever wgpu speaks natively). One step of an MLP with `L` layers is `3L` dispatches:
//! `gather` (the batch, unpacked and flipped), `L-1` × `dense` (matmul + bias + ReLU + dropout),
//! `head` (last matmul + softmax cross-entropy + its gradient + per-sample loss and hits),
//! `L-1` × `backward` (the hidden layers' deltas through ReLU and the dropout mask) and
//! `L` × `adam` (each weight's gradient, its Adam update and the weights' running average, in
//! one pass).
//!
//! Every buffer is one binding: parameters, moments, activations and deltas are each packed into
//! one buffer with offsets (WebGPU allows 8 storage buffers per shader stage; the most any kernel
//! here binds is 6 plus cubecl's scalar block). No kernel uses workgroup memory or barriers:
//! each unit computes a small register tile, which suits software adapters (SwiftShader turns
//! every barrier into a coroutine switch) and is plenty for matrices this small. The matmul-like
//! kernels give neighbouring units neighbouring columns, so their loads are contiguous across
//! units (a GPU coalesces them; a CPU implementation runs the units as SIMD lanes).

use cubecl::prelude::*;

/// Rows and columns of the register tile each `backward` unit computes.
pub const TILE: u32 = 4;
/// Rows each `dense` and `adam` unit takes for its one column.
pub const ROWS: u32 = 8;
/// Pixels per packed training word.
const PIXELS_PER_WORD: u32 = 4;
const SIDE: u32 = 28;
const PIXELS: u32 = 784;
const WORDS_PER_IMAGE: u32 = 196;
const CLASSES: u32 = 10;
// Adam's constants rounded to f32 exactly as `train::adam` rounds them on the CPU.
const BETA1: f32 = crate::train::adam::BETA1 as f32;
const BETA2: f32 = crate::train::adam::BETA2 as f32;
const ONE_MINUS_BETA1: f32 = (1.0 - crate::train::adam::BETA1) as f32;
const ONE_MINUS_BETA2: f32 = (1.0 - crate::train::adam::BETA2) as f32;

/// `noise::mix32`: the same constants, so every backend draws the same masks.
#[cube]
pub fn mix32(x: u32) -> u32 {
    let mut h = x;
    h ^= h >> 16u32;
    h *= 0x7feb_352du32;
    h ^= h >> 15u32;
    h *= 0x846c_a68bu32;
    h ^ (h >> 16u32)
}

/// `noise::bits`.
#[cube]
pub fn noise_bits(key: u32, position: u32) -> u32 {
    mix32(key ^ mix32(position))
}

/// The batch: `rows` images from `order[start..]`, unpacked to [0, 1] floats at the start of
/// `acts`, each mirrored and shifted as its noise says, then the input dropout's pixels zeroed
/// and the rest scaled by `drop_keep` (`train::augment` is the reference). One unit per output
/// pixel. A shift is stored offset by `max_shift` so the arithmetic stays unsigned: the source
/// pixel of `(x, y)` is `(x + s - ox, y + s - oy)`.
#[cube(launch_unchecked)]
pub fn gather(
    train_x: &[u32],
    order: &[u32],
    acts: &mut [f32],
    rows: u32,
    start: u32,
    flip_key: u32,
    flip: u32,
    shift_key: u32,
    max_shift: u32,
    drop_key: u32,
    drop_threshold: u32,
    drop_keep: f32,
) {
    let pos = ABSOLUTE_POS as u32;
    if pos >= rows * PIXELS {
        terminate!();
    }
    let r = pos / PIXELS;
    let p = pos % PIXELS;
    let y = p / SIDE;
    let x = p % SIDE;
    let mirrored = flip == 1u32 && (noise_bits(flip_key, r) >> 31u32) == 1u32;
    let span = 2u32 * max_shift + 1u32;
    let bits = noise_bits(shift_key, r);
    let ox = bits % span;
    let oy = (bits >> 16u32) % span;
    let mut value = 0.0f32;
    if x + max_shift >= ox && y + max_shift >= oy {
        let sx = x + max_shift - ox;
        let sy = y + max_shift - oy;
        if sx < SIDE && sy < SIDE {
            let mut column = sx;
            if mirrored {
                column = SIDE - 1u32 - sx;
            }
            let q = sy * SIDE + column;
            let image = order[(start + r) as usize];
            let word = train_x[(image * WORDS_PER_IMAGE + q / PIXELS_PER_WORD) as usize];
            let byte = (word >> (8u32 * (q % PIXELS_PER_WORD))) & 0xffu32;
            value = f32::cast_from(byte) / 255.0f32;
        }
    }
    if drop_threshold > 0u32 {
        if noise_bits(drop_key, pos) < drop_threshold {
            value = 0.0f32;
        } else {
            value *= drop_keep;
        }
    }
    acts[pos as usize] = value;
}

/// Four floats: the unit of every load and store in `dense` and `adam4`. On a CPU implementation
/// of WebGPU (SwiftShader, lavapipe) every load costs about the same whatever it fetches, so
/// these kernels fetch four values at a time; a GPU saves instructions the same way.
type V4 = Vector<f32, Const<4>>;

/// A hidden layer: `out = dropout(relu(in · W + b))` for a `rows × fan_in` input at `in_off` of
/// `acts`, written at `out_off`. `W` (`fan_in × fan_out`, row-major) and `b` sit at `w_off` and
/// `b_off` of `params`. Dropout (when `threshold > 0`) zeroes a unit whose noise bits fall below
/// `threshold` and scales the rest by `keep`. Offsets and widths are in floats and multiples of 4.
///
/// A unit computes a 4×4 tile: four rows (from the workgroup's y, the same for all its units) by
/// four neighbouring columns (one `V4`). Per four steps of the sum it loads four input `V4`s and
/// four weight `V4`s for 64 multiply-adds.
#[cube(launch_unchecked)]
pub fn dense(
    acts: &mut [V4],
    params: &[V4],
    rows: u32,
    fan_in: u32,
    fan_out: u32,
    in_off: u32,
    out_off: u32,
    w_off: u32,
    b_off: u32,
    threshold: u32,
    keep: f32,
    key: u32,
) {
    let c4 = ABSOLUTE_POS_X;
    let cols4 = fan_out / 4u32;
    let r0 = CUBE_POS_Y * 4u32;
    if c4 >= cols4 || r0 >= rows {
        terminate!();
    }
    // Rows past the batch read its last row (never written), so the loop has no branch.
    let last = rows - 1u32;
    let x0 = (in_off + min(r0, last) * fan_in) / 4u32;
    let x1 = (in_off + min(r0 + 1u32, last) * fan_in) / 4u32;
    let x2 = (in_off + min(r0 + 2u32, last) * fan_in) / 4u32;
    let x3 = (in_off + min(r0 + 3u32, last) * fan_in) / 4u32;
    let mut a0 = V4::new(0.0f32);
    let mut a1 = V4::new(0.0f32);
    let mut a2 = V4::new(0.0f32);
    let mut a3 = V4::new(0.0f32);
    let mut w_at = w_off / 4u32 + c4;
    for kk in 0..fan_in / 4u32 {
        let w0 = params[w_at as usize];
        let w1 = params[(w_at + cols4) as usize];
        let w2 = params[(w_at + 2u32 * cols4) as usize];
        let w3 = params[(w_at + 3u32 * cols4) as usize];
        w_at += 4u32 * cols4;
        let v0 = acts[(x0 + kk) as usize];
        a0 += w0 * V4::new(v0.extract(0usize))
            + w1 * V4::new(v0.extract(1usize))
            + w2 * V4::new(v0.extract(2usize))
            + w3 * V4::new(v0.extract(3usize));
        let v1 = acts[(x1 + kk) as usize];
        a1 += w0 * V4::new(v1.extract(0usize))
            + w1 * V4::new(v1.extract(1usize))
            + w2 * V4::new(v1.extract(2usize))
            + w3 * V4::new(v1.extract(3usize));
        let v2 = acts[(x2 + kk) as usize];
        a2 += w0 * V4::new(v2.extract(0usize))
            + w1 * V4::new(v2.extract(1usize))
            + w2 * V4::new(v2.extract(2usize))
            + w3 * V4::new(v2.extract(3usize));
        let v3 = acts[(x3 + kk) as usize];
        a3 += w0 * V4::new(v3.extract(0usize))
            + w1 * V4::new(v3.extract(1usize))
            + w2 * V4::new(v3.extract(2usize))
            + w3 * V4::new(v3.extract(3usize));
    }
    let bias = params[(b_off / 4u32 + c4) as usize];
    dense_out(acts, a0 + bias, r0, rows, c4, fan_out, out_off, threshold, keep, key);
    dense_out(
        acts,
        a1 + bias,
        r0 + 1u32,
        rows,
        c4,
        fan_out,
        out_off,
        threshold,
        keep,
        key,
    );
    dense_out(
        acts,
        a2 + bias,
        r0 + 2u32,
        rows,
        c4,
        fan_out,
        out_off,
        threshold,
        keep,
        key,
    );
    dense_out(
        acts,
        a3 + bias,
        r0 + 3u32,
        rows,
        c4,
        fan_out,
        out_off,
        threshold,
        keep,
        key,
    );
}

/// ReLU and dropout of four `dense` outputs (row `r`, columns `4·c4..`), written when the row is
/// in the batch.
#[cube]
#[allow(clippy::too_many_arguments)]
fn dense_out(
    acts: &mut [V4],
    pre: V4,
    r: u32,
    rows: u32,
    c4: u32,
    fan_out: u32,
    out_off: u32,
    threshold: u32,
    keep: f32,
    key: u32,
) {
    if r < rows {
        let mut h = max(pre, V4::new(0.0f32));
        if threshold > 0u32 {
            let base = r * fan_out + 4u32 * c4;
            #[unroll]
            for t in 0..4u32 {
                let mut value = h.extract(t as usize) * keep;
                if noise_bits(key, base + t) < threshold {
                    value = 0.0f32;
                }
                h.insert(t as usize, value);
            }
        }
        acts[((out_off + r * fan_out) / 4u32 + c4) as usize] = h;
    }
}

/// The output layer and the loss, one unit per row: logits = `in · W + b` (10 classes), softmax
/// cross-entropy against the label smoothed by `smoothing`, the loss's gradient
/// `(p - target) / rows` written to `deltas` at `delta_off`, and the row's loss and hit (1 when
/// the arg-max is the label) to `stats` at `2 * (stat_base + r)`.
#[cube(launch_unchecked)]
pub fn head(
    acts: &[f32],
    params: &[f32],
    deltas: &mut [f32],
    stats: &mut [f32],
    labels: &[u32],
    order: &[u32],
    rows: u32,
    fan_in: u32,
    in_off: u32,
    w_off: u32,
    b_off: u32,
    delta_off: u32,
    start: u32,
    stat_base: u32,
    smoothing: f32,
    inv_rows: f32,
) {
    let r = ABSOLUTE_POS as u32;
    if r >= rows {
        terminate!();
    }
    let mut logit = Array::<f32>::new(10usize);
    #[unroll]
    for c in 0..CLASSES {
        logit[c as usize] = 0.0f32;
    }
    let x0 = in_off + r * fan_in;
    for k in 0..fan_in {
        let x = acts[(x0 + k) as usize];
        let wk = w_off + k * CLASSES;
        #[unroll]
        for c in 0..CLASSES {
            logit[c as usize] += x * params[(wk + c) as usize];
        }
    }
    #[unroll]
    for c in 0..CLASSES {
        logit[c as usize] += params[(b_off + c) as usize];
    }
    // The first maximum wins ties, as burn's argmax does.
    let mut best = 0u32;
    let mut top = logit[0];
    #[unroll]
    for c in 1..CLASSES {
        if logit[c as usize] > top {
            top = logit[c as usize];
            best = c;
        }
    }
    let mut total = 0.0f32;
    #[unroll]
    for c in 0..CLASSES {
        total += (logit[c as usize] - top).exp();
    }
    let log_total = total.ln();
    let label = labels[order[(start + r) as usize] as usize];
    let spread = smoothing / f32::cast_from(CLASSES);
    let mut loss = 0.0f32;
    #[unroll]
    for c in 0..CLASSES {
        let log_p = logit[c as usize] - top - log_total;
        let mut target = spread;
        if c == label {
            target += 1.0f32 - smoothing;
        }
        loss -= target * log_p;
        deltas[(delta_off + r * CLASSES + c) as usize] = (log_p.exp() - target) * inv_rows;
    }
    let s = (2u32 * (stat_base + r)) as usize;
    stats[s] = loss;
    let mut hit = 0.0f32;
    if best == label {
        hit = 1.0f32;
    }
    stats[s + 1] = hit;
}

/// A hidden layer's delta: `d[r, j] = (Σ_c next[r, c] · W[j, c]) · h'[r, j]`, where `W`
/// (`fan × fan_next`) is the following layer's weight, `next` that layer's delta and
/// `h' = keep` where the layer's output `h` is positive (kept by dropout and by ReLU), else 0.
/// One unit per 4×4 tile of `d`.
#[cube(launch_unchecked)]
pub fn backward(
    acts: &[f32],
    params: &[f32],
    deltas: &mut [f32],
    rows: u32,
    fan: u32,
    fan_next: u32,
    act_off: u32,
    next_off: u32,
    delta_off: u32,
    w_off: u32,
    keep: f32,
) {
    let col_tiles = (fan + TILE - 1u32) / TILE;
    let tile = ABSOLUTE_POS as u32;
    let r0 = (tile / col_tiles) * TILE;
    let j0 = (tile % col_tiles) * TILE;
    if r0 >= rows {
        terminate!();
    }
    let mut acc = Array::<f32>::new(16usize);
    let mut dr = Array::<u32>::new(4usize);
    let mut wr = Array::<u32>::new(4usize);
    #[unroll]
    for i in 0..TILE {
        dr[i as usize] = next_off + min(r0 + i, rows - 1u32) * fan_next;
        wr[i as usize] = w_off + min(j0 + i, fan - 1u32) * fan_next;
    }
    for c in 0..fan_next {
        #[unroll]
        for i in 0..TILE {
            let d = deltas[(dr[i as usize] + c) as usize];
            #[unroll]
            for j in 0..TILE {
                acc[(i * TILE + j) as usize] += d * params[(wr[j as usize] + c) as usize];
            }
        }
    }
    #[unroll]
    for i in 0..TILE {
        let r = r0 + i;
        #[unroll]
        for j in 0..TILE {
            let c = j0 + j;
            if r < rows && c < fan {
                let mut g = 0.0f32;
                if acts[(act_off + r * fan + c) as usize] > 0.0f32 {
                    g = acc[(i * TILE + j) as usize] * keep;
                }
                deltas[(delta_off + r * fan + c) as usize] = g;
            }
        }
    }
}

/// `adam` for a layer whose widths are multiples of 4, four columns per unit (`V4`): a unit
/// takes four rows of the weight by four neighbouring columns, or (after the weight's last block)
/// four biases. Per sample it loads one delta `V4` and one input `V4` for 16 multiply-adds.
#[cube(launch_unchecked)]
pub fn adam4(
    params: &mut [V4],
    m: &mut [V4],
    v: &mut [V4],
    avg: &mut [V4],
    acts: &[V4],
    deltas: &[V4],
    rows: u32,
    fan_in: u32,
    fan_out: u32,
    in_off: u32,
    delta_off: u32,
    w_off: u32,
    b_off: u32,
    lr_t: f32,
    eps_t: f32,
    weight_decay: f32,
    avg_keep: f32,
    avg_take: f32,
) {
    let j4 = ABSOLUTE_POS_X;
    let cols4 = fan_out / 4u32;
    let block = CUBE_POS_Y;
    let blocks = fan_in / 4u32;
    if j4 >= cols4 || block > blocks {
        terminate!();
    }
    let mut d_at = delta_off / 4u32 + j4;
    if block < blocks {
        let mut g0 = V4::new(0.0f32);
        let mut g1 = V4::new(0.0f32);
        let mut g2 = V4::new(0.0f32);
        let mut g3 = V4::new(0.0f32);
        let mut x_at = in_off / 4u32 + block;
        for _ in 0..rows {
            let d = deltas[d_at as usize];
            let x = acts[x_at as usize];
            g0 += d * V4::new(x.extract(0usize));
            g1 += d * V4::new(x.extract(1usize));
            g2 += d * V4::new(x.extract(2usize));
            g3 += d * V4::new(x.extract(3usize));
            d_at += cols4;
            x_at += fan_in / 4u32;
        }
        let row = w_off / 4u32 + 4u32 * block * cols4 + j4;
        adam_update4(
            params,
            m,
            v,
            avg,
            row,
            g0,
            lr_t,
            eps_t,
            weight_decay,
            avg_keep,
            avg_take,
        );
        adam_update4(
            params,
            m,
            v,
            avg,
            row + cols4,
            g1,
            lr_t,
            eps_t,
            weight_decay,
            avg_keep,
            avg_take,
        );
        adam_update4(
            params,
            m,
            v,
            avg,
            row + 2u32 * cols4,
            g2,
            lr_t,
            eps_t,
            weight_decay,
            avg_keep,
            avg_take,
        );
        adam_update4(
            params,
            m,
            v,
            avg,
            row + 3u32 * cols4,
            g3,
            lr_t,
            eps_t,
            weight_decay,
            avg_keep,
            avg_take,
        );
    } else {
        let mut g = V4::new(0.0f32);
        for _ in 0..rows {
            g += deltas[d_at as usize];
            d_at += cols4;
        }
        adam_update4(
            params,
            m,
            v,
            avg,
            b_off / 4u32 + j4,
            g,
            lr_t,
            eps_t,
            weight_decay,
            avg_keep,
            avg_take,
        );
    }
}

/// `adam_update` on four neighbouring parameters at `V4` index `at`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn adam_update4(
    params: &mut [V4],
    m: &mut [V4],
    v: &mut [V4],
    avg: &mut [V4],
    at: u32,
    grad: V4,
    lr_t: f32,
    eps_t: f32,
    weight_decay: f32,
    avg_keep: f32,
    avg_take: f32,
) {
    let i = at as usize;
    let p = params[i];
    let g = grad + V4::new(weight_decay) * p;
    let m1 = m[i] * V4::new(BETA1) + g * V4::new(ONE_MINUS_BETA1);
    let v1 = v[i] * V4::new(BETA2) + (g * g) * V4::new(ONE_MINUS_BETA2);
    m[i] = m1;
    v[i] = v1;
    let next = p - (m1 * V4::new(lr_t)) / (v1.sqrt() + V4::new(eps_t));
    params[i] = next;
    if avg_take > 0.0f32 {
        avg[i] = avg[i] * V4::new(avg_keep) + next * V4::new(avg_take);
    }
}

/// One layer's gradients and their Adam update, in place. A unit takes one column `j` of the
/// weight and a block of `ROWS` of its rows (`g[i, j] = Σ_r in[r, i] · d[r, j]`); the block after
/// the weight's last is the bias (`g[j] = Σ_r d[r, j]`, as if the input had a row of ones).
/// Neighbouring units take neighbouring columns, so deltas and parameters are read and written
/// contiguously across units. Then, per parameter, PyTorch's Adam with L2 weight decay:
/// `g += wd·p; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; p -= lr_t·m / (√v + eps_t)`, with the
/// bias corrections folded into `lr_t` and `eps_t` (see `train::adam::AdamStep`).
#[cube(launch_unchecked)]
pub fn adam(
    params: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    avg: &mut [f32],
    acts: &[f32],
    deltas: &[f32],
    rows: u32,
    fan_in: u32,
    fan_out: u32,
    in_off: u32,
    delta_off: u32,
    w_off: u32,
    b_off: u32,
    lr_t: f32,
    eps_t: f32,
    weight_decay: f32,
    avg_keep: f32,
    avg_take: f32,
) {
    // Column from x, row block from the workgroup's y (uniform across a workgroup, see `dense`).
    let j = ABSOLUTE_POS_X;
    let block = CUBE_POS_Y;
    let blocks = (fan_in + ROWS - 1u32) / ROWS;
    if j >= fan_out || block > blocks {
        terminate!();
    }
    if block < blocks {
        let i0 = block * ROWS;
        let mut acc = Array::<f32>::new(8usize);
        let mut x_at = Array::<u32>::new(8usize);
        #[unroll]
        for i in 0..ROWS {
            x_at[i as usize] = in_off + min(i0 + i, fan_in - 1u32);
        }
        let mut d_at = delta_off + j;
        let mut row = 0u32;
        for _ in 0..rows {
            let d = deltas[d_at as usize];
            #[unroll]
            for i in 0..ROWS {
                acc[i as usize] += acts[(x_at[i as usize] + row) as usize] * d;
            }
            d_at += fan_out;
            row += fan_in;
        }
        #[unroll]
        for i in 0..ROWS {
            if i0 + i < fan_in {
                let at = w_off + (i0 + i) * fan_out + j;
                adam_update(
                    params,
                    m,
                    v,
                    avg,
                    at,
                    acc[i as usize],
                    lr_t,
                    eps_t,
                    weight_decay,
                    avg_keep,
                    avg_take,
                );
            }
        }
    } else {
        let mut g = 0.0f32;
        let mut d_at = delta_off + j;
        for _ in 0..rows {
            g += deltas[d_at as usize];
            d_at += fan_out;
        }
        adam_update(
            params,
            m,
            v,
            avg,
            b_off + j,
            g,
            lr_t,
            eps_t,
            weight_decay,
            avg_keep,
            avg_take,
        );
    }
}

/// Adam on one parameter, then (when `avg_take > 0`) the running average of the weights:
/// `avg = avg·keep + p·take` (`train::average` on the CPU).
#[cube]
#[allow(clippy::too_many_arguments)]
fn adam_update(
    params: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    avg: &mut [f32],
    at: u32,
    grad: f32,
    lr_t: f32,
    eps_t: f32,
    weight_decay: f32,
    avg_keep: f32,
    avg_take: f32,
) {
    let i = at as usize;
    let p = params[i];
    let g = grad + weight_decay * p;
    let m1 = m[i] * BETA1 + g * ONE_MINUS_BETA1;
    let v1 = v[i] * BETA2 + (g * g) * ONE_MINUS_BETA2;
    m[i] = m1;
    v[i] = v1;
    let next = p - (m1 * lr_t) / (v1.sqrt() + eps_t);
    params[i] = next;
    if avg_take > 0.0f32 {
        avg[i] = avg[i] * avg_keep + next * avg_take;
    }
}

/// Sums the per-sample losses and hits of samples `from..to` into `out[0]` and `out[1]`.
/// Once per chunk, so a single unit is enough.
#[cube(launch_unchecked)]
pub fn sum_stats(stats: &[f32], out: &mut [f32], from: u32, to: u32) {
    if ABSOLUTE_POS != 0 {
        terminate!();
    }
    let mut loss = 0.0f32;
    let mut hits = 0.0f32;
    for s in from..to {
        loss += stats[(2u32 * s) as usize];
        hits += stats[(2u32 * s + 1u32) as usize];
    }
    out[0] = loss;
    out[1] = hits;
}
