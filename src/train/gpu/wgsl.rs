//! The GPU step's kernels, written as WGSL with the run's sizes baked in. One step of an MLP with
//! `L` layers is `3L + 1` dispatches: `gather` (the batch, unpacked, mirrored, shifted, input
//! dropout), `L-1` × `dense` (matmul, bias, ReLU, dropout), `head` (logits, softmax cross-entropy,
//! its gradient, each row's loss and hit), `L-1` × `delta` (a hidden layer's delta through the
//! next weight, ReLU and the mask), `L` × `adam` (a layer's weight gradient with its Adam update
//! and the weights' running average) and `biases` (every layer's bias gradient and update).
//!
//! Written for software adapters as much as for GPUs (SwiftShader runs WebGPU in Chromium on
//! machines without one, 4 invocations at a time on the CPU, and is where most of this project's
//! users without a GPU end up when they force WebGPU): every buffer is a fixed-size array, so the
//! bounds check WebGPU requires is a compare with a constant instead of a division by the
//! array's length on every access (measured there: 2.1x on a 64×784·784×256 matmul); each
//! invocation computes a register tile (8×8, 16×8 in the first layer's forward product), so
//! that every value loaded is used eight or sixteen times; the batch's input stays bytes, four
//! pixels a load; loops are unrolled by hand (nothing unrolls them downstream); no workgroup memory or
//! barriers (each barrier is a coroutine switch there); a bounds test only where the layout can
//! put a tile past its matrix (each test masks every lane's stores there). A real GPU runs the
//! same kernels.
//!
//! The arithmetic is the CPU engine's (`train::cpu::ops`), operation for operation; only the
//! order of each sum, the rounding of multiply-adds and where the first layer applies the
//! inputs' scale (1/255 and the input dropout's, once to each sum instead of to each pixel) may
//! differ.

use std::fmt::Write;

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::train::adam::{BETA1, BETA2};
use crate::train::layout::Layout;

/// The register tile of `dense`, `delta` and `adam` (rows by columns: each value loaded is used
/// that many times) and how many inner indices each pass of their loops takes, its products
/// chained into one assignment of each accumulator. Measured on SwiftShader, where every load
/// from a buffer is a gather (its offsets are per invocation) and costs more than the
/// multiply-adds it feeds, each kernel of the reference MLP at batch 256 alone, all variants
/// alternating in one page (`scripts/bench/kernels.sh`; `dense0` 8×8 with a statement a
/// product: 20.2 ms): `dense0` 16×8
/// tiles, four words (16 pixels) a pass, 13.6 ms; `adam0` 8×8 two rows a pass 15.4 ms (16×8
/// one row 15.6, 16×8 four rows 20.8, 8×8 one row 18.6, 8×8 with a statement a product 17.9);
/// the second layer's three kernels 2.9, 3.2 and 3.1 ms with 8×8 tiles two a pass (one a pass:
/// 3.5, 3.3, 3.1; four a pass: 3.9, 4.0, 4.2).
pub const TILE_ROWS: usize = 8;
pub const FIRST_TILE_ROWS: usize = 16;
pub const TILE_COLS: usize = 8;
pub const CHAIN: usize = 2;
/// Words of each row a pass of the first layer's forward loop (four products each).
pub const FIRST_CHAIN: usize = 4;
// The first layer's kernels take a tile's rows (pixels, in `adam0`) as whole words of the batch,
// and the forward loop whole passes of words.
const _: () = assert!(
    TILE_ROWS.is_multiple_of(PIXELS_PER_WORD)
        && IMAGE_PIXELS.is_multiple_of(TILE_ROWS)
        && WORDS_PER_IMAGE.is_multiple_of(FIRST_CHAIN)
);
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
    /// The batch's input images after `gather`: four pixels a word, as bytes 0-255 (dropped
    /// pixels 0), so that the first layer loads a word where it would load four floats.
    Batch,
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
            Buffer::Batch => ("batch_x", "u32", l.batch * WORDS_PER_IMAGE),
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
    /// `x` column groups by one per `rows` batch rows.
    ColumnsByRowTiles { x: u32, rows: u32 },
    /// A fixed grid.
    Fixed { x: u32, y: u32 },
    /// One per `WORKGROUP` batch rows.
    RowsInWorkgroups,
}

impl Groups {
    pub fn for_rows(self, rows: usize) -> (u32, u32, u32) {
        match self {
            Groups::PerRow => (rows as u32, 1, 1),
            Groups::ColumnsByRowTiles { x, rows: tile } => (x, rows.div_ceil(tile as usize) as u32, 1),
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

/// Where a tile's invocation `g` (of `groups` column groups, `wg` a workgroup) may write: the
/// tests a layout needs, and none where it cannot reach past its matrix. Spare invocations
/// exist where the workgroups hold more than the column groups; a tile's column `c` may pass
/// `fan_out` where it is not a multiple of `TILE_COLS`; `rows_test` is the row test of
/// `tile_stores` (empty when none is needed).
fn store_test(cg: usize, wg: usize, fan_out: usize, c: usize, rows_test: &str) -> String {
    let mut tests = Vec::new();
    if cg.div_ceil(wg) * wg > cg {
        tests.push(format!("g < {cg}u"));
    }
    if !fan_out.is_multiple_of(TILE_COLS) {
        tests.push(format!("cg + {}u < {fan_out}u", c * cg));
    }
    if !rows_test.is_empty() {
        tests.push(rows_test.to_string());
    }
    tests.join(" && ")
}

/// `body` under `test`, or unconditionally when there is none.
fn guarded(out: &mut String, test: &str, body: &str) {
    if test.is_empty() {
        let _ = write!(
            out,
            "
    {{
{body}    }}"
        );
    } else {
        let _ = write!(
            out,
            "
    if ({test}) {{
{body}    }}"
        );
    }
}

/// The rows a tile spans: the row of its first (`r0` or `i0`), how many rows the matrix has
/// room for (`extent`) and how many are real (`limit`, a WGSL expression). A row past `limit`
/// needs a test only where `extent` is not a whole number of tiles: elsewhere it lies in its
/// buffer, takes the last row's values, and nothing reads it.
struct TileRows<'a> {
    first: &'a str,
    extent: usize,
    limit: &'a str,
}

impl TileRows<'static> {
    /// The batch's rows, in `dense` and `delta`.
    fn batch(layout: &Layout) -> Self {
        Self {
            first: "r0",
            extent: layout.batch,
            limit: "step.rows",
        }
    }
}

/// A tile's `rows` × `TILE_COLS` stores, `store(r, c)` each, under the tests the layout needs.
fn tile_stores(
    body: &mut String,
    (cg, wg, fan_out): (usize, usize, usize),
    rows: usize,
    span: &TileRows,
    store: &dyn Fn(usize, usize) -> String,
) {
    for r in 0..rows {
        let rows_test = if span.extent.is_multiple_of(rows) {
            String::new()
        } else {
            format!("{} + {r}u < {}", span.first, span.limit)
        };
        for c in 0..TILE_COLS {
            guarded(body, &store_test(cg, wg, fan_out, c, &rows_test), &store(r, c));
        }
    }
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
    out.push(biases(sizes));
    (out, sum_stats(sizes))
}

fn gather(sizes: &Sizes) -> Kernel {
    use Buffer::*;
    let buffers = vec![(TrainX, false), (Order, false), (Batch, true)];
    let moved = sizes.flip || sizes.max_shift > 0;
    let mut body = format!(
        "
@compute @workgroup_size({WORDS_PER_IMAGE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) word: u32) {{
    let r = wid.x;
    let image = order[step.start + r];
    var out = 0u;
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
        var value = 0u;
        if (x + {s}u >= ox && y + {s}u >= oy) {{
            let sx = x + {s}u - ox;
            let sy = y + {s}u - oy;
            if (sx < {IMAGE_SIDE}u && sy < {IMAGE_SIDE}u) {{
                let column = select(sx, {last}u - sx, mirrored);
                let p = sy * {IMAGE_SIDE}u + column;
                let word_at = train_x[image * {WORDS_PER_IMAGE}u + p / {PIXELS_PER_WORD}u];
                value = (word_at >> (8u * (p % {PIXELS_PER_WORD}u))) & 0xffu;
            }}
        }}
",
                s = sizes.max_shift,
                last = IMAGE_SIDE - 1
            );
        } else {
            let _ = writeln!(body, "        var value = (packed >> {}u) & 0xffu;", 8 * t);
        }
        if sizes.input_threshold > 0 {
            // The kept pixels' scale is the first layer's (`input_scale`).
            let _ = writeln!(
                body,
                "        value = select(value, 0u, bits(step.in_key, r * {IMAGE_PIXELS}u + q) < {threshold}u);",
                threshold = sizes.input_threshold
            );
        }
        let _ = writeln!(body, "        out |= value << {}u;\n    }}", 8 * t);
    }
    let _ = writeln!(body, "    batch_x[r * {WORDS_PER_IMAGE}u + word] = out;\n}}");
    Kernel {
        name: "gather".into(),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::PerRow,
    }
}

/// What the first layer's sums over bytes are multiplied by: a byte's value as an input (1/255)
/// and the input dropout's scale of a kept pixel.
fn input_scale(sizes: &Sizes) -> String {
    let keep = if sizes.input_threshold > 0 {
        sizes.input_keep
    } else {
        1.0
    };
    lit(keep / 255.0)
}

/// The byte `t` of word `w` as a float (0-255).
fn byte(w: &str, t: usize) -> String {
    if t == 0 {
        format!("f32({w} & 0xffu)")
    } else if t == PIXELS_PER_WORD - 1 {
        format!("f32({w} >> {}u)", 8 * t)
    } else {
        format!("f32(({w} >> {}u) & 0xffu)", 8 * t)
    }
}

/// Rows of the register tile of `dense`: the first layer's (which reads the batch's bytes) and the
/// others'.
fn dense_rows(k: usize) -> usize {
    if k == 0 { FIRST_TILE_ROWS } else { TILE_ROWS }
}

/// Declares the tile's accumulators.
fn accumulators(body: &mut String, rows: usize) {
    for r in 0..rows {
        for c in 0..TILE_COLS {
            let _ = writeln!(body, "    var acc{r}_{c} = 0.0f;");
        }
    }
}

/// One pass of a tile's inner loop after `steps` inner indices have set `a{s}_{r}` and
/// `b{s}_{c}`: each accumulator takes the pass's products in order, in one assignment (each
/// write of a variable costs SwiftShader a masked store; a chain of `fma`s rounds as the
/// statements one after another would).
fn chained_updates(body: &mut String, rows: usize, steps: usize) {
    for r in 0..rows {
        for c in 0..TILE_COLS {
            let mut e = format!("acc{r}_{c}");
            for s in 0..steps {
                e = format!("fma(a{s}_{r}, b{s}_{c}, {e})");
            }
            let _ = writeln!(body, "        acc{r}_{c} = {e};");
        }
    }
}

/// `CHAIN`, or the largest smaller power of two dividing `n`.
fn chain_for(n: usize) -> usize {
    (0..=CHAIN.trailing_zeros())
        .rev()
        .map(|p| 1 << p)
        .find(|&u| n.is_multiple_of(u))
        .unwrap_or(1)
}

/// A tile's loop over `inner` indices `p`, `chain_for(inner)` a pass: `a(r, s)` and `b(c, s)`
/// are the WGSL expressions of row `r`'s and column `c`'s value at index `p + s`.
fn tile_loop(
    body: &mut String,
    rows: usize,
    inner: usize,
    a: &dyn Fn(usize, usize) -> String,
    b: &dyn Fn(usize, usize) -> String,
) {
    let steps = chain_for(inner);
    let _ = writeln!(body, "    for (var p = 0u; p < {inner}u; p += {steps}u) {{");
    for s in 0..steps {
        for c in 0..TILE_COLS {
            let _ = writeln!(body, "        let b{s}_{c} = {};", b(c, s));
        }
        for r in 0..rows {
            let _ = writeln!(body, "        let a{s}_{r} = {};", a(r, s));
        }
    }
    chained_updates(body, rows, steps);
    body.push_str("    }\n");
}

/// The first layer's loop over the batch's words: `FIRST_CHAIN` words of each row a pass, each
/// word's four pixels against four rows of the weight (bytes 0-255; `input_scale` after).
fn first_layer_loop(body: &mut String, sizes: &Sizes, rows: usize) {
    let l = &sizes.layout;
    let fo = l.widths[1];
    let _ = writeln!(
        body,
        "    for (var w = 0u; w < {WORDS_PER_IMAGE}u; w += {FIRST_CHAIN}u) {{"
    );
    for v in 0..FIRST_CHAIN {
        for r in 0..rows {
            let _ = writeln!(body, "        let aw{v}_{r} = batch_x[x{r} + w + {v}u];");
        }
        for t in 0..PIXELS_PER_WORD {
            let s = v * PIXELS_PER_WORD + t;
            for c in 0..TILE_COLS {
                let _ = writeln!(
                    body,
                    "        let b{s}_{c} = params[{}u + j{c} + ((w + {v}u) * {PIXELS_PER_WORD}u + {t}u) * {fo}u];",
                    l.weight[0]
                );
            }
            for r in 0..rows {
                let _ = writeln!(body, "        let a{s}_{r} = {};", byte(&format!("aw{v}_{r}"), t));
            }
        }
    }
    chained_updates(body, rows, FIRST_CHAIN * PIXELS_PER_WORD);
    body.push_str("    }\n");
    let scale = input_scale(sizes);
    for r in 0..rows {
        for c in 0..TILE_COLS {
            let _ = writeln!(body, "    acc{r}_{c} *= {scale};");
        }
    }
}

/// The start of `dense` and `delta`: the invocation's column group `cg` (clamped), its tile's
/// first batch row `r0`, the columns `j{c}` (strided by the number of column groups so that
/// neighbouring invocations take neighbouring columns) and the accumulators.
fn row_tile_head(body: &mut String, wg: usize, cg: usize, rows: usize, fan_out: usize) {
    let _ = write!(
        body,
        "
@compute @workgroup_size({wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let g = wid.x * {wg}u + li;
    let cg = min(g, {last_cg}u);
    let r0 = wid.y * {rows}u;
    let last = step.rows - 1u;
",
        last_cg = cg - 1
    );
    for c in 0..TILE_COLS {
        let _ = writeln!(body, "    let j{c} = min(cg + {}u, {}u);", c * cg, fan_out - 1);
    }
    accumulators(body, rows);
}

/// Hidden layer `k`: `out = dropout(relu(in · W + b))`, rows × fan_out.
fn dense(sizes: &Sizes, k: usize) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let (fi, fo) = (l.widths[k], l.widths[k + 1]);
    let cg = fo.div_ceil(TILE_COLS);
    let wg = width(cg);
    let rows = dense_rows(k);
    // The first layer reads the batch's bytes (`gather`), the others the layer before's floats.
    let first = k == 0;
    let buffers = if first {
        vec![(Params, false), (Acts, true), (Batch, false)]
    } else {
        vec![(Params, false), (Acts, true)]
    };
    let mut body = String::new();
    row_tile_head(&mut body, wg, cg, rows, fo);
    for r in 0..rows {
        if first {
            let _ = writeln!(body, "    let x{r} = min(r0 + {r}u, last) * {WORDS_PER_IMAGE}u;");
        } else {
            let _ = writeln!(body, "    let x{r} = {}u + min(r0 + {r}u, last) * {fi}u;", l.input[k]);
        }
    }
    if first {
        first_layer_loop(&mut body, sizes, rows);
    } else {
        tile_loop(
            &mut body,
            rows,
            fi,
            &|r, s| format!("acts[x{r} + p + {s}u]"),
            &|c, s| format!("params[{}u + j{c} + (p + {s}u) * {fo}u]", l.weight[k]),
        );
    }
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
    tile_stores(&mut body, (cg, wg, fo), rows, &TileRows::batch(l), &|r, c| {
        format!(
            "        let at = (r0 + {r}u) * {fo}u + j{c};
        var h = max(acc{r}_{c} + bias{c}, 0.0f);
{dropout}        acts[{out}u + at] = h;
",
            out = l.input[k + 1]
        )
    });
    body.push_str("\n}\n");
    Kernel {
        name: format!("dense{k}"),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::ColumnsByRowTiles {
            x: cg.div_ceil(wg) as u32,
            rows: rows as u32,
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
    let rows = TILE_ROWS;
    let buffers = vec![(Params, false), (Acts, false), (Deltas, true)];
    let mut body = String::new();
    row_tile_head(&mut body, wg, cg, rows, fan);
    for r in 0..rows {
        let _ = writeln!(body, "    let d{r} = {}u + min(r0 + {r}u, last) * {next}u;", l.delta[k]);
    }
    tile_loop(
        &mut body,
        rows,
        next,
        &|r, s| format!("deltas[d{r} + p + {s}u]"),
        &|c, s| format!("params[{}u + j{c} * {next}u + p + {s}u]", l.weight[k]),
    );
    tile_stores(&mut body, (cg, wg, fan), rows, &TileRows::batch(l), &|r, c| {
        format!(
            "        let at = (r0 + {r}u) * {fan}u + j{c};
        deltas[{out}u + at] = select(0.0f, acc{r}_{c} * {keep}, acts[{h}u + at] > 0.0f);
",
            keep = lit(sizes.keep),
            out = l.delta[k - 1],
            h = l.input[k]
        )
    });
    body.push_str("\n}\n");
    Kernel {
        name: format!("delta{k}"),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::ColumnsByRowTiles {
            x: cg.div_ceil(wg) as u32,
            rows: rows as u32,
        },
    }
}

/// PyTorch's Adam with L2 weight decay on the parameter at `at` whose gradient is `grad_expr`,
/// the bias corrections folded into `lr_t` and `eps_t` (`train::adam::AdamStep`), and the
/// running average when the run keeps one. WGSL statements, indented for a block.
fn adam_update(sizes: &Sizes, grad_expr: &str) -> String {
    let average = if sizes.averaging {
        "        avg[at] = avg[at] * step.avg_keep + next * step.avg_take;\n"
    } else {
        ""
    };
    format!(
        "        let pv = params[at];
        let grad = {grad_expr} + {wd} * pv;
        let m1 = m[at] * {b1} + grad * {c1};
        let v1 = v[at] * {b2} + (grad * grad) * {c2};
        m[at] = m1;
        v[at] = v1;
        let next = pv - (m1 * step.lr_t) / (sqrt(v1) + step.eps_t);
        params[at] = next;
{average}",
        wd = lit(sizes.weight_decay),
        b1 = lit(BETA1 as f32),
        c1 = lit((1.0 - BETA1) as f32),
        b2 = lit(BETA2 as f32),
        c2 = lit((1.0 - BETA2) as f32),
    )
}

/// Layer `k`'s weight gradient and its Adam update, in place: tiles of the weight's rows `i` by
/// columns `j`, `g[i, j] = Σ_r in[r, i]·d[r, j]`. The biases are `biases`' (a row of ones here
/// would cost a select on every load of the inner loop and a partial tile of stores).
fn adam(sizes: &Sizes, k: usize) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let (fi, fo) = (l.widths[k], l.widths[k + 1]);
    let cg = fo.div_ceil(TILE_COLS);
    let wg = width(cg);
    let rows = TILE_ROWS;
    let row_tiles = fi.div_ceil(rows);
    // The first layer's input is the batch's bytes (`gather`), the others' the layer before's
    // floats.
    let first = k == 0;
    let buffers = vec![
        (Params, true),
        (M, true),
        (V, true),
        (Avg, true),
        (if first { Batch } else { Acts }, false),
        (Deltas, false),
    ];
    let mut body = format!(
        "
@compute @workgroup_size({wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let g = wid.x * {wg}u + li;
    let cg = min(g, {last_cg}u);
    let i0 = wid.y * {rows}u;
",
        last_cg = cg - 1
    );
    if first {
        let _ = writeln!(body, "    let q0 = i0 / {PIXELS_PER_WORD}u;");
    } else {
        for r in 0..rows {
            let _ = writeln!(body, "    let x{r} = {}u + min(i0 + {r}u, {}u);", l.input[k], fi - 1);
        }
    }
    for c in 0..TILE_COLS {
        let _ = writeln!(body, "    let j{c} = min(cg + {}u, {}u);", c * cg, fo - 1);
    }
    accumulators(&mut body, rows);
    // The batch's rows, `CHAIN` a pass, then the rest one at a time.
    let pass = |body: &mut String, steps: usize| {
        for s in 0..steps {
            for c in 0..TILE_COLS {
                let _ = writeln!(
                    body,
                    "        let b{s}_{c} = deltas[{}u + (p + {s}u) * {fo}u + j{c}];",
                    l.delta[k]
                );
            }
            if first {
                for w in 0..rows / PIXELS_PER_WORD {
                    let _ = writeln!(
                        body,
                        "        let aw{s}_{w} = batch_x[(p + {s}u) * {WORDS_PER_IMAGE}u + q0 + {w}u];"
                    );
                }
            }
            for r in 0..rows {
                if first {
                    let word = format!("aw{s}_{}", r / PIXELS_PER_WORD);
                    let _ = writeln!(body, "        let a{s}_{r} = {};", byte(&word, r % PIXELS_PER_WORD));
                } else {
                    let _ = writeln!(body, "        let a{s}_{r} = acts[x{r} + (p + {s}u) * {fi}u];");
                }
            }
        }
        chained_updates(body, rows, steps);
    };
    let _ = writeln!(
        body,
        "    var p = 0u;\n    let full = step.rows - step.rows % {CHAIN}u;\n    for (; p < full; p += {CHAIN}u) {{"
    );
    pass(&mut body, CHAIN);
    body.push_str("    }\n    for (; p < step.rows; p++) {\n");
    pass(&mut body, 1);
    body.push_str("    }\n");
    let scale = if first {
        format!(" * {}", input_scale(sizes))
    } else {
        String::new()
    };
    let fan_in = format!("{fi}u");
    let weight_rows = TileRows {
        first: "i0",
        extent: fi,
        limit: &fan_in,
    };
    tile_stores(&mut body, (cg, wg, fo), rows, &weight_rows, &|r, c| {
        format!(
            "        let at = {w}u + (i0 + {r}u) * {fo}u + j{c};\n{update}",
            w = l.weight[k],
            update = adam_update(sizes, &format!("acc{r}_{c}{scale}"))
        )
    });
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

/// Every layer's bias gradient (`Σ_r d[r, j]`, summed in row order) and
/// its Adam update: one invocation per bias, the layers one after another.
fn biases(sizes: &Sizes) -> Kernel {
    use Buffer::*;
    let l = &sizes.layout;
    let layers = l.layers();
    let total: usize = (0..layers).map(|k| l.widths[k + 1]).sum();
    let buffers = vec![(Params, true), (M, true), (V, true), (Avg, true), (Deltas, false)];
    let mut body = format!(
        "
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let t = gid.x;
    if (t >= {total}u) {{ return; }}
    // The layer of bias `t`: where its deltas and bias sit, its width, and `t`'s column in it.
    var d = {d0}u;
    var b = {b0}u;
    var fo = {fo0}u;
    var j = t;
",
        d0 = l.delta[0],
        b0 = l.bias[0],
        fo0 = l.widths[1],
    );
    let mut first = l.widths[1];
    for k in 1..layers {
        let _ = writeln!(
            body,
            "    if (t >= {first}u) {{ d = {}u; b = {}u; fo = {}u; j = t - {first}u; }}",
            l.delta[k],
            l.bias[k],
            l.widths[k + 1]
        );
        first += l.widths[k + 1];
    }
    let _ = write!(
        body,
        "    var sum = 0.0f;
    for (var p = 0u; p < step.rows; p++) {{
        sum += deltas[d + p * fo + j];
    }}
    let at = b + j;
{}}}
",
        adam_update(sizes, "sum")
    );
    Kernel {
        name: "biases".into(),
        source: module(sizes, &buffers, &body),
        buffers,
        groups: Groups::Fixed {
            x: total.div_ceil(WORKGROUP) as u32,
            y: 1,
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
        // Batches of 64 need no row tests, 100 do; widths of 10 and 30 need column and row tests.
        let layouts = [
            Layout::new(&[784, 256, 128, 64, 10], 64),
            Layout::new(&[784, 30, 10], 100),
        ];
        for (config, layout) in [TrainConfig::reference(), TrainConfig::improved(), moving]
            .into_iter()
            .flat_map(|c| layouts.iter().map(move |l| (c.clone(), l.clone())))
        {
            let layers = layout.layers();
            let sizes = Sizes::of(&config, layout, 60_000);
            let (step, sum) = kernels(&sizes);
            assert_eq!(step.len(), 3 * layers + 1);
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

/// The reference MLP's kernels written to `FASHION_KERNELS_DIR` (a `.wgsl` and a `.grid` file
/// each, the grid of a batch of `FASHION_KERNELS_BATCH` rows, 256 unless set), for
/// `scripts/bench/kernels.sh` to time them one by one in Chromium.
#[cfg(test)]
mod written {
    use super::*;

    #[test]
    #[ignore = "writes files for scripts/bench/kernels.sh"]
    fn write_the_reference_kernels() {
        let dir = std::env::var("FASHION_KERNELS_DIR").expect("FASHION_KERNELS_DIR");
        let batch: usize = std::env::var("FASHION_KERNELS_BATCH").map_or(256, |b| b.parse().expect("a batch size"));
        let config = crate::train::TrainConfig {
            batch_size: batch,
            ..crate::train::TrainConfig::reference()
        };
        let sizes = Sizes::of(&config, Layout::new(&[784, 256, 128, 64, 10], batch), 60_000);
        std::fs::create_dir_all(&dir).unwrap();
        for k in kernels(&sizes).0 {
            let (x, y, z) = k.groups.for_rows(batch);
            std::fs::write(format!("{dir}/{}.wgsl", k.name), &k.source).unwrap();
            std::fs::write(format!("{dir}/{}.grid", k.name), format!("{x},{y},{z}")).unwrap();
        }
    }
}
