//! PyTorch weights from bytes, the same way natively and in the browser.
//!
//! burn-store's PyTorch reader only opens paths (`File::open`), which a wasm32 page cannot do, and
//! the other Rust pickle readers either cannot load torch's persistent storages or pull in a whole
//! tensor library. What a state_dict needs is small, so it is done here:
//!
//! - `read` turns a `torch.save` file (the zip container of PyTorch >= 1.6, or the legacy stream
//!   before it) or a safetensors file into `(PyTorch name, shape, f32 values)` triples. A small
//!   pickle machine runs `data.pkl`; it builds data only and never calls anything, so a hostile
//!   file can at worst be refused. Every length is checked against the bytes actually present
//!   before anything is allocated, and the machine's stack, memo and object count are bounded.
//! - `to_model_layers` maps the usual namings of this MLP (`0.weight`, `fc1.weight`,
//!   `model.layers.3.bias`...) onto burn's `layers.{i}.weight` (transposed to `[in, out]`) and
//!   `layers.{i}.bias`, or says in words what does not fit.
//! - `export` is the inverse mapping: burn's names and layout to an `nn.Sequential` state_dict.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::rc::Rc;

use safetensors::{Dtype, SafeTensors};

use super::NamedTensor;
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::error::WeightsError;

/// A `data.pkl` larger than this is not the state_dict of a model this size (the fixtures' are
/// about 2 KB); the bound keeps a hostile archive from making the machine chew on gigabytes.
const MAX_PICKLE_BYTES: usize = 64 << 20;
/// Bounds on the pickle machine. A real state_dict uses a few entries per tensor.
const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;
const MAX_OBJECTS: usize = 1 << 22;
/// How deep nested dicts and modules are followed, and how many values are visited in all
/// (shared references can make a small pickle describe an exponentially large tree).
const MAX_DEPTH: usize = 32;
const MAX_VISITS: usize = 1 << 20;
/// Most tensors returned, and most dimensions per tensor.
const MAX_TENSORS: usize = 100_000;
const MAX_DIMS: usize = 16;
/// Most f32 values returned in all, whatever the file says (1 GiB of f32).
const MAX_ELEMENTS: usize = 1 << 28;
/// Most bytes one deflated zip entry may inflate to (torch never compresses; see `entry_data`).
/// The reference model's whole state_dict is under 1 MB; this allows models far wider than it
/// while keeping a hostile entry below what the largest real data file (47 MB) needs.
const MAX_INFLATED: usize = 64 << 20;
/// Calls nested inside calls (`_rebuild_from_type_v2` wraps `_rebuild_tensor_v2`).
const MAX_CALL_DEPTH: usize = 4;

/// The first pickle of a legacy (pre-1.6) `torch.save` file is this integer (LONG1, 10 bytes,
/// little-endian): `0x1950a86a20f9469cfc6c`.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The second pickle of a legacy file: the only protocol version torch ever wrote.
const LEGACY_PROTOCOL: i64 = 1001;

/// Internal results carry a plain message; `read` prefixes the file name and wraps it.
type Res<T> = Result<T, String>;

/// Reads every tensor of a PyTorch weights file held in `bytes` (`name` is only used in
/// messages): `(PyTorch name, shape, values as f32)`, in the file's order.
///
/// Accepted: `torch.save` zip files (`.pt`/`.pth`, PyTorch >= 1.6), the legacy `torch.save`
/// stream (`_use_new_zipfile_serialization=False` or PyTorch < 1.6), and safetensors. The file
/// may hold a state_dict, a checkpoint dict with the state_dict under `state_dict` or
/// `model_state_dict`, other nested dicts of tensors (names joined with dots), or a whole pickled
/// `nn.Module` (its parameters and persistent buffers, named as `state_dict()` names them).
/// Storages may be float32, float64, float16 or bfloat16; tensors must be contiguous.
pub fn read(name: &str, bytes: &[u8]) -> Result<Vec<NamedTensor>, WeightsError> {
    let mut budget = element_budget(bytes.len());
    let result = if bytes.is_empty() {
        Err("the file is empty".to_string())
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        read_torch_zip(bytes, &mut budget)
    } else if looks_like_safetensors(bytes) {
        read_safetensors(bytes, &mut budget)
    } else if bytes.first() == Some(&0x80) {
        // PROTO: a bare pickle stream, which is what the legacy format is.
        read_legacy(bytes, &mut budget)
    } else if bytes.get(257..262) == Some(&b"ustar"[..]) {
        Err(
            "saved in the tar format of PyTorch before 0.1.10; load it with PyTorch and re-save it with \
             torch.save(model.state_dict(), path)"
                .to_string(),
        )
    } else {
        Err(format!(
            "not a PyTorch (.pt, .pth) or safetensors file: it starts with the bytes {}",
            hex_prefix(bytes)
        ))
    };
    result.map_err(|e| WeightsError::Format(format!("{name}: {e}")))
}

/// How many f32 values a file of `len` bytes may produce. Tensors can share one storage, so
/// without a budget a small file could ask for the same megabyte a million times over. A real
/// file yields at most `len / 2` values (float16), a few more with tied weights.
fn element_budget(len: usize) -> usize {
    len.saturating_mul(2).clamp(1 << 16, MAX_ELEMENTS)
}

fn hex_prefix(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

/// safetensors: an 8-byte little-endian header length, then a JSON header starting with `{`.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some(len) = u64_at(bytes, 0) else {
        return false;
    };
    let fits = usize::try_from(len).is_ok_and(|len| len <= bytes.len() - 8);
    fits && bytes.get(8) == Some(&b'{')
}

// ---------------------------------------------------------------------------------------------
// Little-endian fields at fixed offsets, `None` past the end (hostile offsets never panic).

fn array_at<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    array_at(data, at).map(u16::from_le_bytes)
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    array_at(data, at).map(u32::from_le_bytes)
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    array_at(data, at).map(u64::from_le_bytes)
}

// ---------------------------------------------------------------------------------------------
// Element types and their conversion to f32.

/// The element type of a storage or tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DType {
    F32,
    F64,
    F16,
    BF16,
    /// A type this reader does not convert: its torch name and element size (the size is still
    /// needed to step over the storage in a legacy file).
    Other(&'static str, usize),
    /// `torch.UntypedStorage`: bytes whose type the tensor gives (`_rebuild_tensor_v3`).
    Untyped,
}

impl DType {
    /// The element type of `torch.<name>`, a typed storage class.
    fn from_storage_class(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::Other("int64", 8),
            "IntStorage" => Self::Other("int32", 4),
            "ShortStorage" => Self::Other("int16", 2),
            "CharStorage" => Self::Other("int8", 1),
            "ByteStorage" => Self::Other("uint8", 1),
            "BoolStorage" => Self::Other("bool", 1),
            "ComplexFloatStorage" => Self::Other("complex64", 8),
            "ComplexDoubleStorage" => Self::Other("complex128", 16),
            "UntypedStorage" => Self::Untyped,
            _ => return None,
        })
    }

    /// The element type of `torch.<name>`, a dtype object (`torch.float32`...).
    fn from_dtype_name(name: &str) -> Option<Self> {
        Some(match name {
            "float32" | "float" => Self::F32,
            "float64" | "double" => Self::F64,
            "float16" | "half" => Self::F16,
            "bfloat16" => Self::BF16,
            "int64" | "long" => Self::Other("int64", 8),
            "int32" | "int" => Self::Other("int32", 4),
            "int16" | "short" => Self::Other("int16", 2),
            "int8" => Self::Other("int8", 1),
            "uint8" => Self::Other("uint8", 1),
            "bool" => Self::Other("bool", 1),
            _ => return None,
        })
    }

    /// Bytes per element (an untyped storage is counted in bytes).
    fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F64 => 8,
            Self::F16 | Self::BF16 => 2,
            Self::Other(_, size) => size,
            Self::Untyped => 1,
        }
    }
}

/// Little-endian elements of a supported type as f32 (f64 rounds to nearest).
fn to_f32(dtype: DType, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        // bfloat16 is the top half of an f32.
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect(),
        DType::Other(..) | DType::Untyped => Vec::new(),
    }
}

/// IEEE half precision to f32, exactly (every f16 is an f32). Written out rather than taking
/// the `half` crate for one function.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exponent = u32::from((h >> 10) & 0x1f);
    let mantissa = u32::from(h & 0x3ff);
    let bits = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: mantissa * 2^-24, exact in f32.
            let magnitude = mantissa as f32 * f32::from_bits(0x3380_0000);
            return if sign == 0 { magnitude } else { -magnitude };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (mantissa << 13),
        // Rebias the exponent from 15 to 127.
        _ => sign | ((exponent + 112) << 23) | (mantissa << 13),
    };
    f32::from_bits(bits)
}

// ---------------------------------------------------------------------------------------------
// safetensors

fn read_safetensors(bytes: &[u8], budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let invalid = |e: safetensors::SafeTensorError| format!("not a valid safetensors file: {e}");
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let file = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let mut out = Vec::new();
    // The header is a JSON object (unordered); the data offsets give a stable order.
    for name in header.offset_keys() {
        let view = file.tensor(&name).map_err(invalid)?;
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F64 => DType::F64,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(format!(
                    "{name} holds {other:?} values; only F32, F64, F16 and BF16 tensors can be read"
                ));
            }
        };
        let values = to_f32(dtype, view.data());
        spend(budget, values.len(), &name)?;
        out.push((name, view.shape().to_vec(), values));
    }
    if out.is_empty() {
        return Err("the safetensors file holds no tensors".into());
    }
    Ok(out)
}

fn spend(budget: &mut usize, elements: usize, name: &str) -> Res<()> {
    *budget = budget
        .checked_sub(elements)
        .ok_or_else(|| format!("{name}: the tensors add up to more values than a file this size can hold"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The zip container of torch.save (PyTorch >= 1.6).
//
// Written here rather than taken from the `zip` crate: torch writes every entry stored
// (uncompressed), so reading one is a walk of the central directory plus a CRC; the `zip` crate's
// API has changed with most of its recent major versions, and this keeps the wasm bundle free of
// its codecs. Deflated entries (a file re-zipped by hand) are inflated with flate2, which the
// crate already uses for gzipped IDX files. Zip64 is refused: the model files here are ~1 MB.

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;

/// One entry of the central directory.
struct ZipEntry {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: usize,
    size: usize,
    /// Offset of the entry's local header.
    header: usize,
}

fn cut_short(what: &str) -> String {
    format!("the zip archive's {what} is cut short or damaged (is the file truncated?)")
}

const ZIP64: &str = "the zip archive uses zip64 (over 4 GB or 65,535 entries), which this reader does not \
                     handle; a file that large is not this model";

/// The central directory: every entry's name, sizes and where its data is.
fn zip_entries(data: &[u8]) -> Res<Vec<ZipEntry>> {
    // The end record is the last 22 bytes plus a comment of up to 65,535 bytes; its comment
    // length must reach exactly to the end of the file.
    let last = data.len().saturating_sub(22);
    let end = (last.saturating_sub(u16::MAX.into())..=last)
        .rev()
        .find(|&at| {
            u32_at(data, at) == Some(END_OF_DIRECTORY)
                && u16_at(data, at + 20).map(|comment| at + 22 + usize::from(comment)) == Some(data.len())
        })
        .ok_or_else(|| cut_short("end record"))?;
    let field16 = |offset: usize| u16_at(data, end + offset).ok_or_else(|| cut_short("end record"));
    let field32 = |offset: usize| u32_at(data, end + offset).ok_or_else(|| cut_short("end record"));
    let (disk, directory_disk, count) = (field16(4)?, field16(6)?, field16(10)?);
    let (directory_size, directory_offset) = (field32(12)?, field32(16)?);
    if count == u16::MAX || directory_size == u32::MAX || directory_offset == u32::MAX {
        return Err(ZIP64.into());
    }
    if disk != 0 || directory_disk != 0 {
        return Err("the zip archive is split over several files".into());
    }
    let mut at = directory_offset as usize;
    let directory_end = at
        .checked_add(directory_size as usize)
        .filter(|&e| e <= end)
        .ok_or_else(|| cut_short("central directory"))?;
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        if at >= directory_end {
            return Err(cut_short("central directory"));
        }
        let (entry, length) = central_record(data.get(at..directory_end).unwrap_or_default())
            .ok_or_else(|| cut_short("central directory"))??;
        entries.push(entry);
        at += length;
    }
    Ok(entries)
}

/// One central directory record at the start of `record`: the entry and the record's length.
/// `None` when the record is cut short; `Some(Err)` for zip64 sizes.
fn central_record(record: &[u8]) -> Option<Res<(ZipEntry, usize)>> {
    if u32_at(record, 0)? != CENTRAL_HEADER {
        return None;
    }
    let flags = u16_at(record, 8)?;
    let method = u16_at(record, 10)?;
    let crc = u32_at(record, 16)?;
    let compressed = u32_at(record, 20)?;
    let size = u32_at(record, 24)?;
    let name_len = usize::from(u16_at(record, 28)?);
    let extra_len = usize::from(u16_at(record, 30)?);
    let comment_len = usize::from(u16_at(record, 32)?);
    let header = u32_at(record, 42)?;
    let name = record.get(46..46 + name_len)?;
    if compressed == u32::MAX || size == u32::MAX || header == u32::MAX {
        return Some(Err(ZIP64.into()));
    }
    let entry = ZipEntry {
        // torch writes UTF-8 names (flag bit 11); a stray byte only spoils that entry's name.
        name: String::from_utf8_lossy(name).into_owned(),
        flags,
        method,
        crc,
        compressed: compressed as usize,
        size: size as usize,
        header: header as usize,
    };
    Some(Ok((entry, 46 + name_len + extra_len + comment_len)))
}

/// An entry's bytes, checked against its CRC. Sizes come from the central directory: torch sets
/// flag bit 3 and leaves the local header's sizes at zero.
fn entry_data<'a>(data: &'a [u8], entry: &ZipEntry) -> Res<Cow<'a, [u8]>> {
    let damaged = || cut_short(&format!("entry {}", entry.name));
    let local = data.get(entry.header..).ok_or_else(damaged)?;
    if u32_at(local, 0) != Some(LOCAL_HEADER) {
        return Err(damaged());
    }
    let name_len = usize::from(u16_at(local, 26).ok_or_else(damaged)?);
    let extra_len = usize::from(u16_at(local, 28).ok_or_else(damaged)?);
    let start = 30 + name_len + extra_len;
    let raw = local
        .get(start..start.checked_add(entry.compressed).ok_or_else(damaged)?)
        .ok_or_else(damaged)?;
    if entry.flags & 1 != 0 {
        return Err(format!("{} is encrypted", entry.name));
    }
    let bytes = match entry.method {
        0 if entry.compressed == entry.size => Cow::Borrowed(raw),
        0 => return Err(damaged()),
        8 => {
            if entry.size > MAX_INFLATED {
                return Err(format!("{} would inflate to {} bytes", entry.name, entry.size));
            }
            // Reserve from the data actually present, not from the declared size.
            let mut out = Vec::with_capacity(entry.size.min(raw.len().saturating_mul(4)));
            flate2::read::DeflateDecoder::new(raw)
                .take(entry.size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("{}: corrupt deflate data: {e}", entry.name))?;
            if out.len() != entry.size {
                return Err(damaged());
            }
            Cow::Owned(out)
        }
        method => {
            return Err(format!(
                "{} is compressed with zip method {method}; torch.save writes entries uncompressed \
                 (was the file re-zipped?)",
                entry.name
            ));
        }
    };
    if crc32(&bytes) != entry.crc {
        return Err(format!("{} fails its CRC check: the file is damaged", entry.name));
    }
    Ok(bytes)
}

/// CRC-32 (IEEE, as zip uses), table computed at compile time.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data
        .iter()
        .fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}

/// A `torch.save` zip: `<root>/data.pkl` is the pickle, `<root>/data/<key>` each storage's bytes,
/// `<root>/byteorder` says `little` (absent in files from before PyTorch 1.10: little too).
fn read_torch_zip(data: &[u8], budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let entries = zip_entries(data)?;
    // The root folder is named after the file when it was saved (`archive/` for in-memory saves).
    let roots: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.name.strip_suffix("data.pkl"))
        .filter(|root| root.is_empty() || (root.ends_with('/') && root.matches('/').count() == 1))
        .collect();
    let root = match roots.as_slice() {
        [root] => *root,
        [] => {
            let names: Vec<&str> = entries.iter().take(6).map(|e| e.name.as_str()).collect();
            return Err(format!(
                "a zip archive, but not one written by torch.save: no data.pkl inside (it holds {})",
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        _ => return Err("the zip archive holds several data.pkl files".into()),
    };
    let by_name: HashMap<&str, &ZipEntry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    if let Some(entry) = by_name.get(format!("{root}byteorder").as_str()) {
        let order = entry_data(data, entry)?;
        if order[..] != b"little"[..] {
            return Err(format!(
                "the tensors were saved in {} byte order; only little-endian files can be read",
                String::from_utf8_lossy(&order)
            ));
        }
    }
    let pickle_entry = by_name
        .get(format!("{root}data.pkl").as_str())
        .ok_or_else(|| cut_short("data.pkl"))?;
    if pickle_entry.size > MAX_PICKLE_BYTES {
        return Err(format!(
            "data.pkl is {} bytes, too large for a model's state_dict",
            pickle_entry.size
        ));
    }
    let pickle = entry_data(data, pickle_entry)?;
    let mut machine = Machine::new(&pickle, 0, false);
    let top = machine.run()?;
    let wanted = select_tensors(&machine, &top)?;

    // Several tensors may share a storage: read each entry once.
    let mut storages: HashMap<Rc<str>, Cow<[u8]>> = HashMap::new();
    let mut out = Vec::with_capacity(wanted.len());
    for (name, tensor) in wanted {
        let key = &tensor.storage;
        if !storages.contains_key(key) {
            let entry = by_name
                .get(format!("{root}data/{key}").as_str())
                .ok_or_else(|| format!("{name}: its storage data/{key} is missing from the archive"))?;
            storages.insert(key.clone(), entry_data(data, entry)?);
        }
        let bytes: &[u8] = storages.get(key).map(|b| &**b).unwrap_or_default();
        out.push(materialize(name, &tensor, bytes, budget)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The legacy torch.save stream (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`):
// five pickles in a row (magic number, protocol version, system info, the object, the storage
// keys), then each storage in key order as a little-endian u64 element count and its bytes.

fn read_legacy(data: &[u8], budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let mut magic = Machine::new(data, 0, true);
    let first = magic.run();
    if !matches!(&first, Ok(Value::BigInt(bytes)) if bytes[..] == LEGACY_MAGIC) {
        return Err(
            "a Python pickle, but not one written by torch.save (no PyTorch magic number); \
                    save the weights with torch.save(model.state_dict(), path)"
                .into(),
        );
    }
    legacy_body(data, magic.pos, budget).map_err(|e| {
        format!(
            "saved with PyTorch's legacy format and could not be read: {e}; re-save it with \
             torch.save(model.state_dict(), path)"
        )
    })
}

fn legacy_body(data: &[u8], start: usize, budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let mut protocol = Machine::new(data, start, true);
    match protocol.run()? {
        Value::Int(LEGACY_PROTOCOL) => {}
        other => return Err(format!("unknown legacy protocol version {}", protocol.describe(&other))),
    }
    let mut info = Machine::new(data, protocol.pos, true);
    let sys_info = info.run()?;
    if let Some(dict) = info.dict(&sys_info)
        && matches!(dict.get("little_endian"), Some(Value::Bool(false)))
    {
        return Err("the tensors were saved on a big-endian machine; only little-endian files can be read".into());
    }
    let mut machine = Machine::new(data, info.pos, true);
    let top = machine.run()?;
    let wanted = select_tensors(&machine, &top)?;
    let mut keys_machine = Machine::new(data, machine.pos, true);
    let keys_value = keys_machine.run()?;
    let keys = keys_machine
        .items(&keys_value)
        .ok_or("the list of storage keys is missing")?
        .iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!("a storage key is {}", keys_machine.describe(other))),
        })
        .collect::<Res<Vec<Rc<str>>>>()?;

    let mut at = keys_machine.pos;
    let mut storages: HashMap<Rc<str>, &[u8]> = HashMap::new();
    for key in keys {
        let dtype = machine
            .storage_types
            .get(&key)
            .copied()
            .ok_or_else(|| format!("storage {key} is listed but no tensor names its type"))?;
        let count = u64_at(data, at).ok_or_else(|| format!("storage {key} is cut short"))?;
        let length = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| format!("storage {key} claims {count} elements"))?;
        let bytes = (at + 8)
            .checked_add(length)
            .and_then(|end| data.get(at + 8..end))
            .ok_or_else(|| format!("storage {key} is cut short: the file is truncated"))?;
        storages.insert(key, bytes);
        at += 8 + length;
    }
    wanted
        .into_iter()
        .map(|(name, tensor)| {
            let bytes = storages
                .get(&tensor.storage)
                .ok_or_else(|| format!("{name}: its storage {} is missing", tensor.storage))?;
            materialize(name, &tensor, bytes, budget)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The pickle machine.

/// A value on the machine's stack or in its memo. Containers live in `Machine::objects` and are
/// referred to by index, as Python refers to objects: `BINGET` of a memoised dict shares it
/// (so later `SETITEMS` are seen through every reference), copies are O(1), and no value nests
/// inside another, so nothing here recurses or drops recursively.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too wide for i64, as its little-endian two's-complement bytes.
    BigInt(Rc<[u8]>),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// A class or function named by GLOBAL or STACK_GLOBAL: (module, name).
    Global(Rc<(String, String)>),
    Object(usize),
}

#[derive(Debug)]
enum Object {
    Tuple(Vec<Value>),
    /// Lists, and sets (only ever read for membership).
    List(Vec<Value>),
    Dict(Dict),
    Storage(Storage),
    Tensor(TensorRef),
    /// Whatever else REDUCE or NEWOBJ built (an `nn.Module`, a `set`...): never called, kept
    /// with its arguments and the state BUILD gave it.
    Instance {
        class: Rc<(String, String)>,
        args: Vec<Value>,
        state: Option<Value>,
    },
}

/// A dict in insertion order (state_dicts are OrderedDicts); string and int keys are unique,
/// as in Python.
#[derive(Debug, Default)]
struct Dict {
    entries: Vec<(Value, Value)>,
    index: HashMap<Key, usize>,
}

#[derive(Debug, Hash, PartialEq, Eq)]
enum Key {
    Str(Rc<str>),
    Int(i64),
}

impl Dict {
    fn insert(&mut self, key: Value, value: Value) {
        let hashable = match &key {
            Value::Str(s) => Some(Key::Str(s.clone())),
            Value::Int(i) => Some(Key::Int(*i)),
            _ => None,
        };
        if let Some(k) = hashable {
            if let Some(slot) = self.index.get(&k).and_then(|&i| self.entries.get_mut(i)) {
                slot.1 = value;
                return;
            }
            self.index.insert(k, self.entries.len());
        }
        self.entries.push((key, value));
    }

    fn get(&self, key: &str) -> Option<&Value> {
        let i = *self.index.get(&Key::Str(Rc::from(key)))?;
        self.entries.get(i).map(|(_, v)| v)
    }
}

/// A storage named by a persistent id: its element type and its key (the zip entry
/// `data/<key>`, or its place in a legacy file).
#[derive(Clone, Debug)]
struct Storage {
    dtype: DType,
    key: Rc<str>,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a view of a storage, in elements.
#[derive(Clone, Debug)]
struct TensorRef {
    storage: Rc<str>,
    dtype: DType,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    objects: Vec<Object>,
    /// Legacy persistent ids carry a sixth item (view metadata, None for whole storages).
    legacy: bool,
    /// The element type of every storage seen: a legacy file's storages follow the pickle and
    /// their sizes are counted in elements.
    storage_types: HashMap<Rc<str>, DType>,
}

/// Opcode names, for messages.
fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}

impl<'a> Machine<'a> {
    /// A machine that runs the pickle starting at `data[pos]`.
    fn new(data: &'a [u8], pos: usize, legacy: bool) -> Self {
        Self {
            data,
            pos,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            objects: Vec::new(),
            legacy,
            storage_types: HashMap::new(),
        }
    }

    /// Runs to STOP and returns the pickled object; `self.pos` is then just past the STOP.
    fn run(&mut self) -> Res<Value> {
        loop {
            let at = self.pos;
            let op = *self
                .data
                .get(at)
                .ok_or_else(|| format!("the pickle ends at byte {at} without a STOP: the file is truncated"))?;
            self.pos += 1;
            self.step(op).map_err(|e| match opcode_name(op) {
                Some(name) => format!("pickle opcode {name} at byte {at}: {e}"),
                None => format!("byte 0x{op:02x} at {at}: {e}"),
            })?;
            if op == b'.' {
                return self.pop();
            }
        }
    }

    /// Executes one opcode (its argument bytes follow at `self.pos`).
    fn step(&mut self, op: u8) -> Res<()> {
        match op {
            0x80 => {
                let version = self.byte()?;
                if !(2..=5).contains(&version) {
                    return Err(format!("pickle protocol {version} is not supported (2 to 5 are)"));
                }
            }
            // FRAME: a hint for buffered readers; everything is in memory already.
            0x95 => {
                self.array::<8>()?;
            }
            b'.' => {}
            b'(' => {
                if self.marks.len() >= MAX_STACK {
                    return Err("too many nested MARKs".into());
                }
                self.marks.push(self.stack.len());
            }
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.stack.last().cloned().ok_or_else(underflow)?;
                self.push(top)?;
            }
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'J' => {
                let v = i32::from_le_bytes(self.array()?);
                self.push(Value::Int(v.into()))?;
            }
            b'K' => {
                let v = self.byte()?;
                self.push(Value::Int(v.into()))?;
            }
            b'M' => {
                let v = u16::from_le_bytes(self.array()?);
                self.push(Value::Int(v.into()))?;
            }
            0x8a => {
                let n = self.byte()?;
                let bytes = self.take(n.into())?;
                self.push(long(bytes))?;
            }
            0x8b => {
                let n = u32::from_le_bytes(self.array()?);
                let bytes = self.take(n as usize)?;
                self.push(long(bytes))?;
            }
            // BINFLOAT is big-endian, unlike everything else in a pickle.
            b'G' => {
                let v = f64::from_be_bytes(self.array()?);
                self.push(Value::Float(v))?;
            }
            b'X' => {
                let n = u32::from_le_bytes(self.array()?);
                self.text(n as usize)?;
            }
            0x8c => {
                let n = self.byte()?;
                self.text(n.into())?;
            }
            0x8d => {
                let n = u64::from_le_bytes(self.array()?);
                self.text(usize::try_from(n).map_err(|_| format!("a string of {n} bytes"))?)?;
            }
            // Python 2's str (BINSTRING, SHORT_BINSTRING), as old files may hold: read as text.
            b'T' => {
                let n = u32::from_le_bytes(self.array()?);
                self.text(n as usize)?;
            }
            b'U' => {
                let n = self.byte()?;
                self.text(n.into())?;
            }
            b'C' => {
                let n = self.byte()?;
                let bytes = self.take(n.into())?;
                self.push(Value::Bytes(bytes.into()))?;
            }
            b'B' => {
                let n = u32::from_le_bytes(self.array()?);
                let bytes = self.take(n as usize)?;
                self.push(Value::Bytes(bytes.into()))?;
            }
            0x8e => {
                let n = u64::from_le_bytes(self.array()?);
                let bytes = self.take(usize::try_from(n).map_err(|_| format!("{n} bytes"))?)?;
                self.push(Value::Bytes(bytes.into()))?;
            }
            b')' => {
                let tuple = self.alloc(Object::Tuple(Vec::new()))?;
                self.push(tuple)?;
            }
            b't' => {
                let items = self.pop_mark()?;
                let tuple = self.alloc(Object::Tuple(items))?;
                self.push(tuple)?;
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let split = self.stack.len().checked_sub(n).ok_or_else(underflow)?;
                let items = self.stack.split_off(split);
                let tuple = self.alloc(Object::Tuple(items))?;
                self.push(tuple)?;
            }
            b']' | 0x8f => {
                let list = self.alloc(Object::List(Vec::new()))?;
                self.push(list)?;
            }
            b'l' | 0x91 => {
                let items = self.pop_mark()?;
                let list = self.alloc(Object::List(items))?;
                self.push(list)?;
            }
            b'a' => {
                let item = self.pop()?;
                self.list_below()?.push(item);
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                self.list_below()?.extend(items);
            }
            b'}' => {
                let dict = self.alloc(Object::Dict(Dict::default()))?;
                self.push(dict)?;
            }
            b'd' => {
                let items = self.pop_mark()?;
                let mut dict = Dict::default();
                insert_pairs(&mut dict, items)?;
                let dict = self.alloc(Object::Dict(dict))?;
                self.push(dict)?;
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.dict_below()?.insert(key, value);
            }
            b'u' => {
                let items = self.pop_mark()?;
                insert_pairs(self.dict_below()?, items)?;
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Value::Global(Rc::new((module, name))))?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => {
                        self.push(Value::Global(Rc::new((module.to_string(), name.to_string()))))?;
                    }
                    _ => return Err("expects a module and a name (two strings)".into()),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let value = self.call(callable, args, 0)?;
                self.push(value)?;
            }
            // NEWOBJ_EX: like NEWOBJ with keyword arguments, which nothing here needs.
            0x92 => {
                self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let value = self.call(class, args, 0)?;
                self.push(value)?;
            }
            b'b' => {
                let state = self.pop()?;
                self.build(state)?;
            }
            b'Q' => {
                let pid = self.pop()?;
                let storage = self.persistent_load(&pid)?;
                self.push(storage)?;
            }
            b'q' => {
                let i = self.byte()?;
                self.put(i.into())?;
            }
            b'r' => {
                let i = u32::from_le_bytes(self.array()?);
                self.put(i)?;
            }
            0x94 => {
                let i = u32::try_from(self.memo.len()).map_err(|_| "the memo is full".to_string())?;
                self.put(i)?;
            }
            b'h' => {
                let i = self.byte()?;
                self.get(i.into())?;
            }
            b'j' => {
                let i = u32::from_le_bytes(self.array()?);
                self.get(i)?;
            }
            _ => {
                return Err(match opcode_name(op) {
                    Some(_) => "not supported: this reader handles what torch.save writes for a state_dict; \
                                save the weights with torch.save(model.state_dict(), path)"
                        .into(),
                    None => "not a pickle opcode: the data is damaged".into(),
                });
            }
        }
        Ok(())
    }

    /// The next `n` argument bytes, checked against what is left before anything is allocated.
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| data.get(self.pos..end))
            .ok_or_else(|| format!("its {n}-byte argument runs past the end of the pickle"))?;
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| "argument cut short".to_string())
    }

    fn byte(&mut self) -> Res<u8> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    /// Pushes a string argument of `n` bytes.
    fn text(&mut self, n: usize) -> Res<()> {
        let bytes = self.take(n)?;
        let text = std::str::from_utf8(bytes).map_err(|_| "a string that is not UTF-8".to_string())?;
        self.push(Value::Str(text.into()))
    }

    /// A newline-terminated argument (GLOBAL's module and name).
    fn line(&mut self) -> Res<String> {
        let data: &'a [u8] = self.data;
        let rest = data.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .take(1024)
            .position(|&b| b == b'\n')
            .ok_or("a name without an end of line")?;
        let text = rest
            .get(..len)
            .and_then(|l| std::str::from_utf8(l).ok())
            .ok_or("a name that is not UTF-8")?;
        self.pos += len + 1;
        Ok(text.to_string())
    }

    fn push(&mut self, value: Value) -> Res<()> {
        if self.stack.len() >= MAX_STACK {
            return Err("the pickle stack grows too deep".into());
        }
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self) -> Res<Value> {
        self.stack.pop().ok_or_else(underflow)
    }

    /// Everything pushed since the last MARK.
    fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let mark = self.marks.pop().ok_or("no MARK to end")?;
        if mark > self.stack.len() {
            return Err(underflow());
        }
        Ok(self.stack.split_off(mark))
    }

    fn alloc(&mut self, object: Object) -> Res<Value> {
        if self.objects.len() >= MAX_OBJECTS {
            return Err("the pickle builds too many objects".into());
        }
        self.objects.push(object);
        Ok(Value::Object(self.objects.len() - 1))
    }

    fn object(&self, value: &Value) -> Option<&Object> {
        match value {
            Value::Object(id) => self.objects.get(*id),
            _ => None,
        }
    }

    /// The object on top of the stack, for APPEND, SETITEM and BUILD.
    fn top_object_mut(&mut self) -> Res<&mut Object> {
        match self.stack.last() {
            Some(Value::Object(id)) => {
                let id = *id;
                self.objects
                    .get_mut(id)
                    .ok_or_else(|| "a dangling reference".to_string())
            }
            Some(_) => Err("the value below is not a container".into()),
            None => Err(underflow()),
        }
    }

    fn list_below(&mut self) -> Res<&mut Vec<Value>> {
        match self.top_object_mut()? {
            Object::List(items) => Ok(items),
            _ => Err("the value below is not a list".into()),
        }
    }

    fn dict_below(&mut self) -> Res<&mut Dict> {
        match self.top_object_mut()? {
            Object::Dict(dict) => Ok(dict),
            _ => Err("the value below is not a dict".into()),
        }
    }

    fn put(&mut self, i: u32) -> Res<()> {
        let top = self.stack.last().cloned().ok_or_else(underflow)?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&i) {
            return Err("the memo grows too large".into());
        }
        self.memo.insert(i, top);
        Ok(())
    }

    fn get(&mut self, i: u32) -> Res<()> {
        let value = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| format!("memo entry {i} is read before it is set"))?;
        self.push(value)
    }

    /// The items of a tuple or list.
    fn items(&self, value: &Value) -> Option<&[Value]> {
        match self.object(value)? {
            Object::Tuple(items) | Object::List(items) => Some(items),
            _ => None,
        }
    }

    fn dict(&self, value: &Value) -> Option<&Dict> {
        match self.object(value)? {
            Object::Dict(dict) => Some(dict),
            _ => None,
        }
    }

    fn tensor(&self, value: &Value) -> Option<&TensorRef> {
        match self.object(value)? {
            Object::Tensor(tensor) => Some(tensor),
            _ => None,
        }
    }

    /// A short description of a value for messages (never recursive).
    fn describe(&self, value: &Value) -> String {
        match value {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => format!("the integer {i}"),
            Value::BigInt(_) => "a large integer".into(),
            Value::Float(f) => format!("the number {f}"),
            Value::Str(s) => format!("the string {:?}", s.chars().take(40).collect::<String>()),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Global(g) => format!("{}.{}", g.0, g.1),
            Value::Object(_) => match self.object(value) {
                Some(Object::Tuple(items)) => format!("a tuple of {}", items.len()),
                Some(Object::List(items)) => format!("a list of {}", items.len()),
                Some(Object::Dict(dict)) => {
                    let keys: Vec<String> = dict
                        .entries
                        .iter()
                        .take(6)
                        .map(|(k, _)| match k {
                            Value::Str(s) => s.chars().take(40).collect(),
                            Value::Int(i) => i.to_string(),
                            _ => "?".into(),
                        })
                        .collect();
                    let more = if dict.entries.len() > keys.len() { ", …" } else { "" };
                    format!("a dict with keys {}{more}", keys.join(", "))
                }
                Some(Object::Storage(_)) => "a storage".into(),
                Some(Object::Tensor(t)) => format!("a tensor of shape {:?}", t.size),
                Some(Object::Instance { class, .. }) => format!("a {}.{} object", class.0, class.1),
                None => "nothing".into(),
            },
        }
    }

    /// A non-negative integer argument.
    fn usize_of(&self, value: &Value, what: &str) -> Res<usize> {
        match value {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} is {i}")),
            other => Err(format!("{what} is {}", self.describe(other))),
        }
    }

    /// A tuple of non-negative integers (a size or a stride).
    fn usizes(&self, value: &Value, what: &str) -> Res<Vec<usize>> {
        let items = self
            .items(value)
            .ok_or_else(|| format!("{what} is {}", self.describe(value)))?;
        if items.len() > MAX_DIMS {
            return Err(format!("{what} has {} dimensions", items.len()));
        }
        items.iter().map(|v| self.usize_of(v, what)).collect()
    }

    /// REDUCE and NEWOBJ: the few callables a state_dict needs are interpreted; any other class
    /// becomes an inert `Instance` (a whole pickled module is a tree of those).
    fn call(&mut self, callable: Value, args: Value, depth: usize) -> Res<Value> {
        let global = match callable {
            Value::Global(global) => global,
            other => return Err(format!("calls {}, not a class or function", self.describe(&other))),
        };
        let args = self
            .items(&args)
            .ok_or_else(|| format!("the arguments of {}.{} are not a tuple", global.0, global.1))?
            .to_vec();
        match (global.0.as_str(), global.1.as_str()) {
            ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") => {
                if !args.is_empty() {
                    return Err(format!("{}.{} with arguments is not supported", global.0, global.1));
                }
                self.alloc(Object::Dict(Dict::default()))
            }
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => self.rebuild_tensor(&args, None),
            ("torch._utils", "_rebuild_tensor_v3") => {
                // (storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])
                let dtype = match args.get(6) {
                    Some(Value::Global(g)) if g.0 == "torch" => DType::from_dtype_name(&g.1),
                    _ => None,
                }
                .ok_or("_rebuild_tensor_v3 without a known torch dtype")?;
                self.rebuild_tensor(&args, Some(dtype))
            }
            // A Parameter is its tensor plus requires_grad: the tensor is all that matters.
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => match args.first() {
                Some(tensor) if self.tensor(tensor).is_some() => Ok(tensor.clone()),
                _ => Err("_rebuild_parameter of something that is not a tensor".into()),
            },
            // Tensor subclasses: (function, class, function's arguments, state).
            ("torch._tensor", "_rebuild_from_type" | "_rebuild_from_type_v2") => {
                if depth >= MAX_CALL_DEPTH {
                    return Err("tensor rebuilds nested too deep".into());
                }
                match args.as_slice() {
                    [function, _, inner, ..] => self.call(function.clone(), inner.clone(), depth + 1),
                    _ => Err("_rebuild_from_type_v2 expects (function, type, args, state)".into()),
                }
            }
            _ => self.alloc(Object::Instance {
                class: global.clone(),
                args,
                state: None,
            }),
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
    /// metadata])`: only the view is kept; the data is read once the wanted tensors are known.
    fn rebuild_tensor(&mut self, args: &[Value], dtype: Option<DType>) -> Res<Value> {
        let [storage, offset, size, stride, ..] = args else {
            return Err("_rebuild_tensor expects (storage, offset, size, stride, ...)".into());
        };
        let Some(Object::Storage(storage)) = self.object(storage) else {
            return Err(format!("_rebuild_tensor of {}, not a storage", self.describe(storage)));
        };
        let storage = storage.clone();
        let tensor = TensorRef {
            dtype: match (storage.dtype, dtype) {
                (_, Some(dtype)) => dtype,
                (DType::Untyped, None) => return Err("a tensor on an untyped storage without a dtype".into()),
                (dtype, None) => dtype,
            },
            storage: storage.key,
            offset: self.usize_of(offset, "the storage offset")?,
            size: self.usizes(size, "the size")?,
            stride: self.usizes(stride, "the stride")?,
        };
        if tensor.size.len() != tensor.stride.len() {
            return Err(format!(
                "size {:?} and stride {:?} disagree",
                tensor.size, tensor.stride
            ));
        }
        self.alloc(Object::Tensor(tensor))
    }

    /// BINPERSID: `('storage', torch.<Type>Storage, key, location, numel)`, with a sixth item
    /// (view metadata, None) in legacy files.
    fn persistent_load(&mut self, pid: &Value) -> Res<Value> {
        let items = self
            .items(pid)
            .ok_or_else(|| format!("a persistent id that is {}", self.describe(pid)))?;
        let (class, key) = match items {
            [
                Value::Str(kind),
                Value::Global(class),
                key,
                _location,
                _numel,
                rest @ ..,
            ] if &**kind == "storage" && rest.len() <= 1 => {
                if let [view] = rest
                    && !matches!(view, Value::None)
                {
                    return Err("a storage view (PyTorch before 0.4) is not supported".into());
                }
                (class.clone(), key.clone())
            }
            _ => return Err("a persistent id that is not a torch storage reference".into()),
        };
        if !self.legacy && items.len() != 5 {
            return Err("a persistent id with an unexpected view part".into());
        }
        let key: Rc<str> = match key {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string().into(),
            other => return Err(format!("a storage key that is {}", self.describe(&other))),
        };
        let dtype = match (class.0.as_str(), class.1.as_str()) {
            ("torch" | "torch.storage", name) => DType::from_storage_class(name),
            _ => None,
        }
        .ok_or_else(|| format!("unknown storage type {}.{}", class.0, class.1))?;
        if let Some(previous) = self.storage_types.insert(key.clone(), dtype)
            && previous != dtype
        {
            return Err(format!("storage {key} is given two types"));
        }
        self.alloc(Object::Storage(Storage { dtype, key }))
    }

    /// BUILD: an object's state. OrderedDict's state is the state_dict's `_metadata` and a
    /// tensor's is Python attributes, neither needed; an instance (a module) keeps it.
    fn build(&mut self, state: Value) -> Res<()> {
        match self.top_object_mut()? {
            Object::Instance { state: slot, .. } => *slot = Some(state),
            Object::Dict(_) | Object::Tensor(_) => {}
            _ => return Err("BUILD of a value that takes no state".into()),
        }
        Ok(())
    }
}

fn underflow() -> String {
    "the pickle stack is empty where a value is needed".into()
}

/// LONG1/LONG4: little-endian two's complement; wider than i64 is kept as bytes.
fn long(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt(bytes.into());
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut full = if negative { [0xff; 8] } else { [0; 8] };
    full[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(full))
}

fn insert_pairs(dict: &mut Dict, items: Vec<Value>) -> Res<()> {
    if items.len() % 2 != 0 {
        return Err("an odd number of keys and values".into());
    }
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        dict.insert(key, value);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// From the unpickled object to named tensors.

/// The tensors to return, with their PyTorch names.
fn select_tensors(machine: &Machine, top: &Value) -> Res<Vec<(String, TensorRef)>> {
    // A checkpoint keeps the model beside the optimiser state, epoch...: take only the model.
    let mut start = top;
    if let Some(dict) = machine.dict(top) {
        for key in ["state_dict", "model_state_dict"] {
            if let Some(inner) = dict.get(key)
                && machine.dict(inner).is_some()
            {
                start = inner;
                break;
            }
        }
    }
    let mut walk = Walk {
        machine,
        out: Vec::new(),
        visits: 0,
    };
    walk.value(start, "", 0)?;
    if walk.out.is_empty() {
        return Err(format!("no tensors found: the file holds {}", machine.describe(top)));
    }
    Ok(walk.out)
}

/// A bounded walk over nested dicts and modules, collecting tensors under dotted names.
struct Walk<'m, 'a> {
    machine: &'m Machine<'a>,
    out: Vec<(String, TensorRef)>,
    visits: usize,
}

impl Walk<'_, '_> {
    fn value(&mut self, value: &Value, name: &str, depth: usize) -> Res<()> {
        self.visits += 1;
        if depth > MAX_DEPTH || self.visits > MAX_VISITS {
            return Err(format!(
                "the tensors are nested too deep or shared too often (at {name:?})"
            ));
        }
        let machine = self.machine;
        match machine.object(value) {
            Some(Object::Tensor(tensor)) => {
                if self.out.len() >= MAX_TENSORS {
                    return Err(format!("more than {MAX_TENSORS} tensors"));
                }
                self.out.push((name.to_string(), tensor.clone()));
            }
            Some(Object::Dict(dict)) => {
                for (key, inner) in &dict.entries {
                    if let Some(key) = key_name(key) {
                        self.value(inner, &join(name, &key), depth + 1)?;
                    }
                }
            }
            Some(Object::Instance { state: Some(state), .. }) => {
                if let Some(state) = machine.dict(state) {
                    self.module(state, name, depth)?;
                }
            }
            // Lists, numbers, strings...: not part of a state_dict.
            _ => {}
        }
        Ok(())
    }

    /// A pickled `nn.Module`: its parameters, then its persistent buffers, then its submodules,
    /// the order and names of `state_dict()`.
    fn module(&mut self, state: &Dict, name: &str, depth: usize) -> Res<()> {
        let machine = self.machine;
        let transient: HashSet<&str> = state
            .get("_non_persistent_buffers_set")
            .map(|set| set_strings(machine, set))
            .unwrap_or_default();
        for field in ["_parameters", "_buffers"] {
            let Some(tensors) = state.get(field).and_then(|d| machine.dict(d)) else {
                continue;
            };
            for (key, inner) in &tensors.entries {
                if let Some(key) = key_name(key)
                    && machine.tensor(inner).is_some()
                    && !(field == "_buffers" && transient.contains(key.as_str()))
                {
                    self.value(inner, &join(name, &key), depth + 1)?;
                }
            }
        }
        if let Some(children) = state.get("_modules").and_then(|d| machine.dict(d)) {
            for (key, child) in &children.entries {
                if let Some(key) = key_name(key) {
                    self.value(child, &join(name, &key), depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// The strings in a pickled `set` (REDUCE of `builtins.set` on a list, or EMPTY_SET/ADDITEMS).
fn set_strings<'m>(machine: &'m Machine, set: &Value) -> HashSet<&'m str> {
    let items = match machine.object(set) {
        Some(Object::Instance { args, .. }) => args.first().and_then(|list| machine.items(list)),
        Some(Object::List(items)) => Some(items.as_slice()),
        _ => None,
    };
    items
        .unwrap_or_default()
        .iter()
        .filter_map(|v| match v {
            Value::Str(s) => Some(&**s),
            _ => None,
        })
        .collect()
}

fn key_name(key: &Value) -> Option<String> {
    match key {
        Value::Str(s) => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A tensor's values from its storage's bytes: contiguous views only (what `state_dict()`
/// saves), offset and size checked against the bytes present.
fn materialize(name: String, tensor: &TensorRef, storage: &[u8], budget: &mut usize) -> Res<NamedTensor> {
    let unsupported = match tensor.dtype {
        DType::Other(torch_name, _) => Some(torch_name),
        DType::Untyped => Some("untyped"),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 => None,
    };
    if let Some(torch_name) = unsupported {
        return Err(format!(
            "{name} holds {torch_name} values; only float32, float64, float16 and bfloat16 tensors can be read"
        ));
    }
    let numel = tensor
        .size
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("{name}: shape {:?} is too large", tensor.size))?;
    spend(budget, numel, &name)?;
    if numel > 0 {
        let mut expected = 1usize;
        for (&dim, &stride) in tensor.size.iter().zip(&tensor.stride).rev() {
            if dim != 1 && stride != expected {
                return Err(format!(
                    "{name} is not contiguous (shape {:?}, strides {:?}; a transposed or sliced view saved as it is): \
                     save tensor.contiguous(), or the model's state_dict()",
                    tensor.size, tensor.stride
                ));
            }
            // No overflow: the running product is at most numel.
            expected *= dim;
        }
    }
    let size = tensor.dtype.size();
    let bytes = tensor
        .offset
        .checked_mul(size)
        .and_then(|start| Some((start, start.checked_add(numel.checked_mul(size)?)?)))
        .and_then(|(start, end)| storage.get(start..end))
        .ok_or_else(|| {
            format!(
                "{name} needs {numel} values from offset {} but its storage holds {}: the file is damaged",
                tensor.offset,
                storage.len() / size
            )
        })?;
    Ok((name, tensor.size.clone(), to_f32(tensor.dtype, bytes)))
}

// ---------------------------------------------------------------------------------------------
// PyTorch names <-> the model's layers.

/// One `NAME.weight` / `NAME.bias` pair as found.
struct Group<'t> {
    prefix: &'t str,
    weight: Option<&'t NamedTensor>,
    bias: Option<&'t NamedTensor>,
}

/// A layer with a 2-D weight `[out, in]`: it takes part in the width chain even when its bias
/// is missing or wrong, so one problem is reported once rather than as a broken chain too.
#[derive(Clone, Copy)]
struct Linear<'t> {
    prefix: &'t str,
    weight: &'t NamedTensor,
    bias: Option<&'t NamedTensor>,
}

impl Linear<'_> {
    /// `(outputs, inputs)`: PyTorch keeps Linear weights as `[out, in]`.
    fn widths(&self) -> (usize, usize) {
        match self.weight.1[..] {
            [outputs, inputs] => (outputs, inputs),
            _ => (0, 0),
        }
    }
}

/// Maps PyTorch tensors of this MLP onto the model's names: `layers.{i}.weight` `[in, out]`
/// (transposed from PyTorch's `[out, in]`) and `layers.{i}.bias` `[out]`.
///
/// Names are grouped into `NAME.weight` / `NAME.bias` pairs; a prefix common to every pair
/// (`model.`, `module.`, `layers.`...) is set aside, and the layers are ordered by the numbers
/// left in their names (`0 < 3 < 6 < 9`, `fc1 < fc2 < ... < fc10`), or kept in file order when
/// the names do not all carry distinct numbers. The widths must chain 784 → … → 10. On a
/// mismatch the error lists what was found and every problem seen (a missing bias, a layer too
/// few, tensors of no Linear layer such as batch-norm statistics...).
///
/// Any chain 784 → … → 10 is accepted (this project's model takes any hidden widths); use
/// `check_widths` to require particular ones.
pub fn to_model_layers(tensors: &[NamedTensor]) -> Result<Vec<NamedTensor>, WeightsError> {
    let layers = linear_layers(tensors)?;
    let mut out = Vec::with_capacity(layers.len() * 2);
    for (i, (weight, bias)) in layers.into_iter().enumerate() {
        let (name, shape, values) = weight;
        let (outputs, inputs) = match shape[..] {
            [outputs, inputs] => (outputs, inputs),
            _ => return Err(WeightsError::Mismatch(format!("{name} is not 2-D"))),
        };
        out.push((
            format!("layers.{i}.weight"),
            vec![inputs, outputs],
            transpose(values, outputs, inputs),
        ));
        out.push((format!("layers.{i}.bias"), bias.1.clone(), bias.2.clone()));
    }
    Ok(out)
}

/// The Linear layers in order, as `(weight, bias)`, each checked and chaining 784 → … → 10.
fn linear_layers(tensors: &[NamedTensor]) -> Result<Vec<(&NamedTensor, &NamedTensor)>, WeightsError> {
    let mut problems: Vec<String> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_prefix: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for tensor in tensors {
        let name = tensor.0.as_str();
        if !seen.insert(name) {
            problems.push(format!("{name} appears twice"));
            continue;
        }
        let (prefix, kind) = name.rsplit_once('.').unwrap_or(("", name));
        if kind != "weight" && kind != "bias" {
            problems.push(format!("{} belongs to no Linear layer", show(tensor)));
            continue;
        }
        let g = *by_prefix.entry(prefix).or_insert_with(|| {
            groups.push(Group {
                prefix,
                weight: None,
                bias: None,
            });
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(g) {
            if kind == "weight" {
                group.weight = Some(tensor);
            } else {
                group.bias = Some(tensor);
            }
        }
    }

    let mut linears: Vec<Linear> = Vec::new();
    for group in &groups {
        let member = |kind: &str| join(group.prefix, kind);
        let Some(weight) = group.weight else {
            if let Some(bias) = group.bias {
                problems.push(format!("{} has no {}", show(bias), member("weight")));
            }
            continue;
        };
        if weight.1.len() != 2 {
            problems.push(format!("{} is not a Linear weight [out, in]", show(weight)));
            continue;
        }
        let layer = Linear {
            prefix: group.prefix,
            weight,
            bias: group.bias,
        };
        let (outputs, inputs) = layer.widths();
        match group.bias {
            None => problems.push(format!(
                "{} has no {} (every layer of the model has a bias)",
                show(weight),
                member("bias")
            )),
            Some(bias) if bias.1 != [outputs] => {
                problems.push(format!(
                    "{} should have shape [{outputs}] to match {}",
                    show(bias),
                    show(weight)
                ));
            }
            Some(bias) => {
                if outputs.checked_mul(inputs) != Some(weight.2.len()) || bias.2.len() != outputs {
                    problems.push(format!(
                        "{} holds the wrong number of values for its shape",
                        member("*")
                    ));
                } else if weight.2.iter().chain(&bias.2).any(|v| !v.is_finite()) {
                    problems.push(format!("{} holds NaN or infinite values", member("*")));
                }
            }
        }
        linears.push(layer);
    }

    order_layers(&mut linears);

    // The chain 784 -> ... -> 10.
    let mut width = IMAGE_PIXELS;
    let mut previous: Option<&Linear> = None;
    for layer in &linears {
        let (outputs, inputs) = layer.widths();
        if inputs != width {
            problems.push(match previous {
                None => format!(
                    "the first layer, {}, takes {inputs} inputs but the model's input is {IMAGE_PIXELS} pixels (28×28)",
                    show(layer.weight)
                ),
                Some(before) => format!(
                    "{} takes {inputs} inputs but the layer before it, {}, gives {width} (is a layer missing?)",
                    show(layer.weight),
                    show(before.weight)
                ),
            });
        }
        width = outputs;
        previous = Some(layer);
    }
    match previous {
        None if problems.is_empty() => problems.push("no Linear layers (NAME.weight and NAME.bias pairs) found".into()),
        Some(last) if width != NUM_CLASSES => problems.push(format!(
            "the last layer, {}, gives {width} outputs; the model needs {NUM_CLASSES}, one per class",
            show(last.weight)
        )),
        _ => {}
    }

    if problems.is_empty() {
        // Every layer has its bias here (a missing one is a problem above).
        return Ok(linears.iter().filter_map(|l| Some((l.weight, l.bias?))).collect());
    }
    Err(WeightsError::Mismatch(format!(
        "expected Linear layers chaining {IMAGE_PIXELS} → … → {NUM_CLASSES} (NAME.weight [out, in] and \
         NAME.bias [out] per layer); found {}: {}",
        listing(tensors.iter().map(show).collect(), 12, "tensors", ", "),
        listing(problems, 12, "problems", "; ")
    )))
}

/// Orders layers by the numbers in their names once a prefix common to all is set aside, or
/// keeps the file's order when the names do not all carry distinct numbers.
fn order_layers(linears: &mut Vec<Linear>) {
    let parts: Vec<Vec<&str>> = linears.iter().map(|l| l.prefix.split('.').collect()).collect();
    let shortest = parts.iter().map(Vec::len).min().unwrap_or(0);
    // Keep at least the last component of every name, so a lone `fc` still has a name.
    let common = (0..shortest.saturating_sub(1))
        .take_while(|&i| parts.iter().all(|p| p.get(i) == parts.first().and_then(|f| f.get(i))))
        .count();
    let keys: Option<Vec<Vec<u64>>> = parts
        .iter()
        .map(|p| {
            let rest = p.get(common..).unwrap_or_default().join(".");
            let numbers: Option<Vec<u64>> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|run| !run.is_empty())
                .map(|run| run.parse().ok())
                .collect();
            numbers.filter(|n| !n.is_empty())
        })
        .collect();
    let Some(keys) = keys else {
        return;
    };
    let distinct: HashSet<&Vec<u64>> = keys.iter().collect();
    if distinct.len() != keys.len() {
        return;
    }
    let mut order: Vec<usize> = (0..linears.len()).collect();
    order.sort_by(|&a, &b| keys.get(a).cmp(&keys.get(b)));
    *linears = order.iter().filter_map(|&i| linears.get(i).copied()).collect();
}

/// `name [shape]`, as messages show a tensor.
fn show(tensor: &NamedTensor) -> String {
    format!("{} {:?}", tensor.0, tensor.1)
}

/// Up to `limit` items joined by `separator`, then how many more there are.
fn listing(items: Vec<String>, limit: usize, what: &str, separator: &str) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    let mut text = items.iter().take(limit).cloned().collect::<Vec<_>>().join(separator);
    if items.len() > limit {
        text.push_str(&format!("{separator}… and {} more {what}", items.len() - limit));
    }
    text
}

/// Row-major `[rows, cols]` to row-major `[cols, rows]` (iterators: no index can panic).
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    debug_assert_eq!(Some(values.len()), rows.checked_mul(cols));
    (0..cols)
        .flat_map(|c| values.iter().skip(c).step_by(cols.max(1)).take(rows).copied())
        .collect()
}

/// The widths of layers as `to_model_layers` returns them: input, hidden..., output.
pub fn widths(layers: &[NamedTensor]) -> Vec<usize> {
    let mut widths = Vec::new();
    for (name, shape, _) in layers {
        if name.starts_with("layers.")
            && name.ends_with(".weight")
            && let [inputs, outputs] = shape[..]
        {
            if widths.is_empty() {
                widths.push(inputs);
            }
            widths.push(outputs);
        }
    }
    widths
}

/// Checks that mapped layers have the `expected` widths (input, hidden..., output), naming both
/// networks when they differ: a file can hold a valid MLP and still not the one wanted.
pub fn check_widths(layers: &[NamedTensor], expected: &[usize]) -> Result<(), WeightsError> {
    let found = widths(layers);
    if found == expected {
        return Ok(());
    }
    let chain = |w: &[usize]| w.iter().map(usize::to_string).collect::<Vec<_>>().join("→");
    Err(WeightsError::Mismatch(format!(
        "the file holds a {} network; expected {}",
        chain(&found),
        chain(expected)
    )))
}

/// The inverse of `to_model_layers`, for saving a model PyTorch can load: the model's
/// `layers.{i}.weight` `[in, out]` / `layers.{i}.bias` become `nn.Sequential` entries
/// `{k}.weight` `[out, in]` / `{k}.bias`, with `k = 3 i` when the Sequential has a Dropout after
/// each ReLU (the reference model: Linear, ReLU, Dropout, Linear...) or `k = 2 i` without.
/// Tensors not named `layers.{i}.weight` (2-D) or `layers.{i}.bias` are left out. Python loads
/// the result with `model.load_state_dict(safetensors.torch.load_file(path))`.
pub fn export(tensors: &[NamedTensor], dropout: bool) -> Vec<NamedTensor> {
    let step: usize = if dropout { 3 } else { 2 };
    let mut out: Vec<(usize, bool, NamedTensor)> = tensors
        .iter()
        .filter_map(|(name, shape, values)| {
            let (index, kind) = name.strip_prefix("layers.")?.split_once('.')?;
            let layer: usize = index.parse().ok()?;
            let k = layer.checked_mul(step)?;
            match (kind, shape.as_slice()) {
                ("weight", &[inputs, outputs]) if inputs.checked_mul(outputs) == Some(values.len()) => Some((
                    layer,
                    false,
                    (
                        format!("{k}.weight"),
                        vec![outputs, inputs],
                        transpose(values, inputs, outputs),
                    ),
                )),
                ("bias", &[_]) => Some((layer, true, (format!("{k}.bias"), shape.clone(), values.clone()))),
                _ => None,
            }
        })
        .collect();
    // Layer by layer, weight before bias, whatever order the model listed them in.
    out.sort_by_key(|(layer, is_bias, _)| (*layer, *is_bias));
    out.into_iter().map(|(_, _, tensor)| tensor).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- Hand-built pickles and archives, as torch.save writes them ----

    /// A pickle written opcode by opcode.
    struct P(Vec<u8>);

    impl P {
        /// PROTO 2, as torch.save writes.
        fn new() -> Self {
            P(vec![0x80, 2])
        }
        fn op(mut self, op: u8) -> Self {
            self.0.push(op);
            self
        }
        fn raw(mut self, bytes: &[u8]) -> Self {
            self.0.extend_from_slice(bytes);
            self
        }
        fn str(self, s: &str) -> Self {
            self.op(b'X').raw(&(s.len() as u32).to_le_bytes()).raw(s.as_bytes())
        }
        fn int(self, v: u8) -> Self {
            self.op(b'K').raw(&[v])
        }
        fn global(self, module: &str, name: &str) -> Self {
            self.op(b'c').raw(format!("{module}\n{name}\n").as_bytes())
        }
        fn ints(self, values: &[u8]) -> Self {
            values.iter().fold(self.op(b'('), |p, &v| p.int(v)).op(b't')
        }
        /// `_rebuild_tensor_v2(('storage', torch.<class>, key, 'cpu', 0), offset, size, stride,
        /// False, OrderedDict())`.
        fn tensor(self, class: &str, key: &str, offset: u8, size: &[u8], stride: &[u8]) -> Self {
            self.global("torch._utils", "_rebuild_tensor_v2")
                .op(b'(')
                .op(b'(')
                .str("storage")
                .global("torch", class)
                .str(key)
                .str("cpu")
                .int(0)
                .op(b't')
                .op(b'Q')
                .int(offset)
                .ints(size)
                .ints(stride)
                .op(0x89)
                .global("collections", "OrderedDict")
                .op(b')')
                .op(b'R')
                .op(b't')
                .op(b'R')
        }
        /// An OrderedDict state_dict of `(name, class, key, size)` contiguous tensors.
        fn state_dict(self, tensors: &[(&str, &str, &str, &[u8])]) -> Self {
            let p = self.global("collections", "OrderedDict").op(b')').op(b'R').op(b'(');
            tensors
                .iter()
                .fold(p, |p, (name, class, key, size)| {
                    let stride: Vec<u8> = (0..size.len()).map(|i| size[i + 1..].iter().product::<u8>()).collect();
                    p.str(name).tensor(class, key, 0, size, &stride)
                })
                .op(b'u')
        }
        fn stop(self) -> Vec<u8> {
            self.op(b'.').0
        }
    }

    /// A stored (uncompressed) zip archive, as torch.save writes (minus its alignment padding).
    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        zip_with(entries, 0)
    }

    fn zip_with(entries: &[(&str, &[u8])], method: u16) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        let mut central: Vec<u8> = Vec::new();
        for (name, data) in entries {
            let stored: Vec<u8> = if method == 8 {
                use std::io::Write;
                let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(data).unwrap();
                encoder.finish().unwrap()
            } else {
                data.to_vec()
            };
            let offset = out.len() as u32;
            let crc = crc32(data);
            out.extend(LOCAL_HEADER.to_le_bytes());
            out.extend(20u16.to_le_bytes()); // version needed
            out.extend(0u16.to_le_bytes()); // flags
            out.extend(method.to_le_bytes());
            out.extend(0u32.to_le_bytes()); // time, date
            out.extend(crc.to_le_bytes());
            out.extend((stored.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes()); // extra
            out.extend(name.as_bytes());
            out.extend(&stored);

            central.extend(CENTRAL_HEADER.to_le_bytes());
            central.extend(20u16.to_le_bytes()); // version made by
            central.extend(20u16.to_le_bytes()); // version needed
            central.extend(0u16.to_le_bytes()); // flags
            central.extend(method.to_le_bytes());
            central.extend(0u32.to_le_bytes()); // time, date
            central.extend(crc.to_le_bytes());
            central.extend((stored.len() as u32).to_le_bytes());
            central.extend((data.len() as u32).to_le_bytes());
            central.extend((name.len() as u16).to_le_bytes());
            central.extend([0u8; 8]); // extra, comment, disk, internal attributes
            central.extend(0u32.to_le_bytes()); // external attributes
            central.extend(offset.to_le_bytes());
            central.extend(name.as_bytes());
        }
        let directory_offset = out.len() as u32;
        out.extend(&central);
        out.extend(END_OF_DIRECTORY.to_le_bytes());
        out.extend([0u8; 4]); // disk numbers
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(directory_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes()); // comment
        out
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn run(pickle: &[u8]) -> Res<(Machine<'_>, Value)> {
        let mut machine = Machine::new(pickle, 0, false);
        let value = machine.run()?;
        Ok((machine, value))
    }

    fn format_error(result: Result<Vec<NamedTensor>, WeightsError>) -> String {
        match result {
            Err(WeightsError::Format(message)) => message,
            other => panic!("expected a Format error, got {other:?}"),
        }
    }

    fn mismatch(result: Result<Vec<NamedTensor>, WeightsError>) -> String {
        match result {
            Err(WeightsError::Mismatch(message)) => message,
            other => panic!("expected a Mismatch error, got {other:?}"),
        }
    }

    // ---- The pickle machine ----

    #[test]
    fn scalars_strings_and_containers() {
        // {'a': (1, -2, 70000, 2.5, True, None, 'x', [3, 4]), 5: b'\x01'}
        let pickle = P::new()
            .op(b'}')
            .op(b'q')
            .raw(&[0])
            .op(b'(')
            .op(0x8c)
            .raw(&[1, b'a'])
            .op(b'(')
            .int(1)
            .op(b'J')
            .raw(&(-2i32).to_le_bytes())
            .op(b'J')
            .raw(&70_000i32.to_le_bytes())
            .op(b'G')
            .raw(&2.5f64.to_be_bytes())
            .op(0x88)
            .op(b'N')
            .str("x")
            .op(b']')
            .int(3)
            .op(b'a')
            .int(4)
            .op(b'a')
            .op(b't')
            .int(5)
            .op(b'C')
            .raw(&[1, 1])
            .op(b'u')
            .stop();
        let (m, top) = run(&pickle).unwrap();
        let dict = m.dict(&top).unwrap();
        assert_eq!(dict.entries.len(), 2);
        let items = m.items(dict.get("a").unwrap()).unwrap();
        assert!(matches!(items[0], Value::Int(1)));
        assert!(matches!(items[1], Value::Int(-2)));
        assert!(matches!(items[2], Value::Int(70_000)));
        assert!(matches!(items[3], Value::Float(f) if f == 2.5));
        assert!(matches!(items[4], Value::Bool(true)));
        assert!(matches!(items[5], Value::None));
        assert!(matches!(&items[6], Value::Str(s) if &**s == "x"));
        let list = m.items(&items[7]).unwrap();
        assert!(matches!(list, [Value::Int(3), Value::Int(4)]));
        assert!(matches!(&dict.entries[1], (Value::Int(5), Value::Bytes(b)) if b[..] == [1u8]));
    }

    #[test]
    fn long1_integers() {
        // Python writes the shortest two's complement: 32768 needs a third byte for its sign.
        let cases: [(&[u8], i64); 5] = [
            (&[], 0),
            (&[0xff], -1),
            (&[0x00, 0x80, 0x00], 32768),
            (&[0x00, 0x80], -32768),
            (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], i64::MAX),
        ];
        for (bytes, expected) in cases {
            assert!(matches!(long(bytes), Value::Int(v) if v == expected), "{bytes:?}");
        }
        assert!(matches!(long(&LEGACY_MAGIC), Value::BigInt(b) if b[..] == LEGACY_MAGIC));
    }

    #[test]
    fn memo_shares_containers_like_python() {
        // d = {} is memoised, x = [d, d] is built, and only then is d['k'] = 1 set (Python
        // memoises an object before filling it): both references see the item.
        let get_d = |p: P| p.op(b'j').raw(&7u32.to_le_bytes());
        let p = P::new().op(b'}').op(b'r').raw(&7u32.to_le_bytes()).op(b'0');
        let p = get_d(p.op(b']').op(0x94)).op(b'a');
        let p = get_d(p).op(b'a');
        let pickle = get_d(p).str("k").int(1).op(b's').op(b'0').stop();
        let (m, top) = run(&pickle).unwrap();
        let list = m.items(&top).unwrap();
        assert_eq!(list.len(), 2);
        for item in list {
            assert!(matches!(m.dict(item).unwrap().get("k"), Some(Value::Int(1))));
        }
    }

    #[test]
    fn protocol_4_framing_and_stack_global() {
        let pickle = P(vec![0x80, 4])
            .op(0x95)
            .raw(&100u64.to_le_bytes())
            .op(0x8c)
            .raw(&[11])
            .raw(b"collections")
            .op(0x94)
            .op(0x8c)
            .raw(&[11])
            .raw(b"OrderedDict")
            .op(0x94)
            .op(0x93)
            .op(0x94)
            .op(b')')
            .op(b'R')
            .stop();
        let (m, top) = run(&pickle).unwrap();
        assert!(m.dict(&top).is_some());
    }

    #[test]
    fn unsupported_and_unknown_opcodes_are_named() {
        let e = run(&P::new().op(b'i').stop()).err().unwrap();
        assert!(
            e.contains("INST") && e.contains("byte 2") && e.contains("not supported"),
            "{e}"
        );
        let e = run(&P::new().op(0xff).stop()).err().unwrap();
        assert!(e.contains("0xff") && e.contains("not a pickle opcode"), "{e}");
        let e = run(&[0x80, 6, b'.']).err().unwrap();
        assert!(e.contains("protocol 6"), "{e}");
    }

    #[test]
    fn malformed_pickles_are_errors_not_panics() {
        let cases: [(&[u8], &str); 8] = [
            (&[0x80, 2, b't', b'.'], "no MARK"),
            (&[0x80, 2, 0x85, b'.'], "stack is empty"),
            (&[0x80, 2, b'h', 3, b'.'], "memo entry 3"),
            (&[0x80, 2, b'X', 0xff, 0xff, 0xff, 0x7f, b'.'], "runs past the end"),
            (&[0x80, 2, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "byte"),
            (&[0x80, 2, b'K', 0, b'K', 1, b'K', 2, b's', b'.'], "not a container"),
            (&[0x80, 2, b'c', b'a', b'b'], "end of line"),
            (&[0x80, 2, b'N'], "without a STOP"),
        ];
        for (pickle, expected) in cases {
            let e = run(pickle).err().unwrap_or_default();
            assert!(e.contains(expected), "{pickle:?}: {e}");
        }
        // Every prefix of a real state_dict pickle fails cleanly.
        let pickle = P::new().state_dict(&[("w", "FloatStorage", "0", &[2, 3])]).stop();
        for len in 0..pickle.len() {
            assert!(run(&pickle[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        // 10,000 dicts each inside the previous one: the machine keeps them flat, the walk stops.
        let mut p = P::new().op(b'}');
        for _ in 0..10_000 {
            p = p.str("k").op(b'}');
        }
        for _ in 0..10_000 {
            p = p.op(b's');
        }
        let pickle = p.stop();
        let bytes = zip(&[("archive/data.pkl", &pickle)]);
        let e = format_error(read("deep.pt", &bytes));
        assert!(e.contains("nested too deep"), "{e}");
    }

    // ---- torch.save zip files ----

    fn sample_zip() -> Vec<u8> {
        let pickle = P::new()
            .state_dict(&[
                ("0.weight", "FloatStorage", "0", &[2, 3]),
                ("0.bias", "FloatStorage", "1", &[2]),
            ])
            .stop();
        zip(&[
            ("archive/data.pkl", &pickle),
            ("archive/byteorder", b"little"),
            ("archive/data/0", &f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
            ("archive/data/1", &f32_bytes(&[0.5, -0.5])),
            ("archive/version", b"3\n"),
        ])
    }

    #[test]
    fn reads_a_state_dict_zip() {
        let tensors = read("m.pt", &sample_zip()).unwrap();
        assert_eq!(
            tensors,
            vec![
                ("0.weight".to_string(), vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                ("0.bias".to_string(), vec![2], vec![0.5, -0.5]),
            ]
        );
    }

    #[test]
    fn reads_a_deflated_zip() {
        let pickle = P::new().state_dict(&[("w", "FloatStorage", "0", &[2])]).stop();
        let bytes = zip_with(&[("m/data.pkl", &pickle), ("m/data/0", &f32_bytes(&[1.5, 2.5]))], 8);
        assert_eq!(
            read("m.pt", &bytes).unwrap(),
            vec![("w".to_string(), vec![2], vec![1.5, 2.5])]
        );
    }

    #[test]
    fn converts_every_float_type() {
        let pickle = P::new()
            .state_dict(&[
                ("f64", "DoubleStorage", "0", &[2]),
                ("f16", "HalfStorage", "1", &[4]),
                ("bf16", "BFloat16Storage", "2", &[2]),
            ])
            .stop();
        let f64s: Vec<u8> = [0.1f64, -3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        // f16: 1.0, -2.0, the smallest subnormal, infinity.
        let f16s: Vec<u8> = [0x3c00u16, 0xc000, 0x0001, 0x7c00]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bf16s: Vec<u8> = [0x3f80u16, 0xc0a0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = zip(&[
            ("a/data.pkl", &pickle),
            ("a/data/0", &f64s),
            ("a/data/1", &f16s),
            ("a/data/2", &bf16s),
        ]);
        let tensors = read("a.pt", &bytes).unwrap();
        assert_eq!(tensors[0].2, vec![0.1f32, -3.0]);
        assert_eq!(tensors[1].2, vec![1.0, -2.0, 5.960_464_5e-8, f32::INFINITY]);
        assert_eq!(tensors[2].2, vec![1.0, -5.0]);
    }

    #[test]
    fn offsets_and_strides() {
        // A row of a [2, 3] storage (offset 3), and its transpose (refused).
        let pickle = P::new()
            .global("collections", "OrderedDict")
            .op(b')')
            .op(b'R')
            .op(b'(')
            .str("row")
            .tensor("FloatStorage", "0", 3, &[3], &[1])
            .op(b'u')
            .stop();
        let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let bytes = zip(&[("a/data.pkl", &pickle), ("a/data/0", &data)]);
        assert_eq!(read("a.pt", &bytes).unwrap()[0].2, vec![4.0, 5.0, 6.0]);

        let pickle = P::new()
            .op(b'}')
            .str("t")
            .tensor("FloatStorage", "0", 0, &[3, 2], &[1, 3])
            .op(b's')
            .stop();
        let e = format_error(read("t.pt", &zip(&[("a/data.pkl", &pickle), ("a/data/0", &data)])));
        assert!(e.starts_with("t.pt: ") && e.contains("t is not contiguous"), "{e}");

        // Past the end of the storage.
        let pickle = P::new()
            .op(b'}')
            .str("t")
            .tensor("FloatStorage", "0", 4, &[3], &[1])
            .op(b's')
            .stop();
        let e = format_error(read("t.pt", &zip(&[("a/data.pkl", &pickle), ("a/data/0", &data)])));
        assert!(
            e.contains("needs 3 values from offset 4 but its storage holds 6"),
            "{e}"
        );
    }

    #[test]
    fn checkpoint_dicts_and_integer_tensors() {
        // {'epoch': 3, 'state_dict': {'w': int64 tensor}}: the state_dict is taken, and its int64
        // tensor is named in the error.
        let pickle = P::new()
            .op(b'}')
            .op(b'(')
            .str("epoch")
            .int(3)
            .str("state_dict")
            .state_dict(&[("w", "LongStorage", "0", &[1])])
            .op(b'u')
            .stop();
        let bytes = zip(&[("c/data.pkl", &pickle), ("c/data/0", &7i64.to_le_bytes())]);
        let e = format_error(read("c.pt", &bytes));
        assert!(e.contains("w holds int64 values"), "{e}");

        // The same with a float tensor: only the state_dict's tensors come back.
        let pickle = P::new()
            .op(b'}')
            .op(b'(')
            .str("optimizer")
            .state_dict(&[("exp_avg", "FloatStorage", "1", &[1])])
            .str("state_dict")
            .state_dict(&[("fc.weight", "FloatStorage", "0", &[1, 1])])
            .op(b'u')
            .stop();
        let bytes = zip(&[
            ("c/data.pkl", &pickle),
            ("c/data/0", &f32_bytes(&[2.0])),
            ("c/data/1", &f32_bytes(&[9.0])),
        ]);
        assert_eq!(
            read("c.pt", &bytes).unwrap(),
            vec![("fc.weight".to_string(), vec![1, 1], vec![2.0])]
        );
    }

    #[test]
    fn zip_problems_are_explained() {
        let good = sample_zip();
        // Truncated anywhere: an error, never a panic.
        for len in (0..good.len()).step_by(7) {
            assert!(read("cut.pt", &good[..len]).is_err(), "length {len}");
        }
        // Every single-byte corruption: Ok or Err, never a panic.
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let _ = read("bad.pt", &bad);
        }
        // A flipped data byte fails the CRC.
        let mut bad = good.clone();
        let at = good.windows(4).position(|w| w == 1.0f32.to_le_bytes()).unwrap();
        bad[at] ^= 1;
        assert!(format_error(read("bad.pt", &bad)).contains("CRC"));
        // Zip64 end record values.
        let mut zip64 = good.clone();
        let end = zip64.len() - 22;
        zip64[end + 16..end + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(format_error(read("big.pt", &zip64)).contains("zip64"));
        // A zip that torch did not write.
        let other = zip(&[("readme.txt", b"hello")]);
        let e = format_error(read("other.zip", &other));
        assert!(e.contains("no data.pkl") && e.contains("readme.txt"), "{e}");
        // Big-endian tensors.
        let pickle = P::new().state_dict(&[("w", "FloatStorage", "0", &[1])]).stop();
        let big = zip(&[
            ("a/data.pkl", &pickle),
            ("a/byteorder", b"big"),
            ("a/data/0", &[0u8; 4]),
        ]);
        assert!(format_error(read("big.pt", &big)).contains("big byte order"));
        // A missing storage entry.
        let missing = zip(&[("a/data.pkl", &pickle)]);
        assert!(format_error(read("m.pt", &missing)).contains("data/0 is missing"));
    }

    #[test]
    fn shared_storages_cannot_amplify_memory() {
        // 5,000 tensors all viewing the same 64 KB storage: refused by the element budget.
        let mut p = P::new().op(b'}').op(b'(');
        for i in 0..5_000 {
            p = p
                .str(&format!("t{i}"))
                .tensor("FloatStorage", "0", 0, &[0x40, 0x40], &[0x40, 1]);
        }
        let pickle = p.op(b'u').stop();
        let storage = vec![0u8; 4 * 64 * 64];
        let e = format_error(read("amp.pt", &zip(&[("a/data.pkl", &pickle), ("a/data/0", &storage)])));
        assert!(e.contains("more values than a file this size can hold"), "{e}");
    }

    // ---- Legacy files, safetensors, other inputs ----

    #[test]
    fn reads_a_legacy_stream() {
        let mut bytes = P::new().op(0x8a).raw(&[10]).raw(&LEGACY_MAGIC).stop();
        bytes.extend(P::new().op(b'M').raw(&1001u16.to_le_bytes()).stop());
        bytes.extend(P::new().op(b'}').str("little_endian").op(0x88).op(b's').stop());
        // The data pickle: legacy persistent ids carry a sixth item, None.
        bytes.extend(
            P::new()
                .op(b'}')
                .str("w")
                .global("torch._utils", "_rebuild_tensor_v2")
                .op(b'(')
                .op(b'(')
                .str("storage")
                .global("torch", "FloatStorage")
                .str("140")
                .str("cpu")
                .int(2)
                .op(b'N')
                .op(b't')
                .op(b'Q')
                .int(0)
                .ints(&[2])
                .ints(&[1])
                .op(0x89)
                .global("collections", "OrderedDict")
                .op(b')')
                .op(b'R')
                .op(b't')
                .op(b'R')
                .op(b's')
                .stop(),
        );
        bytes.extend(P::new().op(b']').str("140").op(b'a').stop());
        bytes.extend(2u64.to_le_bytes());
        bytes.extend(f32_bytes(&[0.25, 4.0]));
        assert_eq!(
            read("old.pt", &bytes).unwrap(),
            vec![("w".to_string(), vec![2], vec![0.25, 4.0])]
        );
        // Cut short inside the storages.
        let e = format_error(read("old.pt", &bytes[..bytes.len() - 1]));
        assert!(
            e.contains("legacy format") && e.contains("truncated") && e.contains("re-save"),
            "{e}"
        );
    }

    #[test]
    fn plain_pickles_and_unknown_files() {
        let e = format_error(read("p.pkl", &P::new().op(b'}').stop()));
        assert!(e.contains("not one written by torch.save"), "{e}");
        let e = format_error(read("x.onnx", b"\x08\x07\x12\x04onnx"));
        assert!(
            e.contains("not a PyTorch (.pt, .pth) or safetensors file") && e.contains("08 07 12"),
            "{e}"
        );
        assert!(format_error(read("e.pt", b"")).contains("empty"));
    }

    #[test]
    fn reads_safetensors_of_every_float_type() {
        use safetensors::tensor::TensorView;
        let f32s = f32_bytes(&[1.0, 2.0]);
        let f16s: Vec<u8> = [0x3c00u16, 0x4000].iter().flat_map(|v| v.to_le_bytes()).collect();
        let f64s: Vec<u8> = [0.5f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let views = vec![
            ("b", TensorView::new(Dtype::F16, vec![2], &f16s).unwrap()),
            ("a", TensorView::new(Dtype::F32, vec![1, 2], &f32s).unwrap()),
            ("c", TensorView::new(Dtype::F64, vec![1], &f64s).unwrap()),
        ];
        let bytes = safetensors::serialize(views, None).unwrap();
        let mut tensors = read("m.safetensors", &bytes).unwrap();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            tensors,
            vec![
                ("a".to_string(), vec![1, 2], vec![1.0, 2.0]),
                ("b".to_string(), vec![2], vec![1.0, 2.0]),
                ("c".to_string(), vec![1], vec![0.5]),
            ]
        );
        let ints = 5i32.to_le_bytes();
        let bytes =
            safetensors::serialize([("n", TensorView::new(Dtype::I32, vec![1], &ints).unwrap())], None).unwrap();
        assert!(format_error(read("i.safetensors", &bytes)).contains("n holds I32 values"));
    }

    // ---- Names and shapes ----

    /// A PyTorch-layout MLP 784 -> hidden... -> 10 under `names(i)`, values numbering the
    /// elements so transposition is visible.
    fn pytorch_mlp(widths: &[usize], name: impl Fn(usize) -> String) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (i, pair) in widths.windows(2).enumerate() {
            let (inputs, outputs) = (pair[0], pair[1]);
            let weight = (0..inputs * outputs).map(|v| v as f32).collect();
            out.push((format!("{}.weight", name(i)), vec![outputs, inputs], weight));
            out.push((format!("{}.bias", name(i)), vec![outputs], vec![i as f32; outputs]));
        }
        out
    }

    const REFERENCE: [usize; 5] = [784, 256, 128, 64, 10];

    #[test]
    fn maps_the_usual_namings() {
        let namings: [(&str, Box<dyn Fn(usize) -> String>); 5] = [
            ("sequential", Box::new(|i: usize| format!("{}", 3 * i))),
            ("no dropout", Box::new(|i: usize| format!("{}", 2 * i))),
            ("fc", Box::new(|i: usize| format!("fc{}", i + 1))),
            ("model.layers", Box::new(|i: usize| format!("model.layers.{}", 3 * i))),
            ("module.net", Box::new(|i: usize| format!("module.net.{}", 2 * i))),
        ];
        for (what, naming) in namings {
            let mut tensors = pytorch_mlp(&REFERENCE, naming);
            // Order in the file does not matter when the names are numbered.
            tensors.reverse();
            let layers = to_model_layers(&tensors).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(widths(&layers), REFERENCE, "{what}");
            let names: Vec<&str> = layers.iter().map(|t| t.0.as_str()).collect();
            assert_eq!(
                names[..4],
                ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"],
                "{what}"
            );
            // [out, in] -> [in, out]: element (o, i) moves to (i, o).
            let (_, shape, values) = &layers[6];
            assert_eq!(shape, &vec![64, 10]);
            assert_eq!(values[0..3], [0.0, 64.0, 128.0], "{what}");
            assert_eq!(layers[7].2, vec![3.0; 10], "{what}");
        }
    }

    #[test]
    fn numbers_order_fc10_after_fc2() {
        let widths_in: Vec<usize> = [784].into_iter().chain([20; 10]).chain([10]).collect();
        let tensors = pytorch_mlp(&widths_in, |i| format!("fc{}", i + 1));
        let mut shuffled = tensors.clone();
        shuffled.sort_by(|a, b| a.0.cmp(&b.0)); // fc1, fc10, fc11, fc2...
        let layers = to_model_layers(&shuffled).unwrap();
        assert_eq!(widths(&layers), widths_in);
        assert_eq!(layers[2 * 9 + 1].2, vec![9.0; 20], "fc10 is the tenth layer");
    }

    #[test]
    fn unnumbered_names_keep_file_order() {
        let tensors = pytorch_mlp(&[784, 32, 10], |i| ["hidden", "out"][i].to_string());
        assert_eq!(widths(&to_model_layers(&tensors).unwrap()), [784, 32, 10]);
    }

    #[test]
    fn mismatches_list_what_is_wrong() {
        // A layer missing from the middle.
        let mut tensors = pytorch_mlp(&REFERENCE, |i| format!("fc{}", i + 1));
        tensors.retain(|t| !t.0.starts_with("fc2."));
        let e = mismatch(to_model_layers(&tensors));
        assert!(
            e.contains("found fc1.weight [256, 784], fc1.bias [256], fc3.weight [64, 128]")
                && e.contains(
                    "fc3.weight [64, 128] takes 128 inputs but the layer before it, fc1.weight [256, 784], gives 256"
                ),
            "{e}"
        );

        // A missing bias and an extra batch-norm layer.
        let mut tensors = pytorch_mlp(&REFERENCE, |i| format!("{}", 3 * i));
        tensors.retain(|t| t.0 != "3.bias");
        tensors.push(("bn.weight".into(), vec![256], vec![1.0; 256]));
        tensors.push(("bn.bias".into(), vec![256], vec![0.0; 256]));
        tensors.push(("bn.running_mean".into(), vec![256], vec![0.0; 256]));
        let e = mismatch(to_model_layers(&tensors));
        assert!(e.contains("3.weight [128, 256] has no 3.bias"), "{e}");
        assert!(e.contains("bn.weight [256] is not a Linear weight"), "{e}");
        assert!(e.contains("bn.running_mean [256] belongs to no Linear layer"), "{e}");

        // Wrong input and output widths.
        let e = mismatch(to_model_layers(&pytorch_mlp(&[1024, 64, 5], |i| format!("{i}"))));
        assert!(
            e.contains("the first layer, 0.weight [64, 1024], takes 1024 inputs"),
            "{e}"
        );
        assert!(
            e.contains("the last layer, 1.weight [5, 64], gives 5 outputs; the model needs 10"),
            "{e}"
        );

        // Nothing usable, and bad values.
        assert!(mismatch(to_model_layers(&[])).contains("no Linear layers"));
        let mut tensors = pytorch_mlp(&[784, 10], |_| "fc".into());
        tensors[1].2[0] = f32::NAN;
        assert!(mismatch(to_model_layers(&tensors)).contains("fc.* holds NaN"));
        let mut tensors = pytorch_mlp(&[784, 10], |_| "fc".into());
        tensors.push(tensors[0].clone());
        assert!(mismatch(to_model_layers(&tensors)).contains("fc.weight appears twice"));
    }

    #[test]
    fn a_valid_but_different_network_is_named() {
        let layers = to_model_layers(&pytorch_mlp(&[784, 128, 10], |i| format!("{}", 2 * i))).unwrap();
        let e = match check_widths(&layers, &REFERENCE) {
            Err(WeightsError::Mismatch(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(e, "the file holds a 784→128→10 network; expected 784→256→128→64→10");
        assert!(check_widths(&layers, &[784, 128, 10]).is_ok());
    }

    #[test]
    fn export_inverts_the_mapping() {
        for (dropout, step) in [(true, 3), (false, 2)] {
            let pytorch = pytorch_mlp(&REFERENCE, |i| format!("{}", step * i));
            let layers = to_model_layers(&pytorch).unwrap();
            let mut shuffled = layers.clone();
            shuffled.reverse();
            assert_eq!(export(&shuffled, dropout), pytorch, "dropout {dropout}");
            assert_eq!(to_model_layers(&export(&layers, dropout)).unwrap(), layers);
        }
    }

    #[test]
    fn transpose_helper() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert!(transpose(&[], 0, 5).is_empty());
    }
}
