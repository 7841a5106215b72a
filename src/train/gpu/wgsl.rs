//! The GPU step's kernels, written as WGSL with the run's sizes baked in. One step of an MLP with
//! `L` layers is `3L` dispatches: `gather` (the batch, unpacked, mirrored, shifted, input dropout),
//! `L-1` × `dense` (matmul, bias, ReLU, dropout), `head` (logits, softmax cross-entropy, its
//! gradient, each row's loss and hit), `L-1` × `delta` (a hidden layer's delta through the next
//! weight, ReLU and the mask) and `L` × `adam` (a layer's gradient with its Adam update and the
//! weights' running average, bias included as one more row of ones).
//!
//! Written for software adapters as much as for GPUs (SwiftShader runs WebGPU in Chromium on
//! machines without one, 4 invocations at a time on the CPU, and is where most of this project's
//! users without a GPU end up when they force WebGPU): every buffer is a fixed-size array, so the
//! bounds check WebGPU requires is a compare with a constant instead of a division by the
//! array's length on every access (measured there: 2.1x on a 64×784·784×256 matmul); each
//! invocation computes an 8×4 register tile, so that every value loaded is used four or eight
//! times; loops are unrolled by hand (nothing unrolls them downstream); no workgroup memory or
//! barriers (each barrier is a coroutine switch there). A real GPU runs the same kernels.
//!
//! The arithmetic is the CPU engine's (`train::cpu::ops`), operation for operation; only the
//! order of each sum and the rounding of multiply-adds may differ.

use std::fmt::Write;

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::train::adam::{BETA1, BETA2};
use crate::train::layout::Layout;

/// Rows and columns of the register tile of `dense`, `delta` and `adam`, and how far their inner
/// loops are unrolled: the best of the shapes measured on SwiftShader (a 64×784·784×256 matmul
/// alone: 8×8 unrolled twice ~5.8 GFLOP/s; 8×4 ~4.5; 16×8 ~5.0; 8×4 unrolled 4 times ~2.8).
pub const TILE_ROWS: usize = 8;
pub const TILE_COLS: usize = 8;
pub const UNROLL: usize = 2;
/// Invocations per workgroup (at most; a layer's column groups may need fewer).
pub const WORKGROUP: usize = 64;
/// Pixels per packed training word.
pub const PIXELS_PER_WORD: usize = 4;
pub const WORDS_PER_IMAGE: usize = IMAGE_PIXELS / PIXELS_PER_WORD;
/// Hidden layers whose dropout keys one step carries (`MlpConfig` allows up to 8).
pub const MAX_HIDDEN: usize = 8;

/// What the kernels are compiled for: the sizes their buffers are declared with, and the run's
/// settings that stay the same at every step, written into the code as constants (so that
/// what a run does not use is not there at all: SwiftShader runs both sides of every branch).
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes {
    pub layout: Layout,
    pub train_len: usize,
    /// Whether the run keeps a running average of the weights.
    pub averaging: bool,
    pub flip: bool,
    pub max_shift: u32,
    /// The input dropout's `noise::drop_threshold` and kept pixels' scale (0: none).
    pub input_threshold: u32,
    pub input_keep: f32,
    /// The hidden layers' dropout, likewise.
    pub threshold: u32,
    pub keep: f32,
    pub smoothing: f32,
    pub weight_decay: f32,
}

impl Sizes {
    /// The kernels of a run of `config` on a training set of `train_len` images in batches
    /// laid out by `layout`.
    pub fn of(config: &crate::train::TrainConfig, layout: Layout, train_len: usize) -> Self {
        use crate::noise::{drop_threshold, keep_scale};
        Self {
            layout,
            train_len,
            averaging: config.average > 0.0,
            flip: config.augment_flip,
            max_shift: config.augment_shift,
            input_threshold: drop_threshold(config.input_dropout),
            input_keep: keep_scale(config.input_dropout),
            threshold: drop_threshold(config.model.dropout),
            keep: keep_scale(config.model.dropout),
            smoothing: config.label_smoothing as f32,
            weight_decay: config.weight_decay as f32,
        }
    }
}

impl Sizes {
    fn avg_len(&self) -> usize {
        if self.averaging { self.layout.params_len } else { 1 }
    }
}

/// A buffer binding of a kernel: its name in WGSL, element type, length and access.
struct Binding {
    name: &'static str,
    ty: &'static str,
    len: usize,
    write: bool,
}

/// The storage buffers, in binding order after the step's parameters (binding 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    TrainX,
    Labels,
    Order,
    Params,
    M,
    V,
    Avg,
    Acts,
    Deltas,
    Stats,
    Sums,
}

impl Sizes {
    fn binding(&self, b: Buffer, write: bool) -> Binding {
        let l = &self.layout;
        let (name, ty, len) = match b {
            Buffer::TrainX => ("train_x", "u32", self.train_len * WORDS_PER_IMAGE),
            Buffer::Labels => ("labels", "u32", self.train_len),
            Buffer::Order => ("order", "u32", self.train_len),
            Buffer::Params => ("params", "f32", l.params_len),
            Buffer::M => ("m", "f32", l.params_len),
            Buffer::V => ("v", "f32", l.params_len),
            Buffer::Avg => ("avg", "f32", self.avg_len()),
            Buffer::Acts => ("acts", "f32", l.acts_len),
            Buffer::Deltas => ("deltas", "f32", l.deltas_len),
            Buffer::Stats => ("stats", "f32", 2 * self.train_len),
            Buffer::Sums => ("sums", "f32", 2),
        };
        Binding { name, ty, len, write }
    }

    /// Element count of a buffer.
    pub fn len(&self, b: Buffer) -> usize {
        self.binding(b, false).len
    }
}

/// One kernel: its WGSL, the buffers it binds (after the step's parameters) and whether it
/// writes each.
pub struct Kernel {
    pub name: String,
    pub source: String,
    pub buffers: Vec<(Buffer, bool)>,
    /// Workgroups to dispatch for a batch of `rows` rows.
    pub groups: Groups,
}

/// How many workgroups a dispatch takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// One per batch row.
    PerRow,
    /// `x` column groups by one per `TILE_ROWS` batch rows.
    ColumnsByRowTiles { x: u32 },
    /// A fixed grid.
    Fixed { x: u32, y: u32 },
    /// One per `WORKGROUP` batch rows.
    RowsInWorkgroups,
}

impl Groups {
    pub fn for_rows(self, rows: usize) -> (u32, u32, u32) {
        match self {
            Groups::PerRow => (rows as u32, 1, 1),
            Groups::ColumnsByRowTiles { x } => (x, rows.div_ceil(TILE_ROWS) as u32, 1),
            Groups::Fixed { x, y } => (x, y, 1),
            Groups::RowsInWorkgroups => (rows.div_ceil(WORKGROUP) as u32, 1, 1),
        }
    }
}

/// The WGSL shared by every kernel: what changes from step to step
/// (`train::gpu::trainer::StepParams` writes it in this order) and the noise hash
/// (`noise::bits`).
const COMMON: &str = "
struct Step {
    rows: u32, start: u32, flip_key: u32, shift_key: u32,
    in_key: u32, inv_rows: f32, lr_t: f32, eps_t: f32,
    avg_keep: f32, avg_take: f32, pad0: u32, pad1: u32,
    keys: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> step: Step;

fn mix32(x: u32) -> u32 {
    var h = x;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    return h ^ (h >> 16u);
}

fn bits(key: u32, position: u32) -> u32 {
    return mix32(key ^ mix32(position));
}
";

/// Bytes of `Step` (the uniform each dispatch reads at its own offset).
pub const STEP_BYTES: usize = 80;

fn module(sizes: &Sizes, buffers: &[(Buffer, bool)], body: &str) -> String {
    let mut s = String::from(COMMON);
    for (i, &(b, write)) in buffers.iter().enumerate() {
        let b = sizes.binding(b, write);
        let access = if b.write { "read_write" } else { "read" };
        let _ = writeln!(
            s,
            "@group(0) @binding({}) var<storage, {access}> {}: array<{}, {}>;",
            i + 1,
            b.name,
            b.ty,
            b.len
        );
    }
    s.push_str(body);
    s
}

/// A float literal that reads back as exactly `v`.
fn lit(v: f32) -> String {
    format!("{v:e}f")
}

/// Workgroup width for `groups` column groups: a multiple of 4, at most `WORKGROUP`.
fn width(groups: usize) -> usize {
    groups.div_ceil(4).clamp(1, WORKGROUP / 4) * 4
}

/// Every kernel of one step, in dispatch order, and the chunk's `sum_stats`.
pub fn kernels(sizes: &Sizes) -> (Vec<Kernel>, Kernel) {
    let l = &sizes.layout;
    let layers = l.layers();
    let mut out = vec![gather(sizes)];
    out.extend((0..layers - 1).map(|k| dense(sizes, k)));
    out.push(head(sizes));
    out.extend((1..layers).rev().map(|k| delta(sizes, k)));
    out.extend((0..layers).map(|k| adam(sizes, k)));
    (out, sum_stats(sizes))
}

fn gather(sizes: &Sizes) -> Kernel {
    use Buffer::*;
    let buffers = vec![(TrainX, false), (Order, false), (Acts, true)];
    let moved = sizes.flip || sizes.max_shift > 0;
    let mut body = format!(
        "
@compute @workgroup_size({WORDS_PER_IMAGE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) word: u32) {{
    let r = wid.x;
    let image = order[step.start + r];
"
    );
    if moved {
        let _ = write!(
            body,
            "    let mirrored = {flip} && (bits(step.flip_key, r) >> 31u) == 1u;
    let shift = bits(step.shift_key, r);
    let ox = shift % {span}u;
    let oy = (shift >> 16u) % {span}u;
",
            flip = sizes.flip,
            span = 2 * sizes.max_shift + 1
        );
    } else {
        let _ = writeln!(body, "    let packed = train_x[image * {WORDS_PER_IMAGE}u + word];");
    }
    for t in 0..PIXELS_PER_WORD {
        let _ = write!(body, "    {{\n        let q = word * {PIXELS_PER_WORD}u + {t}u;\n");
        if moved {
            let _ = write!(
                body,
                "        let y = q / {IMAGE_SIDE}u;
        let x = q % {IMAGE_SIDE}u;
        var value = 0.0f;
        if (x + {s}u >= ox && y + {s}u >= oy) {{
            let sx = x + {s}u - ox;
            let sy = y + {s}u - oy;
            if (sx < {IMAGE_SIDE}u && sy < {IMAGE_SIDE}u) {{
                let column = select(sx, {last}u - sx, mirrored);
                let p = sy * {IMAGE_SIDE}u + column;
                let word_at = train_x[image * {WORDS_PER_IMAGE}u + p / {PIXELS_PER_WORD}u];
                value = f32((word_at >> (8u * (p % {PIXELS_PER_WORD}u))) & 0xffu) / 255.0f;
            }}
        }}
",
                s = sizes.max_shift,
                last = IMAGE_SIDE - 1
            );
        } else {
            let _ = writeln!(
                body,
                "        var value = f32((packed >> {}u) & 0xffu) / 255.0f;",
                8 * t
            );
        }
        let _ = writeln!(body, "        let at = r * {IMAGE_PIXELS}u + q;");
        if sizes.input_threshold > 0 {
            let _ = writeln!(
                body,
                "        value = select(value * {keep}, 0.0f, bits(step.in_key, at) < {threshold}u);",
                keep = lit(sizes.input_keep),
                threshold = sizes.input_threshold
            );
        }
        body.push_str("        acts[at] = value;\n    }\n");
    }
    body.push_str("}\n");
    Kernel {
        name: "gather".into(),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::PerRow,
    }
}

/// The tile's loop over `inner` (unrolled by `unroll`): `a(r, p)` and `b(p, c)` are WGSL index
/// expressions of the row `r`'s base, the column `c`'s base and the inner index `p`.
#[allow(clippy::too_many_arguments)]
fn tile_loop(
    body: &mut String,
    inner: &str,
    unroll: usize,
    a: &str,
    a_row: &dyn Fn(usize) -> String,
    b: &str,
    b_col: &dyn Fn(usize) -> String,
    a_stride: &str,
    b_stride: &str,
) {
    let _ = writeln!(body, "    for (var p = 0u; p < {inner}; p += {unroll}u) {{");
    for u in 0..unroll {
        for c in 0..TILE_COLS {
            let _ = writeln!(
                body,
                "        let b{u}_{c} = {b}[{} + (p + {u}u) * {b_stride}];",
                b_col(c)
            );
        }
        for r in 0..TILE_ROWS {
            let _ = writeln!(
                body,
                "        let a{u}_{r} = {a}[{} + (p + {u}u) * {a_stride}];",
                a_row(r)
            );
            for c in 0..TILE_COLS {
                let _ = writeln!(body, "        acc{r}_{c} += a{u}_{r} * b{u}_{c};");
            }
        }
    }
    body.push_str("    }\n");
}

fn accumulators(body: &mut String) {
    for r in 0..TILE_ROWS {
        for c in 0..TILE_COLS {
            let _ = writeln!(body, "    var acc{r}_{c} = 0.0f;");
        }
    }
}

/// `UNROLL`, or the largest smaller power of two dividing `n`.
fn unroll_for(n: usize) -> usize {
    (0..=UNROLL.trailing_zeros())
        .rev()
        .map(|p| 1 << p)
        .find(|u| n % u == 0)
        .unwrap_or(1)
}

/// Hidden layer `k`: `out = dropout(relu(in · W + b))`, rows × fan_out, columns of a tile
/// strided by the number of column groups so that neighbouring invocations take neighbouring
/// columns.
fn dense(sizes: &Sizes, k: usize) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let (fi, fo) = (l.widths[k], l.widths[k + 1]);
    let cg = fo.div_ceil(TILE_COLS);
    let wg = width(cg);
    let buffers = vec![(Params, false), (Acts, true)];
    let mut body = format!(
        "
@compute @workgroup_size({wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let g = wid.x * {wg}u + li;
    let cg = min(g, {last_cg}u);
    let r0 = wid.y * {TILE_ROWS}u;
    let last = step.rows - 1u;
",
        last_cg = cg - 1
    );
    for r in 0..TILE_ROWS {
        let _ = writeln!(body, "    let x{r} = {} + min(r0 + {r}u, last) * {fi}u;", l.input[k]);
    }
    for c in 0..TILE_COLS {
        let _ = writeln!(body, "    let j{c} = min(cg + {}u, {}u);", c * cg, fo - 1);
    }
    accumulators(&mut body);
    tile_loop(
        &mut body,
        &format!("{fi}u"),
        unroll_for(fi),
        "acts",
        &|r| format!("x{r}"),
        "params",
        &|c| format!("{}u + j{c}", l.weight[k]),
        "1u",
        &format!("{fo}u"),
    );
    let key = format!("step.keys[{}][{}]", k / 4, k % 4);
    for c in 0..TILE_COLS {
        let _ = writeln!(body, "    let bias{c} = params[{}u + j{c}];", l.bias[k]);
    }
    let dropout = if sizes.threshold > 0 {
        format!(
            "        h = select(h * {keep}, 0.0f, bits({key}, at) < {threshold}u);\n",
            keep = lit(sizes.keep),
            threshold = sizes.threshold
        )
    } else {
        String::new()
    };
    for r in 0..TILE_ROWS {
        for c in 0..TILE_COLS {
            let _ = write!(
                body,
                "
    if (g < {cg}u && cg + {col}u < {fo}u && r0 + {r}u < step.rows) {{
        let at = (r0 + {r}u) * {fo}u + j{c};
        var h = max(acc{r}_{c} + bias{c}, 0.0f);
{dropout}        acts[{out}u + at] = h;
    }}",
                col = c * cg,
                out = l.input[k + 1]
            );
        }
    }
    body.push_str("\n}\n");
    Kernel {
        name: format!("dense{k}"),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::ColumnsByRowTiles {
            x: cg.div_ceil(wg) as u32,
        },
    }
}

/// The output layer and the loss, one invocation per row: logits, softmax cross-entropy against
/// the label smoothed by the run's smoothing, its gradient `(p - target) / rows` into the deltas,
/// and the row's loss and hit into `stats` at `2·(start + r)`.
fn head(sizes: &Sizes) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let last = l.layers() - 1;
    let fi = l.widths[last];
    let buffers = vec![
        (Params, false),
        (Acts, false),
        (Deltas, true),
        (Stats, true),
        (Labels, false),
        (Order, false),
    ];
    let mut body = format!(
        "
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let r = min(wid.x * {WORKGROUP}u + li, step.rows - 1u);
    let x0 = {input}u + r * {fi}u;
",
        input = l.input[last]
    );
    for c in 0..NUM_CLASSES {
        let _ = writeln!(body, "    var z{c} = 0.0f;");
    }
    let _ = writeln!(
        body,
        "    for (var k = 0u; k < {fi}u; k++) {{\n        let x = acts[x0 + k];\n        let w = {}u + k * {NUM_CLASSES}u;",
        l.weight[last]
    );
    for c in 0..NUM_CLASSES {
        let _ = writeln!(body, "        z{c} += x * params[w + {c}u];");
    }
    body.push_str("    }\n");
    for c in 0..NUM_CLASSES {
        let _ = writeln!(body, "    z{c} += params[{}u];", l.bias[last] + c);
    }
    // The first maximum wins ties, as the CPU engine's argmax does.
    body.push_str("    var best = 0u;\n    var top = z0;\n");
    for c in 1..NUM_CLASSES {
        let _ = writeln!(body, "    if (z{c} > top) {{ top = z{c}; best = {c}u; }}");
    }
    let total: Vec<String> = (0..NUM_CLASSES).map(|c| format!("exp(z{c} - top)")).collect();
    let _ = write!(
        body,
        "    let log_total = log({});
    let label = labels[order[step.start + r]];
    let spread = {smoothing} / {classes};
    var loss = 0.0f;
    let live = wid.x * {WORKGROUP}u + li < step.rows;
",
        total.join(" + "),
        classes = lit(NUM_CLASSES as f32),
        smoothing = lit(sizes.smoothing)
    );
    for c in 0..NUM_CLASSES {
        let _ = write!(
            body,
            "    {{
        let log_p = z{c} - top - log_total;
        let goal = select(spread, spread + (1.0f - {smoothing}), label == {c}u);
        loss -= goal * log_p;
        if (live) {{ deltas[{d}u + r * {NUM_CLASSES}u + {c}u] = (exp(log_p) - goal) * step.inv_rows; }}
    }}
",
            d = l.delta[last],
            smoothing = lit(sizes.smoothing)
        );
    }
    body.push_str(
        "    if (live) {
        stats[2u * (step.start + r)] = loss;
        stats[2u * (step.start + r) + 1u] = select(0.0f, 1.0f, best == label);
    }
}
",
    );
    Kernel {
        name: "head".into(),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::RowsInWorkgroups,
    }
}

/// Hidden layer `k - 1`'s delta through layer `k`: `d[r, j] = Σ_n next[r, n]·W_k[j, n]`, kept
/// (and scaled by the dropout's scale) where the layer's output `h[r, j]` is positive.
fn delta(sizes: &Sizes, k: usize) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let (fan, next) = (l.widths[k], l.widths[k + 1]);
    let cg = fan.div_ceil(TILE_COLS);
    let wg = width(cg);
    let buffers = vec![(Params, false), (Acts, false), (Deltas, true)];
    let mut body = format!(
        "
@compute @workgroup_size({wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let g = wid.x * {wg}u + li;
    let cg = min(g, {last_cg}u);
    let r0 = wid.y * {TILE_ROWS}u;
    let last = step.rows - 1u;
",
        last_cg = cg - 1
    );
    for r in 0..TILE_ROWS {
        let _ = writeln!(body, "    let d{r} = {} + min(r0 + {r}u, last) * {next}u;", l.delta[k]);
    }
    for c in 0..TILE_COLS {
        let _ = writeln!(body, "    let j{c} = min(cg + {}u, {}u);", c * cg, fan - 1);
    }
    accumulators(&mut body);
    tile_loop(
        &mut body,
        &format!("{next}u"),
        unroll_for(next),
        "deltas",
        &|r| format!("d{r}"),
        "params",
        &|c| format!("{}u + j{c} * {next}u", l.weight[k]),
        "1u",
        "1u",
    );
    for r in 0..TILE_ROWS {
        for c in 0..TILE_COLS {
            let _ = write!(
                body,
                "
    if (g < {cg}u && cg + {col}u < {fan}u && r0 + {r}u < step.rows) {{
        let at = (r0 + {r}u) * {fan}u + j{c};
        deltas[{out}u + at] = select(0.0f, acc{r}_{c} * {keep}, acts[{h}u + at] > 0.0f);
    }}",
                keep = lit(sizes.keep),
                col = c * cg,
                out = l.delta[k - 1],
                h = l.input[k]
            );
        }
    }
    body.push_str("\n}\n");
    Kernel {
        name: format!("delta{k}"),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::ColumnsByRowTiles {
            x: cg.div_ceil(wg) as u32,
        },
    }
}

/// Layer `k`'s gradients and their Adam update, in place: tiles of the weight's rows `i` by
/// columns `j` (`g[i, j] = Σ_r in[r, i]·d[r, j]`), the bias as one more row whose input is 1.
/// Then, per parameter, PyTorch's Adam with L2 weight decay, the bias corrections folded into
/// `lr_t` and `eps_t` (`train::adam::AdamStep`), and the running average when the run keeps one.
fn adam(sizes: &Sizes, k: usize) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let (fi, fo) = (l.widths[k], l.widths[k + 1]);
    let cg = fo.div_ceil(TILE_COLS);
    let wg = width(cg);
    let row_tiles = (fi + 1).div_ceil(TILE_ROWS);
    let buffers = vec![
        (Params, true),
        (M, true),
        (V, true),
        (Avg, true),
        (Acts, false),
        (Deltas, false),
    ];
    let mut body = format!(
        "
@compute @workgroup_size({wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let g = wid.x * {wg}u + li;
    let cg = min(g, {last_cg}u);
    let i0 = wid.y * {TILE_ROWS}u;
",
        last_cg = cg - 1
    );
    for r in 0..TILE_ROWS {
        let _ = writeln!(
            body,
            "    let x{r} = {}u + min(i0 + {r}u, {}u);\n    let one{r} = i0 + {r}u == {fi}u;",
            l.input[k],
            fi - 1
        );
    }
    for c in 0..TILE_COLS {
        let _ = writeln!(body, "    let j{c} = min(cg + {}u, {}u);", c * cg, fo - 1);
    }
    accumulators(&mut body);
    // The batch's rows, `UNROLL` at a time, then the rest.
    let step_body = |body: &mut String, u: usize| {
        for c in 0..TILE_COLS {
            let _ = writeln!(
                body,
                "        let b{u}_{c} = deltas[{}u + (p + {u}u) * {fo}u + j{c}];",
                l.delta[k]
            );
        }
        for r in 0..TILE_ROWS {
            let _ = writeln!(
                body,
                "        let a{u}_{r} = select(acts[x{r} + (p + {u}u) * {fi}u], 1.0f, one{r});"
            );
            for c in 0..TILE_COLS {
                let _ = writeln!(body, "        acc{r}_{c} += a{u}_{r} * b{u}_{c};");
            }
        }
    };
    let _ = writeln!(
        body,
        "    var p = 0u;\n    let full = step.rows - step.rows % {UNROLL}u;\n    for (; p < full; p += {UNROLL}u) {{"
    );
    for u in 0..UNROLL {
        step_body(&mut body, u);
    }
    body.push_str("    }\n    for (; p < step.rows; p++) {\n");
    step_body(&mut body, 0);
    body.push_str("    }\n");
    let average = if sizes.averaging {
        "        avg[at] = avg[at] * step.avg_keep + next * step.avg_take;\n"
    } else {
        ""
    };
    for r in 0..TILE_ROWS {
        for c in 0..TILE_COLS {
            let _ = write!(
                body,
                "
    if (g < {cg}u && cg + {col}u < {fo}u && i0 + {r}u <= {fi}u) {{
        let at = select({w}u + (i0 + {r}u) * {fo}u + j{c}, {b}u + j{c}, one{r});
        let pv = params[at];
        let grad = acc{r}_{c} + {wd} * pv;
        let m1 = m[at] * {b1} + grad * {c1};
        let v1 = v[at] * {b2} + (grad * grad) * {c2};
        m[at] = m1;
        v[at] = v1;
        let next = pv - (m1 * step.lr_t) / (sqrt(v1) + step.eps_t);
        params[at] = next;
{average}    }}",
                col = c * cg,
                w = l.weight[k],
                b = l.bias[k],
                wd = lit(sizes.weight_decay),
                b1 = lit(BETA1 as f32),
                c1 = lit((1.0 - BETA1) as f32),
                b2 = lit(BETA2 as f32),
                c2 = lit((1.0 - BETA2) as f32),
            );
        }
    }
    body.push_str("\n}\n");
    Kernel {
        name: format!("adam{k}"),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::Fixed {
            x: cg.div_ceil(wg) as u32,
            y: row_tiles as u32,
        },
    }
}

/// The summed losses and hits of the chunk's samples `step.start..step.start + step.rows`, into
/// `sums`: once per chunk, one invocation.
fn sum_stats(sizes: &Sizes) -> Kernel {
    use Buffer::*;
    let buffers = vec![(Stats, false), (Sums, true)];
    let body = "
@compute @workgroup_size(1)
fn main() {
    var loss = 0.0f;
    var hits = 0.0f;
    for (var s = step.start; s < step.start + step.rows; s++) {
        loss += stats[2u * s];
        hits += stats[2u * s + 1u];
    }
    sums[0] = loss;
    sums[1] = hits;
}
";
    Kernel {
        name: "sum_stats".into(),
        source: module(sizes, &buffers, body),
        buffers,
        groups: Groups::Fixed { x: 1, y: 1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn every_kernel_of_the_reference_mlp_is_valid_wgsl() {
        use crate::train::TrainConfig;
        let moving = TrainConfig {
            augment_flip: true,
            augment_shift: 2,
            weight_decay: 1e-4,
            ..TrainConfig::improved()
        };
        for config in [TrainConfig::reference(), TrainConfig::improved(), moving] {
            let sizes = Sizes::of(&config, Layout::new(&[784, 256, 128, 64, 10], 64), 60_000);
            let (step, sum) = kernels(&sizes);
            assert_eq!(step.len(), 12);
            for k in step.iter().chain([&sum]) {
                let module = naga::front::wgsl::parse_str(&k.source)
                    .unwrap_or_else(|e| panic!("{}: {}", k.name, e.emit_to_string(&k.source)));
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", k.name));
                assert!(
                    k.buffers.len() <= 7,
                    "{}: WebGPU allows 8 storage buffers a stage",
                    k.name
                );
                assert!(!k.source.contains("arrayLength"), "{}", k.name);
            }
        }
    }

    #[test]
    fn float_literals_read_back_exactly() {
        for v in [0.9f32, 0.1, 0.999, 1e-3, 10.0] {
            let text = lit(v);
            assert_eq!(text.trim_end_matches('f').parse::<f32>().unwrap(), v);
        }
    }
}
