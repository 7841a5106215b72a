//! Structure-aware fuzz inputs: the fuzzer's bytes, read through `arbitrary`, become files that
//! are well formed where a reader checks cheaply (zip CRCs and offsets, safetensors headers, PNG
//! chunk CRCs, gzip trailers) and hostile where the work is (pickle programs that reuse memo
//! entries thousands of times, central records pointing at one entry, declared sizes far beyond
//! the payload). Byte-level fuzzing rarely gets past the checksums; these targets start there.
//!
//! Each builder is deterministic in its input, so a kept corpus file replays the same file in CI.

use arbitrary::{Arbitrary, Result, Unstructured};

/// The largest file a builder writes: an amplifying pickle is hostile at this size already.
const MAX_BUILT: usize = 1 << 18;

// ---- pickles ------------------------------------------------------------------------------

/// Names the readers look for, so that the fuzzer builds real state_dicts and modules.
const WORDS: [&str; 24] = [
    "storage",
    "cpu",
    "0",
    "1",
    "2",
    "weight",
    "bias",
    "layers.0.weight",
    "layers.0.bias",
    "0.weight",
    "fc1.bias",
    "state_dict",
    "model_state_dict",
    "_parameters",
    "_buffers",
    "_modules",
    "_non_persistent_buffers_set",
    "little_endian",
    "protocol_version",
    "type_sizes",
    "FloatStorage",
    "untyped",
    "model",
    "",
];

/// Callables torch files name; the machine builds data from them and never calls anything.
const GLOBALS: [(&str, &str); 16] = [
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "FloatStorage"),
    ("torch", "HalfStorage"),
    ("torch", "BFloat16Storage"),
    ("torch", "DoubleStorage"),
    ("torch", "LongStorage"),
    ("torch.storage", "UntypedStorage"),
    ("collections", "OrderedDict"),
    ("torch.nn.modules.linear", "Linear"),
    ("torch.nn.modules.container", "Sequential"),
    ("builtins", "set"),
    ("__builtin__", "object"),
];

#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Known(u8),
    Own(String),
}

impl Text {
    fn get(&self) -> &str {
        match self {
            Text::Known(i) => WORDS[*i as usize % WORDS.len()],
            Text::Own(s) => s,
        }
    }
}

/// One pickle instruction, or a repetition of the ones before it (how a small hostile file
/// makes a reader copy, rebuild or revisit the same objects many times).
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    Mark,
    Stop,
    Pop,
    PopMark,
    Dup,
    None,
    True,
    False,
    Int(i32),
    SmallInt(u8),
    Long(Vec<u8>),
    Float(f64),
    Str(Text),
    Bytes(Vec<u8>),
    Global(u8),
    OwnGlobal(String, String),
    Put(u16),
    Get(u16),
    EmptyDict,
    EmptyList,
    EmptyTuple,
    EmptySet,
    Tuple,
    Tuple1,
    Tuple2,
    Tuple3,
    Dict,
    List,
    SetItem,
    SetItems,
    Append,
    Appends,
    AddItems,
    Reduce,
    Build,
    NewObj,
    PersId,
    /// The last `len` instructions again, `times` more times.
    Repeat {
        len: u8,
        times: u16,
    },
    Raw(u8),
}

fn op_bytes(op: &Op, out: &mut Vec<u8>) {
    let text = |out: &mut Vec<u8>, code: u8, s: &[u8]| {
        out.push(code);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    };
    match op {
        Op::Mark => out.push(b'('),
        Op::Stop => out.push(b'.'),
        Op::Pop => out.push(b'0'),
        Op::PopMark => out.push(b'1'),
        Op::Dup => out.push(b'2'),
        Op::None => out.push(b'N'),
        Op::True => out.push(0x88),
        Op::False => out.push(0x89),
        Op::Int(i) => {
            out.push(b'J');
            out.extend_from_slice(&i.to_le_bytes());
        }
        Op::SmallInt(i) => out.extend_from_slice(&[b'K', *i]),
        Op::Long(b) => {
            let b = &b[..b.len().min(16)];
            out.extend_from_slice(&[0x8a, b.len() as u8]);
            out.extend_from_slice(b);
        }
        Op::Float(f) => {
            out.push(b'G');
            out.extend_from_slice(&f.to_be_bytes());
        }
        Op::Str(t) => text(out, b'X', t.get().as_bytes()),
        Op::Bytes(b) => text(out, b'B', b),
        Op::Global(i) => {
            let (m, n) = GLOBALS[*i as usize % GLOBALS.len()];
            out.extend_from_slice(format!("c{m}\n{n}\n").as_bytes());
        }
        Op::OwnGlobal(m, n) => out.extend_from_slice(format!("c{m}\n{n}\n").as_bytes()),
        Op::Put(i) => {
            out.push(b'r');
            out.extend_from_slice(&u32::from(*i % 64).to_le_bytes());
        }
        Op::Get(i) => {
            out.push(b'j');
            out.extend_from_slice(&u32::from(*i % 64).to_le_bytes());
        }
        Op::EmptyDict => out.push(b'}'),
        Op::EmptyList => out.push(b']'),
        Op::EmptyTuple => out.push(b')'),
        Op::EmptySet => out.push(0x8f),
        Op::Tuple => out.push(b't'),
        Op::Tuple1 => out.push(0x85),
        Op::Tuple2 => out.push(0x86),
        Op::Tuple3 => out.push(0x87),
        Op::Dict => out.push(b'd'),
        Op::List => out.push(b'l'),
        Op::SetItem => out.push(b's'),
        Op::SetItems => out.push(b'u'),
        Op::Append => out.push(b'a'),
        Op::Appends => out.push(b'e'),
        Op::AddItems => out.push(0x90),
        Op::Reduce => out.push(b'R'),
        Op::Build => out.push(b'b'),
        Op::NewObj => out.push(0x81),
        Op::PersId => out.push(b'Q'),
        Op::Repeat { .. } => {}
        Op::Raw(b) => out.push(*b),
    }
}

/// A pickle program: protocol 2, the instructions (repetitions expanded, up to `MAX_BUILT`
/// bytes), and STOP.
pub fn pickle(u: &mut Unstructured) -> Result<Vec<u8>> {
    pickle_within(u, MAX_BUILT)
}

/// The same, at most `max` bytes.
fn pickle_within(u: &mut Unstructured, max: usize) -> Result<Vec<u8>> {
    let ops: Vec<Op> = u.arbitrary()?;
    let mut out = vec![0x80, 2];
    let mut spans: Vec<(usize, usize)> = Vec::new(); // each instruction's bytes in `out`
    for op in &ops {
        let start = out.len();
        if let Op::Repeat { len, times } = op {
            let len = usize::from(*len).clamp(1, 16).min(spans.len());
            if len == 0 {
                continue;
            }
            let from = spans[spans.len() - len].0;
            let body = out[from..].to_vec();
            for _ in 0..*times {
                if out.len() + body.len() > max {
                    break;
                }
                out.extend_from_slice(&body);
            }
        } else {
            op_bytes(op, &mut out);
        }
        spans.push((start, out.len()));
        if out.len() > max {
            break;
        }
    }
    out.push(b'.');
    Ok(out)
}

// ---- zip archives -------------------------------------------------------------------------

const ENTRY_NAMES: [&str; 8] = [
    "archive/data.pkl",
    "archive/data/0",
    "archive/data/1",
    "archive/data/2",
    "archive/version",
    "archive/byteorder",
    "model/data.pkl",
    "archive/.data/serialization_id",
];

#[derive(Arbitrary, Debug)]
struct Entry {
    name: u8,
    deflate: bool,
    /// Storage bytes (the pickle goes in the first entry).
    data: Vec<u8>,
    /// Repeat `data` this many times (a large entry from a small input).
    repeat: u8,
}

/// How a central record describes its entry: honestly, or lying about one field.
#[derive(Arbitrary, Debug)]
enum Lie {
    None,
    Entry(u8),
    Offset(u32),
    Compressed(u32),
    Size(u32),
    Crc(u32),
    Name(u8),
    Method(u16),
}

#[derive(Arbitrary, Debug)]
struct Record {
    entry: u8,
    lie: Lie,
}

struct Local {
    name: String,
    method: u16,
    crc: u32,
    body: Vec<u8>,
    size: usize,
    offset: usize,
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// A pickle program as the `data.pkl` of an honest torch zip, beside one small storage.
pub fn pickle_zip(u: &mut Unstructured) -> Result<Vec<u8>> {
    let pickle = pickle(u)?;
    Ok(zip_of(vec![(0, false, pickle), (1, false, vec![0x3f; 64])], &[]))
}

/// A torch.save-style zip: a pickle as `archive/data.pkl`, storages beside it, valid local
/// headers and CRCs, and central records that may point twice at one entry, overlap, or lie.
pub fn torch_zip(u: &mut Unstructured) -> Result<Vec<u8>> {
    let pickle = pickle(u)?;
    let entries: Vec<Entry> = u.arbitrary()?;
    let records: Vec<Record> = u.arbitrary()?;
    let mut all = vec![(0u8, false, pickle)];
    for e in entries.iter().take(8) {
        let mut data = e.data.clone();
        for _ in 0..e.repeat.min(64) {
            if data.len() > MAX_BUILT / 4 {
                break;
            }
            data.extend_from_slice(&e.data);
        }
        all.push((e.name, e.deflate, data));
    }
    Ok(zip_of(all, &records))
}

/// The archive of `(name index, deflated, data)` entries with these central records (one
/// honest record per entry when none are given).
fn zip_of(all: Vec<(u8, bool, Vec<u8>)>, records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut locals = Vec::new();
    for (name, deflated, data) in all {
        let name = ENTRY_NAMES[name as usize % ENTRY_NAMES.len()].to_string();
        let body = if deflated { deflate(&data) } else { data.clone() };
        let local = Local {
            name,
            method: if deflated { 8 } else { 0 },
            crc: crc32(&data),
            size: data.len(),
            offset: out.len(),
            body,
        };
        write_header(&mut out, 0x0403_4b50, &local, None, &local.name);
        out.extend_from_slice(&local.body);
        locals.push(local);
    }
    let central_at = out.len();
    let mut count = 0u16;
    // Every entry gets an honest record unless the fuzzer writes the records itself.
    let honest: Vec<Record> = (0..locals.len())
        .map(|i| Record {
            entry: i as u8,
            lie: Lie::None,
        })
        .collect();
    for r in if records.is_empty() { &honest[..] } else { records }.iter().take(512) {
        let local = &locals[r.entry as usize % locals.len()];
        let mut fields = (
            local.method,
            local.crc,
            local.body.len() as u32,
            local.size as u32,
            local.offset as u32,
        );
        let mut name = local.name.clone();
        match r.lie {
            Lie::None => {}
            Lie::Entry(i) => fields.4 = locals[i as usize % locals.len()].offset as u32,
            Lie::Offset(o) => fields.4 = o,
            Lie::Compressed(n) => fields.2 = n,
            Lie::Size(n) => fields.3 = n,
            Lie::Crc(c) => fields.1 = c,
            Lie::Name(i) => name = ENTRY_NAMES[i as usize % ENTRY_NAMES.len()].to_string(),
            Lie::Method(m) => fields.0 = m,
        }
        write_header(&mut out, 0x0201_4b50, local, Some(fields), &name);
        count += 1;
    }
    let central_len = out.len() - central_at;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central_len as u32).to_le_bytes());
    out.extend_from_slice(&(central_at as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A local header (`fields` None) or a central record with (method, crc, compressed, size,
/// offset).
fn write_header(
    out: &mut Vec<u8>,
    signature: u32,
    local: &Local,
    fields: Option<(u16, u32, u32, u32, u32)>,
    name: &str,
) {
    let (method, crc, compressed, size, offset) =
        fields.unwrap_or((local.method, local.crc, local.body.len() as u32, local.size as u32, 0));
    out.extend_from_slice(&signature.to_le_bytes());
    if fields.is_some() {
        out.extend_from_slice(&20u16.to_le_bytes()); // made by
    }
    out.extend_from_slice(&20u16.to_le_bytes()); // needed
    out.extend_from_slice(&0u16.to_le_bytes()); // flags
    out.extend_from_slice(&method.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // time, date
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&compressed.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // extra
    if fields.is_some() {
        out.extend_from_slice(&[0; 8]); // comment, disk, attributes
        out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        out.extend_from_slice(&offset.to_le_bytes());
    }
    out.extend_from_slice(name.as_bytes());
}

/// A legacy (pre-1.6) torch.save stream: magic, protocol, system info, the object, the storage
/// keys, then each storage as a u64 element count and its bytes (counts may lie).
pub fn legacy_stream(u: &mut Unstructured) -> Result<Vec<u8>> {
    let mut out = vec![
        0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
    ];
    let protocol: bool = u.arbitrary()?;
    out.extend_from_slice(&[0x80, 2, b'M']);
    out.extend_from_slice(&(if protocol { 1001u16 } else { u.arbitrary()? }).to_le_bytes());
    out.push(b'.');
    // {'little_endian': bool}
    let little: bool = u.arbitrary()?;
    out.extend_from_slice(&[0x80, 2, b'}', b'X', 13, 0, 0, 0]);
    out.extend_from_slice(b"little_endian");
    out.extend_from_slice(&[if little { 0x88 } else { 0x89 }, b's', b'.']);
    // Smaller than the pickle target's: the amplification is fuzzed there, the framing here
    // (a large program costs a millisecond and would slow this target twentyfold).
    out.extend(pickle_within(u, 16 << 10)?);
    let keys: Vec<Text> = u.arbitrary()?;
    out.extend_from_slice(&[0x80, 2, b'(']);
    for k in keys.iter().take(16) {
        op_bytes(&Op::Str(k.clone()), &mut out);
    }
    out.extend_from_slice(&[b'l', b'.']);
    let storages: Vec<(u32, Vec<u8>)> = u.arbitrary()?;
    for (count, bytes) in storages.iter().take(16) {
        out.extend_from_slice(&u64::from(*count).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

// ---- safetensors checkpoints --------------------------------------------------------------

const PREFIXES: [&str; 5] = ["", "train.", "adam.m.", "adam.v.", "average."];
const DTYPES: [(&str, usize); 6] = [("F32", 4), ("F16", 2), ("BF16", 2), ("F64", 8), ("I64", 8), ("U8", 1)];

#[derive(Arbitrary, Debug)]
enum Dim {
    Real,
    Swapped,
    Off(i8),
    Any(u32),
    Extra(u8),
}

#[derive(Arbitrary, Debug)]
struct TensorPlan {
    prefix: u8,
    layer: u8,
    bias: bool,
    dtype: u8,
    dim: Dim,
    /// Bytes more (positive) or fewer than the shape needs.
    length_off: i16,
}

/// A training checkpoint (safetensors) of a small model: the real tensors, each possibly
/// mistyped, misshapen or cut, plus the fuzzer's own, and metadata that may lie.
pub fn checkpoint(u: &mut Unstructured) -> Result<Vec<u8>> {
    let hidden: Vec<u8> = u.arbitrary()?;
    let hidden: Vec<usize> = hidden.iter().take(3).map(|h| usize::from(*h % 8) + 1).collect();
    let mut widths = vec![784];
    widths.extend(&hidden);
    widths.push(10);
    let layers = widths.len() - 1;
    let mut plans: Vec<TensorPlan> = Vec::new();
    let honest: bool = u.arbitrary()?;
    if honest {
        for p in 0..4u8 {
            for l in 0..layers as u8 {
                for bias in [false, true] {
                    plans.push(TensorPlan {
                        prefix: p,
                        layer: l,
                        bias,
                        dtype: 0,
                        dim: Dim::Real,
                        length_off: 0,
                    });
                }
            }
        }
    }
    let own: Vec<TensorPlan> = u.arbitrary()?;
    plans.extend(own.into_iter().take(32));
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for p in &plans {
        let layer = usize::from(p.layer) % (layers + 1);
        let (fan_in, fan_out) = (widths[layer.min(layers - 1)], widths[(layer + 1).min(layers)]);
        let mut shape = if p.bias {
            vec![fan_out as u64]
        } else {
            vec![fan_in as u64, fan_out as u64]
        };
        match p.dim {
            Dim::Real => {}
            Dim::Swapped => shape.reverse(),
            Dim::Off(d) => shape[0] = (shape[0] as i64 + i64::from(d)).max(0) as u64,
            Dim::Any(n) => shape[0] = u64::from(n),
            Dim::Extra(n) => shape.push(u64::from(n)),
        }
        let (dtype, size) = DTYPES[usize::from(p.dtype) % DTYPES.len()];
        let elements = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX);
        let want = elements.saturating_mul(size as u64);
        let len = (want as i64).saturating_add(i64::from(p.length_off)).clamp(0, 1 << 17) as usize;
        let name = format!(
            "{}layers.{layer}.{}",
            PREFIXES[usize::from(p.prefix) % PREFIXES.len()],
            if p.bias { "bias" } else { "weight" }
        );
        let start = data.len();
        // Small finite values in every dtype (0x3c3c3c3c is about 0.0115 as f32); the readers
        // check lengths and shapes, not values, and filling by memset keeps this target fast.
        data.resize(start + len, 0x3c);
        header.insert(
            name,
            serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [start, data.len()] }),
        );
    }
    let mut config = serde_json::to_value(fashion_mlp::train::TrainConfig::default()).unwrap_or_default();
    if let Some(model) = config.get_mut("model").and_then(|m| m.as_object_mut()) {
        let lie: bool = u.arbitrary()?;
        let shown: Vec<usize> = if lie { vec![256, 128, 64] } else { hidden.clone() };
        model.insert("hidden".into(), serde_json::json!(shown));
    }
    let metadata: Vec<(u8, Text)> = u.arbitrary()?;
    let mut meta = serde_json::Map::new();
    meta.insert("kind".into(), "checkpoint".into());
    meta.insert("epochs".into(), "3".into());
    meta.insert("adam_steps".into(), "180".into());
    meta.insert("train_limit".into(), "all".into());
    meta.insert("train_config".into(), config.to_string().into());
    const KEYS: [&str; 6] = ["kind", "epochs", "adam_steps", "train_limit", "train_config", "hidden"];
    for (k, v) in metadata.iter().take(4) {
        meta.insert(KEYS[usize::from(*k) % KEYS.len()].into(), v.get().into());
    }
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let text = serde_json::Value::Object(header).to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend(data);
    Ok(out)
}

// ---- CSV, IDX, pictures -------------------------------------------------------------------

#[derive(Arbitrary, Debug)]
enum Field {
    Pixel(u8),
    Number(i64),
    Float(f32),
    Quoted(u8),
    Spaced(u8),
    Empty,
    Text(String),
    /// Many commas in a row (a row that is all separators).
    Commas(u16),
}

/// A Kaggle-layout CSV: a header or not, rows of 785 fields or the fuzzer's own count.
pub fn csv(u: &mut Unstructured) -> Result<Vec<u8>> {
    let header: bool = u.arbitrary()?;
    let crlf: bool = u.arbitrary()?;
    let end: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::new();
    if header {
        out.extend_from_slice(b"label");
        for i in 1..=784 {
            out.extend_from_slice(format!(",pixel{i}").as_bytes());
        }
        out.extend_from_slice(end);
    }
    let rows: Vec<(bool, u8, Vec<Field>)> = u.arbitrary()?;
    for (full, label, fields) in rows.iter().take(8) {
        out.extend_from_slice((label % 12).to_string().as_bytes());
        let count = if *full { 784 } else { fields.len() };
        for i in 0..count {
            out.push(b',');
            let f = if fields.is_empty() {
                &Field::Pixel(i as u8)
            } else {
                &fields[i % fields.len()]
            };
            match f {
                Field::Pixel(p) => out.extend_from_slice(p.to_string().as_bytes()),
                Field::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Field::Float(x) => out.extend_from_slice(x.to_string().as_bytes()),
                Field::Quoted(p) => out.extend_from_slice(format!("\"{p}\"").as_bytes()),
                Field::Spaced(p) => out.extend_from_slice(format!(" {p} ").as_bytes()),
                Field::Empty => {}
                Field::Text(s) => out.extend_from_slice(s.as_bytes()),
                Field::Commas(n) => out.extend(std::iter::repeat_n(b',', usize::from(*n))),
            }
            if out.len() > MAX_BUILT {
                return Ok(out);
            }
        }
        out.extend_from_slice(end);
    }
    Ok(out)
}

/// An IDX file (images or labels, gzipped or not) whose dimensions may promise far more than
/// its payload holds.
pub fn idx(u: &mut Unstructured) -> Result<(&'static str, Vec<u8>)> {
    let images: bool = u.arbitrary()?;
    let gz: bool = u.arbitrary()?;
    let type_code: u8 = if u.arbitrary()? { 0x08 } else { u.arbitrary()? };
    let dims: Vec<u32> = if u.arbitrary()? {
        let n = u.int_in_range(0..=4u32)?;
        if images { vec![n, 28, 28] } else { vec![n] }
    } else {
        u.arbitrary::<Vec<u32>>()?.into_iter().take(5).collect()
    };
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in &dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    let want = dims
        .iter()
        .map(|&d| d as usize)
        .try_fold(1usize, |a, d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    let short: u16 = u.arbitrary()?;
    out.extend((0..want.min(1 << 16).saturating_sub(usize::from(short % 4))).map(|i| (i % 10) as u8));
    let name = match (images, gz) {
        (true, true) => "train-images-idx3-ubyte.gz",
        (true, false) => "t10k-images-idx3-ubyte",
        (false, true) => "train-labels-idx1-ubyte.gz",
        (false, false) => "t10k-labels-idx1-ubyte",
    };
    if gz {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = z.write_all(&out);
        out = z.finish().unwrap_or_default();
    }
    Ok((name, out))
}

/// A PNG whose header may declare any size (valid chunk CRCs; the pixels are a small zlib
/// stream), or a PGM with any declared size.
pub fn picture(u: &mut Unstructured) -> Result<Vec<u8>> {
    let small: bool = u.arbitrary()?;
    let (w, h): (u32, u32) = if small {
        (u.int_in_range(1..=64)?, u.int_in_range(1..=64)?)
    } else {
        (u.arbitrary()?, u.arbitrary()?)
    };
    let pixels: Vec<u8> = u.arbitrary()?;
    if u.arbitrary()? {
        let mut out = format!("P5\n{w} {h}\n255\n").into_bytes();
        out.extend(
            pixels
                .iter()
                .cycle()
                .take((w as usize).saturating_mul(h as usize).min(1 << 14)),
        );
        return Ok(out);
    }
    const COLOURS: [(u8, &[u8]); 5] = [
        (0, &[1, 2, 4, 8, 16]),
        (2, &[8, 16]),
        (3, &[1, 2, 4, 8]),
        (4, &[8, 16]),
        (6, &[8, 16]),
    ];
    let (colour, depths) = *u.choose(&COLOURS)?;
    let depth = *u.choose(depths)?;
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour, 0, 0, u8::from(u.ratio(1, 8)?)]);
    chunk(b"IHDR", &ihdr);
    if colour == 3 {
        chunk(b"PLTE", &pixels.iter().copied().cycle().take(48).collect::<Vec<_>>());
    }
    // Rows of filter byte 0 and the pixels, as many as fit a small stream.
    let channels = match colour {
        0 | 3 => 1,
        2 => 3,
        4 => 2,
        _ => 4,
    };
    let row = ((w as usize).saturating_mul(channels).saturating_mul(usize::from(depth)) + 7) / 8 + 1;
    let raw: Vec<u8> = (0..row.saturating_mul(h as usize).min(1 << 15))
        .map(|i| {
            if i % row == 0 {
                0
            } else {
                pixels.get(i % pixels.len().max(1)).copied().unwrap_or(0)
            }
        })
        .collect();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        use std::io::Write;
        let _ = z.write_all(&raw);
    }
    chunk(b"IDAT", &z.finish().unwrap_or_default());
    chunk(b"IEND", b"");
    Ok(out)
}
